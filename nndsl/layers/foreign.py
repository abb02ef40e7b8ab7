"""Names a PyTorch or Keras user writes, and NNC's for them: the help of an unknown name.

An unknown layer (E0201), solver (E0602) or schedule (E0603) whose name is in these tables gets
the NNC name as its help, with a note where NNC's semantics differ, in place of "did you mean".
Names are matched as written and then loosely (case and `_` ignored), so torch.nn.functional's
`max_pool2d` finds `MaxPool2d`. Every target is a layer type of the registry, a solver of
`nndsl.solvers.SOLVERS` or a schedule of `nndsl.solvers.SCHEDULES` (tests/test_diagnostics_help.py
checks them); docs/diagnostics.md describes the help.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Foreign:
    names: tuple[str, ...]  # the frameworks' spellings: torch.nn, torch.optim, keras.layers, ...
    target: str  # nndsl's (NNC's) name
    note: str = ""  # how to write it, and where NNC differs
    # (keyword, target, note): a call giving that keyword means another target (SGD(momentum=...))
    keywords: tuple[tuple[str, str, str], ...] = ()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_AFFINE = "Affine(n) flattens its input by itself (C,H,W order), so no Flatten is needed before it"
_CONV = (
    "Convolution(maps, kernel=3x3) infers the input channels; it pads to keep the size by default "
    "(border_mode=same), where PyTorch pads nothing unless told (pad=0 or border_mode=valid for that)"
)
_BN = (
    "NNC's epsilon is 1e-4 (PyTorch's 1e-5, Keras's 1e-3) and decay_rate 0.9 is PyTorch's momentum=0.1 "
    "(Keras's momentum=0.99 is decay_rate=0.99)"
)
_POOL = "stride defaults to the kernel, as in PyTorch; pad=1 pads both sides"

LAYERS: tuple[Foreign, ...] = (
    # layers with weights
    Foreign(("Linear", "LazyLinear", "Dense"), "Affine", _AFFINE),
    Foreign(("Conv1d", "Conv2d", "Conv3d", "LazyConv2d", "Conv1D", "Conv2D", "Conv3D"), "Convolution", _CONV),
    Foreign(
        ("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Conv2DTranspose", "Conv3DTranspose"),
        "Deconvolution",
        "Deconvolution(maps, kernel=3x3, stride=2, pad=1); NNC has no output_padding",
    ),
    Foreign(
        ("DepthwiseConv2D", "DepthwiseConv1D"),
        "DepthwiseConvolution",
        "DepthwiseConvolution(kernel=3x3, multiplier=1) pads nothing by default (border_mode=valid)",
    ),
    Foreign(
        ("SeparableConv2D", "SeparableConv1D"),
        "DepthwiseConvolution",
        "a DepthwiseConvolution followed by Convolution(maps, kernel=1x1)",
    ),
    Foreign(
        ("Embedding",),
        "Embed",
        "Embed(num_class, shape): num_class is PyTorch's num_embeddings, shape its embedding_dim",
    ),
    # normalization
    Foreign(("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"), "BatchNormalization", _BN),
    Foreign(
        ("LayerNorm",),
        "LayerNormalization",
        "NNC's LayerNormalization normalizes all of each sample (PyTorch's normalized_shape = the whole "
        "per-sample shape); epsilon 1e-5",
    ),
    Foreign(("GroupNorm",), "GroupNormalization", "GroupNormalization(num_groups); epsilon 1e-5"),
    Foreign(
        ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"),
        "InstanceNormalization",
        "NNC's InstanceNormalization learns beta and gamma (PyTorch's affine=True)",
    ),
    # pooling
    Foreign(
        ("MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D"),
        "MaxPooling",
        f"MaxPooling(kernel=2x2); {_POOL}",
    ),
    Foreign(
        ("AvgPool1d", "AvgPool2d", "AvgPool3d", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D"),
        "AveragePooling",
        f"AveragePooling(kernel=2x2); {_POOL}; including_pad=true is PyTorch's count_include_pad",
    ),
    Foreign(
        ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool2d"),
        "GlobalAveragePooling",
        "GlobalAveragePooling gives C,1,1: Affine after it needs no Flatten",
    ),
    Foreign(
        ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"),
        "AdaptiveAveragePooling",
        "AdaptiveAveragePooling(size=7x7); for size 1 NNC's own layer is GlobalAveragePooling",
    ),
    Foreign(
        ("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "GlobalMaxPooling2D", "GlobalMaxPooling1D"),
        "AdaptiveMaxPooling",
        "AdaptiveMaxPooling(size=1x1) is a global maximum",
    ),
    Foreign(
        ("Upsample", "UpsamplingNearest2d", "UpSampling2D", "UpSampling1D"),
        "Unpooling",
        "Unpooling(kernel=2x2) repeats each value (nearest-neighbour)",
    ),
    # activations
    Foreign(("SiLU",), "Swish", "Swish is x * sigmoid(x)"),
    Foreign(("Hardsigmoid",), "HardSigmoid", "NNC's HardSigmoid is max(0, min(1, 0.2x + 0.5)), PyTorch's x/6 + 0.5"),
    Foreign(("Hardtanh",), "HardTanh"),
    Foreign(("Softplus",), "SoftPlus"),
    Foreign(("Softsign",), "SoftSign"),
    Foreign(("Tanhshrink",), "TanhShrink"),
    Foreign(
        ("LeakyRelu",),
        "LeakyReLU",
        "NNC's default alpha is 0.1 (PyTorch's negative_slope 0.01, Keras's 0.3)",
    ),
    # regularization
    Foreign(
        ("Dropout1d", "Dropout2d", "Dropout3d", "SpatialDropout2D", "AlphaDropout"),
        "Dropout",
        "NNC's Dropout(p) drops single values, not whole channels",
    ),
    # shape
    Foreign(
        ("Flatten",),
        "Reshape",
        f"{_AFFINE}; elsewhere Reshape(out_shape=n) flattens",
    ),
    Foreign(("Unflatten", "view"), "Reshape", "Reshape(out_shape=3x32x32); shapes leave out the batch axis"),
    Foreign(("Permute",), "Transpose", "Transpose(axes=[1, 2, 0]); axes leave out the batch axis"),
    Foreign(
        ("cat", "concat", "concatenate"),
        "Concatenate",
        "Concatenate(a, b) joins along axis=0, the channels (Keras's default axis=-1 is the last)",
    ),
    Foreign(("stack",), "Stack"),
    Foreign(("Add",), "Add2", "Add2(a, b), or a + b (AddN(a, b, c) for more)"),
    Foreign(("Subtract", "sub"), "Sub2", "Sub2(a, b), or a - b"),
    Foreign(("Multiply", "mul"), "Mul2", "Mul2(a, b), or a * b"),
    Foreign(("Maximum",), "Maximum2", "Maximum2(a, b)"),
    Foreign(("Minimum",), "Minimum2", "Minimum2(a, b)"),
    Foreign(("matmul", "bmm"), "BatchMatmul"),
    Foreign(
        ("ZeroPad2d", "ConstantPad2d", "ZeroPadding2D", "ZeroPadding1D"),
        "Pad",
        "Pad(pad_width=[1, 1, 1, 1]): (before, after) pairs, the last pair for the last axis; "
        "Convolution and the poolings take pad themselves",
    ),
    Foreign(("ReflectionPad2d",), "Pad", 'Pad(pad_width=[1, 1, 1, 1], mode="reflect")'),
    Foreign(("ReplicationPad2d",), "Pad", 'Pad(pad_width=[1, 1, 1, 1], mode="repeat")'),
    Foreign(("Cropping2D", "CenterCrop"), "Slice", "a slice of the tensor: x[:, 4:28, 4:28]"),
    Foreign(("Rescaling",), "MulScalar", "MulScalar(1/255), then AddScalar(offset) if there is one"),
    # losses
    Foreign(
        ("CrossEntropyLoss", "SparseCategoricalCrossentropy", "cross_entropy"),
        "SoftmaxCrossEntropy",
        "SoftmaxCrossEntropy(y) takes logits and the class index y (an Input of shape 1)",
    ),
    Foreign(
        ("NLLLoss", "CategoricalCrossentropy"),
        "CategoricalCrossEntropy",
        "CategoricalCrossEntropy(y) takes probabilities (after Softmax) and the class index y, not one-hot "
        "labels; on logits use SoftmaxCrossEntropy",
    ),
    Foreign(
        ("BCEWithLogitsLoss",),
        "SigmoidCrossEntropy",
        "SigmoidCrossEntropy(y) takes logits and 0/1 targets of the same shape",
    ),
    Foreign(
        ("BCELoss", "BinaryCrossentropy", "binary_cross_entropy"),
        "BinaryCrossEntropy",
        "BinaryCrossEntropy(y) takes probabilities (after Sigmoid); on logits use SigmoidCrossEntropy",
    ),
    Foreign(
        ("MSELoss", "MeanSquaredError", "mse"),
        "SquaredError",
        "SquaredError(y) is elementwise; NNC's trainer takes the mean of a loss",
    ),
    Foreign(("L1Loss", "MeanAbsoluteError", "mae"), "AbsoluteError", "AbsoluteError(y) is elementwise"),
    Foreign(("SmoothL1Loss", "Huber"), "HuberLoss", "HuberLoss(y, delta=1.0)"),
    Foreign(("KLDivLoss", "KLDivergence"), "KLMultinomial", "KLMultinomial(q) takes the distributions p and q"),
    # metrics
    Foreign(
        ("Accuracy", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy"),
        "TopNError",
        "TopNError(y, n=1) is the error rate, 1 - accuracy",
    ),
)

_MOMENTUM = (
    "Momentum(lr=0.1, momentum=0.9); nnabla's velocity holds the learning rate (v = momentum*v + lr*g), "
    "PyTorch's does not, so a change of lr acts more slowly"
)
SOLVERS: tuple[Foreign, ...] = (
    Foreign(
        ("SGD",),
        "Sgd",
        "Sgd(lr=0.1) has no momentum; SGD with momentum is Momentum(lr=..., momentum=...), with nesterov=true Nesterov",
        (("nesterov", "Nesterov", "Nesterov(lr=0.1, momentum=0.9)"), ("momentum", "Momentum", _MOMENTUM)),
    ),
    Foreign(("RMSProp",), "RMSprop", "RMSprop(lr=1e-3, decay=0.9): PyTorch's alpha, Keras's rho is decay"),
    Foreign(("AMSGrad",), "AMSGRAD", "Adam(amsgrad=True) is AMSGRAD(lr=..., beta1=..., beta2=...)"),
    Foreign(("LARS",), "Lars"),
    Foreign(("SGDW",), "SgdW"),
)

SCHEDULES: tuple[Foreign, ...] = (
    Foreign(
        ("StepLR",),
        "Exponential",
        "StepLR(step_size=30, gamma=0.1) is Exponential(multiplier=0.1, interval=30 epochs)",
    ),
    Foreign(
        ("ExponentialLR",),
        "Exponential",
        "ExponentialLR(gamma) stepped once an epoch is Exponential(multiplier=gamma, interval=1 epoch)",
    ),
    Foreign(
        ("ExponentialDecay",),
        "Exponential",
        "ExponentialDecay(decay_steps=n, decay_rate=r, staircase=True) is Exponential(multiplier=r, interval=n); "
        "NNC's decays in steps",
    ),
    Foreign(
        ("MultiStepLR", "PiecewiseConstantDecay"),
        "Step",
        "Step(multiplier=0.1, steps=[30 epochs, 60 epochs]) multiplies the rate at each step",
    ),
    Foreign(
        ("CosineAnnealingLR", "CosineDecay"),
        "Cosine",
        "Cosine anneals from lr to 0 over the whole training (after the warm-up)",
    ),
    Foreign(
        ("PolynomialLR", "PolynomialDecay"),
        "Polynomial",
        "Polynomial(power=1.0) decays to 0 over the whole training",
    ),
    Foreign(
        ("LinearLR",),
        "Linear",
        "Linear decays from lr to 0 over the whole training; a warm-up is any schedule's warmup=n",
    ),
    Foreign(
        ("ReduceLROnPlateau",),
        "Plateau",
        "Plateau(monitor=valid_error, factor=0.1, patience=10) follows a monitor of the config",
    ),
    Foreign(("ConstantLR",), "Constant"),
)


def _index(table: tuple[Foreign, ...]) -> dict[str, Foreign]:
    out: dict[str, Foreign] = {}
    for entry in table:
        for name in entry.names:
            for k in dict.fromkeys((name, _key(name))):
                if out.setdefault(k, entry) is not entry:
                    raise ValueError(f"'{name}' is in two entries of a foreign-name table")
    return out


_BY_NAME = {"layer": _index(LAYERS), "solver": _index(SOLVERS), "schedule": _index(SCHEDULES)}


def foreign_help(name: str, kind: str, keywords: Iterable[str] = ()) -> str | None:
    """The help for an unknown layer, solver or schedule `name` (kind "layer", "solver" or
    "schedule") written with `keywords`, or None when it is no framework's name we know."""
    table = _BY_NAME[kind]
    entry = table.get(name) or table.get(_key(name))
    if entry is None:
        return None
    target, note = entry.target, entry.note
    given = set(keywords)
    for keyword, other, other_note in entry.keywords:
        if keyword in given:
            return f"{name} with {keyword} is NNC's {other}: {other_note}"
    return f"NNC's name for {name} is {target}" + (f": {note}" if note else "")


# NNC defaults a PyTorch or Keras user does not expect, which `lint --strict` warns about (W113) where a
# layer relies on one silently: (layer type, the parameters that set it, whether the default matters for
# the layer's resolved parameters, what the frameworks do). The default shown is the registry's.
STRICT_DEFAULTS = (
    (
        "Convolution",
        ("border_mode", "pad"),
        lambda p: any(p["pad"]),
        "it pads to keep the size, where PyTorch's Conv2d and Keras's Conv2D pad nothing unless told "
        "(pad=0 or border_mode=valid is theirs)",
    ),
    (
        "DepthwiseConvolution",
        ("border_mode", "pad"),
        lambda p: any(k > 1 for k in p["kernel"]),
        "it pads nothing, where Convolution pads to keep the size (border_mode=same keeps the size)",
    ),
    (
        "BatchNormalization",
        ("epsilon",),
        lambda p: True,
        "PyTorch's BatchNorm2d adds 1e-5 to the variance, Keras's BatchNormalization 1e-3",
    ),
    (
        "LeakyReLU",
        ("alpha",),
        lambda p: True,
        "PyTorch's LeakyReLU has a negative_slope of 0.01, Keras's 0.3",
    ),
)
