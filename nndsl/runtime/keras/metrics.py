"""NNC's error layers for Keras 3: `top_n_error` (TopNError) and `binary_error` (BinaryError), the
torch runtime's of the same names (sony/nnabla `top_n_error.cpp`, `binary_error.cpp`). They work on
KerasTensors. Only `top_n_error` takes a Keras tensor axis (the caller maps NNC's axis with
`tensors.keras_axis`).
"""

from __future__ import annotations

from typing import Any

import keras

from .nnc import _float_dtype

__all__ = [
    "binary_error",
    "top_n_error",
]


def top_n_error(x: Any, label: Any, n: int = 1, axis: int = -1) -> Any:
    """NNC's TopNError (nnabla `top_n_error.cpp`): 1 where the label's score is not among the n largest.

    `axis` is a Keras tensor axis (NNC's axis 0 of a rank >= 2 sample, the channels, is the last axis: -1, the
    default; map others with `keras_axis`). `label` has x's shape with `axis` of size 1, or lacks that axis;
    the output has x's shape with `axis` of size 1. nnabla counts the scores >= the label's score (itself
    included) and errs when that count exceeds n: ties count against the label. Works on KerasTensors.
    """
    ops = keras.ops
    index = ops.cast(label, "int32")
    if len(index.shape) == len(x.shape) - 1:
        index = ops.expand_dims(index, axis)
    threshold = ops.take_along_axis(x, index, axis=axis)
    count = ops.sum(ops.cast(ops.greater_equal(x, threshold), "int32"), axis=axis, keepdims=True)
    return ops.cast(ops.greater(count, n), _float_dtype(x.dtype))


def binary_error(x: Any, t: Any) -> Any:
    """NNC's BinaryError (nnabla `binary_error.cpp`): (x >= 0.5) != (t >= 0.5) as 0/1, elementwise."""
    ops = keras.ops
    return ops.cast(ops.not_equal(ops.greater_equal(x, 0.5), ops.greater_equal(t, 0.5)), _float_dtype(x.dtype))
