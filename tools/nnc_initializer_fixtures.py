"""Regenerate tests/nnc/fixtures/initializers/nnabla_initializers.json with nnabla 1.39.

For every case of `CASES` (a weight of Convolution (1-D, 2-D, 3-D), DepthwiseConvolution,
Deconvolution or Affine in NNC's layout, as NNC's create_prototxt writes it, and one of NNC's Normal* / Uniform*
initializers with a multiplier), the distribution nnabla gives that parameter when it runs an NNC
network file: `nnabla.core.graph_def._create_initializer` (what `nnabla.utils.load` uses) called
on a network-file variable of that shape and initializer, with nnabla's NormalInitializer and
UniformInitializer replaced by recorders of their sigma and limits: "normal" and its sigma, or
"uniform" and its limit (both times the multiplier, as nnabla multiplies the draws).

It also records, for DepthwiseConvolution, what nnabla's own Python API does
(`parametric_functions.depthwise_convolution`'s default: UniformInitializer with
calc_uniform_lim_glorot(C * multiplier, C, kernel)). With multiplier 1 that is the network-file
reader's (N, M, K) = (C, C, kh*kw); with multiplier m the reader's is (C*m, C*m, kh*kw), and NNC's
projects run through the reader, so nndsl follows it.

Run with nnabla's Python:

    /work/nnabla-venv/bin/python tools/nnc_initializer_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/nnc/fixtures/initializers"

CONVOLUTION_INITS = (
    "NormalConvolutionHeForward",
    "NormalConvolutionHeBackward",
    "NormalConvolutionGlorot",
    "UniformConvolutionGlorot",
)
AFFINE_INITS = ("NormalAffineHeForward", "NormalAffineHeBackward", "NormalAffineGlorot", "UniformAffineGlorot")

# name -> (the layer in the language, its input's per-sample shape, W's NNC shape)
LAYERS = {
    "conv": ("Convolution(32, kernel=3x3, bias=false)", (16, 6, 6), (32, 16, 3, 3)),
    "dwconv": ("DepthwiseConvolution(kernel=5x5, multiplier=2, bias=false)", (32, 6, 6), (64, 5, 5)),
    "deconv": ("Deconvolution(24, kernel=3x3, bias=false)", (16, 6, 6), (16, 24, 3, 3)),
    "affine": ("Affine(48, bias=false)", (64,), (64, 48)),
    # 1-D and 3-D kernels, where nnabla's indices (shape[-3], shape[-2:]) read other axes than 2-D's
    "conv1d": ("Convolution(32, kernel=3, bias=false)", (16, 12), (32, 16, 3)),
    "conv3d": ("Convolution(16, kernel=3x3x3, bias=false)", (8, 6, 6, 6), (16, 8, 3, 3, 3)),
    # a 1x1 kernel (K = 1), whose Keras kernel (1, 1, in, out) the runtime once read as K = in * out
    "conv1x1": ("Convolution(64, kernel=1x1, bias=false)", (32, 6, 6), (64, 32, 1, 1)),
}


def cases() -> list[dict]:
    out = []
    for layer, (_, _, shape) in LAYERS.items():
        family = AFFINE_INITS if layer == "affine" else CONVOLUTION_INITS
        for init in ("Normal", "Uniform", *family):
            for multiplier in (1.0, 0.5) if init in ("Normal", family[0], family[-1]) else (1.0,):
                out.append({"layer": layer, "shape": list(shape), "init": init, "multiplier": multiplier})
    return out


def nnabla_distribution(shape: list[int], init: str, multiplier: float) -> tuple[str, float]:
    """("normal", sigma) or ("uniform", limit) nnabla's network-file reader gives the parameter."""
    import nnabla.initializer as I
    import numpy as np
    from nnabla.core import graph_def
    from nnabla.utils import nnabla_pb2

    seen: list[tuple[str, float]] = []

    class Normal:
        def __init__(self, sigma=1.0, rng=None):
            seen.append(("normal", float(sigma)))

        def __call__(self, shape):
            return np.ones(shape)

    class Uniform:
        def __init__(self, lim=(-1, 1), rng=None):
            assert -lim[0] == lim[1], lim
            seen.append(("uniform", float(lim[1])))

        def __call__(self, shape):
            return np.ones(shape)

    real = I.NormalInitializer, I.UniformInitializer
    I.NormalInitializer, I.UniformInitializer = Normal, Uniform
    try:
        v = nnabla_pb2.Variable()
        v.name, v.type = "W", "Parameter"
        v.shape.dim.extend(shape)
        v.initializer.type, v.initializer.multiplier = init, multiplier
        value = graph_def._create_initializer(v, np.random.RandomState(0))(tuple(shape))
    finally:
        I.NormalInitializer, I.UniformInitializer = real
    ((kind, scale),) = seen
    return kind, abs(scale * float(np.asarray(value).flat[0]))


def parametric_depthwise(shape: list[int]) -> float:
    """The limit of PF.depthwise_convolution's default initializer for NNC's W shape (C*m, kh, kw)."""
    import nnabla as nn
    import nnabla.parametric_functions as PF

    nn.clear_parameters()
    maps, *kernel = shape
    x = nn.Variable((1, maps // 2, 8, 8))
    PF.depthwise_convolution(x, tuple(kernel), multiplier=2, with_bias=False, name="dw")
    (w,) = nn.get_parameters().values()
    assert list(w.shape) == shape, w.shape
    return float(abs(w.d).max())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in cases():
        kind, scale = nnabla_distribution(case["shape"], case["init"], case["multiplier"])
        rows.append({**case, "kind": kind, "scale": round(scale, 9)})
    from nnabla.initializer import calc_uniform_lim_glorot

    shape = list(LAYERS["dwconv"][2])
    pf = {
        "shape": shape,
        "max_abs": round(parametric_depthwise(shape), 9),
        # PF.depthwise_convolution's limit: calc_uniform_lim_glorot(C * multiplier, C, kernel)
        "limit": round(float(calc_uniform_lim_glorot(shape[0], shape[0] // 2, tuple(shape[1:]))[1]), 9),
    }
    layers = {name: {"layer": text, "input": list(x)} for name, (text, x, _) in LAYERS.items()}
    data = {"layers": layers, "cases": rows, "parametric_depthwise": pf}
    (out / "nnabla_initializers.json").write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
