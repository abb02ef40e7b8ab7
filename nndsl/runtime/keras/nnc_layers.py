"""NNC's layers that Keras lacks, for Keras 3 (TensorFlow backend): the torch runtime's `nnc_layers`.

A generated project imports this file as `nnc_layers` when its model uses one of them; it needs keras,
tensorflow, numpy, the runtime's `nnc.py` (NNC's initial values as `nnc.NNCInitializer`), `tensors.py`
and `nnc_shapes.py`. Every piece reproduces the torch function of the same name (and through it
nnabla's source: the pooling `.cpp` files, `binary_*.cpp` / `.hpp`, `vat_noise.cpp`, ...).

Layout: generated Keras models compute channels-last (an NNC image (C, H, W) is (batch, H, W, C));
the layers take NNC's parameters verbatim (shapes and axes in NNC's channels-first per-sample convention)
and convert axes internally (`tensors.keras_axis`, `to_nnc_layout`, `from_nnc_layout`).

Contents:
  1. Layers Keras lacks: `sign`, `sinc`, `cumulative`, nnabla pooling (`pooling`, `Pooling`), `binary_tanh`,
     `binary_sigmoid`, `BinaryConnectAffine`, `BinaryConnectConvolution`, `BinaryWeightAffine`,
     `BinaryWeightConvolution`.
  2. Virtual adversarial training: `vat_noise`, `VATNoise`, `WorkingMemory` (NNC's VATNoise, WorkingMemory).
  3. Layers Keras lacks, with nnabla's gradients (the torch runtime's): `FixedPointQuantize`,
     `Pow2Quantize`, `Prune`, `ClipGradByNorm`, `TopKData`, `TopKGrad`, `Shift`, `MeanSubtraction` and their
     functions, `DepthwiseDeconvolution`, `Deconvolution`, `grouped_conv`, `one_hot`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

# isort: split
from ..nnc_params import INITIALIZERS
from ..nnc_shapes import (  # nnabla's rules, one copy for the compiler and both backends
    conv_geometry,
    pool_geometry,
    pool_right_pads,
    pool_window_lengths,
    pooled_size,
)
from . import nnc
from .nnc import _float_dtype
from .tensors import (
    _ints,
    _is_symbolic,
    _static_size,
    from_nnc_layout,
    keras_axis,
    keras_shape,
    to_nnc_layout,
)

__all__ = [
    "binary_sigmoid",
    "binary_tanh",
    "BinaryConnectAffine",
    "BinaryConnectConvolution",
    "BinaryWeightAffine",
    "BinaryWeightConvolution",
    "clip_grad_by_norm",
    "ClipGradByNorm",
    "cumulative",
    "Deconvolution",
    "DepthwiseDeconvolution",
    "fixed_point_quantize",
    "FixedPointQuantize",
    "grouped_conv",
    "INITIALIZERS",
    "MeanSubtraction",
    "one_hot",
    "pooled_size",
    "pooling",
    "Pooling",
    "pow2_quantize",
    "Pow2Quantize",
    "prune",
    "Prune",
    "shift",
    "Shift",
    "sign",
    "sinc",
    "top_k_data",
    "top_k_grad",
    "TopKData",
    "TopKGrad",
    "vat_noise",
    "VATNoise",
    "WorkingMemory",
]

_register = keras.saving.register_keras_serializable(package="nnc")


# ---------------------------------------------------------------------------------------------------
# 3. Layers Keras lacks
# ---------------------------------------------------------------------------------------------------


def sign(x: Any, alpha: float = 0.0) -> Any:
    """NNC's Sign (nnabla `sign.hpp`): +1 for x > 0, -1 for x < 0, alpha otherwise (0 and NaN); the
    gradient passes straight through (dy, unclipped; 0 where x is not finite). Works on KerasTensors."""
    ops = keras.ops
    y = ops.cast(ops.where(ops.greater(x, 0.0), 1.0, ops.where(ops.less(x, 0.0), -1.0, alpha)), x.dtype)
    h = ops.where(ops.isfinite(x), x, ops.zeros_like(x))  # h - stop_gradient(h) adds 0, and dy to the gradient
    return ops.stop_gradient(y) + (h - ops.stop_gradient(h))


def sinc(x: Any) -> Any:
    """NNC's Sinc (nnabla `sinc.hpp`): sin(x) / x, 1 at 0, with nnabla's gradient 0 at 0 (ops.sinc's is NaN
    there). Works on KerasTensors."""
    ops = keras.ops
    zero = ops.equal(x, 0.0)
    safe = ops.where(zero, ops.ones_like(x), x)
    return ops.where(zero, ops.ones_like(x), ops.sin(safe) / safe)


def _cumprod(x: Any, axis: int) -> Any:
    """ops.cumprod along `axis` with a gradient that is right where x has zeros (TensorFlow's divides by x):
    total j is the product (ops.prod) of row j of the values masked to k <= j."""
    ops = keras.ops
    x = ops.moveaxis(x, axis, -1)
    n = x.shape[-1]
    lower = np.tril(np.ones((n, n), dtype=bool))  # [j, k]: value k is in total j
    y = ops.prod(ops.where(lower, ops.expand_dims(x, -2), ops.ones_like(ops.expand_dims(x, -2))), axis=-1)
    return ops.moveaxis(y, -1, axis)


def cumulative(x: Any, op: str, axis: int, exclusive: bool = False, reverse: bool = False) -> Any:
    """NNC's CumSum and CumProd (`op` "sum" or "prod"; nnabla `cumsum.cpp`, `cumprod.cpp`) along the Keras
    tensor `axis`: exclusive leaves each element out of its own total (the first total is 0, or 1 for a
    product), reverse accumulates from the end. A product's gradient is nnabla's where x has zeros (see
    `_cumprod`). Works on KerasTensors."""
    ops = keras.ops
    if reverse:
        x = ops.flip(x, axis=axis)
    if exclusive:
        widths = [(0, 0)] * len(x.shape)
        widths[axis] = (1, 0)
        shifted = ops.pad(x, widths, constant_values=0.0 if op == "sum" else 1.0)
        x = shifted[(slice(None),) * (axis % len(x.shape)) + (slice(0, -1),)]
    y = ops.cumsum(x, axis=axis) if op == "sum" else _cumprod(x, axis)
    return ops.flip(y, axis=axis) if reverse else y


def _pooled_axes(rank: int, nd: int) -> tuple[list[int], bool]:
    """Keras axes of the last nd NNC axes of a rank-`rank` (with batch) tensor, and whether the tensor must be
    taken to NNC's layout first (pooling over the channels too) for them to be contiguous."""
    r = rank - 1
    if nd > r:
        raise ValueError(f"pooling: a {nd}-axis kernel for a rank-{r} sample")
    axes = [keras_axis(a, r) for a in range(r - nd, r)]
    if axes == list(range(axes[0], axes[0] + nd)):
        return axes, False
    return list(range(rank - nd, rank)), True


def pooling(
    x: Any,
    mode: str,
    kernel: Sequence[int],
    stride: Sequence[int] | None = None,
    pad: Sequence[int] | None = None,
    ignore_border: bool = True,
    including_pad: bool = True,
) -> Any:
    """nnabla's MaxPooling / AveragePooling / SumPooling over the last len(kernel) NNC per-sample axes (1 to 3),
    on a channels-last tensor (an NNC (C, H, W) image held as (N, H, W, C) pools H and W).

    Output window i covers [i*stride - pad, min(i*stride - pad + kernel, size + pad)) clipped to the input:
    "max" takes the maximum of its input elements (padding never wins), "sum" their sum, "average" their sum
    divided by the window length before clipping at 0 and `size` (including_pad) or after. As the torch
    runtime: pad (zeros, or -inf for max), then pooling without padding. `stride` defaults to the kernel,
    `pad` to 0. On a KerasTensor it returns the output of a `Pooling` layer.
    """
    if _is_symbolic(x):
        return Pooling(mode, kernel, stride, pad, ignore_border, including_pad)(x)
    kernel, stride, pad = pool_geometry(mode, kernel, stride, pad)
    x = tf.convert_to_tensor(x)
    nd = len(kernel)
    axes, transposed = _pooled_axes(x.shape.rank, nd)
    if transposed:
        x = to_nnc_layout(x)
    first, last = axes[0], axes[-1]
    sizes = [_static_size(x, a, "pooling") for a in axes]
    outs = [pooled_size(n, k, s, p, ignore_border) for n, k, s, p in zip(sizes, kernel, stride, pad, strict=True)]
    rights = pool_right_pads(sizes, outs, kernel, stride, pad)
    dynamic = tf.shape(x)
    lead, tail = dynamic[:first], dynamic[last + 1 :]
    flat = tf.reshape(x, tf.concat([[-1], sizes, [tf.reduce_prod(tail)]], 0))
    fill = float("-inf") if mode == "max" else 0.0
    paddings = [[0, 0], *([p, r] for p, r in zip(pad, rights, strict=True)), [0, 0]]
    padded = tf.pad(flat, paddings, constant_values=tf.cast(fill, flat.dtype))
    # tf.nn.pool refuses strides larger than the window: such axes pool densely and are subsampled.
    dense = [1 if s > k else s for s, k in zip(stride, kernel, strict=True)]
    if mode == "max":
        y = tf.nn.pool(padded, list(kernel), "MAX", strides=dense, padding="VALID")
    else:
        y = tf.nn.pool(padded, list(kernel), "AVG", strides=dense, padding="VALID") * float(math.prod(kernel))
    if dense != list(stride):
        y = y[(slice(None), *(slice(None, None, s // d) for s, d in zip(stride, dense, strict=True)), slice(None))]
    y = y[(slice(None), *(slice(0, o) for o in outs), slice(None))]
    if mode == "average":
        divisor = _pool_divisor(sizes, outs, kernel, stride, pad, including_pad)
        y = y / tf.constant(divisor.reshape((1, *outs, 1)), dtype=y.dtype)
    y = tf.reshape(y, tf.concat([lead, outs, tail], 0))
    return from_nnc_layout(y) if transposed else y


def _pool_divisor(sizes, outs, kernel, stride, pad, including_pad) -> np.ndarray:
    """Per-window element counts of nnabla's AveragePooling, the outer product of per-axis lengths."""
    divisor = np.ones((1,) * len(sizes), dtype=np.float64)
    for axis, (n, o, k, s, p) in enumerate(zip(sizes, outs, kernel, stride, pad, strict=True)):
        length = np.array(pool_window_lengths(n, o, k, s, p, including_pad), dtype=np.float64)
        view = [1] * len(sizes)
        view[axis] = o
        divisor = divisor * length.reshape(view)
    return divisor


@_register
class Pooling(keras.layers.Layer):
    """nnabla's pooling as a layer: `mode` "max" (MaxPooling), "average" (AveragePooling) or "sum"
    (SumPooling), NNC's kernel, stride (default the kernel), pad (default 0), ignore_border, including_pad
    (average only), over the last len(kernel) NNC per-sample axes of a channels-last tensor (see `pooling`)."""

    def __init__(
        self,
        mode: str,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        ignore_border: bool = True,
        including_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.kernel, self.stride, self.pad = pool_geometry(mode, kernel, stride, pad)
        self.ignore_border, self.including_pad = bool(ignore_border), bool(including_pad)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            mode=self.mode,
            kernel=self.kernel,
            stride=self.stride,
            pad=self.pad,
            ignore_border=self.ignore_border,
            including_pad=self.including_pad,
        )
        return config

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        rank = len(input_shape)
        axes, transposed = _pooled_axes(rank, len(self.kernel))
        shape = list(input_shape)
        if transposed:
            shape = [shape[0], shape[-1], *shape[1:-1]]
        for a, k, s, p in zip(axes, self.kernel, self.stride, self.pad, strict=True):
            if shape[a] is not None:
                shape[a] = pooled_size(shape[a], k, s, p, self.ignore_border)
        if transposed:
            shape = [shape[0], *shape[2:], shape[1]]
        return tuple(shape)

    def call(self, x: Any) -> tf.Tensor:
        return pooling(x, self.mode, self.kernel, self.stride, self.pad, self.ignore_border, self.including_pad)


def _straight_through(q: Any, x: Any, slope: float) -> Any:
    """q in the forward pass; the gradient dy * slope where |x| < 1, else 0 (x - stop_gradient(x) adds 0)."""
    ops = keras.ops
    h = ops.where(ops.less(ops.abs(x), 1.0), x * slope if slope != 1.0 else x, ops.zeros_like(x))
    return q + (h - ops.stop_gradient(h))


def binary_tanh(x: Any) -> Any:
    """NNC's BinaryTanh (nnabla `binary_tanh.hpp`): +1 for x > 0, -1 for x <= 0; gradient dy where |x| < 1,
    else 0. keras.ops only: works on KerasTensors."""
    ops = keras.ops
    q = ops.where(ops.greater(x, 0.0), ops.ones_like(x), -ops.ones_like(x))
    return _straight_through(ops.stop_gradient(q), x, 1.0)


def binary_sigmoid(x: Any) -> Any:
    """NNC's BinarySigmoid (nnabla `binary_sigmoid.hpp`): 1 for x > 0, 0 for x <= 0; gradient dy / 2 where
    |x| < 1, else 0. keras.ops only: works on KerasTensors."""
    ops = keras.ops
    q = ops.cast(ops.greater(x, 0.0), x.dtype)
    return _straight_through(ops.stop_gradient(q), x, 0.5)


class _BinaryLayer(keras.layers.Layer):
    """Shared weights of NNC's binary layers, with NNC's names and layouts: W (trainable), Wb (its binarized
    copy, state), alpha (BinaryWeight*, state), b (optional). A loader assigns NNC arrays as they are:
    `layer.W.assign(array)`.

    The layer computes with sign(W) (0 -> +1), times alpha = mean |W| per output for BinaryWeight*; the
    gradient with respect to those weights goes to W unchanged (nnabla's `Sign` full straight through: no
    clipping, no factor alpha). Each forward refreshes Wb (and alpha) as nnabla's does.
    """

    scaled = False

    def __init__(
        self,
        bias: bool = True,
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for init in (w_init, b_init):
            if init not in INITIALIZERS:
                raise ValueError(f"unknown initializer {init!r}; expected one of {', '.join(INITIALIZERS)}")
        self.bias = bool(bias)
        self.w_init, self.w_init_multiplier = w_init, float(w_init_multiplier)
        self.b_init, self.b_init_multiplier = b_init, float(b_init_multiplier)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            bias=self.bias,
            w_init=self.w_init,
            w_init_multiplier=self.w_init_multiplier,
            b_init=self.b_init,
            b_init_multiplier=self.b_init_multiplier,
        )
        return config

    def _make_weights(self, w_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        self.W = self.add_weight(
            name="W", shape=w_shape, initializer=nnc.NNCInitializer(self.w_init, self.w_init_multiplier), trainable=True
        )
        # State as Keras' BatchNormalization keeps its moving statistics (each replica writes its copy; they
        # agree, being functions of the synchronised W).
        state = dict(initializer="zeros", trainable=False)
        self.Wb = self.add_weight(name="Wb", shape=w_shape, **state)
        self.alpha = self.add_weight(name="alpha", shape=out_shape, **state) if self.scaled else None
        self.b = (
            self.add_weight(
                name="b", shape=out_shape, initializer=nnc.NNCInitializer(self.b_init, self.b_init_multiplier)
            )
            if self.bias
            else None
        )

    def _alpha(self, w: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def binarized_weight(self) -> tf.Tensor:
        """The weights the layer computes with (NNC layout); refreshes Wb (and alpha) as nnabla's forward does."""
        w = tf.convert_to_tensor(self.W)
        q = tf.where(w < 0, -tf.ones_like(w), tf.ones_like(w))
        self.Wb.assign(tf.cast(q, self.Wb.dtype))
        weight = q
        if self.scaled:
            alpha = self._alpha(w)
            self.alpha.assign(tf.cast(tf.reshape(alpha, self.alpha.shape), self.alpha.dtype))
            weight = q * alpha
        return tf.stop_gradient(weight) + (w - tf.stop_gradient(w))


class _NoBias:
    """BinaryWeight*: no bias, so their config has no bias options."""

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("bias", "b_init", "b_init_multiplier"):
            del config[key]
        return config


class _BinaryAffine(_BinaryLayer):
    def __init__(
        self,
        in_features: int | None,
        out_shape: int | Sequence[int],
        bias: bool = True,
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(bias, w_init, w_init_multiplier, b_init, b_init_multiplier, **kwargs)
        self.in_features = None if in_features is None else int(in_features)
        self.out_shape = _ints(out_shape)
        self.out_numel = math.prod(self.out_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(in_features=self.in_features, out_shape=self.out_shape)
        return config

    def build(self, input_shape: Sequence[Any]) -> None:
        features = input_shape[1:]
        if all(s is not None for s in features):
            n = math.prod(features)
            if self.in_features is not None and n != self.in_features:
                raise ValueError(f"{type(self).__name__}: in_features {self.in_features} for input {input_shape}")
            self.in_features = n
        if self.in_features is None:
            raise ValueError(f"{type(self).__name__}: the input {input_shape} needs static sizes (or in_features)")
        self._make_weights((self.in_features, *self.out_shape), self.out_shape)

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        return (input_shape[0], *keras_shape(self.out_shape))

    def _alpha(self, w: tf.Tensor) -> tf.Tensor:
        # nnabla binary_weight_affine.cpp: the mean of |W| over the inputs, one per output.
        return tf.reduce_mean(tf.abs(w), axis=0)

    def call(self, x: Any) -> tf.Tensor:
        # NNC flattens the sample in its own (channels-first) order: take x to NNC's layout first.
        flat = tf.reshape(to_nnc_layout(tf.convert_to_tensor(x)), [-1, self.in_features])
        w = tf.reshape(self.binarized_weight(), [self.in_features, self.out_numel])
        y = tf.matmul(flat, tf.cast(w, flat.dtype))
        if self.b is not None:
            y = y + tf.cast(tf.reshape(self.b, [-1]), y.dtype)
        return from_nnc_layout(tf.reshape(y, [-1, *self.out_shape]))


@_register
class BinaryConnectAffine(_BinaryAffine):
    """NNC's BinaryConnectAffine (nnabla `binary_connect_affine.cpp`): y = x sign(W) + b.

    BinaryConnectAffine(in_features, out_shape, bias=True, w_init="UniformAffineGlorot", w_init_multiplier=1,
    b_init="Constant", b_init_multiplier=0). W and Wb are NNC's (in_features, *out_shape), b is out_shape;
    the sample is flattened in NNC's order (channels first) and the output (N, *out_shape) is held
    channels-last. `in_features` may be None (read from the input).
    """


@_register
class BinaryWeightAffine(_NoBias, _BinaryAffine):
    """NNC's BinaryWeightAffine (nnabla `binary_weight_affine.cpp`): y = x (alpha * sign(W)), no bias.

    BinaryWeightAffine(in_features, out_shape, w_init="UniformAffineGlorot", w_init_multiplier=1). As
    BinaryConnectAffine, with alpha (state, out_shape) = mean |W| over the inputs per output (NNC's files
    hold alpha as the layer's `b`).
    """

    scaled = True

    def __init__(
        self,
        in_features: int | None,
        out_shape: int | Sequence[int],
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, out_shape, False, w_init, w_init_multiplier, **kwargs)


class _BinaryConvolution(_BinaryLayer):
    def __init__(
        self,
        in_channels: int | None,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        bias: bool = True,
        w_init: str = "UniformConvolutionGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(bias, w_init, w_init_multiplier, b_init, b_init_multiplier, **kwargs)
        self.kernel, self.stride, self.pad, self.dilation = conv_geometry(
            kernel, stride, pad, dilation, "binary convolution"
        )
        self.in_channels = None if in_channels is None else int(in_channels)
        self.out_maps = int(out_maps)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_maps=self.out_maps,
            kernel=self.kernel,
            stride=self.stride,
            pad=self.pad,
            dilation=self.dilation,
        )
        return config

    def build(self, input_shape: Sequence[Any]) -> None:
        nd = len(self.kernel)
        if len(input_shape) != nd + 2:
            raise ValueError(f"{type(self).__name__}: a {nd}-D kernel needs (N, *{nd} sizes, C) inputs")
        channels = input_shape[-1]
        if channels is not None:
            if self.in_channels is not None and channels != self.in_channels:
                raise ValueError(f"{type(self).__name__}: in_channels {self.in_channels} for input {input_shape}")
            self.in_channels = int(channels)
        if self.in_channels is None:
            raise ValueError(f"{type(self).__name__}: the input {input_shape} needs a static channel size")
        self._make_weights((self.out_maps, self.in_channels, *self.kernel), (self.out_maps,))

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        spatial = []
        for n, k, s, p, d in zip(input_shape[1:-1], self.kernel, self.stride, self.pad, self.dilation, strict=True):
            spatial.append(None if n is None else (n + 2 * p - d * (k - 1) - 1) // s + 1)
        return (input_shape[0], *spatial, self.out_maps)

    def _alpha(self, w: tf.Tensor) -> tf.Tensor:
        # nnabla binary_weight_convolution.cpp: the mean of |W| over (in, *kernel), one per output map.
        mean = tf.reduce_mean(tf.abs(tf.reshape(w, [self.out_maps, -1])), axis=1)
        return tf.reshape(mean, [-1] + [1] * (len(self.kernel) + 1))

    def call(self, x: Any) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        nd = len(self.kernel)
        # NNC (out, in, *kernel) -> TensorFlow's (*kernel, in, out)
        kernel = tf.transpose(self.binarized_weight(), [*range(2, nd + 2), 1, 0])
        if any(self.pad):
            x = tf.pad(x, [[0, 0], *([p, p] for p in self.pad), [0, 0]])
        strided = any(s > 1 for s in self.stride) and any(d > 1 for d in self.dilation)
        # TensorFlow refuses strides together with dilations: convolve densely, then subsample.
        y = tf.nn.convolution(
            x,
            tf.cast(kernel, x.dtype),
            strides=1 if strided else list(self.stride),
            padding="VALID",
            dilations=list(self.dilation),
        )
        if strided:
            y = y[(slice(None), *(slice(None, None, s) for s in self.stride), slice(None))]
        if self.b is not None:
            y = y + tf.cast(self.b, y.dtype)
        return y


@_register
class BinaryConnectConvolution(_BinaryConvolution):
    """NNC's BinaryConnectConvolution (nnabla `binary_connect_convolution.cpp`): convolution with sign(W).

    BinaryConnectConvolution(in_channels, out_maps, kernel, stride=None, pad=None, dilation=None, bias=True,
    w_init="UniformConvolutionGlorot", w_init_multiplier=1, b_init="Constant", b_init_multiplier=0).
    W and Wb are NNC's (out_maps, in_channels, *kernel), b is (out_maps,); input (N, *spatial, C) and output
    (N, *spatial', out_maps) channels-last. `in_channels` may be None (read from the input).
    """


@_register
class BinaryWeightConvolution(_NoBias, _BinaryConvolution):
    """NNC's BinaryWeightConvolution (nnabla `binary_weight_convolution.cpp`): convolution with alpha * sign(W).

    BinaryWeightConvolution(in_channels, out_maps, kernel, stride=None, pad=None, dilation=None,
    w_init="UniformConvolutionGlorot", w_init_multiplier=1). As BinaryConnectConvolution, with alpha (state,
    (out_maps,)) = mean |W| over (in, *kernel) per map, and no bias (NNC's files hold alpha as the layer's `b`).
    """

    scaled = True

    def __init__(
        self,
        in_channels: int | None,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        w_init: str = "UniformConvolutionGlorot",
        w_init_multiplier: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            in_channels, out_maps, kernel, stride, pad, dilation, False, w_init, w_init_multiplier, **kwargs
        )


# ---------------------------------------------------------------------------------------------------
# 4. Virtual adversarial training: `vat_noise`, `VATNoise`, `WorkingMemory`
# ---------------------------------------------------------------------------------------------------


def vat_noise(x: Any, buf: Any, axes: Sequence[int], eps: float = 1e-4) -> tf.Tensor:
    """NNC's VATNoise (nnabla `vat_noise.cpp`): eps * x / sqrt(sum x^2 + 1e-8), the sum over `axes` (the Keras
    axes of the sample's axes from NNC's base_axis on). The backward gives x no gradient and hands eps times
    the output's gradient to `buf`, where the `WorkingMemory` that produced it stores it (nnabla writes it
    into the buffer's data), as the torch runtime's `vat_noise` does. On TensorFlow tensors; in a Keras
    model, the `VATNoise` layer."""
    axes = list(axes)

    @tf.custom_gradient
    def noise(x, buf):
        y = eps * x / tf.sqrt(tf.reduce_sum(tf.square(x), axis=axes, keepdims=True) + 1e-8)

        def grad(dy):
            return tf.zeros_like(x), eps * dy

        return y, grad

    return noise(tf.convert_to_tensor(x), tf.convert_to_tensor(buf))


@_register
class VATNoise(keras.layers.Layer):
    """`vat_noise` as a Keras layer: VATNoise(axes, eps), called on (x, buf)."""

    def __init__(self, axes: Sequence[int], eps: float = 1e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes, self.eps = tuple(axes), float(eps)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axes=list(self.axes), eps=self.eps)
        return config

    def compute_output_shape(self, x_shape: Sequence[Any], buf_shape: Sequence[Any]) -> tuple:
        return tuple(x_shape)

    def call(self, x: Any, buf: Any) -> tf.Tensor:
        return vat_noise(x, buf, self.axes, self.eps)


class WorkingMemory(keras.layers.Layer):
    """NNC's WorkingMemory: one buffer value per sample, kept between steps (the torch runtime's
    `WorkingMemory`).

    WorkingMemory(size, init="Normal", multiplier=1.0, needs_grad=False); `size` is NNC's per-sample shape,
    the buffer is held channels-last, (batch, *keras_shape(size)). Called on any tensor of the batch, it
    returns the buffer for that batch size, created (NNC's initializer) at the first call and again when
    the batch size changes. Networks holding a WorkingMemory of the same name share this layer. It is state,
    not a parameter: no optimizer updates it, parameter files do not hold it. With `needs_grad` (NNC's
    LRateMultiplier above 0) the gradient reaching its output (a VATNoise's eps * dy) is written into the
    buffer, as nnabla's VATNoise writes it; TensorFlow's tape reaches it through `tap`, a trainable scalar
    whose value is never used and whose gradient is always 0. Without, nothing is written (nnabla: the
    buffer needs no gradient, so VATNoise's backward does not run). The buffer's batch size follows the
    batch, which XLA cannot compile: a training step with a WorkingMemory runs without `--jit`.
    """

    def __init__(
        self, size: Sequence[int], init: str = "Normal", multiplier: float = 1.0, needs_grad: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.size, self.init, self.multiplier, self.needs_grad = tuple(size), init, float(multiplier), needs_grad
        self.cl_size = keras_shape(self.size)
        self.buf = tf.Variable(
            tf.zeros((0, *self.cl_size)), trainable=False, shape=tf.TensorShape([None, *self.cl_size]), name="buf"
        )
        self.tap = self.add_weight(shape=(), initializer="ones", trainable=True, name="tap") if needs_grad else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=list(self.size), init=self.init, multiplier=self.multiplier, needs_grad=self.needs_grad)
        return config

    def compute_output_shape(self, like_shape: Sequence[Any]) -> tuple:
        return (like_shape[0], *self.cl_size)

    def _initial(self, batch: Any) -> tf.Tensor:
        shape = tf.concat([[batch], tf.constant(self.cl_size, dtype=tf.int32)], axis=0)
        kind, scale = nnc.NNCInitializer(self.init, self.multiplier).distribution((1, *self.size))
        if kind == "constant":
            return tf.fill(shape, tf.constant(scale, tf.float32))
        if kind == "normal":
            return tf.random.normal(shape, stddev=scale)
        return tf.random.uniform(shape, -scale, scale)

    def call(self, like: Any) -> tf.Tensor:
        batch = tf.shape(like)[0]

        def fresh() -> tf.Tensor:
            with tf.control_dependencies([self.buf.assign(self._initial(batch))]):
                return tf.identity(self.buf)

        value = tf.cond(tf.equal(tf.shape(self.buf)[0], batch), lambda: tf.identity(self.buf), fresh)
        value = tf.ensure_shape(value, [None, *self.cl_size])
        if self.tap is None:
            return tf.stop_gradient(value)
        return self._stored(value, self.tap.value)

    def _stored(self, value: tf.Tensor, tap: tf.Tensor) -> tf.Tensor:
        @tf.custom_gradient
        def stored(value, tap):
            def grad(g):
                with tf.control_dependencies([self.buf.assign(g)]):
                    return tf.zeros_like(value), tf.zeros_like(tap)

            return tf.identity(value), grad

        return stored(value, tap)


# ---------------------------------------------------------------------------------------------------
# 5. Quantizers, pruning, top-k, gradient clipping, Shift, MeanSubtraction, DepthwiseDeconvolution
# ---------------------------------------------------------------------------------------------------
# The torch runtime's section 7, on TensorFlow tensors. The layers whose meaning depends on the order of
# a sample's axes compute in NNC's layout (`to_nnc_layout`), taking NNC's per-sample axes verbatim.


def _masked_straight_through(x: tf.Tensor, q: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """q in the forward pass (exactly: h - stop_gradient(h) adds 0); the gradient dy * mask reaches x."""
    h = x if mask is None else x * tf.stop_gradient(tf.cast(mask, x.dtype))
    return tf.stop_gradient(q) + (h - tf.stop_gradient(h))


def _round(x: tf.Tensor) -> tf.Tensor:
    """Rounding half away from zero (C's `std::round`; tf.round rounds half to even)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def fixed_point_quantize(
    x: Any, sign: bool = True, n: int = 8, delta: float = 0.0625, ste_fine_grained: bool = True
) -> tf.Tensor:
    """NNC's FixedPointQuantize (the torch runtime's `fixed_point_quantize`)."""
    x = tf.convert_to_tensor(x)
    top = ((1 << (n - 1)) - 1) * delta if sign else ((1 << n) - 1) * delta
    bottom = -top if sign else 0.0
    q = tf.clip_by_value(tf.sign(x) * tf.floor(tf.abs(x) / delta + 0.5) * delta, bottom, top)
    mask = tf.logical_and(x >= bottom, x <= top) if ste_fine_grained else None
    return _masked_straight_through(x, q, mask)


def pow2_quantize(
    x: Any, sign: bool = True, with_zero: bool = True, n: int = 8, m: int = 1, ste_fine_grained: bool = True
) -> tf.Tensor:
    """NNC's Pow2Quantize (the torch runtime's `pow2_quantize`)."""
    x = tf.convert_to_tensor(x)
    bits = n - int(sign) - int(with_zero)
    top = 2.0**m
    bottom = float(np.float32(2.0 ** (m - ((1 << bits) - 1))))  # nnabla's float: 0 when it underflows
    a = tf.abs(x)
    q = tf.pow(2.0, _round(tf.math.log(a) / math.log(2.0)))
    over = q > top
    q = tf.where(over, top, q)
    floor = tf.where(a < bottom * 2**-0.5, 0.0, bottom) if with_zero else bottom  # what below min becomes
    q = tf.where(q < bottom, floor, q)
    q = tf.where(x < 0, -q if sign else tf.fill(tf.shape(q), 0.0 if with_zero else bottom), q)
    mask = None
    if ste_fine_grained:
        mask = tf.logical_not(over) if sign else tf.logical_and(tf.logical_not(over), x >= 0)
    return _masked_straight_through(x, q, mask)


def prune(x: Any, rate: float = 0.9) -> tf.Tensor:
    """NNC's Prune (the torch runtime's `prune`): over the whole batch; the gradient passes straight through."""
    x = tf.convert_to_tensor(x)
    a = tf.abs(tf.stop_gradient(x))
    flat = tf.sort(tf.reshape(a, [-1]))
    index = tf.cast(tf.cast(tf.size(flat) - 1, tf.float64) * rate, tf.int32)
    threshold = flat[index] + (1.0 if rate == 1.0 else 0.0)
    return _masked_straight_through(x, tf.where(a < threshold, tf.zeros_like(x), x))


def clip_grad_by_norm(x: Any, clip_norm: float = 1.0, axes: Sequence[int] = (1,)) -> tf.Tensor:
    """NNC's ClipGradByNorm (the torch runtime's `clip_grad_by_norm`): `axes` are tensor axes."""
    axes = list(axes)

    @tf.custom_gradient
    def clip(x):
        def grad(dy):
            return clip_norm * dy / tf.sqrt(tf.reduce_sum(tf.square(dy), axis=axes, keepdims=True))

        return tf.identity(x), grad

    return clip(tf.convert_to_tensor(x))


def _flat_from(x: tf.Tensor, base_axis: int) -> tf.Tensor:
    """x (batch, s0, ...) with the sample's axes from base_axis on flattened into one."""
    return tf.reshape(x, tf.concat([tf.shape(x)[: base_axis + 1], [-1]], axis=0))


def _top_k_mask(x: tf.Tensor, k: int, use_abs: bool, base_axis: int, largest: bool = True) -> tf.Tensor:
    flat = _flat_from(x, base_axis)
    key = tf.abs(flat) if use_abs else flat
    index = tf.math.top_k(key if largest else -key, k).indices
    mask = tf.reduce_max(tf.one_hot(index, tf.shape(flat)[-1], dtype=x.dtype), axis=-2)
    return tf.reshape(mask, tf.shape(x))


def top_k_data(
    x: Any, k: int, abs: bool = False, reduce: bool = True, base_axis: int = 0, largest: bool = False
) -> tf.Tensor:
    """NNC's TopKData on a tensor in NNC's layout (the torch runtime's `top_k_data`: the k smallest)."""
    x = tf.convert_to_tensor(x)
    if reduce:
        flat = _flat_from(x, base_axis)
        key = tf.abs(flat) if abs else flat
        index = tf.math.top_k(key if largest else -key, k).indices
        return tf.gather(flat, index, batch_dims=base_axis + 1)
    mask = _top_k_mask(tf.stop_gradient(x), k, abs, base_axis, largest)
    return _masked_straight_through(x, x * mask)


def top_k_grad(x: Any, k: int, abs: bool = False, base_axis: int = 0) -> tf.Tensor:
    """NNC's TopKGrad on a tensor in NNC's layout (the torch runtime's `top_k_grad`)."""

    @tf.custom_gradient
    def keep(x):
        def grad(dy):
            return dy * _top_k_mask(dy, k, abs, base_axis)

        return tf.identity(x), grad

    return keep(tf.convert_to_tensor(x))


def shift(x: Any, shifts: Sequence[int], border_mode: str = "nearest") -> tf.Tensor:
    """NNC's Shift on a tensor in NNC's layout (the torch runtime's `shift`)."""
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    for k, s in enumerate(shifts):
        if s == 0:
            continue
        axis = rank - len(shifts) + k
        n = _static_size(x, axis, "Shift")
        index = np.arange(n) - s
        if border_mode == "nearest":
            index = index.clip(0, n - 1)
        else:
            index = index % (2 * n)
            index = np.where(index >= n, 2 * n - 1 - index, index)
        x = tf.gather(x, index, axis=axis)
    return x


class _NNCLayout(keras.layers.Layer):
    """A layer computing `compute` on its input in NNC's layout (batch, s0, s1, ...), its result given back
    channels-last; `elementwise` layers skip the conversion. Its constructor arguments are its config."""

    elementwise = False

    def __init__(self, **kwargs: Any) -> None:
        names = [n for n in self.arguments if n in kwargs]
        self.config = {n: kwargs.pop(n) for n in names}
        super().__init__(**kwargs)

    arguments: tuple[str, ...] = ()

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self.config)
        return config

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def call(self, x: Any) -> tf.Tensor:
        if self.elementwise:
            return self.compute(tf.convert_to_tensor(x))
        return from_nnc_layout(self.compute(to_nnc_layout(x)))


@_register
class FixedPointQuantize(_NNCLayout):
    """`fixed_point_quantize` as a layer: FixedPointQuantize(sign=..., n=..., delta=..., ste_fine_grained=...)."""

    elementwise, arguments = True, ("sign", "n", "delta", "ste_fine_grained")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return fixed_point_quantize(x, **self.config)


@_register
class Pow2Quantize(_NNCLayout):
    """`pow2_quantize` as a layer: Pow2Quantize(sign=..., with_zero=..., n=..., m=..., ste_fine_grained=...)."""

    elementwise, arguments = True, ("sign", "with_zero", "n", "m", "ste_fine_grained")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return pow2_quantize(x, **self.config)


@_register
class Prune(_NNCLayout):
    """`prune` as a layer: Prune(rate=...)."""

    elementwise, arguments = True, ("rate",)

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return prune(x, **self.config)


@_register
class ClipGradByNorm(_NNCLayout):
    """`clip_grad_by_norm` as a layer: ClipGradByNorm(clip_norm=..., axes=NNC's per-sample axes)."""

    arguments = ("clip_norm", "axes")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        axes = [a % (x.shape.rank - 1) + 1 for a in self.config.get("axes", (0,))]
        return clip_grad_by_norm(x, self.config.get("clip_norm", 1.0), axes)


@_register
class TopKData(_NNCLayout):
    """`top_k_data` as a layer: TopKData(k=..., abs=..., reduce=..., base_axis=...)."""

    arguments = ("k", "abs", "reduce", "base_axis")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return top_k_data(x, **self.config)


@_register
class TopKGrad(_NNCLayout):
    """`top_k_grad` as a layer: TopKGrad(k=..., abs=..., base_axis=...)."""

    arguments = ("k", "abs", "base_axis")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return top_k_grad(x, **self.config)


@_register
class Shift(_NNCLayout):
    """`shift` as a layer: Shift(shifts=..., border_mode=...), over the last len(shifts) NNC axes."""

    arguments = ("shifts", "border_mode")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        return shift(x, **self.config)


@_register
class MeanSubtraction(_NNCLayout):
    """NNC's MeanSubtraction (the torch runtime's `MeanSubtraction`): MeanSubtraction(shape=the sample's
    shape from base_axis on, in NNC's order, base_axis=..., update_running_mean=...); state `mean` and `t`;
    nnabla's gradient."""

    arguments = ("shape", "base_axis", "update_running_mean")

    def __init__(self, mean_initializer: Any = "zeros", t_initializer: Any = "zeros", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        shape = tuple(self.config["shape"])
        self.mean = self.add_weight(shape=shape, initializer=mean_initializer, trainable=False, name="mean")
        self.t = self.add_weight(shape=(1,), initializer=t_initializer, trainable=False, name="t")

    def compute(self, x: tf.Tensor) -> tf.Tensor:
        base_axis = self.config.get("base_axis", 0)
        if self.config.get("update_running_mean", True):
            count = tf.math.floor(tf.abs(self.t)) * tf.sign(self.t)  # nnabla reads t as an integer
            batch = tf.reduce_mean(tf.stop_gradient(x), axis=list(range(base_axis + 1)))
            mean = self.mean + (batch - self.mean) / (count + 1)
            samples = tf.cast(tf.reduce_prod(tf.shape(x)[: base_axis + 1]), x.dtype)
            slope = tf.broadcast_to(1 - 1 / (samples * (count + 1)), tf.shape(x))
            with tf.control_dependencies([self.mean.assign(mean), self.t.assign(count + 1)]):
                return _masked_straight_through(x, x - mean, slope)
        return x - self.mean


@_register
class DepthwiseDeconvolution(keras.layers.Layer):
    """NNC's DepthwiseDeconvolution (nnabla `depthwise_deconvolution.cpp`) on channels-last images: each of the
    C / divisor output maps is the transposed convolution of `divisor` consecutive input maps, each with its
    own kernel; W (C, *kernel) and b (C / divisor,) in NNC's layout. The kernel is expanded to the grouped
    (*kernel, maps, C) kernel of `ops.conv_transpose`; NNC's pad crops the full output."""

    def __init__(
        self,
        channels: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        divisor: int = 1,
        bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channels, self.kernel_size, self.divisor, self.use_bias = int(channels), _ints(kernel), divisor, bias
        nd = len(self.kernel_size)
        self.stride = _ints(stride) if stride is not None else (1,) * nd
        self.pad = _ints(pad) if pad is not None else (0,) * nd
        self.dilation = _ints(dilation) if dilation is not None else (1,) * nd
        maps = self.channels // divisor
        self.kernel = self.add_weight(
            shape=(self.channels, *self.kernel_size), initializer=kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(shape=(maps,), initializer=bias_initializer, name="bias") if bias else None
        groups = np.arange(self.channels) // divisor
        self.groups = (groups[None, :] == np.arange(maps)[:, None]).astype(np.float32)  # (maps, C)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            channels=self.channels, kernel=self.kernel_size, stride=self.stride, pad=self.pad,
            dilation=self.dilation, divisor=self.divisor, bias=self.use_bias,
        )  # fmt: skip
        return config

    def call(self, x: Any) -> Any:
        ops = keras.ops
        nd = len(self.kernel_size)
        w = ops.transpose(self.kernel, (*range(1, nd + 1), 0))  # (*kernel, C)
        kernel = ops.expand_dims(w, -2) * self.groups  # (*kernel, maps, C)
        y = _transposed(x, kernel, self.stride, self.pad, self.dilation)
        return y if self.bias is None else y + self.bias


def _dilated(kernel: tf.Tensor, dilation: Sequence[int]) -> tf.Tensor:
    """A channels-last kernel (*kernel, a, b) with `dilation - 1` zeros between its taps on each spatial
    axis: the dilated kernel, as a plain one (Keras refuses strides together with dilation)."""
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        shape = tf.shape(kernel)
        k = kernel.shape[axis]
        spread = tf.expand_dims(kernel, axis + 1)  # (..., k, 1, ...)
        spread = tf.pad(spread, [[0, 0]] * (axis + 1) + [[0, d - 1]] + [[0, 0]] * (len(kernel.shape) - axis - 1))
        spread = tf.reshape(spread, tf.concat([shape[:axis], [k * d], shape[axis + 1 :]], 0))
        kernel = spread[(slice(None),) * axis + (slice(0, (k - 1) * d + 1),)]
    return kernel


def _transposed(x: Any, kernel: Any, stride: Sequence[int], pad: Sequence[int], dilation: Sequence[int]) -> tf.Tensor:
    """nnabla's transposed convolution of channels-last `x` with the kernel (*kernel, out, in): the full
    output, (in - 1) * stride + dilation * (kernel - 1) + 1 per axis, less NNC's `pad` on each side."""
    kernel = _dilated(tf.convert_to_tensor(kernel), dilation)
    y = keras.ops.conv_transpose(x, kernel, tuple(stride))
    spans = []
    for axis, (s, p) in enumerate(zip(stride, pad, strict=True)):
        full = (x.shape[axis + 1] - 1) * s + kernel.shape[axis]
        spans.append(slice(p, full - p))  # Keras's output is longer when the kernel is shorter than the stride
    return y[(slice(None), *spans)]


@_register
class Deconvolution(keras.layers.Layer):
    """NNC's Deconvolution (nnabla `deconvolution.cpp`) where Keras's Conv*DTranspose cannot express it: a
    grouped one (Keras's has no groups), or one with both stride and dilation (Keras refuses them
    together). W (in, out / group, *kernel) and b (out,) in NNC's layout; each group's input maps give its
    output maps by `ops.conv_transpose` (the kernel dilated by zeros), NNC's pad crops the full output."""

    def __init__(
        self,
        channels: int,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        group: int = 1,
        bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channels, self.out_maps, self.group, self.use_bias = int(channels), int(out_maps), int(group), bias
        self.kernel_size = _ints(kernel)
        nd = len(self.kernel_size)
        self.stride = _ints(stride) if stride is not None else (1,) * nd
        self.pad = _ints(pad) if pad is not None else (0,) * nd
        self.dilation = _ints(dilation) if dilation is not None else (1,) * nd
        shape = (self.channels, self.out_maps // self.group, *self.kernel_size)
        self.kernel = self.add_weight(shape=shape, initializer=kernel_initializer, name="kernel")
        self.bias = self.add_weight(shape=(out_maps,), initializer=bias_initializer, name="bias") if bias else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            channels=self.channels, out_maps=self.out_maps, kernel=self.kernel_size, stride=self.stride,
            pad=self.pad, dilation=self.dilation, group=self.group, bias=self.use_bias,
        )  # fmt: skip
        return config

    def call(self, x: Any) -> Any:
        ops = keras.ops
        nd = len(self.kernel_size)
        w = ops.transpose(self.kernel, (*range(2, nd + 2), 1, 0))  # (*kernel, out / group, in)
        step = self.channels // self.group
        parts = [
            _transposed(x[..., g * step : (g + 1) * step], w[..., g * step : (g + 1) * step], *self._config())
            for g in range(self.group)
        ]
        y = parts[0] if self.group == 1 else ops.concatenate(parts, axis=-1)
        return y if self.bias is None else y + self.bias

    def _config(self) -> tuple:
        return self.stride, self.pad, self.dilation


def one_hot(x: Any, shape: Sequence[int]) -> Any:
    """nnabla's one_hot, in NNC's layout: the last axis of `x` holds one integer index per axis of `shape`,
    and is replaced by `shape`, 1 at that index and 0 elsewhere."""
    ops = keras.ops
    strides = np.array([math.prod(shape[k + 1 :]) for k in range(len(shape))], dtype=np.int32)
    flat = ops.sum(ops.cast(x, "int32") * strides, axis=-1)
    y = ops.one_hot(flat, math.prod(shape), dtype=_float_dtype(x.dtype))
    return ops.reshape(y, (-1, *x.shape[1:-1], *shape))


def grouped_conv(x: Any, kernel: Any, group: int, **options: Any) -> Any:
    """`ops.conv` of channels-last `x` with a grouped kernel (*kernel, in / group, out) (`ops.conv` takes
    the full one only): each group of input maps with its share of the kernel's output maps, concatenated."""
    ops = keras.ops
    step, maps = kernel.shape[-2], kernel.shape[-1] // group
    parts = [
        ops.conv(x[..., g * step : (g + 1) * step], kernel[..., g * maps : (g + 1) * maps], **options)
        for g in range(group)
    ]
    return ops.concatenate(parts, axis=-1)
