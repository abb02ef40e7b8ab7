"""IO, Basic and Normalization layers: Input, Convolution, Affine, BatchNormalization...

These show the pattern every layer module follows: a parameter schema taken from NNC's
table (`nnc_params`), a pure shape rule, the parameter shapes, and registration.

Convolution-like layers share `conv_resolver` (fills ``*ConvolutionPaddingSize`` and
normalises per-axis parameters) and `conv_spatial` (nnabla's output-size rule); the
binary convolutions in `quantize` reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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
    Param,
    Params,
    ParamShape,
    Shape,
    ShapeError,
    axes_index,
    check_at_least,
    fmt_shape,
    need_rank,
    nnc_category,
    nnc_params,
    register,
    spatial_param,
)

# --- IO ------------------------------------------------------------------------------------


def input_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    shape = tuple(p["shape"])
    if not shape:
        raise ShapeError("an Input needs a shape, like 3x32x32", param="shape")
    check_at_least(shape, 1, "shape", "every size of the shape")
    return shape


register(
    LayerSpec(
        type="Input",
        category=nnc_category("Input"),
        inputs=(),
        params=nnc_params("Input", {"Size": SHAPE, "Dataset": STR}, names={"Size": "shape"}, Size=None, Dataset=""),
        positional=("shape",),
        shape=input_shape,
        kind="input",
        doc="A network input, bound to a dataset column by `dataset`. `shape` is per sample (C,H,W).",
    )
)

# --- Basic -----------------------------------------------------------------------------------


def initializers(*names: str) -> dict[str, str]:
    """NNC's `<p>.Initializer` / `<p>.InitializerMultiplier` / `<p>.LRateMultiplier` properties for
    parameters `names`."""
    out = {}
    for n in names:
        out[f"{n}.Initializer"] = CHOICE
        out[f"{n}.InitializerMultiplier"] = FLOAT
        out[f"{n}.LRateMultiplier"] = FLOAT
    return out


_INIT = initializers("W", "b")


def conv_out(size: int, k: int, s: int, pad: int, d: int) -> int:
    """Output length of a convolution along one axis (floor division, as nnabla)."""
    return (size + 2 * pad - d * (k - 1) - 1) // s + 1


def deconv_out(size: int, k: int, s: int, pad: int, d: int) -> int:
    """Output length of a deconvolution (transposed convolution) along one axis, as nnabla."""
    return s * (size - 1) + d * (k - 1) + 1 - 2 * pad


def border_padding(mode: str, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """NNC's *ConvolutionPaddingSize: the padding BorderMode implies."""
    if mode == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    if mode == "full":
        return tuple(d * (k - 1) for k, d in zip(kernel, dilation, strict=True))
    return tuple(0 for _ in kernel)


def conv_resolver(params: tuple[Param, ...]) -> Callable[[tuple[Shape, ...], dict[str, Any], bool], None]:
    """The resolve step of convolution-like layers.

    The input is (C, L), (C, H, W) or (C, D, H, W); kernel, stride, dilation and pad get
    one value per spatial axis (a single value applies to all, and NNC's uniform 2-D
    defaults adapt to 1-D/3-D inputs). A DERIVED pad is the padding `border_mode` implies
    (valid when the layer has no border mode, as Deconvolution).
    """
    defaults = {q.name: q.default for q in params}

    def resolve(ins: tuple[Shape, ...], p: dict[str, Any], training: bool) -> None:
        need_rank(ins[0], (2, 4))
        nd = len(ins[0]) - 1
        for name in ("kernel", "stride", "dilation"):
            p[name] = spatial_param(p[name], nd, name, defaults[name])
            check_at_least(p[name], 1, name)
        if p["pad"] is DERIVED:
            p["pad"] = border_padding(p.get("border_mode", "valid"), p["kernel"], p["dilation"])
        else:
            default = defaults["pad"] if defaults["pad"] is not DERIVED else None
            p["pad"] = spatial_param(p["pad"], nd, "pad", default)
            check_at_least(p["pad"], 0, "pad")
        for name in ("group", "multiplier", "divisor", "out_maps"):
            if name in p:
                check_at_least(p[name], 1, name)

    return resolve


def conv_spatial(sizes: tuple[int, ...], p: Params) -> tuple[int, ...]:
    """Output spatial sizes of a convolution; a kernel that does not fit is an error."""
    out = []
    for axis, (n, k, s, pad, d) in enumerate(
        zip(sizes, p["kernel"], p["stride"], p["pad"], p["dilation"], strict=True)
    ):
        o = conv_out(n, k, s, pad, d)
        if o < 1:
            span = d * (k - 1) + 1
            kernel = f"kernel {k}" if d == 1 else f"kernel {k} with dilation {d} spans {span} and"
            raise ShapeError(
                f"{kernel} is larger than the padded input ({n} + 2x{pad}) on spatial axis {axis}", param="kernel"
            )
        out.append(o)
    return tuple(out)


def deconv_spatial(sizes: tuple[int, ...], p: Params) -> tuple[int, ...]:
    """Output spatial sizes of a deconvolution; padding that eats the whole output is an error."""
    out = []
    for axis, (n, k, s, pad, d) in enumerate(
        zip(sizes, p["kernel"], p["stride"], p["pad"], p["dilation"], strict=True)
    ):
        o = deconv_out(n, k, s, pad, d)
        if o < 1:
            raise ShapeError(
                f"pad {pad} removes the whole output on spatial axis {axis}: "
                f"{s}x({n} - 1) + {d * (k - 1) + 1} - 2x{pad} = {o}",
                param="pad",
            )
        out.append(o)
    return tuple(out)


def check_group(c: int, p: Params) -> None:
    if c % p["group"]:
        raise ShapeError(f"{c} input channels are not divisible by group={p['group']}", param="group")
    if p["out_maps"] % p["group"]:
        raise ShapeError(f"out_maps={p['out_maps']} is not divisible by group={p['group']}", param="out_maps")


def conv_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    c, *sizes = ins[0]
    check_group(c, p)
    return (p["out_maps"], *conv_spatial(tuple(sizes), p))


def weight(name: str, shape: Shape, p: Params, key: str | None = None, trainable: bool = True) -> ParamShape:
    """A ParamShape whose initializer comes from the layer's `<key>_init` parameters."""
    key = key or name.lower()
    return ParamShape(
        name,
        shape,
        trainable=trainable,
        init=p[f"{key}_init"],
        init_multiplier=p[f"{key}_init_multiplier"],
        lrate_multiplier=p[f"{key}_lrate_multiplier"] if trainable else 1.0,
    )


def conv_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    w = weight("W", (p["out_maps"], ins[0][0] // p["group"], *p["kernel"]), p)
    if not p["bias"]:
        return (w,)
    return (w, weight("b", (p["out_maps"],), p))


_CONV_TYPES = {
    "OutMaps": INT,
    "KernelShape": SHAPE,
    "BorderMode": CHOICE,
    "Padding": INTS,
    "Strides": SHAPE,
    "Dilation": SHAPE,
    "Group": INT,
    "WithBias": BOOL,
    **_INIT,
}
_conv_params = nnc_params("Convolution", _CONV_TYPES)

register(
    LayerSpec(
        type="Convolution",
        category=nnc_category("Convolution"),
        inputs=("x",),
        params=_conv_params,
        positional=("out_maps", "kernel"),
        resolve=conv_resolver(_conv_params),
        shape=conv_shape,
        parameters=conv_parameters,
        spatial_macs=True,
        doc="N-D convolution (channels first, 1 to 3 spatial axes). `pad` defaults to the padding "
        "`border_mode` implies (same: dilation*(kernel-1)//2, full: dilation*(kernel-1), valid: 0); "
        "each output size is (size + 2*pad - dilation*(kernel-1) - 1) // stride + 1. "
        "W is (out_maps, C/group, *kernel), b is (out_maps,).",
    )
)


def _depthwise_kernel(p: Params, what: str) -> None:
    if len(p["kernel"]) > 2:  # nnabla's depthwise_(de)convolution.cpp: `kernel_dims <= 2`
        raise ShapeError(
            f"a {len(p['kernel'])}-D kernel: nnabla's {what} takes 1-D or 2-D kernels only", param="kernel"
        )


def depthwise_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    _depthwise_kernel(p, "depthwise convolution")
    c, *sizes = ins[0]
    return (c * p["multiplier"], *conv_spatial(tuple(sizes), p))


def depthwise_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    maps = ins[0][0] * p["multiplier"]
    w = weight("W", (maps, *p["kernel"]), p)
    if not p["bias"]:
        return (w,)
    return (w, weight("b", (maps,), p))


_dw_params = nnc_params(
    "DepthwiseConvolution",
    {
        "KernelShape": SHAPE,
        "BorderMode": CHOICE,
        "Padding": INTS,
        "Strides": SHAPE,
        "Dilation": SHAPE,
        "Multiplier": INT,
        "WithBias": BOOL,
        **_INIT,
    },
)

register(
    LayerSpec(
        type="DepthwiseConvolution",
        category=nnc_category("DepthwiseConvolution"),
        inputs=("x",),
        params=_dw_params,
        positional=("kernel",),
        resolve=conv_resolver(_dw_params),
        shape=depthwise_shape,
        parameters=depthwise_parameters,
        spatial_macs=True,
        doc="Depthwise convolution: each input map is convolved with `multiplier` kernels of its own, "
        "giving C*multiplier output maps (a Convolution with group=C). Sizes follow Convolution. "
        "W is (C*multiplier, *kernel), b is (C*multiplier,), as nnabla. A 1-D or 2-D kernel, as nnabla's.",
    )
)


def deconv_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    c, *sizes = ins[0]
    check_group(c, p)
    return (p["out_maps"], *deconv_spatial(tuple(sizes), p))


def deconv_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    w = weight("W", (ins[0][0], p["out_maps"] // p["group"], *p["kernel"]), p)
    if not p["bias"]:
        return (w,)
    return (w, weight("b", (p["out_maps"],), p))


_deconv_params = nnc_params(
    "Deconvolution",
    {
        "OutMaps": INT,
        "KernelShape": SHAPE,
        "Padding": INTS,
        "Strides": SHAPE,
        "Dilation": SHAPE,
        "Group": INT,
        "WithBias": BOOL,
        **_INIT,
    },
)

register(
    LayerSpec(
        type="Deconvolution",
        category=nnc_category("Deconvolution"),
        inputs=("x",),
        params=_deconv_params,
        positional=("out_maps", "kernel"),
        resolve=conv_resolver(_deconv_params),
        shape=deconv_shape,
        parameters=deconv_parameters,
        spatial_macs=True,
        doc="N-D deconvolution (transposed convolution), as nnabla: each output size is "
        "stride*(size - 1) + dilation*(kernel - 1) + 1 - 2*pad (no output padding). "
        "W is (C, out_maps/group, *kernel), b is (out_maps,).",
    )
)


def dw_deconv_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    _depthwise_kernel(p, "depthwise deconvolution")
    c, *sizes = ins[0]
    if c % p["divisor"]:
        raise ShapeError(f"{c} input channels are not divisible by divisor={p['divisor']}", param="divisor")
    return (c // p["divisor"], *deconv_spatial(tuple(sizes), p))


def dw_deconv_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    w = weight("W", (ins[0][0], *p["kernel"]), p)
    if not p["bias"]:
        return (w,)
    return (w, weight("b", (out[0],), p))


_dwd_params = nnc_params(
    "DepthwiseDeconvolution",
    {
        "KernelShape": SHAPE,
        "Padding": INTS,
        "Strides": SHAPE,
        "Dilation": SHAPE,
        "Divisor": INT,
        "WithBias": BOOL,
        **_INIT,
    },
)

register(
    LayerSpec(
        type="DepthwiseDeconvolution",
        category=nnc_category("DepthwiseDeconvolution"),
        inputs=("x",),
        params=_dwd_params,
        positional=("kernel",),
        resolve=conv_resolver(_dwd_params),
        shape=dw_deconv_shape,
        parameters=dw_deconv_parameters,
        spatial_macs=True,
        doc="Depthwise deconvolution: C input maps give C/divisor output maps; sizes follow "
        "Deconvolution. W is (C, *kernel), b is (C/divisor,), as nnabla. A 1-D or 2-D kernel, as nnabla's.",
    )
)


def affine_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    check_at_least(p["out_shape"], 1, "out_shape", "every size of out_shape")
    return tuple(p["out_shape"])


def affine_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    # NNC's layout: W is (inputs, outputs) with the input flattened in C,H,W order.
    w = weight("W", (math.prod(ins[0]), *p["out_shape"]), p)
    if not p["bias"]:
        return (w,)
    return (w, weight("b", tuple(p["out_shape"]), p))


register(
    LayerSpec(
        type="Affine",
        category=nnc_category("Affine"),
        inputs=("x",),
        params=nnc_params("Affine", {"OutShape": SHAPE, "WithBias": BOOL, **_INIT}),
        positional=("out_shape",),
        shape=affine_shape,
        parameters=affine_parameters,
        doc="Fully connected layer; flattens everything after the batch axis (C,H,W order). "
        "W is (prod(input), *out_shape), b is out_shape.",
    )
)


def embed_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    check_at_least(p["num_class"], 1, "num_class")
    check_at_least(p["shape"], 1, "shape", "every size of shape")
    return (*ins[0], *p["shape"])


register(
    LayerSpec(
        type="Embed",
        category=nnc_category("Embed"),
        inputs=("x",),
        params=nnc_params("Embed", {"NumClass": INT, "Shape": SHAPE, **initializers("W")}),
        positional=("num_class", "shape"),
        shape=embed_shape,
        parameters=lambda ins, p, out: (weight("W", (p["num_class"], *p["shape"]), p),),
        doc="Looks up a learned vector of `shape` for each integer index in 0..num_class-1; the output is "
        "the input shape followed by `shape`. W is (num_class, *shape).",
    )
)

# --- Normalization -------------------------------------------------------------------------


def bn_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    shape = tuple(ins[0][a] if a in p["axes"] else 1 for a in range(len(ins[0])))
    return (
        weight("beta", shape, p),
        weight("gamma", shape, p),
        weight("mean", shape, p, trainable=False),
        weight("var", shape, p, trainable=False),
    )


def bn_frozen(p: Params) -> bool:
    """Whether a BatchNormalization is frozen: neither its beta nor its gamma is trained (both
    learning-rate multipliers 0, as nnabla reads them)."""
    return p["beta_lrate_multiplier"] <= 0 and p["gamma_lrate_multiplier"] <= 0


def resolve_bn(ins: tuple[Shape, ...], p: dict, training: bool) -> None:
    p["axes"] = axes_index(p["axes"], len(ins[0]), "axes")
    if p["batch_stat"] is DERIVED:
        # Batch statistics where the network trains, as NNC, unless the layer is frozen: then it keeps
        # normalizing with its running statistics, which stay as they are (Keras's `trainable=False`).
        p["batch_stat"] = training and not bn_frozen(p)


def bn_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    if not 0.0 <= p["decay_rate"] <= 1.0:
        raise ShapeError(f"decay_rate must be between 0 and 1, got {p['decay_rate']}", param="decay_rate")
    if not ins[0]:
        raise ShapeError(f"BatchNormalization needs at least one axis, got {fmt_shape(ins[0])}", input=0)
    if len(p["axes"]) > 1:  # nnabla's batch_normalization.cpp, which NNC's network files run: `axes_.size() == 1`
        raise ShapeError(f"axes {fmt_shape(p['axes'])}: nnabla's BatchNormalization takes one axis only", param="axes")
    return ins[0]


register(
    LayerSpec(
        type="BatchNormalization",
        category=nnc_category("BatchNormalization"),
        batch_axis_parameters=True,
        inputs=("x",),
        params=nnc_params(
            "BatchNormalization",
            {
                "Axes": INTS,
                "DecayRate": FLOAT,
                "Epsilon": FLOAT,
                "BatchStat": BOOL,
                **initializers("beta", "gamma", "mean", "var"),
            },
            BatchStat=DERIVED,
        ),
        resolve=resolve_bn,
        shape=bn_shape,
        parameters=bn_parameters,
        doc="Batch normalization over `axes` (default the channel axis; one axis, as nnabla's function). "
        "`batch_stat` defaults to true in training networks and false elsewhere, as NNC does, and to false "
        "in every network where the layer is frozen (`beta_lrate_multiplier=0, gamma_lrate_multiplier=0`, or "
        "a frozen unit instance): it then normalizes with its running statistics and keeps them. "
        "beta, gamma, mean and var have the input's sizes on `axes` and 1 elsewhere (mean and var are state).",
    )
)


# LayerNormalization, InstanceNormalization and GroupNormalization: nnabla's functions of the same
# names. NNC's BatchAxis counts per-sample axes and -1 is the batch axis itself (nnabla's
# batch_axis=0); its ChannelAxis is a per-sample axis (nnabla's channel_axis is one more).


def _check_batch_axis(p: Params) -> None:
    if p["batch_axis"] != -1:
        raise ShapeError(
            f"batch_axis {p['batch_axis']} is not supported: only -1 (the batch axis, NNC's default); "
            "with another axis nnabla takes the statistics across the samples of a batch",
            param="batch_axis",
        )


def _check_eps(p: Params) -> None:
    if p["epsilon"] < 0:
        raise ShapeError(f"epsilon must be at least 0, got {p['epsilon']}", param="epsilon")


def layer_norm_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    _check_batch_axis(p)
    _check_eps(p)
    if not ins[0]:
        raise ShapeError(f"LayerNormalization needs at least one axis, got {fmt_shape(ins[0])}", input=0)
    return ins[0]


def layer_norm_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    # nnabla's PF.layer_normalization: the input's shape with the batch axes 1 (per sample: all of it).
    return (weight("beta", ins[0], p), weight("gamma", ins[0], p))


def resolve_channel_axis(ins: tuple[Shape, ...], p: dict, training: bool) -> None:
    if not ins[0]:
        raise ShapeError(f"the input needs at least one axis, got {fmt_shape(ins[0])}", input=0)
    p["channel_axis"] = axes_index((p["channel_axis"],), len(ins[0]), "channel_axis")[0]


def channel_norm_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    _check_batch_axis(p)
    _check_eps(p)
    if "num_groups" in p:
        check_at_least(p["num_groups"], 1, "num_groups")
        c = ins[0][p["channel_axis"]]
        if c % p["num_groups"]:
            raise ShapeError(f"{c} channels are not divisible by num_groups={p['num_groups']}", param="num_groups")
    return ins[0]


def channel_norm_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    # nnabla's PF.instance_normalization / group_normalization: the channel axis' size, 1 elsewhere.
    a = p["channel_axis"]
    shape = tuple(d if i == a else 1 for i, d in enumerate(ins[0]))
    return (weight("beta", shape, p), weight("gamma", shape, p))


register(
    LayerSpec(
        type="LayerNormalization",
        category=nnc_category("LayerNormalization"),
        batch_axis_parameters=True,
        inputs=("x",),
        params=nnc_params("LayerNormalization", {"BatchAxis": INT, "Epsilon": FLOAT, **initializers("beta", "gamma")}),
        shape=layer_norm_shape,
        parameters=layer_norm_parameters,
        doc="Layer normalization (nnabla's): each sample is normalised by the mean and variance of all "
        "its values, (x - mean) / sqrt(var + epsilon) * gamma + beta. beta and gamma have the input's shape. "
        "`batch_axis` is -1, the batch axis (NNC's default; other axes are not supported).",
    )
)

register(
    LayerSpec(
        type="InstanceNormalization",
        category=nnc_category("InstanceNormalization"),
        batch_axis_parameters=True,
        inputs=("x",),
        params=nnc_params(
            "InstanceNormalization",
            {"ChannelAxis": INT, "BatchAxis": INT, "Epsilon": FLOAT, **initializers("beta", "gamma")},
        ),
        resolve=resolve_channel_axis,
        shape=channel_norm_shape,
        parameters=channel_norm_parameters,
        doc="Instance normalization (nnabla's): each channel of each sample is normalised by the mean and "
        "variance over its other axes, (x - mean) / sqrt(var + epsilon) * gamma + beta. beta and gamma have "
        "the input's size on `channel_axis` and 1 elsewhere. `batch_axis` is -1, the batch axis.",
    )
)

register(
    LayerSpec(
        type="GroupNormalization",
        category=nnc_category("GroupNormalization"),
        batch_axis_parameters=True,
        inputs=("x",),
        params=nnc_params(
            "GroupNormalization",
            {
                "ChannelAxis": INT,
                "BatchAxis": INT,
                "NumGroups": INT,
                "Epsilon": FLOAT,
                **initializers("beta", "gamma"),
            },
        ),
        positional=("num_groups",),
        resolve=resolve_channel_axis,
        shape=channel_norm_shape,
        parameters=channel_norm_parameters,
        doc="Group normalization (nnabla's): the channels of each sample are split into `num_groups` "
        "groups of consecutive channels, each normalised by the mean and variance over its channels and "
        "the other axes, (x - mean) / sqrt(var + epsilon) * gamma + beta. beta and gamma have the input's "
        "size on `channel_axis` and 1 elsewhere. `batch_axis` is -1, the batch axis.",
    )
)
