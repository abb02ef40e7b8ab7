"""Tensor helpers of the Keras runtime (TensorFlow backend): NNC's channels-first per-sample axes on
the channels-last tensors generated Keras models compute (`keras_axis`, `keras_shape`, `to_nnc_layout`,
`from_nnc_layout`), and static sizes. Imported by `augment.py` and `nnc_layers.py`.

Layout: a per-sample tensor of NNC shape (s0, s1, ..., s_{r-1}) (r >= 2) is held as
(batch, s1, ..., s_{r-1}, s0), so an NNC image (C, H, W) is (batch, H, W, C); rank-1 tensors are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "from_nnc_layout",
    "keras_axis",
    "keras_shape",
    "to_nnc_layout",
]


def keras_axis(nnc_axis: int, rank: int) -> int:
    """The Keras tensor axis (batch = 0) holding NNC per-sample axis `nnc_axis` of a rank-`rank` sample.

    rank 1: axis 0 -> 1. rank >= 2: axis 0 (channels) -> rank (the last axis), axis a >= 1 -> a.
    Negative axes count from the end of the sample, as in NNC.
    """
    a = nnc_axis + rank if nnc_axis < 0 else nnc_axis
    if not 0 <= a < rank:
        raise ValueError(f"axis {nnc_axis} is not an axis of a rank-{rank} sample")
    if rank == 1:
        return 1
    return rank if a == 0 else a


def keras_shape(nnc_shape: Sequence[int]) -> tuple[int, ...]:
    """A per-sample NNC shape (s0, s1, ..., s_{r-1}) as held channels-last: (s1, ..., s_{r-1}, s0)."""
    s = tuple(nnc_shape)
    return s if len(s) < 2 else s[1:] + s[:1]


def to_nnc_layout(x: Any) -> tf.Tensor:
    """A channels-last tensor (batch, s1, ..., s_{r-1}, s0) -> NNC's layout (batch, s0, s1, ..., s_{r-1})."""
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    if rank < 3:
        return x
    return tf.transpose(x, [0, rank - 1, *range(1, rank - 1)])


def from_nnc_layout(x: Any) -> tf.Tensor:
    """NNC's layout (batch, s0, s1, ..., s_{r-1}) -> the channels-last tensor (batch, s1, ..., s_{r-1}, s0)."""
    x = tf.convert_to_tensor(x)
    rank = x.shape.rank
    if rank < 3:
        return x
    return tf.transpose(x, [0, *range(2, rank), 1])


def _is_symbolic(x: Any) -> bool:
    return isinstance(x, keras.KerasTensor)


def _ints(values: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(values, (int, np.integer)):
        return (int(values),)
    return tuple(int(v) for v in values)


def _static_size(x: tf.Tensor, axis: int, what: str) -> int:
    size = x.shape[axis]
    if size is None:
        raise ValueError(f"{what}: axis {axis} of input {tuple(x.shape)} must have a static size")
    return int(size)
