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
from ...layers.base import ParamShape
from .. import shared
from ..builder import Emit
from ..expr import MODULE, Expr, Lit, Module, Opt, Seq, Size, cmp, inp, name

Shape = tuple[int, ...]


Emitter = Callable[[Layer, tuple[Shape, ...], Shape], Emit]
EMITTERS: dict[str, Emitter] = {}

TORCH = Module("torch", "import torch")
NN = Module("nn", "from torch import nn")
F = Module("F", "from torch.nn import functional as F")
NNC = Module("nnc", "from nndsl_runtime.torch import nnc")  # what every model uses
AUGMENT = Module("augment", "from nndsl_runtime.torch import augment")
METRICS = Module("metrics", "from nndsl_runtime.torch import metrics")
NNC_LAYERS = Module("nnc_layers", "from nndsl_runtime.torch import nnc_layers")
X, Y = inp(0), inp(1)


def emitter(*types: str):
    def register(fn: Emitter) -> Emitter:
        for t in types:
            if t in EMITTERS:
                raise ValueError(f"torch emitter for {t} registered twice")
            EMITTERS[t] = fn
        return fn

    return register


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


@emitter("BinaryConnectAffine", "BinaryWeightAffine", "BinaryConnectConvolution", "BinaryWeightConvolution")
def binary(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nnc's binary modules keep NNC's layouts and names (W, Wb, alpha, b) and initialize themselves."""
    p = layer.params
    q = {q.name: q for q in layer.parameters}  # the initializers the IR gives W and b
    inits = {"w_init": q["W"].init, "w_init_multiplier": q["W"].init_multiplier}
    if layer.type.startswith("BinaryConnect"):  # BinaryWeight* have no bias (see nndsl/layers/quantize.py)
        b = q.get("b") or ParamShape("b", (), init=p["b_init"], init_multiplier=p["b_init_multiplier"])
        inits = {"bias": p["bias"], **inits, "b_init": b.init, "b_init_multiplier": b.init_multiplier}
    cls = NNC_LAYERS.dot(layer.type)
    if layer.type.endswith("Affine"):
        module = cls(math.prod(ins[0]), _tuple(p["out_shape"]), **inits)
    else:
        module = cls(
            ins[0][0], p["out_maps"], _tuple(p["kernel"]), stride=_tuple(p["stride"]), pad=_tuple(p["pad"]),
            dilation=_tuple(p["dilation"]), **inits,
        )  # fmt: skip
    names = [q.name for q in layer.parameters]
    return Emit(MODULE(X), module, tuple((n, n, "same") for n in names), initialized=True)


# --- stateless layers ------------------------------------------------------------------------


def _simple(types: dict[str, Expr]) -> None:
    for t, call in types.items():
        EMITTERS[t] = lambda layer, ins, out, call=call: Emit(call)


def _float(e: Expr) -> Expr:
    return e.dot("float")()


_CLAMPED_LOG = NNC.dot("TINY")  # nnabla's clamp of a probability before its log

_simple(
    {
        "Identity": X,
        "Unlink": X.dot("detach")(),
        "ReLU": F.dot("relu")(X),
        "Sigmoid": TORCH.dot("sigmoid")(X),
        "Tanh": TORCH.dot("tanh")(X),
        "Swish": F.dot("silu")(X),
        "GELU": F.dot("gelu")(X, approximate="tanh"),
        "SELU": F.dot("selu")(X),
        "ReLU6": F.dot("relu6")(X),
        "SoftPlus": F.dot("softplus")(X),
        "SoftSign": F.dot("softsign")(X),
        "Mish": F.dot("mish")(X),
        "HardTanh": F.dot("hardtanh")(X),
        "LogSigmoid": F.dot("logsigmoid")(X),
        "Abs": TORCH.dot("abs")(X),
        "Exp": TORCH.dot("exp")(X),
        "Log": TORCH.dot("log")(X),
        "Round": TORCH.dot("round")(X),
        "Ceil": TORCH.dot("ceil")(X),
        "Floor": TORCH.dot("floor")(X),
        "Add2": X + Y,
        "Sub2": X - Y,
        "Mul2": X * Y,
        "Div2": X / Y,
        "Pow2": X**Y,
        "Maximum2": TORCH.dot("maximum")(X, Y),
        "Minimum2": TORCH.dot("minimum")(X, Y),
        "Equal": _float(cmp("==", X, Y)),
        "NotEqual": _float(cmp("!=", X, Y)),
        "Greater": _float(cmp(">", X, Y)),
        "GreaterEqual": _float(cmp(">=", X, Y)),
        "Less": _float(cmp("<", X, Y)),
        "LessEqual": _float(cmp("<=", X, Y)),
        "LogicalAnd": _float(cmp("!=", X, 0) & cmp("!=", Y, 0)),
        "LogicalOr": _float(cmp("!=", X, 0) | cmp("!=", Y, 0)),
        "LogicalXor": _float(cmp("!=", X, 0) ^ cmp("!=", Y, 0)),
        "LogicalNot": _float(cmp("==", X, 0)),
        "BinaryTanh": NNC_LAYERS.dot("binary_tanh")(X),
        "BinarySigmoid": NNC_LAYERS.dot("binary_sigmoid")(X),
        "BinaryError": METRICS.dot("binary_error")(X, Y),
        "SquaredError": (X - Y) ** 2,
        "AbsoluteError": (X - Y).dot("abs")(),
        # nnabla's: log of the probability clamped at float32's smallest normal (-log gives 87.34, not inf)
        "BinaryCrossEntropy": -(
            Y * X.dot("clamp_min")(_CLAMPED_LOG).dot("log")()
            + (1 - Y) * (1 - X).dot("clamp_min")(_CLAMPED_LOG).dot("log")()
        ),
        "SigmoidCrossEntropy": F.dot("binary_cross_entropy_with_logits")(X, Y, reduction="none"),
    }
)

_SCALAR: dict[str, Callable[[Expr], Expr]] = {
    "MulScalar": lambda v: X * v,
    "AddScalar": lambda v: X - Lit(-v.value) if shared.negative(v) else X + v,
    "RSubScalar": lambda v: v - X,
    "RDivScalar": lambda v: v / X,
    "PowScalar": lambda v: X**v,
    "RPowScalar": lambda v: v**X,
    "MaximumScalar": lambda v: TORCH.dot("clamp")(X, min=v),
    "MinimumScalar": lambda v: TORCH.dot("clamp")(X, max=v),
    "EqualScalar": lambda v: _float(cmp("==", X, v)),
    "NotEqualScalar": lambda v: _float(cmp("!=", X, v)),
    "GreaterScalar": lambda v: _float(cmp(">", X, v)),
    "GreaterEqualScalar": lambda v: _float(cmp(">=", X, v)),
    "LessScalar": lambda v: _float(cmp("<", X, v)),
    "LessEqualScalar": lambda v: _float(cmp("<=", X, v)),
}


for _t, _call in _SCALAR.items():
    EMITTERS[_t] = lambda layer, ins, out, call=_call: Emit(call(Lit(layer.params["value"])))


@emitter("LeakyReLU")
def leaky_relu(layer, ins, out) -> Emit:
    return Emit(F.dot("leaky_relu")(X, layer.params["alpha"]))


@emitter("ELU")
def elu(layer, ins, out) -> Emit:
    return Emit(F.dot("elu")(X, layer.params["alpha"]))


@emitter("Softmax", "LogSoftmax")
def softmax(layer, ins, out) -> Emit:
    fn = "softmax" if layer.type == "Softmax" else "log_softmax"
    return Emit(F.dot(fn)(X, dim=_dim(layer.params["axis"])))


@emitter("HuberLoss")
def huber(layer, ins, out) -> Emit:
    # nnabla's Huber loss is twice PyTorch's: d^2 inside delta, delta * (2|d| - delta) outside.
    return Emit(2 * F.dot("huber_loss")(X, Y, reduction="none", delta=layer.params["delta"]))


@emitter("SoftmaxCrossEntropy", "CategoricalCrossEntropy")
def cross_entropy(layer, ins, out) -> Emit:
    dim = _dim(layer.params["axis"])
    if layer.type == "SoftmaxCrossEntropy":
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


@emitter("MaxPooling", "AveragePooling", "SumPooling")
def pooling(layer, ins, out) -> Emit:
    p = layer.params
    nd = len(p["kernel"])
    if not p["ignore_border"] or nd != len(ins[0]) - 1:
        # nnabla's windows without ignore_border (not PyTorch's ceil_mode), or pooling over
        # fewer axes than the spatial ones: nnc.pooling implements nnabla's rule.
        mode = {"MaxPooling": "max", "AveragePooling": "average", "SumPooling": "sum"}[layer.type]
        extra = {"including_pad": p["including_pad"]} if layer.type == "AveragePooling" else {}
        return Emit(
            NNC_LAYERS.dot("pooling")(
                X, mode, _tuple(p["kernel"]), _tuple(p["stride"]), _tuple(p["pad"]), ignore_border=p["ignore_border"],
                **extra,
            )
        )  # fmt: skip
    args, kwargs = _pool_args(p)
    if layer.type == "MaxPooling":
        return Emit(F.dot(f"max_pool{nd}d")(X, *args, **kwargs))
    include = _options(count_include_pad=(p.get("including_pad", True), True))
    call = F.dot(f"avg_pool{nd}d")(X, *args, **kwargs, **include)
    if layer.type == "SumPooling":
        call = call * math.prod(p["kernel"])
    return Emit(call)


@emitter("AdaptiveAveragePooling", "AdaptiveMaxPooling")
def adaptive_pooling(layer, ins, out) -> Emit:
    kind = "avg" if layer.type == "AdaptiveAveragePooling" else "max"
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


@emitter("Sum", "Mean", "Max", "Min", "Prod")
def reduce(layer, ins, out) -> Emit:
    p = layer.params
    keep = p["keep_dims"]
    axes = tuple(_dim(a % len(ins[0])) for a in p["axes"])
    if layer.type in ("Sum", "Mean"):
        return Emit(X.dot(layer.type.lower())(dim=_tuple(axes), keepdim=keep))
    call: Expr = X
    for a in sorted(axes, reverse=True):
        fn = {"Max": "amax", "Min": "amin", "Prod": "prod"}[layer.type]
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

_simple(
    {
        "Sin": TORCH.dot("sin")(X),
        "Cos": TORCH.dot("cos")(X),
        "Tan": TORCH.dot("tan")(X),
        "Sinh": TORCH.dot("sinh")(X),
        "Cosh": TORCH.dot("cosh")(X),
        "ASin": TORCH.dot("asin")(X),
        "ACos": TORCH.dot("acos")(X),
        "ATan": TORCH.dot("atan")(X),
        "ASinh": TORCH.dot("asinh")(X),
        "ACosh": TORCH.dot("acosh")(X),
        "ATanh": TORCH.dot("atanh")(X),
        "ATan2": TORCH.dot("atan2")(X, Y),
        "Sinc": TORCH.dot("sinc")(X / TORCH.dot("pi")),  # nnabla's sin(x) / x; torch's sinc is sin(pi x) / (pi x)
        "TanhShrink": F.dot("tanhshrink")(X),
        "HardSigmoid": TORCH.dot("clamp")(0.2 * X + 0.5, 0.0, 1.0),  # nnabla's slope 0.2 (F.hardsigmoid's is 1/6)
        "IsNaN": _float(TORCH.dot("isnan")(X)),
        "IsInf": _float(TORCH.dot("isinf")(X)),
        "ResetNaN": TORCH.dot("where")(TORCH.dot("isnan")(X), 0.0, X),
        "ResetInf": TORCH.dot("where")(TORCH.dot("isinf")(X), 0.0, X),
    }
)


@emitter("Sign")
def sign(layer, ins, out) -> Emit:
    return Emit(NNC_LAYERS.dot("sign")(X, alpha=Opt(layer.params["alpha"], 0.0)))


@emitter("CReLU", "CELU")
def concatenated(layer, ins, out) -> Emit:
    """ReLU (ELU) of x and of -x joined on `axis` (nnabla's CReLU and CELU, not torch's F.celu)."""
    dim = _dim(layer.params["axis"] % len(ins[0]))
    if layer.type == "CReLU":
        return Emit(TORCH.dot("cat")([F.dot("relu")(X), F.dot("relu")(-X)], dim=dim))
    alpha = layer.params["alpha"]
    return Emit(TORCH.dot("cat")([F.dot("elu")(X, alpha), F.dot("elu")(-X, alpha)], dim=dim))


@emitter("LogicalAndScalar", "LogicalOrScalar", "LogicalXorScalar")
def logical_scalar(layer, ins, out) -> Emit:
    """nnabla reads `value` as a boolean: each layer is then a constant, x != 0 or x == 0."""
    value = layer.params["value"] != 0
    kind = layer.type.removeprefix("Logical").removesuffix("Scalar")
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


@emitter("CumSum", "CumProd")
def cumulative(layer, ins, out) -> Emit:
    p = layer.params
    dim = _dim(p["axis"] % len(ins[0]))
    op = "sum" if layer.type == "CumSum" else "prod"
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
