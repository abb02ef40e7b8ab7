"""One PyTorch emitter per layer type: the module a layer owns (if any) and its forward
expression.

An emitter gets the IR layer (resolved parameters) and the per-sample input shapes and
returns an `Emit`: `module` is constructor code for a layer with parameters or state
(None for a stateless layer), `call` is the forward expression, with `{m}` standing for the
module attribute and `{0}`, `{1}`... for the inputs. Axis parameters index the per-sample
shape, so they are shifted by one for the batch axis. Nothing here derives a shape: every
size comes from the IR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ...ir import Layer
from ...layers.base import ParamShape
from ..builder import Emit, option, random_layer, working_memory_layer
from ..naming import literal

Shape = tuple[int, ...]


Emitter = Callable[[Layer, tuple[Shape, ...], Shape], Emit]
EMITTERS: dict[str, Emitter] = {}


def emitter(*types: str):
    def register(fn: Emitter) -> Emitter:
        for t in types:
            if t in EMITTERS:
                raise ValueError(f"torch emitter for {t} registered twice")
            EMITTERS[t] = fn
        return fn

    return register


def _tuple(v) -> str:
    return literal(tuple(v))


def _size(v) -> str:
    """A per-axis size as PyTorch code: one int when every axis agrees (`3`), else a tuple."""
    v = tuple(v)
    return str(v[0]) if len(set(v)) == 1 else literal(v)


def _options(**options) -> str:
    """`, name=value` for the options that differ from PyTorch's defaults (given as (value, default))."""
    return "".join(option(k, v, default) for k, (v, default) in options.items())


def _dim(axis: int) -> int:
    return axis + 1  # per-sample axis -> batch-first tensor axis


def _dims(axes) -> str:
    return _tuple(_dim(a) for a in axes)


# --- layers with parameters -----------------------------------------------------------------


def _connected(layer: Layer) -> dict[str, str]:
    """The placeholders (`{1}`...) of the Parameter layers given to the layer's connectors, by NNC name."""
    first = len(layer.inputs) - len(layer.connectors)
    return {c: f"{{{first + k}}}" for k, c in enumerate(layer.connectors)}


def _own_bias(layer: Layer, con: dict[str, str]) -> tuple[str | None, str]:
    """A layer whose W a Parameter gives: the module holding its own b (if any), and b's expression."""
    if "b" in con:
        return None, con["b"]
    if not layer.params["bias"]:
        return None, "None"
    (b,) = [q for q in layer.parameters if q.name == "b"]
    return f"nnc.Parameter({_tuple(b.shape)})", "{m}()"


@emitter("Parameter")
def parameter(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    return Emit("{m}()", f"nnc.Parameter({_tuple(layer.params['size'])})", (("", "value", "same"),))


@emitter("Convolution")
def convolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = len(ins[0]) - 1
    con = _connected(layer)
    if "W" in con:
        module, bias = _own_bias(layer, con)
        options = _options(
            stride=(_size(p["stride"]), "1"),
            padding=(_size(p["pad"]), "0"),
            dilation=(_size(p["dilation"]), "1"),
            groups=(str(p.get("group", 1)), "1"),
        )
        params = (("b", "value", "same"),) if module else ()
        return Emit(f"F.conv{nd}d({{0}}, {con['W']}, {bias}{options})", module, params)
    if "b" in con:
        module = (
            f"nn.Conv{nd}d({ins[0][0]}, {p['out_maps']}, kernel_size={_size(p['kernel'])}"
            + _options(
                stride=(_size(p["stride"]), "1"),
                padding=(_size(p["pad"]), "0"),
                dilation=(_size(p["dilation"]), "1"),
                groups=(str(p.get("group", 1)), "1"),
            )
            + ", bias=False)"
        )
        ones = ", 1" * nd
        return Emit(f"{{m}}({{0}}) + {con['b']}.reshape(-1{ones})", module, (("W", "weight", "same"),))
    module = f"nn.Conv{nd}d({ins[0][0]}, {p['out_maps']}, kernel_size={_size(p['kernel'])}" + _conv_options(p) + ")"
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module, params)


def _conv_options(p, groups: int | None = None) -> str:
    return _options(
        stride=(_size(p["stride"]), "1"),
        padding=(_size(p["pad"]), "0"),
        dilation=(_size(p["dilation"]), "1"),
        groups=(str(groups if groups is not None else p.get("group", 1)), "1"),
        bias=(str(p["bias"]), "True"),
    )


@emitter("Deconvolution")
def deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = len(ins[0]) - 1
    module = (
        f"nn.ConvTranspose{nd}d({ins[0][0]}, {p['out_maps']}, kernel_size={_size(p['kernel'])}" + _conv_options(p) + ")"
    )
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module, params)


@emitter("DepthwiseConvolution")
def depthwise(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    c = ins[0][0]
    nd = len(ins[0]) - 1
    module = f"nn.Conv{nd}d({c}, {c * p['multiplier']}, kernel_size={_size(p['kernel'])}" + _conv_options(p, c) + ")"
    # NNC's W is (C*multiplier, kh, kw); torch's is (C*multiplier, 1, kh, kw).
    params = (("W", "weight", "depthwise"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module, params)


@emitter("Affine")
def affine(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    n_in, n_out = math.prod(ins[0]), math.prod(out)
    con = _connected(layer)
    if con:
        x = "{0}.flatten(1)" if len(ins[0]) > 1 else "{0}"
        if "W" in con:  # NNC's layout, (inputs, *outputs)
            module, bias = _own_bias(layer, con)
            params = (("b", "value", "same"),) if module else ()
            call = f"({x} @ {con['W']}.reshape({n_in}, {n_out}))"
        else:
            module, bias = f"nn.Linear({n_in}, {n_out}, bias=False)", con["b"]
            params = (("W", "weight", "affine"),)
            call = f"{{m}}({x})"
        if len(out) > 1:
            call += f".unflatten(1, {_tuple(out)})"
        return Emit(call if bias == "None" else f"{call} + {bias}", module, params)
    module = f"nn.Linear({n_in}, {n_out}" + _options(bias=(str(p["bias"]), "True")) + ")"
    call = "{m}({0}.flatten(1))" if len(ins[0]) > 1 else "{m}({0})"
    if len(out) > 1:
        call += f".unflatten(1, {_tuple(out)})"
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
    momentum = literal(round(1 - p["decay_rate"], 12))
    channels = math.prod(x[a] for a in axes)
    module = f"nn.BatchNorm{kind}({channels}, eps={literal(p['epsilon'])}, momentum={momentum})"
    params = (
        ("beta", "bias", "bn"),
        ("gamma", "weight", "bn"),
        ("mean", "running_mean", "bn"),
        ("var", "running_var", "bn"),
    )
    initial = (*_NORM_INITIAL, ("mean", "Constant", 0.0), ("var", "Constant", 1.0))  # PyTorch's running statistics
    return Emit(_along(axes), module, params, initial=initial)


def _along(axes: tuple[int, ...]) -> str:
    """A channels-first module's call over NNC's per-sample `axes` (`nnc.along` moves them to the channels)."""
    return "{m}({0})" if axes == (0,) else f"nnc.along({{m}}, {{0}}, {_tuple(axes)})"


# PyTorch's normalization modules start with bias 0 and weight 1 (NNC's beta and gamma defaults).
_NORM_INITIAL = (("beta", "Constant", 0.0), ("gamma", "Constant", 1.0))
_NORM_PARAMS = (("beta", "bias", "same"), ("gamma", "weight", "same"))


def _channel_norm(layer: Layer, x: Shape) -> tuple[str, Shape]:
    """The call over NNC's channel axis and the input's shape with that axis first (the module's)."""
    a = layer.params["channel_axis"]
    return _along((a,)), (x[a], *x[:a], *x[a + 1 :])


@emitter("LayerNormalization")
def layer_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nn.LayerNorm over every axis of a sample: nnabla's with batch_axis 0, beta and gamma of the
    sample's shape."""
    module = f"nn.LayerNorm({_tuple(ins[0])}, eps={literal(layer.params['epsilon'])})"
    return Emit("{m}({0})", module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("InstanceNormalization")
def instance_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nn.InstanceNorm*d with affine parameters (its statistics always the instance's, as nnabla's);
    a sample of channels alone is nn.GroupNorm with a group per channel (InstanceNorm needs a spatial axis)."""
    call, x = _channel_norm(layer, ins[0])
    eps = literal(layer.params["epsilon"])
    if len(x) == 1:
        module = f"nn.GroupNorm({x[0]}, {x[0]}, eps={eps})"
    else:
        module = f"nn.InstanceNorm{len(x) - 1}d({x[0]}, eps={eps}, affine=True)"
    return Emit(call, module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("GroupNormalization")
def group_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    call, x = _channel_norm(layer, ins[0])
    p = layer.params
    module = f"nn.GroupNorm({p['num_groups']}, {x[0]}, eps={literal(p['epsilon'])})"
    return Emit(call, module, _NORM_PARAMS, initial=_NORM_INITIAL)


@emitter("PReLU")
def prelu(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    a = layer.params["base_axis"] % len(ins[0])
    (slope,) = layer.parameters
    # A constant slope is nn.PReLU's own init; another initializer is applied to its default 0.25.
    init = float(slope.init_multiplier) if slope.init == "Constant" else 0.25
    module = f"nn.PReLU({ins[0][a]}, init={literal(init)})"
    call = _along((a,))
    return Emit(call, module, (("slope", "weight", "same"),), initial=(("slope", "Constant", init),))


@emitter("BinaryConnectAffine", "BinaryWeightAffine", "BinaryConnectConvolution", "BinaryWeightConvolution")
def binary(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nnc's binary modules keep NNC's layouts and names (W, Wb, alpha, b) and initialize themselves."""
    p = layer.params
    q = {q.name: q for q in layer.parameters}  # the initializers the IR gives W and b
    inits = f"w_init={literal(q['W'].init)}, w_init_multiplier={literal(q['W'].init_multiplier)}"
    if layer.type.startswith("BinaryConnect"):  # BinaryWeight* have no bias (see nndsl/layers/quantize.py)
        b = q.get("b") or ParamShape("b", (), init=p["b_init"], init_multiplier=p["b_init_multiplier"])
        b_inits = f"b_init={literal(b.init)}, b_init_multiplier={literal(b.init_multiplier)}"
        inits = f"bias={p['bias']}, {inits}, {b_inits}"
    if layer.type.endswith("Affine"):
        module = f"nnc.{layer.type}({math.prod(ins[0])}, {_tuple(p['out_shape'])}, {inits})"
    else:
        module = (
            f"nnc.{layer.type}({ins[0][0]}, {p['out_maps']}, {_tuple(p['kernel'])}, stride={_tuple(p['stride'])}, "
            f"pad={_tuple(p['pad'])}, dilation={_tuple(p['dilation'])}, {inits})"
        )
    names = [q.name for q in layer.parameters]
    return Emit("{m}({0})", module, tuple((n, n, "same") for n in names), initialized=True)


# --- stateless layers ------------------------------------------------------------------------


def _simple(types: dict[str, str]) -> None:
    for t, call in types.items():
        EMITTERS[t] = lambda layer, ins, out, call=call: Emit(call)


_simple(
    {
        "Identity": "{0}",
        "Unlink": "{0}.detach()",
        "ReLU": "F.relu({0})",
        "Sigmoid": "torch.sigmoid({0})",
        "Tanh": "torch.tanh({0})",
        "Swish": "F.silu({0})",
        "GELU": "F.gelu({0}, approximate='tanh')",
        "SELU": "F.selu({0})",
        "ReLU6": "F.relu6({0})",
        "SoftPlus": "F.softplus({0})",
        "SoftSign": "F.softsign({0})",
        "Mish": "F.mish({0})",
        "HardTanh": "F.hardtanh({0})",
        "LogSigmoid": "F.logsigmoid({0})",
        "Abs": "torch.abs({0})",
        "Exp": "torch.exp({0})",
        "Log": "torch.log({0})",
        "Round": "torch.round({0})",
        "Ceil": "torch.ceil({0})",
        "Floor": "torch.floor({0})",
        "Add2": "{0} + {1}",
        "Sub2": "{0} - {1}",
        "Mul2": "{0} * {1}",
        "Div2": "{0} / {1}",
        "Pow2": "{0} ** {1}",
        "Maximum2": "torch.maximum({0}, {1})",
        "Minimum2": "torch.minimum({0}, {1})",
        "Equal": "({0} == {1}).float()",
        "NotEqual": "({0} != {1}).float()",
        "Greater": "({0} > {1}).float()",
        "GreaterEqual": "({0} >= {1}).float()",
        "Less": "({0} < {1}).float()",
        "LessEqual": "({0} <= {1}).float()",
        "LogicalAnd": "(({0} != 0) & ({1} != 0)).float()",
        "LogicalOr": "(({0} != 0) | ({1} != 0)).float()",
        "LogicalXor": "(({0} != 0) ^ ({1} != 0)).float()",
        "LogicalNot": "({0} == 0).float()",
        "BinaryTanh": "nnc.binary_tanh({0})",
        "BinarySigmoid": "nnc.binary_sigmoid({0})",
        "BinaryError": "nnc.binary_error({0}, {1})",
        "SquaredError": "({0} - {1}) ** 2",
        "AbsoluteError": "({0} - {1}).abs()",
        # nnabla's: log of the probability clamped at float32's smallest normal (-log gives 87.34, not inf)
        "BinaryCrossEntropy": (
            "-({1} * {0}.clamp_min(nnc.TINY).log() + (1 - {1}) * (1 - {0}).clamp_min(nnc.TINY).log())"
        ),
        "SigmoidCrossEntropy": "F.binary_cross_entropy_with_logits({0}, {1}, reduction='none')",
    }
)

_SCALAR = {
    "MulScalar": "{0} * {v}",
    "AddScalar": "{0} + {v}",
    "RSubScalar": "{v} - {0}",
    "RDivScalar": "{v} / {0}",
    "PowScalar": "{0} ** {v}",
    "RPowScalar": "{v} ** {0}",
    "MaximumScalar": "torch.clamp({0}, min={v})",
    "MinimumScalar": "torch.clamp({0}, max={v})",
    "EqualScalar": "({0} == {v}).float()",
    "NotEqualScalar": "({0} != {v}).float()",
    "GreaterScalar": "({0} > {v}).float()",
    "GreaterEqualScalar": "({0} >= {v}).float()",
    "LessScalar": "({0} < {v}).float()",
    "LessEqualScalar": "({0} <= {v}).float()",
}
for _t, _call in _SCALAR.items():
    EMITTERS[_t] = lambda layer, ins, out, call=_call: Emit(
        call.replace("{v}", literal(layer.params["value"])).replace("{0} + -", "{0} - ")
    )


@emitter("LeakyReLU")
def leaky_relu(layer, ins, out) -> Emit:
    return Emit(f"F.leaky_relu({{0}}, {literal(layer.params['alpha'])})")


@emitter("ELU")
def elu(layer, ins, out) -> Emit:
    return Emit(f"F.elu({{0}}, {literal(layer.params['alpha'])})")


@emitter("Softmax", "LogSoftmax")
def softmax(layer, ins, out) -> Emit:
    fn = "softmax" if layer.type == "Softmax" else "log_softmax"
    return Emit(f"F.{fn}({{0}}, dim={_dim(layer.params['axis'])})")


@emitter("HuberLoss")
def huber(layer, ins, out) -> Emit:
    # nnabla's Huber loss is twice PyTorch's: d^2 inside delta, delta * (2|d| - delta) outside.
    return Emit(f"2 * F.huber_loss({{0}}, {{1}}, reduction='none', delta={literal(layer.params['delta'])})")


@emitter("SoftmaxCrossEntropy", "CategoricalCrossEntropy")
def cross_entropy(layer, ins, out) -> Emit:
    dim = _dim(layer.params["axis"])
    if layer.type == "SoftmaxCrossEntropy":
        return Emit(f"-F.log_softmax({{0}}, dim={dim}).gather({dim}, {{1}}.long())")
    return Emit(
        f"-{{0}}.gather({dim}, {{1}}.long()).clamp_min(nnc.TINY).log()"
    )  # nnabla's clamp, as BinaryCrossEntropy


@emitter("TopNError")
def top_n_error(layer, ins, out) -> Emit:
    return Emit(f"nnc.top_n_error({{0}}, {{1}}, n={layer.params['n']}, axis={_dim(layer.params['axis'])})")


@emitter("KLMultinomial")
def kl_multinomial(layer, ins, out) -> Emit:
    dim = _dim(layer.params["base_axis"])
    return Emit(f"({{0}} * (torch.log({{0}}) - torch.log({{1}}))).flatten({dim}).sum({dim}, keepdim=True)")


def _pool_args(p) -> str:
    return _size(p["kernel"]) + _options(
        stride=(_size(p["stride"]), _size(p["kernel"])), padding=(_size(p["pad"]), "0")
    )


@emitter("MaxPooling", "AveragePooling", "SumPooling")
def pooling(layer, ins, out) -> Emit:
    p = layer.params
    nd = len(p["kernel"])
    if not p["ignore_border"] or nd != len(ins[0]) - 1:
        # nnabla's windows without ignore_border (not PyTorch's ceil_mode), or pooling over
        # fewer axes than the spatial ones: nnc.pooling implements nnabla's rule.
        mode = {"MaxPooling": "max", "AveragePooling": "average", "SumPooling": "sum"}[layer.type]
        extra = f", including_pad={p['including_pad']}" if layer.type == "AveragePooling" else ""
        return Emit(
            f"nnc.pooling({{0}}, {literal(mode)}, {_tuple(p['kernel'])}, {_tuple(p['stride'])}, {_tuple(p['pad'])}, "
            f"ignore_border={p['ignore_border']}{extra})"
        )
    if layer.type == "MaxPooling":
        return Emit(f"F.max_pool{nd}d({{0}}, {_pool_args(p)})")
    include = _options(count_include_pad=(str(p.get("including_pad", True)), "True"))
    call = f"F.avg_pool{nd}d({{0}}, {_pool_args(p)}{include})"
    if layer.type == "SumPooling":
        call = f"{call} * {math.prod(p['kernel'])}"
    return Emit(call)


@emitter("GlobalAveragePooling")
def global_average_pooling(layer, ins, out) -> Emit:
    dims = tuple(range(2, len(ins[0]) + 1))
    return Emit(f"{{0}}.mean(dim={_tuple(dims)}, keepdim=True)" if dims else "{0}")


@emitter("Unpooling")
def unpooling(layer, ins, out) -> Emit:
    k, rank = tuple(layer.params["kernel"]), len(ins[0])
    if len(k) == rank - 1 and 2 <= rank <= 4:  # F.interpolate takes 1 to 3 spatial axes
        return Emit(f"F.interpolate({{0}}, scale_factor={_tuple(k)}, mode='nearest')")
    # nnabla's unpooling repeats along the last len(kernel) axes, whichever they are
    call = "{0}"
    for a, f in zip(range(rank - len(k), rank), k, strict=True):
        if f > 1:
            call = f"{call}.repeat_interleave({f}, dim={a + 1})"
    return Emit(call)


@emitter("Concatenate")
def concatenate(layer, ins, out) -> Emit:
    items = ", ".join(f"{{{i}}}" for i in range(len(ins)))
    return Emit(f"torch.cat([{items}], dim={_dim(layer.params['axis'])})")


@emitter("Sum", "Mean", "Max", "Min", "Prod")
def reduce(layer, ins, out) -> Emit:
    p = layer.params
    keep = p["keep_dims"]
    axes = tuple(_dim(a % len(ins[0])) for a in p["axes"])
    if layer.type in ("Sum", "Mean"):
        return Emit(f"{{0}}.{layer.type.lower()}(dim={_tuple(axes)}, keepdim={keep})")
    call = "{0}"
    for a in sorted(axes, reverse=True):
        fn = {"Max": "amax", "Min": "amin", "Prod": "prod"}[layer.type]
        call = (
            f"{call}.{fn}(dim={a}, keepdim={keep})" if fn == "prod" else f"torch.{fn}({call}, dim={a}, keepdim={keep})"
        )
    return Emit(call)


@emitter("Slice")
def slice_(layer, ins, out) -> Emit:
    p = layer.params
    parts = [":"]
    for start, stop, step in zip(p["start"], p["stop"], p["step"], strict=True):
        stop_text = "" if stop is None or stop < 0 and step < 0 else str(stop)
        parts.append(f"{start}:{stop_text}" + (f":{step}" if step != 1 else ""))
    while len(parts) > 1 and parts[-1] in ("0:", ":"):
        parts.pop()
    return Emit("{0}[" + ", ".join(parts) + "]")


@emitter("Reshape")
def reshape(layer, ins, out) -> Emit:
    return Emit(f"{{0}}.reshape(-1, {', '.join(map(str, out))})")


@emitter("Transpose")
def transpose(layer, ins, out) -> Emit:
    return Emit(f"{{0}}.permute(0, {', '.join(str(_dim(a)) for a in layer.params['axes'])})")


@emitter("Flip")
def flip(layer, ins, out) -> Emit:
    return Emit(f"torch.flip({{0}}, dims={_dims(layer.params['axes'])})")


@emitter("Broadcast")
def broadcast(layer, ins, out) -> Emit:
    return Emit(f"{{0}}.expand(-1, {', '.join(map(str, out))})")


@emitter("Pad")
def pad(layer, ins, out) -> Emit:
    p = layer.params
    widths = list(p["pad_width"])
    pairs = [widths[i : i + 2] for i in range(0, len(widths), 2)]
    flat = [w for pair in reversed(pairs) for w in pair]  # torch pads the last axis first
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "replicate"}[p["mode"]]
    value = f", value={literal(p['constant_value'])}" if mode == "constant" else ""
    return Emit(f"F.pad({{0}}, {_tuple(flat)}, mode={literal(mode)}{value})")


@emitter("OneHot")
def one_hot(layer, ins, out) -> Emit:
    if len(ins[0]) != 1 or ins[0][0] != 1 or len(out) != 1:  # several indices per sample: nnabla's one_hot
        return Emit(f"nnc.one_hot({{0}}, {_tuple(layer.params['shape'])})")
    return Emit(f"F.one_hot({{0}}.long().squeeze(1), {out[0]}).float()")


@emitter("Dropout")
def dropout(layer, ins, out) -> Emit:
    p = layer.params
    active = "self.training" if p["skip_at_test"] else "True"
    return Emit(f"F.dropout({{0}}, {literal(p['p'])}, {active})")


@emitter("ImageAugmentation", "RandomFlip", "RandomShift", "RandomCrop")
def random(layer, ins, out) -> Emit:
    return random_layer("nnc", layer)


# --- virtual adversarial training -------------------------------------------------------------------


@emitter("WorkingMemory")
def working_memory(layer, ins, out) -> Emit:
    return working_memory_layer("nnc", layer)


@emitter("VATNoise")
def vat_noise(layer, ins, out) -> Emit:
    p = layer.params
    return Emit(f"nnc.vat_noise({{0}}, {{1}}, base_axis={p['base_axis']}, eps={literal(float(p['epsilon']))})")


# --- math, trigonometric and logical layers ----------------------------------------------------------

_simple(
    {
        "Sin": "torch.sin({0})",
        "Cos": "torch.cos({0})",
        "Tan": "torch.tan({0})",
        "Sinh": "torch.sinh({0})",
        "Cosh": "torch.cosh({0})",
        "ASin": "torch.asin({0})",
        "ACos": "torch.acos({0})",
        "ATan": "torch.atan({0})",
        "ASinh": "torch.asinh({0})",
        "ACosh": "torch.acosh({0})",
        "ATanh": "torch.atanh({0})",
        "ATan2": "torch.atan2({0}, {1})",
        "Sinc": "torch.sinc({0} / torch.pi)",  # nnabla's sin(x) / x; torch's sinc is sin(pi x) / (pi x)
        "TanhShrink": "F.tanhshrink({0})",
        "HardSigmoid": "torch.clamp(0.2 * {0} + 0.5, 0.0, 1.0)",  # nnabla's slope 0.2 (F.hardsigmoid's is 1/6)
        "IsNaN": "torch.isnan({0}).float()",
        "IsInf": "torch.isinf({0}).float()",
        "ResetNaN": "torch.where(torch.isnan({0}), 0.0, {0})",
        "ResetInf": "torch.where(torch.isinf({0}), 0.0, {0})",
    }
)


@emitter("AddN", "MulN")
def n_ary(layer, ins, out) -> Emit:
    op = " + " if layer.type == "AddN" else " * "
    return Emit(op.join(f"{{{i}}}" for i in range(len(ins))))


@emitter("Sign")
def sign(layer, ins, out) -> Emit:
    return Emit("nnc.sign({0}" + _options(alpha=(literal(layer.params["alpha"]), "0.0")) + ")")


@emitter("CReLU", "CELU")
def concatenated(layer, ins, out) -> Emit:
    """ReLU (ELU) of x and of -x joined on `axis` (nnabla's CReLU and CELU, not torch's F.celu)."""
    dim = _dim(layer.params["axis"] % len(ins[0]))
    if layer.type == "CReLU":
        return Emit(f"torch.cat([F.relu({{0}}), F.relu(-{{0}})], dim={dim})")
    alpha = literal(layer.params["alpha"])
    return Emit(f"torch.cat([F.elu({{0}}, {alpha}), F.elu(-{{0}}, {alpha})], dim={dim})")


@emitter("LogicalAndScalar", "LogicalOrScalar", "LogicalXorScalar")
def logical_scalar(layer, ins, out) -> Emit:
    """nnabla reads `value` as a boolean: each layer is then a constant, x != 0 or x == 0."""
    value = layer.params["value"] != 0
    kind = layer.type.removeprefix("Logical").removesuffix("Scalar")
    call = {
        ("And", False): "torch.zeros_like({0})",
        ("And", True): "({0} != 0).float()",
        ("Or", False): "({0} != 0).float()",
        ("Or", True): "torch.ones_like({0})",
        ("Xor", False): "({0} != 0).float()",
        ("Xor", True): "({0} == 0).float()",
    }[kind, value]
    return Emit(call)


@emitter("Norm")
def norm(layer, ins, out) -> Emit:
    p = layer.params
    axes = tuple(_dim(a % len(ins[0])) for a in p["axes"])
    options = _options(ord=(literal(float(p["p"])), "2.0"), keepdim=(str(p["keep_dims"]), "False"))
    return Emit(f"torch.linalg.vector_norm({{0}}, dim={_size(axes)}{options})")


@emitter("CumSum", "CumProd")
def cumulative(layer, ins, out) -> Emit:
    p = layer.params
    dim = _dim(p["axis"] % len(ins[0]))
    op = "sum" if layer.type == "CumSum" else "prod"
    if not p["exclusive"] and not p["reverse"]:
        return Emit(f"torch.cum{op}({{0}}, dim={dim})")
    flags = _options(exclusive=(str(p["exclusive"]), "False"), reverse=(str(p["reverse"]), "False"))
    return Emit(f"nnc.cumulative({{0}}, {literal(op)}, {dim}{flags})")


# --- quantizers, top-k, matrices, shapes (layers whose op nnc.py holds where torch has none) ---------


def _defaults_off(layer: Layer, *names: str) -> str:
    """`, name=value` for the parameters `names` whose value is not NNC's default (the runtime's default)."""
    from ...layers import REGISTRY

    spec = REGISTRY[layer.type]
    return _options(**{n: (literal(layer.params[n]), literal(spec.param(n).default)) for n in names})


@emitter("DepthwiseDeconvolution")
def depthwise_deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    c, maps = ins[0][0], out[0]
    nd = len(ins[0]) - 1
    # Each output map sums the deconvolutions of `divisor` consecutive input maps: groups = maps.
    # NNC's W is (C, *kernel); torch's (C, 1, *kernel).
    module = f"nn.ConvTranspose{nd}d({c}, {maps}, kernel_size={_size(p['kernel'])}" + _conv_options(p, maps) + ")"
    params = (("W", "weight", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module, params)


@emitter("Embed")
def embed(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    shape = tuple(p["shape"])
    call = "{m}({0}.long())"  # nnabla reads the indices as integers, truncated
    if len(shape) > 1:
        call += f".unflatten(-1, {_tuple(shape)})"
    # NNC's W is (num_class, *shape); torch's (num_class, prod(shape)).
    return Emit(call, f"nn.Embedding({p['num_class']}, {math.prod(shape)})", (("W", "weight", "same"),))


@emitter("EpsilonInsensitiveLoss")
def epsilon_insensitive_loss(layer, ins, out) -> Emit:
    return Emit(f"F.relu(({{0}} - {{1}}).abs() - {literal(layer.params['epsilon'])})")


@emitter("FixedPointQuantize")
def fixed_point_quantize(layer, ins, out) -> Emit:
    return Emit("nnc.fixed_point_quantize({0}" + _defaults_off(layer, "sign", "n", "delta", "ste_fine_grained") + ")")


@emitter("Pow2Quantize")
def pow2_quantize(layer, ins, out) -> Emit:
    names = ("sign", "with_zero", "n", "m", "ste_fine_grained")
    return Emit("nnc.pow2_quantize({0}" + _defaults_off(layer, *names) + ")")


@emitter("Prune")
def prune(layer, ins, out) -> Emit:
    return Emit(f"nnc.prune({{0}}, {literal(layer.params['rate'])})")


@emitter("ClipGradByNorm")
def clip_grad_by_norm(layer, ins, out) -> Emit:
    p = layer.params
    dims = _dims(a % len(ins[0]) for a in p["axes"])
    return Emit(f"nnc.clip_grad_by_norm({{0}}, {literal(p['clip_norm'])}, dims={dims})")


@emitter("TopKData")
def top_k_data(layer, ins, out) -> Emit:
    p = layer.params
    base = _options(base_axis=(str(p["base_axis"] % len(ins[0])), "0"))
    return Emit(f"nnc.top_k_data({{0}}, {p['k']}" + _defaults_off(layer, "abs", "reduce") + base + ")")


@emitter("TopKGrad")
def top_k_grad(layer, ins, out) -> Emit:
    p = layer.params
    base = _options(base_axis=(str(p["base_axis"] % len(ins[0])), "0"))
    return Emit(f"nnc.top_k_grad({{0}}, {p['k']}" + _defaults_off(layer, "abs") + base + ")")


@emitter("MeanSubtraction")
def mean_subtraction(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    b = p["base_axis"] % len(ins[0])
    options = _options(base_axis=(str(b), "0"), update_running_mean=(str(p["update_running_mean"]), "True"))
    module = f"nnc.MeanSubtraction({_tuple(ins[0][b:])}{options})"
    return Emit("{m}({0})", module, (("mean", "mean", "same"), ("t", "t", "same")))


@emitter("Sort")
def sort(layer, ins, out) -> Emit:
    p = layer.params
    call = f"torch.sort({{0}}, dim={_dim(p['axis'] % len(ins[0]))}" + _options(descending=(str(p["reverse"]), "False"))
    return Emit(call + (").indices.float()" if p["only_index"] else ").values"))


@emitter("BatchMatmul")
def batch_matmul(layer, ins, out) -> Emit:
    return Emit("{0} @ {1}")


@emitter("Stack")
def stack(layer, ins, out) -> Emit:
    items = ", ".join(f"{{{i}}}" for i in range(len(ins)))
    return Emit(f"torch.stack([{items}], dim={_dim(layer.params['axis'] % len(out))})")


@emitter("Tile")
def tile(layer, ins, out) -> Emit:
    reps = tuple(layer.params["reps"])
    reps = (1,) * (len(ins[0]) - len(reps)) + reps
    return Emit(f"{{0}}.repeat(1, {', '.join(map(str, reps))})")


@emitter("Shift")
def shift(layer, ins, out) -> Emit:
    p = layer.params
    mode = _options(border_mode=(literal(p["border_mode"]), literal("nearest")))
    return Emit(f"nnc.shift({{0}}, {_tuple(p['shift'])}{mode})")


@emitter("MatrixDiag")
def matrix_diag(layer, ins, out) -> Emit:
    return Emit("torch.diag_embed({0})")


@emitter("MatrixDiagPart")
def matrix_diag_part(layer, ins, out) -> Emit:
    return Emit("torch.diagonal({0}, dim1=-2, dim2=-1)")
