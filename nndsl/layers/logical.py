"""Logical layers: comparisons and boolean operations. Outputs are 0 or 1, not differentiable.

Two-input forms broadcast as nnabla does; scalar forms compare with `value`.
"""

from __future__ import annotations

from .arithmetic import broadcast_shape
from .base import FLOAT, LayerSpec, nnc_category, nnc_params, register, same_shape

_BINARY = {
    "LogicalAnd": "x0 and x1",
    "LogicalOr": "x0 or x1",
    "LogicalXor": "x0 xor x1",
    "Equal": "x0 == x1",
    "NotEqual": "x0 != x1",
    "GreaterEqual": "x0 >= x1",
    "Greater": "x0 > x1",
    "LessEqual": "x0 <= x1",
    "Less": "x0 < x1",
}

for _type, _expr in _BINARY.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x0", "x1"),
            params=nnc_params(_type, {}),
            shape=broadcast_shape,
            doc=f"Elementwise {_expr} as 0/1. The inputs broadcast as nnabla's (equal ranks, sizes equal or 1).",
        )
    )

_SCALAR = {
    "LogicalAndScalar": "x and value",
    "LogicalOrScalar": "x or value",
    "LogicalXorScalar": "x xor value",
    "EqualScalar": "x == value",
    "NotEqualScalar": "x != value",
    "GreaterEqualScalar": "x >= value",
    "GreaterScalar": "x > value",
    "LessEqualScalar": "x <= value",
    "LessScalar": "x < value",
}

for _type, _expr in _SCALAR.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {"Value": FLOAT}),
            positional=("value",),
            shape=same_shape,
            doc=f"Elementwise {_expr} as 0/1. Output shape = input shape.",
        )
    )

for _type, _expr in (("LogicalNot", "not x"), ("IsNaN", "x is NaN"), ("IsInf", "x is infinite")):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            doc=f"Elementwise {_expr} as 0/1. Output shape = input shape.",
        )
    )
