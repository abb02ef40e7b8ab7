"""One PyTorch emitter per layer type: the module a layer owns (if any) and its forward
expression.

An emitter gets the IR layer (resolved parameters) and the per-sample input shapes and
returns an `Emit`: `module` is the constructor of a layer with parameters or state (None for
a stateless layer), `call` the forward expression, both `expr` trees, with `MODULE` standing
for the module attribute and `inp(0)`, `inp(1)`... (`X`, `Y`) for the inputs. Axis parameters
index the per-sample shape, so they are shifted by one for the batch axis. Nothing here derives
a shape: every size comes from the IR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ...ir import Layer
from .. import shared
from ..builder import Emit, Emitters
from ..expr import MODULE, Expr, Lit, Module, Opt, Seq, Size, cmp, inp, name

Shape = tuple[int, ...]
EMITTERS = Emitters("torch")
emitter = EMITTERS.emitter

TORCH = Module("torch", "import torch")
NN = Module("nn", "from torch import nn")
F = Module("F", "from torch.nn import functional as F")
NNC = Module("nnc", "from nndsl_runtime.torch import nnc")  # what every model uses
AUGMENT = Module("augment", "from nndsl_runtime.torch import augment")
METRICS = Module("metrics", "from nndsl_runtime.torch import metrics")
NNC_LAYERS = Module("nnc_layers", "from nndsl_runtime.torch import nnc_layers")
X, Y = inp(0), inp(1)


def _tuple(v) -> Lit:
    return Lit(tuple(v))


def _options(**options) -> dict[str, Opt]:
    """Keyword arguments left out where at PyTorch's defaults (given as (value, default))."""
    return {k: Opt(v, default) for k, (v, default) in options.items()}


def _dim(axis: int) -> int:
    return axis + 1  # per-sample axis -> batch-first tensor axis


def _dims(axes) -> Lit:
    return _tuple(_dim(a) for a in axes)


def _inputs(ins) -> Seq:
    return Seq(tuple(inp(i) for i in range(len(ins))), list=True)


# --- layers with parameters -----------------------------------------------------------------


def _connected(layer: Layer) -> dict[str, Expr]:
    """The inputs of the Parameter layers given to the layer's connectors, by NNC name."""
    first = len(layer.inputs) - len(layer.connectors)
    return {c: inp(first + k) for k, c in enumerate(layer.connectors)}


def _own_bias(layer: Layer, con: dict[str, Expr]) -> tuple[Expr | None, Expr | None]:
    """A layer whose W a Parameter gives: the module holding its own b (if any), and b's expression."""
    if "b" in con:
        return None, con["b"]
    if not layer.params["bias"]:
        return None, None
    (b,) = [q for q in layer.parameters if q.name == "b"]
    return NNC.dot("Parameter")(_tuple(b.shape)), MODULE()


@emitter("Parameter")
def parameter(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    return Emit(MODULE(), NNC.dot("Parameter")(_tuple(layer.params["size"])), (("", "value", "same"),), nnc_value=True)


def _conv_opts(p, groups: int | None = None) -> dict[str, Opt]:
    return _options(
        stride=(Size(p["stride"]), 1),
        padding=(Size(p["pad"]), 0),
        dilation=(Size(p["dilation"]), 1),
        groups=(groups if groups is not None else p.get("group", 1), 1),
    )


@emitter("Convolution")
def convolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = len(ins[0]) - 1
    con = _connected(layer)
    if "W" in con:
        module, bias = _own_bias(layer, con)
        params = (("b", "value", "same"),) if module else ()
        return Emit(
            F.dot(f"conv{nd}d")(X, con["W"], Lit(None) if bias is None else bias, **_conv_opts(p)), module, params
        )
    conv = NN.dot(f"Conv{nd}d")
    if "b" in con:
        module = conv(ins[0][0], p["out_maps"], kernel_size=Size(p["kernel"]), **_conv_opts(p), bias=False)
        return Emit(MODULE(X) + con["b"].dot("reshape")(-1, *(1,) * nd), module, (("W", "weight", "same"),))
    module = conv(ins[0][0], p["out_maps"], kernel_size=Size(p["kernel"]), **_conv_options(p))
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


def _conv_options(p, groups: int | None = None) -> dict[str, Opt]:
    return {**_conv_opts(p, groups), "bias": Opt(p["bias"], True)}


@emitter("Deconvolution")
def deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = len(ins[0]) - 1
    module = NN.dot(f"ConvTranspose{nd}d")(ins[0][0], p["out_maps"], kernel_size=Size(p["kernel"]), **_conv_options(p))
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


@emitter("DepthwiseConvolution")
def depthwise(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    c = ins[0][0]
    nd = len(ins[0]) - 1
    module = NN.dot(f"Conv{nd}d")(c, c * p["multiplier"], kernel_size=Size(p["kernel"]), **_conv_options(p, c))
    # NNC's W is (C*multiplier, kh, kw); torch's is (C*multiplier, 1, kh, kw).
    params = (("W", "weight", "depthwise"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


@emitter("Affine")
def affine(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    n_in, n_out = math.prod(ins[0]), math.prod(out)
    con = _connected(layer)
    x = X.dot("flatten")(1) if len(ins[0]) > 1 else X
    if con:
        if "W" in con:  # NNC's layout, (inputs, *outputs)
            module, bias = _own_bias(layer, con)
            params = (("b", "value", "same"),) if module else ()
            call = x @ con["W"].dot("reshape")(n_in, n_out)
        else:
            module, bias = NN.dot("Linear")(n_in, n_out, bias=False), con["b"]
            params = (("W", "weight", "affine"),)
            call = MODULE(x)
        if len(out) > 1:
            call = call.dot("unflatten")(1, _tuple(out))
        return Emit(call if bias is None else call + bias, module, params)
    module = NN.dot("Linear")(n_in, n_out, bias=Opt(p["bias"], True))
    call = MODULE(x)
    if len(out) > 1:
        call = call.dot("unflatten")(1, _tuple(out))
    params = (("W", "weight", "affine"),) + ((("b", "bias", "affine_bias"),) if p["bias"] else ())
    return Emit(call, module, params)


@emitter("BatchNormalization")
def batch_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    x = ins[0]
    axes = tuple(p["axes"])
    rest = len(x) - len(axes)  # the axes the statistics are taken over, besides the batch
    kind = {0: "1d", 1: "1d", 2: "2d", 3: "3d"}[rest]
    # NNC's decay rate d keeps d of the running statistics: PyTorch's momentum is 1 - d.
    channels = math.prod(x[a] for a in axes)
    module = NN.dot(f"BatchNorm{kind}")(channels, eps=p["epsilon"], momentum=round(1 - p["decay_rate"], 12))
    params = (
        ("beta", "bias", "bn"),
        ("gamma", "weight", "bn"),
        ("mean", "running_mean", "bn"),
        ("var", "running_var", "bn"),
    )
    initial = (*_NORM_INITIAL, ("mean", "Constant", 0.0), ("var", "Constant", 1.0))  # PyTorch's running statistics
    return Emit(_along(axes), module, params, initial=initial)


def _along(axes: tuple[int, ...]) -> Expr:
    """A channels-first module's call over NNC's per-sample `axes` (`nnc.along` moves them to the channels)."""
    return MODULE(X) if axes == (0,) else NNC.dot("along")(MODULE, X, _tuple(axes))


# PyTorch's normalization modules start with bias 0 and weight 1 (NNC's beta and gamma defaults).
_NORM_INITIAL = (("beta", "Constant", 0.0), ("gamma", "Constant", 1.0))
_NORM_PARAMS = (("beta", "bias", "same"), ("gamma", "weight", "same"))


def _channel_norm(layer: Layer, x: Shape) -> tuple[Expr, Shape]:
    """The call over NNC's channel axis and the input's shape with that axis first (the module's)."""
    a = layer.params["channel_axis"]
    return _along((a,)), (x[a], *x[:a], *x[a + 1 :])


@emitter("LayerNormalization")
def layer_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nn.LayerNorm over every axis of a sample: nnabla's with batch_axis 0, beta and gamma of the
    sample's shape."""
    module = NN.dot("LayerNorm")(_tuple(ins[0]), eps=layer.params["epsilon"])
    return Emit(MODULE(X), module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("InstanceNormalization")
def instance_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nn.InstanceNorm*d with affine parameters (its statistics always the instance's, as nnabla's);
    a sample of channels alone is nn.GroupNorm with a group per channel (InstanceNorm needs a spatial axis)."""
    call, x = _channel_norm(layer, ins[0])
    eps = layer.params["epsilon"]
    if len(x) == 1:
        module = NN.dot("GroupNorm")(x[0], x[0], eps=eps)
    else:
        module = NN.dot(f"InstanceNorm{len(x) - 1}d")(x[0], eps=eps, affine=True)
    return Emit(call, module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("GroupNormalization")
def group_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    call, x = _channel_norm(layer, ins[0])
    p = layer.params
    module = NN.dot("GroupNorm")(p["num_groups"], x[0], eps=p["epsilon"])
    return Emit(call, module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("PReLU")
def prelu(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    a = layer.params["base_axis"] % len(ins[0])
    (slope,) = layer.parameters
    # A constant slope is nn.PReLU's own init; another initializer is applied to its default 0.25.
    init = float(slope.init_multiplier) if slope.init == "Constant" else 0.25
    module = NN.dot("PReLU")(ins[0][a], init=init)
    return Emit(_along((a,)), module, (("slope", "weight", "same"),), initial=(("slope", "Constant", init),))


@emitter(**shared.BINARY_LAYERS)
def binary(layer: Layer, ins: tuple[Shape, ...], out: Shape, *, affine: bool, takes_bias: bool) -> Emit:
    """nnc's binary modules keep NNC's layouts and names (W, Wb, alpha, b) and initialize themselves;
    BinaryWeight*'s take no bias (see nndsl/layers/quantize.py)."""
    p = layer.params
    inits = shared.binary_initializers(layer, takes_bias)
    cls = NNC_LAYERS.dot(layer.type)
    if affine:
        module = cls(math.prod(ins[0]), _tuple(p["out_shape"]), **inits)
    else:
        module = cls(
            ins[0][0], p["out_maps"], _tuple(p["kernel"]), stride=_tuple(p["stride"]), pad=_tuple(p["pad"]),
            dilation=_tuple(p["dilation"]), **inits,
        )  # fmt: skip
    names = [q.name for q in layer.parameters]
    return Emit(MODULE(X), module, tuple((n, n, "same") for n in names), initialized=True)


# --- stateless layers ------------------------------------------------------------------------


def expression(layer, ins, out, *, call: Expr) -> Emit:
    """A layer whose code is one expression of its inputs, the same for every configuration."""
    return Emit(call)


def _float(e: Expr) -> Expr:
    return e.dot("float")()


_CLAMPED_LOG = NNC.dot("TINY")  # nnabla's clamp of a probability before its log

emitter(
    Identity=dict(call=X),
    Unlink=dict(call=X.dot("detach")()),
    ReLU=dict(call=F.dot("relu")(X)),
    Sigmoid=dict(call=TORCH.dot("sigmoid")(X)),
    Tanh=dict(call=TORCH.dot("tanh")(X)),
    Swish=dict(call=F.dot("silu")(X)),
    GELU=dict(call=F.dot("gelu")(X, approximate="tanh")),
    SELU=dict(call=F.dot("selu")(X)),
    ReLU6=dict(call=F.dot("relu6")(X)),
    SoftPlus=dict(call=F.dot("softplus")(X)),
    SoftSign=dict(call=F.dot("softsign")(X)),
    Mish=dict(call=F.dot("mish")(X)),
    HardTanh=dict(call=F.dot("hardtanh")(X)),
    LogSigmoid=dict(call=F.dot("logsigmoid")(X)),
    Abs=dict(call=TORCH.dot("abs")(X)),
    Exp=dict(call=TORCH.dot("exp")(X)),
    Log=dict(call=TORCH.dot("log")(X)),
    Round=dict(call=TORCH.dot("round")(X)),
    Ceil=dict(call=TORCH.dot("ceil")(X)),
    Floor=dict(call=TORCH.dot("floor")(X)),
    Add2=dict(call=X + Y),
    Sub2=dict(call=X - Y),
    Mul2=dict(call=X * Y),
    Div2=dict(call=X / Y),
    Pow2=dict(call=X**Y),
    Maximum2=dict(call=TORCH.dot("maximum")(X, Y)),
    Minimum2=dict(call=TORCH.dot("minimum")(X, Y)),
    Equal=dict(call=_float(cmp("==", X, Y))),
    NotEqual=dict(call=_float(cmp("!=", X, Y))),
    Greater=dict(call=_float(cmp(">", X, Y))),
    GreaterEqual=dict(call=_float(cmp(">=", X, Y))),
    Less=dict(call=_float(cmp("<", X, Y))),
    LessEqual=dict(call=_float(cmp("<=", X, Y))),
    LogicalAnd=dict(call=_float(cmp("!=", X, 0) & cmp("!=", Y, 0))),
    LogicalOr=dict(call=_float(cmp("!=", X, 0) | cmp("!=", Y, 0))),
    LogicalXor=dict(call=_float(cmp("!=", X, 0) ^ cmp("!=", Y, 0))),
    LogicalNot=dict(call=_float(cmp("==", X, 0))),
    BinaryTanh=dict(call=NNC_LAYERS.dot("binary_tanh")(X)),
    BinarySigmoid=dict(call=NNC_LAYERS.dot("binary_sigmoid")(X)),
    BinaryError=dict(call=METRICS.dot("binary_error")(X, Y)),
    SquaredError=dict(call=(X - Y) ** 2),
    AbsoluteError=dict(call=(X - Y).dot("abs")()),
    # nnabla's: log of the probability clamped at float32's smallest normal (-log gives 87.34, not inf)
    BinaryCrossEntropy=dict(
        call=-(
            Y * X.dot("clamp_min")(_CLAMPED_LOG).dot("log")()
            + (1 - Y) * (1 - X).dot("clamp_min")(_CLAMPED_LOG).dot("log")()
        )
    ),
    SigmoidCrossEntropy=dict(call=F.dot("binary_cross_entropy_with_logits")(X, Y, reduction="none")),
)(expression)


@emitter(
    MulScalar=dict(op=lambda v: X * v),
    AddScalar=dict(op=lambda v: X - Lit(-v.value) if shared.negative(v) else X + v),
    RSubScalar=dict(op=lambda v: v - X),
    RDivScalar=dict(op=lambda v: v / X),
    PowScalar=dict(op=lambda v: X**v),
    RPowScalar=dict(op=lambda v: v**X),
    MaximumScalar=dict(op=lambda v: TORCH.dot("clamp")(X, min=v)),
    MinimumScalar=dict(op=lambda v: TORCH.dot("clamp")(X, max=v)),
    EqualScalar=dict(op=lambda v: _float(cmp("==", X, v))),
    NotEqualScalar=dict(op=lambda v: _float(cmp("!=", X, v))),
    GreaterScalar=dict(op=lambda v: _float(cmp(">", X, v))),
    GreaterEqualScalar=dict(op=lambda v: _float(cmp(">=", X, v))),
    LessScalar=dict(op=lambda v: _float(cmp("<", X, v))),
    LessEqualScalar=dict(op=lambda v: _float(cmp("<=", X, v))),
)
def scalar(layer, ins, out, *, op: Callable[[Lit], Expr]) -> Emit:
    """A layer of its input and a number `value`: `op` of the number's literal."""
    return Emit(op(Lit(layer.params["value"])))


@emitter("LeakyReLU")
def leaky_relu(layer, ins, out) -> Emit:
    return Emit(F.dot("leaky_relu")(X, layer.params["alpha"]))


@emitter("ELU")
def elu(layer, ins, out) -> Emit:
    return Emit(F.dot("elu")(X, layer.params["alpha"]))


@emitter(Softmax=dict(fn="softmax"), LogSoftmax=dict(fn="log_softmax"))
def softmax(layer, ins, out, *, fn: str) -> Emit:
    return Emit(F.dot(fn)(X, dim=_dim(layer.params["axis"])))


@emitter("HuberLoss")
def huber(layer, ins, out) -> Emit:
    # nnabla's Huber loss is twice PyTorch's: d^2 inside delta, delta * (2|d| - delta) outside.
    return Emit(2 * F.dot("huber_loss")(X, Y, reduction="none", delta=layer.params["delta"]))


@emitter(SoftmaxCrossEntropy=dict(of_logits=True), CategoricalCrossEntropy=dict(of_logits=False))
def cross_entropy(layer, ins, out, *, of_logits: bool) -> Emit:
    """-log of the label's probability: of softmax(x) (SoftmaxCrossEntropy) or of x itself."""
    dim = _dim(layer.params["axis"])
    if of_logits:
        return Emit(-F.dot("log_softmax")(X, dim=dim).dot("gather")(dim, Y.dot("long")()))
    # nnabla's clamp, as BinaryCrossEntropy
    return Emit(-X.dot("gather")(dim, Y.dot("long")()).dot("clamp_min")(_CLAMPED_LOG).dot("log")())


@emitter("TopNError")
def top_n_error(layer, ins, out) -> Emit:
    return Emit(METRICS.dot("top_n_error")(X, Y, n=layer.params["n"], axis=_dim(layer.params["axis"])))


@emitter("KLMultinomial")
def kl_multinomial(layer, ins, out) -> Emit:
    dim = _dim(layer.params["base_axis"])
    log = TORCH.dot("log")
    return Emit((X * (log(X) - log(Y))).dot("flatten")(dim).dot("sum")(dim, keepdim=True))


def _pool_args(p) -> tuple[tuple, dict]:
    return (Size(p["kernel"]),), _options(
        stride=(Size(p["stride"]), Size(p["kernel"])),
        padding=(Size(p["pad"]), 0),
        ceil_mode=(p.get("ceil_mode", False), False),
    )


@emitter(MaxPooling=dict(mode="max"), AveragePooling=dict(mode="average"), SumPooling=dict(mode="sum"))
def pooling(layer, ins, out, *, mode: str) -> Emit:
    p = layer.params
    nd = len(p["kernel"])
    if not p["ignore_border"] or nd != len(ins[0]) - 1:
        # nnabla's windows without ignore_border (not PyTorch's ceil_mode), or pooling over
        # fewer axes than the spatial ones: nnc.pooling implements nnabla's rule.
        extra = {"including_pad": p["including_pad"]} if mode == "average" else {}
        return Emit(
            NNC_LAYERS.dot("pooling")(
                X, mode, _tuple(p["kernel"]), _tuple(p["stride"]), _tuple(p["pad"]), ignore_border=p["ignore_border"],
                **extra,
            )
        )  # fmt: skip
    args, kwargs = _pool_args(p)
    if mode == "max":
        return Emit(F.dot(f"max_pool{nd}d")(X, *args, **kwargs))
    include = _options(count_include_pad=(p.get("including_pad", True), True))
    call = F.dot(f"avg_pool{nd}d")(X, *args, **kwargs, **include)
    if mode == "sum":
        call = call * math.prod(p["kernel"])
    return Emit(call)


@emitter(AdaptiveAveragePooling=dict(kind="avg"), AdaptiveMaxPooling=dict(kind="max"))
def adaptive_pooling(layer, ins, out, *, kind: str) -> Emit:
    return Emit(F.dot(f"adaptive_{kind}_pool{len(out) - 1}d")(X, Size(layer.params["size"])))


@emitter("GlobalAveragePooling")
def global_average_pooling(layer, ins, out) -> Emit:
    dims = tuple(range(2, len(ins[0]) + 1))
    return Emit(X.dot("mean")(dim=_tuple(dims), keepdim=True) if dims else X)


@emitter("Unpooling")
def unpooling(layer, ins, out) -> Emit:
    k, rank = tuple(layer.params["kernel"]), len(ins[0])
    if len(k) == rank - 1 and 2 <= rank <= 4:  # F.interpolate takes 1 to 3 spatial axes
        return Emit(F.dot("interpolate")(X, scale_factor=_tuple(k), mode="nearest"))
    # nnabla's unpooling repeats along the last len(kernel) axes, whichever they are
    call: Expr = X
    for a, f in zip(range(rank - len(k), rank), k, strict=True):
        if f > 1:
            call = call.dot("repeat_interleave")(f, dim=a + 1)
    return Emit(call)


@emitter("Concatenate")
def concatenate(layer, ins, out) -> Emit:
    return Emit(TORCH.dot("cat")(_inputs(ins), dim=_dim(layer.params["axis"])))


@emitter(
    Sum=dict(fn="sum", many_axes=True),
    Mean=dict(fn="mean", many_axes=True),
    Max=dict(fn="amax", many_axes=False),
    Min=dict(fn="amin", many_axes=False),
    Prod=dict(fn="prod", many_axes=False),
)
def reduce(layer, ins, out, *, fn: str, many_axes: bool) -> Emit:
    """The reduction `fn` over `axes`: at once where torch's takes several axes (`many_axes`), else
    one axis after another, the last first."""
    p = layer.params
    keep = p["keep_dims"]
    axes = tuple(_dim(a % len(ins[0])) for a in p["axes"])
    if many_axes:
        return Emit(X.dot(fn)(dim=_tuple(axes), keepdim=keep))
    call: Expr = X
    for a in sorted(axes, reverse=True):
        call = call.dot(fn)(dim=a, keepdim=keep) if fn == "prod" else TORCH.dot(fn)(call, dim=a, keepdim=keep)
    return Emit(call)


@emitter("Slice")
def slice_(layer, ins, out) -> Emit:
    parts = shared.slices(layer.params, range(len(ins[0])), ins[0])
    return Emit(X[tuple(parts)] if parts else X)  # a slice of every whole axis is the tensor itself


@emitter("Reshape")
def reshape(layer, ins, out) -> Emit:
    return Emit(X.dot("reshape")(-1, *out))


@emitter("Transpose")
def transpose(layer, ins, out) -> Emit:
    return Emit(X.dot("permute")(0, *(_dim(a) for a in layer.params["axes"])))


@emitter("Flip")
def flip(layer, ins, out) -> Emit:
    return Emit(TORCH.dot("flip")(X, dims=_dims(layer.params["axes"])))


@emitter("Broadcast")
def broadcast(layer, ins, out) -> Emit:
    return Emit(X.dot("expand")(-1, *out))


@emitter("Pad")
def pad(layer, ins, out) -> Emit:
    p = layer.params
    widths = list(p["pad_width"])
    pairs = [widths[i : i + 2] for i in range(0, len(widths), 2)]
    flat = [w for pair in reversed(pairs) for w in pair]  # torch pads the last axis first
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "replicate"}[p["mode"]]
    value = {"value": p["constant_value"]} if mode == "constant" else {}
    return Emit(F.dot("pad")(X, _tuple(flat), mode=mode, **value))


@emitter("OneHot")
def one_hot(layer, ins, out) -> Emit:
    if len(ins[0]) != 1 or ins[0][0] != 1 or len(out) != 1:  # several indices per sample: nnabla's one_hot
        return Emit(NNC_LAYERS.dot("one_hot")(X, _tuple(layer.params["shape"])))
    return Emit(_float(F.dot("one_hot")(X.dot("long")().dot("squeeze")(1), out[0])))


@emitter("Dropout")
def dropout(layer, ins, out) -> Emit:
    p = layer.params
    active = name("self").dot("training") if p["skip_at_test"] else Lit(True)
    return Emit(F.dot("dropout")(X, p["p"], active))


shared.register(emitter, AUGMENT, NNC_LAYERS)


# --- virtual adversarial training -------------------------------------------------------------------


@emitter("VATNoise")
def vat_noise(layer, ins, out) -> Emit:
    p = layer.params
    return Emit(NNC_LAYERS.dot("vat_noise")(X, Y, base_axis=p["base_axis"], eps=float(p["epsilon"])))


# --- math, trigonometric and logical layers ----------------------------------------------------------

emitter(
    Sin=dict(call=TORCH.dot("sin")(X)),
    Cos=dict(call=TORCH.dot("cos")(X)),
    Tan=dict(call=TORCH.dot("tan")(X)),
    Sinh=dict(call=TORCH.dot("sinh")(X)),
    Cosh=dict(call=TORCH.dot("cosh")(X)),
    ASin=dict(call=TORCH.dot("asin")(X)),
    ACos=dict(call=TORCH.dot("acos")(X)),
    ATan=dict(call=TORCH.dot("atan")(X)),
    ASinh=dict(call=TORCH.dot("asinh")(X)),
    ACosh=dict(call=TORCH.dot("acosh")(X)),
    ATanh=dict(call=TORCH.dot("atanh")(X)),
    ATan2=dict(call=TORCH.dot("atan2")(X, Y)),
    Sinc=dict(call=TORCH.dot("sinc")(X / TORCH.dot("pi"))),  # nnabla's sin(x) / x; torch's sinc is sin(pi x) / (pi x)
    TanhShrink=dict(call=F.dot("tanhshrink")(X)),
    HardSigmoid=dict(call=TORCH.dot("clamp")(0.2 * X + 0.5, 0.0, 1.0)),  # nnabla's slope 0.2 (F.hardsigmoid's is 1/6)
    IsNaN=dict(call=_float(TORCH.dot("isnan")(X))),
    IsInf=dict(call=_float(TORCH.dot("isinf")(X))),
    ResetNaN=dict(call=TORCH.dot("where")(TORCH.dot("isnan")(X), 0.0, X)),
    ResetInf=dict(call=TORCH.dot("where")(TORCH.dot("isinf")(X), 0.0, X)),
)(expression)


@emitter("Sign")
def sign(layer, ins, out) -> Emit:
    return Emit(NNC_LAYERS.dot("sign")(X, alpha=Opt(layer.params["alpha"], 0.0)))


@emitter(CReLU=dict(fn="relu"), CELU=dict(fn="elu"))
def concatenated(layer, ins, out, *, fn: str) -> Emit:
    """ReLU (ELU, with its `alpha`) of x and of -x joined on `axis` (nnabla's CReLU and CELU, not
    torch's F.celu)."""
    dim = _dim(layer.params["axis"] % len(ins[0]))
    alpha = (layer.params["alpha"],) if "alpha" in layer.params else ()
    return Emit(TORCH.dot("cat")([F.dot(fn)(X, *alpha), F.dot(fn)(-X, *alpha)], dim=dim))


@emitter(LogicalAndScalar=dict(kind="And"), LogicalOrScalar=dict(kind="Or"), LogicalXorScalar=dict(kind="Xor"))
def logical_scalar(layer, ins, out, *, kind: str) -> Emit:
    """nnabla reads `value` as a boolean: each layer is then a constant, x != 0 or x == 0."""
    value = layer.params["value"] != 0
    nonzero, zero = _float(cmp("!=", X, 0)), _float(cmp("==", X, 0))
    call = {
        ("And", False): TORCH.dot("zeros_like")(X),
        ("And", True): nonzero,
        ("Or", False): nonzero,
        ("Or", True): TORCH.dot("ones_like")(X),
        ("Xor", False): nonzero,
        ("Xor", True): zero,
    }[kind, value]
    return Emit(call)


@emitter("Norm")
def norm(layer, ins, out) -> Emit:
    p = layer.params
    axes = tuple(_dim(a % len(ins[0])) for a in p["axes"])
    options = _options(ord=(float(p["p"]), 2.0), keepdim=(p["keep_dims"], False))
    return Emit(TORCH.dot("linalg").dot("vector_norm")(X, dim=Size(axes), **options))


@emitter(CumSum=dict(op="sum"), CumProd=dict(op="prod"))
def cumulative(layer, ins, out, *, op: str) -> Emit:
    p = layer.params
    dim = _dim(p["axis"] % len(ins[0]))
    if not p["exclusive"] and not p["reverse"]:
        return Emit(TORCH.dot(f"cum{op}")(X, dim=dim))
    flags = _options(exclusive=(p["exclusive"], False), reverse=(p["reverse"], False))
    return Emit(NNC_LAYERS.dot("cumulative")(X, op, dim, **flags))


# --- quantizers, top-k, matrices, shapes (layers whose op nnc.py holds where torch has none) ---------


def _defaults_off(layer: Layer, *names: str) -> dict[str, Opt]:
    """Keyword arguments for the parameters `names`, left out at NNC's default (the runtime's default)."""
    from ...layers import REGISTRY

    spec = REGISTRY[layer.type]
    return {n: Opt(layer.params[n], spec.param(n).default) for n in names}


@emitter("DepthwiseDeconvolution")
def depthwise_deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    c, maps = ins[0][0], out[0]
    nd = len(ins[0]) - 1
    # Each output map sums the deconvolutions of `divisor` consecutive input maps: groups = maps.
    # NNC's W is (C, *kernel); torch's (C, 1, *kernel).
    module = NN.dot(f"ConvTranspose{nd}d")(c, maps, kernel_size=Size(p["kernel"]), **_conv_options(p, maps))
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(MODULE(X), module, params)


@emitter("Embed")
def embed(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    shape = tuple(p["shape"])
    call = MODULE(X.dot("long")())  # nnabla reads the indices as integers, truncated
    if len(shape) > 1:
        call = call.dot("unflatten")(-1, _tuple(shape))
    # NNC's W is (num_class, *shape); torch's (num_class, prod(shape)).
    return Emit(call, NN.dot("Embedding")(p["num_class"], math.prod(shape)), (("W", "weight", "same"),))


@emitter("EpsilonInsensitiveLoss")
def epsilon_insensitive_loss(layer, ins, out) -> Emit:
    return Emit(F.dot("relu")((X - Y).dot("abs")() - layer.params["epsilon"]))


@emitter("FixedPointQuantize")
def fixed_point_quantize(layer, ins, out) -> Emit:
    return Emit(
        NNC_LAYERS.dot("fixed_point_quantize")(X, **_defaults_off(layer, "sign", "n", "delta", "ste_fine_grained"))
    )


@emitter("Pow2Quantize")
def pow2_quantize(layer, ins, out) -> Emit:
    names = ("sign", "with_zero", "n", "m", "ste_fine_grained")
    return Emit(NNC_LAYERS.dot("pow2_quantize")(X, **_defaults_off(layer, *names)))


@emitter("Prune")
def prune(layer, ins, out) -> Emit:
    return Emit(NNC_LAYERS.dot("prune")(X, layer.params["rate"]))


@emitter("ClipGradByNorm")
def clip_grad_by_norm(layer, ins, out) -> Emit:
    p = layer.params
    dims = _dims(a % len(ins[0]) for a in p["axes"])
    return Emit(NNC_LAYERS.dot("clip_grad_by_norm")(X, p["clip_norm"], dims=dims))


@emitter("TopKData")
def top_k_data(layer, ins, out) -> Emit:
    p = layer.params
    base = _options(base_axis=(p["base_axis"] % len(ins[0]), 0))
    return Emit(NNC_LAYERS.dot("top_k_data")(X, p["k"], **_defaults_off(layer, "abs", "reduce"), **base))


@emitter("TopKGrad")
def top_k_grad(layer, ins, out) -> Emit:
    p = layer.params
    base = _options(base_axis=(p["base_axis"] % len(ins[0]), 0))
    return Emit(NNC_LAYERS.dot("top_k_grad")(X, p["k"], **_defaults_off(layer, "abs"), **base))


@emitter("MeanSubtraction")
def mean_subtraction(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    b = p["base_axis"] % len(ins[0])
    options = _options(base_axis=(b, 0), update_running_mean=(p["update_running_mean"], True))
    module = NNC_LAYERS.dot("MeanSubtraction")(_tuple(ins[0][b:]), **options)
    return Emit(MODULE(X), module, (("mean", "mean", "same"), ("t", "t", "same")))


@emitter("Sort")
def sort(layer, ins, out) -> Emit:
    p = layer.params
    call = TORCH.dot("sort")(X, dim=_dim(p["axis"] % len(ins[0])), descending=Opt(p["reverse"], False))
    return Emit(_float(call.dot("indices")) if p["only_index"] else call.dot("values"))


@emitter("BatchMatmul")
def batch_matmul(layer, ins, out) -> Emit:
    return Emit(X @ Y)


@emitter("Stack")
def stack(layer, ins, out) -> Emit:
    return Emit(TORCH.dot("stack")(_inputs(ins), dim=_dim(layer.params["axis"] % len(out))))


@emitter("Tile")
def tile(layer, ins, out) -> Emit:
    reps = tuple(layer.params["reps"])
    reps = (1,) * (len(ins[0]) - len(reps)) + reps
    return Emit(X.dot("repeat")(1, *reps))


@emitter("Shift")
def shift(layer, ins, out) -> Emit:
    p = layer.params
    return Emit(NNC_LAYERS.dot("shift")(X, _tuple(p["shift"]), border_mode=Opt(p["border_mode"], "nearest")))


@emitter("MatrixDiag")
def matrix_diag(layer, ins, out) -> Emit:
    return Emit(TORCH.dot("diag_embed")(X))


@emitter("MatrixDiagPart")
def matrix_diag_part(layer, ins, out) -> Emit:
    return Emit(TORCH.dot("diagonal")(X, dim1=-2, dim2=-1))
