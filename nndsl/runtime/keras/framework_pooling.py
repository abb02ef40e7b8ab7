"""Pooling as PyTorch computes it, for Keras: adaptive pooling to a fixed size, and averages with
`ceil_mode` (nndsl's `AdaptiveAveragePooling`, `AdaptiveMaxPooling` and `ceil_mode=true`; NNC has
neither). Keras has no such layers; these functions compute the same windows with `keras.ops`, on
channels-last tensors (batch, *spatial, channels), so they run on every Keras 3 backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

__all__ = ["adaptive_pool", "ceil_average_pool"]


def _window(x, axis: int, start: int, end: int):
    return x[(slice(None),) * axis + (slice(start, end),)]


def adaptive_pool(x, size: Sequence[int], mode: str):
    """Average (`mode` "average") or maximum ("max") to `size` on the spatial axes: output i of an
    axis of n covers [floor(i n / o), ceil((i + 1) n / o)), PyTorch's `adaptive_avg_pool2d`. The
    windows are products of per-axis windows, so the axes are pooled one after the other."""
    reduce = ops.mean if mode == "average" else ops.max
    for axis, o in enumerate(size, start=1):
        n = x.shape[axis]
        if n == o:
            continue
        parts = [reduce(_window(x, axis, i * n // o, -(-(i + 1) * n // o)), axis=axis, keepdims=True) for i in range(o)]
        x = ops.concatenate(parts, axis=axis) if len(parts) > 1 else parts[0]
    return x


def ceil_average_pool(
    x, kernel: Sequence[int], stride: Sequence[int], pad: Sequence[int], count_include_pad: bool = True
):
    """PyTorch's `avg_pool*d(..., ceil_mode=True)`: ceil((n + 2 pad - k) / s) + 1 windows per axis
    (less one that would start beyond the input and its left padding); a window running over the
    right padding is clipped, and divides by its size inside the padded input (`count_include_pad`)
    or inside the input."""
    widths, factors = [], []
    for axis, (k, s, p) in enumerate(zip(kernel, stride, pad, strict=True), start=1):
        n = x.shape[axis]
        out = -(-(n + 2 * p - k) // s) + 1
        if (out - 1) * s >= n + p:
            out -= 1
        widths.append((p, max((out - 1) * s + k - n - p, 0)))  # (windows may also leave a rest out)
        counts = []
        for i in range(out):
            start, end = i * s - p, min(i * s - p + k, n + p)
            if not count_include_pad:
                start, end = max(start, 0), min(end, n)
            counts.append(end - start)
        factors.append([k / c for c in counts])
    y = ops.average_pool(ops.pad(x, [(0, 0), *widths, (0, 0)]), tuple(kernel), tuple(stride), padding="valid")
    nd = len(kernel)
    for axis, f in enumerate(factors):
        if any(v != 1 for v in f):  # the windows Keras divided by k that PyTorch divides by less
            y = y * ops.reshape(ops.convert_to_tensor(f, dtype=y.dtype), (-1,) + (1,) * (nd - axis))
    return y
