"""Real nnabla 1.39 updates of NNC's SgdW, AdaBound and AMSBound (and AdamW, whose weight decay
follows the same rule as SgdW's), as fixtures for tests/nnc/test_nnc_solvers.py.

Each case runs a few updates of one solver, made as nnabla's `utils/load.py` makes it from an NNC
config, on two small float32 parameters with given gradients, driven as NNC's trainer
(`utils/cli/train.py`) drives it: before every update `solver.weight_decay(WeightDecay)` when NNC's
WeightDecay is > 0, then `solver.set_learning_rate(lr)` (the cases change lr between updates, so
the rules that scale by lr / initial lr are exercised), then `solver.update()`. The parameters
after every update are stored with the inputs in one JSON file per case.

Run with nnabla's Python (its current folder must not be nnabla's package folder):

    /work/nnabla-venv/bin/python tools/nnc_solver_fixtures.py [OUT_DIR]

OUT_DIR defaults to tests/nnc/fixtures/solvers. `--check OUT_DIR` recomputes and exits 1 when a
stored fixture differs (the live test runs that).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

STEPS = 5
SHAPES = {"a/W": (3, 4), "b/b": (5,)}

# name -> (NNC solver, its parameters under NNC's display names (solver_component.txt), NNC's WeightDecay,
#          extra nnabla arguments NNC cannot set, the learning rate of each update)
CASES = {
    "sgdw": ("SgdW", {"LearningRate": 0.05, "Momentum": 0.8, "Weight Decay": 0.01}, 0.0, {}, [0.05] * STEPS),
    "sgdw_weight_decay": (
        "SgdW",
        {"LearningRate": 0.05, "Momentum": 0.8, "Weight Decay": 0.5},  # replaced by WeightDecay
        0.02,
        {},
        [0.05, 0.05, 0.025, 0.025, 0.01],
    ),
    "sgdw_schedule": (
        "SgdW",
        {"LearningRate": 0.1, "Momentum": 0.9, "Weight Decay": 0.05},
        0.0,
        {},
        [0.1, 0.05, 0.05, 0.02, 0.01],
    ),
    "adabound": (
        "AdaBound",
        {"Alpha": 0.01, "Beta1": 0.9, "Beta2": 0.999, "Epsilon": 1e-8, "FinalLR": 0.1, "Gamma": 0.001},
        0.0,
        {},
        [0.01] * STEPS,
    ),
    "adabound_bounds": (  # a large gamma: both bounds clip
        "AdaBound",
        {"Alpha": 0.1, "Beta1": 0.8, "Beta2": 0.99, "Epsilon": 0.01, "FinalLR": 0.05, "Gamma": 0.5},
        0.0,
        {},
        [0.1, 0.1, 0.05, 0.05, 0.02],
    ),
    "adabound_weight_decay": (
        "AdaBound",
        {"Alpha": 0.05, "Beta1": 0.5, "Beta2": 0.9, "Epsilon": 1e-3, "FinalLR": 1.0, "Gamma": 2.0},
        0.05,
        {},
        [0.05, 0.05, 0.05, 0.02, 0.02],
    ),
    "amsbound": (
        "AMSBound",
        {"Alpha": 0.01, "Beta1": 0.9, "Beta2": 0.999, "Epsilon": 1e-8, "FinalLR": 0.1, "Gamma": 0.001},
        0.0,
        {},
        [0.01] * STEPS,
    ),
    "amsbound_bounds": (
        "AMSBound",
        {"Alpha": 0.1, "Beta1": 0.8, "Beta2": 0.99, "Epsilon": 0.3, "FinalLR": 0.05, "Gamma": 0.5},
        0.0,
        {},
        [0.1, 0.1, 0.05, 0.05, 0.02],
    ),
    "amsbound_weight_decay": (
        "AMSBound",
        {"Alpha": 0.05, "Beta1": 0.5, "Beta2": 0.9, "Epsilon": 1e-3, "FinalLR": 0.01, "Gamma": 3.0},
        0.05,
        {},
        [0.05, 0.05, 0.05, 0.02, 0.02],
    ),
    "amsbound_bias_correction": (
        "AMSBound",
        {"Alpha": 0.1, "Beta1": 0.8, "Beta2": 0.99, "Epsilon": 0.3, "FinalLR": 0.05, "Gamma": 0.5},
        0.01,
        {"bias_correction": True},
        [0.1, 0.1, 0.05, 0.05, 0.02],
    ),
    "adamw_weight_decay": (
        "AdamW",
        {"Alpha": 0.01, "Beta1": 0.9, "Beta2": 0.999, "Epsilon": 1e-8, "Weight Decay": 0.5},  # replaced
        0.02,
        {},
        [0.01, 0.01, 0.005, 0.005, 0.002],
    ),
}

# NNC's display names -> nnabla's arguments (nndsl/nnc/components.py SOLVERS)
NNABLA_ARGS = {
    "LearningRate": "lr",
    "Alpha": "alpha",
    "Momentum": "momentum",
    "Weight Decay": "wd",
    "Beta1": "beta1",
    "Beta2": "beta2",
    "Epsilon": "eps",
    "FinalLR": "final_lr",
    "Gamma": "gamma",
}


def inputs(name: str) -> tuple[dict[str, np.ndarray], list[dict[str, np.ndarray]]]:
    """The initial parameters and each update's gradients of a case (seeded by its name)."""
    rng = np.random.default_rng(sum(map(ord, name)))
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in SHAPES.items()}
    grads = []
    for step in range(STEPS):
        # gradients that change scale and sign, and a few tiny ones, so the bounds and v_hat matter
        scale = [1.0, 0.3, 2.0, 0.05, 1.0][step]
        grads.append({k: (rng.normal(size=s) * scale).astype(np.float32) for k, s in SHAPES.items()})
    return params, grads


def run_case(name: str) -> dict:
    import nnabla as nn
    import nnabla.solvers as S

    solver_name, nnc_params, weight_decay, extra, lrs = CASES[name]
    params, grads = inputs(name)
    variables = {k: nn.Variable.from_numpy_array(v.copy(), need_grad=True) for k, v in params.items()}
    solver = getattr(S, solver_name)(**{NNABLA_ARGS[k]: v for k, v in nnc_params.items()}, **extra)
    solver.set_parameters(variables)
    after = []
    for step in range(STEPS):
        solver.zero_grad()
        for k, v in variables.items():
            v.g = grads[step][k]
        if weight_decay > 0:  # NNC's trainer (nnabla utils/cli/train.py)
            solver.weight_decay(weight_decay)
        solver.set_learning_rate(lrs[step])
        solver.update()
        after.append({k: v.d.tolist() for k, v in variables.items()})
    return {
        "nnabla": nn.__version__,
        "solver": solver_name,
        "nnc_params": nnc_params,
        "weight_decay": weight_decay,
        "extra": extra,
        "lrs": lrs,
        "params": {k: v.tolist() for k, v in params.items()},
        "grads": [{k: v.tolist() for k, v in g.items()} for g in grads],
        "after": after,
    }


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in CASES:
        text = json.dumps(run_case(name), indent=1) + "\n"
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, out / f"{name}.json")
        print(f"wrote {out / (name + '.json')}")


def check(out: Path) -> int:
    """1 when a stored fixture differs from what nnabla computes now (beyond float32 rounding)."""
    bad = 0
    for name in CASES:
        stored = json.loads((out / f"{name}.json").read_text())
        now = run_case(name)
        for step, (a, b) in enumerate(zip(stored["after"], now["after"], strict=True)):
            for k in a:
                if not np.allclose(a[k], b[k], rtol=1e-6, atol=1e-7):
                    print(f"{name}: update {step + 1}, {k} differs")
                    bad = 1
    return bad


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        return check(Path(argv[1]))
    write(Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "tests/nnc/fixtures/solvers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
