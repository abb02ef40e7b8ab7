"""IO, Basic and Normalization layers: Input, Convolution, Affine, BatchNormalization...

These show the pattern every layer module follows: a parameter schema taken from NNC's
table (`nnc_params`), a pure shape rule, the parameter shapes, and registration.
"""

from __future__ import annotations

import math

from .base import (
    BOOL,
    CHOICE,
    DERIVED,
    FLOAT,
    INT,
    INTS,
    SHAPE,
    STR,
    LayerSpec,
    Params,
    ParamShape,
    Shape,
    ShapeError,
    axis_index,
    need_rank,
    nnc_params,
    register,
    spatial,
)

# --- IO ------------------------------------------------------------------------------------

register(
    LayerSpec(
        type="Input",
        category="IO",
        inputs=(),
        params=nnc_params("Input", {"Size": SHAPE, "Dataset": STR}, names={"Size": "shape"}, Size=None, Dataset=""),
        positional=("shape",),
        shape=lambda ins, p: tuple(p["shape"]),
        kind="input",
        doc="A network input, bound to a dataset column by `dataset`.",
    )
)

# --- Basic -----------------------------------------------------------------------------------

_INIT = {"W.Initializer": CHOICE, "W.InitializerMultiplier": FLOAT, "b.Initializer": CHOICE, "b.InitializerMultiplier": FLOAT}


def conv_out(size: int, k: int, s: int, pad: int, d: int) -> int:
    """Output length of a convolution along one axis (floor division, as nnabla)."""
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


def border_padding(mode: str, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """NNC's *ConvolutionPaddingSize: the padding BorderMode implies."""
    if mode == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    if mode == "full":
        return tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    return tuple(0 for _ in kernel)


def resolve_conv(ins: tuple[Shape, ...], p: dict, training: bool) -> None:
    need_rank(ins[0], (2, 4))
    nd = len(ins[0]) - 1
    p["kernel"] = spatial(p["kernel"], nd, "kernel")
    p["stride"] = spatial(p["stride"], nd, "stride")
    p["dilation"] = spatial(p["dilation"], nd, "dilation")
    if p["pad"] is DERIVED:
        p["pad"] = border_padding(p["border_mode"], p["kernel"], p["dilation"])
    else:
        p["pad"] = spatial(p["pad"], nd, "pad")


def conv_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    c, *sizes = ins[0]
    if c % p["group"]:
        raise ShapeError(f"{c} input channels are not divisible by group={p['group']}", param="group")
    if p["out_maps"] % p["group"]:
        raise ShapeError(f"out_maps={p['out_maps']} is not divisible by group={p['group']}", param="out_maps")
    out = []
    for axis, (n, k, s, pad, d) in enumerate(zip(sizes, p["kernel"], p["stride"], p["pad"], p["dilation"])):
        o = conv_out(n, k, s, pad, d)
        if o < 1:
            raise ShapeError(
                f"kernel {d * (k - 1) + 1} (dilated) is larger than the padded input ({n} + 2x{pad}) on spatial axis {axis}",
                param="kernel",
            )
        out.append(o)
    return (p["out_maps"], *out)


def conv_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    w = ParamShape("W", (p["out_maps"], ins[0][0] // p["group"], *p["kernel"]), init=p["w_init"], init_multiplier=p["w_init_multiplier"])
    if not p["bias"]:
        return (w,)
    return (w, ParamShape("b", (p["out_maps"],), init=p["b_init"], init_multiplier=p["b_init_multiplier"]))


register(
    LayerSpec(
        type="Convolution",
        category="Basic",
        inputs=("x",),
        params=nnc_params(
            "Convolution",
            {
                "OutMaps": INT,
                "KernelShape": SHAPE,
                "BorderMode": CHOICE,
                "Padding": SHAPE,
                "Strides": SHAPE,
                "Dilation": SHAPE,
                "Group": INT,
                "WithBias": BOOL,
                **_INIT,
            },
        ),
        positional=("out_maps",),
        resolve=resolve_conv,
        shape=conv_shape,
        parameters=conv_parameters,
        spatial_macs=True,
        doc="N-D convolution (channels first). `pad` defaults to the padding `border_mode` implies.",
    )
)


def affine_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    return tuple(p["out_shape"])


def affine_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    # NNC's layout: W is (inputs, outputs) with the input flattened in C,H,W order.
    w = ParamShape("W", (math.prod(ins[0]), *p["out_shape"]), init=p["w_init"], init_multiplier=p["w_init_multiplier"])
    if not p["bias"]:
        return (w,)
    return (w, ParamShape("b", tuple(p["out_shape"]), init=p["b_init"], init_multiplier=p["b_init_multiplier"]))


register(
    LayerSpec(
        type="Affine",
        category="Basic",
        inputs=("x",),
        params=nnc_params("Affine", {"OutShape": SHAPE, "WithBias": BOOL, **_INIT}),
        positional=("out_shape",),
        shape=affine_shape,
        parameters=affine_parameters,
        doc="Fully connected layer; flattens everything after the batch axis (C,H,W order).",
    )
)

# --- Normalization -------------------------------------------------------------------------


def bn_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    shape = tuple(ins[0][a] if a in p["axes"] else 1 for a in range(len(ins[0])))
    return (
        ParamShape("beta", shape, init=p["beta_init"], init_multiplier=p["beta_init_multiplier"]),
        ParamShape("gamma", shape, init=p["gamma_init"], init_multiplier=p["gamma_init_multiplier"]),
        ParamShape("mean", shape, trainable=False, init=p["mean_init"], init_multiplier=p["mean_init_multiplier"]),
        ParamShape("var", shape, trainable=False, init=p["var_init"], init_multiplier=p["var_init_multiplier"]),
    )


def resolve_bn(ins: tuple[Shape, ...], p: dict, training: bool) -> None:
    p["axes"] = tuple(axis_index(a, len(ins[0]), "axes") for a in p["axes"])
    if p["batch_stat"] is DERIVED:
        p["batch_stat"] = training


register(
    LayerSpec(
        type="BatchNormalization",
        category="Normalization",
        inputs=("x",),
        params=nnc_params(
            "BatchNormalization",
            {
                "Axes": INTS,
                "DecayRate": FLOAT,
                "Epsilon": FLOAT,
                "BatchStat": BOOL,
                **{f"{n}.{k}": t for n in ("beta", "gamma", "mean", "var") for k, t in (("Initializer", CHOICE), ("InitializerMultiplier", FLOAT))},
            },
            BatchStat=DERIVED,
        ),
        resolve=resolve_bn,
        shape=lambda ins, p: ins[0],
        parameters=bn_parameters,
        doc="Batch normalization over `axes` (default the channel axis). "
        "`batch_stat` defaults to true in training networks and false elsewhere, as NNC does.",
    )
)
