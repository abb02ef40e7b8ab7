"""NNC's shape rules and numeric constants, framework-free: the one copy the compiler
(`nndsl.layers`) and both backends' runtimes use.

The standard library only, so that the compiler imports it for `lint` and `summary` without numpy
or a framework.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["TINY", "nnabla_fans", "pooled_size"]

# nnabla's cross-entropy losses take the log of a probability clamped at float32's smallest normal
# value (numpy's `np.finfo(np.float32).tiny`), so a probability of 0 costs -log(TINY) = 87.34 rather
# than infinity.
TINY = 2.0**-126


def pooled_size(n: int, kernel: int, stride: int, pad: int, ignore_border: bool) -> int:
    """nnabla's pooling output size along one axis (`pooling.cpp`):
    (n + pad - (ignore_border ? kernel - pad : 1)) // stride + 1.

    With ignore_border that is the usual (n + 2 pad - kernel) // stride + 1; without it,
    (n + pad - 1) // stride + 1: one window for every stride that starts inside the input and its
    left padding, windows crossing the right border clipped. This is not PyTorch's ceil_mode rule,
    which depends on the kernel: for n=5, kernel=3, stride=1 nnabla gives 5 windows, ceil_mode 3.
    """
    return (n + pad - ((kernel - pad) if ignore_border else 1)) // stride + 1


def nnabla_fans(init: str, shape: Sequence[int]) -> tuple[int, int, int]:
    """(N input maps, M output maps, K kernel area) nnabla computes NNC's initializer `init` from, for
    a parameter of NNC's `shape`: what nnabla's loader of NNC's network files does
    (`nnabla.core.graph_def._create_initializer`), which reads them from the shape alone:

    - `*Affine*`: N = shape[0], M = prod(shape[1:]), K = 1;
    - `*Convolution*`: N = shape[-3], M = shape[0], K = prod(shape[-2:]) (a Convolution's
      (out, in/group, kh, kw): N = in/group; a Deconvolution's (in, out/group, kh, kw): N = out/group,
      M = in; a DepthwiseConvolution's (C*multiplier, kh, kw): N = M = C*multiplier, K = kh*kw; for 1-D
      and 3-D kernels nnabla's indices read other axes, and so does this rule);
    - `*CLConv*`: N = shape[-1], M = shape[0], K = prod(shape[1:3]);
    - Normal, Uniform, Constant, Range: no fans, (1, 1, 1).

    A shape of fewer axes than nnabla indexes (where nnabla itself fails) is read as if padded with 1s.
    The one copy of this rule: the compiler (`ParamShape.fans`) and both runtimes' initializers use it.
    """
    if "CLConv" in init:
        s = tuple(shape) + (1,) * max(0, 4 - len(shape))
        return s[-1], s[0], math.prod(s[1:3])
    if "Convolution" in init:
        s = tuple(shape) + (1,) * max(0, 3 - len(shape))
        return s[-3], s[0], math.prod(s[-2:])
    if "Affine" in init:
        s = tuple(shape) or (1,)
        return s[0], math.prod(s[1:]), 1
    return 1, 1, 1


def _axes(values: Sequence[int] | int) -> tuple[int, ...]:
    return (int(values),) if isinstance(values, int) else tuple(int(v) for v in values)


def conv_geometry(
    kernel: Sequence[int],
    stride: Sequence[int] | None = None,
    pad: Sequence[int] | None = None,
    dilation: Sequence[int] | None = None,
    what: str = "convolution",
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """NNC's convolution geometry (kernel, stride, pad, dilation): a kernel of 1 to 3 axes; stride
    defaults to 1, pad to 0 and dilation to 1 on every axis (nnabla `convolution.cpp`'s defaults)."""
    kernel = _axes(kernel)
    nd = len(kernel)
    if not 1 <= nd <= 3:
        raise ValueError(f"{what}: kernel {kernel} must have 1 to 3 axes")
    stride = _axes(stride) if stride is not None else (1,) * nd
    pad = _axes(pad) if pad is not None else (0,) * nd
    dilation = _axes(dilation) if dilation is not None else (1,) * nd
    if not len(stride) == len(pad) == len(dilation) == nd:
        raise ValueError(f"{what}: kernel {kernel}, stride {stride}, pad {pad} and dilation {dilation} differ in axes")
    return kernel, stride, pad, dilation


def pool_geometry(
    mode: str, kernel: Sequence[int], stride: Sequence[int] | None = None, pad: Sequence[int] | None = None
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """NNC's pooling geometry (kernel, stride, pad) for `mode` "max", "average" or "sum": 1 to 3 axes;
    the stride defaults to the kernel (NNC's MaxPooling / AveragePooling / SumPooling), pad to 0."""
    if mode not in ("max", "average", "sum"):
        raise ValueError(f"pooling mode must be 'max', 'average' or 'sum', got {mode!r}")
    kernel = _axes(kernel)
    nd = len(kernel)
    stride = kernel if stride is None else _axes(stride)
    pad = (0,) * nd if pad is None else _axes(pad)
    if not 1 <= nd <= 3 or len(stride) != nd or len(pad) != nd:
        raise ValueError(f"pooling: kernel {kernel}, stride {stride} and pad {pad} need 1 to 3 axes each")
    return kernel, stride, pad


def pool_right_pads(
    sizes: Sequence[int], outs: Sequence[int], kernel: Sequence[int], stride: Sequence[int], pad: Sequence[int]
) -> list[int]:
    """The right padding per axis that lets nnabla's last pooling window fit (windows beyond size + pad
    read only padding): max(0, (out - 1) * stride - pad + kernel - size)."""
    return [max(0, (o - 1) * s - p + k - n) for o, s, p, k, n in zip(outs, stride, pad, kernel, sizes, strict=True)]


def pool_window_lengths(size: int, out: int, kernel: int, stride: int, pad: int, including_pad: bool) -> list[int]:
    """The length of each of `out` windows of nnabla's AveragePooling along an axis of `size` (its divisor
    there): window i covers [i * stride - pad, min(i * stride - pad + kernel, size + pad)), counted before
    clipping to the input (including_pad, NNC's default) or after (`average_pooling.cpp`)."""
    lengths = []
    for i in range(out):
        start = i * stride - pad
        end = min(start + kernel, size + pad)
        lengths.append(end - start if including_pad else min(end, size) - max(start, 0))
    return lengths
