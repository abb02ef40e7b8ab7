"""Quantization layers: binary affine/convolution (BinaryConnect*, BinaryWeight*), BinaryTanh,
BinarySigmoid, FixedPointQuantize, Pow2Quantize.

Parameters as nnabla's parametric functions: W (the float weights, trained), Wb (their
binarized copy, state), then b for BinaryConnect* and alpha (one scale per output, state) for
BinaryWeight*. NNC's BinaryWeight* layers have no bias: NNC's `create_prototxt` passes the layer's
`b` where nnabla's function takes alpha, so nnabla overwrites it with mean |W| at every forward
and adds nothing. nndsl calls that parameter alpha (it is NNC's `b` in NNC's files) and, like NNC,
needs `with_bias` on: with it off NNC's network does not run in nnabla.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .base import (
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    INTS,
    SHAPE,
    LayerSpec,
    Params,
    ParamShape,
    Shape,
    ShapeError,
    nnc_category,
    nnc_params,
    register,
    same_shape,
)
from .core import affine_shape, conv_resolver, conv_spatial, initializers, weight

_INIT = initializers("W", "Wb", "b")


def _alpha(shape: Shape) -> ParamShape:
    return ParamShape("alpha", shape, trainable=False, init="Constant", init_multiplier=0.0)


def _binary_parameters(w_shape: Shape, out_shape: Shape, p: Params, alpha: bool) -> tuple[ParamShape, ...]:
    """W, Wb, then alpha (BinaryWeight*) or the bias b (BinaryConnect* with bias)."""
    ps = [weight("W", w_shape, p), weight("Wb", w_shape, p, trainable=False)]
    if alpha:
        ps.append(_alpha(out_shape))
    elif p["bias"]:
        ps.append(weight("b", out_shape, p))
    return tuple(ps)


def binary_affine_parameters(ins: tuple[Shape, ...], p: Params, out: Shape, alpha: bool) -> tuple[ParamShape, ...]:
    return _binary_parameters((math.prod(ins[0]), *p["out_shape"]), tuple(p["out_shape"]), p, alpha)


def _needs_bias_flag(shape_rule: Callable[[tuple[Shape, ...], Params], Shape]) -> Callable[..., Shape]:
    """A BinaryWeight* shape rule: NNC's network only runs in nnabla with WithBias on."""

    def rule(ins: tuple[Shape, ...], p: Params) -> Shape:
        if not p["bias"]:
            raise ShapeError(
                "with_bias=false does not run in NNC: its BinaryWeight layers keep alpha in the parameter NNC "
                "names b and have no bias; leave with_bias out",
                param="with_bias",
            )
        return shape_rule(ins, p)

    return rule


for _type, _alpha_too, _doc in (
    ("BinaryConnectAffine", False, "Affine with sign(W) (+1/-1) as weights: o = sign(W) x + b."),
    (
        "BinaryWeightAffine",
        True,
        "Affine with binarized weights scaled per output and no bias: o = alpha * sign(W) x, alpha = mean |W| "
        "per output.",
    ),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {"OutShape": SHAPE, "WithBias": BOOL, **_INIT}),
            positional=("out_shape",),
            shape=_needs_bias_flag(affine_shape) if _alpha_too else affine_shape,
            parameters=lambda ins, p, out, _a=_alpha_too: binary_affine_parameters(ins, p, out, _a),
            doc=f"{_doc} Flattens the input like Affine. W and Wb are (prod(input), *out_shape) (Wb is "
            "state)"
            + (", alpha is out_shape (state; NNC's b, see the module docstring)" if _alpha_too else ", b is out_shape")
            + ".",
        )
    )


def binary_conv_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    c, *sizes = ins[0]
    return (p["out_maps"], *conv_spatial(tuple(sizes), p))


def binary_conv_parameters(ins: tuple[Shape, ...], p: Params, out: Shape, alpha: bool) -> tuple[ParamShape, ...]:
    return _binary_parameters((p["out_maps"], ins[0][0], *p["kernel"]), (p["out_maps"],), p, alpha)


_BCONV_TYPES = {
    "OutMaps": INT,
    "KernelShape": SHAPE,
    "WithBias": BOOL,
    "BorderMode": CHOICE,
    "Padding": INTS,
    "Strides": SHAPE,
    "Dilation": SHAPE,
    **_INIT,
}

for _type, _alpha_too, _doc in (
    ("BinaryConnectConvolution", False, "Convolution with sign(W) (+1/-1) as kernels."),
    (
        "BinaryWeightConvolution",
        True,
        "Convolution with binarized kernels scaled per output map (alpha = mean |W| per map) and no bias.",
    ),
):
    _params = nnc_params(_type, _BCONV_TYPES)
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=_params,
            positional=("out_maps", "kernel"),
            resolve=conv_resolver(_params),
            shape=_needs_bias_flag(binary_conv_shape) if _alpha_too else binary_conv_shape,
            parameters=lambda ins, p, out, _a=_alpha_too: binary_conv_parameters(ins, p, out, _a),
            spatial_macs=True,
            doc=f"{_doc} Sizes follow Convolution (no groups). W and Wb are (out_maps, C, *kernel) (Wb is state)"
            + (", alpha is (out_maps,) (state; NNC's b)" if _alpha_too else ", b is (out_maps,)")
            + ".",
        )
    )

for _type, _doc in (
    ("BinaryTanh", "-1 for x <= 0 and +1 for x > 0"),
    ("BinarySigmoid", "0 for x <= 0 and 1 for x > 0"),
):
    register(
        LayerSpec(
            type=_type,
            category=nnc_category(_type),
            inputs=("x",),
            params=nnc_params(_type, {}),
            shape=same_shape,
            doc=f"Elementwise {_doc} (straight-through gradient). Output shape = input shape.",
        )
    )

register(
    LayerSpec(
        type="FixedPointQuantize",
        category=nnc_category("FixedPointQuantize"),
        inputs=("x",),
        params=nnc_params("FixedPointQuantize", {"Sign": BOOL, "N": INT, "Delta": FLOAT, "STEFineGrained": BOOL}),
        shape=same_shape,
        doc="Linear quantization to n bits with step delta (signed when sign). Output shape = input shape.",
    )
)

register(
    LayerSpec(
        type="Pow2Quantize",
        category=nnc_category("Pow2Quantize"),
        inputs=("x",),
        params=nnc_params("Pow2Quantize", {"Sign": BOOL, "WithZero": BOOL, "N": INT, "M": INT, "STEFineGrained": BOOL}),
        shape=same_shape,
        doc="Power-of-two quantization to n bits, largest value 2^m. Output shape = input shape.",
    )
)


# The binary layers' lowerings, by type: whether each is an Affine and takes a bias (BinaryWeight*'s
# take none); both backends register one lowering with these.
BINARY_LAYERS = {
    "BinaryConnectAffine": dict(affine=True, takes_bias=True),
    "BinaryWeightAffine": dict(affine=True, takes_bias=False),
    "BinaryConnectConvolution": dict(affine=False, takes_bias=True),
    "BinaryWeightConvolution": dict(affine=False, takes_bias=False),
}
