"""NNC's augmentation rules, framework-free: the one copy both backends' runtimes use.

nnabla's `image_augmentation.cpp` and `random_shift.cpp` written once, against a small set of array
operations that each runtime passes in (`ArrayOps`: torch's functions, TensorFlow's, or numpy's). The
runtimes keep what is their own: the layer class (`nn.Module`, `keras.layers.Layer`), the tensor layout,
the bilinear sampler and the random streams (each draws from its own framework's generator; the formulas
that turn those draws into nnabla's parameters are here).

- `ImageAugmentationConfig`: NNC's ImageAugmentation parameters with NNC's defaults, validated.
- `sample_params`: nnabla's per-image draws from uniforms u in {0, 0.001, ..., 1} (or the centre, u = 1/2).
- `sampling_grid`: nnabla's geometry, the clamped input coordinates every output pixel reads.
- `grid_sample_coordinates`: those coordinates in torch grid_sample's [-1, 1] (align_corners=True).
- `adjust_colour`: nnabla's brightness and contrast rule.
- `check_border_mode`, `shift_source_index`: RandomShift's border rule.

Every formula keeps the float32 operations, and their order, of the runtimes it came from, so that the two
backends give the same numbers for the same draws.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

__all__ = [
    "ArrayOps",
    "ImageAugmentationConfig",
    "adjust_colour",
    "check_border_mode",
    "grid_sample_coordinates",
    "sample_params",
    "sampling_grid",
    "shift_source_index",
]


class ArrayOps(Protocol):
    """The array operations the rules use, as each framework writes them (elementwise, broadcasting)."""

    def exp(self, x: Any) -> Any: ...
    def cos(self, x: Any) -> Any: ...
    def sin(self, x: Any) -> Any: ...
    def abs(self, x: Any) -> Any: ...
    def where(self, condition: Any, a: Any, b: Any) -> Any: ...
    def clip(self, x: Any, low: Any, high: Any) -> Any: ...
    def reshape(self, x: Any, shape: Sequence[Any]) -> Any: ...
    def float32(self, x: Any) -> Any:
        """x as float32 (unchanged when it is)."""

    def cast_like(self, x: Any, like: Any) -> Any:
        """x in the dtype of `like`."""

    def full(self, shape: Sequence[Any], value: float) -> Any:
        """A float32 array of `shape` (entries may be scalar tensors) filled with `value`."""

    def false(self, n: Any) -> Any:
        """A boolean (n,) array of False."""

    def zeros_like(self, x: Any) -> Any: ...
    def pixel_grid(self, h: int, w: int) -> tuple[Any, Any]:
        """(iy, ix): float32 (h, w) arrays of the row and column index of every pixel."""


@dataclasses.dataclass(frozen=True)
class ImageAugmentationConfig:
    """NNC's ImageAugmentation (nnabla `image_augmentation.cpp`) parameters, with NNC's defaults.

    shape: the output (H, W) or (C, H, W) (NNC order; a C must be the input's); pad: (H, W) padding of
    the input before scaling (the border replicated). Per image, from uniforms u in {0, 0.001, ..., 1}:
      scale   = min_scale * (max_scale / min_scale) ** u         log-uniform in [min_scale, max_scale]
      sx      = aspect_ratio ** (u - 0.5), sy = 1 / sx          sx / sy log-uniform in [1/ar, ar]
      angle   = (2u - 1) * angle                                 radians, uniform in [-angle, angle]
      the crop of `shape` at offset u * (scaled size - output size) per axis; flips with probability 1/2;
      distortion d = exp((2u - 1) * distortion) - 1: a radial lens distortion of the output grid;
      brightness b = (2u - 1) * brightness, contrast c = contrast ** (2u - 1) (per channel with *_each):
      y = (v + b - contrast_center) * c + contrast_center;
      noise: y += N(0, 1) * s with s = u * noise per image.
    """

    shape: tuple[int, ...]
    pad: tuple[int, int] = (0, 0)
    min_scale: float = 1.0
    max_scale: float = 1.0
    angle: float = 0.0
    aspect_ratio: float = 1.0
    distortion: float = 0.0
    flip_lr: bool = False
    flip_ud: bool = False
    brightness: float = 0.0
    brightness_each: bool = False
    contrast: float = 1.0
    contrast_center: float = 0.5
    contrast_each: bool = False
    noise: float = 0.0

    def __post_init__(self) -> None:
        if len(self.shape) < 2 or len(self.pad) != 2:
            raise ValueError("ImageAugmentation: shape needs (H, W) or (C, H, W) and pad (H, W)")
        if self.min_scale <= 0 or self.max_scale <= 0 or self.aspect_ratio <= 0 or self.contrast <= 0:
            raise ValueError("ImageAugmentation: scales, aspect_ratio and contrast must be positive")
        for field in dataclasses.fields(self):  # the declared types, so that 1 and True read as 1.0 and True
            value = getattr(self, field.name)
            if field.name in ("shape", "pad"):
                value = tuple(int(v) for v in value)
            else:
                value = {"float": float, "bool": bool}[str(field.type)](value)
            object.__setattr__(self, field.name, value)

    @classmethod
    def split(cls, shape: Sequence[int], kwargs: dict[str, Any]) -> ImageAugmentationConfig:
        """The configuration from `shape` and the NNC parameters among `kwargs`, which are removed from it
        (what remains is the framework's: a Keras layer's name, dtype, ...)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(shape, **{k: kwargs.pop(k) for k in list(kwargs) if k in names})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check_channels(self, channels: Any, input_shape: Sequence[Any]) -> None:
        """A 3-value shape's C must be the input's (`channels` None: not known yet)."""
        if len(self.shape) == 3 and channels is not None and channels != self.shape[0]:
            raise ValueError(f"ImageAugmentation: shape {self.shape} and input {tuple(input_shape)} differ in channels")

    @property
    def changes_colour(self) -> bool:
        return self.brightness != 0.0 or self.contrast != 1.0


def sample_params(
    config: ImageAugmentationConfig,
    ops: ArrayOps,
    n: Any,
    channels: Any,
    uniform: Callable[[tuple[Any, ...]], Any] | None = None,
    flip: Callable[[Any, bool], Any] | None = None,
) -> dict[str, Any]:
    """nnabla's per-image draws (float32) for n images of `channels` channels.

    `uniform(shape)` draws nnabla's u in {0, 0.001, ..., 1} and `flip(n, enabled)` the (n,) flips (true
    with probability 1/2 where enabled): both from the runtime's own generator, called in this order:
    scale, scale_x, angle, offset_x, offset_y, flip_lr, flip_ud, brightness, contrast, distortion, noise.
    With uniform None: the deterministic centre, every u = 1/2 (no flip, no colour change, no distortion,
    no noise).
    """
    random = uniform is not None

    def u(*shape: Any) -> Any:
        return uniform(shape) if random else ops.full(shape, 0.5)

    c = config
    log_ar = math.log(c.aspect_ratio)
    params = {
        "scale": c.min_scale * ops.exp(u(n) * math.log(c.max_scale / c.min_scale)),
        "scale_x": ops.exp(-0.5 * log_ar + u(n) * log_ar),
        "angle": -c.angle + u(n) * (2.0 * c.angle),
        "offset_x": u(n),  # where the crop sits in the scaled image, 0 .. 1
        "offset_y": u(n),
        "flip_lr": flip(n, c.flip_lr) if random else ops.false(n),
        "flip_ud": flip(n, c.flip_ud) if random else ops.false(n),
    }
    b_channels = channels if c.brightness_each else 1
    c_channels = channels if c.contrast_each else 1
    if random:
        params["brightness"] = u(n, b_channels) * (2.0 * c.brightness) - c.brightness
        params["contrast"] = ops.exp(u(n, c_channels) * (2.0 * math.log(c.contrast))) / c.contrast
        params["distortion"] = ops.exp(u(n) * (2.0 * c.distortion) - c.distortion) - 1.0
        params["noise"] = u(n) * c.noise  # the noise's standard deviation, per image
    else:  # u = 1/2 gives these exactly
        params["brightness"] = ops.full((n, b_channels), 0.0)
        params["contrast"] = ops.full((n, c_channels), 1.0)
        params["distortion"] = ops.full((n,), 0.0)
        params["noise"] = ops.full((n,), 0.0)
    return params


def sampling_grid(
    config: ImageAugmentationConfig, ops: ArrayOps, params: Mapping[str, Any], h_in: int, w_in: int
) -> tuple[Any, Any]:
    """(x_in, y_in): the float32 (M, H_out, W_out) input coordinates every output pixel reads, clamped to
    the input (so `pad` replicates the border), for M images of (h_in, w_in) with `params` from
    `sample_params`. Exactly nnabla's geometry: output pixel (ix, iy) reads
      x_in = x0 + ix * x_ax + iy * y_ax,  y_in = y0 + ix * x_ay + iy * y_ay
    with x_ax = +-cos / (scale sx), y_ax = -+sin / (scale sy), x_ay = +-sin / (scale sx),
    y_ay = +-cos / (scale sy) (signs from the flips) and x0, y0 placing the crop; with distortion, (ix, iy)
    are first moved radially around the output centre.
    """
    h_out, w_out = config.shape[-2:]
    pad_h, pad_w = config.pad
    f32 = ops.float32

    scale, scale_x = f32(params["scale"]), f32(params["scale_x"])
    scale_y = 1.0 / scale_x
    i_scale_x = 1.0 / (scale * scale_x)
    i_scale_y = 1.0 / (scale * scale_y)
    w_scaled = float(w_in + 2 * pad_w) * scale * scale_x
    h_scaled = float(h_in + 2 * pad_h) * scale * scale_y
    cx, cy = (w_out - 1) * 0.5, (h_out - 1) * 0.5
    cx_scaled = f32(params["offset_x"]) * (w_scaled - float(w_out)) + cx
    cy_scaled = f32(params["offset_y"]) * (h_scaled - float(h_out)) + cy

    angle = f32(params["angle"])
    cos, sin = ops.cos(angle), ops.sin(angle)
    flip_lr, flip_ud = params["flip_lr"], params["flip_ud"]
    x_ax = ops.where(flip_lr, -cos, cos) * i_scale_x
    y_ax = ops.where(flip_lr, sin, -sin) * i_scale_y
    x_ay = ops.where(flip_ud, -sin, sin) * i_scale_x
    y_ay = ops.where(flip_ud, -cos, cos) * i_scale_y
    x0 = cx_scaled * i_scale_x - (x_ax * cx + y_ax * cy) - float(pad_w)
    y0 = cy_scaled * i_scale_y - (x_ay * cx + y_ay * cy) - float(pad_h)
    iy, ix = ops.pixel_grid(h_out, w_out)
    px, py = ix[None], iy[None]
    if config.distortion != 0.0:
        # nnabla: radial distortion around the output centre (w_out/2, h_out/2), normalised radius r.
        dist = ops.reshape(f32(params["distortion"]), (-1, 1, 1))
        w_half, h_half = w_out * 0.5, h_out * 0.5
        dx, dy = (ix - w_half) / w_half, (iy - h_half) / h_half
        r2 = dx * dx + dy * dy
        px = (dx + dx * dist * r2) * w_half / (1.0 + dist) + w_half
        py = (dy + dy * dist * r2) * h_half / (1.0 + dist) + h_half

    def per_image(v: Any) -> Any:
        return ops.reshape(v, (-1, 1, 1))

    x_in = per_image(x0) + px * per_image(x_ax) + py * per_image(y_ax)
    y_in = per_image(y0) + px * per_image(x_ay) + py * per_image(y_ay)
    return ops.clip(x_in, 0.0, w_in - 1.0), ops.clip(y_in, 0.0, h_in - 1.0)


def grid_sample_coordinates(x_in: Any, y_in: Any, h_in: int, w_in: int) -> tuple[Any, Any]:
    """Pixel coordinates in torch grid_sample's normalised [-1, 1] (align_corners=True): the torch runtime
    samples with them, the Keras runtime maps them back the way grid_sample does, so both sample the same
    float32 points."""
    return x_in * (2.0 / max(w_in - 1, 1)) - 1.0, y_in * (2.0 / max(h_in - 1, 1)) - 1.0


def adjust_colour(
    config: ImageAugmentationConfig,
    ops: ArrayOps,
    out: Any,
    params: Mapping[str, Any],
    per_channel: Callable[[Any], Any],
) -> Any:
    """nnabla's colour rule, y = (v + brightness - contrast_center) * contrast + contrast_center, on the
    sampled images `out` (in their dtype); `per_channel` shapes an (M, C) parameter to broadcast against
    `out` (C is 1 without *_each). Unchanged when neither brightness nor contrast is set."""
    if not config.changes_colour:
        return out
    shift = per_channel(ops.cast_like(ops.float32(params["brightness"]) - config.contrast_center, out))
    contrast = per_channel(ops.cast_like(params["contrast"], out))
    return (out + shift) * contrast + config.contrast_center


def check_border_mode(border_mode: str) -> str:
    """RandomShift's BorderMode: "nearest" or "reflect"."""
    if border_mode not in ("nearest", "reflect"):
        raise ValueError(f"RandomShift: border_mode must be 'nearest' or 'reflect', got {border_mode!r}")
    return border_mode


def shift_source_index(ops: ArrayOps, src: Any, size: int, border_mode: str) -> Any:
    """nnabla `random_shift.cpp`: the index y[i] reads along an axis of `size`, for the (integer) source
    index `src` = i - shift: "nearest" clamps it (replicates the border), "reflect" mirrors it repeating
    the edge pixel (index -1 reads 0, -2 reads 1: numpy's "symmetric")."""
    if border_mode == "nearest":
        return ops.clip(src, 0, size - 1)
    if size == 1:
        return ops.zeros_like(src)
    a = ops.abs(src + 2 * size) % (2 * size)
    return ops.where(a >= size, 2 * size - 1 - a, a)
