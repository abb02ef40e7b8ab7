"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Sigmoid, Tanh, Swish, Softmax...

All keep the input's shape except CReLU and CELU, which concatenate the positive and the
negated part along `axis` (doubling it). PReLU learns one slope per element of `base_axis`.
"""

from __future__ import annotations

from .base import (
    CHOICE,
    FLOAT,
    INT,
    LayerSpec,
    Params,
    ParamShape,
    Shape,
    ShapeError,
    axis_index,
    nnc_category,
    nnc_params,
    register,
    same_shape,
)

# Elementwise activations without properties (NNC's InPlace is not part of the language).
_PLAIN = {
    "ReLU": "max(0, x).",
    "ReLU6": "min(max(0, x), 6).",
    "Sigmoid": "1 / (1 + exp(-x)).",
    "Tanh": "tanh(x).",
    "HardSigmoid": "max(0, min(1, 0.2x + 0.5)).",
    "HardTanh": "max(-1, min(1, x)).",
    "TanhShrink": "x - tanh(x).",
    "LogSigmoid": "log(sigmoid(x)).",
    "Abs": "|x|.",
    "Swish": "x * sigmoid(x).",
    "GELU": "Gaussian error linear unit (nnabla's tanh approximation).",
    "Mish": "x * tanh(softplus(x)).",
    "SoftPlus": "log(1 + exp(x)).",
    "SoftSign": "x / (1 + |x|).",
    "Sinc": "sin(x) / x (1 at 0).",
}

for _type, _doc in _PLAIN.items():
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            doc=f"Elementwise {_doc} Output shape = input shape.",
        )
    )

register(
    LayerSpec(
        type="LeakyReLU",
        category=nnc_category("LeakyReLU"),
        inputs=("x",),
        params=nnc_params("LeakyReLU", {"Alpha": FLOAT}),
        positional=("alpha",),
        shape=same_shape,
        doc="Elementwise max(0, x) + alpha * min(0, x). Output shape = input shape.",
    )
)

register(
    LayerSpec(
        type="ELU",
        category=nnc_category("ELU"),
        inputs=("x",),
        params=nnc_params("ELU", {"Alpha": FLOAT}),
        positional=("alpha",),
        shape=same_shape,
        doc="Elementwise max(0, x) + alpha * (exp(min(0, x)) - 1). Output shape = input shape.",
    )
)

register(
    LayerSpec(
        type="SELU",
        category=nnc_category("SELU"),
        inputs=("x",),
        params=nnc_params("SELU", {"Scale": FLOAT, "Alpha": FLOAT}),
        shape=same_shape,
        doc="Elementwise scale * (max(0, x) + alpha * (exp(min(0, x)) - 1)). Output shape = input shape.",
    )
)


def _axis_checked(ins: tuple[Shape, ...], p: Params) -> Shape:
    axis_index(p["axis"], len(ins[0]), "axis")
    return ins[0]


def _doubled(ins: tuple[Shape, ...], p: Params) -> Shape:
    a = axis_index(p["axis"], len(ins[0]), "axis")
    x = ins[0]
    return (*x[:a], 2 * x[a], *x[a + 1 :])


register(
    LayerSpec(
        type="CReLU",
        category=nnc_category("CReLU"),
        inputs=("x",),
        params=nnc_params("CReLU", {"Axis": INT}),
        shape=_doubled,
        doc="Concatenated ReLU: ReLU(x) and ReLU(-x) joined on `axis`, which doubles in size.",
    )
)

register(
    LayerSpec(
        type="CELU",
        category=nnc_category("CELU"),
        inputs=("x",),
        params=nnc_params("CELU", {"Alpha": FLOAT, "Axis": INT}),
        shape=_doubled,
        doc="Concatenated ELU: ELU(x) and ELU(-x) joined on `axis`, which doubles in size.",
    )
)

for _type, _doc in (
    ("Softmax", "exp(x) / sum(exp(x)) along `axis`"),
    ("LogSoftmax", "log(softmax(x)) along `axis`"),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {"Axis": INT}),
            positional=("axis",),
            shape=_axis_checked,
            doc=f"{_doc} (a per-sample axis: 0 is C; negative counts from the end). Output shape = input shape.",
        )
    )


def _prelu_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    if not ins[0]:
        raise ShapeError("PReLU needs an input with at least one axis for its slopes", input=0)
    axis_index(p["base_axis"], len(ins[0]), "base_axis")
    return ins[0]


def _prelu_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    a = axis_index(p["base_axis"], len(ins[0]), "base_axis")
    return (
        ParamShape(
            "slope",
            (ins[0][a],),
            init=p["slope_init"],
            init_multiplier=p["slope_init_multiplier"],
            lrate_multiplier=p["slope_lrate_multiplier"],
        ),
    )


register(
    LayerSpec(
        type="PReLU",
        category=nnc_category("PReLU"),
        inputs=("x",),
        params=nnc_params(
            "PReLU",
            {
                "BaseAxis": INT,
                "slope.Initializer": CHOICE,
                "slope.InitializerMultiplier": FLOAT,
                "slope.LRateMultiplier": FLOAT,
            },
        ),
        shape=_prelu_shape,
        parameters=_prelu_parameters,
        doc="Parametric ReLU: max(0, x) + slope * min(0, x) with a learned slope per element of "
        "`base_axis` (default 0, the channels): slope is (size of base_axis,), initialised to 0.25.",
    )
)
