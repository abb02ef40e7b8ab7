"""NNC's solvers and learning-rate schedules for Keras 3 (TensorFlow backend).

A generated Keras project imports this file as `solvers`; it needs keras and tensorflow (Keras's
backend) only. Every solver computes the update of Sony's Neural Network Console, that is nnabla's
(sony/nnabla `src/nbla/solver/generic/*.cpp`), and every schedule the learning rate of nnabla's
`python/src/nnabla/utils/learning_rate_scheduler.py` as NNC's trainer drives it.

Contents:
  1. Solvers: `make_solver` and the optimizers `Sgd`, `Momentum`, `Nesterov`, `Adagrad`, `Adadelta`,
     `RMSprop`, `RMSpropGraves`, `Adam`, `AdamW`, `Adamax`, `AMSGRAD`, `AdaBelief`, `Lars`, `SgdW`,
     `AdaBound`, `AMSBound`.
  2. Schedules: `make_schedule`, `to_iterations` and the `LearningRateSchedule`s `ConstantSchedule`,
     `ExponentialSchedule`, `StepSchedule`, `CosineSchedule`, `PolynomialSchedule`, and nndsl's own
     `PlateauSchedule` (a monitor's values decide it: `nnc_solvers.Plateau`).

Weight decay. NNC's WeightDecay is nnabla's `solver.weight_decay(rate)`: before every update the
gradient becomes g + rate * w (an L2 term, "coupled" to the update rule; nnabla `weight_decay.hpp`).
Every solver here takes it as `coupled_weight_decay`. Keras's own `weight_decay` argument is
decoupled (w -= lr * weight_decay * w next to the update), which is another rule; it is left as Keras
defines it and `make_solver` never sets it.

Update interval. NNC's update_interval n sums the gradients of n mini-batches, then updates once.
Keras's `gradient_accumulation_steps=n` (every solver here accepts it) averages them instead: scale
the loss by n to get NNC's sum. With it, bias corrections count updates (Keras's `iterations`) as
nnabla's `t` does, and a schedule is evaluated at the mini-batch iteration of each update
(n - 1, 2n - 1, ...), where NNC's trainer sets the learning rate.

Serialization: every class here is registered with Keras as "nnc>ClassName", so models saved with
their optimizer load back once this module is imported.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import ops

# isort: split
from ..nnc_solvers import SOLVER_DEFAULTS, Plateau, schedule_arguments, solver_arguments, to_iterations

__all__ = [
    "AMSBound",
    "AMSGRAD",
    "AdaBelief",
    "AdaBound",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "ConstantSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "PlateauSchedule",
    "Lars",
    "Momentum",
    "Nesterov",
    "PolynomialSchedule",
    "RMSprop",
    "RMSpropGraves",
    "Schedule",
    "Sgd",
    "SgdW",
    "StepSchedule",
    "make_schedule",
    "make_solver",
    "to_iterations",
]

# ---------------------------------------------------------------------------------------------------
# 1. Solvers
# ---------------------------------------------------------------------------------------------------
# Where a Keras optimizer's update is nnabla's, the solver is that optimizer plus the coupled decay:
#   Sgd           keras SGD                     w -= lr g
#   Momentum      keras SGD(momentum)           Keras keeps m = -v: m = momentum m - lr g; w += m
#   Nesterov      keras SGD(momentum, nesterov) w += momentum m' - lr g, which expands nnabla's
#                                               w += -momentum m + (1 + momentum) m'
#   Adadelta      keras Adadelta(rho=decay)     eps inside both square roots, as nnabla
#   RMSpropGraves keras RMSprop(centered, momentum): d = momentum d - lr g / sqrt(n - mean^2 + eps)
#   Adam          keras Adam                    eps added to sqrt(v) before the bias correction
#   Adamax        keras Adamax                  eps added outside the max
# The others are written here from nnabla's sources, because Keras's differ:
#   Adagrad, RMSprop: nnabla divides by sqrt(v) + eps, Keras by sqrt(v + eps);
#   AdamW: nnabla decays by eta_t * wd * w with eta_t = lr / initial lr (Keras: lr * wd * w);
#   AMSGRAD: nnabla has no bias correction by default (Keras's Adam(amsgrad=True) always has it);
#   SgdW: nnabla decays by eta_t * wd * w with eta_t = lr / initial lr, as AdamW;
#   AdaBelief, Lars, AdaBound, AMSBound: no Keras optimizer.


class _NnablaSolver:
    """What every solver here adds to its Keras optimizer (this mixin comes first in the bases):
    nnabla's step, g = gradient + coupled_weight_decay * w then the solver's rule `_update`, and a
    `get_config` in nnabla's parameter names.

    `_hyperparameters` maps each __init__ argument of the solver to the attribute that holds it.
    """

    decay_before_update = True  # nnabla's solver.weight_decay(rate) before the update (Lars overrides it)
    _hyperparameters: Mapping[str, str] = {}

    def __init__(self, *, coupled_weight_decay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.coupled_weight_decay = float(coupled_weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(gradient, tf.IndexedSlices):  # an embedding's: nnabla's updates are dense
            gradient = tf.convert_to_tensor(gradient)
        gradient = ops.cast(gradient, variable.dtype)
        if self.decay_before_update and self.coupled_weight_decay:
            gradient = ops.add(gradient, ops.multiply(self.coupled_weight_decay, variable))
        self._update(gradient, variable, ops.cast(learning_rate, variable.dtype))

    def _update(self, gradient, variable, learning_rate):
        """The solver's rule; by default the Keras optimizer's update, for the solvers Keras has."""
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict[str, Any]:
        # The base Optimizer's arguments (learning_rate, name, clipnorm, gradient_accumulation_steps, ...),
        # not the Keras parent's: those name the hyper-parameters the Keras way.
        config = keras.optimizers.Optimizer.get_config(self)
        config.update({arg: getattr(self, attr) for arg, attr in self._hyperparameters.items()})
        config["coupled_weight_decay"] = self.coupled_weight_decay
        return config


class _CustomSolver(_NnablaSolver, keras.optimizers.Optimizer):
    """A solver written here: `build` makes one zero-initialised variable per slot in `_slots` and
    parameter, `_slot(name, variable)` finds it, and `_update` is nnabla's rule."""

    _slots: tuple[str, ...] = ()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._state = {slot: [self.add_variable_from_reference(v, name=slot) for v in var_list] for slot in self._slots}

    def _slot(self, name: str, variable):
        return self._state[name][self._get_variable_index(variable)]

    def _step_count(self, variable):
        """nnabla's t: the number of this update, from 1 (Keras's iterations count updates)."""
        return ops.cast(self.iterations + 1, variable.dtype)


@keras.saving.register_keras_serializable(package="nnc")
class Sgd(_NnablaSolver, keras.optimizers.SGD):
    """nnabla's Sgd (`sgd.cpp`): w -= lr g; Keras's SGD."""

    def __init__(self, learning_rate=1e-3, coupled_weight_decay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)


@keras.saving.register_keras_serializable(package="nnc")
class Momentum(_NnablaSolver, keras.optimizers.SGD):
    """nnabla's Momentum (`momentum.cpp`): v = momentum v + lr g; w -= v. Keras's SGD(momentum) keeps
    m = -v with the learning rate inside too, so it is the same update even when lr changes."""

    _hyperparameters = {"momentum": "momentum"}

    def __init__(
        self, learning_rate=1e-3, momentum: float = 0.9, coupled_weight_decay: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(
            learning_rate=learning_rate, momentum=float(momentum), coupled_weight_decay=coupled_weight_decay, **kwargs
        )


@keras.saving.register_keras_serializable(package="nnc")
class Nesterov(_NnablaSolver, keras.optimizers.SGD):
    """nnabla's Nesterov (`nesterov.cpp`): v' = momentum v - lr g; w += -momentum v + (1 + momentum) v',
    which is Keras's SGD(momentum, nesterov=True): w += momentum v' - lr g."""

    _hyperparameters = {"momentum": "momentum"}

    def __init__(
        self, learning_rate=1e-3, momentum: float = 0.9, coupled_weight_decay: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            momentum=float(momentum),
            nesterov=True,
            coupled_weight_decay=coupled_weight_decay,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="nnc")
class Adagrad(_CustomSolver):
    """nnabla's Adagrad (`adagrad.cpp`): G += g^2; w -= lr g / (sqrt(G) + eps). (Keras's Adagrad puts
    eps inside the square root and starts G at 0.1.)"""

    _hyperparameters = {"eps": "eps"}
    _slots = ("G",)

    def __init__(self, learning_rate=1e-2, eps: float = 1e-8, coupled_weight_decay: float = 0.0, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.eps = float(eps)

    def _update(self, gradient, variable, learning_rate):
        accumulator = self._slot("G", variable)
        self.assign_add(accumulator, ops.square(gradient))
        self.assign_sub(variable, learning_rate * gradient / (ops.sqrt(accumulator) + self.eps))


@keras.saving.register_keras_serializable(package="nnc")
class Adadelta(_NnablaSolver, keras.optimizers.Adadelta):
    """nnabla's Adadelta (`adadelta.cpp`): e_g = decay e_g + (1 - decay) g^2;
    d = sqrt(e_d + eps) / sqrt(e_g + eps) g; e_d = decay e_d + (1 - decay) d^2; w -= lr d. Keras's
    Adadelta with rho = decay."""

    _hyperparameters = {"decay": "rho", "eps": "epsilon"}

    def __init__(
        self,
        learning_rate=1.0,
        decay: float = 0.95,
        eps: float = 1e-6,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            rho=float(decay),
            epsilon=float(eps),
            coupled_weight_decay=coupled_weight_decay,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="nnc")
class RMSprop(_CustomSolver):
    """nnabla's RMSprop (`rmsprop.cpp`): v = decay v + (1 - decay) g^2; w -= lr g / (sqrt(v) + eps).
    (Keras's RMSprop divides by sqrt(v + eps).)"""

    _hyperparameters = {"decay": "decay", "eps": "eps"}
    _slots = ("v",)

    def __init__(
        self,
        learning_rate=1e-3,
        decay: float = 0.9,
        eps: float = 1e-8,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.decay, self.eps = float(decay), float(eps)

    def _update(self, gradient, variable, learning_rate):
        v = self._slot("v", variable)
        self.assign(v, self.decay * v + (1.0 - self.decay) * ops.square(gradient))
        self.assign_sub(variable, learning_rate * gradient / (ops.sqrt(v) + self.eps))


@keras.saving.register_keras_serializable(package="nnc")
class RMSpropGraves(_NnablaSolver, keras.optimizers.RMSprop):
    """nnabla's RMSpropGraves (`rmsprop_graves.cpp`): n, mean the running means of g^2 and g;
    d = momentum d - lr g / sqrt(n - mean^2 + eps); w += d. Keras's centered RMSprop with momentum
    keeps -d: the same update."""

    _hyperparameters = {"decay": "rho", "momentum": "momentum", "eps": "epsilon"}

    def __init__(
        self,
        learning_rate=1e-4,
        decay: float = 0.95,
        momentum: float = 0.9,
        eps: float = 1e-4,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            rho=float(decay),
            momentum=float(momentum),
            epsilon=float(eps),
            centered=True,
            coupled_weight_decay=coupled_weight_decay,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="nnc")
class Adam(_NnablaSolver, keras.optimizers.Adam):
    """nnabla's Adam (`adam.cpp`): m, v the running means of g and g^2;
    w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) + eps). Keras's Adam."""

    _hyperparameters = {"beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"}

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=float(beta1),
            beta_2=float(beta2),
            epsilon=float(eps),
            coupled_weight_decay=coupled_weight_decay,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="nnc")
class AdamW(Adam):
    """nnabla's AdamW (`adamw.cpp`): Adam's update and w -= eta_t wd w, both from the same w, with
    eta_t = lr / initial_learning_rate (nnabla's alpha / init_alpha; Keras's AdamW decays by lr wd w).

    `initial_learning_rate` is the alpha the solver was made with (`learning_rate` when that is a number);
    `wd` is the decoupled rate, `coupled_weight_decay` the usual g += rate * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for AdamW).
    """

    _hyperparameters = {**Adam._hyperparameters, "wd": "wd", "initial_learning_rate": "initial_learning_rate"}

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 1e-4,
        initial_learning_rate: float | None = None,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        initial = _initial_rate(learning_rate, initial_learning_rate, "AdamW")
        super().__init__(learning_rate, beta1, beta2, eps, coupled_weight_decay, **kwargs)
        self.wd, self.initial_learning_rate = float(wd), initial

    def _update(self, gradient, variable, learning_rate):
        if self.wd and self.initial_learning_rate:
            eta = learning_rate / self.initial_learning_rate
            self.assign_sub(variable, eta * self.wd * variable)
        super()._update(gradient, variable, learning_rate)


@keras.saving.register_keras_serializable(package="nnc")
class Adamax(_NnablaSolver, keras.optimizers.Adamax):
    """nnabla's Adamax (`adamax.cpp`): m the running mean of g, u = max(beta2 u, |g|);
    w -= lr / (1 - beta1^t) m / (u + eps). Keras's Adamax."""

    _hyperparameters = {"beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"}

    def __init__(
        self,
        learning_rate=2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            beta_1=float(beta1),
            beta_2=float(beta2),
            epsilon=float(eps),
            coupled_weight_decay=coupled_weight_decay,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="nnc")
class AMSGRAD(_CustomSolver):
    """nnabla's AMSGRAD (`amsgrad.cpp`): Adam's m and v, v_hat = max(v_hat, v);
    w -= lr' m / (sqrt(v_hat) + eps) with lr' = lr, or with bias_correction (off by default in nnabla)
    lr sqrt(1 - beta2^t) / (1 - beta1^t)."""

    _hyperparameters = {"beta1": "beta1", "beta2": "beta2", "eps": "eps", "bias_correction": "bias_correction"}
    _slots = ("m", "v", "v_hat")

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        bias_correction: bool = False,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.bias_correction = bool(bias_correction)

    def _update(self, gradient, variable, learning_rate):
        b1, b2 = self.beta1, self.beta2
        m, v, v_hat = (self._slot(name, variable) for name in self._slots)
        self.assign(m, b1 * m + (1.0 - b1) * gradient)
        self.assign(v, b2 * v + (1.0 - b2) * ops.square(gradient))
        self.assign(v_hat, ops.maximum(v_hat, v))
        if self.bias_correction:
            t = self._step_count(variable)
            learning_rate = learning_rate * ops.sqrt(1.0 - ops.power(b2, t)) / (1.0 - ops.power(b1, t))
        self.assign_sub(variable, learning_rate * m / (ops.sqrt(v_hat) + self.eps))


@keras.saving.register_keras_serializable(package="nnc")
class AdaBelief(_CustomSolver):
    """nnabla's AdaBelief (`adabelief.cpp`): m = beta1 m + (1 - beta1) g; s = beta2 s + (1 - beta2) (g - m)^2;
    w -= lr r_t sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(s + eps) + eps).

    Options as nnabla's: amsgrad (s_max = max(s_max, s) in place of s), weight_decouple (w -= w wd lr,
    or w wd with fixed_decay), rectify (RAdam's r_t, and a plain step w -= lr m while rho_t <= 4; r_t = 1
    without it).
    """

    _hyperparameters = {
        name: name for name in ("beta1", "beta2", "eps", "wd", "amsgrad", "weight_decouple", "fixed_decay", "rectify")
    }

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 0.0,
        amsgrad: bool = False,
        weight_decouple: bool = False,
        fixed_decay: bool = False,
        rectify: bool = False,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.beta1, self.beta2, self.eps, self.wd = float(beta1), float(beta2), float(eps), float(wd)
        self.amsgrad, self.weight_decouple = bool(amsgrad), bool(weight_decouple)
        self.fixed_decay, self.rectify = bool(fixed_decay), bool(rectify)

    @property
    def _slots(self) -> tuple[str, ...]:
        return ("m", "s", "s_max") if self.amsgrad else ("m", "s")

    def _update(self, gradient, variable, learning_rate):
        b1, b2, eps = self.beta1, self.beta2, self.eps
        t = self._step_count(variable)
        m, s = self._slot("m", variable), self._slot("s", variable)
        self.assign(m, b1 * m + (1.0 - b1) * gradient)
        self.assign(s, b2 * s + (1.0 - b2) * ops.square(gradient - m))
        if self.weight_decouple:
            self.assign_sub(variable, variable * (self.wd if self.fixed_decay else self.wd * learning_rate))
        if self.amsgrad:
            s_max = self._slot("s_max", variable)
            self.assign(s_max, ops.maximum(s_max, s))
            s = s_max
        b2_t = ops.power(b2, t)
        adaptive = learning_rate * ops.sqrt(1.0 - b2_t) / (1.0 - ops.power(b1, t)) * m / (ops.sqrt(s + eps) + eps)
        if self.rectify:
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            rho_t = rho_inf - 2.0 * t * b2_t / (1.0 - b2_t)
            r_t = ops.sqrt(
                ops.maximum((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t), 0.0)
            )
            step = ops.where(rho_t > 4.0, r_t * adaptive, learning_rate * m)
        else:
            step = adaptive
        self.assign_sub(variable, step)


@keras.saving.register_keras_serializable(package="nnc")
class Lars(_CustomSolver):
    """nnabla's Lars (`lars.cpp`): a layer-wise learning rate, then Momentum with it.

    Per parameter: local lr = lr coefficient |w| / (|g| + weight_decay |w|) (lr itself when |w| < eps;
    eps is added to a denominator below eps); v = momentum v + local lr (g + weight_decay w); w -= v.
    nnabla applies the (coupled) weight decay inside this update, not before it.
    """

    decay_before_update = False
    _hyperparameters = {"momentum": "momentum", "coefficient": "coefficient", "eps": "eps"}
    _slots = ("v",)

    def __init__(
        self,
        learning_rate=1e-3,
        momentum: float = 0.9,
        coefficient: float = 1e-3,
        eps: float = 1e-6,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.momentum, self.coefficient, self.eps = float(momentum), float(coefficient), float(eps)

    def _update(self, gradient, variable, learning_rate):
        wd, eps = self.coupled_weight_decay, self.eps
        g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
        w_norm = ops.sqrt(ops.sum(ops.square(variable)))
        denominator = g_norm + wd * w_norm
        denominator = ops.where(denominator < eps, denominator + eps, denominator)
        local_lr = ops.where(w_norm < eps, learning_rate, learning_rate * self.coefficient * w_norm / denominator)
        v = self._slot("v", variable)
        self.assign(v, self.momentum * v + local_lr * (gradient + wd * variable))
        self.assign_sub(variable, v)


def _initial_rate(learning_rate, initial_learning_rate: float | None, solver: str) -> float:
    """nnabla's initial learning rate (init_alpha, init_lr) of a solver whose rule scales by lr / initial lr."""
    if initial_learning_rate is None:
        if not isinstance(learning_rate, numbers.Real):
            raise ValueError(f"{solver} with a learning-rate schedule needs initial_learning_rate (nnabla's lr)")
        initial_learning_rate = learning_rate
    return float(initial_learning_rate)


@keras.saving.register_keras_serializable(package="nnc")
class SgdW(_CustomSolver):
    """nnabla's SgdW (`sgdw.cpp`): v = momentum v + lr g; w -= v + eta_t wd w, both from the same w, with
    eta_t = lr / initial_learning_rate (nnabla's lr / init_lr).

    `wd` is the decoupled rate, `coupled_weight_decay` the usual g += rate * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for SgdW).
    """

    _hyperparameters = {"momentum": "momentum", "wd": "wd", "initial_learning_rate": "initial_learning_rate"}
    _slots = ("v",)

    def __init__(
        self,
        learning_rate=1e-3,
        momentum: float = 0.9,
        wd: float = 1e-4,
        initial_learning_rate: float | None = None,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        initial = _initial_rate(learning_rate, initial_learning_rate, "SgdW")
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.momentum, self.wd, self.initial_learning_rate = float(momentum), float(wd), initial

    def _update(self, gradient, variable, learning_rate):
        v = self._slot("v", variable)
        self.assign(v, self.momentum * v + learning_rate * gradient)
        step = v
        if self.wd and self.initial_learning_rate:
            step = step + (learning_rate / self.initial_learning_rate) * self.wd * variable
        self.assign_sub(variable, step)


@keras.saving.register_keras_serializable(package="nnc")
class AdaBound(_CustomSolver):
    """nnabla's AdaBound (`adabound.cpp`): Adam's m and v; the per-element step size
    eta = lr sqrt(1 - beta2^t) / (1 - beta1^t) / (sqrt(v) + eps) is clipped to
    [final (1 - 1 / (gamma t + 1)), final (1 + 1 / (gamma t))] with final = final_lr lr / initial_learning_rate;
    w -= eta m."""

    _hyperparameters = {
        "beta1": "beta1",
        "beta2": "beta2",
        "eps": "eps",
        "final_lr": "final_lr",
        "gamma": "gamma",
        "initial_learning_rate": "initial_learning_rate",
    }
    _slots = ("m", "v")

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        initial_learning_rate: float | None = None,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        initial = _initial_rate(learning_rate, initial_learning_rate, type(self).__name__)
        super().__init__(learning_rate=learning_rate, coupled_weight_decay=coupled_weight_decay, **kwargs)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.final_lr, self.gamma, self.initial_learning_rate = float(final_lr), float(gamma), initial

    def _upper(self, final, t):
        return final * (1.0 + 1.0 / (self.gamma * t))

    def _clipped_step(self, variable, m, v, step_size, learning_rate, t):
        final = self.final_lr * learning_rate / self.initial_learning_rate if self.initial_learning_rate else 0.0
        eta = ops.maximum(step_size / (ops.sqrt(v) + self.eps), final * (1.0 - 1.0 / (self.gamma * t + 1.0)))
        if self.gamma:  # gamma 0: no upper bound
            eta = ops.minimum(eta, self._upper(final, t))
        self.assign_sub(variable, eta * m)

    def _moments(self, gradient, variable):
        b1, b2 = self.beta1, self.beta2
        m, v = self._slot("m", variable), self._slot("v", variable)
        self.assign(m, b1 * m + (1.0 - b1) * gradient)
        self.assign(v, b2 * v + (1.0 - b2) * ops.square(gradient))
        return m, v

    def _bias_corrected(self, learning_rate, t):
        return learning_rate * ops.sqrt(1.0 - ops.power(self.beta2, t)) / (1.0 - ops.power(self.beta1, t))

    def _update(self, gradient, variable, learning_rate):
        t = self._step_count(variable)
        m, v = self._moments(gradient, variable)
        self._clipped_step(variable, m, v, self._bias_corrected(learning_rate, t), learning_rate, t)


@keras.saving.register_keras_serializable(package="nnc")
class AMSBound(AdaBound):
    """nnabla's AMSBound (`amsbound.cpp`): AdaBound with v_hat = max(v_hat, v) in place of v, no bias
    correction by default (lr itself; with bias_correction lr sqrt(1 - beta2^t) / (1 - beta1^t)), and
    nnabla 1.39's upper bound final (1 + t / gamma) (its source reads 1 / gamma * t; AdaBound's is 1 / (gamma t))."""

    _hyperparameters = {**AdaBound._hyperparameters, "bias_correction": "bias_correction"}
    _slots = ("m", "v", "v_hat")

    def __init__(
        self,
        learning_rate=1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        bias_correction: bool = False,
        initial_learning_rate: float | None = None,
        coupled_weight_decay: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate, beta1, beta2, eps, final_lr, gamma, initial_learning_rate, coupled_weight_decay, **kwargs
        )
        self.bias_correction = bool(bias_correction)

    def _upper(self, final, t):
        return final * (1.0 + t / self.gamma)

    def _update(self, gradient, variable, learning_rate):
        t = self._step_count(variable)
        m, v = self._moments(gradient, variable)
        v_hat = self._slot("v_hat", variable)
        self.assign(v_hat, ops.maximum(v_hat, v))
        step_size = self._bias_corrected(learning_rate, t) if self.bias_correction else learning_rate
        self._clipped_step(variable, m, v_hat, step_size, learning_rate, t)


# NNC solver -> (class, its parameters with nnabla's defaults (nnc_solvers.SOLVER_DEFAULTS))
_SOLVERS: dict[str, tuple[type[keras.optimizers.Optimizer], dict[str, Any]]] = {
    name: (cls, SOLVER_DEFAULTS[name])
    for name, cls in (
        ("Sgd", Sgd),
        ("Momentum", Momentum),
        ("Nesterov", Nesterov),
        ("Adagrad", Adagrad),
        ("Adadelta", Adadelta),
        ("RMSprop", RMSprop),
        ("Adam", Adam),
        ("AdamW", AdamW),
        ("Adamax", Adamax),
        ("AMSGRAD", AMSGRAD),
        ("RMSpropGraves", RMSpropGraves),
        ("AdaBelief", AdaBelief),
        ("Lars", Lars),
        ("SgdW", SgdW),
        ("AdaBound", AdaBound),
        ("AMSBound", AMSBound),
    )
}


def make_solver(
    name: str,
    /,
    nnc_kwargs: Mapping[str, Any] | None = None,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | None = None,
    **kwargs: Any,
) -> keras.optimizers.Optimizer:
    """The Keras optimizer for NNC's solver `name` (Sgd, Momentum, Nesterov, Adagrad, Adadelta, RMSprop,
    RMSpropGraves, Adam, AdamW, Adamax, AMSGRAD, AdaBelief, Lars, SgdW, AdaBound, AMSBound; case-insensitive)
    with NNC/nnabla parameter names: lr (also alpha, learning_rate, eta), momentum, beta1, beta2, eps (epsilon),
    decay, weight_decay, wd (AdamW, SgdW, AdaBelief), bias_correction (AMSGRAD, AMSBound), coefficient (Lars),
    amsgrad, weight_decouple, fixed_decay, rectify (AdaBelief), final_lr, gamma (AdaBound, AMSBound). Missing
    values take nnabla's defaults (solvers.yaml); weight_decay (NNC's coupled g += weight_decay * w) defaults
    to 0.

    `learning_rate`, a number or a LearningRateSchedule, replaces lr; lr stays the initial learning rate of
    AdamW, SgdW, AdaBound and AMSBound (their rules scale by lr / initial lr). `kwargs` go to Keras's
    Optimizer (gradient_accumulation_steps, clipnorm, name, ...).
    nnabla keeps the learning rate and hyper-parameters as C floats; Keras keeps the learning rate as float32
    and its SGD, Adam and Adamax round momentum and the betas of the bias correction to float32 too, as nnabla;
    the rules written here use them unrounded (a difference of ~1e-8 relative, visible in float64 only).

    AdamW, SgdW: weight_decay > 0 (NNC's WeightDecay) is their decoupled rate in place of wd and adds nothing
    to the gradient, as nnabla's solver.weight_decay does for them (nnc_solvers.solver_arguments).
    """
    solver, params = solver_arguments(name, nnc_kwargs)
    cls = _SOLVERS[solver][0]
    weight_decay = params.pop("weight_decay")
    lr = params.pop("lr")
    if solver in ("AdamW", "SgdW", "AdaBound", "AMSBound"):  # rules that scale by lr / initial lr
        params["initial_learning_rate"] = lr
    if learning_rate is None:
        learning_rate = lr
    for rate in (lr, learning_rate):
        if isinstance(rate, numbers.Real) and rate < 0:
            raise ValueError(f"invalid learning rate {rate}")
    if isinstance(learning_rate, numbers.Real):
        learning_rate = float(learning_rate)  # Keras takes a float, not an int
    return cls(learning_rate=learning_rate, coupled_weight_decay=weight_decay, **params, **kwargs)


# ---------------------------------------------------------------------------------------------------
# 2. Learning-rate schedules
# ---------------------------------------------------------------------------------------------------


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """An NNC learning-rate schedule counted in mini-batch iterations from 0 (the optimizer's step
    counter): `schedule(step)` is the learning rate, base_lr * the rule's factor, a float32 tensor;
    `schedule.value(i)` the same as a Python float.

    A linear warm-up (nnabla's LinearWarmupScheduler) multiplies by (it + 1) / warmup while it < warmup.
    Subclasses give the rule (nnabla `learning_rate_scheduler.py`) as `_factor(step)`, step an int64 tensor.
    """

    def __init__(self, base_lr: float = 1.0, warmup: int = 0) -> None:
        self.base_lr, self.warmup = float(base_lr), int(warmup)

    def _factor(self, step):
        raise NotImplementedError

    def __call__(self, step):
        step = ops.cast(step, "int64")
        factor = self._factor(step)
        if self.warmup > 0:
            ramp = (ops.cast(step, "float32") + 1.0) / self.warmup
            factor = ops.where(step < self.warmup, factor * ramp, factor)
        return ops.multiply(ops.cast(self.base_lr, "float32"), factor)

    def value(self, iteration: int) -> float:
        """The learning rate at mini-batch `iteration`, for logging."""
        return float(ops.convert_to_numpy(self(iteration)))

    def observe(self, values: Mapping[str, float]) -> bool:
        """The monitors evaluated this epoch, by name; a schedule that follows them (Plateau) takes its
        step, True when it reduced the learning rate. The others follow the iteration alone."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the schedule beside the iteration (a Plateau's decisions)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass

    def get_config(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "warmup": self.warmup}

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="nnc")
class ConstantSchedule(Schedule):
    """Constant: the factor is 1."""

    def _factor(self, step):
        return ops.ones(ops.shape(step), "float32")


@keras.saving.register_keras_serializable(package="nnc")
class ExponentialSchedule(Schedule):
    """Exponential: multiplier ** (it // interval)."""

    def __init__(self, base_lr: float = 1.0, multiplier: float = 0.1, interval: int = 1, warmup: int = 0) -> None:
        super().__init__(base_lr, warmup)
        if int(interval) < 1:
            raise ValueError(f"an Exponential schedule's interval is at least 1 iteration, got {interval!r}")
        self.multiplier, self.interval = float(multiplier), int(interval)

    def _factor(self, step):
        exponent = ops.cast(ops.floor_divide(step, self.interval), "float32")
        return ops.power(ops.cast(self.multiplier, "float32"), exponent)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiplier": self.multiplier, "interval": self.interval}


@keras.saving.register_keras_serializable(package="nnc")
class StepSchedule(Schedule):
    """Step: multiplier ** (the number of steps <= it)."""

    def __init__(
        self, base_lr: float = 1.0, multiplier: float = 0.1, steps: Sequence[int] = (), warmup: int = 0
    ) -> None:
        super().__init__(base_lr, warmup)
        self.multiplier, self.steps = float(multiplier), [int(s) for s in steps]

    def _factor(self, step):
        passed = ops.expand_dims(step, -1) >= ops.convert_to_tensor(self.steps, "int64")
        exponent = ops.sum(ops.cast(passed, "float32"), axis=-1)
        return ops.power(ops.cast(self.multiplier, "float32"), exponent)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiplier": self.multiplier, "steps": list(self.steps)}


@keras.saving.register_keras_serializable(package="nnc")
class CosineSchedule(Schedule):
    """Cosine: (cos(pi it / max_iter) + 1) / 2, held at 0 from max_iter on."""

    def __init__(self, base_lr: float = 1.0, max_iter: int = 1, warmup: int = 0) -> None:
        super().__init__(base_lr, warmup)
        if int(max_iter) < 1:
            raise ValueError(f"a Cosine schedule's max_iter is at least 1 iteration, got {max_iter!r}")
        self.max_iter = int(max_iter)

    def _factor(self, step):
        progress = ops.cast(ops.minimum(step, self.max_iter), "float32") / self.max_iter
        return (ops.cos(math.pi * progress) + 1.0) * 0.5

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_iter": self.max_iter}


@keras.saving.register_keras_serializable(package="nnc")
class PolynomialSchedule(Schedule):
    """Polynomial: (1 - it / max_iter) ** power, held at 0 from max_iter on; NNC's Linear is power 1."""

    def __init__(self, base_lr: float = 1.0, max_iter: int = 1, power: float = 1.0, warmup: int = 0) -> None:
        super().__init__(base_lr, warmup)
        if int(max_iter) < 1:
            raise ValueError(f"a Polynomial schedule's max_iter is at least 1 iteration, got {max_iter!r}")
        self.max_iter, self.power = int(max_iter), float(power)

    def _factor(self, step):
        progress = ops.cast(ops.minimum(step, self.max_iter), "float32") / self.max_iter
        return ops.power(1.0 - progress, self.power)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_iter": self.max_iter, "power": self.power}


@keras.saving.register_keras_serializable(package="nnc")
class PlateauSchedule(Schedule):
    """Plateau (nndsl's own; NNC has none): the factor a monitor's values decide (`nnc_solvers.Plateau`, the
    rule of Keras's ReduceLROnPlateau), held in `plateau` and changed by `observe` after an evaluation."""

    def __init__(
        self,
        base_lr: float = 1.0,
        monitor: str = "",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        warmup: int = 0,
    ) -> None:
        super().__init__(base_lr, warmup)
        self.plateau = Plateau(monitor, factor, patience, min_delta, cooldown, min_lr, base_lr)

    def _factor(self, step):
        return ops.full(ops.shape(step), self.plateau.scale, "float32")

    def observe(self, values: Mapping[str, float]) -> bool:
        if self.plateau.monitor not in values:
            return False
        return self.plateau.observe(values[self.plateau.monitor])

    def state_dict(self) -> dict[str, Any]:
        return self.plateau.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.plateau.load_state_dict(state)

    def get_config(self) -> dict[str, Any]:
        p = self.plateau
        return {
            **super().get_config(),
            **{"monitor": p.monitor, "factor": p.factor, "patience": p.patience, "min_delta": p.min_delta},
            **{"cooldown": p.cooldown, "min_lr": p.min_lr},
        }


def make_schedule(
    name: str,
    params: Mapping[str, Any] | None = None,
    iterations_per_epoch: int = 1,
    total_iterations: int | None = None,
    base_lr: float = 1.0,
) -> Schedule:
    """NNC's learning-rate schedule `name` (Constant, Exponential, Step, Cosine, Polynomial, Linear; nndsl's
    Plateau; case-insensitive) as a Keras LearningRateSchedule whose value at iteration it is base_lr * the
    schedule's factor. `params`: multiplier (gamma), interval, steps, power, max_iter, warmup; Plateau's
    monitor, factor, patience, min_delta, cooldown, min_lr; durations
    are ints (iterations) or (value, "epoch" | "iteration") pairs, converted with `iterations_per_epoch`.
    Cosine, Polynomial and Linear run to 0 over `total_iterations` unless max_iter is given.
    """
    kind, args, warmup = schedule_arguments(name, params, iterations_per_epoch, total_iterations)
    if kind == "plateau":
        return PlateauSchedule(base_lr, **args, warmup=warmup)
    if kind == "constant":
        return ConstantSchedule(base_lr, warmup=warmup)
    if kind == "exponential":
        return ExponentialSchedule(base_lr, args["gamma"], args["interval"], warmup=warmup)
    if kind == "step":
        return StepSchedule(base_lr, args["gamma"], args["steps"], warmup=warmup)
    if kind == "cosine":
        return CosineSchedule(base_lr, args["max_iter"], warmup=warmup)
    return PolynomialSchedule(base_lr, args["max_iter"], args["power"], warmup=warmup)
