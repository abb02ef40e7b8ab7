"""NNC semantics for Keras: layouts and parameter files.

A generated Keras project imports this file as `nnc` (its custom layers and NNC's
initializers are in `nnc_layers.py`, solvers and schedules in `solvers.py`). Numpy, the
standard library and the project's `nnc_params.py` only.

Layouts. NNC's tensors are channels-first, (N, C, H, W); the generated Keras models compute
channels-last, which TensorFlow runs fastest: a per-sample tensor of NNC shape (s0, s1, ...,
s{r-1}) with r >= 2 is held as (s1, ..., s{r-1}, s0), a rank-1 one as it is.
`to_channels_last` / `to_channels_first` convert batches of arrays.

Parameters keep NNC's names and layouts in files (`nnc_params.save_params`), so one file
serves both backends. Against Keras's variables (`to_nnc`, `from_nnc`):
    conv            Convolution W (out, in/group, *kernel) = Conv*D kernel (*kernel, in/group, out)
                    transposed; Deconvolution W (in, out, *kernel) = Conv*DTranspose kernel
                    (*kernel, out, in) transposed the same way
    depthwise       DepthwiseConvolution W (C * multiplier, *kernel) = DepthwiseConv*D kernel
                    (*kernel, C, multiplier)
    affine          Affine W (in, *out) = Dense kernel (in, prod(out))
    affine_cl:CxHxW Affine W after a spatial input: the Dense kernel's rows follow the
                    channels-last flattening (H, W, C), NNC's the (C, H, W) one
    same            the same elements in another shape: biases, BatchNormalization's
                    beta, gamma, mean, var ((1, C, 1, 1) in NNC, (C,) in Keras), PReLU's slope
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nnc_params import load_params, save_params

__all__ = [
    "from_nnc",
    "load_params",
    "save_params",
    "to_channels_first",
    "to_channels_last",
    "to_nnc",
]


def to_channels_last(array: np.ndarray) -> np.ndarray:
    """A batch in NNC's layout (N, C, ...) as the Keras models take it (N, ..., C)."""
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """A batch from a Keras model (N, ..., C) in NNC's layout (N, C, ...)."""
    return np.moveaxis(array, -1, 1) if array.ndim >= 3 else array


def channels_last_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The per-sample shape a Keras model holds for NNC's per-sample `shape`."""
    shape = tuple(shape)
    return shape[1:] + shape[:1] if len(shape) >= 2 else shape


def to_nnc(value: np.ndarray, layout: str, shape: Sequence[int]) -> np.ndarray:
    """A Keras variable's value in NNC's layout and `shape`."""
    value = np.asarray(value, dtype=np.float32)
    kind, _, spatial = layout.partition(":")
    if kind == "conv":
        nd = value.ndim - 2
        value = value.transpose(nd + 1, nd, *range(nd))
    elif kind == "depthwise":
        nd = value.ndim - 2
        value = value.transpose(nd, nd + 1, *range(nd))
    elif kind == "affine_cl":
        c, *rest = (int(d) for d in spatial.split("x"))
        value = value.reshape(*rest, c, -1)
        value = value.transpose(len(rest), *range(len(rest)), len(rest) + 1)
    elif kind not in ("affine", "same"):
        raise ValueError(f"unknown parameter layout {layout!r}")
    return np.ascontiguousarray(value.reshape(tuple(shape)))


def from_nnc(array: np.ndarray, layout: str, keras_shape: Sequence[int]) -> np.ndarray:
    """An NNC-layout array as the value of a Keras variable of shape `keras_shape`."""
    array = np.asarray(array, dtype=np.float32)
    keras_shape = tuple(keras_shape)
    kind, _, spatial = layout.partition(":")
    if kind == "conv":
        nd = len(keras_shape) - 2
        array = array.reshape(keras_shape[-1], keras_shape[-2], *keras_shape[:nd])
        array = array.transpose(*range(2, nd + 2), 1, 0)
    elif kind == "depthwise":
        nd = len(keras_shape) - 2
        array = array.reshape(keras_shape[-2], keras_shape[-1], *keras_shape[:nd])
        array = array.transpose(*range(2, nd + 2), 0, 1)
    elif kind == "affine_cl":
        c, *rest = (int(d) for d in spatial.split("x"))
        array = array.reshape(c, *rest, -1)
        array = array.transpose(*range(1, len(rest) + 1), 0, len(rest) + 1)
    elif kind not in ("affine", "same"):
        raise ValueError(f"unknown parameter layout {layout!r}")
    if math.prod(array.shape) != math.prod(keras_shape):
        raise ValueError(f"a parameter of shape {array.shape} cannot fill a variable of shape {keras_shape}")
    return np.ascontiguousarray(array.reshape(keras_shape))
