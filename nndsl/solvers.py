"""NNC's solvers and learning-rate schedules: parameter names, NNC names, defaults.

Like the layer registry, each entry is data. The language calls the learning rate `lr`
for every solver (NNC says LearningRate, Alpha or Eta depending on the solver; those
spellings are accepted as aliases). Every solver also takes `weight_decay` (NNC's
WeightDecay, applied as nnabla's `solver.weight_decay(wd)`: g += wd * w before the update; for
the decoupled solvers AdamW and SgdW it is the decoupled rate `wd` instead, as in nnabla).
"""

from __future__ import annotations

from .layers.base import BOOL, FLOAT, Param

# A default of OPTIONAL: the parameter is left out unless given (the generated project's rule
# applies: AdamW's decoupled `wd` follows weight_decay).
OPTIONAL = ...
DURATION = "duration"  # (value, "epoch" | "iteration"); a plain int counts iterations
DURATIONS = "durations"


def _p(name: str, type_: str, default, nnc: str, *aliases: str) -> Param:
    return Param(name, type_, default, nnc, (), aliases)


def _lr(default: float, nnc: str = "LearningRate") -> Param:
    aliases = tuple(a for a in ("learning_rate", "alpha", "eta") if a != nnc.lower())
    return _p("lr", FLOAT, default, nnc, *aliases)


_EPS = "Epsilon"
_WD = _p("weight_decay", FLOAT, 0.0, "WeightDecay")

SOLVERS: dict[str, tuple[Param, ...]] = {
    "Sgd": (_lr(1e-3),),
    "Momentum": (_lr(1e-3), _p("momentum", FLOAT, 0.9, "Momentum")),
    "Nesterov": (_lr(1e-3), _p("momentum", FLOAT, 0.9, "Momentum")),
    "Adagrad": (_lr(1e-2), _p("epsilon", FLOAT, 1e-8, _EPS, "eps")),
    "Adadelta": (_lr(1.0), _p("decay", FLOAT, 0.95, "Decay"), _p("epsilon", FLOAT, 1e-6, _EPS, "eps")),
    "RMSprop": (_lr(1e-3), _p("decay", FLOAT, 0.9, "Decay"), _p("epsilon", FLOAT, 1e-8, _EPS, "eps")),
    "RMSpropGraves": (
        _lr(1e-4),
        _p("decay", FLOAT, 0.95, "Decay"),
        _p("momentum", FLOAT, 0.9, "Momentum"),
        _p("epsilon", FLOAT, 1e-4, _EPS, "eps"),
    ),
    "Adam": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
    ),
    "AdamW": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
        _p("wd", FLOAT, OPTIONAL, "Weight Decay"),  # the decoupled decay; default: weight_decay
    ),
    "Adamax": (
        _lr(2e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
    ),
    "AMSGRAD": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
        _p("bias_correction", BOOL, False, "BiasCorrection"),
    ),
    "AdaBelief": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
        _p("wd", FLOAT, 0.0, "Weight Decay"),
        _p("amsgrad", BOOL, False, "AMSGrad"),
        _p("weight_decouple", BOOL, False, "WD Decouple"),
        _p("fixed_decay", BOOL, False, "Fixed Decay"),
        _p("rectify", BOOL, False, "Rectify"),
    ),
    "Lars": (
        _lr(1e-3),
        _p("momentum", FLOAT, 0.9, "Momentum"),
        _p("coefficient", FLOAT, 1e-3, "Coefficient"),
        _p("epsilon", FLOAT, 1e-6, _EPS, "eps"),
    ),
    "SgdW": (
        _lr(1e-3),
        _p("momentum", FLOAT, 0.9, "Momentum"),
        _p("wd", FLOAT, OPTIONAL, "Weight Decay"),  # the decoupled decay; default: weight_decay
    ),
    "AdaBound": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
        _p("final_lr", FLOAT, 0.1, "FinalLR"),
        _p("gamma", FLOAT, 1e-3, "Gamma"),
    ),
    "AMSBound": (
        _lr(1e-3, "Alpha"),
        _p("beta1", FLOAT, 0.9, "Beta1"),
        _p("beta2", FLOAT, 0.999, "Beta2"),
        _p("epsilon", FLOAT, 1e-8, _EPS, "eps"),
        _p("final_lr", FLOAT, 0.1, "FinalLR"),
        _p("gamma", FLOAT, 1e-3, "Gamma"),
        _p("bias_correction", BOOL, False, "BiasCorrection"),
    ),
}
SOLVERS = {name: (*params, _WD) for name, params in SOLVERS.items()}

# Schedules count mini-batch iterations (NNC's semantics); a duration in epochs is turned
# into iterations by the generated training script, which knows the dataset size.
_WARMUP = _p("warmup", DURATION, (0, "iteration"), "LearningRateWarmup")
SCHEDULES: dict[str, tuple[Param, ...]] = {
    "Constant": (),
    # lr * multiplier ** (iteration // interval)
    "Exponential": (
        _p("multiplier", FLOAT, 0.1, "LearningRateMultiplier", "gamma"),
        _p("interval", DURATION, None, "LearningRateUpdateInterval", "every"),
    ),
    # lr * multiplier ** (number of steps passed)
    "Step": (
        _p("multiplier", FLOAT, 0.1, "LearningRateMultiplier", "gamma"),
        _p("steps", DURATIONS, None, "LearningRateSteps"),
    ),
    # cosine annealing from lr to 0 over the whole training (after warm-up)
    "Cosine": (),
    # lr * (1 - t / T) ** power
    "Polynomial": (_p("power", FLOAT, 1.0, "Power"),),
    # linear decay to 0 over the whole training
    "Linear": (),
}
SCHEDULES = {name: (*params, _WARMUP) for name, params in SCHEDULES.items()}
EVALUATIONS = ("mean", "last", "std")  # NNC's RepeatEvaluationType 0, 1, 2
PRECISIONS = ("float", "half")  # NNC's TypeConfig Float, Half
DEFAULT_SCHEDULE = "Constant"
