"""Math and Trigonometric layers: reductions (Sum, Mean, Max...), cumulative ops, elementwise
functions (Exp, Log, Round, Sin...), BatchMatmul.

Reductions take per-sample `axes` (0 is C, negative counts from the end). Without
`keep_dims` the reduced axes disappear (reducing every axis gives a scalar per sample, ());
with it they stay with size 1.
"""

from __future__ import annotations

from .arithmetic import broadcast_shape
from .base import (
    BOOL,
    FLOAT,
    INT,
    INTS,
    LayerSpec,
    MergeError,
    Params,
    Shape,
    ShapeError,
    axes_index,
    axis_index,
    fmt_shape,
    need_rank,
    nnc_category,
    nnc_params,
    register,
    same_shape,
)


def reduce_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    x = ins[0]
    if not x:
        raise ShapeError("there is no axis to reduce: the input is a scalar per sample", input=0)
    axes = axes_index(p["axes"], len(x), "axes")
    if not axes:
        raise ShapeError("axes is empty: give the axes to reduce", param="axes")
    if p["keep_dims"]:
        return tuple(1 if a in axes else n for a, n in enumerate(x))
    return tuple(n for a, n in enumerate(x) if a not in axes)


_REDUCE = {
    "Sum": ({"Axes": INTS, "KeepDims": BOOL}, "Sum"),
    "Mean": ({"Axes": INTS, "KeepDims": BOOL}, "Mean"),
    "Prod": ({"Axes": INTS, "KeepDims": BOOL}, "Product"),
    "Max": ({"Axes": INTS, "KeepDims": BOOL, "OnlyIndex": BOOL}, "Maximum (or its index, with only_index)"),
    "Min": ({"Axes": INTS, "KeepDims": BOOL, "OnlyIndex": BOOL}, "Minimum (or its index, with only_index)"),
    "Norm": ({"P": FLOAT, "Axes": INTS, "KeepDims": BOOL}, "p-norm"),
}

for _type, (_types, _what) in _REDUCE.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, _types),
            shape=reduce_shape,
            doc=f"{_what} over `axes` (per-sample; default 0, the channels). The reduced axes are removed, "
            "or kept with size 1 when keep_dims.",
        )
    )


def axis_checked(ins: tuple[Shape, ...], p: Params) -> Shape:
    axis_index(p["axis"], len(ins[0]), "axis")
    return ins[0]


for _type, _what in (("CumSum", "Cumulative sum"), ("CumProd", "Cumulative product")):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {"Axis": INT, "Exclusive": BOOL, "Reverse": BOOL}),
            shape=axis_checked,
            doc=f"{_what} along `axis`. Output shape = input shape.",
        )
    )

_ELEMENTWISE = {
    "Exp": "exp(x)",
    "Log": "log(x) (natural)",
    "Round": "round(x)",
    "Ceil": "ceil(x)",
    "Floor": "floor(x)",
    "Sin": "sin(x)",
    "Cos": "cos(x)",
    "Tan": "tan(x)",
    "Sinh": "sinh(x)",
    "Cosh": "cosh(x)",
    "ASin": "arcsin(x)",
    "ACos": "arccos(x)",
    "ATan": "arctan(x)",
    "ASinh": "arsinh(x)",
    "ACosh": "arcosh(x)",
    "ATanh": "artanh(x)",
}

for _type, _expr in _ELEMENTWISE.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            doc=f"Elementwise {_expr}. Output shape = input shape.",
        )
    )

register(
    LayerSpec(
        type="Sign",
        category=nnc_category("Sign"),
        inputs=("x",),
        params=nnc_params("Sign", {"Alpha": FLOAT}),
        shape=same_shape,
        doc="Elementwise sign: -1 for negative, +1 for positive, alpha for 0 (gradient passed straight "
        "through). Output shape = input shape.",
    )
)

register(
    LayerSpec(
        type="ATan2",
        category=nnc_category("ATan2"),
        inputs=("x0", "x1"),
        params=nnc_params("ATan2", {}),
        shape=broadcast_shape,
        doc="Elementwise atan2(x0, x1); the inputs broadcast as nnabla's (equal ranks, sizes equal or 1).",
    )
)


def batch_matmul_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    a, b = ins
    need_rank(a, (2, 8), "x")
    need_rank(b, (2, 8), "R", 1)
    if len(a) != len(b) or a[:-2] != b[:-2]:
        raise MergeError(
            f"the batch axes before the matrices differ ({fmt_shape(a[:-2])} and {fmt_shape(b[:-2])})", 0, 1
        )
    if a[-1] != b[-2]:
        raise MergeError(
            f"cannot multiply {a[-2]}x{a[-1]} matrices by {b[-2]}x{b[-1]} matrices: {a[-1]} != {b[-2]}", 0, 1
        )
    return (*a[:-2], a[-2], b[-1])


register(
    LayerSpec(
        type="BatchMatmul",
        category=nnc_category("BatchMatmul"),
        inputs=("x", "R"),
        params=nnc_params("BatchMatmul", {}),
        shape=batch_matmul_shape,
        doc="Matrix product of the last two axes: x (..., L, N) times R (..., N, M) gives (..., L, M); "
        "the axes before must be equal.",
    )
)
