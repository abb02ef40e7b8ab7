"""Regenerate tests/nnc/fixtures/bn_running_stats/bn_running_stats.npz: nnabla 1.39's BatchNormalization
training steps (batch_stat, what NNC's training runs: the C++ function `batch_normalization.cpp` that
`nnabla.utils.load` builds for a network file's BatchNormalization).

Each case is a BatchNormalization over axis 1 (NNC's channels) of seeded random batches, with seeded
random beta, gamma and starting running mean and variance, run for STEPS steps of a fresh batch
each; the file holds, per case `<c>`: `<c>:x` (STEPS, *batch shape), `<c>:beta`, `<c>:gamma`,
`<c>:mean0`, `<c>:var0` (nnabla's (1, C, 1, ...) shapes), `<c>:decay_rate`, `<c>:eps`, and after
step k `<c>:y` (STEPS, *batch shape) the outputs, `<c>:mean` and `<c>:var` (STEPS, C) the running
statistics. Cases: 2-D (an Affine's output) and 4-D inputs, and the batch of one, where a 2-D
input gives n = 1 value per channel (nnabla's running variance turns NaN: 0 * 1 / 0).

Run with nnabla's Python (numpy, nnabla):

    /work/nnabla-venv/bin/python tools/nnabla_bn_running_stats_fixtures.py [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/nnc/fixtures/bn_running_stats/bn_running_stats.npz"
STEPS = 3
# case: (batch shape in NNC's layout (N, C, ...), decay rate, epsilon)
CASES = {
    "affine": ((5, 4), 0.9, 1e-5),
    "conv": ((2, 3, 3, 2), 0.7, 1e-4),
    "affine_batch1": ((1, 4), 0.9, 1e-5),
    "conv_batch1": ((1, 3, 2, 2), 0.9, 1e-5),
}


def run(seed: int = 11) -> dict[str, np.ndarray]:
    import nnabla as nn
    import nnabla.functions as F

    rng = np.random.RandomState(seed)
    arrays: dict[str, np.ndarray] = {}
    for name, (shape, decay, eps) in CASES.items():
        stat = (1, shape[1]) + (1,) * (len(shape) - 2)
        x = (rng.randn(STEPS, *shape) * 2 + 1).astype(np.float32)
        values = {
            "beta": rng.randn(*stat).astype(np.float32) * 0.5,
            "gamma": (1 + rng.randn(*stat) * 0.3).astype(np.float32),
            "mean0": rng.randn(*stat).astype(np.float32),
            "var0": rng.uniform(0.5, 2.0, stat).astype(np.float32),
        }
        v = {k: nn.Variable.from_numpy_array(a.copy()) for k, a in values.items()}
        xv = nn.Variable(shape)
        y = F.batch_normalization(
            xv, v["beta"], v["gamma"], v["mean0"], v["var0"], axes=[1], decay_rate=decay, eps=eps, batch_stat=True
        )
        ys, means, vars_ = [], [], []
        for k in range(STEPS):
            xv.d = x[k]
            y.forward()
            ys.append(y.d.copy())
            means.append(v["mean0"].d.reshape(-1).copy())
            vars_.append(v["var0"].d.reshape(-1).copy())
        arrays.update({f"{name}:{k}": a for k, a in values.items()})
        arrays[f"{name}:x"] = x
        arrays[f"{name}:decay_rate"] = np.float32(decay)
        arrays[f"{name}:eps"] = np.float32(eps)
        arrays[f"{name}:y"] = np.stack(ys)
        arrays[f"{name}:mean"] = np.stack(means)
        arrays[f"{name}:var"] = np.stack(vars_)
    return arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    out = ap.parse_args().out
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = run()
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".npz")
    os.close(fd)
    np.savez(tmp, **arrays)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    print(f"wrote {out} ({len(arrays)} arrays)")


if __name__ == "__main__":
    main()
