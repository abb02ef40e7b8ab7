"""Layer configurations a backend once refused with E0801, and nnabla's own function for each.

Shared by tests/nnc/test_more_layer_configurations.py and tools/nnc_more_layer_fixtures.py (which
runs nnabla 1.39's functions on these inputs and parameters and stores what they computed, outputs
and gradients, in tests/nnc/fixtures/more_layers/more_layers.npz). Each case is one network: input
`x` (batch first, BATCH samples), output `y` of one layer named after the case. Its parameters are
keyed by the spec's names (`<case>/W`, ...) and given to nnabla in nnabla's shapes (a batch axis of
1 for the normalizations' beta and gamma); inputs and parameters come from a fixed formula, the same
on every machine.
"""

from __future__ import annotations

import math

import numpy as np

BATCH = 2

# name: (per-sample input shape, the layer call (input x; lines before it, separated by a newline, go
# before it in the network), nnabla's expression with F, x (batch first)
# and P (the parameters by spec name, in nnabla's shapes), the input's kind: "data" or "index:<n>"
# (integers in [0, n)). The cases in the order of how common they are in real networks.
CASES: dict[str, tuple[tuple[int, ...], str, str, str]] = {
    # Keras: grouped transposed convolutions, and strided dilated ones
    "deconv_group": (
        (4, 5, 5),
        "Deconvolution(x, 6, kernel=3x3, group=2, stride=2x2, pad=1x1)",
        "F.deconvolution(x, P['deconv_group/W'], P['deconv_group/b'], 1, (1, 1), (2, 2), None, 2)",
        "data",
    ),
    "deconv_group_1d": (
        (4, 6),
        "Deconvolution(x, 2, kernel=2, group=2, stride=3)",  # a kernel shorter than the stride
        "F.deconvolution(x, P['deconv_group_1d/W'], P['deconv_group_1d/b'], 1, (0,), (3,), None, 2)",
        "data",
    ),
    "deconv_group_3d": (
        (4, 3, 3, 3),
        "Deconvolution(x, 4, kernel=2x2x2, group=4, stride=2x2x2, bias=false)",
        "F.deconvolution(x, P['deconv_group_3d/W'], None, 1, (0, 0, 0), (2, 2, 2), None, 4)",
        "data",
    ),
    "deconv_stride_dilation": (
        (3, 4, 5),
        "Deconvolution(x, 4, kernel=3x2, stride=2x3, dilation=2x2, pad=1x0)",
        "F.deconvolution(x, P['deconv_stride_dilation/W'], P['deconv_stride_dilation/b'], 1, (1, 0), (2, 3), (2, 2))",
        "data",
    ),
    "dwdeconv_stride_dilation": (
        (4, 4, 4),
        "DepthwiseDeconvolution(x, kernel=3x3, stride=2x2, dilation=2x1, pad=1x1, divisor=2)",
        "F.depthwise_deconvolution(x, P['dwdeconv_stride_dilation/W'], P['dwdeconv_stride_dilation/b'], 1,"
        " (1, 1), (2, 2), (2, 1), 2)",
        "data",
    ),
    # both: normalizations over other axes than the first
    "bn_features_last": (
        (6, 4),
        "BatchNormalization(x, axes=1, epsilon=0.001)",
        "F.batch_normalization(x, P['bn_features_last/beta'], P['bn_features_last/gamma'],"
        " P['bn_features_last/mean'], P['bn_features_last/var'], [2], 0.9, 0.001, False)",
        "data",
    ),
    "bn_axis1": (
        (3, 4, 5),
        "BatchNormalization(x, axes=1, epsilon=0.01)",
        "F.batch_normalization(x, P['bn_axis1/beta'], P['bn_axis1/gamma'], P['bn_axis1/mean'],"
        " P['bn_axis1/var'], [2], 0.9, 0.01, False)",
        "data",
    ),
    "instance_norm_last": (
        (6, 3),
        "InstanceNormalization(x, channel_axis=1)",
        "F.instance_normalization(x, P['instance_norm_last/beta'], P['instance_norm_last/gamma'], 2, [0], 1e-05)",
        "data",
    ),
    "group_norm_axis1": (
        (3, 4, 5),
        "GroupNormalization(x, 2, channel_axis=1, epsilon=0.001)",
        "F.group_normalization(x, P['group_norm_axis1/beta'], P['group_norm_axis1/gamma'], 2, 2, [0], 0.001)",
        "data",
    ),
    # both: PReLU with its slopes along another axis
    "prelu_features_last": (
        (5, 4),
        "PReLU(x, base_axis=1)",
        "F.prelu(x, P['prelu_features_last/slope'], 2)",
        "data",
    ),
    "prelu_axis2": ((3, 4, 5), "PReLU(x, base_axis=2)", "F.prelu(x, P['prelu_axis2/slope'], 3)", "data"),
    # Keras: Unpooling over other axes than the spatial ones
    "unpooling_all_axes": ((2, 3, 4), "Unpooling(x, 2x3x2)", "F.unpooling(x, (2, 3, 2))", "data"),
    "unpooling_last_axes": ((2, 2, 3, 4), "Unpooling(x, 3x2)", "F.unpooling(x, (3, 2))", "data"),
    "unpooling_vector": ((5,), "Unpooling(x, 2)", "F.unpooling(x, (2,))", "data"),
    # Keras: a grouped Convolution whose W a Parameter layer gives
    "conv_param_group": (
        (4, 5, 5),
        "w = conv_param_group_w: Parameter(6x2x3x3)\nConvolution(x, 6, kernel=3x3, group=2, pad=1x1, w=w)",
        "F.convolution(x, P['conv_param_group_w'], P['conv_param_group/b'], 1, (1, 1), None, None, 2)",
        "data",
    ),
    # both: OneHot of several indices per sample
    "onehot_indices": ((5, 1), "OneHot(x, 6)", "F.one_hot(x, (6,))", "index:6"),
    "onehot_2d": ((3, 2), "OneHot(x, 3x4)", "F.one_hot(x, (3, 4))", "index:3"),
}

# Configurations nnabla itself refuses, which the compiler refuses too (a positioned error at the
# layer): name -> (per-sample input shape, the layer call, nnabla's expression with F (nnabla.functions)
# and FB (nnabla.function_bases: the function NNC's network files instantiate, as
# nnabla.utils.load_function does), the parameters' shapes with the batch axis).
REFUSED: dict[str, tuple[tuple[int, ...], str, str, dict[str, tuple[int, ...]]]] = {
    "dwconv_3d": (
        (3, 4, 5, 5),
        "DepthwiseConvolution(x, kernel=3x3x3, multiplier=2, pad=1x1x1)",
        "F.depthwise_convolution(x, P['W'], None, 1, (1, 1, 1), None, None, 2)",
        {"W": (6, 3, 3, 3)},
    ),
    "dwdeconv_3d": (
        (2, 3, 3, 3),
        "DepthwiseDeconvolution(x, kernel=2x2x2)",
        "F.depthwise_deconvolution(x, P['W'], None, 1)",
        {"W": (2, 2, 2, 2)},
    ),
    "bn_two_axes": (
        (3, 4, 5),
        "BatchNormalization(x, axes=0x2)",
        "FB.batch_normalization(x, P['beta'], P['gamma'], P['mean'], P['var'], [1, 3])",
        {k: (1, 3, 1, 5) for k in ("beta", "gamma", "mean", "var")},
    ),
}

# The BatchNormalization cases as a network an optimizer trains runs them: nnabla's batch_stat, the
# batch's statistics normalise and the running ones move towards them.
TRAINING = {
    name: expr.replace(", False)", ", True)") for name, (_, call, expr, _) in CASES.items() if "BatchNorm" in call
}

# The inputs of the "index" kinds are integers: no gradient reaches them.
GRADIENT_CASES = [name for name, case in CASES.items() if case[3] == "data"]


def _values(n: int, seed: int) -> np.ndarray:
    """`n` numbers in [0, 1) from a fixed formula (as math_layer_cases: the same on every machine)."""
    i = np.arange(n, dtype=np.float64)
    return np.modf(np.abs(np.sin(i * 12.9898 + seed * 78.233 + 0.5) * 43758.5453))[0]


def _seed(text: str) -> int:
    return sum((k + 1) * ord(c) for k, c in enumerate(text)) % 1000


def input_of(name: str) -> np.ndarray:
    """The case's input, batch first, float32 (integers for an index kind)."""
    shape, _, _, kind = CASES[name]
    u = _values(BATCH * math.prod(shape), _seed(name)).reshape(BATCH, *shape)
    if kind.startswith("index:"):
        limit = int(kind.split(":")[1])
        return np.floor(u * limit).astype(np.float32)
    return np.round(4 * u - 2, 3).astype(np.float32)


def parameter_value(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter's value (spec name `name`, NNC shape `shape`): numbers in [-1, 1), a variance in
    [0.5, 1.5)."""
    u = _values(math.prod(shape), _seed(name))
    v = u + 0.5 if name.endswith("/var") else 2 * u - 1
    return np.round(v, 4).astype(np.float32).reshape(shape)


def dy(shape: tuple[int, ...]) -> np.ndarray:
    """The output gradient fed to a case's backward pass: numbers spread over [-1, 1]."""
    return np.linspace(-1.0, 1.0, math.prod(shape), dtype=np.float32).reshape(shape)


def network(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def spec() -> str:
    """One network per case: input x, output y of the layer named after the case."""
    parts = ["# Layer configurations a backend once refused (tests/nnc/more_layer_cases.py spec).\n"]
    for name, (shape, call, _, _) in CASES.items():
        *before, call = call.split("\n")
        lines = [f"network {network(name)} {{", f'    x = Input({"x".join(map(str, shape))}, dataset="x")']
        lines += [f"    {line}" for line in before] + [f"    y = {name}: {call}", "}"]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def case_parameters(project, name: str) -> dict:
    """The case's parameters (every layer's of its network): spec name -> the IR's ParamShape."""
    net = project.network(network(name))
    return {layer.parameter_name(q): q for layer in net.layers for q in layer.parameters}
