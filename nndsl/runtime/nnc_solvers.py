"""NNC's solvers and learning-rate schedules, framework-free: their names, parameters and defaults.

Part of every generated project (numpy-free; the standard library only). The PyTorch runtime
(`nnc.make_solver`, `nnc.make_schedule`) and the Keras one (`solvers.make_solver`,
`solvers.make_schedule`) read NNC's configuration through `solver_arguments` and
`schedule_arguments`, and differ only in the optimizers and schedules they build from them.
Defaults are nnabla's (`solvers.yaml`); schedules follow
`python/src/nnabla/utils/learning_rate_scheduler.py`.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DECOUPLED",
    "PLATEAU_DEFAULTS",
    "SCHEDULE_DEFAULTS",
    "Plateau",
    "SOLVER_DEFAULTS",
    "active",
    "iteration_range",
    "key",
    "schedule_arguments",
    "solver_arguments",
    "to_iterations",
]


def key(name: str) -> str:
    """Parameter spellings compared loosely: `Beta1`, `beta_1`, `beta1` are one key."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# canonical parameter -> accepted spellings (after `key`)
SOLVER_ALIASES = {
    "lr": ("lr", "learningrate", "alpha", "eta"),
    "momentum": ("momentum",),
    "beta1": ("beta1",),
    "beta2": ("beta2",),
    "eps": ("eps", "epsilon"),
    "decay": ("decay", "rho"),
    "wd": ("wd",),
    "weight_decay": ("weightdecay",),
    "bias_correction": ("biascorrection",),
    "coefficient": ("coefficient",),
    "amsgrad": ("amsgrad",),
    "weight_decouple": ("weightdecouple",),
    "fixed_decay": ("fixeddecay",),
    "rectify": ("rectify",),
    "final_lr": ("finallr",),
    "gamma": ("gamma",),
}

# NNC solver -> its parameters with nnabla's defaults
SOLVER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Sgd": dict(lr=1e-3),
    "Momentum": dict(lr=1e-3, momentum=0.9),
    "Nesterov": dict(lr=1e-3, momentum=0.9),
    "Adagrad": dict(lr=1e-2, eps=1e-8),
    "Adadelta": dict(lr=1.0, decay=0.95, eps=1e-6),
    "RMSprop": dict(lr=1e-3, decay=0.9, eps=1e-8),
    "Adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8),
    "AdamW": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, wd=None),
    "Adamax": dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8),
    "AMSGRAD": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, bias_correction=False),
    "RMSpropGraves": dict(lr=1e-4, decay=0.95, momentum=0.9, eps=1e-4),
    "AdaBelief": dict(
        lr=1e-3,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        wd=0.0,
        amsgrad=False,
        weight_decouple=False,
        fixed_decay=False,
        rectify=False,
    ),
    "Lars": dict(lr=1e-3, momentum=0.9, coefficient=1e-3, eps=1e-6),
    "SgdW": dict(lr=1e-3, momentum=0.9, wd=None),
    "AdaBound": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, final_lr=0.1, gamma=1e-3),
    "AMSBound": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, final_lr=0.1, gamma=1e-3, bias_correction=False),
}

# Solvers whose weight decay is decoupled (w -= eta_t * wd * w beside the update): for them nnabla's
# solver.weight_decay(rate), which NNC's trainer calls with WeightDecay when it is > 0, sets the decoupled
# rate of the next update in place of wd and adds nothing to the gradient (nnabla 1.39, run).
DECOUPLED = ("AdamW", "SgdW")


def solver_arguments(name: str, nnc_kwargs: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """NNC's solver `name` (case-insensitive) and its parameters under NNC/nnabla's spellings, as
    (canonical solver name, every parameter of the solver with nnabla's defaults filled in, plus
    weight_decay, 0 unless given).

    AdamW, SgdW (DECOUPLED): weight_decay > 0 (NNC's WeightDecay) is the decoupled rate, in place of wd,
    and nothing is added to the gradient (the returned weight_decay is 0), as nnabla 1.39 does when NNC's
    trainer calls solver.weight_decay(WeightDecay); otherwise wd (nnabla's default 1e-4 when neither is given).
    """
    canonical = {key(n): n for n in SOLVER_DEFAULTS}
    solver = canonical.get(key(name))
    if solver is None:
        raise ValueError(f"unknown solver {name!r}; expected one of {', '.join(SOLVER_DEFAULTS)}")
    defaults = SOLVER_DEFAULTS[solver]
    lookup = {alias: canon for canon, aliases in SOLVER_ALIASES.items() for alias in aliases}
    given: dict[str, Any] = {}
    for name_given, value in (nnc_kwargs or {}).items():
        canon = lookup.get(key(name_given))
        if canon is None or (canon not in defaults and canon != "weight_decay"):
            allowed = ", ".join([*defaults, "weight_decay"])
            raise ValueError(f"solver {solver} has no parameter {name_given!r}; expected {allowed}")
        given[canon] = value
    arguments = {**defaults, **given}
    arguments.setdefault("weight_decay", 0.0)
    if solver in DECOUPLED:
        if arguments["weight_decay"] > 0:
            arguments["wd"] = arguments["weight_decay"]
        elif arguments["wd"] is None:
            arguments["wd"] = 0.0 if "weight_decay" in given else 1e-4
        arguments["weight_decay"] = 0.0
    return solver, arguments


def to_iterations(duration: Any, iterations_per_epoch: int) -> int:
    """A duration as mini-batch iterations: an int counts iterations; (value, "epoch" | "iteration") pairs
    (also "epochs", "iterations", "iter") convert epochs with `iterations_per_epoch` (rounded)."""
    if isinstance(duration, numbers.Real) and not isinstance(duration, bool):
        return int(round(duration))
    if isinstance(duration, Sequence) and not isinstance(duration, str) and len(duration) == 2:
        value, unit = duration
        unit = str(unit).lower()
        if unit in ("epoch", "epochs"):
            return int(round(float(value) * iterations_per_epoch))
        if unit in ("iteration", "iterations", "iter", "iters"):
            return int(round(float(value)))
    raise ValueError(f"a duration is an int or (value, 'epoch' | 'iteration'), got {duration!r}")


def iteration_range(start: Any, end: Any, iterations_per_epoch: int) -> tuple[int, int]:
    """An optimizer's `start` and `end` (NNC's RangeFrom/RangeTo: an iteration or epoch counted from 1,
    included; None: open) as (first, last) mini-batch iterations counted from 1, 0 where open, as nnabla's
    start_iter/end_iter: epochs a..b are iterations (a - 1) * iterations_per_epoch + 1 .. b * iterations_per_epoch."""

    def point(p: Any, last: bool) -> int:
        if p is None:
            return 0
        if isinstance(p, Sequence) and not isinstance(p, str) and str(p[1]).lower().startswith("epoch"):
            epochs = int(p[0])
            return epochs * iterations_per_epoch if last else (epochs - 1) * iterations_per_epoch + 1
        return to_iterations(p, iterations_per_epoch)

    return point(start, False), point(end, True)


def active(iteration: int, first: int, last: int) -> bool:
    """Whether an optimizer with iteration_range (first, last) runs at mini-batch `iteration` (from 0),
    as nnabla's trainer decides: (first == 0 or iteration + 1 >= first) and (last == 0 or iteration + 1 <= last)."""
    return (first == 0 or iteration + 1 >= first) and (last == 0 or iteration + 1 <= last)


# NNC's schedule parameters with nnabla's defaults (`learning_rate_scheduler.py`); durations have none.
SCHEDULE_DEFAULTS: dict[str, float] = {"multiplier": 0.1, "power": 1.0}
# Plateau's (nndsl's own schedule, NNC has none): Keras's ReduceLROnPlateau's defaults. `monitor` has none.
PLATEAU_DEFAULTS: dict[str, float | int] = {
    "factor": 0.1,
    "patience": 10,
    "min_delta": 1e-4,
    "cooldown": 0,
    "min_lr": 0.0,
}


class Plateau:
    """The learning rate divided when a monitored error stops improving (AlexNet's schedule: by 10; nndsl's
    own, NNC has none), decided as Keras 3's `ReduceLROnPlateau` callback decides
    (keras/src/callbacks/reduce_lr_on_plateau.py, mode "min"), once per evaluation of the monitor:

        in cooldown (cooldown > 0):    cooldown -= 1, wait = 0
        value + min_delta < best:      best = value, wait = 0            (an improvement)
        else, not in cooldown:         wait += 1; at wait >= patience, where base_lr * scale > min_lr:
                                       scale = max(scale * factor, min_lr / base_lr), cooldown = its
                                       setting, wait = 0                 (a reduction)

    `scale` multiplies the base learning rate (the schedule's factor), from 1. `best` starts at +inf, so a
    NaN is never an improvement (Keras takes any first value as one). The state, `state_dict()`, is four
    numbers: what a checkpoint keeps for an exact resume. Stdlib only: both backends' schedules hold one, so
    they decide alike for the same monitor values."""

    def __init__(
        self,
        monitor: str,
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        base_lr: float = 1.0,
    ) -> None:
        if not 0.0 < float(factor) < 1.0:
            raise ValueError(f"a Plateau schedule's factor is between 0 and 1, got {factor!r}")
        for name, value in (
            ("patience", patience),
            ("cooldown", cooldown),
            ("min_delta", min_delta),
            ("min_lr", min_lr),
        ):
            if not value >= 0:
                raise ValueError(f"a Plateau schedule's {name} is at least 0, got {value!r}")
        self.monitor, self.factor, self.patience = str(monitor), float(factor), int(patience)
        self.min_delta, self.cooldown = float(min_delta), int(cooldown)
        self.min_lr, self.base_lr = float(min_lr), float(base_lr)
        self.best, self.wait, self.cooldown_counter, self.scale = math.inf, 0, 0, 1.0
        # the least scale: min_lr / base_lr (a learning rate of 0 is never reduced)
        self.floor = self.min_lr / self.base_lr if self.base_lr > 0 else math.inf

    def observe(self, value: float) -> bool:
        """One evaluation of the monitor; True when it reduced the learning rate."""
        value = float(value)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value + self.min_delta < self.best:
            self.best, self.wait = value, 0
            return False
        if self.cooldown_counter > 0:
            return False
        self.wait += 1
        if self.wait < self.patience or not self.scale > self.floor:  # at min_lr: no reduction, the wait goes on
            return False
        self.scale = max(self.scale * self.factor, self.floor)
        self.cooldown_counter, self.wait = self.cooldown, 0
        return True

    def state_dict(self) -> dict[str, float | int]:
        return {"best": self.best, "wait": self.wait, "cooldown": self.cooldown_counter, "scale": self.scale}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            best, wait, cooldown, scale = (state[k] for k in ("best", "wait", "cooldown", "scale"))
            self.best, self.wait, self.cooldown_counter, self.scale = (
                float(best),
                int(wait),
                int(cooldown),
                float(scale),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"not a Plateau schedule's state: {state!r}"[:200]) from e


SCHEDULE_ALIASES = {
    "multiplier": ("multiplier", "gamma", "learningratemultiplier"),
    "interval": ("interval", "every", "iterinterval", "learningrateupdateinterval"),
    "steps": ("steps", "itersteps", "learningratesteps"),
    "power": ("power",),
    "max_iter": ("maxiter", "duration"),
    "warmup": ("warmup", "warmupiter", "learningratewarmup"),
    "monitor": ("monitor",),
    "factor": ("factor",),
    "patience": ("patience",),
    "min_delta": ("mindelta",),
    "cooldown": ("cooldown",),
    "min_lr": ("minlr",),
}


def schedule_arguments(
    name: str,
    params: Mapping[str, Any] | None = None,
    iterations_per_epoch: int = 1,
    total_iterations: int | None = None,
) -> tuple[str, dict[str, Any], int]:
    """NNC's learning-rate schedule `name` (Constant, Exponential, Step, Cosine, Polynomial, Linear;
    case-insensitive) as (kind, its arguments in iterations, warm-up iterations):
        "constant"      {}
        "exponential"   {"gamma", "interval"}       factor gamma ** (it // interval)
        "step"          {"gamma", "steps"}          factor gamma ** (number of steps <= it)
        "cosine"        {"max_iter"}                factor (cos(pi min(it, T) / T) + 1) / 2
        "polynomial"    {"max_iter", "power"}       factor (1 - min(it, T) / T) ** power (Linear: power 1)
        "plateau"       {"monitor", "factor", "patience", "min_delta", "cooldown", "min_lr"}
                                                    factor Plateau.scale, which the monitor's values decide
    `params`: multiplier (gamma), interval, steps, power, max_iter, warmup; durations are ints (iterations)
    or (value, "epoch" | "iteration") pairs, converted with `iterations_per_epoch`. Cosine, Polynomial and
    Linear run to 0 over `total_iterations` unless max_iter is given.
    """
    lookup = {alias: canon for canon, aliases in SCHEDULE_ALIASES.items() for alias in aliases}
    p: dict[str, Any] = {}
    for name_given, value in (params or {}).items():
        canon = lookup.get(key(name_given))
        if canon is None:
            raise ValueError(f"schedule {name!r} has no parameter {name_given!r}")
        p[canon] = value
    warmup = to_iterations(p.pop("warmup", 0) or 0, iterations_per_epoch)
    kind = key(name or "constant")

    def max_iter() -> int:
        if "max_iter" in p:
            return max(1, to_iterations(p["max_iter"], iterations_per_epoch))
        if total_iterations is None:
            raise ValueError(f"schedule {name!r} needs total_iterations (or max_iter)")
        return max(1, int(total_iterations))

    if kind in ("constant", "none"):
        return "constant", {}, warmup
    if kind == "exponential":
        interval = max(1, to_iterations(p.get("interval") or 1, iterations_per_epoch))
        gamma = float(p.get("multiplier", SCHEDULE_DEFAULTS["multiplier"]))
        return "exponential", {"gamma": gamma, "interval": interval}, warmup
    if kind == "step":
        steps = p.get("steps") or ()
        if isinstance(steps, numbers.Real) or (len(steps) == 2 and isinstance(steps[1], str)):
            steps = [steps]  # a single step: 30 or (30, "epoch")
        steps = [to_iterations(s, iterations_per_epoch) for s in steps]
        return "step", {"gamma": float(p.get("multiplier", SCHEDULE_DEFAULTS["multiplier"])), "steps": steps}, warmup
    if kind == "cosine":
        return "cosine", {"max_iter": max_iter()}, warmup
    if kind in ("polynomial", "linear"):
        power = 1.0 if kind == "linear" else float(p.get("power", SCHEDULE_DEFAULTS["power"]))
        return "polynomial", {"max_iter": max_iter(), "power": power}, warmup
    if kind == "plateau":
        if not p.get("monitor"):
            raise ValueError("a Plateau schedule needs the monitor whose value it follows")
        args = {k: type(v)(p.get(k, v)) for k, v in PLATEAU_DEFAULTS.items()}
        return "plateau", {"monitor": str(p["monitor"]), **args}, warmup
    raise ValueError(
        f"unknown schedule {name!r}; expected Constant, Exponential, Step, Cosine, Polynomial, Linear, Plateau"
    )
