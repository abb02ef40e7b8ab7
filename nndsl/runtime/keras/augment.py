"""NNC's augmentation layers for Keras 3 (TensorFlow backend): `ImageAugmentation`, `RandomFlip`,
`RandomShift`, `RandomCrop`, the torch runtime's of the same names, on nnabla's rules written once for
both runtimes in `nnc_augment.py` (sony/nnabla `image_augmentation.cpp`, `random_flip.cpp`,
`random_shift.cpp`, `random_crop.cpp`).

A generated project imports this file as `augment` when its model augments; it needs keras,
tensorflow, numpy and the runtime's `tensors.py` and `nnc_augment.py`.

Layout: generated Keras models compute channels-last (an NNC image (C, H, W) is (batch, H, W, C));
the layers take NNC's parameters verbatim (shapes and axes in NNC's channels-first per-sample convention)
and convert axes internally (`tensors.keras_axis`, `to_nnc_layout`, `from_nnc_layout`).

Randomness: the random layers are active when called with `training=True`, or always with
`skip_at_test=False` (NNC's SkipAtTest), as the torch runtime's `_Random.active`. Each draws from a
`keras.random.SeedGenerator` of its own: `seed >= 0` (NNC's Seed) makes the draws reproducible; `seed < 0`
seeds it from Python's `random` (so `keras.utils.set_random_seed` before building the model makes a run
reproducible). Under a tf.distribute strategy each replica folds its id into the seed, so replicas augment
their parts of the batch differently. The distributions are nnabla's and the torch runtime's; the random
streams differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

# isort: split
from .. import nnc_augment
from .tensors import _ints, _static_size, from_nnc_layout, keras_axis, to_nnc_layout

__all__ = [
    "ImageAugmentation",
    "RandomCrop",
    "RandomFlip",
    "RandomShift",
]

_register = keras.saving.register_keras_serializable(package="nnc")


# ---------------------------------------------------------------------------------------------------
# 2. Augmentation
# ---------------------------------------------------------------------------------------------------


class _Random(keras.layers.Layer):
    """Base of the random layers: NNC's Seed and SkipAtTest (the torch runtime's `_Random`).

    Active when called with training=True, or always with skip_at_test=False. `training` may also be a
    boolean tensor (then the layer branches with tf.cond / tf.where).
    """

    def __init__(self, seed: int = -1, skip_at_test: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = int(seed)
        self.skip_at_test = bool(skip_at_test)
        self.seed_generator = keras.random.SeedGenerator(self.seed if self.seed >= 0 else None)

    def _active(self, training: Any) -> Any:
        """True / False, or a boolean tensor when `training` is one."""
        if not self.skip_at_test:
            return True
        if training is None or isinstance(training, (bool, int, np.bool_, np.integer)):
            return bool(training)
        return tf.cast(training, tf.bool)

    def _seed(self) -> tf.Tensor:
        """The next stateless seed of this layer's SeedGenerator; each replica of a tf.distribute strategy
        folds its id in, so that replicas draw different numbers for their parts of the batch."""
        seed = tf.cast(self.seed_generator.next(), tf.int64)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
            seed = tf.random.experimental.stateless_fold_in(seed, replica)
        return seed

    def _randint(self, low: int, high: int, shape: Sequence[Any]) -> tf.Tensor:
        """int32 integers uniform in [low, high)."""
        return tf.random.stateless_uniform(list(shape), self._seed(), minval=low, maxval=high, dtype=tf.int32)

    def _normal(self, shape: Any, dtype: Any) -> tf.Tensor:
        """N(0, 1) numbers."""
        return tf.random.stateless_normal(shape, self._seed(), dtype=dtype)

    def _bits(self, shape: Sequence[Any]) -> tf.Tensor:
        """Booleans, each true with probability 1/2 (nnabla's `rgen() % 2`)."""
        return tf.equal(self._randint(0, 2, shape), 1)

    def _u1001(self, shape: Sequence[Any]) -> tf.Tensor:
        """nnabla's `(rgen() % 1001) * 0.001`: uniform on the 1001 values 0, 0.001, ..., 1 (float32)."""
        return tf.cast(self._randint(0, 1001, shape), tf.float32) * 0.001

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(seed=self.seed, skip_at_test=self.skip_at_test)
        return config


def _gather_along(x: tf.Tensor, axis: int, index: tf.Tensor) -> tf.Tensor:
    """x gathered along `axis` with a per-sample index (N, L): out[n, .., i, ..] = x[n, .., index[n, i], ..]."""
    return tf.gather(x, index, axis=axis, batch_dims=1)


def _per_sample(v: tf.Tensor, rank: int) -> tf.Tensor:
    """A (N,) tensor shaped (N, 1, ..., 1) to broadcast against a rank-`rank` tensor."""
    return tf.reshape(v, [-1] + [1] * (rank - 1))


class _TFOps:
    """The array operations of `nnc_augment.ArrayOps` in TensorFlow."""

    exp, cos, sin, abs = staticmethod(tf.exp), staticmethod(tf.cos), staticmethod(tf.sin), staticmethod(tf.abs)
    where, clip, zeros_like = staticmethod(tf.where), staticmethod(tf.clip_by_value), staticmethod(tf.zeros_like)

    def reshape(self, x: Any, shape: Sequence[Any]) -> tf.Tensor:
        return tf.reshape(x, list(shape))

    def float32(self, x: Any) -> tf.Tensor:
        return tf.cast(x, tf.float32)

    def cast_like(self, x: Any, like: tf.Tensor) -> tf.Tensor:
        return tf.cast(x, like.dtype)

    def full(self, shape: Sequence[Any], value: float) -> tf.Tensor:
        return tf.fill(list(shape), np.float32(value))

    def false(self, n: Any) -> tf.Tensor:
        return tf.zeros([n], tf.bool)

    def pixel_grid(self, h: int, w: int) -> tuple[tf.Tensor, tf.Tensor]:
        return tuple(tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij"))


_TF_OPS = _TFOps()


@_register
class ImageAugmentation(_Random):
    """NNC's ImageAugmentation (nnabla `image_augmentation.cpp`), as the torch runtime's, channels-last.

    Parameters are NNC's, with NNC's defaults: `shape` is (H, W) or (C, H, W) (NNC order; C must be the
    input's), `pad` is (H, W). Input: an NNC (C, H, W) image held as (N, H, W, C); also NNC (H, W) held as
    (N, W, H) and NNC (..., C, H, W) held channels-last; the output replaces H, W by shape[-2:].

    NNC's parameters, their defaults, nnabla's per-image draws and its geometry are `nnc_augment`'s (one copy
    for both backends); this layer draws the uniforms from its SeedGenerator and samples bilinearly with
    `_bilinear` (the float32 arithmetic of torch's grid_sample, step by step).

    Inactive (inference with skip_at_test): an input already of the output size passes unchanged; otherwise
    the deterministic centre (every u = 1/2: scale sqrt(min_scale * max_scale), aspect 1, angle 0, no flip,
    centred crop, no colour change, no noise). min_scale = max_scale with nothing else random (280 -> 224 at
    0.8) is a deterministic resize, top-left aligned: x_in = ix / 0.8.
    `sample_params` makes the draws and `apply` applies them to (M, H, W, C) images.
    """

    def __init__(self, shape: Sequence[int], seed: int = -1, skip_at_test: bool = True, **kwargs: Any) -> None:
        """`shape` and NNC's other parameters (`pad`, `min_scale`, ..., `noise`: `nnc_augment.ImageAugmentationConfig`,
        which holds their defaults and checks them), NNC's Seed and SkipAtTest; other keyword arguments are
        the Layer's (name, dtype, ...)."""
        config = nnc_augment.ImageAugmentationConfig.split(shape, kwargs)
        super().__init__(seed, skip_at_test, **kwargs)
        self.config = config
        for name, value in config.as_dict().items():  # the parameters as attributes: layer.shape, layer.pad, ...
            setattr(self, name, value)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self.config.as_dict())
        return config

    # The (H, W) axes of the Keras tensor, and checks.
    def _hw_axes(self, rank: int) -> tuple[int, int]:
        r = rank - 1
        if r < 2:
            raise ValueError(f"ImageAugmentation expects (N, [C,] H, W) samples, got a rank-{r} sample")
        return keras_axis(r - 2, r), keras_axis(r - 1, r)

    def _check(self, input_shape: Sequence[Any]) -> None:
        r = len(input_shape) - 1
        self._hw_axes(len(input_shape))
        if r >= 3:
            self.config.check_channels(input_shape[keras_axis(r - 3, r)], input_shape)

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        self._check(input_shape)
        out = list(input_shape)
        h_axis, w_axis = self._hw_axes(len(input_shape))
        out[h_axis], out[w_axis] = self.shape[-2:]
        return tuple(out)

    def call(self, x: Any, training: Any = None) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        self._check(tuple(x.shape))
        h_axis, w_axis = self._hw_axes(x.shape.rank)
        same_size = (x.shape[h_axis], x.shape[w_axis]) == tuple(self.shape[-2:])
        active = self._active(training)
        if isinstance(active, bool):
            if not active and same_size:
                return x
            return self._augment(x, random=active)
        inactive = (lambda: tf.identity(x)) if same_size else (lambda: self._augment(x, random=False))
        return tf.cond(active, lambda: self._augment(x, random=True), inactive)

    def _augment(self, x: tf.Tensor, random: bool) -> tf.Tensor:
        """To (M, H, W, C) images, `apply` with fresh draws (or the centre), and back to x's layout."""
        if not x.dtype.is_floating:  # integer images (uint8, ...) are sampled as floats
            x = tf.cast(x, self.compute_dtype)
        rank = x.shape.rank
        r = rank - 1
        h_out, w_out = self.shape[-2:]
        if r == 3:
            images = x
        else:
            nnc = to_nnc_layout(x)
            if r == 2:
                images = nnc[..., None]
            else:
                c, h, w = nnc.shape[-3:]
                c = c if c is not None else tf.shape(nnc)[-3]
                images = tf.transpose(tf.reshape(nnc, [-1, c, h, w]), [0, 2, 3, 1])
        _static_size(images, 1, "ImageAugmentation")
        _static_size(images, 2, "ImageAugmentation")
        n = tf.shape(images)[0]
        channels = images.shape[-1] if images.shape[-1] is not None else tf.shape(images)[-1]
        out = self.apply(images, self.sample_params(n, channels, random=random), random=random)
        if r == 3:
            return out
        if r == 2:
            return from_nnc_layout(out[..., 0])
        lead = tf.shape(nnc)[:-2]
        back = tf.reshape(tf.transpose(out, [0, 3, 1, 2]), tf.concat([lead, [h_out, w_out]], 0))
        return from_nnc_layout(back)

    def sample_params(self, n: Any, channels: Any, random: bool = True) -> dict[str, tf.Tensor]:
        """The per-image draws of nnabla (float32, `nnc_augment.sample_params` from this layer's SeedGenerator),
        or with random=False the deterministic centre (u = 1/2)."""
        if not random:
            return nnc_augment.sample_params(self.config, _TF_OPS, n, channels)

        def flip(n: Any, enabled: bool) -> tf.Tensor:
            return self._bits([n]) if enabled else tf.zeros([n], tf.bool)

        return nnc_augment.sample_params(self.config, _TF_OPS, n, channels, uniform=self._u1001, flip=flip)

    def apply(self, images: Any, params: Mapping[str, Any], random: bool = True) -> tf.Tensor:
        """Augment (M, H, W, C) images with their parameters from `sample_params` (nnabla's per-pixel rule:
        `nnc_augment.sampling_grid` and `adjust_colour`, sampled by `_bilinear`).

        Noise is added only when `random` (the torch runtime adds it only while the layer is active).
        """
        images = tf.convert_to_tensor(images)
        p = {k: tf.convert_to_tensor(v) for k, v in params.items()}
        p["flip_lr"], p["flip_ud"] = tf.cast(p["flip_lr"], tf.bool), tf.cast(p["flip_ud"], tf.bool)
        h_in = _static_size(images, 1, "ImageAugmentation")
        w_in = _static_size(images, 2, "ImageAugmentation")

        x_in, y_in = nnc_augment.sampling_grid(self.config, _TF_OPS, p, h_in, w_in)
        # The torch runtime normalises to grid_sample's [-1, 1] and grid_sample (align_corners, border)
        # maps back with (g + 1) * (size - 1) / 2: the same float32 steps keep the results equal.
        gx, gy = nnc_augment.grid_sample_coordinates(x_in, y_in, h_in, w_in)
        sx = tf.clip_by_value((gx + 1.0) * ((w_in - 1) / 2.0), 0.0, w_in - 1.0)
        sy = tf.clip_by_value((gy + 1.0) * ((h_in - 1) / 2.0), 0.0, h_in - 1.0)
        out = _bilinear(images, sx, sy)
        out = nnc_augment.adjust_colour(self.config, _TF_OPS, out, p, lambda v: v[:, None, None, :])
        if self.noise > 0.0 and random:
            sigma = tf.reshape(tf.cast(p["noise"], out.dtype), [-1, 1, 1, 1])
            out = out + self._normal(tf.shape(out), out.dtype) * sigma
        return out


def _bilinear(images: tf.Tensor, sx: tf.Tensor, sy: tf.Tensor) -> tf.Tensor:
    """(M, H, W, C) images sampled at (M, Ho, Wo) coordinates inside the image: torch grid_sample's bilinear
    rule (its CPU kernel's weights and sum order); the right / lower neighbour is clamped to the image where
    its weight is 0."""
    h, w = images.shape[1], images.shape[2]
    x_w, y_n = tf.floor(sx), tf.floor(sy)
    we = sx - x_w  # distance to the west pixel
    ea = 1.0 - we
    no = sy - y_n
    so = 1.0 - no
    weights = (so * ea, so * we, no * ea, no * we)  # nw, ne, sw, se
    ix0, iy0 = tf.cast(x_w, tf.int32), tf.cast(y_n, tf.int32)
    ix1, iy1 = tf.minimum(ix0 + 1, w - 1), tf.minimum(iy0 + 1, h - 1)
    batch = tf.shape(images)[0]
    flat = tf.reshape(images, [batch, h * w, -1])
    out_hw = tf.shape(sx)[1:]

    def gather(iy: tf.Tensor, ix: tf.Tensor) -> tf.Tensor:
        index = tf.reshape(iy * w + ix, [batch, -1])
        values = tf.gather(flat, index, batch_dims=1)
        return tf.reshape(values, tf.concat([[batch], out_hw, [-1]], 0))

    corners = (gather(iy0, ix0), gather(iy0, ix1), gather(iy1, ix0), gather(iy1, ix1))
    dtype = images.dtype
    terms = [v * tf.cast(wt, dtype)[..., None] for v, wt in zip(corners, weights, strict=True)]
    return ((terms[0] + terms[1]) + terms[2]) + terms[3]


@_register
class RandomFlip(_Random):
    """NNC's RandomFlip (nnabla `random_flip.cpp`): each sample reverses each of `axes` with probability 1/2.

    `axes` are NNC per-sample axes (0 = C, 1 = H, 2 = W; NNC's Axes), mapped to the channels-last tensor with
    `keras_axis`; draws are independent per sample and axis. Identity when inactive.
    """

    def __init__(self, axes: Sequence[int] = (0,), seed: int = -1, skip_at_test: bool = True, **kwargs: Any) -> None:
        super().__init__(seed, skip_at_test, **kwargs)
        self.axes = _ints(axes)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axes=self.axes)
        return config

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        for axis in self.axes:
            keras_axis(axis, len(input_shape) - 1)
        return tuple(input_shape)

    def call(self, x: Any, training: Any = None) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        active = self._active(training)
        if active is False:
            return x
        rank = x.shape.rank
        n = tf.shape(x)[0]
        for axis in self.axes:
            dim = keras_axis(axis, rank - 1)
            flip = self._bits([n])
            if not isinstance(active, bool):
                flip = tf.logical_and(flip, active)
            x = tf.where(_per_sample(flip, rank), tf.reverse(x, [dim]), x)
        return x


@_register
class RandomShift(_Random):
    """NNC's RandomShift (nnabla `random_shift.cpp`): shift each sample by random whole pixels.

    `shift` applies to the last len(shift) NNC per-sample axes (4,4 moves an image up to 4 pixels along H
    and W); per sample and axis an integer s is uniform in [-shift, shift] and y[i] = x[i - s], the source
    index resolved by `border_mode`: "nearest" clamps it, "reflect" mirrors it repeating the edge pixel
    (numpy's "symmetric"). Identity when inactive.
    """

    def __init__(
        self,
        shift: Sequence[int] = (0, 0),
        border_mode: str = "nearest",
        seed: int = -1,
        skip_at_test: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(seed, skip_at_test, **kwargs)
        self.shift = _ints(shift)
        self.border_mode = nnc_augment.check_border_mode(border_mode)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(shift=self.shift, border_mode=self.border_mode)
        return config

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        if len(self.shift) >= len(input_shape):
            raise ValueError(f"RandomShift: {len(self.shift)} shifts for input {tuple(input_shape)}")
        return tuple(input_shape)

    def call(self, x: Any, training: Any = None) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        self.compute_output_shape(tuple(x.shape))
        active = self._active(training)
        if active is False or not any(self.shift):
            return x
        rank = x.shape.rank
        r = rank - 1
        n = tf.shape(x)[0]
        for i, limit in enumerate(self.shift):
            if limit == 0:
                continue
            dim = keras_axis(r - len(self.shift) + i, r)
            size = _static_size(x, dim, "RandomShift")
            s = self._randint(-limit, limit + 1, [n, 1])
            if not isinstance(active, bool):
                s = s * tf.cast(active, tf.int32)
            src = tf.range(size)[None, :] - s
            index = nnc_augment.shift_source_index(_TF_OPS, src, size, self.border_mode)
            x = _gather_along(x, dim, index)
        return x


@_register
class RandomCrop(_Random):
    """NNC's RandomCrop (nnabla `random_crop.cpp`): crop the last len(shape) NNC per-sample axes to `shape`.

    Each offset is uniform over 0 .. size - out. Inactive (inference with skip_at_test, the default) it takes
    the centre crop, offset (size - out) // 2, as the torch runtime; skip_at_test=False keeps nnabla's
    random crop at inference too.
    """

    def __init__(self, shape: Sequence[int], seed: int = -1, skip_at_test: bool = True, **kwargs: Any) -> None:
        super().__init__(seed, skip_at_test, **kwargs)
        self.shape = _ints(shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(shape=self.shape)
        return config

    def _dims(self, input_shape: Sequence[Any]) -> list[tuple[int, int, Any]]:
        """(Keras axis, output size, input size) per cropped axis."""
        r = len(input_shape) - 1
        if len(self.shape) > r:
            raise ValueError(f"RandomCrop: shape {self.shape} for input {tuple(input_shape)}")
        dims = []
        for i, out in enumerate(self.shape):
            dim = keras_axis(r - len(self.shape) + i, r)
            size = input_shape[dim]
            if size is not None and out > size:
                raise ValueError(f"RandomCrop: shape {self.shape} is larger than input {tuple(input_shape)}")
            dims.append((dim, out, size))
        return dims

    def compute_output_shape(self, input_shape: Sequence[Any]) -> tuple:
        out = list(input_shape)
        for dim, size, _ in self._dims(input_shape):
            out[dim] = size
        return tuple(out)

    def call(self, x: Any, training: Any = None) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        active = self._active(training)
        n = tf.shape(x)[0]
        for dim, out, _ in self._dims(tuple(x.shape)):
            size = _static_size(x, dim, "RandomCrop")
            if out == size:
                continue
            centre = tf.fill([n, 1], (size - out) // 2)
            if active is False:
                start = centre
            else:
                start = self._randint(0, size - out + 1, [n, 1])
                if not isinstance(active, bool):
                    start = tf.where(active, start, centre)
            x = _gather_along(x, dim, start + tf.range(out)[None, :])
        return x
