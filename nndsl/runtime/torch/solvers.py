"""NNC's solvers and learning-rate schedules for PyTorch: `Momentum`, `Nesterov`, `Adam`, `AdamW`,
`Adamax`, `AMSGRAD`, `RMSpropGraves`, `AdaBelief`, `Lars`, `SgdW`, `AdaBound`, `AMSBound`, `make_solver`,
`Schedule`, `make_schedule`, `to_iterations`.

A generated project's train.py imports this file as `solvers`; it needs torch and the framework-free
`nnc_solvers.py` (nnabla's defaults and NNC's schedule arguments, shared with the Keras runtime).
Every solver computes nnabla's update (sony/nnabla `src/nbla/solver/generic/*.cpp`), every schedule
the learning rate of `python/src/nnabla/utils/learning_rate_scheduler.py`; Plateau, nndsl's own (NNC has
none), follows a monitor's values (`nnc_solvers.Plateau`, Keras's ReduceLROnPlateau rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

# isort: split
from ..nnc_solvers import Plateau, schedule_arguments, solver_arguments, to_iterations

__all__ = [
    "AdaBelief",
    "AdaBound",
    "Adam",
    "Adamax",
    "AdamW",
    "AMSBound",
    "AMSGRAD",
    "Lars",
    "make_schedule",
    "make_solver",
    "Momentum",
    "Nesterov",
    "RMSpropGraves",
    "Schedule",
    "SgdW",
    "to_iterations",
]


# ---------------------------------------------------------------------------------------------------
# 4. Solvers and learning-rate schedules
# ---------------------------------------------------------------------------------------------------
# nnabla applies NNC's WeightDecay as `solver.weight_decay(wd)` before every update: g += wd * w
# (nnabla `weight_decay.hpp`), which is what torch's `weight_decay` does too. Where torch's update
# rule is nnabla's, make_solver returns the torch optimizer:
#   Sgd      -> torch.optim.SGD       w -= lr g                                          (identical)
#   Adagrad  -> torch.optim.Adagrad   G += g^2; w -= lr g / (sqrt(G) + eps)              (identical)
#   Adadelta -> torch.optim.Adadelta  rho = decay, eps inside both square roots          (identical)
#   RMSprop  -> torch.optim.RMSprop   alpha = decay; w -= lr g / (sqrt(v) + eps)         (identical)
# The others differ from torch and are implemented below from nnabla's sources:
#   Momentum: the learning rate is inside the velocity (torch's SGD multiplies it outside);
#   Nesterov: nnabla's form (equal to torch's only while the learning rate is constant);
#   Adam, AMSGRAD: eps is added to sqrt(v) before the bias correction (torch adds it after), and
#     nnabla's AMSGRAD has no bias correction by default;
#   Adamax: eps is added outside the max (torch puts it inside);
#   AdamW: the decoupled decay is eta_t * wd * w with eta_t = lr / initial lr (torch: lr * wd * w);
#   SgdW: nnabla's decoupled decay is eta_t * wd * w with eta_t = lr / initial lr;
#   RMSpropGraves, AdaBelief, Lars, AdaBound, AMSBound: no torch equivalent.


class _NnablaSolver(torch.optim.Optimizer):
    """An optimizer whose step is nnabla's: g = grad + weight_decay * w, then `_update` per parameter."""

    decay_before_update = True  # nnabla's solver.weight_decay(wd): g += wd * w (Lars overrides it)

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        if defaults["lr"] < 0:
            raise ValueError(f"invalid learning rate {defaults['lr']}")
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        # The initial learning rate, for AdamW's eta_t = lr / initial lr (nnabla's init_alpha_).
        self.param_groups[-1].setdefault("init_lr", self.param_groups[-1]["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] and self.decay_before_update:
                    g = g.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                state["t"] = state.get("t", 0) + 1
                self._update(p, g, state, group)
        return loss

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class Momentum(_NnablaSolver):
    """nnabla's Momentum (`momentum.cpp`): v = momentum * v + lr * g; w -= v."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g, alpha=group["lr"])
        p.sub_(v)


class Nesterov(_NnablaSolver):
    """nnabla's Nesterov (`nesterov.cpp`): v' = momentum * v - lr * g; w += -momentum * v + (1 + momentum) * v'."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        m = group["momentum"]
        v = state.setdefault("v", torch.zeros_like(p))
        v_prev = v.clone()
        v.mul_(m).sub_(g, alpha=group["lr"])
        p.add_(v_prev, alpha=-m).add_(v, alpha=1.0 + m)


class Adam(_NnablaSolver):
    """nnabla's Adam (`adam.cpp`): m, v moving averages; w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay))

    def _moments(self, p, g, state, group):
        b1, b2 = group["beta1"], group["beta2"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        return m, v

    def _step_size(self, state, group):
        t = state["t"]
        return group["lr"] * math.sqrt(1.0 - group["beta2"] ** t) / (1.0 - group["beta1"] ** t)

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-self._step_size(state, group))


class AdamW(Adam):
    """nnabla's AdamW (`adamw.cpp`): Adam's step, then w -= eta_t * wd * w with eta_t = lr / initial lr.

    `wd` is the decoupled decay; `weight_decay` the usual g += weight_decay * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for AdamW).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        _NnablaSolver.__init__(
            self, params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd, weight_decay=weight_decay)
        )

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        eta = group["lr"] / group["init_lr"] if group["init_lr"] else 0.0
        p.mul_(1.0 - eta * group["wd"])
        p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-self._step_size(state, group))


class Adamax(_NnablaSolver):
    """nnabla's Adamax (`adamax.cpp`): u = max(b2 u, |g|); w -= lr / (1 - b1^t) m / (u + eps)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        b1, b2 = group["beta1"], group["beta2"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        torch.maximum(u.mul_(b2), g.abs(), out=u)
        p.addcdiv_(m, u + group["eps"], value=-group["lr"] / (1.0 - b1 ** state["t"]))


class AMSGRAD(Adam):
    """nnabla's AMSGRAD (`amsgrad.cpp`): v_hat = max(v_hat, v); w -= lr' m / (sqrt(v_hat) + eps).

    lr' = lr, or with bias_correction (off by default in nnabla) lr sqrt(1 - b2^t) / (1 - b1^t).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        bias_correction: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _NnablaSolver.__init__(
            self,
            params,
            dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction, weight_decay=weight_decay),
        )

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        v_hat = state.setdefault("v_hat", torch.zeros_like(p))
        torch.maximum(v_hat, v, out=v_hat)
        lr = self._step_size(state, group) if group["bias_correction"] else group["lr"]
        p.addcdiv_(m, v_hat.sqrt().add_(group["eps"]), value=-lr)


class RMSpropGraves(_NnablaSolver):
    """nnabla's RMSpropGraves (`rmsprop_graves.cpp`): n, g running means of grad^2 and grad;
    d = momentum * d - lr * grad / sqrt(n - g^2 + eps); w += d."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        decay: float = 0.95,
        momentum: float = 0.9,
        eps: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, decay=decay, momentum=momentum, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        decay = group["decay"]
        n = state.setdefault("n", torch.zeros_like(p))
        mean = state.setdefault("g", torch.zeros_like(p))
        d = state.setdefault("d", torch.zeros_like(p))
        n.mul_(decay).addcmul_(g, g, value=1.0 - decay)
        mean.mul_(decay).add_(g, alpha=1.0 - decay)
        denominator = (n - mean * mean + group["eps"]).sqrt_()
        d.mul_(group["momentum"]).addcdiv_(g, denominator, value=-group["lr"])
        p.add_(d)


class AdaBelief(_NnablaSolver):
    """nnabla's AdaBelief (`adabelief.cpp`): m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) (g - m)^2;
    w -= lr r_t sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s + eps) + eps).

    Options as nnabla: amsgrad (s_max = max(s_max, s) in place of s), weight_decouple (w -= w * wd * lr,
    or w * wd with fixed_decay), rectify (RAdam's r_t; a plain SGD step m * lr while rho_t <= 4).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 0.0,
        amsgrad: bool = False,
        weight_decouple: bool = False,
        fixed_decay: bool = False,
        rectify: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                eps=eps,
                wd=wd,
                amsgrad=amsgrad,
                weight_decouple=weight_decouple,
                fixed_decay=fixed_decay,
                rectify=rectify,
                weight_decay=weight_decay,
            ),
        )

    def _update(self, p, g, state, group):
        t, b1, b2, eps, lr = state["t"], group["beta1"], group["beta2"], group["eps"], group["lr"]
        r_t, rho_t = 1.0, 0.0
        if group["rectify"]:
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            rho_t = rho_inf - 2.0 * t * b2**t / (1.0 - b2**t)
            if rho_t > 4.0:
                r_t = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        sgd_update = group["rectify"] and rho_t <= 4.0
        alpha_t = lr if sgd_update else lr * r_t * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m = state.setdefault("m", torch.zeros_like(p))
        s = state.setdefault("s", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        diff = g - m
        s.mul_(b2).addcmul_(diff, diff, value=1.0 - b2)
        if group["weight_decouple"]:
            p.mul_(1.0 - (group["wd"] if group["fixed_decay"] else group["wd"] * lr))
        if group["amsgrad"]:
            s_max = state.setdefault("s_max", torch.zeros_like(p))
            torch.maximum(s_max, s, out=s_max)
            s = s_max
        if sgd_update:
            p.add_(m, alpha=-alpha_t)
        else:
            p.addcdiv_(m, (s + eps).sqrt_().add_(eps), value=-alpha_t)


class Lars(_NnablaSolver):
    """nnabla's Lars (`lars.cpp`): a layer-wise learning rate, then Momentum with it.

    Per parameter: local lr = lr * coefficient * |w| / (|g| + weight_decay * |w|) (lr itself when |w| < eps;
    eps is added to a denominator below eps); g += weight_decay * w; v = momentum * v + local lr * g;
    w -= v. nnabla applies the weight decay inside this update, not before it.
    """

    decay_before_update = False

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.9,
        coefficient: float = 1e-3,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, coefficient=coefficient, eps=eps, weight_decay=weight_decay)
        )

    def _update(self, p, g, state, group):
        wd, eps = group["weight_decay"], group["eps"]
        g_norm, d_norm = g.norm(), p.norm()
        x = g_norm + wd * d_norm
        x = torch.where(x < eps, x + eps, x)
        local_lr = torch.where(
            d_norm < eps, torch.full_like(x, group["lr"]), group["lr"] * group["coefficient"] * d_norm / x
        )
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g.add(p, alpha=wd) * local_lr)
        p.sub_(v)


class SgdW(_NnablaSolver):
    """nnabla's SgdW (`sgdw.cpp`): v = momentum * v + lr * g; w -= v + eta_t * wd * w, both from the same w,
    with eta_t = lr / initial lr (nnabla's lr / init_lr).

    `wd` is the decoupled decay; `weight_decay` the usual g += weight_decay * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for SgdW).
    """

    def __init__(
        self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, wd: float = 1e-4, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, wd=wd, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        eta = group["lr"] / group["init_lr"] if group["init_lr"] else 0.0
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g, alpha=group["lr"])
        p.mul_(1.0 - eta * group["wd"]).sub_(v)


class AdaBound(Adam):
    """nnabla's AdaBound (`adabound.cpp`): Adam's moments; the per-element step size
    eta = lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps) is clipped to
    [final (1 - 1 / (gamma t + 1)), final (1 + 1 / (gamma t))], final = final_lr * lr / initial lr; w -= eta m.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, final_lr=final_lr, gamma=gamma)
        _NnablaSolver.__init__(self, params, {**defaults, "weight_decay": weight_decay})

    def _final_lr(self, group):
        return group["final_lr"] * group["lr"] / group["init_lr"] if group["init_lr"] else 0.0

    def _bounds(self, state, group):
        t, gamma, final = state["t"], group["gamma"], self._final_lr(group)
        upper = final * (1.0 + 1.0 / (gamma * t)) if gamma else math.inf
        return final * (1.0 - 1.0 / (gamma * t + 1.0)), upper

    def _clipped_step(self, p, m, v, step_size, state, group):
        low, high = self._bounds(state, group)
        eta = v.sqrt().add_(group["eps"]).reciprocal_().mul_(step_size).clamp_(low, high)
        p.sub_(eta.mul_(m))

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        self._clipped_step(p, m, v, self._step_size(state, group), state, group)


class AMSBound(AdaBound):
    """nnabla's AMSBound (`amsbound.cpp`): AdaBound with v_hat = max(v_hat, v) in place of v, no bias
    correction by default (lr itself; with bias_correction lr sqrt(1 - b2^t) / (1 - b1^t)), and nnabla 1.39's
    upper bound final (1 + t / gamma) (its source reads 1 / gamma * t; AdaBound's is 1 / (gamma t)).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        bias_correction: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, final_lr=final_lr, gamma=gamma)
        defaults.update(bias_correction=bias_correction, weight_decay=weight_decay)
        _NnablaSolver.__init__(self, params, defaults)

    def _bounds(self, state, group):
        t, gamma, final = state["t"], group["gamma"], self._final_lr(group)
        upper = final * (1.0 + t / gamma) if gamma else math.inf
        return final * (1.0 - 1.0 / (gamma * t + 1.0)), upper

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        v_hat = state.setdefault("v_hat", torch.zeros_like(p))
        torch.maximum(v_hat, v, out=v_hat)
        step_size = self._step_size(state, group) if group["bias_correction"] else group["lr"]
        self._clipped_step(p, m, v_hat, step_size, state, group)


# NNC solver -> its optimizer (parameters: nnc_solvers.SOLVER_DEFAULTS, plus weight_decay)
_SOLVERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "Sgd": lambda p, lr, weight_decay: torch.optim.SGD(p, lr=lr, weight_decay=weight_decay),
    "Momentum": Momentum,
    "Nesterov": Nesterov,
    "Adagrad": lambda p, lr, eps, weight_decay: torch.optim.Adagrad(p, lr=lr, eps=eps, weight_decay=weight_decay),
    "Adadelta": lambda p, lr, decay, eps, weight_decay: torch.optim.Adadelta(
        p, lr=lr, rho=decay, eps=eps, weight_decay=weight_decay
    ),
    "RMSprop": lambda p, lr, decay, eps, weight_decay: torch.optim.RMSprop(
        p, lr=lr, alpha=decay, eps=eps, weight_decay=weight_decay
    ),
    "Adam": Adam,
    "AdamW": AdamW,
    "Adamax": Adamax,
    "AMSGRAD": AMSGRAD,
    "RMSpropGraves": RMSpropGraves,
    "AdaBelief": AdaBelief,
    "Lars": Lars,
    "SgdW": SgdW,
    "AdaBound": AdaBound,
    "AMSBound": AMSBound,
}


def make_solver(name: str, params: Iterable, nnc_kwargs: Mapping[str, Any] | None = None) -> torch.optim.Optimizer:
    """The optimizer for NNC's solver `name` (Sgd, Momentum, Nesterov, Adagrad, Adadelta, RMSprop,
    RMSpropGraves, Adam, AdamW, Adamax, AMSGRAD, AdaBelief, Lars, SgdW, AdaBound, AMSBound; case-insensitive)
    with NNC/nnabla parameter names: lr (also alpha, learning_rate, eta), momentum, beta1, beta2, eps (epsilon),
    decay, weight_decay, wd (AdamW, SgdW, AdaBelief), bias_correction (AMSGRAD, AMSBound), coefficient (Lars),
    amsgrad, weight_decouple, fixed_decay, rectify (AdaBelief), final_lr, gamma (AdaBound, AMSBound). Missing
    values take nnabla's defaults (solvers.yaml); weight_decay defaults to 0.

    AdamW, SgdW: weight_decay > 0 (NNC's WeightDecay) is their decoupled rate in place of wd and adds nothing
    to the gradient, as nnabla's solver.weight_decay does for them (nnc_solvers.solver_arguments).
    """
    solver, arguments = solver_arguments(name, nnc_kwargs)
    return _SOLVERS[solver](params, **arguments)


class Schedule:
    """A learning-rate schedule counted in mini-batch iterations (NNC's trainer calls it with the
    iteration index, from 0, at every update): `schedule(it)` is the multiplier of the base learning
    rate, `schedule.lr(it)` the learning rate itself.

    Rules (nnabla `learning_rate_scheduler.py`, with max_iter the whole training by default):
      Constant     1
      Exponential  multiplier ** (it // interval)
      Step         multiplier ** (number of steps <= it)
      Cosine       (cos(pi * it / max_iter) + 1) / 2       (held at 0 from max_iter on)
      Polynomial   (1 - it / max_iter) ** power             (held at 0 from max_iter on)
      Linear       Polynomial with power 1
      Plateau      the scale `plateau` (an nnc_solvers.Plateau) holds: `observe` gives it the monitors' values
    and a linear warm-up multiplies by (it + 1) / warmup while it < warmup (nnabla LinearWarmupScheduler).
    `state_dict()` is what a checkpoint keeps (a Plateau's decisions; nothing for the others).
    """

    def __init__(
        self,
        name: str,
        rule: Callable[[int], float],
        warmup: int = 0,
        base_lr: float = 1.0,
        plateau: Plateau | None = None,
    ) -> None:
        self.name, self._rule, self.warmup, self.base_lr = name, rule, int(warmup), float(base_lr)
        self.plateau = plateau

    def observe(self, values: Mapping[str, float]) -> bool:
        """The monitors evaluated this epoch, by name: a Plateau schedule's step on its monitor's value (True
        when it reduced the learning rate); the other schedules follow the iteration alone."""
        if self.plateau is None or self.plateau.monitor not in values:
            return False
        return self.plateau.observe(values[self.plateau.monitor])

    def state_dict(self) -> dict[str, Any]:
        return {} if self.plateau is None else self.plateau.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.plateau is not None:
            self.plateau.load_state_dict(state)

    def __call__(self, iteration: int) -> float:
        factor = self._rule(int(iteration))
        if iteration < self.warmup:
            factor *= (iteration + 1) / self.warmup
        return factor

    def lr(self, iteration: int) -> float:
        return self.base_lr * self(iteration)

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, warmup={self.warmup}, base_lr={self.base_lr})"


def make_schedule(
    name: str,
    params: Mapping[str, Any] | None = None,
    iterations_per_epoch: int = 1,
    total_iterations: int | None = None,
    base_lr: float = 1.0,
) -> Schedule:
    """NNC's learning-rate schedule `name` (Constant, Exponential, Step, Cosine, Polynomial, Linear; nndsl's
    Plateau) as a `Schedule`. `params`: multiplier (gamma), interval, steps, power, max_iter, warmup; Plateau's
    monitor, factor, patience, min_delta, cooldown, min_lr; durations are ints (iterations) or (value, "epoch"
    | "iteration") pairs, converted with `iterations_per_epoch`. Cosine, Polynomial and Linear run to 0 over
    `total_iterations` unless max_iter is given.
    """
    kind, args, warmup = schedule_arguments(name, params, iterations_per_epoch, total_iterations)
    rule: Callable[[int], float]
    if kind == "plateau":
        plateau = Plateau(**args, base_lr=base_lr)
        return Schedule(name, lambda it: plateau.scale, warmup, base_lr, plateau)
    if kind == "constant":
        rule = lambda it: 1.0  # noqa: E731
    elif kind == "exponential":
        rule = lambda it: args["gamma"] ** (it // args["interval"])  # noqa: E731
    elif kind == "step":
        rule = lambda it: args["gamma"] ** sum(1 for s in args["steps"] if it >= s)  # noqa: E731
    elif kind == "cosine":
        total = args["max_iter"]
        rule = lambda it: (math.cos(math.pi * min(it, total) / total) + 1.0) * 0.5  # noqa: E731
    else:
        total, power = args["max_iter"], args["power"]
        rule = lambda it: (1.0 - min(it, total) / total) ** power  # noqa: E731
    return Schedule(name, rule, warmup, base_lr)
