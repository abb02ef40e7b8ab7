"""Math, trigonometric and logical layers on inputs that reach their edges, and nnabla's own function for each.

Shared by tests/test_math_layer_edge_values.py and tools/nnc_math_layer_fixtures.py (which runs
nnabla's functions on these inputs and stores what they computed, outputs and
gradients, in tests/nnc/fixtures/math_layers/math_layers.npz). The layer zoo's inputs are in [0, 1), where
ACosh is NaN everywhere, Sign is 1, IsNaN and IsInf are 0 and ResetNaN and ResetInf are the
identity: here the same layers (and variants of their parameters) see negative numbers, zeros,
values past +-1, infinities and NaN, on a sample shape whose axes all differ (3x4x5), so that
an axis taken for another shows.
"""

from __future__ import annotations

import math

import numpy as np

SHAPE = (3, 4, 5)
BATCH = 2

# Values every "edge" input starts with; the rest are spread over [-3, 3].
SPECIAL = (-math.inf, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, math.inf, math.nan)

# name: (the layer call in a spec, with x0 and x1 its inputs; nnabla's expression with F and
# x0, x1 (batch first); the kind of inputs, "edge" with infinities and NaN or "finite").
CASES: dict[str, tuple[str, str, str]] = {
    "Sin": ("Sin(x0)", "F.sin(x0)", "edge"),
    "Cos": ("Cos(x0)", "F.cos(x0)", "edge"),
    "Tan": ("Tan(x0)", "F.tan(x0)", "edge"),
    "Sinh": ("Sinh(x0)", "F.sinh(x0)", "edge"),
    "Cosh": ("Cosh(x0)", "F.cosh(x0)", "edge"),
    "ASin": ("ASin(x0)", "F.asin(x0)", "edge"),
    "ACos": ("ACos(x0)", "F.acos(x0)", "edge"),
    "ATan": ("ATan(x0)", "F.atan(x0)", "edge"),
    "ASinh": ("ASinh(x0)", "F.asinh(x0)", "edge"),
    "ACosh": ("ACosh(x0)", "F.acosh(x0)", "edge"),
    "ATanh": ("ATanh(x0)", "F.atanh(x0)", "edge"),
    "ATan2": ("ATan2(x0, x1)", "F.atan2(x0, x1)", "edge"),
    "Sinc": ("Sinc(x0)", "F.sinc(x0)", "edge"),
    "Sign": ("Sign(x0)", "F.sign(x0, 0.0)", "edge"),
    "Sign_alpha": ("Sign(x0, alpha=0.5)", "F.sign(x0, 0.5)", "edge"),
    "TanhShrink": ("TanhShrink(x0)", "F.tanh_shrink(x0)", "edge"),
    "HardSigmoid": ("HardSigmoid(x0)", "F.hard_sigmoid(x0)", "edge"),
    "SoftPlus": ("SoftPlus(x0)", "F.softplus(x0, 1.0)", "finite"),  # NNC's SoftPlus is nnabla's beta 1
    "CReLU": ("CReLU(x0)", "F.crelu(x0, 1)", "finite"),
    "CReLU_axis2": ("CReLU(x0, axis=2)", "F.crelu(x0, 3)", "finite"),
    "CELU": ("CELU(x0)", "F.celu(x0, 1.0, 1)", "finite"),
    "CELU_alpha_axis1": ("CELU(x0, alpha=0.5, axis=1)", "F.celu(x0, 0.5, 2)", "finite"),
    "AddN": ("AddN(x0, x1)", "F.add_n(x0, x1)", "finite"),
    "AddN3": ("AddN(x0, x1, x0)", "F.add_n(x0, x1, x0)", "finite"),
    "MulN": ("MulN(x0, x1)", "F.mul_n(x0, x1)", "finite"),
    "MulN3": ("MulN(x0, x1, x1)", "F.mul_n(x0, x1, x1)", "finite"),
    "IsNaN": ("IsNaN(x0)", "F.isnan(x0)", "edge"),
    "IsInf": ("IsInf(x0)", "F.isinf(x0)", "edge"),
    "ResetNaN": ("ResetNaN(x0)", "F.reset_nan(x0, 0)", "edge"),
    "ResetInf": ("ResetInf(x0)", "F.reset_inf(x0, 0)", "edge"),
    "LogicalAndScalar0": ("LogicalAndScalar(x0, 0)", "F.logical_and_scalar(x0, False)", "edge"),
    "LogicalAndScalar1": ("LogicalAndScalar(x0, 1)", "F.logical_and_scalar(x0, True)", "edge"),
    "LogicalOrScalar0": ("LogicalOrScalar(x0, 0)", "F.logical_or_scalar(x0, False)", "edge"),
    "LogicalOrScalar1": ("LogicalOrScalar(x0, 1)", "F.logical_or_scalar(x0, True)", "edge"),
    "LogicalXorScalar0": ("LogicalXorScalar(x0, 0)", "F.logical_xor_scalar(x0, False)", "edge"),
    "LogicalXorScalar1": ("LogicalXorScalar(x0, 1)", "F.logical_xor_scalar(x0, True)", "edge"),
    "Norm": ("Norm(x0)", "F.norm(x0, 2.0, (1,), False)", "finite"),
    "Norm_p1_axes12_keep": ("Norm(x0, p=1, axes=1x2, keep_dims=true)", "F.norm(x0, 1.0, (2, 3), True)", "finite"),
    "Norm_p3_last": ("Norm(x0, p=3, axes=-1)", "F.norm(x0, 3.0, (3,), False)", "finite"),
    "CumSum": ("CumSum(x0)", "F.cumsum(x0, 1, False, False)", "finite"),
    "CumSum_axis2_exclusive": ("CumSum(x0, axis=2, exclusive=true)", "F.cumsum(x0, 3, True, False)", "finite"),
    "CumSum_axis1_reverse": ("CumSum(x0, axis=1, reverse=true)", "F.cumsum(x0, 2, False, True)", "finite"),
    "CumSum_both": ("CumSum(x0, exclusive=true, reverse=true)", "F.cumsum(x0, 1, True, True)", "finite"),
    "CumProd": ("CumProd(x0)", "F.cumprod(x0, 1, False, False)", "finite"),
    "CumProd_axis2_exclusive": ("CumProd(x0, axis=2, exclusive=true)", "F.cumprod(x0, 3, True, False)", "finite"),
    "CumProd_axis1_both": (
        "CumProd(x0, axis=1, exclusive=true, reverse=true)",
        "F.cumprod(x0, 2, True, True)",
        "finite",
    ),
}


# The cases whose gradient is checked (on the "finite" inputs, with `dy` as the output's gradient):
# all but the logical layers and IsNaN/IsInf, whose outputs are constants to the gradient.
GRADIENT_CASES = [name for name in CASES if not name.startswith(("Logical", "Is"))]


def dy(shape: tuple[int, ...]) -> np.ndarray:
    """The output gradient fed to a case's backward pass: numbers spread over [-1, 1]."""
    return np.linspace(-1.0, 1.0, math.prod(shape), dtype=np.float32).reshape(shape)


def _values(n: int, seed: int) -> np.ndarray:
    """`n` numbers in [0, 1) from a fixed formula (as nntxt_export_cases: the same on every machine)."""
    i = np.arange(n, dtype=np.float64)
    return np.modf(np.abs(np.sin(i * 12.9898 + seed * 78.233 + 0.5) * 43758.5453))[0]


def inputs(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The two inputs (batch first, float32) of a case's kind: "edge" starts with SPECIAL (the second
    input in another order), "finite" has exact zeros and +-1 among numbers in [-3, 3]."""
    n = BATCH * math.prod(SHAPE)
    out = []
    for seed in (1, 2):
        u = np.round(6 * _values(n, seed) - 3, 3)
        if kind == "edge":
            special = np.array(SPECIAL if seed == 1 else SPECIAL[::-1])
            u[: len(special)] = special
        else:
            u[:6] = (0.0, 1.0, -1.0, 0.0, 2.0, -0.5) if seed == 1 else (1.0, 0.0, 0.0, -1.0, 0.5, 3.0)
        out.append(u.reshape(BATCH, *SHAPE).astype(np.float32))
    return out[0], out[1]


def spec() -> str:
    """One network per case: inputs x0 and x1 (where the case uses it) of SHAPE, output y."""
    shape = "x".join(map(str, SHAPE))
    parts = ["# Math layers on edge values (generated by tests/nnc/math_layer_cases.py spec).\n"]
    for name, (call, _, _) in CASES.items():
        lines = [f"network {name.replace('_', '')}Net {{", f'    x0 = Input({shape}, dataset="x0")']
        if "x1" in call:
            lines.append(f'    x1 = Input({shape}, dataset="x1")')
        lines += [f"    y = {call}", "}"]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def network(name: str) -> str:
    return f"{name.replace('_', '')}Net"
