"""NNC semantics for PyTorch: the parts of Sony's Neural Network Console (nnabla) that torch lacks.

A generated project imports this file as `nnc`. It needs torch, numpy, the standard library and
the project's `nnc_params.py` (framework-free: initializer formulas, parameter files). Every piece
cites the nnabla source whose behaviour it reproduces (sony/nnabla:
`python/src/nnabla/initializer.py`, `python/src/nnabla/utils/load.py`, `src/nbla/function/generic/*.cpp`,
`src/nbla/solver/generic/*.cpp`, `python/src/nnabla/utils/learning_rate_scheduler.py`).

Conventions, as in NNC: tensors are batch-first and channels-first, (N, C, H, W); a layer's
"per-sample" axes are the axes after the batch axis (axis 0 of a sample is C).

Contents:
  1. Initializers: `init_parameter` with NNC's initializer names.
  2. Augmentation: `ImageAugmentation`, `RandomFlip`, `RandomShift`, `RandomCrop` (batched; they run on
     the GPU when the input is there).
  3. Layers torch lacks: `top_n_error`, `binary_error`, nnabla pooling (`pooling`, `MaxPooling`, ...),
     `binary_tanh`, `binary_sigmoid`, `BinaryConnectAffine`, `BinaryConnectConvolution`,
     `BinaryWeightAffine`, `BinaryWeightConvolution`, `vat_noise` and `WorkingMemory` (NNC's VATNoise,
     WorkingMemory).
  4. Solvers and schedules: `Momentum`, `Nesterov`, `Adam`, `AdamW`, `Adamax`, `AMSGRAD`, `RMSpropGraves`,
     `AdaBelief`, `Lars`, `SgdW`, `AdaBound`, `AMSBound`, `make_solver`, `make_schedule`.
  5. Parameter files and layouts: `save_params`, `load_params`, `to_nnc`, `from_nnc` (`nnc_layouts`).
  6. `batch_norm`: nn.BatchNorm with NNC's DecayRate and Epsilon.
  7. Layers torch lacks, with nnabla's gradients: `fixed_point_quantize`, `pow2_quantize`, `prune`,
     `clip_grad_by_norm`, `top_k_data`, `top_k_grad`, `shift`, `MeanSubtraction`.

Randomness: every random module draws from torch's global generator of the input's device (so
`torch.manual_seed` seeds them), unless it is given `seed >= 0` (NNC's Seed), which makes a generator
of its own. nnabla draws from a Mersenne twister in a different order: the distributions match, the
streams cannot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# isort: split
from .. import nnc_augment, nnc_layouts, nnc_params
from ..nnc_params import (
    INITIALIZERS,
    calc_normal_std_glorot,
    calc_normal_std_he_backward,
    calc_normal_std_he_forward,
    calc_uniform_lim_glorot,
    initial_distribution,
    load_params,
)
from ..nnc_shapes import (  # nnabla's rules, one copy for the compiler and both backends
    TINY,
    conv_geometry,
    pool_geometry,
    pool_right_pads,
    pool_window_lengths,
    pooled_size,
)
from ..nnc_solvers import schedule_arguments, solver_arguments, to_iterations

__all__ = [
    "TINY",
    "along",
    "one_hot",
    "AMSBound",
    "AMSGRAD",
    "AdaBelief",
    "AdaBound",
    "Adam",
    "AdamW",
    "Adamax",
    "AveragePooling",
    "BinaryConnectAffine",
    "BinaryConnectConvolution",
    "BinaryWeightAffine",
    "BinaryWeightConvolution",
    "ImageAugmentation",
    "INITIALIZERS",
    "Lars",
    "MaxPooling",
    "Momentum",
    "Nesterov",
    "RMSpropGraves",
    "RandomCrop",
    "RandomFlip",
    "RandomShift",
    "Schedule",
    "SgdW",
    "SumPooling",
    "WorkingMemory",
    "batch_norm",
    "binary_error",
    "binary_sigmoid",
    "binary_tanh",
    "calc_normal_std_glorot",
    "calc_normal_std_he_backward",
    "calc_normal_std_he_forward",
    "calc_uniform_lim_glorot",
    "cumulative",
    "init_parameter",
    "from_nnc",
    "nnc_shape",
    "to_nnc",
    "load_params",
    "make_schedule",
    "make_solver",
    "pooled_size",
    "pooling",
    "save_params",
    "sign",
    "to_iterations",
    "top_n_error",
    "vat_noise",
    "MeanSubtraction",
    "clip_grad_by_norm",
    "fixed_point_quantize",
    "pow2_quantize",
    "prune",
    "shift",
    "top_k_data",
    "top_k_grad",
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


# ---------------------------------------------------------------------------------------------------
# 2. Augmentation
# ---------------------------------------------------------------------------------------------------


class _Random(nn.Module):
    """Base of the random layers: NNC's Seed and SkipAtTest.

    seed < 0 (NNC's default -1): draw from torch's global generator of the input's device.
    seed >= 0: a generator of this module's own, one per device, seeded with `seed` on first use.
    skip_at_test: the layer is active only in training mode (`self.training`); with False it is
    random in evaluation too (NNC's test-time augmentation).
    """

    def __init__(self, seed: int = -1, skip_at_test: bool = True) -> None:
        super().__init__()
        self.seed = int(seed)
        self.skip_at_test = bool(skip_at_test)
        self._generators: dict[str, torch.Generator] = {}

    @property
    def active(self) -> bool:
        return self.training or not self.skip_at_test

    def _generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed < 0:
            return None
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def _randint(self, low: int, high: int, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        """Integers uniform in [low, high)."""
        return torch.randint(low, high, tuple(shape), generator=self._generator(device), device=device)

    def _bits(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        """Booleans, each true with probability 1/2 (nnabla's `rgen() % 2`)."""
        return self._randint(0, 2, shape, device) == 1

    def _u1001(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        """nnabla's `(rgen() % 1001) * 0.001`: uniform on the 1001 values 0, 0.001, ..., 1 (float32)."""
        return self._randint(0, 1001, shape, device).to(torch.float32) * 0.001

    def extra_repr(self) -> str:
        return f"seed={self.seed}, skip_at_test={self.skip_at_test}"


def _gather_along(x: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """x gathered along `dim` with a per-sample index (N, L): out[n, .., i, ..] = x[n, .., index[n, i], ..]."""
    shape = [1] * x.dim()
    shape[0], shape[dim] = index.shape[0], index.shape[1]
    target = list(x.shape)
    target[dim] = index.shape[1]
    return torch.gather(x, dim, index.reshape(shape).expand(target))


class _TorchOps:
    """The array operations of `nnc_augment.ArrayOps` in torch, making new tensors on `device`."""

    exp, cos, sin = staticmethod(torch.exp), staticmethod(torch.cos), staticmethod(torch.sin)
    abs, where, zeros_like = staticmethod(torch.abs), staticmethod(torch.where), staticmethod(torch.zeros_like)

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = device

    def clip(self, x: torch.Tensor, low: Any, high: Any) -> torch.Tensor:
        return x.clamp(low, high)

    def reshape(self, x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
        return x.reshape(tuple(shape))

    def float32(self, x: Any) -> torch.Tensor:
        return torch.as_tensor(x).to(torch.float32)

    def cast_like(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return x.to(like.dtype)

    def full(self, shape: Sequence[int], value: float) -> torch.Tensor:
        return torch.full(tuple(shape), value, device=self.device)

    def false(self, n: int) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.bool, device=self.device)

    def pixel_grid(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.arange(h, device=self.device, dtype=torch.float32)
        cols = torch.arange(w, device=self.device, dtype=torch.float32)
        return torch.meshgrid(rows, cols, indexing="ij")


class ImageAugmentation(_Random):
    """NNC's ImageAugmentation (nnabla `image_augmentation.cpp`), batched with `F.grid_sample`.

    Input (..., C, H, W) or (N, H, W); the output replaces H, W by `shape[-2:]` (a 3-value `shape` is
    (C, H, W) and its C must be the input's). NNC's parameters, their defaults, nnabla's per-image draws
    and its geometry are `nnc_augment`'s (`ImageAugmentationConfig`, `sample_params`, `sampling_grid`,
    `adjust_colour`: one copy for both backends); this module draws the uniforms from torch's generator and
    samples bilinearly with F.grid_sample (padding_mode="border", align_corners=True is nnabla's rule on
    coordinates clamped to the input). With min_scale = max_scale = 0.8 and 280 -> 224 this is a
    deterministic resize: x_in = ix / 0.8 (top-left aligned, nnabla's geometry).

    `sample_params` makes the draws, `apply` the per-pixel rule (a test checks it against a transcription
    of nnabla's loop). nnabla has no gradient for this layer; here one flows through grid_sample, unused.

    When inactive (evaluation with skip_at_test): an input already of the output size passes unchanged
    (NNC skips the layer); otherwise (nnabla cannot skip a layer that changes the size) the layer applies
    its deterministic centre: every u = 1/2, i.e. scale sqrt(min_scale * max_scale), aspect 1, angle 0,
    no flip, centred crop, no colour change, no noise.
    """

    def __init__(self, shape: Sequence[int], seed: int = -1, skip_at_test: bool = True, **options: Any) -> None:
        """`shape` and NNC's other parameters (`pad`, `min_scale`, ..., `noise`: `nnc_augment.ImageAugmentationConfig`,
        which holds their defaults and checks them), NNC's Seed and SkipAtTest."""
        super().__init__(seed, skip_at_test)
        self.config = nnc_augment.ImageAugmentationConfig(shape, **options)
        for name, value in self.config.as_dict().items():  # the parameters as attributes: aug.shape, aug.pad, ...
            setattr(self, name, value)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, scale=[{self.min_scale}, {self.max_scale}], " + super().extra_repr()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h_out, w_out = self.shape[-2:]
        if x.dim() < 3:
            raise ValueError(f"ImageAugmentation expects (N, [C,] H, W), got {tuple(x.shape)}")
        if x.dim() >= 4:
            self.config.check_channels(x.shape[-3], x.shape)
        if not self.active and tuple(x.shape[-2:]) == (h_out, w_out):
            return x
        channels = x.shape[-3] if x.dim() >= 4 else 1
        n = x.numel() // (channels * x.shape[-2] * x.shape[-1])
        return self.apply(x, self.sample_params(n, channels, x.device, random=self.active))

    def sample_params(self, n: int, channels: int, device: torch.device, random: bool = True) -> dict:
        """The per-image draws of nnabla (float32, `nnc_augment.sample_params` from this module's generator),
        or with random=False the deterministic centre (u = 1/2)."""
        if not random:
            return nnc_augment.sample_params(self.config, _TorchOps(device), n, channels)
        return nnc_augment.sample_params(
            self.config,
            _TorchOps(device),
            n,
            channels,
            uniform=lambda shape: self._u1001(shape, device),
            flip=lambda n, enabled: self._bits((n,), device) & enabled,
        )

    def apply(self, x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Augment every image of x with its parameters from `sample_params` (nnabla's per-pixel rule, batched:
        `nnc_augment.sampling_grid` and `adjust_colour`, the bilinear sampling by grid_sample).

        Noise is added only while the layer is active (a noise draw needs the random generator).
        """
        dev = x.device
        channels = x.shape[-3] if x.dim() >= 4 else 1
        h_in, w_in = x.shape[-2:]
        h_out, w_out = self.shape[-2:]
        images = x.reshape(-1, channels, h_in, w_in)
        n = images.shape[0]

        ops = _TorchOps(dev)
        x_in, y_in = nnc_augment.sampling_grid(self.config, ops, params, h_in, w_in)
        grid = torch.stack(nnc_augment.grid_sample_coordinates(x_in, y_in, h_in, w_in), dim=-1)
        out = F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="border", align_corners=True)
        out = nnc_augment.adjust_colour(self.config, ops, out, params, lambda v: v[..., None, None])
        if self.noise > 0.0 and self.active:
            sigma = params["noise"].to(out.dtype).view(n, 1, 1, 1)
            out = out + torch.randn(out.shape, generator=self._generator(dev), device=dev, dtype=out.dtype) * sigma

        lead = x.shape[:-3] if x.dim() >= 4 else x.shape[:-2]
        tail = (channels, h_out, w_out) if x.dim() >= 4 else (h_out, w_out)
        return out.reshape(*lead, *tail)


class RandomFlip(_Random):
    """NNC's RandomFlip (nnabla `random_flip.cpp`): each sample reverses each of `axes` with probability 1/2.

    `axes` are per-sample axes (0 = C, 1 = H, 2 = W; NNC's Axes); draws are independent per sample
    and axis. Identity when inactive.
    """

    def __init__(self, axes: Sequence[int] = (0,), seed: int = -1, skip_at_test: bool = True) -> None:
        super().__init__(seed, skip_at_test)
        self.axes = tuple(int(a) for a in axes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        n = x.shape[0]
        for axis in self.axes:
            dim = axis + 1 if axis >= 0 else x.dim() + axis
            if not 1 <= dim < x.dim():
                raise ValueError(f"RandomFlip: axis {axis} is not a per-sample axis of {tuple(x.shape)}")
            flip = self._bits((n,), x.device).view((n,) + (1,) * (x.dim() - 1))
            x = torch.where(flip, x.flip(dim), x)
        return x


class RandomShift(_Random):
    """NNC's RandomShift (nnabla `random_shift.cpp`): shift each sample by random whole pixels.

    `shift` applies to the last len(shift) axes (4,4 moves an image up to 4 pixels each way); per sample
    and axis an integer s is uniform in [-shift, shift] and y[i] = x[i - s], the source index resolved
    by `border_mode`: "nearest" clamps it (replicates the border), "reflect" mirrors it the way nnabla
    does, repeating the edge pixel (index -1 reads 0, -2 reads 1: numpy's "symmetric"). Identity when
    inactive.
    """

    def __init__(
        self, shift: Sequence[int] = (0, 0), border_mode: str = "nearest", seed: int = -1, skip_at_test: bool = True
    ) -> None:
        super().__init__(seed, skip_at_test)
        self.shift = tuple(int(s) for s in shift)
        self.border_mode = nnc_augment.check_border_mode(border_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active or not any(self.shift):
            return x
        if len(self.shift) >= x.dim():
            raise ValueError(f"RandomShift: {len(self.shift)} shifts for input {tuple(x.shape)}")
        n = x.shape[0]
        for i, limit in enumerate(self.shift):
            if limit == 0:
                continue
            dim = x.dim() - len(self.shift) + i
            size = x.shape[dim]
            s = self._randint(-limit, limit + 1, (n, 1), x.device)
            src = torch.arange(size, device=x.device).unsqueeze(0) - s
            index = nnc_augment.shift_source_index(_TorchOps(x.device), src, size, self.border_mode)
            x = _gather_along(x, dim, index)
        return x


class RandomCrop(_Random):
    """NNC's RandomCrop (nnabla `random_crop.cpp`): crop the last len(shape) axes of each sample to `shape`.

    Each offset is uniform over the valid positions 0 .. size - out. nnabla's RandomCrop has no test
    mode (it is random in every network); here evaluation with skip_at_test (the default) takes the
    centre crop, offset (size - out) // 2, so that evaluation is deterministic; skip_at_test=False keeps
    nnabla's behaviour.
    """

    def __init__(self, shape: Sequence[int], seed: int = -1, skip_at_test: bool = True) -> None:
        super().__init__(seed, skip_at_test)
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.shape) >= x.dim():
            raise ValueError(f"RandomCrop: shape {self.shape} for input {tuple(x.shape)}")
        n = x.shape[0]
        for i, out in enumerate(self.shape):
            dim = x.dim() - len(self.shape) + i
            size = x.shape[dim]
            if out > size:
                raise ValueError(f"RandomCrop: shape {self.shape} is larger than input {tuple(x.shape)}")
            if out == size:
                continue
            if self.active:
                start = self._randint(0, size - out + 1, (n, 1), x.device)
            else:
                start = torch.full((n, 1), (size - out) // 2, device=x.device, dtype=torch.long)
            x = _gather_along(x, dim, start + torch.arange(out, device=x.device))
        return x


# ---------------------------------------------------------------------------------------------------
# 3. Layers torch lacks
# ---------------------------------------------------------------------------------------------------


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


def pooling(
    x: torch.Tensor,
    mode: str,
    kernel: Sequence[int],
    stride: Sequence[int] | None = None,
    pad: Sequence[int] | None = None,
    ignore_border: bool = True,
    including_pad: bool = True,
) -> torch.Tensor:
    """nnabla's MaxPooling / AveragePooling / SumPooling over the last len(kernel) axes (1 to 3).

    Output window i covers [i*stride - pad, min(i*stride - pad + kernel, size + pad)) clipped to the
    input (nnabla `max_pooling.cpp`, `average_pooling.cpp`): "max" takes the maximum of the input
    elements in it (padding never wins), "sum" their sum, "average" their sum divided by the window
    length before clipping at 0 and `size` (including_pad, NNC's default) or after (not including pad).
    Done as F.pad (zeros, or -inf for max) followed by torch's pooling without padding.
    `stride` defaults to the kernel (NNC), `pad` to 0.
    """
    kernel, stride, pad = pool_geometry(mode, kernel, stride, pad)
    nd = len(kernel)
    if x.dim() < nd:
        raise ValueError(f"pooling: kernel {kernel} for input {tuple(x.shape)}")
    sizes = tuple(x.shape[-nd:])
    outs = [pooled_size(n, k, s, p, ignore_border) for n, k, s, p in zip(sizes, kernel, stride, pad, strict=True)]
    rights = pool_right_pads(sizes, outs, kernel, stride, pad)
    spec: list[int] = []
    for p, r in zip(reversed(pad), reversed(rights), strict=True):
        spec += [p, r]
    lead = x.shape[:-nd]
    flat = x.reshape((-1, 1) + sizes)
    fill = float("-inf") if mode == "max" else 0.0
    padded = F.pad(flat, spec, value=fill)
    if mode == "max":
        y = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1](padded, kernel, stride)
    else:
        y = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[nd - 1](padded, kernel, stride) * math.prod(kernel)
        if mode == "average":
            y = y / _pool_divisor(sizes, outs, kernel, stride, pad, including_pad, x.device, y.dtype)
    return y.reshape(*lead, *outs)


def _pool_divisor(sizes, outs, kernel, stride, pad, including_pad, device, dtype) -> torch.Tensor:
    """Per-window element counts of nnabla's AveragePooling, the outer product of per-axis lengths."""
    divisor = torch.ones((), device=device, dtype=dtype)
    for axis, (n, o, k, s, p) in enumerate(zip(sizes, outs, kernel, stride, pad, strict=True)):
        length = torch.tensor(pool_window_lengths(n, o, k, s, p, including_pad), device=device, dtype=dtype)
        view = [1] * len(sizes)
        view[axis] = o
        divisor = divisor * length.view(view)
    return divisor


class _Pooling(nn.Module):
    mode = ""

    def __init__(
        self,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        ignore_border: bool = True,
        pad: Sequence[int] | None = None,
        including_pad: bool = True,
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad = pool_geometry(self.mode, kernel, stride, pad)
        self.ignore_border = ignore_border
        self.including_pad = including_pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pooling(x, self.mode, self.kernel, self.stride, self.pad, self.ignore_border, self.including_pad)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, pad={self.pad}, ignore_border={self.ignore_border}"


class MaxPooling(_Pooling):
    """NNC's MaxPooling with nnabla's border rule (see `pooling`)."""

    mode = "max"


class AveragePooling(_Pooling):
    """NNC's AveragePooling with nnabla's border rule and IncludingPad (see `pooling`)."""

    mode = "average"


class SumPooling(_Pooling):
    """NNC's SumPooling with nnabla's border rule (see `pooling`)."""

    mode = "sum"


class _BinaryTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 1).to(grad.dtype)


class _BinarySigmoid(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 0.5 * (x.abs() < 1).to(grad.dtype)


def binary_tanh(x: torch.Tensor) -> torch.Tensor:
    """NNC's BinaryTanh (nnabla `binary_tanh.hpp`): +1 for x > 0, -1 for x <= 0; gradient dy where |x| < 1, else 0."""
    return _BinaryTanh.apply(x)


def binary_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """NNC's BinarySigmoid (nnabla `binary_sigmoid.hpp`): 1 for x > 0, 0 for x <= 0; gradient dy/2 where |x| < 1."""
    return _BinarySigmoid.apply(x)


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha):
        return torch.full_like(x, alpha).masked_fill_(x > 0, 1.0).masked_fill_(x < 0, -1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def sign(x: torch.Tensor, alpha: float = 0.0) -> torch.Tensor:
    """NNC's Sign (nnabla `sign.hpp`): +1 for x > 0, -1 for x < 0, alpha otherwise (0 and NaN); the
    gradient passes straight through (dy, unclipped)."""
    return _Sign.apply(x, alpha)


def cumulative(x: torch.Tensor, op: str, dim: int, exclusive: bool = False, reverse: bool = False) -> torch.Tensor:
    """NNC's CumSum and CumProd (`op` "sum" or "prod"; nnabla `cumsum.cpp`, `cumprod.cpp`) along `dim`:
    exclusive leaves each element out of its own total (the first total is 0, or 1 for a product),
    reverse accumulates from the end."""
    if reverse:
        x = x.flip(dim)
    if exclusive:
        first = torch.full_like(x.narrow(dim, 0, 1), 0.0 if op == "sum" else 1.0)
        x = torch.cat([first, x.narrow(dim, 0, x.shape[dim] - 1)], dim)
    y = torch.cumsum(x, dim) if op == "sum" else torch.cumprod(x, dim)
    return y.flip(dim) if reverse else y


class _BinarizeSTE(torch.autograd.Function):
    """sign(w) (0 -> +1) times an optional scale; the gradient reaches w unchanged.

    nnabla's binary layers run their affine/convolution on the binarized (scaled) weights and hand the
    gradient with respect to those weights to W through `Sign`, whose gradient is a "full straight
    through" (nnabla `sign.hpp`): no clipping and, for BinaryWeight*, no factor alpha. Zero maps to +1,
    the default `quantize_zero_to=1.0` of current nnabla.
    """

    @staticmethod
    def forward(ctx, w, scale):
        q = torch.ones_like(w).masked_fill_(w < 0, -1.0)
        return q if scale is None else q * scale

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _BinaryLayer(nn.Module):
    """Shared parameters of NNC's binary layers: W (trainable), Wb (its binarized copy, state), b."""

    scaled = False  # BinaryWeight*: weights are alpha * sign(W), alpha = mean |W| per output

    def _make_params(self, w_shape, out_shape, bias, w_init, w_init_multiplier, b_init, b_init_multiplier):
        self.W = nn.Parameter(torch.empty(w_shape))
        init_parameter(self.W, w_init, w_init_multiplier)
        self.register_buffer("Wb", torch.zeros(w_shape))
        if self.scaled:
            self.register_buffer("alpha", torch.zeros(out_shape))
        if bias:
            self.b = nn.Parameter(init_parameter(torch.empty(out_shape), b_init, b_init_multiplier))
        else:
            self.register_parameter("b", None)

    def _alpha(self) -> torch.Tensor:
        raise NotImplementedError

    def binarized_weight(self) -> torch.Tensor:
        """The weights the layer computes with; refreshes the Wb (and alpha) state as nnabla's forward does."""
        scale = None
        if self.scaled:
            with torch.no_grad():
                alpha = self._alpha()
                self.alpha.copy_(alpha.reshape(self.alpha.shape))
            scale = alpha
        weight = _BinarizeSTE.apply(self.W, scale)
        with torch.no_grad():
            self.Wb.copy_(torch.ones_like(self.W).masked_fill_(self.W < 0, -1.0))
        return weight


class _BinaryAffine(_BinaryLayer):
    def __init__(
        self,
        in_features: int,
        out_shape: int | Sequence[int],
        bias: bool = True,
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
        b_init: str = "Constant",
        b_init_multiplier: float = 0.0,
    ) -> None:
        super().__init__()
        self.out_shape = (int(out_shape),) if isinstance(out_shape, int) else tuple(int(s) for s in out_shape)
        self.in_features = int(in_features)
        self.out_numel = math.prod(self.out_shape)
        w_shape = (self.in_features, *self.out_shape)
        self._make_params(w_shape, self.out_shape, bias, w_init, w_init_multiplier, b_init, b_init_multiplier)

    def _alpha(self) -> torch.Tensor:
        # nnabla binary_weight_affine.cpp: the mean of |W| over the inputs, one per output.
        return self.W.abs().mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.binarized_weight().reshape(self.in_features, self.out_numel)
        y = x.reshape(x.shape[0], -1) @ w
        if self.b is not None:
            y = y + self.b.reshape(-1)
        return y.reshape(x.shape[0], *self.out_shape)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_shape={self.out_shape}, bias={self.b is not None}"


class BinaryConnectAffine(_BinaryAffine):
    """NNC's BinaryConnectAffine (nnabla `binary_connect_affine.cpp`): y = x sign(W) + b.

    W is NNC's Affine layout (in_features, *out_shape); the input is flattened after the batch axis.
    Wb (state) holds sign(W) after each forward, as in nnabla; the gradient of sign(W) goes to W
    straight through.
    """


class BinaryWeightAffine(_BinaryAffine):
    """NNC's BinaryWeightAffine (nnabla `binary_weight_affine.cpp`): y = x (alpha * sign(W)), no bias.

    alpha (state, out_shape) = mean |W| over the inputs per output, recomputed each forward; the gradient
    with respect to alpha * sign(W) goes to W unchanged (no factor alpha, nothing through alpha). NNC's
    files hold alpha as the layer's `b`.
    """

    scaled = True

    def __init__(
        self,
        in_features: int,
        out_shape: int | Sequence[int],
        w_init: str = "UniformAffineGlorot",
        w_init_multiplier: float = 1.0,
    ) -> None:
        super().__init__(in_features, out_shape, bias=False, w_init=w_init, w_init_multiplier=w_init_multiplier)


class _BinaryConvolution(_BinaryLayer):
    def __init__(
        self,
        in_channels: int,
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
    ) -> None:
        super().__init__()
        self.kernel, self.stride, self.pad, self.dilation = conv_geometry(
            kernel, stride, pad, dilation, "binary convolution"
        )
        self.in_channels, self.out_maps = int(in_channels), int(out_maps)
        self._make_params(
            (self.out_maps, self.in_channels, *self.kernel),
            (self.out_maps,),
            bias,
            w_init,
            w_init_multiplier,
            b_init,
            b_init_multiplier,
        )

    def _alpha(self) -> torch.Tensor:
        # nnabla binary_weight_convolution.cpp: the mean of |W| over (in, *kernel), one per output map.
        return self.W.abs().reshape(self.out_maps, -1).mean(dim=1).reshape((-1,) + (1,) * (self.W.dim() - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = (F.conv1d, F.conv2d, F.conv3d)[len(self.kernel) - 1]
        return conv(x, self.binarized_weight(), self.b, self.stride, self.pad, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_maps}, kernel={self.kernel}, stride={self.stride}, pad={self.pad}, "
            f"dilation={self.dilation}, bias={self.b is not None}"
        )


class BinaryConnectConvolution(_BinaryConvolution):
    """NNC's BinaryConnectConvolution (nnabla `binary_connect_convolution.cpp`): convolution with sign(W).

    W is (out_maps, in_channels, *kernel) as NNC and torch store it; Wb (state) holds sign(W) after each
    forward; the gradient goes to W straight through.
    """


class BinaryWeightConvolution(_BinaryConvolution):
    """NNC's BinaryWeightConvolution (nnabla `binary_weight_convolution.cpp`): convolution with alpha * sign(W).

    alpha (state, (out_maps,)) = mean |W| over (in, *kernel) per output map; gradient as BinaryWeightAffine.
    No bias (NNC's files hold alpha as the layer's `b`).
    """

    scaled = True

    def __init__(
        self,
        in_channels: int,
        out_maps: int,
        kernel: Sequence[int],
        stride: Sequence[int] | None = None,
        pad: Sequence[int] | None = None,
        dilation: Sequence[int] | None = None,
        w_init: str = "UniformConvolutionGlorot",
        w_init_multiplier: float = 1.0,
    ) -> None:
        super().__init__(in_channels, out_maps, kernel, stride, pad, dilation, False, w_init, w_init_multiplier)


class _VATNoise(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, buf, dims, eps):
        ctx.buf, ctx.eps = buf, eps
        return eps * x / torch.sqrt(x.square().sum(dim=dims, keepdim=True) + 1e-8)

    @staticmethod
    def backward(ctx, grad):
        with torch.no_grad():
            ctx.buf.copy_(ctx.eps * grad)
        return torch.zeros_like(grad), None, None, None


def vat_noise(x: torch.Tensor, buf: torch.Tensor, base_axis: int = 0, eps: float = 1e-4) -> torch.Tensor:
    """NNC's VATNoise (nnabla `vat_noise.cpp`): eps * x / sqrt(sum x^2 + 1e-8), the sum over each sample's
    axes from `base_axis` on. The backward gives x no gradient and writes eps times the output's gradient
    into `buf` (a WorkingMemory's buffer, which `WorkingMemory.forward` returns itself). Like nnabla's, it
    runs only where an input needs a gradient (the WorkingMemory's lrate_multiplier above 0)."""
    dims = tuple(range(base_axis + 1, x.dim()))
    return _VATNoise.apply(x, buf, dims, eps)


class Parameter(nn.Module):
    """NNC's Parameter layer: one learnable tensor of shape `size`, without a batch axis, that another
    layer takes as its W or b (an Affine's W in NNC's layout, (inputs, outputs)). The model applies NNC's
    initializer to it; its name in NNC's files is the layer's own (no `/W`)."""

    def __init__(self, size: Sequence[int]):
        super().__init__()
        self.value = nn.Parameter(torch.empty(tuple(size)))

    def forward(self) -> torch.Tensor:
        return self.value


class WorkingMemory(nn.Module):
    """NNC's WorkingMemory: one buffer value per sample of shape `size`, kept between steps.

    nnabla makes it a variable of the network's batch, (batch, *size), filled once by the initializer;
    networks holding a WorkingMemory of the same name share it (here: the same module). It is created at
    the first call, for the batch size of the tensor it is given; a call with another batch size starts a
    new buffer. It is state, not a parameter: no optimizer updates it and parameter files do not hold it
    (nnabla's do not). With `needs_grad` (NNC's LRateMultiplier above 0) a VATNoise reading it runs its backward.
    """

    def __init__(self, size: Sequence[int], init: str = "Normal", multiplier: float = 1.0, needs_grad: bool = False):
        super().__init__()
        self.size, self.init, self.multiplier, self.needs_grad = tuple(size), init, multiplier, needs_grad
        self.register_buffer("buf", None, persistent=False)

    def forward(self, like: torch.Tensor) -> torch.Tensor:
        """The buffer for `like`'s batch size, on its device."""
        batch = like.shape[0]
        if self.buf is None or self.buf.shape[0] != batch or self.buf.device != like.device:
            dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
            buf = torch.empty((batch, *self.size), device=like.device, dtype=dtype)
            self.buf = init_parameter(buf, self.init, self.multiplier)
        # The buffer itself, not a copy: VATNoise's backward writes into it.
        return self.buf.requires_grad_(self.needs_grad)


# ---------------------------------------------------------------------------------------------------
# 4. Solvers and learning-rate schedules
# ---------------------------------------------------------------------------------------------------
# nnabla applies NNC's WeightDecay as `solver.weight_decay(wd)` before every update: g += wd * w
# (nnabla `weight_decay.hpp`), which is what torch's `weight_decay` does too. Where torch's update
# rule is nnabla's, make_solver returns the torch optimizer:
#   Sgd      -> torch.optim.SGD       w -= lr g                                          (identical)
#   Adagrad  -> torch.optim.Adagrad   G += g^2; w -= lr g / (sqrt(G) + eps)              (identical)
#   Adadelta -> torch.optim.Adadelta  rho = decay, eps inside both square roots          (identical)
#   RMSprop  -> torch.optim.RMSprop   alpha = decay; w -= lr g / (sqrt(v) + eps)         (identical)
# The others differ from torch and are implemented below from nnabla's sources:
#   Momentum: the learning rate is inside the velocity (torch's SGD multiplies it outside);
#   Nesterov: nnabla's form (equal to torch's only while the learning rate is constant);
#   Adam, AMSGRAD: eps is added to sqrt(v) before the bias correction (torch adds it after), and
#     nnabla's AMSGRAD has no bias correction by default;
#   Adamax: eps is added outside the max (torch puts it inside);
#   AdamW: the decoupled decay is eta_t * wd * w with eta_t = lr / initial lr (torch: lr * wd * w);
#   SgdW: nnabla's decoupled decay is eta_t * wd * w with eta_t = lr / initial lr;
#   RMSpropGraves, AdaBelief, Lars, AdaBound, AMSBound: no torch equivalent.


class _NnablaSolver(torch.optim.Optimizer):
    """An optimizer whose step is nnabla's: g = grad + weight_decay * w, then `_update` per parameter."""

    decay_before_update = True  # nnabla's solver.weight_decay(wd): g += wd * w (Lars overrides it)

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        if defaults["lr"] < 0:
            raise ValueError(f"invalid learning rate {defaults['lr']}")
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        # The initial learning rate, for AdamW's eta_t = lr / initial lr (nnabla's init_alpha_).
        self.param_groups[-1].setdefault("init_lr", self.param_groups[-1]["lr"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["weight_decay"] and self.decay_before_update:
                    g = g.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                state["t"] = state.get("t", 0) + 1
                self._update(p, g, state, group)
        return loss

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class Momentum(_NnablaSolver):
    """nnabla's Momentum (`momentum.cpp`): v = momentum * v + lr * g; w -= v."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g, alpha=group["lr"])
        p.sub_(v)


class Nesterov(_NnablaSolver):
    """nnabla's Nesterov (`nesterov.cpp`): v' = momentum * v - lr * g; w += -momentum * v + (1 + momentum) * v'."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        m = group["momentum"]
        v = state.setdefault("v", torch.zeros_like(p))
        v_prev = v.clone()
        v.mul_(m).sub_(g, alpha=group["lr"])
        p.add_(v_prev, alpha=-m).add_(v, alpha=1.0 + m)


class Adam(_NnablaSolver):
    """nnabla's Adam (`adam.cpp`): m, v moving averages; w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay))

    def _moments(self, p, g, state, group):
        b1, b2 = group["beta1"], group["beta2"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        return m, v

    def _step_size(self, state, group):
        t = state["t"]
        return group["lr"] * math.sqrt(1.0 - group["beta2"] ** t) / (1.0 - group["beta1"] ** t)

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-self._step_size(state, group))


class AdamW(Adam):
    """nnabla's AdamW (`adamw.cpp`): Adam's step, then w -= eta_t * wd * w with eta_t = lr / initial lr.

    `wd` is the decoupled decay; `weight_decay` the usual g += weight_decay * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for AdamW).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        _NnablaSolver.__init__(
            self, params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, wd=wd, weight_decay=weight_decay)
        )

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        eta = group["lr"] / group["init_lr"] if group["init_lr"] else 0.0
        p.mul_(1.0 - eta * group["wd"])
        p.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-self._step_size(state, group))


class Adamax(_NnablaSolver):
    """nnabla's Adamax (`adamax.cpp`): u = max(b2 u, |g|); w -= lr / (1 - b1^t) m / (u + eps)."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 2e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        b1, b2 = group["beta1"], group["beta2"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        torch.maximum(u.mul_(b2), g.abs(), out=u)
        p.addcdiv_(m, u + group["eps"], value=-group["lr"] / (1.0 - b1 ** state["t"]))


class AMSGRAD(Adam):
    """nnabla's AMSGRAD (`amsgrad.cpp`): v_hat = max(v_hat, v); w -= lr' m / (sqrt(v_hat) + eps).

    lr' = lr, or with bias_correction (off by default in nnabla) lr sqrt(1 - b2^t) / (1 - b1^t).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        bias_correction: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        _NnablaSolver.__init__(
            self,
            params,
            dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, bias_correction=bias_correction, weight_decay=weight_decay),
        )

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        v_hat = state.setdefault("v_hat", torch.zeros_like(p))
        torch.maximum(v_hat, v, out=v_hat)
        lr = self._step_size(state, group) if group["bias_correction"] else group["lr"]
        p.addcdiv_(m, v_hat.sqrt().add_(group["eps"]), value=-lr)


class RMSpropGraves(_NnablaSolver):
    """nnabla's RMSpropGraves (`rmsprop_graves.cpp`): n, g running means of grad^2 and grad;
    d = momentum * d - lr * grad / sqrt(n - g^2 + eps); w += d."""

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-4,
        decay: float = 0.95,
        momentum: float = 0.9,
        eps: float = 1e-4,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, dict(lr=lr, decay=decay, momentum=momentum, eps=eps, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        decay = group["decay"]
        n = state.setdefault("n", torch.zeros_like(p))
        mean = state.setdefault("g", torch.zeros_like(p))
        d = state.setdefault("d", torch.zeros_like(p))
        n.mul_(decay).addcmul_(g, g, value=1.0 - decay)
        mean.mul_(decay).add_(g, alpha=1.0 - decay)
        denominator = (n - mean * mean + group["eps"]).sqrt_()
        d.mul_(group["momentum"]).addcdiv_(g, denominator, value=-group["lr"])
        p.add_(d)


class AdaBelief(_NnablaSolver):
    """nnabla's AdaBelief (`adabelief.cpp`): m = b1 m + (1 - b1) g; s = b2 s + (1 - b2) (g - m)^2;
    w -= lr r_t sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(s + eps) + eps).

    Options as nnabla: amsgrad (s_max = max(s_max, s) in place of s), weight_decouple (w -= w * wd * lr,
    or w * wd with fixed_decay), rectify (RAdam's r_t; a plain SGD step m * lr while rho_t <= 4).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        wd: float = 0.0,
        amsgrad: bool = False,
        weight_decouple: bool = False,
        fixed_decay: bool = False,
        rectify: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                eps=eps,
                wd=wd,
                amsgrad=amsgrad,
                weight_decouple=weight_decouple,
                fixed_decay=fixed_decay,
                rectify=rectify,
                weight_decay=weight_decay,
            ),
        )

    def _update(self, p, g, state, group):
        t, b1, b2, eps, lr = state["t"], group["beta1"], group["beta2"], group["eps"], group["lr"]
        r_t, rho_t = 1.0, 0.0
        if group["rectify"]:
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            rho_t = rho_inf - 2.0 * t * b2**t / (1.0 - b2**t)
            if rho_t > 4.0:
                r_t = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        sgd_update = group["rectify"] and rho_t <= 4.0
        alpha_t = lr if sgd_update else lr * r_t * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m = state.setdefault("m", torch.zeros_like(p))
        s = state.setdefault("s", torch.zeros_like(p))
        m.mul_(b1).add_(g, alpha=1.0 - b1)
        diff = g - m
        s.mul_(b2).addcmul_(diff, diff, value=1.0 - b2)
        if group["weight_decouple"]:
            p.mul_(1.0 - (group["wd"] if group["fixed_decay"] else group["wd"] * lr))
        if group["amsgrad"]:
            s_max = state.setdefault("s_max", torch.zeros_like(p))
            torch.maximum(s_max, s, out=s_max)
            s = s_max
        if sgd_update:
            p.add_(m, alpha=-alpha_t)
        else:
            p.addcdiv_(m, (s + eps).sqrt_().add_(eps), value=-alpha_t)


class Lars(_NnablaSolver):
    """nnabla's Lars (`lars.cpp`): a layer-wise learning rate, then Momentum with it.

    Per parameter: local lr = lr * coefficient * |w| / (|g| + weight_decay * |w|) (lr itself when |w| < eps;
    eps is added to a denominator below eps); g += weight_decay * w; v = momentum * v + local lr * g;
    w -= v. nnabla applies the weight decay inside this update, not before it.
    """

    decay_before_update = False

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.9,
        coefficient: float = 1e-3,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, coefficient=coefficient, eps=eps, weight_decay=weight_decay)
        )

    def _update(self, p, g, state, group):
        wd, eps = group["weight_decay"], group["eps"]
        g_norm, d_norm = g.norm(), p.norm()
        x = g_norm + wd * d_norm
        x = torch.where(x < eps, x + eps, x)
        local_lr = torch.where(
            d_norm < eps, torch.full_like(x, group["lr"]), group["lr"] * group["coefficient"] * d_norm / x
        )
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g.add(p, alpha=wd) * local_lr)
        p.sub_(v)


class SgdW(_NnablaSolver):
    """nnabla's SgdW (`sgdw.cpp`): v = momentum * v + lr * g; w -= v + eta_t * wd * w, both from the same w,
    with eta_t = lr / initial lr (nnabla's lr / init_lr).

    `wd` is the decoupled decay; `weight_decay` the usual g += weight_decay * w, which make_solver leaves at 0
    (NNC's WeightDecay replaces wd instead, as nnabla's solver.weight_decay does for SgdW).
    """

    def __init__(
        self, params: Iterable, lr: float = 1e-3, momentum: float = 0.9, wd: float = 1e-4, weight_decay: float = 0.0
    ) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, wd=wd, weight_decay=weight_decay))

    def _update(self, p, g, state, group):
        eta = group["lr"] / group["init_lr"] if group["init_lr"] else 0.0
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(group["momentum"]).add_(g, alpha=group["lr"])
        p.mul_(1.0 - eta * group["wd"]).sub_(v)


class AdaBound(Adam):
    """nnabla's AdaBound (`adabound.cpp`): Adam's moments; the per-element step size
    eta = lr sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + eps) is clipped to
    [final (1 - 1 / (gamma t + 1)), final (1 + 1 / (gamma t))], final = final_lr * lr / initial lr; w -= eta m.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, final_lr=final_lr, gamma=gamma)
        _NnablaSolver.__init__(self, params, {**defaults, "weight_decay": weight_decay})

    def _final_lr(self, group):
        return group["final_lr"] * group["lr"] / group["init_lr"] if group["init_lr"] else 0.0

    def _bounds(self, state, group):
        t, gamma, final = state["t"], group["gamma"], self._final_lr(group)
        upper = final * (1.0 + 1.0 / (gamma * t)) if gamma else math.inf
        return final * (1.0 - 1.0 / (gamma * t + 1.0)), upper

    def _clipped_step(self, p, m, v, step_size, state, group):
        low, high = self._bounds(state, group)
        eta = v.sqrt().add_(group["eps"]).reciprocal_().mul_(step_size).clamp_(low, high)
        p.sub_(eta.mul_(m))

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        self._clipped_step(p, m, v, self._step_size(state, group), state, group)


class AMSBound(AdaBound):
    """nnabla's AMSBound (`amsbound.cpp`): AdaBound with v_hat = max(v_hat, v) in place of v, no bias
    correction by default (lr itself; with bias_correction lr sqrt(1 - b2^t) / (1 - b1^t)), and nnabla 1.39's
    upper bound final (1 + t / gamma) (its source reads 1 / gamma * t; AdaBound's is 1 / (gamma t)).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        final_lr: float = 0.1,
        gamma: float = 1e-3,
        bias_correction: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, final_lr=final_lr, gamma=gamma)
        defaults.update(bias_correction=bias_correction, weight_decay=weight_decay)
        _NnablaSolver.__init__(self, params, defaults)

    def _bounds(self, state, group):
        t, gamma, final = state["t"], group["gamma"], self._final_lr(group)
        upper = final * (1.0 + t / gamma) if gamma else math.inf
        return final * (1.0 - 1.0 / (gamma * t + 1.0)), upper

    def _update(self, p, g, state, group):
        m, v = self._moments(p, g, state, group)
        v_hat = state.setdefault("v_hat", torch.zeros_like(p))
        torch.maximum(v_hat, v, out=v_hat)
        step_size = self._step_size(state, group) if group["bias_correction"] else group["lr"]
        self._clipped_step(p, m, v_hat, step_size, state, group)


# NNC solver -> its optimizer (parameters: nnc_solvers.SOLVER_DEFAULTS, plus weight_decay)
_SOLVERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "Sgd": lambda p, lr, weight_decay: torch.optim.SGD(p, lr=lr, weight_decay=weight_decay),
    "Momentum": Momentum,
    "Nesterov": Nesterov,
    "Adagrad": lambda p, lr, eps, weight_decay: torch.optim.Adagrad(p, lr=lr, eps=eps, weight_decay=weight_decay),
    "Adadelta": lambda p, lr, decay, eps, weight_decay: torch.optim.Adadelta(
        p, lr=lr, rho=decay, eps=eps, weight_decay=weight_decay
    ),
    "RMSprop": lambda p, lr, decay, eps, weight_decay: torch.optim.RMSprop(
        p, lr=lr, alpha=decay, eps=eps, weight_decay=weight_decay
    ),
    "Adam": Adam,
    "AdamW": AdamW,
    "Adamax": Adamax,
    "AMSGRAD": AMSGRAD,
    "RMSpropGraves": RMSpropGraves,
    "AdaBelief": AdaBelief,
    "Lars": Lars,
    "SgdW": SgdW,
    "AdaBound": AdaBound,
    "AMSBound": AMSBound,
}


def make_solver(name: str, params: Iterable, nnc_kwargs: Mapping[str, Any] | None = None) -> torch.optim.Optimizer:
    """The optimizer for NNC's solver `name` (Sgd, Momentum, Nesterov, Adagrad, Adadelta, RMSprop,
    RMSpropGraves, Adam, AdamW, Adamax, AMSGRAD, AdaBelief, Lars, SgdW, AdaBound, AMSBound; case-insensitive)
    with NNC/nnabla parameter names: lr (also alpha, learning_rate, eta), momentum, beta1, beta2, eps (epsilon),
    decay, weight_decay, wd (AdamW, SgdW, AdaBelief), bias_correction (AMSGRAD, AMSBound), coefficient (Lars),
    amsgrad, weight_decouple, fixed_decay, rectify (AdaBelief), final_lr, gamma (AdaBound, AMSBound). Missing
    values take nnabla's defaults (solvers.yaml); weight_decay defaults to 0.

    AdamW, SgdW: weight_decay > 0 (NNC's WeightDecay) is their decoupled rate in place of wd and adds nothing
    to the gradient, as nnabla's solver.weight_decay does for them (nnc_solvers.solver_arguments).
    """
    solver, arguments = solver_arguments(name, nnc_kwargs)
    return _SOLVERS[solver](params, **arguments)


class Schedule:
    """A learning-rate schedule counted in mini-batch iterations (NNC's trainer calls it with the
    iteration index, from 0, at every update): `schedule(it)` is the multiplier of the base learning
    rate, `schedule.lr(it)` the learning rate itself.

    Rules (nnabla `learning_rate_scheduler.py`, with max_iter the whole training by default):
      Constant     1
      Exponential  multiplier ** (it // interval)
      Step         multiplier ** (number of steps <= it)
      Cosine       (cos(pi * it / max_iter) + 1) / 2       (held at 0 from max_iter on)
      Polynomial   (1 - it / max_iter) ** power             (held at 0 from max_iter on)
      Linear       Polynomial with power 1
    and a linear warm-up multiplies by (it + 1) / warmup while it < warmup (nnabla LinearWarmupScheduler).
    """

    def __init__(
        self,
        name: str,
        rule: Callable[[int], float],
        warmup: int = 0,
        base_lr: float = 1.0,
    ) -> None:
        self.name, self._rule, self.warmup, self.base_lr = name, rule, int(warmup), float(base_lr)

    def __call__(self, iteration: int) -> float:
        factor = self._rule(int(iteration))
        if iteration < self.warmup:
            factor *= (iteration + 1) / self.warmup
        return factor

    def lr(self, iteration: int) -> float:
        return self.base_lr * self(iteration)

    def __repr__(self) -> str:
        return f"Schedule({self.name!r}, warmup={self.warmup}, base_lr={self.base_lr})"


def make_schedule(
    name: str,
    params: Mapping[str, Any] | None = None,
    iterations_per_epoch: int = 1,
    total_iterations: int | None = None,
    base_lr: float = 1.0,
) -> Schedule:
    """NNC's learning-rate schedule `name` (Constant, Exponential, Step, Cosine, Polynomial, Linear) as a
    `Schedule`. `params`: multiplier (gamma), interval, steps, power, max_iter, warmup; durations are
    ints (iterations) or (value, "epoch" | "iteration") pairs, converted with `iterations_per_epoch`.
    Cosine, Polynomial and Linear run to 0 over `total_iterations` unless max_iter is given.
    """
    kind, args, warmup = schedule_arguments(name, params, iterations_per_epoch, total_iterations)
    rule: Callable[[int], float]
    if kind == "constant":
        rule = lambda it: 1.0  # noqa: E731
    elif kind == "exponential":
        rule = lambda it: args["gamma"] ** (it // args["interval"])  # noqa: E731
    elif kind == "step":
        rule = lambda it: args["gamma"] ** sum(1 for s in args["steps"] if it >= s)  # noqa: E731
    elif kind == "cosine":
        total = args["max_iter"]
        rule = lambda it: (math.cos(math.pi * min(it, total) / total) + 1.0) * 0.5  # noqa: E731
    else:
        total, power = args["max_iter"], args["power"]
        rule = lambda it: (1.0 - min(it, total) / total) ** power  # noqa: E731
    return Schedule(name, rule, warmup, base_lr)


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


# ---------------------------------------------------------------------------------------------------
# 7. Quantizers, pruning, top-k, gradient clipping, Shift, MeanSubtraction, DepthwiseDeconvolution
# ---------------------------------------------------------------------------------------------------
# nnabla's `fixed_point_quantize.cpp`, `pow2_quantize.cpp`, `prune.cpp`, `top_k_data.cpp`,
# `top_k_grad.cpp`, `clip_grad_by_norm.cpp`, `shift.cpp`, `mean_subtraction.cpp`; checked against nnabla
# 1.39 forward and backward (tests/nnc/test_nnabla_backward_layers.py).


class _StraightThrough(torch.autograd.Function):
    """`q` in the forward pass; the gradient reaches x times `mask` (a straight-through estimator)."""

    @staticmethod
    def forward(ctx, x, q, mask):
        ctx.save_for_backward(mask)
        return q

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


def _straight_through(x: torch.Tensor, q: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    mask = torch.ones_like(x) if mask is None else mask.to(x.dtype)
    return _StraightThrough.apply(x, q.detach(), mask)


def _round(x: torch.Tensor) -> torch.Tensor:
    """Rounding half away from zero (C's `std::round`; torch.round rounds half to even)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def fixed_point_quantize(
    x: torch.Tensor, sign: bool = True, n: int = 8, delta: float = 0.0625, ste_fine_grained: bool = True
) -> torch.Tensor:
    """NNC's FixedPointQuantize: sign(x) * floor(|x| / delta + 1/2) * delta, clipped to [-(2^(n-1) - 1) delta,
    (2^(n-1) - 1) delta] (signed) or [0, (2^n - 1) delta]. The gradient is dy inside that range and 0 outside
    (ste_fine_grained), or dy everywhere."""
    top = ((1 << (n - 1)) - 1) * delta if sign else ((1 << n) - 1) * delta
    bottom = -top if sign else 0.0
    q = torch.clamp(torch.sign(x) * torch.floor(x.abs() / delta + 0.5) * delta, bottom, top)
    mask = ((x >= bottom) & (x <= top)) if ste_fine_grained else None
    return _straight_through(x, q, mask)


def pow2_quantize(
    x: torch.Tensor, sign: bool = True, with_zero: bool = True, n: int = 8, m: int = 1, ste_fine_grained: bool = True
) -> torch.Tensor:
    """NNC's Pow2Quantize: 2^round(log2 |x|) with x's sign, limited to [2^(m - (2^b - 1)), 2^m] where b is n less
    one bit for the sign and one for zero; with_zero rounds magnitudes below min / sqrt(2) to 0, else to min.
    Unsigned, negative values give 0 (with_zero) or min. The gradient is dy except where 2^round(log2 |x|)
    is above 2^m or (unsigned) x < 0 (ste_fine_grained), or dy everywhere."""
    bits = n - int(sign) - int(with_zero)
    top = 2.0**m
    bottom = float(np.float32(2.0 ** (m - ((1 << bits) - 1))))  # nnabla's float: 0 when it underflows
    a = x.abs()
    q = torch.pow(2.0, _round(torch.log2(a)))
    over = q > top
    q = torch.where(over, torch.full_like(q, top), q)
    small = q < bottom
    if with_zero:
        q = torch.where(small, torch.where(a < bottom * 2**-0.5, 0.0, bottom), q)
    else:
        q = torch.where(small, torch.full_like(q, bottom), q)
    negative = -q if sign else torch.full_like(q, 0.0 if with_zero else bottom)
    q = torch.where(x < 0, negative, q)
    mask = None
    if ste_fine_grained:
        mask = ~over if sign else ~over & (x >= 0)
    return _straight_through(x, q, mask)


def prune(x: torch.Tensor, rate: float = 0.9) -> torch.Tensor:
    """NNC's Prune: the elements of the whole batch whose magnitude is below the one at index
    int((size - 1) * rate) of the sorted magnitudes become 0 (all of them for rate 1). The gradient reaches
    every element (straight through)."""
    a = x.detach().abs()
    threshold = a.flatten().sort().values[int((a.numel() - 1) * rate)] + (1.0 if rate == 1.0 else 0.0)
    return _straight_through(x, torch.where(a < threshold, torch.zeros_like(x), x))


class _ClipGradByNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, clip_norm, dims):
        ctx.clip_norm, ctx.dims = clip_norm, dims
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.clip_norm * grad / grad.square().sum(dim=ctx.dims, keepdim=True).sqrt(), None, None


def clip_grad_by_norm(x: torch.Tensor, clip_norm: float = 1.0, dims: Sequence[int] = (1,)) -> torch.Tensor:
    """NNC's ClipGradByNorm: x unchanged; the gradient dy becomes clip_norm * dy / ||dy||, the norm over
    the tensor dims `dims` (nnabla rescales it whether the norm is above clip_norm or not)."""
    return _ClipGradByNorm.apply(x, clip_norm, tuple(dims))


def _top_k_mask(x: torch.Tensor, k: int, use_abs: bool, base_axis: int, largest: bool = True) -> torch.Tensor:
    """1 at the k largest (smallest) elements, in magnitude with use_abs, of each sample's axes from base_axis on."""
    flat = x.flatten(base_axis + 1)
    index = (flat.abs() if use_abs else flat).topk(k, dim=-1, largest=largest).indices
    return torch.zeros_like(flat).scatter_(-1, index, 1.0).reshape(x.shape)


def top_k_data(
    x: torch.Tensor, k: int, abs: bool = False, reduce: bool = True, base_axis: int = 0, largest: bool = False
) -> torch.Tensor:
    """NNC's TopKData: the k smallest (largest) values, in magnitude with abs, of each sample's elements from
    base_axis on, in that order, shape (..., k) with reduce; else x with the other elements set to 0, whose
    gradient nnabla passes unchanged to every element. NNC's files carry no `largest`, which nnabla reads
    as false: NNC's TopKData keeps the k smallest, despite its documentation (nnabla 1.39)."""
    flat = x.flatten(base_axis + 1)
    if reduce:
        index = (flat.abs() if abs else flat).topk(k, dim=-1, largest=largest).indices
        return flat.gather(-1, index)
    mask = _top_k_mask(x.detach(), k, abs, base_axis, largest)
    return _straight_through(x, x * mask)


class _TopKGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, use_abs, base_axis):
        ctx.k, ctx.use_abs, ctx.base_axis = k, use_abs, base_axis
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * _top_k_mask(grad, ctx.k, ctx.use_abs, ctx.base_axis), None, None, None


def top_k_grad(x: torch.Tensor, k: int, abs: bool = False, base_axis: int = 0) -> torch.Tensor:
    """NNC's TopKGrad: x unchanged; of the gradient only the k largest values (in magnitude with abs) of each
    sample's elements from base_axis on pass, the others become 0."""
    return _TopKGrad.apply(x, k, abs, base_axis)


def shift(x: torch.Tensor, shifts: Sequence[int], border_mode: str = "nearest") -> torch.Tensor:
    """NNC's Shift: y[..., i] = x[..., i - s] along each of the last len(shifts) axes; indices outside
    repeat the nearest border element ("nearest") or mirror the axis, the border included ("reflect")."""
    for k, s in enumerate(shifts):
        if s == 0:
            continue
        dim = x.dim() - len(shifts) + k
        n = x.shape[dim]
        index = torch.arange(n, device=x.device) - s
        if border_mode == "nearest":
            index = index.clamp(0, n - 1)
        else:
            index = index.remainder(2 * n)
            index = torch.where(index >= n, 2 * n - 1 - index, index)
        x = x.index_select(dim, index)
    return x


class MeanSubtraction(nn.Module):
    """NNC's MeanSubtraction: x minus a running mean of the samples (state `mean`, of the sample's shape from
    base_axis on, and the count `t`, both in NNC's parameter files). With update_running_mean, every call
    first moves the mean towards the batch's, mean += (batch mean - mean) / (t + 1) with t read as an
    integer, and counts t up, as nnabla does in any network (trained or not). Its gradient is then nnabla's
    approximation, dy * (1 - 1 / (samples * (t + 1))), samples the count of values averaged; without
    update_running_mean, dy."""

    def __init__(self, shape: Sequence[int], base_axis: int = 0, update_running_mean: bool = True):
        super().__init__()
        self.base_axis, self.update_running_mean = base_axis, update_running_mean
        self.register_buffer("mean", torch.zeros(tuple(shape)))
        self.register_buffer("t", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.update_running_mean:
            return x - self.mean
        with torch.no_grad():
            count = self.t.trunc()
            batch = x.detach().mean(dim=tuple(range(self.base_axis + 1)))
            self.mean += (batch - self.mean) / (count + 1)
            self.t.copy_(count + 1)
            samples = math.prod(x.shape[: self.base_axis + 1])
            slope = (1 - 1 / (samples * self.t)).expand_as(x)
        return _straight_through(x, x - self.mean, slope)


def along(module: nn.Module, x: torch.Tensor, axes: Sequence[int]) -> torch.Tensor:
    """`module`, a layer over the channels (axis 1) of (N, C, ...) (a BatchNorm, GroupNorm, InstanceNorm,
    PReLU), over NNC's per-sample `axes` instead: they are moved after the batch axis, in order, and
    flattened into its channels (nnabla's statistics or slopes per element of those axes), then put back."""
    dims = [a + 1 for a in axes]
    order = [0, *dims, *(d for d in range(1, x.dim()) if d not in dims)]
    moved = x.permute(order)
    y = module(moved.flatten(1, len(dims))).unflatten(1, moved.shape[1 : len(dims) + 1])
    return y.permute([order.index(d) for d in range(x.dim())])


def one_hot(x: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """nnabla's one_hot: the last axis of `x` holds one integer index per axis of `shape`, and is replaced by
    `shape`, 1 at that index and 0 elsewhere."""
    strides = [math.prod(shape[k + 1 :]) for k in range(len(shape))]
    flat = (x.long() * torch.tensor(strides, device=x.device)).sum(-1)
    return F.one_hot(flat, math.prod(shape)).to(torch.get_default_dtype()).unflatten(-1, tuple(shape))
