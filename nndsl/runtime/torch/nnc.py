"""NNC semantics for PyTorch: what every generated model uses.

A generated project imports this file as `nnc`, next to the runtime's other modules by family
(`augment`, `metrics`, `nnc_layers`, `solvers`: a project ships those its files import). It needs
torch, numpy, the standard library and the framework-free `nnc_params.py` (initializer formulas,
parameter files), `nnc_layouts.py` and `nnc_shapes.py`. Every piece cites the nnabla source whose
behaviour it reproduces (sony/nnabla: `python/src/nnabla/initializer.py`, `python/src/nnabla/utils/load.py`).

Conventions, as in NNC: tensors are batch-first and channels-first, (N, C, H, W); a layer's
"per-sample" axes are the axes after the batch axis (axis 0 of a sample is C).

Contents:
  1. Initializers: `init_parameter` with NNC's initializer names; the `Parameter` layer.
  2. Parameter files and layouts: `save_params`, `load_params`, `to_nnc`, `from_nnc` (`nnc_layouts`).
  3. `batch_norm`: nn.BatchNorm with NNC's DecayRate and Epsilon; `along`: a channel layer over NNC's axes.
  4. Constants: `TINY` (nnabla's clamp of a probability before its log).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

# isort: split
from .. import nnc_layouts, nnc_params
from ..nnc_params import (
    INITIALIZERS,
    calc_normal_std_glorot,
    calc_normal_std_he_backward,
    calc_normal_std_he_forward,
    calc_uniform_lim_glorot,
    initial_distribution,
    load_fitting_params,
    load_params,
)
from ..nnc_shapes import TINY  # nnabla's rules, one copy for the compiler and both backends

__all__ = [
    "along",
    "batch_norm",
    "calc_normal_std_glorot",
    "calc_normal_std_he_backward",
    "calc_normal_std_he_forward",
    "calc_uniform_lim_glorot",
    "from_nnc",
    "init_parameter",
    "INITIALIZERS",
    "load_fitting_params",
    "load_params",
    "nnc_shape",
    "Parameter",
    "save_params",
    "TINY",
    "to_nnc",
]


# ---------------------------------------------------------------------------------------------------
# 1. Initializers
# ---------------------------------------------------------------------------------------------------
# Notation of nnabla's initializer.py: N = input maps (Affine: input features), M = output maps
# (Affine: output features), K = kernel area (1 for Affine). NNC multiplies every computed value by
# the layer's InitializerMultiplier. The formulas and the parameter files are in nnc_params.py, which
# the Keras project shares.


def nnc_shape(layout: str, shape: Sequence[int]) -> tuple[int, ...]:
    """The NNC shape of a torch parameter of `shape` held in `layout` (the layouts of `Model.PARAMETERS`,
    `nnc_layouts`), as far as nnabla's fans read it: an Affine W's (in, out) for Linear's (out, in), a
    DepthwiseConvolution W's (C*multiplier, *kernel) for the grouped Conv's (C*multiplier, 1, *kernel)."""
    return nnc_layouts.layout(layout, "torch").nnc_shape(shape)


@torch.no_grad()
def init_parameter(
    tensor: torch.Tensor,
    name: str,
    multiplier: float = 1.0,
    fan_in: int | None = None,
    fan_out: int | None = None,
    kernel_area: int | None = None,
    *,
    layout: str = "same",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill `tensor` in place with NNC's initializer `name` times `multiplier`; returns the tensor.

    - Normal: N(0, multiplier^2); Uniform: U(-multiplier, multiplier); Constant: the multiplier itself.
    - *HeForward / *HeBackward / *Glorot: N(0, sigma^2) * multiplier, sigma from the calc_* functions.
    - Uniform*Glorot: U(-d, d) * multiplier.
    N (fan_in), M (fan_out) and K (kernel_area) default to what nnabla reads from the parameter's NNC
    shape (`nnc_shapes.nnabla_fans`), the tensor's shape read in its `layout` (`nnc_shape`: "affine"
    for a Linear weight, "depthwise" for a depthwise Conv's); pass them to override.
    """
    kind, scale = initial_distribution(name, multiplier, nnc_shape(layout, tensor.shape), fan_in, fan_out, kernel_area)
    if kind == "constant":
        return tensor.fill_(scale)
    if scale == 0:
        return tensor.zero_()
    if kind == "normal":
        return tensor.normal_(0.0, scale, generator=generator)
    return tensor.uniform_(-scale, scale, generator=generator)


class Parameter(nn.Module):
    """NNC's Parameter layer: one learnable tensor of shape `size`, without a batch axis, that another
    layer takes as its W or b (an Affine's W in NNC's layout, (inputs, outputs)). The model applies NNC's
    initializer to it; its name in NNC's files is the layer's own (no `/W`)."""

    def __init__(self, size: Sequence[int]):
        super().__init__()
        self.value = nn.Parameter(torch.empty(tuple(size)))

    def forward(self) -> torch.Tensor:
        return self.value


# ---------------------------------------------------------------------------------------------------
# 5. Parameter files and layouts
# ---------------------------------------------------------------------------------------------------
# NNC's parameter layouts against torch's (an Affine W (in, out) is nn.Linear's weight transposed, ...)
# are `nnc_layouts`, the one table of both backends and the compiler.


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def save_params(
    path: str | os.PathLike,
    named_arrays: Mapping[str, Any],
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]] | None = None,
    need_grad: Mapping[str, bool] | None = None,
) -> None:
    """Write `named_arrays` (NNC names like "conv1/W" -> tensors or arrays) to a parameter file, atomically:
    .npz, or NNC's .h5 / .protobuf under the names and shapes `nnabla` gives (see nnc_params.save_params)."""
    arrays = {str(name): _to_numpy(value) for name, value in named_arrays.items()}
    nnc_params.save_params(path, arrays, nnabla, need_grad)


def to_nnc(tensor: Any, layout: str, shape: Sequence[int]) -> np.ndarray:
    """A torch parameter's value (a tensor or array) held in `layout`, as a float32 array of NNC's
    `shape` (`nnc_layouts`)."""
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().float()
    array = np.asarray(tensor, dtype=np.float32)
    return nnc_layouts.layout(layout, "torch").to_nnc(array, shape)


def from_nnc(array: np.ndarray, layout: str, shape: Sequence[int]) -> torch.Tensor:
    """NNC's `array` as the CPU tensor of a torch parameter of `shape` held in `layout`, in the
    array's dtype (`load_state_dict` copies it to the parameter's device and dtype)."""
    return torch.from_numpy(nnc_layouts.layout(layout, "torch").from_nnc(array, shape))


# ---------------------------------------------------------------------------------------------------
# 6. BatchNormalization
# ---------------------------------------------------------------------------------------------------


def batch_norm(num_features: int, decay_rate: float = 0.9, epsilon: float = 1e-4, spatial_dims: int = 2) -> nn.Module:
    """NNC's BatchNormalization on the channel axis as torch's BatchNorm{1,2,3}d.

    nnabla keeps running = decay_rate * running + (1 - decay_rate) * batch statistic (the variance
    unbiased, as torch), so torch's momentum = 1 - decay_rate; eps = epsilon. spatial_dims: 0 or 1 for
    (N, C) / (N, C, L) inputs, 2 for images, 3 for volumes.
    """
    cls = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}.get(spatial_dims)
    if cls is None:
        raise ValueError(f"batch_norm: spatial_dims must be 0 to 3, got {spatial_dims}")
    return cls(num_features, eps=epsilon, momentum=1.0 - decay_rate)


def along(module: nn.Module, x: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """`module`, a layer over the channels (axis 1) of (N, C, ...) (a BatchNorm, GroupNorm, InstanceNorm,
    PReLU), over NNC's per-sample `axes` instead: they are moved after the batch axis, in order, and
    flattened into its channels (nnabla's statistics or slopes per element of those axes), then put back."""
    dims = [a + 1 for a in axes]
    order = [0, *dims, *(d for d in range(1, x.dim()) if d not in dims)]
    moved = x.permute(order)
    y = module(moved.flatten(1, len(dims))).unflatten(1, moved.shape[1 : len(dims) + 1])
    return y.permute([order.index(d) for d in range(x.dim())])
