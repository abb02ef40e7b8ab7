"""NNC's solvers and learning-rate schedules: parameter names, NNC names, defaults.

Like the layer registry, each entry is data. The language calls the learning rate `lr`
for every solver (NNC says LearningRate, Alpha or Eta depending on the solver; those
spellings are accepted as aliases). Every solver also takes `weight_decay` (NNC's
WeightDecay, applied as nnabla's `solver.weight_decay(wd)`: g += wd * w before the update; for
the decoupled solvers AdamW and SgdW it is the decoupled rate `wd` instead, as in nnabla). The
solvers, their parameters and nnabla's defaults are the runtime's table
(`nndsl.runtime.nnc_solvers.SOLVER_DEFAULTS`, which the generated projects use); this module adds
the language's side: names, aliases and NNC's property names.
"""

from __future__ import annotations

from .layers.base import BOOL, FLOAT, INT, Param
from .runtime.nnc_solvers import PLATEAU_DEFAULTS, SCHEDULE_DEFAULTS, SOLVER_DEFAULTS

# A default of OPTIONAL: the parameter is left out unless given (the generated project's rule
# applies: AdamW's decoupled `wd` follows weight_decay).
OPTIONAL = ...
DURATION = "duration"  # (value, "epoch" | "iteration"); a plain int counts iterations
DURATIONS = "durations"
NAME = "name"  # a config section's name: `monitor=valid_error`


def _p(name: str, type_: str, default, nnc: str, *aliases: str) -> Param:
    return Param(name, type_, default, nnc, (), aliases)


# The runtime's parameter (nndsl.runtime.nnc_solvers.SOLVER_DEFAULTS, the one table of NNC's solvers
# and nnabla's defaults) -> its name in the language and NNC's property name (more aliases).
_NAMES: dict[str, tuple[str, ...]] = {
    "momentum": ("momentum", "Momentum"),
    "beta1": ("beta1", "Beta1"),
    "beta2": ("beta2", "Beta2"),
    "eps": ("epsilon", "Epsilon", "eps"),
    "decay": ("decay", "Decay"),
    "wd": ("wd", "Weight Decay"),
    "bias_correction": ("bias_correction", "BiasCorrection"),
    "coefficient": ("coefficient", "Coefficient"),
    "amsgrad": ("amsgrad", "AMSGrad"),
    "weight_decouple": ("weight_decouple", "WD Decouple"),
    "fixed_decay": ("fixed_decay", "Fixed Decay"),
    "rectify": ("rectify", "Rectify"),
    "final_lr": ("final_lr", "FinalLR"),
    "gamma": ("gamma", "Gamma"),
}
_ALPHA = ("Adam", "AdamW", "Adamax", "AMSGRAD", "AdaBelief", "AdaBound", "AMSBound")  # NNC's Alpha, not LearningRate


def _lr(default: float, nnc: str = "LearningRate") -> Param:
    aliases = tuple(a for a in ("learning_rate", "alpha", "eta") if a != nnc.lower())
    return _p("lr", FLOAT, default, nnc, *aliases)


def _param(solver: str, key: str, default) -> Param:
    if key == "lr":
        return _lr(default, "Alpha" if solver in _ALPHA else "LearningRate")
    name, nnc, *aliases = _NAMES[key]
    if default is None:
        default = OPTIONAL  # AdamW's, SgdW's decoupled wd: weight_decay unless given
    return _p(name, BOOL if isinstance(default, bool) else FLOAT, default, nnc, *aliases)


_WD = _p("weight_decay", FLOAT, 0.0, "WeightDecay")

SOLVERS: dict[str, tuple[Param, ...]] = {
    solver: (*(_param(solver, key, default) for key, default in defaults.items()), _WD)
    for solver, defaults in SOLVER_DEFAULTS.items()
}

# Schedules count mini-batch iterations (NNC's semantics); a duration in epochs is turned
# into iterations by the generated training script, which knows the dataset size.
_WARMUP = _p("warmup", DURATION, (0, "iteration"), "LearningRateWarmup")
SCHEDULES: dict[str, tuple[Param, ...]] = {
    "Constant": (),
    # lr * multiplier ** (iteration // interval)
    "Exponential": (
        _p("multiplier", FLOAT, SCHEDULE_DEFAULTS["multiplier"], "LearningRateMultiplier", "gamma"),
        _p("interval", DURATION, None, "LearningRateUpdateInterval", "every"),
    ),
    # lr * multiplier ** (number of steps passed)
    "Step": (
        _p("multiplier", FLOAT, SCHEDULE_DEFAULTS["multiplier"], "LearningRateMultiplier", "gamma"),
        _p("steps", DURATIONS, None, "LearningRateSteps"),
    ),
    # cosine annealing from lr to 0 over the whole training (after warm-up)
    "Cosine": (),
    # lr * (1 - t / T) ** power
    "Polynomial": (_p("power", FLOAT, SCHEDULE_DEFAULTS["power"], "Power"),),
    # linear decay to 0 over the whole training
    "Linear": (),
    # nndsl's own (NNC has none; AlexNet's): lr * factor once `monitor` has not improved by min_delta for
    # patience evaluations, Keras's ReduceLROnPlateau rule (nndsl.runtime.nnc_solvers.Plateau)
    "Plateau": (
        _p("monitor", NAME, None, ""),
        _p("factor", FLOAT, PLATEAU_DEFAULTS["factor"], ""),
        _p("patience", INT, PLATEAU_DEFAULTS["patience"], ""),
        _p("min_delta", FLOAT, PLATEAU_DEFAULTS["min_delta"], ""),
        _p("cooldown", INT, PLATEAU_DEFAULTS["cooldown"], ""),
        _p("min_lr", FLOAT, PLATEAU_DEFAULTS["min_lr"], ""),
    ),
}
# Schedules NNC's config can hold (`nndsl export` refuses the others, E0625).
NNC_SCHEDULES = ("Constant", "Exponential", "Step", "Cosine", "Polynomial", "Linear")
SCHEDULES = {name: (*params, _WARMUP) for name, params in SCHEDULES.items()}
EVALUATIONS = ("mean", "last", "std")  # NNC's RepeatEvaluationType 0, 1, 2
PRECISIONS = ("float", "half")  # NNC's TypeConfig Float, Half
DEFAULT_SCHEDULE = "Constant"
