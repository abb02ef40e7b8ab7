"""Arithmetic layers: with a scalar (AddScalar, MulScalar...), with two inputs (Add2, Sub2...),
and with N inputs (AddN, MulN).

Two-input layers broadcast as nnabla does (`broadcast`: equal ranks, sizes equal or 1).
AddN and MulN need inputs of exactly the same shape.
"""

from __future__ import annotations

from .base import (
    FLOAT,
    LayerSpec,
    Params,
    Shape,
    broadcast,
    nnc_category,
    nnc_params,
    register,
    same_shape,
    same_shapes,
)

# `a op b` with a tensor operand, the language's arithmetic on tensors: (two tensors, tensor op number,
# number op tensor) -> the layer it lowers to (`x - 1` is AddScalar(-1), `x / 2` MulScalar(0.5)).
TENSOR_OPS = {
    "+": ("Add2", "AddScalar", "AddScalar"),
    "-": ("Sub2", "AddScalar", "RSubScalar"),
    "*": ("Mul2", "MulScalar", "MulScalar"),
    "/": ("Div2", "MulScalar", "RDivScalar"),
}

_SCALAR = {
    "AddScalar": "x + value",
    "MulScalar": "x * value",
    "RSubScalar": "value - x",
    "RDivScalar": "value / x",
    "PowScalar": "x ** value",
    "RPowScalar": "value ** x",
    "MaximumScalar": "max(x, value)",
    "MinimumScalar": "min(x, value)",
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
            preprocessing="scales",
            keeps_loss=_type == "MulScalar",
            doc=f"Elementwise {_expr}. Output shape = input shape.",
        )
    )


def broadcast_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    return broadcast(ins)


_BINARY = {
    "Add2": "x0 + x1",
    "Sub2": "x0 - x1",
    "Mul2": "x0 * x1",
    "Div2": "x0 / x1",
    "Pow2": "x0 ** x1",
    "Maximum2": "max(x0, x1)",
    "Minimum2": "min(x0, x1)",
}

for _type, _expr in _BINARY.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x0", "x1"),
            params=nnc_params(_type, {}),
            shape=broadcast_shape,
            keeps_loss=_type == "Add2",
            doc=f"Elementwise {_expr}. The inputs broadcast as nnabla's: equal ranks, and on every axis "
            "the sizes are equal or one of them is 1.",
        )
    )

for _type, _expr in (("AddN", "sum"), ("MulN", "product")):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x0", "x1"),
            params=nnc_params(_type, {}),
            shape=lambda ins, p, _t=_type: same_shapes(ins, _t),
            variadic=True,
            doc=f"Elementwise {_expr} of two or more inputs of the same shape.",
        )
    )
