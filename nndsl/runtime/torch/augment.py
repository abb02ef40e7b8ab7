"""NNC's augmentation layers for PyTorch: `ImageAugmentation`, `RandomFlip`, `RandomShift`,
`RandomCrop` (batched; they run on the GPU when the input is there), on nnabla's rules written once
for both runtimes in `nnc_augment.py` (sony/nnabla `image_augmentation.cpp`, `random_flip.cpp`,
`random_shift.cpp`, `random_crop.cpp`).

Conventions, as in NNC: tensors are batch-first and channels-first, (N, C, H, W); a layer's
"per-sample" axes are the axes after the batch axis (axis 0 of a sample is C).

Randomness: every random module draws from torch's global generator of the input's device (so
`torch.manual_seed` seeds them), unless it is given `seed >= 0` (NNC's Seed), which makes a generator
of its own. nnabla draws from a Mersenne twister in a different order: the distributions match, the
streams cannot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# isort: split
from .. import nnc_augment

__all__ = [
    "ImageAugmentation",
    "RandomCrop",
    "RandomFlip",
    "RandomShift",
]


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
