"""Shape rules, parameter shapes and MACs of every layer, called the way the compiler calls them.

Expected parameter shapes and MACs are written out independently (by formula) here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from test_registry import REQUIRED

from nndsl.layers import REGISTRY
from nndsl.layers.base import MergeError, ShapeError


def run(layer: str, ins: tuple, params: dict | None = None, training: bool = True):
    """Defaults, the case's params, resolve, shape, parameters, MACs: as `infer_shapes` does."""
    spec = REGISTRY[layer]
    p: dict[str, Any] = {q.name: q.default for q in spec.params}
    p.update(params or {})
    if spec.resolve is not None:
        spec.resolve(ins, p, training)
    out = spec.shape(ins, p)
    ps = spec.parameters(ins, p, out)
    macs = spec.count_macs(ins, p, out, ps)
    return out, ps, macs, p


@dataclass
class Ok:
    layer: str
    ins: tuple
    out: tuple
    params: dict = field(default_factory=dict)
    weights: tuple | None = None  # ((name, shape, trainable), ...); None: no parameters
    macs: int = 0
    training: bool = True
    random: bool | None = None  # checked when given


@dataclass
class Bad:
    layer: str
    ins: tuple
    params: dict
    match: str  # a piece of the message
    param: str | None = None
    input: int | None = None
    merge: tuple[int, int] | None = None  # MergeError (a, b)


def conv_macs(out_maps, cin_per_group, kernel, out_spatial, bias=True):
    return (out_maps * cin_per_group * math.prod(kernel) + (out_maps if bias else 0)) * math.prod(out_spatial)


def W(*shape, trainable=True):
    return ("W", shape, trainable)


def b(*shape):
    return ("b", shape, True)


C3 = (3, 32, 32)
SAME_SHAPE_LAYERS = [
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Swish",
    "Abs",
    "Exp",
    "Round",
    "BinarySigmoid",
    "BinaryTanh",
    "Identity",
    "ReLU6",
    "GELU",
    "Mish",
    "SELU",
    "HardSigmoid",
    "HardTanh",
    "SoftPlus",
    "SoftSign",
    "TanhShrink",
    "LogSigmoid",
    "Sinc",
    "Log",
    "Ceil",
    "Floor",
    "Sin",
    "Cos",
    "Tan",
    "Sinh",
    "Cosh",
    "ASin",
    "ACos",
    "ATan",
    "ASinh",
    "ACosh",
    "ATanh",
    "Sign",
    "LogicalNot",
    "IsNaN",
    "IsInf",
    "ResetNaN",
    "ResetInf",
    "Unlink",
    "FixedPointQuantize",
    "Pow2Quantize",
]
SCALAR_LAYERS = [
    "MulScalar",
    "AddScalar",
    "RSubScalar",
    "RDivScalar",
    "PowScalar",
    "RPowScalar",
    "MaximumScalar",
    "MinimumScalar",
    "EqualScalar",
    "NotEqualScalar",
    "GreaterEqualScalar",
    "GreaterScalar",
    "LessEqualScalar",
    "LessScalar",
    "LogicalAndScalar",
    "LogicalOrScalar",
    "LogicalXorScalar",
]
BINARY_LAYERS = [
    "Add2",
    "Sub2",
    "Mul2",
    "Div2",
    "Pow2",
    "Maximum2",
    "Minimum2",
    "Equal",
    "NotEqual",
    "Greater",
    "GreaterEqual",
    "Less",
    "LessEqual",
    "LogicalAnd",
    "LogicalOr",
    "LogicalXor",
    "ATan2",
]
ELEMENTWISE_LOSSES = [
    "SquaredError",
    "AbsoluteError",
    "HuberLoss",
    "EpsilonInsensitiveLoss",
    "BinaryCrossEntropy",
    "SigmoidCrossEntropy",
    "BinaryError",
]

VALID: dict[str, Ok] = {
    # --- IO / Basic
    "Input": Ok("Input", (), (3, 224, 224), {"shape": (3, 224, 224)}),
    "Convolution same": Ok(
        "Convolution",
        (C3,),
        (16, 32, 32),
        {},
        (W(16, 3, 3, 3), b(16)),
        conv_macs(16, 3, (3, 3), (32, 32)),
    ),
    "Convolution valid stride": Ok(
        "Convolution",
        ((1, 28, 28),),
        (20, 12, 12),
        {"out_maps": 20, "kernel": (5, 5), "border_mode": "valid", "stride": (2, 2)},
        (W(20, 1, 5, 5), b(20)),
        conv_macs(20, 1, (5, 5), (12, 12)),
    ),
    "Convolution resnet stem": Ok(
        "Convolution",
        ((3, 224, 224),),
        (64, 112, 112),
        {"out_maps": 64, "kernel": (7, 7), "pad": (3, 3), "stride": (2, 2), "bias": False},
        (W(64, 3, 7, 7),),
        conv_macs(64, 3, (7, 7), (112, 112), bias=False),
    ),
    "Convolution groups dilation": Ok(
        "Convolution",
        ((8, 10, 10),),
        (4, 6, 6),
        {"out_maps": 4, "group": 2, "dilation": (2, 2), "border_mode": "valid"},
        (W(4, 4, 3, 3), b(4)),
        conv_macs(4, 4, (3, 3), (6, 6)),
    ),
    "Convolution same dilated": Ok(
        "Convolution", ((2, 9, 9),), (3, 9, 9), {"out_maps": 3, "dilation": 2}, (W(3, 2, 3, 3), b(3)), 57 * 81
    ),
    "Convolution full": Ok(
        "Convolution", ((1, 5, 5),), (1, 7, 7), {"out_maps": 1, "border_mode": "full"}, (W(1, 1, 3, 3), b(1)), 10 * 49
    ),
    "Convolution 1d defaults adapt": Ok(
        "Convolution",
        ((3, 100),),
        (8, 96),
        {"out_maps": 8, "kernel": 5, "border_mode": "valid"},
        (W(8, 3, 5), b(8)),
        conv_macs(8, 3, (5,), (96,)),
    ),
    "Convolution 3d": Ok(
        "Convolution",
        ((2, 8, 8, 8),),
        (4, 8, 8, 8),
        {"out_maps": 4},
        (W(4, 2, 3, 3, 3), b(4)),
        conv_macs(4, 2, (3, 3, 3), (8, 8, 8)),
    ),
    "DepthwiseConvolution": Ok(
        "DepthwiseConvolution", ((8, 32, 32),), (8, 28, 28), {}, (W(8, 5, 5), b(8)), (8 * 25 + 8) * 28 * 28
    ),
    "DepthwiseConvolution multiplier same": Ok(
        "DepthwiseConvolution",
        ((8, 16, 16),),
        (16, 8, 8),
        {"kernel": (3, 3), "border_mode": "same", "stride": (2, 2), "multiplier": 2},
        (W(16, 3, 3), b(16)),
        (16 * 9 + 16) * 64,
    ),
    "Deconvolution nnc tutorial": Ok(
        "Deconvolution",
        ((8, 7, 7),),
        (1, 14, 14),
        {"out_maps": 1, "kernel": (6, 6), "pad": (2, 2), "stride": (2, 2)},
        (W(8, 1, 6, 6), b(1)),
        (8 * 36 + 1) * 196,
    ),
    "Deconvolution defaults": Ok(
        "Deconvolution", ((4, 3, 3),), (16, 7, 7), {}, (W(4, 16, 5, 5), b(16)), (4 * 16 * 25 + 16) * 49
    ),
    "Deconvolution group dilation": Ok(
        "Deconvolution",
        ((4, 5, 5),),
        (6, 11, 11),
        {"out_maps": 6, "group": 2, "kernel": (3, 3), "dilation": (2, 2), "stride": (2, 2), "pad": (1, 1)},
        (W(4, 3, 3, 3), b(6)),
        (4 * 3 * 9 + 6) * 121,
    ),
    "DepthwiseDeconvolution": Ok(
        "DepthwiseDeconvolution",
        ((8, 4, 4),),
        (4, 8, 8),
        {"kernel": (2, 2), "stride": (2, 2), "divisor": 2},
        (W(8, 2, 2), b(4)),
        (8 * 4 + 4) * 64,
    ),
    "Affine": Ok("Affine", ((1, 28, 28),), (10,), {"out_shape": (10,)}, (W(784, 10), b(10)), 7850),
    "Affine default no bias": Ok("Affine", ((4,),), (100,), {"bias": False}, (W(4, 100),), 400),
    "Affine shaped output": Ok("Affine", ((6,),), (2, 5), {"out_shape": (2, 5)}, (W(6, 2, 5), b(2, 5)), 70),
    "Embed": Ok("Embed", ((20,),), (20, 32), {"num_class": 1000}, (W(1000, 32),), 32000),
    "BatchNormalization": Ok(
        "BatchNormalization",
        ((16, 8, 8),),
        (16, 8, 8),
        {},
        (
            ("beta", (16, 1, 1), True),
            ("gamma", (16, 1, 1), True),
            ("mean", (16, 1, 1), False),
            ("var", (16, 1, 1), False),
        ),
        32,
    ),
    "BatchNormalization affine output": Ok(
        "BatchNormalization",
        ((100,),),
        (100,),
        {"axes": (-1,)},
        (("beta", (100,), True), ("gamma", (100,), True), ("mean", (100,), False), ("var", (100,), False)),
        200,
    ),
    # beta and gamma as nnabla's PF.layer_normalization / instance_normalization / group_normalization
    # make them (without the batch axis): the whole sample, or its channels.
    "LayerNormalization": Ok(
        "LayerNormalization", ((6, 3, 3),), (6, 3, 3), {}, (("beta", (6, 3, 3), True), ("gamma", (6, 3, 3), True)), 108
    ),
    "InstanceNormalization": Ok(
        "InstanceNormalization",
        ((6, 3, 3),),
        (6, 3, 3),
        {},
        (("beta", (6, 1, 1), True), ("gamma", (6, 1, 1), True)),
        12,
    ),
    "GroupNormalization": Ok(
        "GroupNormalization",
        ((6, 5),),
        (6, 5),
        {"num_groups": 3},
        (("beta", (6, 1), True), ("gamma", (6, 1), True)),
        12,
    ),
    # --- Activation
    "LeakyReLU": Ok("LeakyReLU", (C3,), C3, {"alpha": 0.2}),
    "ELU": Ok("ELU", (C3,), C3, {"alpha": 0.5}),
    "PReLU": Ok("PReLU", ((16, 8, 8),), (16, 8, 8), {}, (("slope", (16,), True),), 16),
    "PReLU base_axis": Ok("PReLU", ((16, 8, 4),), (16, 8, 4), {"base_axis": 2}, (("slope", (4,), True),), 4),
    "Softmax": Ok("Softmax", ((10,),), (10,)),
    "Softmax last axis": Ok("Softmax", ((5, 10),), (5, 10), {"axis": -1}),
    "LogSoftmax": Ok("LogSoftmax", ((10,),), (10,)),
    "CReLU": Ok("CReLU", ((4, 5, 5),), (8, 5, 5)),
    "CELU": Ok("CELU", ((4, 5, 5),), (4, 5, 10), {"axis": 2}),
    # --- Pooling
    "MaxPooling": Ok("MaxPooling", ((16, 28, 28),), (16, 14, 14)),
    "MaxPooling odd floor": Ok("MaxPooling", ((16, 7, 7),), (16, 3, 3)),
    "MaxPooling odd no ignore_border": Ok("MaxPooling", ((16, 7, 7),), (16, 4, 4), {"ignore_border": False}),
    "MaxPooling 3 2 1": Ok(
        "MaxPooling", ((64, 112, 112),), (64, 56, 56), {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1)}
    ),
    "MaxPooling overlapping no ignore_border": Ok(
        "MaxPooling", ((1, 5, 5),), (1, 5, 5), {"kernel": (3, 3), "stride": (1, 1), "ignore_border": False}
    ),
    "MaxPooling pad no ignore_border": Ok(
        "MaxPooling",
        ((1, 6, 6),),
        (1, 4, 4),
        {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "ignore_border": False},
    ),
    "MaxPooling single kernel value": Ok("MaxPooling", ((2, 9, 9),), (2, 3, 3), {"kernel": 3}),
    # ceil_mode and adaptive pooling: PyTorch's rules (tests/test_ceil_adaptive_pooling.py checks them
    # against torch on many sizes): GoogLeNet's MaxPool2d(3, 2, ceil_mode=True), AlexNet's
    # AdaptiveAvgPool2d((6, 6))
    "MaxPooling ceil_mode": Ok(
        "MaxPooling", ((64, 112, 112),), (64, 56, 56), {"kernel": (3, 3), "stride": (2, 2), "ceil_mode": True}
    ),
    "AveragePooling ceil_mode": Ok(
        "AveragePooling", ((8, 7, 7),), (8, 4, 4), {"kernel": (2, 2), "stride": (2, 2), "ceil_mode": True}
    ),
    "AdaptiveAveragePooling": Ok("AdaptiveAveragePooling", ((256, 13, 13),), (256, 6, 6), {"size": (6, 6)}),
    "AdaptiveMaxPooling one value": Ok("AdaptiveMaxPooling", ((4, 9),), (4, 2), {"size": (2,)}),
    "MaxPooling 1d": Ok("MaxPooling", ((4, 10),), (4, 5), {"kernel": 2}),
    "MaxPooling 3d": Ok("MaxPooling", ((2, 4, 6, 8),), (2, 2, 3, 4), {"kernel": (2, 2, 2)}),
    "MaxPooling 2d kernel on 3 axes": Ok("MaxPooling", ((2, 4, 6, 8),), (2, 4, 3, 4)),
    "AveragePooling": Ok("AveragePooling", ((512, 7, 7),), (512, 1, 1), {"kernel": (7, 7)}),
    "AveragePooling exclude pad": Ok(
        "AveragePooling",
        ((3, 8, 8),),
        (3, 8, 8),
        {"kernel": (3, 3), "stride": (1, 1), "pad": (1, 1), "including_pad": False},
    ),
    "SumPooling": Ok("SumPooling", ((2, 4, 5),), (2, 2, 2)),
    "GlobalAveragePooling": Ok("GlobalAveragePooling", ((512, 7, 7),), (512, 1, 1)),
    "GlobalAveragePooling vector": Ok("GlobalAveragePooling", ((10,),), (10, 1, 1)),
    "Unpooling": Ok("Unpooling", ((3, 4, 5),), (3, 8, 10)),
    "Unpooling uneven": Ok("Unpooling", ((3, 4, 5),), (3, 8, 15), {"kernel": (2, 3)}),
    # --- Arithmetic / Logical
    "Add2 same": Ok("Add2", ((64, 8, 8), (64, 8, 8)), (64, 8, 8)),
    "Add2 broadcast": Ok("Add2", ((3, 4, 4), (3, 1, 1)), (3, 4, 4)),
    "Sub2 broadcast both": Ok("Sub2", ((3, 1, 4), (1, 5, 1)), (3, 5, 4)),
    "Mul2": Ok("Mul2", ((3, 4, 4), (1, 4, 4)), (3, 4, 4)),
    "Div2": Ok("Div2", ((10,), (10,)), (10,)),
    "AddN": Ok("AddN", ((3, 4), (3, 4), (3, 4)), (3, 4)),
    "MulN": Ok("MulN", ((3, 4), (3, 4)), (3, 4)),
    # --- Math
    "Sum default axis": Ok("Sum", ((3, 4, 5),), (4, 5)),
    "Sum axes": Ok("Sum", ((3, 4, 5),), (3,), {"axes": (1, 2)}),
    "Sum keep_dims": Ok("Sum", ((3, 4, 5),), (3, 1, 1), {"axes": (1, 2), "keep_dims": True}),
    "Sum everything": Ok("Sum", ((10,),), ()),
    "Mean negative axis": Ok("Mean", ((3, 4, 5),), (3, 4), {"axes": (-1,)}),
    "Max only_index": Ok("Max", ((10,),), (1,), {"keep_dims": True, "only_index": True}),
    "Min": Ok("Min", ((3, 4),), (3,), {"axes": (1,)}),
    "Prod": Ok("Prod", ((3, 4),), (4,)),
    "Norm": Ok("Norm", ((3, 4),), (3, 1), {"axes": (1,), "keep_dims": True}),
    "CumSum": Ok("CumSum", ((3, 4),), (3, 4), {"axis": 1}),
    "CumProd": Ok("CumProd", ((3, 4),), (3, 4), {"reverse": True}),
    "BatchMatmul": Ok("BatchMatmul", ((2, 3, 4), (2, 4, 5)), (2, 3, 5)),
    # --- Shape
    "Slice centre crop": Ok("Slice", ((3, 320, 320),), (3, 280, 280), {"start": (0, 20, 20), "stop": (3, 300, 300)}),
    "Slice nnc doc step": Ok(
        "Slice", ((3, 48, 64),), (3, 12, 16), {"start": (0, 12, 16), "stop": (3, 36, 48), "step": (1, 2, 2)}
    ),
    "Slice defaults": Ok("Slice", ((3, 8, 8),), (3, 8, 8)),
    "Slice defaults on 2 axes": Ok("Slice", ((16, 1),), (16, 1)),
    "Slice last axes only": Ok("Slice", ((3, 320, 320),), (3, 300, 300), {"start": (20, 20)}),
    "Slice negative start": Ok("Slice", ((3, 10),), (3, 4), {"start": (0, -4)}),
    "Slice stop clipped": Ok("Slice", ((3, 10),), (3, 8), {"start": (0, 2), "stop": (3, 100)}),
    "Slice reversed": Ok("Slice", ((5,),), (3,), {"start": (4,), "stop": (-6,), "step": (-2,)}),
    "Pad": Ok("Pad", ((3, 10, 12),), (3, 13, 19), {"pad_width": (1, 2, 3, 4)}),
    "Pad one axis reflect": Ok("Pad", ((3, 10, 12),), (3, 10, 14), {"pad_width": (1, 1), "mode": "reflect"}),
    "Pad default": Ok("Pad", ((3, 10, 12),), (3, 10, 12)),
    "Reshape": Ok("Reshape", ((2, 5, 5),), (10, 5), {"out_shape": (10, 5)}),
    "Reshape flatten": Ok("Reshape", ((512, 1, 1),), (512,), {"out_shape": (-1,)}),
    "Reshape infer": Ok("Reshape", ((4, 6),), (2, 3, 4), {"out_shape": (2, -1, 4)}),
    "Transpose": Ok("Transpose", ((3, 20, 10),), (3, 10, 20), {"axes": (0, 2, 1)}),
    "Transpose default": Ok("Transpose", ((3, 20, 10),), (3, 20, 10)),
    "Transpose 2 axes": Ok("Transpose", ((4, 7),), (7, 4), {"axes": (1, 0)}),
    "Flip": Ok("Flip", ((3, 24, 32),), (3, 24, 32), {"axes": (1, 2)}),
    "Broadcast": Ok("Broadcast", ((3, 1, 2),), (3, 10, 2), {"out_shape": (3, 10, 2)}),
    "Broadcast default": Ok("Broadcast", ((3, 1, 2),), (3, 1, 2)),
    "Concatenate": Ok("Concatenate", ((3, 28, 28), (5, 28, 28)), (8, 28, 28)),
    "Concatenate three last axis": Ok("Concatenate", ((2, 3), (2, 4), (2, 1)), (2, 8), {"axis": -1}),
    "Stack": Ok("Stack", ((3, 28, 28),) * 4, (3, 4, 28, 28), {"axis": 1}),
    "Stack at end": Ok("Stack", ((3,), (3,)), (3, 2), {"axis": -1}),
    "Tile": Ok("Tile", ((3, 4),), (3, 8)),
    "Tile two axes": Ok("Tile", ((3, 4),), (6, 12), {"reps": (2, 3)}),
    "Shift": Ok("Shift", (C3,), C3, {"shift": (-3, 2)}),
    "OneHot": Ok("OneHot", ((1,),), (10,), {"shape": (10,)}),
    "OneHot 2d indices": Ok("OneHot", ((5, 2),), (5, 3, 4), {"shape": (3, 4)}),
    "MatrixDiag": Ok("MatrixDiag", ((2, 3),), (2, 3, 3)),
    "MatrixDiagPart": Ok("MatrixDiagPart", ((2, 3, 3),), (2, 3)),
    # --- Others
    "Dropout": Ok("Dropout", (C3,), C3, {"p": 0.3}, random=True),
    "Sort": Ok("Sort", ((3, 4),), (3, 4), {"axis": -1}),
    "TopKData reduce": Ok("TopKData", ((4, 5, 6),), (4, 3), {"k": 3, "base_axis": 1}),
    "TopKData keep": Ok("TopKData", ((4, 5, 6),), (4, 5, 6), {"k": 3, "base_axis": 1, "reduce": False}),
    "TopKGrad": Ok("TopKGrad", ((4, 5),), (4, 5), {"k": 2}),
    "Prune": Ok("Prune", ((4, 5),), (4, 5), {"rate": 0.95}),
    "ClipGradByNorm": Ok("ClipGradByNorm", ((4, 5),), (4, 5), {"axes": (0, 1)}),
    # --- Pre-process
    "ImageAugmentation resnet training": Ok(
        "ImageAugmentation",
        ((3, 480, 480),),
        (3, 224, 224),
        {"shape": (3, 224, 224), "min_scale": 0.467, "max_scale": 1.67, "aspect_ratio": 1.33, "flip_lr": True},
        random=True,
    ),
    "ImageAugmentation resnet validation resize": Ok(
        "ImageAugmentation",
        ((3, 280, 280),),
        (3, 224, 224),
        {"shape": (3, 224, 224), "min_scale": 0.8, "max_scale": 0.8},
        training=False,
        random=False,
    ),
    "ImageAugmentation scale leaves a margin": Ok(
        "ImageAugmentation",
        ((3, 320, 320),),
        (3, 224, 224),
        {"shape": (3, 224, 224), "min_scale": 0.8, "max_scale": 0.8},
        random=True,
    ),
    "ImageAugmentation defaults": Ok("ImageAugmentation", ((3, 32, 32),), (3, 32, 32), random=False),
    "ImageAugmentation pad crop": Ok("ImageAugmentation", ((3, 32, 32),), (3, 32, 32), {"pad": (4, 4)}, random=True),
    "ImageAugmentation height width only": Ok(
        "ImageAugmentation", ((1, 28, 28),), (1, 24, 24), {"shape": (24, 24)}, random=True
    ),
    "ImageAugmentation brightness": Ok(
        "ImageAugmentation", ((3, 32, 32),), (3, 32, 32), {"brightness": 0.05}, random=True
    ),
    "ImageAugmentation contrast": Ok("ImageAugmentation", ((3, 32, 32),), (3, 32, 32), {"contrast": 1.1}, random=True),
    "RandomFlip": Ok("RandomFlip", (C3,), C3, {"axes": (2,)}, random=True),
    "RandomShift": Ok("RandomShift", (C3,), C3, {"shift": (4, 4)}, random=True),
    "RandomShift zero": Ok("RandomShift", (C3,), C3, random=False),
    "RandomCrop": Ok("RandomCrop", ((3, 64, 64),), (3, 48, 48), {"shape": (3, 48, 48)}, random=True),
    "RandomCrop spatial only": Ok("RandomCrop", ((3, 64, 64),), (3, 48, 40), {"shape": (48, 40)}),
    "RandomCrop default": Ok("RandomCrop", ((3, 64, 64),), (3, 64, 64)),
    "MeanSubtraction": Ok(
        "MeanSubtraction", ((3, 4, 4),), (3, 4, 4), {}, (("mean", (3, 4, 4), False), ("t", (1,), False)), 0
    ),
    # --- Quantize
    "BinaryConnectAffine": Ok(
        "BinaryConnectAffine",
        ((1, 28, 28),),
        (10,),
        {"out_shape": (10,)},
        (W(784, 10), ("Wb", (784, 10), False), b(10)),
        7850,
    ),
    "BinaryWeightAffine": Ok(
        "BinaryWeightAffine",
        ((1, 28, 28),),
        (10,),
        {"out_shape": (10,)},
        (W(784, 10), ("Wb", (784, 10), False), ("alpha", (10,), False)),  # no bias: NNC's b is alpha
        7840,
    ),
    "BinaryConnectConvolution": Ok(
        "BinaryConnectConvolution",
        ((1, 28, 28),),
        (16, 24, 24),
        {},
        (W(16, 1, 5, 5), ("Wb", (16, 1, 5, 5), False), b(16)),
        conv_macs(16, 1, (5, 5), (24, 24)),
    ),
    "BinaryWeightConvolution": Ok(
        "BinaryWeightConvolution",
        ((8, 12, 12),),
        (4, 12, 12),
        {"out_maps": 4, "kernel": (3, 3), "border_mode": "same"},
        (W(4, 8, 3, 3), ("Wb", (4, 8, 3, 3), False), ("alpha", (4,), False)),
        conv_macs(4, 8, (3, 3), (12, 12), bias=False),
    ),
    # --- Loss / Validation
    "SoftmaxCrossEntropy": Ok("SoftmaxCrossEntropy", ((10,), (1,)), (1,)),
    "SoftmaxCrossEntropy per pixel": Ok("SoftmaxCrossEntropy", ((10, 8, 8), (1, 8, 8)), (1, 8, 8)),
    "SoftmaxCrossEntropy last axis": Ok("SoftmaxCrossEntropy", ((5, 10), (5, 1)), (5, 1), {"axis": -1}),
    "CategoricalCrossEntropy": Ok("CategoricalCrossEntropy", ((10,), (1,)), (1,)),
    "KLMultinomial": Ok("KLMultinomial", ((10,), (10,)), (1,)),
    "KLMultinomial base_axis": Ok("KLMultinomial", ((4, 10), (4, 10)), (4, 1), {"base_axis": 1}),
    "TopNError": Ok("TopNError", ((1000,), (1,)), (1,)),
    "TopNError top5": Ok("TopNError", ((1000,), (1,)), (1,), {"n": 5}),
    # --- virtual adversarial training (NNC's complete counts a WorkingMemory's Size as its parameters)
    "WorkingMemory": Ok("WorkingMemory", (), (1, 4, 4), {"size": (1, 4, 4)}, (("buf", (1, 4, 4), False),)),
    "VATNoise": Ok("VATNoise", ((1, 4, 4), (1, 4, 4)), (1, 4, 4), {"epsilon": 0.5}),
    # the layer is its parameter (named after the layer: the ParamShape name is "")
    "Parameter": Ok("Parameter", (), (16, 3, 3, 3), {"size": (16, 3, 3, 3)}, (("", (16, 3, 3, 3), True),)),
}

for _t in SAME_SHAPE_LAYERS:
    VALID[_t] = Ok(_t, (C3,), C3)
for _t in SCALAR_LAYERS:
    VALID[_t] = Ok(_t, (C3,), C3, {"value": 0.5})
for _t in BINARY_LAYERS:
    VALID[f"{_t} broadcast"] = Ok(_t, ((3, 4, 1), (1, 4, 5)), (3, 4, 5))
for _t in ELEMENTWISE_LOSSES:
    VALID[_t] = Ok(_t, ((1,), (1,)), (1,))
    VALID[f"{_t} image"] = Ok(_t, (C3, C3), C3)


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in VALID.items()])
def test_valid(case: Ok):
    out, ps, macs, p = run(case.layer, case.ins, case.params, case.training)
    assert out == case.out
    got = tuple((q.name, q.shape, q.trainable) for q in ps)
    assert got == (case.weights or ())
    assert macs == case.macs
    if case.random is not None:
        assert REGISTRY[case.layer].is_random(p, case.ins) is case.random


def test_every_layer_has_a_valid_case():
    covered = {c.layer for c in VALID.values()}
    missing = sorted(set(REGISTRY) - covered)
    assert not missing, f"no valid case for {missing}"
    assert set(REQUIRED) <= covered


def test_batch_stat_follows_the_network():
    _, _, _, p = run("BatchNormalization", ((4, 2, 2),), training=True)
    assert p["batch_stat"] is True
    _, _, _, p = run("BatchNormalization", ((4, 2, 2),), training=False)
    assert p["batch_stat"] is False
    _, _, _, p = run("BatchNormalization", ((4, 2, 2),), {"batch_stat": True}, training=False)
    assert p["batch_stat"] is True


def test_resolve_fills_derived_parameters():
    _, _, _, p = run("Convolution", ((3, 8, 8),), {"kernel": (5, 5)})
    assert p["pad"] == (2, 2) and p["stride"] == (1, 1)
    _, _, _, p = run("Convolution", ((3, 8, 8),), {"kernel": 3, "border_mode": "valid"})
    assert p["kernel"] == (3, 3) and p["pad"] == (0, 0)
    _, _, _, p = run("MaxPooling", ((3, 8, 8),), {"kernel": (3, 3)})
    assert p["stride"] == (3, 3)
    _, _, _, p = run("Slice", ((3, 8, 8),), {"start": (2, 2)})
    assert (p["start"], p["stop"], p["step"]) == ((0, 2, 2), (3, 8, 8), (1, 1, 1))
    _, _, _, p = run("ImageAugmentation", ((3, 8, 8),))
    assert p["shape"] == (3, 8, 8)


def test_image_augmentation_randomness_depends_on_parameters_and_input():
    spec = REGISTRY["ImageAugmentation"]

    def random(ins, **params):
        _, _, _, p = run("ImageAugmentation", ins, params)
        return spec.is_random(p, ins)

    assert random(((3, 8, 8),)) is False  # the defaults change nothing
    assert random(((3, 280, 280),), min_scale=0.8, max_scale=0.8, shape=(3, 224, 224)) is False  # exact resize
    assert random(((3, 320, 320),), min_scale=0.8, max_scale=0.8, shape=(3, 224, 224)) is True  # random crop offset
    for params in ({"angle": 0.26}, {"flip_ud": True}, {"noise": 0.1}, {"distortion": 0.1}, {"aspect_ratio": 1.3}):
        assert random(((3, 8, 8),), **params) is True, params


INVALID: dict[str, Bad] = {
    "GroupNormalization groups": Bad(
        "GroupNormalization", ((6, 4, 4),), {}, "6 channels are not divisible by num_groups=4", param="num_groups"
    ),
    "LayerNormalization batch_axis": Bad(
        "LayerNormalization", ((6, 4),), {"batch_axis": 0}, "only -1 (the batch axis", param="batch_axis"
    ),
    "Input without shape": Bad("Input", (), {"shape": ()}, "needs a shape", param="shape"),
    "Input zero size": Bad("Input", (), {"shape": (3, 0, 4)}, "at least 1, got 0", param="shape"),
    "Convolution kernel too large": Bad(
        "Convolution",
        ((3, 5, 5),),
        {"kernel": (7, 7), "border_mode": "valid"},
        "kernel 7 is larger than the padded input (5 + 2x0) on spatial axis 0",
        param="kernel",
    ),
    "Convolution dilated kernel too large": Bad(
        "Convolution",
        ((3, 8, 4),),
        {"dilation": (1, 2), "border_mode": "valid"},
        "kernel 3 with dilation 2 spans 5 and is larger than the padded input (4 + 2x0) on spatial axis 1",
        param="kernel",
    ),
    "Convolution group channels": Bad(
        "Convolution", ((3, 8, 8),), {"group": 2}, "3 input channels are not divisible by group=2", param="group"
    ),
    "Convolution group out_maps": Bad(
        "Convolution",
        ((4, 8, 8),),
        {"group": 4, "out_maps": 6},
        "out_maps=6 is not divisible by group=4",
        param="out_maps",
    ),
    "Convolution stride 0": Bad(
        "Convolution", (C3,), {"stride": (0, 1)}, "stride must be at least 1, got 0", param="stride"
    ),
    "Convolution negative pad": Bad(
        "Convolution", (C3,), {"pad": (-1, 0)}, "pad must be at least 0, got -1", param="pad"
    ),
    "Convolution kernel values": Bad(
        "Convolution",
        (C3,),
        {"kernel": (3, 3, 3)},
        "'kernel' has 3 values but the input has 2 spatial axes",
        param="kernel",
    ),
    "Convolution rank": Bad("Convolution", ((10,),), {}, "input must have 2 to 4 axes", input=0),
    "DepthwiseConvolution kernel too large": Bad(
        "DepthwiseConvolution", ((8, 3, 3),), {}, "kernel 5 is larger than the padded input (3 + 2x0)", param="kernel"
    ),
    "Deconvolution padding eats output": Bad(
        "Deconvolution",
        ((1, 1, 1),),
        {"kernel": (1, 1), "pad": (1, 1)},
        "pad 1 removes the whole output",
        param="pad",
    ),
    "Deconvolution group": Bad("Deconvolution", ((3, 4, 4),), {"group": 2}, "not divisible by group=2", param="group"),
    "DepthwiseDeconvolution divisor": Bad(
        "DepthwiseDeconvolution",
        ((3, 4, 4),),
        {"divisor": 2},
        "3 input channels are not divisible by divisor=2",
        param="divisor",
    ),
    "Affine zero output": Bad("Affine", ((4,),), {"out_shape": (0,)}, "at least 1", param="out_shape"),
    "BatchNormalization axis": Bad(
        "BatchNormalization", ((16,),), {"axes": (1,)}, "axes 1 is out of range", param="axes"
    ),
    "Softmax axis": Bad(
        "Softmax", ((10,),), {"axis": 1}, "axis 1 is out of range for a shape with 1 axes", param="axis"
    ),
    "PReLU base_axis": Bad("PReLU", ((16,),), {"base_axis": 2}, "base_axis 2 is out of range", param="base_axis"),
    "MaxPooling kernel too large": Bad(
        "MaxPooling",
        ((3, 7, 7),),
        {"kernel": (9, 9)},
        "kernel 9 is larger than the padded input (7 + 2x0)",
        param="kernel",
    ),
    "MaxPooling pad as large as kernel": Bad(
        "MaxPooling", ((3, 7, 7),), {"pad": (2, 2)}, "pad 2 is not smaller than the kernel 2", param="pad"
    ),
    "AveragePooling stride 0": Bad(
        "AveragePooling", ((3, 7, 7),), {"stride": (0, 0)}, "stride must be at least 1", param="stride"
    ),
    "SumPooling kernel on too few axes": Bad(
        "SumPooling", ((7,),), {"kernel": (2, 2)}, "needs an input with at least 2 axes", param="kernel"
    ),
    "GlobalAveragePooling rank": Bad("GlobalAveragePooling", ((2, 3, 4, 5),), {}, "1 to 3 axes", input=0),
    "Unpooling kernel": Bad("Unpooling", ((4,),), {"kernel": (2, 2)}, "at least 2 axes", param="kernel"),
    "Add2 sizes": Bad("Add2", ((3, 4, 4), (2, 4, 4)), {}, "sizes differ on axis 0 (3 and 2)", input=1, merge=(0, 1)),
    "Sub2 ranks": Bad("Sub2", ((3, 4, 4), (4, 4)), {}, "ranks differ (3 and 2 axes)", input=1, merge=(0, 1)),
    "Mul2 sizes": Bad("Mul2", ((3, 4), (3, 5)), {}, "axis 1 (4 and 5)", input=1, merge=(0, 1)),
    "Div2 sizes": Bad("Div2", ((10,), (9,)), {}, "axis 0 (10 and 9)", input=1, merge=(0, 1)),
    "Equal sizes": Bad("Equal", ((10,), (9,)), {}, "neither is 1", input=1, merge=(0, 1)),
    "LogicalAnd sizes": Bad("LogicalAnd", ((2, 3), (3, 2)), {}, "axis 0 (2 and 3)", input=1, merge=(0, 1)),
    "LogicalOr ranks": Bad("LogicalOr", ((2, 3), (3,)), {}, "ranks differ", input=1, merge=(0, 1)),
    "AddN shapes": Bad("AddN", ((3, 4), (3, 4), (3, 5)), {}, "same shape, got 3x4 and 3x5", input=2, merge=(0, 2)),
    "Concatenate other axis": Bad(
        "Concatenate", ((3, 28, 28), (5, 14, 28)), {}, "sizes differ on axis 1 (28 and 14)", input=1, merge=(0, 1)
    ),
    "Concatenate ranks": Bad("Concatenate", ((3, 28, 28), (5, 28)), {}, "ranks differ", input=1, merge=(0, 1)),
    "Concatenate axis": Bad("Concatenate", ((3,), (4,)), {"axis": 1}, "axis 1 is out of range", param="axis"),
    "Stack shapes": Bad("Stack", ((3,), (4,)), {}, "same shape", input=1, merge=(0, 1)),
    "Sum duplicate axes": Bad("Sum", ((3, 4),), {"axes": (1, -1)}, "names the same axis twice", param="axes"),
    "Mean axis range": Bad("Mean", ((3, 4),), {"axes": (2,)}, "axes 2 is out of range", param="axes"),
    "Max empty axes": Bad("Max", ((3, 4),), {"axes": ()}, "axes is empty", param="axes"),
    "BatchMatmul inner": Bad("BatchMatmul", ((2, 3, 4), (2, 5, 6)), {}, "4 != 5", input=1, merge=(0, 1)),
    "Slice start outside": Bad(
        "Slice", ((3, 5),), {"start": (0, 5)}, "start 5 is outside axis 1 of size 5", param="start"
    ),
    "Slice empty": Bad("Slice", ((3, 5),), {"start": (0, 3), "stop": (3, 3)}, "selects nothing", param="stop"),
    "Slice step 0": Bad("Slice", ((3, 5),), {"start": (0, 0), "step": (1, 0)}, "step is 0 on axis 1", param="step"),
    "Slice too many values": Bad(
        "Slice", ((5,),), {"start": (0, 0)}, "start has 2 values but the input 5 has 1 axes", param="start"
    ),
    "Slice stop values": Bad(
        "Slice", ((3, 5),), {"start": (0, 0), "stop": (3,)}, "stop has 1 values but start has 2", param="stop"
    ),
    "Pad odd": Bad("Pad", ((3, 4),), {"pad_width": (1, 2, 3)}, "needs pairs", param="pad_width"),
    "Pad negative": Bad("Pad", ((3, 4),), {"pad_width": (1, -2)}, "at least 0, got -2", param="pad_width"),
    "Pad too many": Bad(
        "Pad", ((4,),), {"pad_width": (1, 1, 1, 1)}, "has 2 pairs but the input 4 has 1 axes", param="pad_width"
    ),
    "Reshape count": Bad(
        "Reshape",
        ((2, 5, 5),),
        {"out_shape": (7, 7)},
        "cannot reshape 2x5x5 (50 elements) to 7x7 (49 elements)",
        param="out_shape",
    ),
    "Reshape infer": Bad(
        "Reshape", ((2, 5, 5),), {"out_shape": (-1, 3)}, "50 is not a multiple of 3", param="out_shape"
    ),
    "Reshape two -1": Bad("Reshape", ((4,),), {"out_shape": (-1, -1)}, "more than one -1", param="out_shape"),
    "Transpose rank": Bad(
        "Transpose", ((4, 7),), {}, "axes 0,1,2 is not a permutation of the 2 axes (0,1)", param="axes"
    ),
    "Transpose repeat": Bad("Transpose", ((3, 4, 5),), {"axes": (0, 0, 1)}, "not a permutation", param="axes"),
    "Flip axis": Bad("Flip", ((3, 4),), {"axes": (2,)}, "axes 2 is out of range", param="axes"),
    "Broadcast size": Bad(
        "Broadcast",
        ((3, 2, 2),),
        {"out_shape": (3, 10, 2)},
        "cannot broadcast size 2 to 10 on axis 1",
        param="out_shape",
    ),
    "Broadcast rank": Bad(
        "Broadcast", ((3, 1),), {"out_shape": (3, 1, 1)}, "has 3 axes but the input 3x1 has 2", param="out_shape"
    ),
    "Tile too many": Bad("Tile", ((3,),), {"reps": (2, 2)}, "reps has 2 values", param="reps"),
    "OneHot last axis": Bad("OneHot", ((2,),), {"shape": (10,)}, "must hold 1 indices; it holds 2", input=0),
    "MatrixDiagPart square": Bad("MatrixDiagPart", ((2, 3),), {}, "square", input=0),
    "Dropout p": Bad("Dropout", (C3,), {"p": 1.0}, "must be in [0, 1), got 1.0", param="p"),
    "TopKData k": Bad(
        "TopKData", ((4, 5),), {"k": 6, "base_axis": 1}, "k=6 must be between 1 and the 5 elements", param="k"
    ),
    "ImageAugmentation channels": Bad(
        "ImageAugmentation",
        ((3, 64, 64),),
        {"shape": (1, 32, 32)},
        "ImageAugmentation keeps the channels",
        param="shape",
    ),
    "ImageAugmentation 1d shape": Bad(
        "ImageAugmentation", ((3, 64, 64),), {"shape": (32,)}, "height and a width", param="shape"
    ),
    "ImageAugmentation scale": Bad(
        "ImageAugmentation", ((3, 64, 64),), {"min_scale": 0.0}, "min_scale must be positive", param="min_scale"
    ),
    "ImageAugmentation pad": Bad(
        "ImageAugmentation", ((3, 64, 64),), {"pad": (1, 2, 3)}, "'pad' has 3 values", param="pad"
    ),
    "RandomCrop larger": Bad(
        "RandomCrop",
        ((3, 32, 32),),
        {"shape": (3, 40, 40)},
        "cannot crop 3x40x40 from 3x32x32: 40 is larger than 32",
        param="shape",
    ),
    "RandomCrop too many axes": Bad(
        "RandomCrop", ((32, 32),), {"shape": (3, 24, 24)}, "more axes than the input", param="shape"
    ),
    "RandomFlip axis": Bad("RandomFlip", (C3,), {"axes": (3,)}, "axes 3 is out of range", param="axes"),
    "RandomShift negative": Bad("RandomShift", (C3,), {"shift": (-1, 1)}, "at least 0, got -1", param="shift"),
    "RandomShift too many": Bad("RandomShift", ((4,),), {"shift": (1, 1)}, "shift has 2 values", param="shift"),
    "BinaryConnectAffine zero": Bad(
        "BinaryConnectAffine", ((4,),), {"out_shape": (0,)}, "at least 1", param="out_shape"
    ),
    "BinaryConnectConvolution kernel": Bad(
        "BinaryConnectConvolution",
        ((1, 4, 4),),
        {},
        "kernel 5 is larger than the padded input (4 + 2x0)",
        param="kernel",
    ),
    "BinaryWeightConvolution stride": Bad(
        "BinaryWeightConvolution", ((1, 8, 8),), {"stride": (0, 1)}, "stride must be at least 1", param="stride"
    ),
    "SoftmaxCrossEntropy one-hot label": Bad(
        "SoftmaxCrossEntropy",
        ((10,), (10,)),
        {},
        "the label must have shape 1 (the input 10 with axis 0 of size 1), got 10 (that looks like a one-hot target",
        input=1,
    ),
    "SoftmaxCrossEntropy label spatial": Bad(
        "SoftmaxCrossEntropy", ((10, 8, 8), (1, 4, 4)), {}, "must have shape 1x8x8", input=1
    ),
    "CategoricalCrossEntropy label rank": Bad("CategoricalCrossEntropy", ((10,), (1, 1)), {}, "got 1x1", input=1),
    "BinaryCrossEntropy target": Bad(
        "BinaryCrossEntropy", ((1,), (2,)), {}, "the target must have the input's shape 1, got 2", input=1
    ),
    "SigmoidCrossEntropy target": Bad(
        "SigmoidCrossEntropy", ((3, 4), (4, 3)), {}, "input's shape 3x4, got 4x3", input=1
    ),
    "SquaredError target": Bad("SquaredError", ((10,), (1,)), {}, "SquaredError compares elementwise", input=1),
    "HuberLoss target": Bad("HuberLoss", ((10,), (1,)), {}, "got 1", input=1),
    "AbsoluteError target": Bad("AbsoluteError", ((10,), (1,)), {}, "got 1", input=1),
    "KLMultinomial shapes": Bad("KLMultinomial", ((10,), (9,)), {}, "q must have the input's shape 10, got 9", input=1),
    "TopNError label": Bad("TopNError", ((1000,), (2,)), {}, "label must have shape 1", input=1),
    "TopNError n": Bad("TopNError", ((1000,), (1,)), {"n": 0}, "n must be at least 1", param="n"),
    "BinaryError target": Bad("BinaryError", ((1,), (2,)), {}, "BinaryError compares elementwise", input=1),
    "WorkingMemory zero size": Bad("WorkingMemory", (), {"size": (1, 0)}, "at least 1, got 0", param="size"),
    "Parameter zero size": Bad("Parameter", (), {"size": (10, 0)}, "at least 1, got 0", param="size"),
    "VATNoise buf": Bad("VATNoise", ((1, 4, 4), (4, 4)), {}, "buf must have the input's shape 1x4x4", input=1),
    "VATNoise base_axis": Bad("VATNoise", ((4,), (4,)), {"base_axis": 1}, "out of range", param="base_axis"),
    "VATNoise epsilon": Bad("VATNoise", ((4,), (4,)), {"epsilon": 0.0}, "positive", param="epsilon"),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=k) for k, c in INVALID.items()])
def test_invalid(case: Bad):
    with pytest.raises(ShapeError) as info:
        run(case.layer, case.ins, case.params)
    err = info.value
    assert case.match in err.message
    assert err.param == case.param
    assert err.input == case.input
    if case.merge is not None:
        assert isinstance(err, MergeError)
        assert (err.a, err.b) == case.merge


def test_rules_do_not_mutate_inputs_or_defaults():
    spec = REGISTRY["Convolution"]
    before = [q.default for q in spec.params]
    run("Convolution", ((3, 8, 8),), {"kernel": 3})
    assert [q.default for q in spec.params] == before
