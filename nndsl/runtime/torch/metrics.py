"""NNC's error layers for PyTorch: `top_n_error` (TopNError) and `binary_error` (BinaryError),
as nnabla computes them (sony/nnabla `top_n_error.cpp`, `binary_error.cpp`).

Conventions, as in NNC: tensors are batch-first and channels-first, (N, C, H, W); a layer's
"per-sample" axes are the axes after the batch axis (axis 0 of a sample is C).
"""

from __future__ import annotations

import torch

__all__ = [
    "binary_error",
    "top_n_error",
]


def top_n_error(x: torch.Tensor, label: torch.Tensor, n: int = 1, axis: int = 1) -> torch.Tensor:
    """NNC's TopNError (nnabla `top_n_error.cpp`): 1 where the label's score is not among the n largest.

    `label` has x's shape with `axis` of size 1 (a (N,) label is accepted for 2-D x); so has the output.
    nnabla counts the scores >= the label's score (itself included) and errs when that count exceeds n:
    ties count against the label.
    """
    index = label.long()
    if index.dim() == x.dim() - 1:
        index = index.unsqueeze(axis)
    threshold = torch.gather(x, axis, index)
    count = (x >= threshold).sum(dim=axis, keepdim=True)
    return (count > n).to(x.dtype if x.is_floating_point() else torch.float32)


def binary_error(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """NNC's BinaryError (nnabla `binary_error.cpp`): (x >= 0.5) != (t >= 0.5) as 0/1, elementwise."""
    return ((x >= 0.5) != (t >= 0.5)).to(x.dtype if x.is_floating_point() else torch.float32)
