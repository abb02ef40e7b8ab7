"""NNC's shape rules, framework-free: the one copy the compiler (`nndsl.layers`) and both backends'
runtimes use.

The standard library only, so that the compiler imports it for `lint` and `summary` without numpy
or a framework.
"""

from __future__ import annotations

__all__ = ["pooled_size"]


def pooled_size(n: int, kernel: int, stride: int, pad: int, ignore_border: bool) -> int:
    """nnabla's pooling output size along one axis (`pooling.cpp`):
    (n + pad - (ignore_border ? kernel - pad : 1)) // stride + 1.

    With ignore_border that is the usual (n + 2 pad - kernel) // stride + 1; without it,
    (n + pad - 1) // stride + 1: one window for every stride that starts inside the input and its
    left padding, windows crossing the right border clipped. This is not PyTorch's ceil_mode rule,
    which depends on the kernel: for n=5, kernel=3, stride=1 nnabla gives 5 windows, ceil_mode 3.
    """
    return (n + pad - ((kernel - pad) if ignore_border else 1)) // stride + 1
