"""One Keras emitter per layer type: the layer a spec layer owns (if any) and its call.

An emitter gets the IR layer (resolved parameters) and the per-sample input shapes in the
spec's layout and returns an `Emit` (see `nndsl.backends.builder`). Generated Keras models
compute channels-last: a value of per-sample rank r >= 2 with NNC shape (s0, s1, ...,
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
from ...layers.base import ParamShape
from ..builder import Emit, Unsupported, option, random_layer, working_memory_layer, wrapped
from ..naming import literal

Shape = tuple[int, ...]
Emitter = Callable[[Layer, tuple[Shape, ...], Shape], Emit]
EMITTERS: dict[str, Emitter] = {}


def emitter(*types: str):
    def register(fn: Emitter) -> Emitter:
        for t in types:
            if t in EMITTERS:
                raise ValueError(f"keras emitter for {t} registered twice")
            EMITTERS[t] = fn
        return fn

    return register


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


def _to_spec_order(x: str, shape: Shape) -> str:
    """Code turning a channels-last value of NNC shape `shape` into NNC's order (batch first)."""
    if not _moves_data(shape):
        return x
    r = len(shape)
    return f"ops.transpose({x}, {literal((0, r, *range(1, r)))})"


def _flat(x: str, shape: Shape) -> str:
    """Code for the value flattened in NNC's (C, H, W) order."""
    if len(shape) == 1:
        return x
    return f"ops.reshape({_to_spec_order(x, shape)}, (-1, {math.prod(shape)}))"


def _from_flat(x: str, shape: Shape) -> str:
    """Code for a flat value in NNC's order as a channels-last value of NNC shape `shape`."""
    if len(shape) == 1:
        return x
    if not _moves_data(shape):
        return f"ops.reshape({x}, {literal((-1, *channels_last(shape)))})"
    r = len(shape)
    return f"ops.transpose(ops.reshape({x}, {literal((-1, *shape))}), {literal((0, *range(2, r + 1), 1))})"


def _tuple(v) -> str:
    return literal(tuple(v))


def _size(v) -> str:
    """A per-axis size: one int when every axis agrees (`3`), else a tuple."""
    v = tuple(v)
    return str(v[0]) if len(set(v)) == 1 else literal(v)


def _options(**options) -> str:
    """`, name=value` for the options that differ from Keras's defaults (given as (value, default))."""
    return "".join(option(k, v, default) for k, (v, default) in options.items())


def _float(x: str) -> str:
    """A boolean tensor as 0/1 in the dtype of the layer's computation."""
    return f'ops.cast({x}, "float32")'


# --- layers with parameters -----------------------------------------------------------------------


def _spatial(ins: Shape, p, what: str) -> int:
    nd = len(ins) - 1
    if nd not in (1, 2, 3) or len(p["kernel"]) != nd:
        raise Unsupported(f"{what} over {len(p['kernel'])} of {nd} spatial axes")
    return nd


def _padded(x: str, pad, nd: int) -> str:
    """`x` padded with NNC's symmetric `pad` by an explicit `ZeroPadding*D`, the padding
    every Keras lowering here uses (as keras.applications writes it) with "valid": one form
    for every stride and pad, never "same" where it happens to agree, so that instances of a
    unit that differ only in stride or pad (a downsampling block and the others) have the
    same code and merge into one class."""
    return wrapped(f"layers.ZeroPadding{nd}D({_size(pad)})(", x, ")", any(pad))


def _strided_dilated(p) -> tuple[dict, str]:
    """Keras refuses strides together with dilation: such a convolution runs with stride 1 and
    its output is subsampled (the same windows); returns the parameters to use and the slice."""
    p = {**p, "dilation": tuple(1 if k == 1 else d for d, k in zip(p["dilation"], p["kernel"], strict=True))}
    if any(s > 1 for s in p["stride"]) and any(d > 1 for d in p["dilation"]):
        steps = ", ".join(f"::{s}" if s > 1 else ":" for s in p["stride"])
        return {**p, "stride": (1,) * len(p["stride"])}, f"[:, {steps}]"
    return p, ""


def _connected(layer: Layer) -> dict[str, str]:
    """The placeholders (`{1}`...) of the Parameter layers given to the layer's connectors, by NNC name."""
    first = len(layer.inputs) - len(layer.connectors)
    return {c: f"{{{first + k}}}" for k, c in enumerate(layer.connectors)}


def _own_bias(layer: Layer, con: dict[str, str]) -> tuple[str | None, str | None]:
    """A layer whose W a Parameter gives: the layer holding its own b (if any), and b's expression."""
    if "b" in con:
        return None, con["b"]
    if not layer.params["bias"]:
        return None, None
    (b,) = [q for q in layer.parameters if q.name == "b"]
    return f"nnc_layers.Parameter({_tuple(b.shape)})", "{m}({0})"


# The nnc_layers.Parameter holding a layer's own b (`_own_bias`) takes b's initializer as `initializer`.
_HELD_BIAS = (("b", "initializer"),)


@emitter("Parameter")
def parameter(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    module = f"nnc_layers.Parameter({_tuple(layer.params['size'])})"
    return Emit("{m}({batch_ref})", module, (("", "value", "same"),), init_args=(("", "initializer"),))


def _connected_convolution(layer: Layer, ins: tuple[Shape, ...], con: dict[str, str]) -> Emit:
    """A Convolution given its W or b by a Parameter layer: NNC's W (out, in, *kernel) turned to Keras's
    (*kernel, in, out) in the call, b added channels-last."""
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, "Convolution")
    x = _padded("{0}", p["pad"], nd)
    if "W" in con:
        module, bias = _own_bias(layer, con)
        params = (("b", "value", "same"),) if module else ()
        kernel = f"ops.transpose({con['W']}, {_tuple((*range(2, nd + 2), 1, 0))})"
        conv = "ops.conv(" if p["group"] == 1 else "nnc_layers.grouped_conv("
        group = "" if p["group"] == 1 else f", {p['group']}"
        call = (
            f"{conv}{x}, {kernel}{group}"
            + _options(
                strides=(_size(p["stride"]), "1"),
                dilation_rate=(_size(p["dilation"]), "1"),
            )
            + ")"
            + subsample
        )
    else:
        module = (
            f"layers.Conv{nd}D({p['out_maps']}, {_size(p['kernel'])}"
            + _options(
                strides=(_size(p["stride"]), "1"),
                dilation_rate=(_size(p["dilation"]), "1"),
                groups=(str(p["group"]), "1"),
            )
            + ", use_bias=False)"
        )
        params, bias = (("W", "kernel", "conv"),), con["b"]
        call = f"{{m}}({x})" + subsample
    return Emit(call if bias is None else f"ops.add({call}, {bias})", module, params, init_args=_HELD_BIAS)


def _connected_affine(layer: Layer, ins: tuple[Shape, ...], out: Shape, con: dict[str, str]) -> Emit:
    """An Affine given its W or b by a Parameter layer. The input is flattened channels-last, so NNC's W
    rows (C, H, W order) are permuted to that order in the call; b is added in NNC's (flat) order."""
    x, n_in, n_out = ins[0], math.prod(ins[0]), math.prod(out)
    flat = "layers.Flatten()({0})" if len(x) > 1 else "{0}"
    if "W" in con:
        module, bias = _own_bias(layer, con)
        params = (("b", "value", "same"),) if module else ()
        w = con["W"]
        if _moves_data(x):
            r = len(x)
            w = f"ops.transpose(ops.reshape({w}, {_tuple((*x, n_out))}), {_tuple((*range(1, r), 0, r))})"
        call = f"ops.matmul({flat}, ops.reshape({w}, {_tuple((n_in, n_out))}))"
    else:
        module, bias = f"layers.Dense({n_out}, use_bias=False)", con["b"]
        params = (("W", "kernel", "affine_cl:" + "x".join(map(str, x)) if _moves_data(x) else "affine"),)
        call = f"{{m}}({flat})"
    if bias is not None:
        call = f"ops.add({call}, " + (f"ops.reshape({bias}, (-1,))" if len(out) > 1 else bias) + ")"
    return Emit(_from_flat(call, out), module, params, init_args=_HELD_BIAS)


@emitter("Convolution")
def convolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    con = _connected(layer)
    if con:
        return _connected_convolution(layer, ins, con)
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, "Convolution")
    module = f"layers.Conv{nd}D({p['out_maps']}, {_size(p['kernel'])}" + _options(
        strides=(_size(p["stride"]), "1"),
        dilation_rate=(_size(p["dilation"]), "1"),
        groups=(str(p["group"]), "1"),
        use_bias=(str(p["bias"]), "True"),
    )
    params = (("W", "kernel", "conv"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    call = "{m}(" + _padded("{0}", p["pad"], nd) + ")" + subsample
    return Emit(call, module + ")", params)


@emitter("DepthwiseConvolution")
def depthwise(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p, subsample = _strided_dilated(layer.params)
    nd = _spatial(ins[0], p, "DepthwiseConvolution")
    module = f"layers.DepthwiseConv{nd}D({_size(p['kernel'])}" + _options(
        strides=(_size(p["stride"]), "1"),
        depth_multiplier=(str(p["multiplier"]), "1"),
        dilation_rate=(_size(p["dilation"]), "1"),
        use_bias=(str(p["bias"]), "True"),
    )
    params = (("W", "kernel", "depthwise"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    call = "{m}(" + _padded("{0}", p["pad"], nd) + ")" + subsample
    return Emit(call, module + ")", params, init_args=(("W", "depthwise_initializer"),))


@emitter("Deconvolution")
def deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    nd = _spatial(ins[0], p, "Deconvolution")
    if p["group"] != 1 or (any(d != 1 for d in p["dilation"]) and any(s != 1 for s in p["stride"])):
        return _runtime_deconvolution(layer, ins)
    module = f"layers.Conv{nd}DTranspose({p['out_maps']}, {_size(p['kernel'])}" + _options(
        strides=(_size(p["stride"]), "1"),
        dilation_rate=(_size(p["dilation"]), "1"),
        use_bias=(str(p["bias"]), "True"),
    )
    # NNC's pad removes rows and columns from the full transposed output.
    call = wrapped(f"layers.Cropping{nd}D({_size(p['pad'])})(", "{m}({0})", ")", any(p["pad"]))
    params = (("W", "kernel", "conv"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(call, module + ")", params)


def _runtime_deconvolution(layer: Layer, ins: tuple[Shape, ...]) -> Emit:
    """nnc_layers.Deconvolution, W in NNC's layout: a grouped Deconvolution, or one with stride and dilation."""
    p = layer.params
    ones, zeros = _tuple((1,) * len(p["kernel"])), _tuple((0,) * len(p["kernel"]))
    module = f"nnc_layers.Deconvolution({ins[0][0]}, {p['out_maps']}, {_tuple(p['kernel'])}" + _options(
        stride=(_tuple(p["stride"]), ones),
        pad=(_tuple(p["pad"]), zeros),
        dilation=(_tuple(p["dilation"]), ones),
        group=(str(p["group"]), "1"),
        bias=(str(p["bias"]), "True"),
    )
    params = (("W", "kernel", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module + ")", params)


@emitter("Affine")
def affine(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    con = _connected(layer)
    if con:
        return _connected_affine(layer, ins, out, con)
    p = layer.params
    x = ins[0]
    module = f"layers.Dense({math.prod(out)}" + _options(use_bias=(str(p["bias"]), "True")) + ")"
    layout = "affine"
    if len(x) > 1:
        call = "{m}(layers.Flatten()({0}))"
        if _moves_data(x):
            layout = "affine_cl:" + "x".join(map(str, x))
    else:
        call = "{m}({0})"
    call = _from_flat(call, out)
    params = (("W", "kernel", layout),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit(call, module, params)


@emitter("BatchNormalization")
def batch_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    (axis,) = p["axes"]  # nnabla's takes one (the compiler checks)
    # NNC's decay rate is the share of the running statistics kept: Keras's momentum.
    module = f"nnc.BatchNormalization(momentum={literal(p['decay_rate'])}, epsilon={literal(p['epsilon'])}"
    module += (f", axis={_axis(axis, len(ins[0]))}" if axis != 0 else "") + ")"
    params = (
        ("beta", "beta", "same"),
        ("gamma", "gamma", "same"),
        ("mean", "moving_mean", "same"),
        ("var", "moving_variance", "same"),
    )
    return Emit("{m}({0})", module, params)


# Keras's normalization layers hold beta and gamma under NNC's names.
_NORM_PARAMS = (("beta", "beta", "same"), ("gamma", "gamma", "same"))


def _channel_norm(layer: Layer, ins: tuple[Shape, ...]) -> str:
    """`, axis=...` for NNC's channel axis where it is not the first (Keras's default, the last)."""
    a = layer.params["channel_axis"]
    return "" if a == 0 else f", axis={_axis(a, len(ins[0]))}"


@emitter("LayerNormalization")
def layer_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """layers.LayerNormalization over every axis of a sample: nnabla's with batch_axis 0. Its beta and
    gamma have the sample's channels-last shape, NNC's the channels-first one."""
    rank = len(ins[0])
    axes = f"axis={literal(tuple(range(1, rank + 1)))}, " if rank > 1 else ""
    module = f"layers.LayerNormalization({axes}epsilon={literal(layer.params['epsilon'])})"
    layout = "channels_last" if rank > 1 else "same"
    return Emit("{m}({0})", module, (("beta", "beta", layout), ("gamma", "gamma", layout)))


@emitter("InstanceNormalization", "GroupNormalization")
def group_normalization(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """layers.GroupNormalization over the (last, channels-last) channel axis; InstanceNormalization is
    its case of a group per channel (Keras has no InstanceNormalization layer)."""
    axis = _channel_norm(layer, ins)
    p = layer.params
    groups = p.get("num_groups", ins[0][p["channel_axis"]])
    module = f"layers.GroupNormalization({groups}{axis}, epsilon={literal(p['epsilon'])})"
    return Emit("{m}({0})", module, _NORM_PARAMS)


@emitter("PReLU")
def prelu(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    rank = len(ins[0])
    own = _axis(layer.params["base_axis"], rank)  # the axis of the slopes; the others share them
    shared = f"shared_axes={literal(tuple(a for a in range(1, rank + 1) if a != own))}" if rank >= 2 else ""
    module = f"layers.PReLU({shared})"  # NNC's initial slope: an alpha_initializer from the IR
    return Emit("{m}({0})", module, (("slope", "alpha", "same"),))


@emitter("BinaryConnectAffine", "BinaryWeightAffine", "BinaryConnectConvolution", "BinaryWeightConvolution")
def binary(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """nnc_layers' binary layers keep NNC's layouts and names (W, Wb, alpha, b) and initialize themselves."""
    p = layer.params
    q = {q.name: q for q in layer.parameters}  # the initializers the IR gives W and b
    inits = f"w_init={literal(q['W'].init)}, w_init_multiplier={literal(q['W'].init_multiplier)}"
    if layer.type.startswith("BinaryConnect"):  # BinaryWeight* have no bias (see nndsl/layers/quantize.py)
        b = q.get("b") or ParamShape("b", (), init=p["b_init"], init_multiplier=p["b_init_multiplier"])
        b_inits = f"b_init={literal(b.init)}, b_init_multiplier={literal(b.init_multiplier)}"
        inits = f"bias={p['bias']}, {inits}, {b_inits}"
    if layer.type.endswith("Affine"):
        # The layer takes the input flattened in NNC's order and returns (batch, *out_shape).
        x = ins[0]
        call = "{m}(" + _flat("{0}", x) + ")"
        if len(out) > 1:
            call = _from_flat(f"ops.reshape({call}, (-1, {math.prod(out)}))", out)
        module = f"nnc_layers.{layer.type}({math.prod(x)}, {_tuple(p['out_shape'])}, {inits})"
    else:
        _spatial(ins[0], p, layer.type)
        call = "{m}({0})"
        module = (
            f"nnc_layers.{layer.type}({ins[0][0]}, {p['out_maps']}, {_tuple(p['kernel'])}, "
            f"stride={_tuple(p['stride'])}, pad={_tuple(p['pad'])}, dilation={_tuple(p['dilation'])}, "
            f"{inits})"
        )
    names = [q.name for q in layer.parameters]
    return Emit(call, module, tuple((n, n, "same") for n in names), initialized=True)


# --- stateless layers ------------------------------------------------------------------------------


def _simple(types: dict[str, str]) -> None:
    for t, call in types.items():
        EMITTERS[t] = lambda layer, ins, out, call=call: Emit(call)


_simple(
    {
        "Identity": "{0}",
        "Unlink": "ops.stop_gradient({0})",
        "ReLU": "ops.relu({0})",
        "Sigmoid": "ops.sigmoid({0})",
        "Tanh": "ops.tanh({0})",
        "Swish": "ops.silu({0})",
        "GELU": "ops.gelu({0}, approximate=True)",
        "SELU": "ops.selu({0})",
        "ReLU6": "ops.relu6({0})",
        "SoftPlus": "ops.softplus({0})",
        "SoftSign": "ops.softsign({0})",
        "Mish": "{0} * ops.tanh(ops.softplus({0}))",
        "HardTanh": "ops.clip({0}, -1.0, 1.0)",
        "LogSigmoid": "ops.log_sigmoid({0})",
        "Abs": "ops.abs({0})",
        "Exp": "ops.exp({0})",
        "Log": "ops.log({0})",
        "Round": "ops.sign({0}) * ops.floor(ops.abs({0}) + 0.5)",  # nnabla rounds half away from zero
        "Ceil": "ops.ceil({0})",
        "Floor": "ops.floor({0})",
        "Add2": "{0} + {1}",
        "Sub2": "{0} - {1}",
        "Mul2": "{0} * {1}",
        "Div2": "{0} / {1}",
        "Pow2": "ops.power({0}, {1})",
        "Maximum2": "ops.maximum({0}, {1})",
        "Minimum2": "ops.minimum({0}, {1})",
        "Equal": _float("ops.equal({0}, {1})"),
        "NotEqual": _float("ops.not_equal({0}, {1})"),
        "Greater": _float("ops.greater({0}, {1})"),
        "GreaterEqual": _float("ops.greater_equal({0}, {1})"),
        "Less": _float("ops.less({0}, {1})"),
        "LessEqual": _float("ops.less_equal({0}, {1})"),
        "LogicalAnd": _float("ops.logical_and(ops.not_equal({0}, 0), ops.not_equal({1}, 0))"),
        "LogicalOr": _float("ops.logical_or(ops.not_equal({0}, 0), ops.not_equal({1}, 0))"),
        "LogicalXor": _float("ops.logical_xor(ops.not_equal({0}, 0), ops.not_equal({1}, 0))"),
        "LogicalNot": _float("ops.equal({0}, 0)"),
        "BinaryTanh": "nnc_layers.binary_tanh({0})",
        "BinarySigmoid": "nnc_layers.binary_sigmoid({0})",
        "BinaryError": "nnc_layers.binary_error({0}, {1})",
        "SquaredError": "ops.square({0} - {1})",
        "AbsoluteError": "ops.abs({0} - {1})",
        # nnabla's: log of the probability clamped at float32's smallest normal (-log gives 87.34, not inf)
        "BinaryCrossEntropy": (
            "-({1} * ops.log(ops.maximum({0}, nnc.TINY)) + (1 - {1}) * ops.log(ops.maximum(1 - {0}, nnc.TINY)))"
        ),
        "SigmoidCrossEntropy": "ops.relu({0}) - {0} * {1} + ops.log1p(ops.exp(-ops.abs({0})))",
    }
)

_SCALAR = {
    "MulScalar": "{0} * {v}",
    "AddScalar": "{0} + {v}",
    "RSubScalar": "{v} - {0}",
    "RDivScalar": "{v} / {0}",
    "PowScalar": "ops.power({0}, {v})",
    "RPowScalar": "ops.power({v}, {0})",
    "MaximumScalar": "ops.maximum({0}, {v})",
    "MinimumScalar": "ops.minimum({0}, {v})",
    "EqualScalar": _float("ops.equal({0}, {v})"),
    "NotEqualScalar": _float("ops.not_equal({0}, {v})"),
    "GreaterScalar": _float("ops.greater({0}, {v})"),
    "GreaterEqualScalar": _float("ops.greater_equal({0}, {v})"),
    "LessScalar": _float("ops.less({0}, {v})"),
    "LessEqualScalar": _float("ops.less_equal({0}, {v})"),
}
for _t, _call in _SCALAR.items():
    EMITTERS[_t] = lambda layer, ins, out, call=_call: Emit(
        call.replace("{v}", literal(layer.params["value"])).replace("{0} + -", "{0} - ")
    )


@emitter("LeakyReLU")
def leaky_relu(layer, ins, out) -> Emit:
    return Emit(f"ops.leaky_relu({{0}}, negative_slope={literal(layer.params['alpha'])})")


@emitter("ELU")
def elu(layer, ins, out) -> Emit:
    return Emit(f"ops.elu({{0}}, alpha={literal(layer.params['alpha'])})")


@emitter("Softmax", "LogSoftmax")
def softmax(layer, ins, out) -> Emit:
    fn = "softmax" if layer.type == "Softmax" else "log_softmax"
    return Emit(f"ops.{fn}({{0}}, axis={_axis(layer.params['axis'], len(ins[0]))})")


@emitter("HuberLoss")
def huber(layer, ins, out) -> Emit:
    d = literal(layer.params["delta"])
    # nnabla: d^2 inside delta, delta * (2|d| - delta) outside.
    return Emit(
        f"ops.where(ops.abs({{0}} - {{1}}) < {d}, ops.square({{0}} - {{1}}), {d} * (2 * ops.abs({{0}} - {{1}}) - {d}))"
    )


@emitter("SoftmaxCrossEntropy", "CategoricalCrossEntropy")
def cross_entropy(layer, ins, out) -> Emit:
    axis = _axis(layer.params["axis"], len(ins[0]))
    label = f'ops.cast({{1}}, "int32"), axis={axis}'
    if layer.type == "SoftmaxCrossEntropy":
        return Emit(f"-ops.take_along_axis(ops.log_softmax({{0}}, axis={axis}), {label})")
    return Emit(f"-ops.log(ops.maximum(ops.take_along_axis({{0}}, {label}), nnc.TINY))")  # nnabla's clamp


@emitter("TopNError")
def top_n_error(layer, ins, out) -> Emit:
    axis = _axis(layer.params["axis"], len(ins[0]))
    return Emit(f"nnc_layers.top_n_error({{0}}, {{1}}, n={layer.params['n']}, axis={axis})")


@emitter("KLMultinomial")
def kl_multinomial(layer, ins, out) -> Emit:
    x = ins[0]
    base = layer.params["base_axis"]
    kl = "{0} * (ops.log({0}) - ops.log({1}))"
    flat = f"ops.reshape({_to_spec_order(kl, x)}, {_tuple((-1, *x[:base], math.prod(x[base:])))})"
    return Emit(_from_flat(f"ops.reshape(ops.sum({flat}, axis=-1), (-1, {math.prod(out)}))", out))


@emitter("MaxPooling", "AveragePooling", "SumPooling")
def pooling(layer, ins, out) -> Emit:
    p = layer.params
    x = ins[0]
    nd = len(p["kernel"])
    mode = {"MaxPooling": "max", "AveragePooling": "average", "SumPooling": "sum"}[layer.type]
    including = p.get("including_pad", True)
    if not p["ignore_border"] or nd != len(x) - 1 or nd > 3 or (any(p["pad"]) and mode != "max" and not including):
        # nnabla's windows without ignore_border, pooling over fewer axes than the spatial ones,
        # or averages that leave the padding out: nnc_layers.Pooling implements nnabla's rule.
        extra = f", including_pad={including}" if layer.type == "AveragePooling" else ""
        return Emit(
            "{m}({0})",
            f"nnc_layers.Pooling({literal(mode)}, {_tuple(p['kernel'])}, {_tuple(p['stride'])}, {_tuple(p['pad'])}, "
            f"ignore_border={p['ignore_border']}{extra})",
        )
    args = _size(p["kernel"]) + _options(strides=(_size(p["stride"]), _size(p["kernel"])))
    if mode == "max":  # padding never wins a maximum
        widths = ((0, 0), *((q, q) for q in p["pad"]), (0, 0))
        src = wrapped("ops.pad(", "{0}", f', {literal(widths)}, constant_values=float("-inf"))', any(p["pad"]))
    else:
        src = _padded("{0}", p["pad"], nd)
    kind = "MaxPooling" if mode == "max" else "AveragePooling"
    call = f"layers.{kind}{nd}D({args})({src})"
    if mode == "sum":
        call = f"{call} * {math.prod(p['kernel'])}"
    return Emit(call)


@emitter("GlobalAveragePooling")
def global_average_pooling(layer, ins, out) -> Emit:
    nd = len(ins[0]) - 1
    if nd == 0:
        return Emit("{0}")
    return Emit(f"ops.mean({{0}}, axis={_tuple(range(1, nd + 1))}, keepdims=True)")


@emitter("Unpooling")
def unpooling(layer, ins, out) -> Emit:
    k = tuple(layer.params["kernel"])
    rank = len(ins[0])
    nd = rank - 1
    if len(k) == nd and 1 <= nd <= 3:
        return Emit(f"layers.UpSampling{nd}D({_size(k)})({{0}})")
    # nnabla's unpooling repeats along the last len(kernel) axes, whichever they are: ops.repeat on each
    call = "{0}"
    for a, f in zip(range(rank - len(k), rank), k, strict=True):
        if f > 1:
            call = f"ops.repeat({call}, {f}, axis={_axis(a, rank)})"
    return Emit(call)


@emitter("Concatenate")
def concatenate(layer, ins, out) -> Emit:
    items = ", ".join(f"{{{i}}}" for i in range(len(ins)))
    return Emit(f"ops.concatenate([{items}], axis={_axis(layer.params['axis'], len(out))})")


@emitter("Sum", "Mean", "Max", "Min", "Prod")
def reduce(layer, ins, out) -> Emit:
    p = layer.params
    x = ins[0]
    fn = {"Sum": "sum", "Mean": "mean", "Max": "max", "Min": "min", "Prod": "prod"}[layer.type]
    spec_axes = {a % len(x) for a in p["axes"]}
    axes = tuple(sorted(_axis(a, len(x)) for a in spec_axes))
    call = f"ops.{fn}({{0}}, axis={_tuple(axes)}" + (", keepdims=True)" if p["keep_dims"] else ")")
    if not p["keep_dims"] and 0 in spec_axes and len(out) >= 2:
        # The first axis left becomes the channels: move it last.
        call = f"ops.transpose({call}, {_tuple((0, *range(2, len(out) + 1), 1))})"
    return Emit(call)


@emitter("Slice")
def slice_(layer, ins, out) -> Emit:
    p = layer.params
    x = ins[0]
    per_axis = {}
    for a, (start, stop, step) in enumerate(zip(p["start"], p["stop"], p["step"], strict=True)):
        stop_text = "" if stop is None or stop < 0 and step < 0 else str(stop)
        per_axis[a] = f"{start}:{stop_text}" + (f":{step}" if step != 1 else "")
    parts = [":"] + [per_axis.get(a_spec, ":") for a_spec in _keras_order(len(x))]
    while len(parts) > 1 and parts[-1] in ("0:", ":"):
        parts.pop()
    return Emit("{0}[" + ", ".join(parts) + "]")


def _keras_order(rank: int) -> list[int]:
    """NNC's per-sample axes in the order a Keras model holds them."""
    return [*range(1, rank), 0] if rank >= 2 else list(range(rank))


@emitter("Reshape")
def reshape(layer, ins, out) -> Emit:
    return Emit(_from_flat(_flat("{0}", ins[0]), out))


@emitter("Transpose")
def transpose(layer, ins, out) -> Emit:
    axes = tuple(layer.params["axes"])
    src = _keras_order(len(ins[0]))  # Keras position -> NNC axis of the input
    where = {a: k for k, a in enumerate(src)}
    perm = [where[axes[a]] + 1 for a in _keras_order(len(out))]
    return Emit(f"ops.transpose({{0}}, {_tuple((0, *perm))})")


@emitter("Flip")
def flip(layer, ins, out) -> Emit:
    call = "{0}"
    for a in layer.params["axes"]:
        call = f"ops.flip({call}, axis={_axis(a, len(ins[0]))})"
    return Emit(call)


@emitter("Broadcast")
def broadcast(layer, ins, out) -> Emit:
    return Emit(f"{{0}} + ops.zeros({_tuple((1, *channels_last(out)))})")


@emitter("Pad")
def pad(layer, ins, out) -> Emit:
    p = layer.params
    x = ins[0]
    widths = list(p["pad_width"])
    pairs = [tuple(widths[i : i + 2]) for i in range(0, len(widths), 2)]
    per_axis = {len(x) - len(pairs) + k: pair for k, pair in enumerate(pairs)}
    keras_widths = ((0, 0), *(per_axis.get(a, (0, 0)) for a in _keras_order(len(x))))
    mode = {"constant": "constant", "reflect": "reflect", "repeat": "edge"}[p["mode"]]
    if mode == "constant":
        return Emit(f"ops.pad({{0}}, {literal(keras_widths)}, constant_values={literal(p['constant_value'])})")
    if mode == "edge":
        return Emit(f'ops.pad({{0}}, {literal(keras_widths)}, mode="edge")')
    return Emit(f'ops.pad({{0}}, {literal(keras_widths)}, mode="reflect")')


@emitter("OneHot")
def one_hot(layer, ins, out) -> Emit:
    if len(ins[0]) != 1 or ins[0][0] != 1 or len(out) != 1:  # several indices per sample: nnabla's one_hot
        return _in_spec_order(f"nnc_layers.one_hot({{0}}, {_tuple(layer.params['shape'])})", ins, out)
    return Emit(f'ops.one_hot(ops.cast({{0}}[:, 0], "int32"), {out[0]})')


@emitter("Dropout")
def dropout(layer, ins, out) -> Emit:
    p = layer.params
    call = "{m}({0})" if p["skip_at_test"] else "{m}({0}, training=True)"
    return Emit(call, f"layers.Dropout({literal(p['p'])})")


@emitter("ImageAugmentation", "RandomFlip", "RandomShift", "RandomCrop")
def random(layer, ins, out) -> Emit:
    return random_layer("nnc_layers", layer)


# --- virtual adversarial training -------------------------------------------------------------------


@emitter("WorkingMemory")
def working_memory(layer, ins, out) -> Emit:
    return working_memory_layer("nnc_layers", layer)


@emitter("VATNoise")
def vat_noise(layer, ins, out) -> Emit:
    p = layer.params
    rank = len(ins[0])
    axes = tuple(sorted(_axis(a, rank) for a in range(p["base_axis"], rank)))
    return Emit("{m}({0}, {1})", f"nnc_layers.VATNoise({_tuple(axes)}, eps={literal(float(p['epsilon']))})")


# --- math, trigonometric and logical layers ----------------------------------------------------------

_simple(
    {
        "Sin": "ops.sin({0})",
        "Cos": "ops.cos({0})",
        "Tan": "ops.tan({0})",
        "Sinh": "ops.sinh({0})",
        "Cosh": "ops.cosh({0})",
        "ASin": "ops.arcsin({0})",
        "ACos": "ops.arccos({0})",
        "ATan": "ops.arctan({0})",
        "ASinh": "ops.arcsinh({0})",
        "ACosh": "ops.arccosh({0})",
        "ATanh": "ops.arctanh({0})",
        "ATan2": "ops.arctan2({0}, {1})",
        "Sinc": "nnc_layers.sinc({0})",  # nnabla's sin(x) / x with gradient 0 at 0 (ops.sinc: sin(pi x) / (pi x))
        "TanhShrink": "{0} - ops.tanh({0})",
        "HardSigmoid": "ops.clip(0.2 * {0} + 0.5, 0.0, 1.0)",  # nnabla's slope 0.2 (ops.hard_sigmoid's is 1/6)
        "IsNaN": _float("ops.isnan({0})"),
        "IsInf": _float("ops.isinf({0})"),
        "ResetNaN": "ops.where(ops.isnan({0}), 0.0, {0})",
        "ResetInf": "ops.where(ops.isinf({0}), 0.0, {0})",
    }
)


@emitter("AddN", "MulN")
def n_ary(layer, ins, out) -> Emit:
    op = " + " if layer.type == "AddN" else " * "
    return Emit(op.join(f"{{{i}}}" for i in range(len(ins))))


@emitter("Sign")
def sign(layer, ins, out) -> Emit:
    return Emit("nnc_layers.sign({0}" + _options(alpha=(literal(layer.params["alpha"]), "0.0")) + ")")


@emitter("CReLU", "CELU")
def concatenated(layer, ins, out) -> Emit:
    """ReLU (ELU) of x and of -x joined on `axis` (nnabla's CReLU and CELU, not ops.celu)."""
    axis = _axis(layer.params["axis"], len(ins[0]))
    if layer.type == "CReLU":
        return Emit(f"ops.concatenate([ops.relu({{0}}), ops.relu(-{{0}})], axis={axis})")
    alpha = literal(layer.params["alpha"])
    return Emit(f"ops.concatenate([ops.elu({{0}}, alpha={alpha}), ops.elu(-{{0}}, alpha={alpha})], axis={axis})")


@emitter("LogicalAndScalar", "LogicalOrScalar", "LogicalXorScalar")
def logical_scalar(layer, ins, out) -> Emit:
    """nnabla reads `value` as a boolean: each layer is then a constant, x != 0 or x == 0."""
    value = layer.params["value"] != 0
    kind = layer.type.removeprefix("Logical").removesuffix("Scalar")
    call = {
        ("And", False): "ops.zeros_like({0})",
        ("And", True): _float("ops.not_equal({0}, 0)"),
        ("Or", False): _float("ops.not_equal({0}, 0)"),
        ("Or", True): "ops.ones_like({0})",
        ("Xor", False): _float("ops.not_equal({0}, 0)"),
        ("Xor", True): _float("ops.equal({0}, 0)"),
    }[kind, value]
    return Emit(call)


@emitter("Norm")
def norm(layer, ins, out) -> Emit:
    """(sum |x|^p)^(1/p) over `axes` (ops.norm reads two axes as a matrix norm)."""
    p = layer.params
    x = ins[0]
    spec_axes = {a % len(x) for a in p["axes"]}
    axes = _tuple(sorted(_axis(a, len(x)) for a in spec_axes))
    keep = ", keepdims=True" if p["keep_dims"] else ""
    order = float(p["p"])
    if order == 2:
        call = f"ops.sqrt(ops.sum(ops.square({{0}}), axis={axes}{keep}))"
    elif order == 1:
        call = f"ops.sum(ops.abs({{0}}), axis={axes}{keep})"
    else:
        q = literal(order)
        call = f"ops.power(ops.sum(ops.power(ops.abs({{0}}), {q}), axis={axes}{keep}), 1 / {q})"
    if not p["keep_dims"] and 0 in spec_axes and len(out) >= 2:
        # The first axis left becomes the channels: move it last (as `reduce`).
        call = f"ops.transpose({call}, {_tuple((0, *range(2, len(out) + 1), 1))})"
    return Emit(call)


@emitter("CumSum", "CumProd")
def cumulative(layer, ins, out) -> Emit:
    p = layer.params
    axis = _axis(p["axis"], len(ins[0]))
    op = "sum" if layer.type == "CumSum" else "prod"
    if op == "sum" and not p["exclusive"] and not p["reverse"]:
        return Emit(f"ops.cumsum({{0}}, axis={axis})")
    # A product always takes nnc_layers': TensorFlow's cumprod gradient divides by x (wrong at zeros).
    flags = _options(exclusive=(str(p["exclusive"]), "False"), reverse=(str(p["reverse"]), "False"))
    return Emit(f"nnc_layers.cumulative({{0}}, {literal(op)}, {axis}{flags})")


# --- quantizers, top-k, matrices, shapes (layers whose op nnc_layers holds where Keras has none) -----


def _spec(x: str, shape: Shape) -> str:
    """Code for a channels-last value of NNC shape `shape` in NNC's order and shape, (batch, *shape)."""
    if len(shape) < 2:
        return x
    if _moves_data(shape):
        return _to_spec_order(x, shape)
    return f"ops.reshape({x}, {_tuple((-1, *shape))})"


def _held(x: str, shape: Shape) -> str:
    """Code for a value in NNC's order, (batch, *shape), as the channels-last value a Keras model holds."""
    if len(shape) < 2:
        return x
    if _moves_data(shape):
        r = len(shape)
        return f"ops.transpose({x}, {_tuple((0, *range(2, r + 1), 1))})"
    return f"ops.reshape({x}, {_tuple((-1, *channels_last(shape)))})"


def _in_spec_order(call: str, ins: tuple[Shape, ...], out: Shape) -> Emit:
    """A call written for NNC's order (`{0}`... in NNC's layout): its inputs and output converted."""
    for i, shape in enumerate(ins):
        call = call.replace(f"{{{i}}}", _spec(f"{{{i}}}", shape).replace("{", "{{").replace("}", "}}"))
    return Emit(_held(call.replace("{{", "{").replace("}}", "}"), out))


def _defaults_off(layer: Layer, *names: str) -> str:
    """`name=value` for the parameters `names` whose value is not NNC's default (the runtime's default)."""
    from ...layers import REGISTRY

    spec = REGISTRY[layer.type]
    return ", ".join(f"{n}={literal(layer.params[n])}" for n in names if layer.params[n] != spec.param(n).default)


def _runtime_layer(layer: Layer, cls: str, *names: str, **given: str) -> Emit:
    """`nnc_layers.<cls>(...)` with the parameters `names` off NNC's defaults and the `given` ones."""
    args = ", ".join(a for a in (*(f"{k}={v}" for k, v in given.items()), _defaults_off(layer, *names)) if a)
    return Emit("{m}({0})", f"nnc_layers.{cls}({args})")


@emitter("DepthwiseDeconvolution")
def depthwise_deconvolution(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    _spatial(ins[0], p, "DepthwiseDeconvolution")
    module = f"nnc_layers.DepthwiseDeconvolution({ins[0][0]}, {_tuple(p['kernel'])}" + _options(
        stride=(_tuple(p["stride"]), _tuple((1,) * len(p["kernel"]))),
        pad=(_tuple(p["pad"]), _tuple((0,) * len(p["kernel"]))),
        dilation=(_tuple(p["dilation"]), _tuple((1,) * len(p["kernel"]))),
        divisor=(str(p["divisor"]), "1"),
        bias=(str(p["bias"]), "True"),
    )
    params = (("W", "kernel", "same"),) + ((("b", "bias", "same"),) if p["bias"] else ())
    return Emit("{m}({0})", module + ")", params)


@emitter("Embed")
def embed(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    shape = tuple(p["shape"])
    call = f'{{m}}(ops.cast({_spec("{0}", ins[0])}, "int32"))'  # nnabla reads the indices as integers, truncated
    if len(shape) > 1:
        call = f"ops.reshape({call}, {_tuple((-1, *out))})"
    # NNC's W is (num_class, *shape); Keras's embeddings (num_class, prod(shape)).
    module = f"layers.Embedding({p['num_class']}, {math.prod(shape)})"
    return Emit(_held(call, out), module, (("W", "embeddings", "same"),))


@emitter("EpsilonInsensitiveLoss")
def epsilon_insensitive_loss(layer, ins, out) -> Emit:
    return Emit(f"ops.relu(ops.abs({{0}} - {{1}}) - {literal(layer.params['epsilon'])})")


@emitter("FixedPointQuantize")
def fixed_point_quantize(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "FixedPointQuantize", "sign", "n", "delta", "ste_fine_grained")


@emitter("Pow2Quantize")
def pow2_quantize(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "Pow2Quantize", "sign", "with_zero", "n", "m", "ste_fine_grained")


@emitter("Prune")
def prune(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "Prune", rate=literal(layer.params["rate"]))


@emitter("ClipGradByNorm")
def clip_grad_by_norm(layer, ins, out) -> Emit:
    p = layer.params
    axes = _tuple(a % len(ins[0]) for a in p["axes"])
    return _runtime_layer(layer, "ClipGradByNorm", clip_norm=literal(p["clip_norm"]), axes=axes)


@emitter("TopKData")
def top_k_data(layer, ins, out) -> Emit:
    p = layer.params
    base = {"base_axis": str(p["base_axis"] % len(ins[0]))} if p["base_axis"] % len(ins[0]) else {}
    return _runtime_layer(layer, "TopKData", "abs", "reduce", k=str(p["k"]), **base)


@emitter("TopKGrad")
def top_k_grad(layer, ins, out) -> Emit:
    p = layer.params
    base = {"base_axis": str(p["base_axis"] % len(ins[0]))} if p["base_axis"] % len(ins[0]) else {}
    return _runtime_layer(layer, "TopKGrad", "abs", k=str(p["k"]), **base)


@emitter("Shift")
def shift(layer, ins, out) -> Emit:
    return _runtime_layer(layer, "Shift", "border_mode", shifts=_tuple(layer.params["shift"]))


@emitter("MeanSubtraction")
def mean_subtraction(layer: Layer, ins: tuple[Shape, ...], out: Shape) -> Emit:
    p = layer.params
    b = p["base_axis"] % len(ins[0])
    base = {"base_axis": str(b)} if b else {}
    emit = _runtime_layer(layer, "MeanSubtraction", "update_running_mean", shape=_tuple(ins[0][b:]), **base)
    return Emit(emit.call, emit.module, (("mean", "mean", "same"), ("t", "t", "same")))


@emitter("Sort")
def sort(layer, ins, out) -> Emit:
    p = layer.params
    axis = _axis(p["axis"], len(ins[0]))
    if p["only_index"]:
        return Emit(_float(f"ops.argsort({'-' if p['reverse'] else ''}{{0}}, axis={axis})"))
    call = f"ops.sort({{0}}, axis={axis})"
    return Emit(f"ops.flip({call}, axis={axis})" if p["reverse"] else call)


@emitter("BatchMatmul")
def batch_matmul(layer, ins, out) -> Emit:
    return _in_spec_order("ops.matmul({0}, {1})", ins, out)


@emitter("Stack")
def stack(layer, ins, out) -> Emit:
    items = ", ".join(f"{{{i}}}" for i in range(len(ins)))
    return _in_spec_order(f"ops.stack([{items}], axis={layer.params['axis'] % len(out) + 1})", ins, out)


@emitter("Tile")
def tile(layer, ins, out) -> Emit:
    reps = tuple(layer.params["reps"])
    reps = (1,) * (len(ins[0]) - len(reps)) + reps
    return Emit(f"ops.tile({{0}}, {_tuple((1, *(reps[a] for a in _keras_order(len(reps)))))})")


@emitter("MatrixDiag")
def matrix_diag(layer, ins, out) -> Emit:
    return _in_spec_order(f"ops.expand_dims({{0}}, -1) * ops.eye({ins[0][-1]})", ins, out)


@emitter("MatrixDiagPart")
def matrix_diag_part(layer, ins, out) -> Emit:
    return _in_spec_order("ops.diagonal({0}, axis1=-2, axis2=-1)", ins, out)
