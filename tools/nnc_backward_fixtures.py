"""Regenerate tests/nnc/fixtures/backward/: nnabla's forward and backward of the layers whose gradient is not
the derivative of their output (straight-through quantizers, Prune, TopKData, TopKGrad, ClipGradByNorm,
MeanSubtraction).

For every case of CASES (a layer type, NNC's parameters in the spec's per-sample convention, an input shape
and the range of its values), nnabla 1.39 computes y = f(x) and dx for the output gradient dy; inputs and
output gradients come from a fixed formula (no random generator), distinct values so that sorting has no
ties. Writes `backward_layers.npz` (`<case>:x`, `<case>:dy`, `<case>:y`, `<case>:dx`, MeanSubtraction's
initial `<case>:mean`) and
`backward_layers.json` (the cases). tests/nnc/test_nnabla_backward_layers.py compares both runtimes with
them. It needs nnabla only (not nndsl). Run from the repository root:

    /work/nnabla-venv/bin/python tools/nnc_backward_fixtures.py [--out tests/nnc/fixtures/backward]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "nnc" / "fixtures" / "backward"

# (case, layer type, NNC parameters (per-sample axes), per-sample input shape, input values in [-range, range))
CASES = [
    ("fpq_default", "FixedPointQuantize", {}, (3, 4, 4), 10.0),
    ("fpq_unsigned", "FixedPointQuantize", {"sign": False, "n": 4, "delta": 0.25}, (3, 4, 4), 5.0),
    ("fpq_ste", "FixedPointQuantize", {"ste_fine_grained": False}, (3, 4, 4), 10.0),
    ("pow2_default", "Pow2Quantize", {}, (3, 4, 4), 4.0),
    ("pow2_unsigned", "Pow2Quantize", {"sign": False, "n": 4, "m": 0}, (3, 4, 4), 2.0),
    ("pow2_no_zero", "Pow2Quantize", {"with_zero": False, "n": 3, "m": 1}, (3, 4, 4), 4.0),
    ("pow2_unsigned_no_zero", "Pow2Quantize", {"sign": False, "with_zero": False, "n": 3}, (3, 4, 4), 4.0),
    ("pow2_ste", "Pow2Quantize", {"ste_fine_grained": False}, (3, 4, 4), 4.0),
    ("prune_default", "Prune", {"rate": 0.9}, (3, 4, 4), 3.0),
    ("prune_half", "Prune", {"rate": 0.5}, (2, 5), 3.0),
    ("clip_channels", "ClipGradByNorm", {"clip_norm": 1.0, "axes": (0,)}, (3, 4, 4), 3.0),
    ("clip_spatial", "ClipGradByNorm", {"clip_norm": 2.5, "axes": (1, 2)}, (3, 4, 4), 3.0),
    ("topk_data_reduce", "TopKData", {"k": 3, "abs": False, "reduce": True, "base_axis": 0}, (3, 4, 4), 3.0),
    ("topk_data_abs", "TopKData", {"k": 2, "abs": True, "reduce": True, "base_axis": 1}, (3, 4, 4), 3.0),
    ("topk_data_keep", "TopKData", {"k": 4, "abs": True, "reduce": False, "base_axis": 0}, (3, 4, 4), 3.0),
    ("topk_grad", "TopKGrad", {"k": 3, "abs": False, "base_axis": 0}, (3, 4, 4), 3.0),
    ("topk_grad_abs", "TopKGrad", {"k": 2, "abs": True, "base_axis": 1}, (3, 4, 4), 3.0),
    # MeanSubtraction's state (mean, of the shape from base_axis on, and the count t) is given as `t` and
    # `<case>:mean`; nnabla's backward is an approximation with update_running_mean.
    ("mean_subtraction", "MeanSubtraction", {"base_axis": 0, "update_running_mean": True, "t": 1.0}, (3, 4), 3.0),
    ("mean_subtraction_axis", "MeanSubtraction", {"base_axis": 1, "update_running_mean": True, "t": 2.6}, (3, 4), 3.0),
    (
        "mean_subtraction_fixed",
        "MeanSubtraction",
        {"base_axis": 0, "update_running_mean": False, "t": 5.0},
        (3, 4),
        3.0,
    ),
]
BATCH = 2


def values(shape, seed: int, scale: float) -> np.ndarray:
    """Distinct values in [-scale, scale) from a fixed formula (the same on every machine)."""
    i = np.arange(math.prod(shape), dtype=np.float64)
    u = np.modf(np.abs(np.sin(i * 12.9898 + seed * 78.233 + 0.5) * 43758.5453))[0]
    return ((u * 2 - 1) * scale).reshape(shape).astype(np.float32)


def _nnabla_function(layer: str, p: dict):
    """The nnabla function NNC's layer runs, with NNC's per-sample axes shifted by the batch axis."""
    import nnabla.functions as F

    q = {"sign": True, "with_zero": True, "n": 8, "m": 1, "delta": 0.0625, "ste_fine_grained": True, **p}
    if layer == "FixedPointQuantize":
        return lambda x: F.fixed_point_quantize(
            x, q["sign"], q["n"], q["delta"], ste_fine_grained=q["ste_fine_grained"]
        )
    if layer == "Pow2Quantize":
        return lambda x: F.pow2_quantize(
            x, q["sign"], q["with_zero"], q["n"], q["m"], ste_fine_grained=q["ste_fine_grained"]
        )
    if layer == "Prune":
        return lambda x: F.prune(x, p["rate"])
    if layer == "ClipGradByNorm":
        return lambda x: F.clip_grad_by_norm(x, p["clip_norm"], axes=[a + 1 for a in p["axes"]])
    if layer == "TopKData":
        # NNC's files carry no `largest`, which nnabla's loader reads as false (the k smallest).
        return lambda x: F.top_k_data(x, p["k"], p["abs"], p["reduce"], p["base_axis"] + 1, largest=False)
    if layer == "TopKGrad":
        return lambda x: F.top_k_grad(x, p["k"], p["abs"], p["base_axis"] + 1)
    if layer == "MeanSubtraction":
        return lambda x, mean, t: F.mean_subtraction(x, mean, t, p["base_axis"] + 1, p["update_running_mean"])
    raise ValueError(layer)


def compute() -> dict[str, np.ndarray]:
    import nnabla as nn

    arrays = {}
    for k, (case, layer, params, shape, scale) in enumerate(CASES):
        x = values((BATCH, *shape), 2 * k, scale)
        v = nn.Variable.from_numpy_array(x, need_grad=True)
        if layer == "MeanSubtraction":
            mean = values(shape[params["base_axis"] :], 100 + k, 1.0)
            arrays[f"{case}:mean"] = mean
            state = (nn.Variable.from_numpy_array(mean), nn.Variable.from_numpy_array(np.float32([params["t"]])))
            y = _nnabla_function(layer, params)(v, *state)
        else:
            y = _nnabla_function(layer, params)(v)
        y.forward()
        dy = values(y.shape, 2 * k + 1, 1.0)
        v.grad.zero()
        y.backward(dy)
        arrays.update({f"{case}:x": x, f"{case}:dy": dy, f"{case}:y": y.d.copy(), f"{case}:dx": v.g.copy()})
    return arrays


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    arrays = compute()
    cases = [{"case": c, "layer": t, "params": p, "shape": list(s)} for c, t, p, s, _ in CASES]
    _atomic(args.out / "backward_layers.npz", lambda tmp: np.savez(tmp, **arrays))
    text = json.dumps(cases, indent=1) + "\n"
    _atomic(args.out / "backward_layers.json", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    print(f"wrote {len(CASES)} cases to {args.out}")


if __name__ == "__main__":
    main()
