"""One Keras emitter per layer type: the layer a spec layer owns (if any) and its call.

An emitter gets the IR layer (resolved parameters) and the per-sample input shapes in the
spec's layout and returns an `Emit` (see `nndsl.backends.builder`) of `expr` trees. Generated
Keras models compute channels-last: a value of per-sample rank r >= 2 with NNC shape (s0, s1, ...,
s{r-1}) is held as (batch, s1, ..., s{r-1}, s0); rank-1 values as they are. Emitters map
the spec's axes accordingly (`_axis`), and where NNC's meaning depends on the order of the
elements (Reshape, Transpose, Affine with a shaped output) they convert explicitly. Affine
after spatial layers flattens channels-last and its weight rows are permuted on save/load
(layout "affine_cl:CxHxW") so that the parameters stay NNC's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ...ir import Layer
from ...runtime.nnc_layouts import layout as nnc_layout
from .. import shared
from ..builder import Emit, Emitters, Unsupported
from ..expr import BATCH, HOLE, MODULE, Expr, Lit, Module, Opt, Seq, Size, Slice, Wrapped, cmp, inp, name

Shape = tuple[int, ...]
EMITTERS = Emitters("keras")
emitter = EMITTERS.emitter

OPS = Module("ops", "from keras import ops")
LAYERS = Module("layers", "from keras import layers")
INITIALIZERS = Module("initializers", "from keras import initializers")
NNC = Module("nnc", "from nndsl_runtime.keras import nnc")  # what every model uses
AUGMENT = Module("augment", "from nndsl_runtime.keras import augment")
METRICS = Module("metrics", "from nndsl_runtime.keras import metrics")
NNC_LAYERS = Module("nnc_layers", "from nndsl_runtime.keras import nnc_layers")
FRAMEWORK_POOLING = Module("framework_pooling", "from nndsl_runtime.keras import framework_pooling")
X, Y = inp(0), inp(1)


def _op(fn: str) -> Expr:
    return OPS.dot(fn)


def _layer(cls: str) -> Expr:
    return LAYERS.dot(cls)


# --- layouts -----------------------------------------------------------------------------------


def channels_last(shape: Shape) -> Shape:
    """The per-sample shape a Keras model holds for NNC's `shape`."""
    return tuple(shape[1:]) + tuple(shape[:1]) if len(shape) >= 2 else tuple(shape)


def _axis(axis: int, rank: int) -> int:
    """The Keras tensor axis (batch first) of NNC's per-sample `axis` in a value of `rank`."""
    axis %= max(rank, 1)
    if rank >= 2:
        return rank if axis == 0 else axis
    return axis + 1


def _moves_data(shape: Shape) -> bool:
    """Whether channels-first and channels-last orders differ in memory for `shape`."""
    return len(shape) >= 2 and shape[0] != 1 and math.prod(shape[1:]) != 1


def _to_spec_order(x: Expr, shape: Shape) -> Expr:
    """Code turning a channels-last value of NNC shape `shape` into NNC's order (batch first)."""
    if not _moves_data(shape):
        return x
    r = len(shape)
    return _op("transpose")(x, Lit((0, r, *range(1, r))))


def _flat(x: Expr, shape: Shape) -> Expr:
    """Code for the value flattened in NNC's (C, H, W) order."""
    if len(shape) == 1:
        return x
    return _op("reshape")(_to_spec_order(x, shape), Lit((-1, math.prod(shape))))


def _from_flat(x: Expr, shape: Shape) -> Expr:
    """Code for a flat value in NNC's order as a channels-last value of NNC shape `shape`."""
    if len(shape) == 1:
        return x
    if not _moves_data(shape):
        return _op("reshape")(x, Lit((-1, *channels_last(shape))))
    r = len(shape)
    return _op("transpose")(_op("reshape")(x, Lit((-1, *shape))), Lit((0, *range(2, r + 1), 1)))


def _tuple(v) -> Lit:
    return Lit(tuple(v))


def _options(**options) -> dict[str, Opt]:
    """Keyword arguments left out where at Keras's defaults (given as (value, default))."""
    return {k: Opt(v, default) for k, (v, default) in options.items()}


def _float(x: Expr) -> Expr:
    """A boolean tensor as 0/1 in the dtype of the layer's computation."""
    return _op("cast")(x, "float32")


def _inputs(ins) -> Seq:
    return Seq(tuple(inp(i) for i in range(len(ins))), list=True)


# --- layers with parameters -----------------------------------------------------------------------


def _spatial(ins: Shape, p, what: str) -> int:
    nd = len(ins) - 1
    if nd not in (1, 2, 3) or len(p["kernel"]) != nd:
        raise Unsupported(f"{what} over {len(p['kernel'])} of {nd} spatial axes")
    return nd


def _padded(x: Expr, pad, nd: int) -> Expr:
    """`x` padded with NNC's symmetric `pad` by an explicit `ZeroPadding*D`, the padding
    every Keras lowering here uses (as keras.applications writes it) with "valid": one form
    for every stride and pad, never "same" where it happens to agree, so that instances of a
    unit that differ only in stride or pad (a downsampling block and the others) have the
    same code and merge into one class."""
    return Wrapped(_layer(f"ZeroPadding{nd}D")(Size(pad))(HOLE), x, any(pad))


def _strided_dilated(p) -> tuple[dict, Callable[[Expr], Expr]]:
    """Keras refuses strides together with dilation: such a convolution runs with stride 1 and
    its output is subsampled (the same windows); returns the parameters to use and the subsampling."""
    p = {**p, "dilation": tuple(1 if k == 1 else d for d, k in zip(p["dilation"], p["kernel"], strict=True))}
    if any(s > 1 for s in p["stride"]) and any(d > 1 for d in p["dilation"]):
        steps = tuple(Slice(step=Lit(s)) if s > 1 else Slice() for s in p["stride"])
        return {**p, "stride": (1,) * len(p["stride"])}, lambda call: call[(Slice(), *steps)]
    return p, lambda call: call


def _connected(layer: Layer) -> dict[str, Expr]:
    """The inputs of the Parameter layers given to the layer's connectors, by NNC name."""
    first = len(layer.inputs) - len(layer.connectors)
    return {c: inp(first + k) for k, c in enumerate(layer.connectors)}


def _kernel(layer: Layer, ins: tuple[Shape, ...], name: str, keras_shape: Shape) -> Expr:
    """The W a Parameter layer gives (NNC's layout) as the Keras kernel of `keras_shape`: the reshape
    and transpose of the parameter files' own conversion for layout `name` (`nnc_layouts`), in the graph."""
    k = len(layer.inputs) - len(layer.connectors) + layer.connectors.index("W")
    shape, axes = nnc_layout(name, "keras").from_nnc_steps(keras_shape)
    w: Expr = inp(k) if tuple(ins[k]) == shape else _op("reshape")(inp(k), _tuple(shape))
    if axes != tuple(range(len(axes))):
        w = _op("transpose")(w, _tuple(axes))
        shape = tuple(shape[a] for a in axes)
    return w if shape == tuple(keras_shape) else _op("reshape")(w, _tuple(keras_shape))


def _affine_layout(x: Shape) -> str:
    """An Affine W's layout for an input of per-sample shape `x`: flattened channels-last, its rows are in
    another order than NNC's (C, H, W) where the data moves (`affine_cl:CxHxW`)."""
    return "affine_cl:" + "x".join(map(str, x)) if _moves_data(x) else "affine"


def _own_bias(layer: Layer, con: dict[str, Expr]) -> tuple[Expr | None, Expr | None]:
    """A layer whose W a Parameter gives: the layer holding its own b (if any), and b's expression."""
    if "b" in con:
        return None, con["b"]
    if not layer.params["bias"]:
        return None, None
    (b,) = [q for q in layer.parameters if q.name == "b"]
    return NNC.dot("Parameter")(_tuple(b.shape)), MODULE(X)


# The nnc.Parameter holding a layer's own b (`_own_bias`) takes b's initializer as `initializer`.
_HELD_BIAS = (("b", "initializer"),)


@emitter("Parameter")
def parameter(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    module = NNC.dot("Parameter")(_tuple(layer.params["size"]))
    return Emit(MODULE(BATCH), module, (("", "value", "same"),), init_args=(("", "initializer"),), nnc_value=True)


def _connected_convolution(layer: Layer, ins: tuple[Shape, ...], con: dict[str, Expr]) -> Emit:
    """A Convolution given its W or b by a Parameter layer: NNC's W (out, in, *kernel) turned to Keras's
    (*kernel, in, out) in the call, b added channels-last."""
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, layer.type)
    x = _padded(X, p["pad"], nd)
    if "W" in con:
        module, bias = _own_bias(layer, con)
        params = (("b", "value", "same"),) if module else ()
        out_maps, in_maps = ins[len(layer.inputs) - len(layer.connectors) + layer.connectors.index("W")][:2]
        kernel = _kernel(layer, ins, "conv", (*p["kernel"], in_maps, out_maps))
        options = _options(strides=(Size(p["stride"]), 1), dilation_rate=(Size(p["dilation"]), 1))
        if p["group"] == 1:
            conv = _op("conv")(x, kernel, **options)
        else:  # ops.conv refuses a grouped kernel on a symbolic input
            conv = NNC_LAYERS.dot("grouped_conv")(x, kernel, p["group"], **options)
        call = subsample(conv)
    else:
        options = _options(
            strides=(Size(p["stride"]), 1), dilation_rate=(Size(p["dilation"]), 1), groups=(p["group"], 1)
        )
        module = _layer(f"Conv{nd}D")(p["out_maps"], Size(p["kernel"]), **options, use_bias=False)
        params, bias = (("W", "kernel", "conv"),), con["b"]
        call = subsample(MODULE(x))
    return Emit(call if bias is None else _op("add")(call, bias), module, params, init_args=_HELD_BIAS)


def _connected_affine(layer: Layer, ins: tuple[Shape, ...], out: Shape, con: dict[str, Expr]) -> Emit:
    """An Affine given its W or b by a Parameter layer. The input is flattened channels-last, so NNC's W
    rows (C, H, W order) are permuted to that order in the call; b is added in NNC's (flat) order."""
    x, n_in, n_out = ins[0], math.prod(ins[0]), math.prod(out)
    flat = _layer("Flatten")()(X) if len(x) > 1 else X
    if "W" in con:
        module, bias = _own_bias(layer, con)
        params = (("b", "value", "same"),) if module else ()
        call = _op("matmul")(flat, _kernel(layer, ins, _affine_layout(x), (n_in, n_out)))
    else:
        module, bias = _layer("Dense")(n_out, use_bias=False), con["b"]
        params = (("W", "kernel", _affine_layout(x)),)
        call = MODULE(flat)
    if bias is not None:
        call = _op("add")(call, _op("reshape")(bias, Lit((-1,))) if len(out) > 1 else bias)
    return Emit(_from_flat(call, out), module, params, init_args=_HELD_BIAS)


@emitter("Convolution")
def convolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    con = _connected(layer)
    if con:
        return _connected_convolution(layer, ins, con)
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, layer.type)
    module = _layer(f"Conv{nd}D")(
        p["out_maps"], Size(p["kernel"]),
        **_options(strides=(Size(p["stride"]), 1), dilation_rate=(Size(p["dilation"]), 1), groups=(p["group"], 1),
                   use_bias=(p["bias"], True)),
    )  # fmt: skip
    params = (("W", "kernel", "conv"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(subsample(MODULE(_padded(X, p["pad"], nd))), module, params)


@emitter("DepthwiseConvolution")
def depthwise(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, layer.type)
    module = _layer(f"DepthwiseConv{nd}D")(
        Size(p["kernel"]),
        **_options(strides=(Size(p["stride"]), 1), depth_multiplier=(p["multiplier"], 1),
                   dilation_rate=(Size(p["dilation"]), 1), use_bias=(p["bias"], True)),
    )  # fmt: skip
    params = (("W", "kernel", "depthwise"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    call = subsample(MODULE(_padded(X, p["pad"], nd)))
    return Emit(call, module, params, init_args=(("W", "depthwise_initializer"),))


@emitter("Deconvolution")
def deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = _spatial(ins[0], p, layer.type)
    if p["group"] != 1 or (any(d != 1 for d in p["dilation"]) and any(s != 1 for s in p["stride"])):
        return _runtime_deconvolution(layer, ins)
    module = _layer(f"Conv{nd}DTranspose")(
        p["out_maps"], Size(p["kernel"]),
        **_options(strides=(Size(p["stride"]), 1), dilation_rate=(Size(p["dilation"]), 1),
                   use_bias=(p["bias"], True)),
    )  # fmt: skip
    # NNC's pad removes rows and columns from the full transposed output.
    call = Wrapped(_layer(f"Cropping{nd}D")(Size(p["pad"]))(HOLE), MODULE(X), any(p["pad"]))
    params = (("W", "kernel", "conv"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(call, module, params)


def _runtime_deconvolution(layer: Layer, ins: tuple[Shape, ...]) -> Emit:
    """nnc_layers.Deconvolution, W in NNC's layout: a grouped Deconvolution, or one with stride and dilation."""
    p = layer.params
    nd = len(p["kernel"])
    ones, zeros = _tuple((1,) * nd), _tuple((0,) * nd)
    module = NNC_LAYERS.dot("Deconvolution")(
        ins[0][0], p["out_maps"], _tuple(p["kernel"]),
        **_options(stride=(_tuple(p["stride"]), ones), pad=(_tuple(p["pad"]), zeros),
                   dilation=(_tuple(p["dilation"]), ones), group=(p["group"], 1), bias=(p["bias"], True)),
    )  # fmt: skip
    params = (("W", "kernel", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


@emitter("Affine")
def affine(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    con = _connected(layer)
    if con:
        return _connected_affine(layer, ins, out, con)
    p = layer.params
    x = ins[0]
    module = _layer("Dense")(math.prod(out), use_bias=Opt(p["bias"], True))
    call = MODULE(_layer("Flatten")()(X)) if len(x) > 1 else MODULE(X)
    params = (("W", "kernel", _affine_layout(x)),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(_from_flat(call, out), module, params)


@emitter("BatchNormalization")
def batch_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    (axis,) = p["axes"]  # nnabla's takes one (the compiler checks)
    # NNC's decay rate is the share of the running statistics kept: Keras's momentum.
    axis = {"axis": _axis(axis, len(ins[0]))} if axis != 0 else {}
    module = NNC.dot("BatchNormalization")(momentum=p["decay_rate"], epsilon=p["epsilon"], **axis)
    params = (
        ("beta", "beta", "same"),
        ("gamma", "gamma", "same"),
        ("mean", "moving_mean", "same"),
        ("var", "moving_variance", "same"),
    )
    return Emit(MODULE(X), module, params)


# Keras's normalization layers hold beta and gamma under NNC's names.
_NORM_PARAMS = (("beta", "beta", "same"), ("gamma", "gamma", "same"))


def _channel_norm(layer: Layer, ins: tuple[Shape, ...]) -> dict[str, int]:
    """`axis=...` for NNC's channel axis where it is not the first (Keras's default, the last)."""
    a = layer.params["channel_axis"]
    return {} if a == 0 else {"axis": _axis(a, len(ins[0]))}


@emitter("LayerNormalization")
def layer_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """layers.LayerNormalization over every axis of a sample: nnabla's with batch_axis 0. Its beta and
    gamma have the sample's channels-last shape, NNC's the channels-first one."""
    rank = len(ins[0])
    axes = {"axis": Lit(tuple(range(1, rank + 1)))} if rank > 1 else {}
    module = LAYERS.dot("LayerNormalization")(**axes, epsilon=layer.params["epsilon"])
    layout = "channels_last" if rank > 1 else "same"
    return Emit(MODULE(X), module, (("beta", "beta", layout), ("gamma", "gamma", layout)))


@emitter("InstanceNormalization", "GroupNormalization")
def group_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """layers.GroupNormalization over the (last, channels-last) channel axis; InstanceNormalization is
    its case of a group per channel (Keras has no InstanceNormalization layer)."""
    axis = _channel_norm(layer, ins)
    p = layer.params
    groups = p.get("num_groups", ins[0][p["channel_axis"]])
    module = LAYERS.dot("GroupNormalization")(groups, **axis, epsilon=p["epsilon"])
    return Emit(MODULE(X), module, _NORM_PARAMS)


@emitter("PReLU")
def prelu(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    rank = len(ins[0])
    own = _axis(layer.params["base_axis"], rank)  # the axis of the slopes; the others share them
    shared_axes = {"shared_axes": Lit(tuple(a for a in range(1, rank + 1) if a != own))} if rank >= 2 else {}
    module = LAYERS.dot("PReLU")(**shared_axes)  # NNC's initial slope: an alpha_initializer from the IR
    return Emit(MODULE(X), module, (("slope", "alpha", "same"),))


@emitter(**shared.BINARY_LAYERS)
def binary(layer: Layer, ins: tuple[Shape, ...], out: Shape, *, affine: bool, takes_bias: bool) -> Emit:
    """nnc_layers' binary layers keep NNC's layouts and names (W, Wb, alpha, b) and initialize themselves;
    BinaryWeight*'s take no bias (see nndsl/layers/quantize.py)."""
    p = layer.params
    inits = shared.binary_initializers(layer, takes_bias)
    cls = NNC_LAYERS.dot(layer.type)
    if affine:
        # The layer takes the input flattened in NNC's order and returns (batch, *out_shape).
        x = ins[0]
        call = MODULE(_flat(X, x))
        if len(out) > 1:
            call = _from_flat(_op("reshape")(call, Lit((-1, math.prod(out)))), out)
        module = cls(math.prod(x), _tuple(p["out_shape"]), **inits)
    else:
        _spatial(ins[0], p, layer.type)
        call = MODULE(X)
        module = cls(
            ins[0][0], p["out_maps"], _tuple(p["kernel"]), stride=_tuple(p["stride"]), pad=_tuple(p["pad"]),
            dilation=_tuple(p["dilation"]), **inits,
        )  # fmt: skip
    names = [q.name for q in layer.parameters]
    return Emit(call, module, tuple((n, n, "same") for n in names), initialized=True)


# --- stateless layers ------------------------------------------------------------------------------


def expression(layer, ins, out, *, call: Expr) -> Emit:
    """A layer whose code is one expression of its inputs, the same for every configuration."""
    return Emit(call)


def _nonzero(x: Expr) -> Expr:
    return _op("not_equal")(x, 0)


_TINY = NNC.dot("TINY")  # nnabla's clamp of a probability before its log

emitter(
    Identity=dict(call=X),
    Unlink=dict(call=_op("stop_gradient")(X)),
    ReLU=dict(call=_op("relu")(X)),
    Sigmoid=dict(call=_op("sigmoid")(X)),
    Tanh=dict(call=_op("tanh")(X)),
    Swish=dict(call=_op("silu")(X)),
    GELU=dict(call=_op("gelu")(X, approximate=True)),
    SELU=dict(call=_op("selu")(X)),
    ReLU6=dict(call=_op("relu6")(X)),
    SoftPlus=dict(call=_op("softplus")(X)),
    SoftSign=dict(call=_op("softsign")(X)),
    Mish=dict(call=X * _op("tanh")(_op("softplus")(X))),
    HardTanh=dict(call=_op("clip")(X, -1.0, 1.0)),
    LogSigmoid=dict(call=_op("log_sigmoid")(X)),
    Abs=dict(call=_op("abs")(X)),
    Exp=dict(call=_op("exp")(X)),
    Log=dict(call=_op("log")(X)),
    Round=dict(call=_op("sign")(X) * _op("floor")(_op("abs")(X) + 0.5)),  # nnabla rounds half away from zero
    Ceil=dict(call=_op("ceil")(X)),
    Floor=dict(call=_op("floor")(X)),
    Add2=dict(call=X + Y),
    Sub2=dict(call=X - Y),
    Mul2=dict(call=X * Y),
    Div2=dict(call=X / Y),
    Pow2=dict(call=_op("power")(X, Y)),
    Maximum2=dict(call=_op("maximum")(X, Y)),
    Minimum2=dict(call=_op("minimum")(X, Y)),
    Equal=dict(call=_float(_op("equal")(X, Y))),
    NotEqual=dict(call=_float(_op("not_equal")(X, Y))),
    Greater=dict(call=_float(_op("greater")(X, Y))),
    GreaterEqual=dict(call=_float(_op("greater_equal")(X, Y))),
    Less=dict(call=_float(_op("less")(X, Y))),
    LessEqual=dict(call=_float(_op("less_equal")(X, Y))),
    LogicalAnd=dict(call=_float(_op("logical_and")(_nonzero(X), _nonzero(Y)))),
    LogicalOr=dict(call=_float(_op("logical_or")(_nonzero(X), _nonzero(Y)))),
    LogicalXor=dict(call=_float(_op("logical_xor")(_nonzero(X), _nonzero(Y)))),
    LogicalNot=dict(call=_float(_op("equal")(X, 0))),
    BinaryTanh=dict(call=NNC_LAYERS.dot("binary_tanh")(X)),
    BinarySigmoid=dict(call=NNC_LAYERS.dot("binary_sigmoid")(X)),
    BinaryError=dict(call=METRICS.dot("binary_error")(X, Y)),
    SquaredError=dict(call=_op("square")(X - Y)),
    AbsoluteError=dict(call=_op("abs")(X - Y)),
    # nnabla's: log of the probability clamped at float32's smallest normal (-log gives 87.34, not inf)
    BinaryCrossEntropy=dict(
        call=-(Y * _op("log")(_op("maximum")(X, _TINY)) + (1 - Y) * _op("log")(_op("maximum")(1 - X, _TINY)))
    ),
    SigmoidCrossEntropy=dict(call=_op("relu")(X) - X * Y + _op("log1p")(_op("exp")(-_op("abs")(X)))),
)(expression)


@emitter(
    MulScalar=dict(op=lambda v: X * v),
    AddScalar=dict(op=lambda v: X - Lit(-v.value) if shared.negative(v) else X + v),
    RSubScalar=dict(op=lambda v: v - X),
    RDivScalar=dict(op=lambda v: v / X),
    PowScalar=dict(op=lambda v: _op("power")(X, v)),
    RPowScalar=dict(op=lambda v: _op("power")(v, X)),
    MaximumScalar=dict(op=lambda v: _op("maximum")(X, v)),
    MinimumScalar=dict(op=lambda v: _op("minimum")(X, v)),
    EqualScalar=dict(op=lambda v: _float(_op("equal")(X, v))),
    NotEqualScalar=dict(op=lambda v: _float(_op("not_equal")(X, v))),
    GreaterScalar=dict(op=lambda v: _float(_op("greater")(X, v))),
    GreaterEqualScalar=dict(op=lambda v: _float(_op("greater_equal")(X, v))),
    LessScalar=dict(op=lambda v: _float(_op("less")(X, v))),
    LessEqualScalar=dict(op=lambda v: _float(_op("less_equal")(X, v))),
)
def scalar(layer, ins, out, *, op: Callable[[Lit], Expr]) -> Emit:
    """A layer of its input and a number `value`: `op` of the number's literal."""
    return Emit(op(Lit(layer.params["value"])))


@emitter("LeakyReLU")
def leaky_relu(layer, ins, out) -> Emit:
    return Emit(_op("leaky_relu")(X, negative_slope=layer.params["alpha"]))


@emitter("ELU")
def elu(layer, ins, out) -> Emit:
    return Emit(_op("elu")(X, alpha=layer.params["alpha"]))


@emitter(Softmax=dict(fn="softmax"), LogSoftmax=dict(fn="log_softmax"))
def softmax(layer, ins, out, *, fn: str) -> Emit:
    return Emit(_op(fn)(X, axis=_axis(layer.params["axis"], len(ins[0]))))


@emitter("HuberLoss")
def huber(layer, ins, out) -> Emit:
    d = Lit(layer.params["delta"])
    # nnabla: d^2 inside delta, delta * (2|d| - delta) outside.
    diff = _op("abs")(X - Y)
    return Emit(_op("where")(cmp("<", diff, d), _op("square")(X - Y), d * (2 * diff - d)))


@emitter(SoftmaxCrossEntropy=dict(of_logits=True), CategoricalCrossEntropy=dict(of_logits=False))
def cross_entropy(layer, ins, out, *, of_logits: bool) -> Emit:
    """-log of the label's probability: of softmax(x) (SoftmaxCrossEntropy) or of x itself."""
    axis = _axis(layer.params["axis"], len(ins[0]))
    label = _op("cast")(Y, "int32")
    if of_logits:
        return Emit(-_op("take_along_axis")(_op("log_softmax")(X, axis=axis), label, axis=axis))
    return Emit(-_op("log")(_op("maximum")(_op("take_along_axis")(X, label, axis=axis), _TINY)))  # nnabla's clamp


@emitter("TopNError")
def top_n_error(layer, ins, out) -> Emit:
    axis = _axis(layer.params["axis"], len(ins[0]))
    return Emit(METRICS.dot("top_n_error")(X, Y, n=layer.params["n"], axis=axis))


@emitter("KLMultinomial")
def kl_multinomial(layer, ins, out) -> Emit:
    x = ins[0]
    base = layer.params["base_axis"]
    kl = X * (_op("log")(X) - _op("log")(Y))
    flat = _op("reshape")(_to_spec_order(kl, x), _tuple((-1, *x[:base], math.prod(x[base:]))))
    return Emit(_from_flat(_op("reshape")(_op("sum")(flat, axis=-1), Lit((-1, math.prod(out)))), out))


@emitter(
    MaxPooling=dict(mode="max", keras="MaxPooling"),
    AveragePooling=dict(mode="average", keras="AveragePooling"),
    SumPooling=dict(mode="sum", keras="AveragePooling"),
)
def pooling(layer, ins, out, *, mode: str, keras: str) -> Emit:
    """nnabla's pooling `mode` ("sum": an average times the kernel's size), with the Keras layer
    `keras` (`MaxPooling2D`...) where it fits."""
    p = layer.params
    x = ins[0]
    nd = len(p["kernel"])
    including = p.get("including_pad", True)
    if p.get("ceil_mode") and out[1:] != tuple(
        (n + 2 * q - k) // s + 1 for n, k, s, q in zip(x[1:], p["kernel"], p["stride"], p["pad"], strict=True)
    ):
        return _ceil_pooling(layer, x, out, mode, keras)
    if not p["ignore_border"] or nd != len(x) - 1 or nd > 3 or (any(p["pad"]) and mode != "max" and not including):
        # nnabla's windows without ignore_border, pooling over fewer axes than the spatial ones,
        # or averages that leave the padding out: nnc_layers.Pooling implements nnabla's rule
        # (weightless, built where it is called, as Keras's own pooling layers are).
        extra = {"including_pad": including} if mode == "average" else {}
        layer_ = NNC_LAYERS.dot("Pooling")(
            mode, _tuple(p["kernel"]), _tuple(p["stride"]), _tuple(p["pad"]), ignore_border=p["ignore_border"], **extra
        )
        return Emit(layer_(X))
    strides = _options(strides=(Size(p["stride"]), Size(p["kernel"])))
    if mode == "max":  # padding never wins a maximum
        widths = ((0, 0), *((q, q) for q in p["pad"]), (0, 0))
        pad = _op("pad")(HOLE, Lit(widths), constant_values=name("float")("-inf"))
        src = Wrapped(pad, X, any(p["pad"]))
    else:
        src = _padded(X, p["pad"], nd)
    call = _layer(f"{keras}{nd}D")(Size(p["kernel"]), **strides)(src)
    if mode == "sum":
        call = call * math.prod(p["kernel"])
    return Emit(call)


def _ceil_pooling(layer, x: Shape, out: Shape, mode: str, keras: str) -> Emit:
    """PyTorch's ceil_mode, which Keras lacks: a maximum pads the right border by what the last
    window needs (with -inf: padding never wins) and pools "valid"; an average, whose clipped
    windows divide by less than the kernel, is `framework_pooling.ceil_average_pool`."""
    p = layer.params
    if mode == "average":
        options = _options(count_include_pad=(p["including_pad"], True))
        args = (_tuple(p["kernel"]), _tuple(p["stride"]), _tuple(p["pad"]))
        return Emit(FRAMEWORK_POOLING.dot("ceil_average_pool")(X, *args, **options))
    nd = len(p["kernel"])
    right = (
        max((o - 1) * s + k - n - q, 0)  # (the windows may leave a rest out)
        for n, o, k, s, q in zip(x[1:], out[1:], p["kernel"], p["stride"], p["pad"], strict=True)
    )
    widths = ((0, 0), *((q, r) for q, r in zip(p["pad"], right, strict=True)), (0, 0))
    padded = _op("pad")(X, Lit(widths), constant_values=name("float")("-inf"))
    strides = _options(strides=(Size(p["stride"]), Size(p["kernel"])))
    return Emit(_layer(f"{keras}{nd}D")(Size(p["kernel"]), **strides)(padded))


@emitter(
    AdaptiveAveragePooling=dict(mode="average", keras="AveragePooling"),
    AdaptiveMaxPooling=dict(mode="max", keras="MaxPooling"),
)
def adaptive_pooling(layer, ins, out, *, mode: str, keras: str) -> Emit:
    """Keras has no adaptive pooling: where the windows tile each axis (n a multiple of o) it is the
    pooling layer `keras` with kernel = stride = n/o, else `framework_pooling.adaptive_pool`, PyTorch's windows."""
    x, size = ins[0], tuple(layer.params["size"])
    if x[1:] == size:
        return Emit(X)
    if all(n % o == 0 for n, o in zip(x[1:], size, strict=True)):
        return Emit(_layer(f"{keras}{len(size)}D")(Size(n // o for n, o in zip(x[1:], size, strict=True)))(X))
    return Emit(FRAMEWORK_POOLING.dot("adaptive_pool")(X, _tuple(size), mode))


@emitter("GlobalAveragePooling")
def global_average_pooling(layer, ins, out) -> Emit:
    nd = len(ins[0]) - 1
    if nd == 0:
        return Emit(X)
    return Emit(_op("mean")(X, axis=_tuple(range(1, nd + 1)), keepdims=True))


@emitter("Unpooling")
def unpooling(layer, ins, out) -> Emit:
    k = tuple(layer.params["kernel"])
    rank = len(ins[0])
    nd = rank - 1
    if len(k) == nd and 1 <= nd <= 3:
        return Emit(_layer(f"UpSampling{nd}D")(Size(k))(X))
    # nnabla's unpooling repeats along the last len(kernel) axes, whichever they are: ops.repeat on each
    call: Expr = X
    for a, f in zip(range(rank - len(k), rank), k, strict=True):
        if f > 1:
            call = _op("repeat")(call, f, axis=_axis(a, rank))
    return Emit(call)


@emitter("Concatenate")
def concatenate(layer, ins, out) -> Emit:
    return Emit(_op("concatenate")(_inputs(ins), axis=_axis(layer.params["axis"], len(out))))


def _keep(keep: bool) -> dict:
    return {"keepdims": True} if keep else {}


def _channels_moved(call: Expr, p, spec_axes: set, out: Shape) -> Expr:
    """A reduction without keep_dims over the channels: the first axis left becomes the channels, moved last."""
    if not p["keep_dims"] and 0 in spec_axes and len(out) >= 2:
        return _op("transpose")(call, _tuple((0, *range(2, len(out) + 1), 1)))
    return call


@emitter(Sum=dict(fn="sum"), Mean=dict(fn="mean"), Max=dict(fn="max"), Min=dict(fn="min"), Prod=dict(fn="prod"))
def reduce(layer, ins, out, *, fn: str) -> Emit:
    p = layer.params
    x = ins[0]
    spec_axes = {a % len(x) for a in p["axes"]}
    axes = tuple(sorted(_axis(a, len(x)) for a in spec_axes))
    call = _op(fn)(X, axis=_tuple(axes), **_keep(p["keep_dims"]))
    return Emit(_channels_moved(call, p, spec_axes, out))


@emitter("Slice")
def slice_(layer, ins, out) -> Emit:
    parts = shared.slices(layer.params, _keras_order(len(ins[0])), ins[0])
    return Emit(X[tuple(parts)] if parts else X)  # a slice of every whole axis is the tensor itself


def _keras_order(rank: int) -> list[int]:
    """NNC's per-sample axes in the order a Keras model holds them."""
    return [*range(1, rank), 0] if rank >= 2 else list(range(rank))


@emitter("Reshape")
def reshape(layer, ins, out) -> Emit:
    return Emit(_from_flat(_flat(X, ins[0]), out))


@emitter("Transpose")
def transpose(layer, ins, out) -> Emit:
    axes = tuple(layer.params["axes"])
    src = _keras_order(len(ins[0]))  # Keras position -> NNC axis of the input
    where = {a: k for k, a in enumerate(src)}
    perm = [where[axes[a]] + 1 for a in _keras_order(len(out))]
    return Emit(_op("transpose")(X, _tuple((0, *perm))))


@emitter("Flip")
def flip(layer, ins, out) -> Emit:
    call: Expr = X
    for a in layer.params["axes"]:
        call = _op("flip")(call, axis=_axis(a, len(ins[0])))
    return Emit(call)


@emitter("Broadcast")
def broadcast(layer, ins, out) -> Emit:
    return Emit(X + _op("zeros")(_tuple((1, *channels_last(out)))))


@emitter("Pad")
def pad(layer, ins, out) -> Emit:
    p = layer.params
    x = ins[0]
    widths = list(p["pad_width"])
    pairs = [tuple(widths[i : i + 2]) for i in range(0, len(widths), 2)]
    per_axis = {len(x) - len(pairs) + k: pair for k, pair in enumerate(pairs)}
    keras_widths = Lit(((0, 0), *(per_axis.get(a, (0, 0)) for a in _keras_order(len(x)))))
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}[p["mode"]]
    if mode == "constant":
        return Emit(_op("pad")(X, keras_widths, constant_values=p["constant_value"]))
    return Emit(_op("pad")(X, keras_widths, mode=mode))


@emitter("OneHot")
def one_hot(layer, ins, out) -> Emit:
    if len(ins[0]) != 1 or ins[0][0] != 1 or len(out) != 1:  # several indices per sample: nnabla's one_hot
        shape = _tuple(layer.params["shape"])
        return _in_spec_order(lambda x: NNC_LAYERS.dot("one_hot")(x, shape), ins, out)
    return Emit(_op("one_hot")(_op("cast")(X[Slice(), 0], "int32"), out[0]))


@emitter("Dropout")
def dropout(layer, ins, out) -> Emit:
    p = layer.params
    call = MODULE(X) if p["skip_at_test"] else MODULE(X, training=True)
    return Emit(call, LAYERS.dot("Dropout")(p["p"]))


shared.register(emitter, AUGMENT, NNC_LAYERS)


# --- virtual adversarial training -------------------------------------------------------------------


@emitter("VATNoise")
def vat_noise(layer, ins, out) -> Emit:
    p = layer.params
    rank = len(ins[0])
    axes = tuple(sorted(_axis(a, rank) for a in range(p["base_axis"], rank)))
    return Emit(MODULE(X, Y), NNC_LAYERS.dot("VATNoise")(_tuple(axes), eps=float(p["epsilon"])))


# --- math, trigonometric and logical layers ----------------------------------------------------------

emitter(
    Sin=dict(call=_op("sin")(X)),
    Cos=dict(call=_op("cos")(X)),
    Tan=dict(call=_op("tan")(X)),
    Sinh=dict(call=_op("sinh")(X)),
    Cosh=dict(call=_op("cosh")(X)),
    ASin=dict(call=_op("arcsin")(X)),
    ACos=dict(call=_op("arccos")(X)),
    ATan=dict(call=_op("arctan")(X)),
    ASinh=dict(call=_op("arcsinh")(X)),
    ACosh=dict(call=_op("arccosh")(X)),
    ATanh=dict(call=_op("arctanh")(X)),
    ATan2=dict(call=_op("arctan2")(X, Y)),
    Sinc=dict(
        call=NNC_LAYERS.dot("sinc")(X)
    ),  # nnabla's sin(x) / x with gradient 0 at 0 (ops.sinc: sin(pi x) / (pi x))
    TanhShrink=dict(call=X - _op("tanh")(X)),
    HardSigmoid=dict(call=_op("clip")(0.2 * X + 0.5, 0.0, 1.0)),  # nnabla's slope 0.2 (ops.hard_sigmoid's is 1/6)
    IsNaN=dict(call=_float(_op("isnan")(X))),
    IsInf=dict(call=_float(_op("isinf")(X))),
    ResetNaN=dict(call=_op("where")(_op("isnan")(X), 0.0, X)),
    ResetInf=dict(call=_op("where")(_op("isinf")(X), 0.0, X)),
)(expression)


@emitter("Sign")
def sign(layer, ins, out) -> Emit:
    return Emit(NNC_LAYERS.dot("sign")(X, alpha=Opt(layer.params["alpha"], 0.0)))


@emitter(CReLU=dict(fn="relu"), CELU=dict(fn="elu"))
def concatenated(layer, ins, out, *, fn: str) -> Emit:
    """ReLU (ELU, with its `alpha`) of x and of -x joined on `axis` (nnabla's CReLU and CELU, not ops.celu)."""
    axis = _axis(layer.params["axis"], len(ins[0]))
    alpha = {"alpha": layer.params["alpha"]} if "alpha" in layer.params else {}
    return Emit(_op("concatenate")([_op(fn)(X, **alpha), _op(fn)(-X, **alpha)], axis=axis))


@emitter(LogicalAndScalar=dict(kind="And"), LogicalOrScalar=dict(kind="Or"), LogicalXorScalar=dict(kind="Xor"))
def logical_scalar(layer, ins, out, *, kind: str) -> Emit:
    """nnabla reads `value` as a boolean: each layer is then a constant, x != 0 or x == 0."""
    value = layer.params["value"] != 0
    nonzero, zero = _float(_nonzero(X)), _float(_op("equal")(X, 0))
    call = {
        ("And", False): _op("zeros_like")(X),
        ("And", True): nonzero,
        ("Or", False): nonzero,
        ("Or", True): _op("ones_like")(X),
        ("Xor", False): nonzero,
        ("Xor", True): zero,
    }[kind, value]
    return Emit(call)


@emitter("Norm")
def norm(layer, ins, out) -> Emit:
    """(sum |x|^p)^(1/p) over `axes` (ops.norm reads two axes as a matrix norm)."""
    p = layer.params
    x = ins[0]
    spec_axes = {a % len(x) for a in p["axes"]}
    axes = _tuple(sorted(_axis(a, len(x)) for a in spec_axes))
    keep = _keep(p["keep_dims"])
    order = float(p["p"])
    if order == 2:
        call = _op("sqrt")(_op("sum")(_op("square")(X), axis=axes, **keep))
    elif order == 1:
        call = _op("sum")(_op("abs")(X), axis=axes, **keep)
    else:
        q = Lit(order)
        call = _op("power")(_op("sum")(_op("power")(_op("abs")(X), q), axis=axes, **keep), 1 / q)
    return Emit(_channels_moved(call, p, spec_axes, out))  # as `reduce`


@emitter(CumSum=dict(op="sum"), CumProd=dict(op="prod"))
def cumulative(layer, ins, out, *, op: str) -> Emit:
    p = layer.params
    axis = _axis(p["axis"], len(ins[0]))
    if op == "sum" and not p["exclusive"] and not p["reverse"]:
        return Emit(_op("cumsum")(X, axis=axis))
    # A product always takes nnc_layers': TensorFlow's cumprod gradient divides by x (wrong at zeros).
    flags = _options(exclusive=(p["exclusive"], False), reverse=(p["reverse"], False))
    return Emit(NNC_LAYERS.dot("cumulative")(X, op, axis, **flags))


# --- quantizers, top-k, matrices, shapes (layers whose op nnc_layers holds where Keras has none) -----


def _spec(x: Expr, shape: Shape) -> Expr:
    """Code for a channels-last value of NNC shape `shape` in NNC's order and shape, (batch, *shape)."""
    if len(shape) < 2:
        return x
    if _moves_data(shape):
        return _to_spec_order(x, shape)
    return _op("reshape")(x, _tuple((-1, *shape)))


def _held(x: Expr, shape: Shape) -> Expr:
    """Code for a value in NNC's order, (batch, *shape), as the channels-last value a Keras model holds."""
    if len(shape) < 2:
        return x
    if _moves_data(shape):
        r = len(shape)
        return _op("transpose")(x, _tuple((0, *range(2, r + 1), 1)))
    return _op("reshape")(x, _tuple((-1, *channels_last(shape))))


def _in_spec_order(fn: Callable[..., Expr], ins: tuple[Shape, ...], out: Shape) -> Emit:
    """A call written for NNC's order (`fn` of the inputs in NNC's layout): its inputs and output converted."""
    return Emit(_held(fn(*(_spec(inp(i), shape) for i, shape in enumerate(ins))), out))


def _defaults_off(layer: Layer, *names: str) -> dict[str, Lit]:
    """Keyword arguments for the parameters `names` whose value is not NNC's default (the runtime's default)."""
    from ...layers import REGISTRY

    spec = REGISTRY[layer.type]
    return {n: Lit(layer.params[n]) for n in names if layer.params[n] != spec.param(n).default}


def _runtime_layer(layer: Layer, *names: str, **given) -> Emit:
    """The runtime's layer of the layer's type (`nnc_layers.Prune(...)`) with the `given` arguments and the
    parameters `names` off NNC's defaults."""
    return Emit(MODULE(X), NNC_LAYERS.dot(layer.type)(**given, **_defaults_off(layer, *names)))


@emitter("DepthwiseDeconvolution")
def depthwise_deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    _spatial(ins[0], p, layer.type)
    nd = len(p["kernel"])
    module = NNC_LAYERS.dot("DepthwiseDeconvolution")(
        ins[0][0], _tuple(p["kernel"]),
        **_options(stride=(_tuple(p["stride"]), _tuple((1,) * nd)), pad=(_tuple(p["pad"]), _tuple((0,) * nd)),
                   dilation=(_tuple(p["dilation"]), _tuple((1,) * nd)), divisor=(p["divisor"], 1),
                   bias=(p["bias"], True)),
    )  # fmt: skip
    params = (("W", "kernel", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


@emitter("Embed")
def embed(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    shape = tuple(p["shape"])
    call = MODULE(_op("cast")(_spec(X, ins[0]), "int32"))  # nnabla reads the indices as integers, truncated
    if len(shape) > 1:
        call = _op("reshape")(call, _tuple((-1, *out)))
    # NNC's W is (num_class, *shape); Keras's embeddings (num_class, prod(shape)).
    module = _layer("Embedding")(p["num_class"], math.prod(shape))
    return Emit(_held(call, out), module, (("W", "embeddings", "same"),))


@emitter("EpsilonInsensitiveLoss")
def epsilon_insensitive_loss(layer, ins, out) -> Emit:
    return Emit(_op("relu")(_op("abs")(X - Y) - layer.params["epsilon"]))


@emitter("FixedPointQuantize")
def fixed_point_quantize(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "sign", "n", "delta", "ste_fine_grained")


@emitter("Pow2Quantize")
def pow2_quantize(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "sign", "with_zero", "n", "m", "ste_fine_grained")


@emitter("Prune")
def prune(layer, ins, out) -> Emit:
    return _runtime_layer(layer, rate=layer.params["rate"])


@emitter("ClipGradByNorm")
def clip_grad_by_norm(layer, ins, out) -> Emit:
    p = layer.params
    axes = _tuple(a % len(ins[0]) for a in p["axes"])
    return _runtime_layer(layer, clip_norm=p["clip_norm"], axes=axes)


def _base_axis(p, ins) -> dict:
    b = p["base_axis"] % len(ins[0])
    return {"base_axis": b} if b else {}


@emitter("TopKData")
def top_k_data(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "abs", "reduce", k=layer.params["k"], **_base_axis(layer.params, ins))


@emitter("TopKGrad")
def top_k_grad(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "abs", k=layer.params["k"], **_base_axis(layer.params, ins))


@emitter("Shift")
def shift(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "border_mode", shifts=_tuple(layer.params["shift"]))


@emitter("MeanSubtraction")
def mean_subtraction(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    b = p["base_axis"] % len(ins[0])
    emit = _runtime_layer(layer, "update_running_mean", shape=_tuple(ins[0][b:]), **_base_axis(p, ins))
    return Emit(emit.call, emit.module, (("mean", "mean", "same"), ("t", "t", "same")))


@emitter("Sort")
def sort(layer, ins, out) -> Emit:
    p = layer.params
    axis = _axis(p["axis"], len(ins[0]))
    if p["only_index"]:
        return Emit(_float(_op("argsort")(-X if p["reverse"] else X, axis=axis)))
    call = _op("sort")(X, axis=axis)
    return Emit(_op("flip")(call, axis=axis) if p["reverse"] else call)


@emitter("BatchMatmul")
def batch_matmul(layer, ins, out) -> Emit:
    return _in_spec_order(_op("matmul"), ins, out)


@emitter("Stack")
def stack(layer, ins, out) -> Emit:
    axis = layer.params["axis"] % len(out) + 1
    return _in_spec_order(lambda *xs: _op("stack")(list(xs), axis=axis), ins, out)


@emitter("Tile")
def tile(layer, ins, out) -> Emit:
    reps = tuple(layer.params["reps"])
    reps = (1,) * (len(ins[0]) - len(reps)) + reps
    return Emit(_op("tile")(X, _tuple((1, *(reps[a] for a in _keras_order(len(reps)))))))


@emitter("MatrixDiag")
def matrix_diag(layer, ins, out) -> Emit:
    return _in_spec_order(lambda x: _op("expand_dims")(x, -1) * _op("eye")(ins[0][-1]), ins, out)


@emitter("MatrixDiagPart")
def matrix_diag_part(layer, ins, out) -> Emit:
    return _in_spec_order(lambda x: _op("diagonal")(x, axis1=-2, axis2=-1), ins, out)
