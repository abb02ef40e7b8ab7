"""nndsl/runtime/keras/ (nnc_layers.py, augment.py, metrics.py, tensors.py): the Keras (channels-last)
counterpart of the torch runtime's NNC layers.

Every deterministic configuration is compared with the torch runtime (nndsl/runtime/torch/) on the same
inputs (NCHW <-> NHWC); random ones by their distributions and invariants.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")


ROOT = Path(__file__).resolve().parents[2]
ATOL = 1e-5


kl = importlib.import_module("nndsl.runtime.keras.nnc_layers")
k_augment = importlib.import_module("nndsl.runtime.keras.augment")
k_metrics = importlib.import_module("nndsl.runtime.keras.metrics")
k_tensors = importlib.import_module("nndsl.runtime.keras.tensors")
nnc = importlib.import_module("nndsl.runtime.torch.nnc")
t_augment = importlib.import_module("nndsl.runtime.torch.augment")
t_metrics = importlib.import_module("nndsl.runtime.torch.metrics")
t_nnc_layers = importlib.import_module("nndsl.runtime.torch.nnc_layers")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(1234)
    keras.utils.set_random_seed(1234)
    yield


def to_keras(a):
    """NNC / torch layout (N, s0, s1, ...) -> channels-last (N, s1, ..., s0)."""
    a = np.asarray(a)
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim >= 3 else a


def to_nnc(a):
    """Channels-last (N, s1, ..., s0) -> NNC / torch layout (N, s0, s1, ...)."""
    a = np.asarray(a)
    return np.ascontiguousarray(np.moveaxis(a, -1, 1)) if a.ndim >= 3 else a


def close(keras_out, torch_out, atol=ATOL):
    got = to_nnc(np.asarray(keras_out))
    want = torch_out.detach().numpy() if isinstance(torch_out, torch.Tensor) else np.asarray(torch_out)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=atol, rtol=0)


def test_layout_helpers():
    assert k_tensors.keras_axis(0, 1) == 1
    assert [k_tensors.keras_axis(a, 3) for a in (0, 1, 2, -1, -3)] == [3, 1, 2, 2, 3]
    assert [k_tensors.keras_axis(a, 2) for a in (0, 1)] == [2, 1]
    assert k_tensors.keras_shape((3, 24, 20)) == (24, 20, 3) and k_tensors.keras_shape((10,)) == (10,)
    with pytest.raises(ValueError):
        k_tensors.keras_axis(3, 3)
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(k_tensors.from_nnc_layout(tf.constant(x)).numpy(), to_keras(x))
    np.testing.assert_array_equal(k_tensors.to_nnc_layout(tf.constant(to_keras(x))).numpy(), x)


# ------------------------------------------------------------------------------------------------
# ImageAugmentation: deterministic configurations equal the torch runtime's
# ------------------------------------------------------------------------------------------------

PARAMS = {
    "scale": [0.7, 1.3, 1.0, 0.9],
    "scale_x": [1.2, 0.8, 1.0, 1.1],
    "angle": [0.3, -0.2, 0.0, 0.7],
    "offset_x": [0.1, 0.9, 0.5, 0.0],
    "offset_y": [0.8, 0.2, 0.5, 1.0],
    "flip_lr": [True, False, True, False],
    "flip_ud": [False, True, True, False],
    "brightness": [[0.05, -0.1, 0.0], [0.1, 0.02, -0.03], [0.0, 0.0, 0.0], [-0.05, 0.05, 0.01]],
    "contrast": [[1.2, 0.8, 1.0], [1.5, 0.7, 1.1], [1.0, 1.0, 1.0], [0.9, 1.3, 1.0]],
    "distortion": [0.2, -0.1, 0.0, 0.05],
    "noise": [0.0, 0.0, 0.0, 0.0],
}


def test_apply_with_given_draws_equals_torch():
    """Rotation, aspect ratio, both flips, padding, crop offsets, distortion and per-channel colour at once."""
    kw = dict(
        pad=(2, 1),
        distortion=0.3,
        brightness=0.1,
        brightness_each=True,
        contrast=1.5,
        contrast_each=True,
        contrast_center=0.4,
    )
    x = np.random.default_rng(0).random((4, 3, 12, 14), dtype=np.float32)
    t_params = {
        k: torch.tensor(v, dtype=torch.bool if k.startswith("flip") else torch.float32) for k, v in PARAMS.items()
    }
    k_params = {k: np.array(v, dtype=bool if k.startswith("flip") else np.float32) for k, v in PARAMS.items()}
    expected = t_augment.ImageAugmentation((3, 9, 11), **kw).apply(torch.tensor(x), t_params)
    got = k_augment.ImageAugmentation((3, 9, 11), **kw).apply(to_keras(x), k_params)
    close(got, expected)


def test_validation_resize_280_to_224_equals_torch():
    """NNC's ResNet validation: 3,224,224 with MinScale = MaxScale = 0.8 on 280, SkipAtTest false."""
    x = np.random.default_rng(1).random((2, 3, 280, 280), dtype=np.float32)
    expected = t_augment.ImageAugmentation((3, 224, 224), min_scale=0.8, max_scale=0.8, skip_at_test=False).eval()(
        torch.tensor(x)
    )
    layer = k_augment.ImageAugmentation((3, 224, 224), min_scale=0.8, max_scale=0.8, skip_at_test=False)
    for training in (False, True, None):  # deterministic either way
        close(layer(to_keras(x), training=training), expected)
    # skipped at test time it still resizes (the shape changes), the same way
    skip = k_augment.ImageAugmentation((3, 224, 224), min_scale=0.8, max_scale=0.8)
    close(skip(to_keras(x), training=False), expected)
    # nnabla's geometry: x_in = ix / 0.8 from the top-left corner, bilinear (the first row: y_in = 0)
    xs = np.arange(224) / 0.8
    i0 = np.floor(xs).astype(int)
    f = xs - i0
    row = x[1, 2, 0]
    reference = row[i0] * (1 - f) + row[np.minimum(i0 + 1, 279)] * f
    np.testing.assert_allclose(to_nnc(skip(to_keras(x)).numpy())[1, 2, 0], reference, atol=1e-5)


CENTRE_CONFIGS = [
    dict(min_scale=0.5, max_scale=2.0, aspect_ratio=1.5, angle=0.3, flip_lr=True, flip_ud=True, noise=0.2),
    dict(min_scale=0.7, max_scale=1.9, pad=(3, 2), brightness=0.2, contrast=1.5, brightness_each=True),
    dict(min_scale=1.3, max_scale=1.7, distortion=0.2, contrast_center=0.2, contrast=2.0, contrast_each=True),
]


@pytest.mark.parametrize("kw", CENTRE_CONFIGS)
def test_inactive_centre_equals_torch_eval(kw):
    x = np.random.default_rng(2).random((3, 3, 40, 30), dtype=np.float32)
    expected = t_augment.ImageAugmentation((3, 24, 20), **kw).eval()(torch.tensor(x))
    layer = k_augment.ImageAugmentation((3, 24, 20), **kw)
    close(layer(to_keras(x), training=False), expected)
    close(layer(to_keras(x)), expected)  # training=None is inference


def test_other_ranks_follow_the_layout():
    """NNC (H, W) samples are held (W, H); NNC (A, C, H, W) samples (C, H, W, A)."""
    kw = dict(min_scale=0.6, max_scale=1.4, aspect_ratio=1.3)
    x2 = np.random.default_rng(3).random((2, 17, 13), dtype=np.float32)
    expected = t_augment.ImageAugmentation((11, 9), **kw).eval()(torch.tensor(x2))
    layer = k_augment.ImageAugmentation((11, 9), **kw)
    got = layer(np.swapaxes(x2, 1, 2))
    assert layer.compute_output_shape((2, 13, 17)) == tuple(got.shape) == (2, 9, 11)
    np.testing.assert_allclose(np.swapaxes(got.numpy(), 1, 2), expected.numpy(), atol=ATOL, rtol=0)
    x4 = np.random.default_rng(4).random((2, 2, 3, 17, 13), dtype=np.float32)
    expected = t_augment.ImageAugmentation((2, 3, 11, 9), **kw).eval()(torch.tensor(x4))
    layer = k_augment.ImageAugmentation((2, 3, 11, 9), **kw)
    got = layer(to_keras(x4))
    assert layer.compute_output_shape((2, 3, 17, 13, 2)) == tuple(got.shape) == (2, 3, 11, 9, 2)
    close(got, expected)


def test_identity_when_inactive_with_the_output_size():
    layer = k_augment.ImageAugmentation((3, 16, 16), min_scale=0.5, max_scale=2, angle=0.5, flip_lr=True, noise=0.3)
    x = tf.random.uniform((3, 16, 16, 3))
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
    assert not np.array_equal(layer(x, training=True).numpy(), x.numpy())
    with pytest.raises(ValueError, match="channels"):
        layer(tf.zeros((1, 16, 16, 1)))


# ------------------------------------------------------------------------------------------------
# ImageAugmentation: random configurations by distribution
# ------------------------------------------------------------------------------------------------


def test_sampled_parameters_have_torchs_distributions():
    kw = dict(min_scale=0.5, max_scale=2.0, aspect_ratio=1.5, angle=0.4, brightness=0.2, contrast=2.0, noise=0.3)
    n = 4000
    got = k_augment.ImageAugmentation((8, 8), distortion=0.3, **kw).sample_params(n, 3)
    ref = t_augment.ImageAugmentation((8, 8), distortion=0.3, **kw).sample_params(n, 3, torch.device("cpu"))
    quantiles = np.linspace(0.02, 0.98, 13)
    for key in ("scale", "scale_x", "angle", "offset_x", "offset_y", "brightness", "contrast", "distortion", "noise"):
        a, b = got[key].numpy().ravel(), ref[key].numpy().ravel()
        assert a.shape == b.shape, key
        spread = b.max() - b.min()
        assert np.abs(np.quantile(a, quantiles) - np.quantile(b, quantiles)).max() < 0.05 * spread, key
        assert a.min() >= b.min() - 0.002 * spread and a.max() <= b.max() + 0.002 * spread, key
    u = np.log(got["scale"].numpy() / 0.5) / math.log(4.0) * 1000  # u = 0, 0.001, ..., 1
    np.testing.assert_allclose(u, np.round(u), atol=3e-3)
    assert not got["flip_lr"].numpy().any()  # flips off
    centre = k_augment.ImageAugmentation((8, 8), **kw).sample_params(5, 3, random=False)
    np.testing.assert_allclose(centre["scale"].numpy(), np.ones(5), atol=1e-6)
    assert np.array_equal(centre["offset_x"].numpy(), np.full(5, 0.5, np.float32))


def test_flips_mirror_about_half_the_images():
    x = np.random.default_rng(5).random((400, 9, 13, 2), dtype=np.float32)
    y = k_augment.ImageAugmentation((2, 9, 13), flip_lr=True)(x, training=True).numpy()
    same = np.isclose(y, x, atol=1e-5).reshape(400, -1).all(1)
    mirrored = np.isclose(y, x[:, :, ::-1], atol=1e-5).reshape(400, -1).all(1)
    assert (same ^ mirrored).all() and 0.4 < mirrored.mean() < 0.6
    y = k_augment.ImageAugmentation((2, 9, 13), flip_ud=True)(x, training=True).numpy()
    flipped = np.isclose(y, x[:, ::-1], atol=1e-5).reshape(400, -1).all(1)
    same = np.isclose(y, x, atol=1e-5).reshape(400, -1).all(1)
    assert (same ^ flipped).all() and 0.4 < flipped.mean() < 0.6


def _ramps(n, h, w):
    """Channel 0 holds the column index, channel 1 the row index: bilinear sampling returns coordinates."""
    xs = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
    ys = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    return np.ascontiguousarray(np.broadcast_to(np.stack((xs, ys), -1), (n, h, w, 2)))


def test_scale_aspect_ratio_and_angle_bounds():
    n, size = 300, 64
    y = k_augment.ImageAugmentation((2, 16, 16), min_scale=0.5, max_scale=2.0, aspect_ratio=1.5)(
        _ramps(n, size, size), training=True
    ).numpy()
    slope_x = np.median(y[:, 8, 1:, 0] - y[:, 8, :-1, 0], axis=1)
    slope_y = np.median(y[:, 1:, 8, 1] - y[:, :-1, 8, 1], axis=1)
    sx, sy = 1 / slope_x, 1 / slope_y
    scale, ratio = np.sqrt(sx * sy), sx / sy
    assert scale.min() >= 0.5 - 1e-4 and scale.max() <= 2.0 + 1e-4
    assert ratio.min() >= 1 / 1.5 - 1e-4 and ratio.max() <= 1.5 + 1e-4
    logs = np.log(scale)
    assert abs(logs.mean()) < 0.1 and logs.min() < math.log(0.5) + 0.15 and logs.max() > math.log(2) - 0.15
    assert y.min() >= 0 and y.max() <= size - 1  # the crop stays inside the scaled image
    y = k_augment.ImageAugmentation((2, 15, 15), angle=0.3)(_ramps(300, 101, 101), training=True).numpy()
    angle = np.arctan2(-(y[:, 8, 7, 0] - y[:, 7, 7, 0]), y[:, 7, 8, 0] - y[:, 7, 7, 0])
    assert np.abs(angle).max() <= 0.3 + 1e-5 and angle.max() > 0.25 and angle.min() < -0.25


def test_brightness_contrast_and_noise_on_constant_images():
    x = np.full((500, 6, 6, 3), 0.3, np.float32)
    shift = k_augment.ImageAugmentation((3, 6, 6), brightness=0.2)(x, training=True).numpy() - 0.3
    per_image = shift[:, 0, 0, 0]
    np.testing.assert_allclose(shift, np.broadcast_to(per_image[:, None, None, None], shift.shape), atol=1e-6)
    assert np.abs(per_image).max() <= 0.2 + 1e-6 and per_image.max() > 0.18 and per_image.min() < -0.18
    each = k_augment.ImageAugmentation((3, 6, 6), brightness=0.2, brightness_each=True)(x, training=True).numpy()
    assert not np.allclose(each[..., 0], each[..., 1])
    y = k_augment.ImageAugmentation((3, 6, 6), contrast=2.0, contrast_center=0.5)(x + 0.45, training=True).numpy()
    c = (y[:, 0, 0, 0] - 0.5) / 0.25
    assert c.min() >= 0.5 - 1e-5 and c.max() <= 2.0 + 1e-5 and abs(np.log(c).mean()) < 0.08
    assert np.allclose(y[..., 0], y[..., 2])
    gray = np.full((300, 32, 32, 1), 0.5, np.float32)
    noisy = k_augment.ImageAugmentation((1, 32, 32), noise=0.1)(gray, training=True)
    std = (noisy.numpy() - 0.5).reshape(300, -1).std(axis=1)
    assert 0.09 < std.max() < 0.11 and std.min() < 0.01 and abs(std.mean() - 0.05) < 0.01


def test_distortion_keeps_the_centre():
    y = k_augment.ImageAugmentation((2, 33, 33), distortion=0.5)(_ramps(50, 33, 33), training=True).numpy()
    np.testing.assert_allclose(y[:, 16, 16], 16.0, atol=0.6)
    assert not np.allclose(y, _ramps(50, 33, 33))


def test_seeds_make_draws_reproducible():
    x = np.random.default_rng(6).random((8, 20, 20, 3), dtype=np.float32)
    kw = dict(min_scale=0.7, max_scale=1.3, angle=0.2, flip_lr=True, brightness=0.1, noise=0.05)
    a = k_augment.ImageAugmentation((3, 16, 16), seed=7, **kw)
    b = k_augment.ImageAugmentation((3, 16, 16), seed=7, **kw)
    first = a(x, training=True).numpy()
    np.testing.assert_array_equal(first, b(x, training=True).numpy())
    assert not np.array_equal(first, a(x, training=True).numpy())  # a new draw each call
    keras.utils.set_random_seed(3)
    c = k_augment.ImageAugmentation((3, 16, 16), **kw)(x, training=True).numpy()
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(k_augment.ImageAugmentation((3, 16, 16), **kw)(x, training=True).numpy(), c)


# ------------------------------------------------------------------------------------------------
# RandomFlip, RandomShift, RandomCrop
# ------------------------------------------------------------------------------------------------


def test_random_flip_per_sample_nnc_axes():
    n = 800
    x = np.random.default_rng(7).random((n, 5, 6, 2), dtype=np.float32)  # NNC (2, 5, 6)
    y = k_augment.RandomFlip(axes=(1, 2))(x, training=True).numpy()
    variants = [x, x[:, ::-1], x[:, :, ::-1], x[:, ::-1, ::-1]]
    which = np.stack([(y == v).reshape(n, -1).all(1) for v in variants], axis=1)
    assert (which.sum(1) == 1).all()
    assert ((which.mean(0) > 0.18) & (which.mean(0) < 0.32)).all()
    c = k_augment.RandomFlip(axes=(0,))(x, training=True).numpy()  # NNC axis 0: the channels, Keras' last axis
    assert 0.4 < (c == x[..., ::-1]).reshape(n, -1).all(1).mean() < 0.6
    np.testing.assert_array_equal(k_augment.RandomFlip(axes=(2,))(x, training=False).numpy(), x)
    assert not np.array_equal(k_augment.RandomFlip(axes=(2,), skip_at_test=False)(x, training=False).numpy(), x)


def _shift_ref(row, s, mode):
    size = len(row)
    out = []
    for i in range(size):
        if mode == "nearest":
            j = min(max(i - s, 0), size - 1)
        else:
            a = abs(i + size * 2 - s) % (size * 2)
            j = size * 2 - 1 - a if a >= size else a
        out.append(row[j])
    return np.array(out)


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_random_shift_follows_nnabla_tables(mode):
    n, w = 300, 7
    base = np.arange(w, dtype=np.float32) * 10 + np.random.default_rng(8).random((n, 1, 1), dtype=np.float32)
    x = np.ascontiguousarray(np.broadcast_to(base[:, :, :, None], (n, 1, w, 3)))  # NNC (3, 1, 7)
    y = k_augment.RandomShift(shift=(0, 3), border_mode=mode)(x, training=True).numpy()
    seen = set()
    for k in range(n):
        matches = [s for s in range(-3, 4) if np.allclose(y[k, 0, :, 0], _shift_ref(x[k, 0, :, 0], s, mode))]
        assert matches
        seen.add(matches[0])
        np.testing.assert_array_equal(y[k, 0, :, 1], y[k, 0, :, 0])  # one shift for every channel
    assert seen == set(range(-3, 4))


def test_random_shift_two_axes_and_inference():
    x = np.random.default_rng(9).random((64, 10, 10, 3), dtype=np.float32)
    y = k_augment.RandomShift(shift=(2, 2))(x, training=True).numpy()
    for k in range(8):
        refs = [
            x[k][np.clip(np.arange(10) - sy, 0, 9)][:, np.clip(np.arange(10) - sx, 0, 9)]
            for sy in range(-2, 3)
            for sx in range(-2, 3)
        ]
        assert any(np.array_equal(y[k], ref) for ref in refs)
    np.testing.assert_array_equal(k_augment.RandomShift(shift=(2, 2))(x, training=False).numpy(), x)
    assert not np.array_equal(k_augment.RandomShift(shift=(2, 2), skip_at_test=False)(x).numpy(), x)


def test_random_crop_offsets_and_centre_crop_equal_torch():
    n = 300
    x = np.random.default_rng(10).random((n, 3, 12, 10), dtype=np.float32)
    crop = k_augment.RandomCrop((3, 8, 5))
    y = crop(to_keras(x), training=True).numpy()
    assert y.shape == (n, 8, 5, 3)
    offsets = set()
    for k in range(n):
        hits = [
            (oy, ox)
            for oy in range(5)
            for ox in range(6)
            if np.array_equal(to_nnc(y)[k], x[k, :, oy : oy + 8, ox : ox + 5])
        ]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) == 30
    close(crop(to_keras(x), training=False), t_augment.RandomCrop((3, 8, 5)).eval()(torch.tensor(x)), atol=0)
    with pytest.raises(ValueError, match="larger"):
        k_augment.RandomCrop((3, 13, 5))(to_keras(x))


# ------------------------------------------------------------------------------------------------
# TopNError, BinaryError
# ------------------------------------------------------------------------------------------------


def test_top_n_error_equals_torch():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 4, size=(50, 6)).astype(np.float32)  # many ties
    label = rng.integers(0, 6, size=(50, 1))
    for n in (1, 2, 3, 6):
        expected = t_metrics.top_n_error(torch.tensor(x), torch.tensor(label), n)
        np.testing.assert_array_equal(k_metrics.top_n_error(x, label, n).numpy(), expected.numpy())
        flat = label[:, 0].astype(np.float32)
        np.testing.assert_array_equal(k_metrics.top_n_error(x, flat, n).numpy(), expected.numpy())
    # NNC (C, A) samples, classes on NNC axis 0: Keras (A, C), axis -1
    x3 = rng.normal(size=(4, 5, 7)).astype(np.float32)
    label3 = rng.integers(0, 5, size=(4, 1, 7))
    expected = t_metrics.top_n_error(torch.tensor(x3), torch.tensor(label3), 2, axis=1)
    close(k_metrics.top_n_error(to_keras(x3), to_keras(label3), 2, axis=k_tensors.keras_axis(0, 2)), expected, atol=0)
    hand = np.array([[0.1, 0.5, 0.2, 0.9], [0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.1, 0.0], [0.0, 0.1, 0.2, 0.3]])
    assert k_metrics.top_n_error(hand, np.array([[3], [0], [1], [0]]), 1).numpy().ravel().tolist() == [0, 0, 1, 1]


def test_binary_error_equals_torch():
    x = np.array([0.2, 0.5, 0.7, 0.49, 0.9], np.float32)
    t = np.array([0.0, 1.0, 0.0, 0.5, 1.0], np.float32)
    expected = t_metrics.binary_error(torch.tensor(x), torch.tensor(t))
    assert k_metrics.binary_error(x, t).numpy().tolist() == expected.tolist()


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------

# (NNC input shape with batch, kernel, stride, pad)
POOL_CASES = [
    ((2, 3, 7, 9), (2, 2), None, (0, 0)),
    ((2, 3, 8, 7), (3, 3), (2, 2), (1, 1)),
    ((2, 3, 10, 11), (3, 2), (2, 3), (1, 0)),
    ((2, 3, 5, 5), (2, 2), (1, 1), (0, 0)),
    ((2, 3, 4, 5), (3, 3), (3, 3), (0, 0)),
    ((2, 3, 9, 6), (4, 4), (2, 2), (2, 1)),
    ((2, 4, 11), (3,), (2,), (1,)),  # 1-D: (C, L) held (L, C)
    ((2, 11), (3,), (2,), (1,)),  # rank-1 samples
    ((1, 2, 5, 4, 7), (2, 2, 3), (2, 1, 2), (1, 0, 1)),  # 3-D
    ((2, 5, 9), (2, 3), (2, 2), (1, 1)),  # the kernel covers the channels too
    ((2, 4, 6, 7), (3, 2, 2), (1, 2, 2), (1, 0, 1)),  # C, H, W of an image
    ((2, 3, 6, 9), (3,), (2,), (1,)),  # only W of an image
    ((2, 2, 3, 6, 7), (2, 3), (2, 2), (0, 1)),  # H, W of (A, C, H, W) samples
]


@pytest.mark.parametrize("mode", ["max", "average", "sum"])
@pytest.mark.parametrize("ignore_border", [True, False])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"x{c[0]}k{c[1]}s{c[2]}p{c[3]}")
def test_pooling_equals_torch(mode, ignore_border, case):
    shape, kernel, stride, pad = case
    x = np.random.default_rng(12).normal(size=shape).astype(np.float32)
    for including_pad in (True, False) if mode == "average" else (True,):
        expected = t_nnc_layers.pooling(torch.tensor(x), mode, kernel, stride, pad, ignore_border, including_pad)
        layer = kl.Pooling(mode, kernel, stride, pad, ignore_border, including_pad)
        got = layer(to_keras(x))
        assert layer.compute_output_shape(to_keras(x).shape) == tuple(got.shape)
        close(got, expected)


def test_pooling_symbolic_and_sizes():
    inp = keras.Input((7, 7, 3))
    out = kl.pooling(inp, "max", (2, 2), ignore_border=False)
    assert tuple(out.shape) == (None, 4, 4, 3)
    model = keras.Model(inp, out)
    x = np.random.default_rng(13).normal(size=(2, 7, 7, 3)).astype(np.float32)
    close(model(x), t_nnc_layers.pooling(torch.tensor(to_nnc(x)), "max", (2, 2), ignore_border=False))
    assert kl.pooled_size(8, 3, 2, 1, ignore_border=False) == 5
    assert kl.Pooling("sum", (2, 2))(np.ones((1, 4, 4, 1), np.float32)).numpy().ravel().tolist() == [4.0] * 4


# ------------------------------------------------------------------------------------------------
# Binary layers
# ------------------------------------------------------------------------------------------------


def test_binary_tanh_and_sigmoid_forward_and_straight_through():
    values = [-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5]
    x = tf.Variable(values)
    for fn, ref, forward, grad in (
        (kl.binary_tanh, t_nnc_layers.binary_tanh, [-1, -1, -1, -1, 1, 1, 1], [0, 0, 3, 3, 3, 0, 0]),
        (kl.binary_sigmoid, t_nnc_layers.binary_sigmoid, [0, 0, 0, 0, 1, 1, 1], [0, 0, 1.5, 1.5, 1.5, 0, 0]),
    ):
        with tf.GradientTape() as tape:
            y = fn(x)
            loss = tf.reduce_sum(y * 3.0)
        assert y.numpy().tolist() == forward
        assert tape.gradient(loss, x).numpy().tolist() == grad
        xt = torch.tensor(values, requires_grad=True)
        (ref(xt) * 3.0).sum().backward()
        assert xt.grad.tolist() == grad
    inp = keras.Input((3,))
    model = keras.Model(inp, [kl.binary_tanh(inp), kl.binary_sigmoid(inp)])
    a, b = model(np.array([[-0.5, 0.0, 2.0]], np.float32))
    assert a.numpy().tolist() == [[-1, -1, 1]] and b.numpy().tolist() == [[0, 0, 1]]


def _assign_from_torch(layer, module):
    for name in ("W", "b"):
        if getattr(module, name, None) is not None:
            getattr(layer, name).assign(getattr(module, name).detach().numpy())


@pytest.mark.parametrize(
    ("cls", "out_shape", "bias"),
    [("BinaryConnectAffine", 4, True), ("BinaryConnectAffine", (2, 3), False), ("BinaryWeightAffine", (3,), False)],
)
def test_binary_affine_equals_torch(cls, out_shape, bias):
    options = {"bias": bias} if cls == "BinaryConnectAffine" else {}  # BinaryWeight* have no bias
    ref = getattr(t_nnc_layers, cls)(6, out_shape, **options)
    if bias:
        with torch.no_grad():
            ref.b.uniform_(-1, 1)
    x = np.random.default_rng(14).normal(size=(5, 2, 3)).astype(np.float32)  # NNC (2, 3) samples
    layer = getattr(kl, cls)(6, out_shape, **options)
    xk = tf.constant(to_keras(x))
    layer(xk)  # builds
    assert tuple(layer.W.shape) == tuple(ref.W.shape) and tuple(layer.Wb.shape) == tuple(ref.W.shape)
    assert [w.name for w in layer.trainable_weights] == (["W", "b"] if bias else ["W"])
    _assign_from_torch(layer, ref)
    xt = torch.tensor(x)
    expected = ref(xt)
    with tf.GradientTape() as tape:
        y = layer(xk)
    assert tuple(y.shape) == layer.compute_output_shape(xk.shape)
    close(y, expected)
    np.testing.assert_array_equal(layer.Wb.numpy(), ref.Wb.numpy())
    if layer.scaled:
        np.testing.assert_allclose(layer.alpha.numpy(), ref.alpha.numpy(), atol=1e-7)
    dy = np.random.default_rng(15).normal(size=expected.shape).astype(np.float32)
    expected.backward(torch.tensor(dy))
    grads = tape.gradient(y, [layer.W], output_gradients=tf.constant(to_keras(dy)))
    np.testing.assert_allclose(grads[0].numpy(), ref.W.grad.numpy(), atol=ATOL)


@pytest.mark.parametrize("cls", ["BinaryConnectConvolution", "BinaryWeightConvolution"])
@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "pad", "dilation"),
    [
        ((2, 3, 9, 9), (3, 3), (2, 2), (1, 1), (1, 1)),
        ((2, 3, 11, 10), (3, 2), (2, 1), (0, 1), (2, 2)),
        ((2, 3, 12), (3,), (1,), (2,), (1,)),
    ],
)
def test_binary_convolution_equals_torch(cls, shape, kernel, stride, pad, dilation):
    ref = getattr(t_nnc_layers, cls)(3, 4, kernel, stride=stride, pad=pad, dilation=dilation)
    biased = ref.b is not None  # BinaryConnect* only: BinaryWeight* have no bias
    assert biased == (cls == "BinaryConnectConvolution")
    if biased:
        with torch.no_grad():
            ref.b.uniform_(-1, 1)
    layer = getattr(kl, cls)(3, 4, kernel, stride=stride, pad=pad, dilation=dilation)
    x = np.random.default_rng(16).normal(size=shape).astype(np.float32)
    xk = tf.constant(to_keras(x))
    layer(xk)
    assert tuple(layer.W.shape) == (4, 3, *kernel) and (layer.b is None or tuple(layer.b.shape) == (4,))
    assert (layer.b is not None) == biased
    _assign_from_torch(layer, ref)
    expected = ref(torch.tensor(x))
    with tf.GradientTape() as tape:
        y = layer(xk)
    assert tuple(y.shape) == layer.compute_output_shape(xk.shape)
    close(y, expected)
    np.testing.assert_array_equal(layer.Wb.numpy(), ref.Wb.numpy())
    if layer.scaled:
        np.testing.assert_allclose(layer.alpha.numpy(), ref.alpha.numpy(), atol=1e-7)
    dy = np.random.default_rng(17).normal(size=expected.shape).astype(np.float32)
    expected.backward(torch.tensor(dy))
    weights = [layer.W, layer.b] if biased else [layer.W]
    grads = tape.gradient(y, weights, output_gradients=tf.constant(to_keras(dy)))
    np.testing.assert_allclose(grads[0].numpy(), ref.W.grad.numpy(), atol=ATOL)
    if biased:
        np.testing.assert_allclose(grads[1].numpy(), ref.b.grad.numpy(), atol=ATOL)


def test_binary_layers_initialize_like_nnc():
    layer = kl.BinaryConnectAffine(300, 200)
    layer.build((None, 300))
    lim = math.sqrt(6 / 500)
    w = layer.W.numpy()
    assert np.abs(w).max() <= lim and np.abs(w).max() > 0.99 * lim and abs(w.mean()) < 0.01
    np.testing.assert_array_equal(layer.b.numpy(), np.zeros(200))
    conv = kl.BinaryWeightConvolution(None, 64, (3, 3), w_init="NormalConvolutionHeForward", w_init_multiplier=2.0)
    conv.build((None, 10, 10, 32))
    assert abs(conv.W.numpy().std() / (2.0 * math.sqrt(2 / (32 * 9))) - 1) < 0.03
    init = kl.nnc.NNCInitializer("Constant", 0.25)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(init((2, 2))), np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="unknown initializer"):
        kl.nnc.NNCInitializer("Bogus")


# ------------------------------------------------------------------------------------------------
# Keras integration: functional models, training flag, tf.function, strategies, serialization
# ------------------------------------------------------------------------------------------------


def _model():
    inp = keras.Input((20, 20, 3))
    h = k_augment.ImageAugmentation((3, 16, 16), min_scale=0.8, max_scale=1.25, angle=0.1, flip_lr=True)(inp)
    h = k_augment.RandomShift((1, 1))(h)
    h = k_augment.RandomFlip((1,))(h)
    h = k_augment.RandomCrop((3, 14, 14))(h)
    h = kl.BinaryConnectConvolution(None, 4, (3, 3), pad=(1, 1))(h)
    h = kl.binary_tanh(h)
    h = kl.Pooling("average", (3, 3), (2, 2), (1, 1), ignore_border=False, including_pad=False)(h)
    logits = kl.BinaryWeightAffine(None, 5)(h)
    label = keras.Input((1,))
    return keras.Model([inp, label], [logits, k_metrics.top_n_error(logits, label, 2)])


def test_functional_model_and_training_flag():
    model = _model()
    assert [tuple(o.shape) for o in model.outputs] == [(None, 5), (None, 1)]
    x = np.random.default_rng(18).random((4, 20, 20, 3), dtype=np.float32)
    label = np.array([[0], [1], [2], [3]], np.float32)
    a = model([x, label], training=False)[0].numpy()
    np.testing.assert_array_equal(a, model([x, label], training=False)[0].numpy())
    np.testing.assert_allclose(a, model.predict([x, label], verbose=0)[0], atol=1e-6)  # graph vs eager
    b = model([x, label], training=True)[0].numpy()
    assert not np.array_equal(a, b)

    @tf.function
    def step(images, labels, training):
        return model([images, labels], training=training)[0]

    np.testing.assert_allclose(step(x, label, tf.constant(False)).numpy(), a, atol=1e-6)  # tensor flag: tf.cond
    assert not np.array_equal(step(x, label, tf.constant(True)).numpy(), a)
    restored = keras.Model.from_config(model.get_config())
    assert [tuple(o.shape) for o in restored.outputs] == [(None, 5), (None, 1)]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside Keras' saving
def test_saved_model_file_round_trip(tmp_path):
    model = _model()
    x = np.random.default_rng(21).random((3, 20, 20, 3), dtype=np.float32)
    label = np.zeros((3, 1), np.float32)
    expected = model([x, label], training=False)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    for got, want in zip(loaded([x, label], training=False), expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
    names = {v.path.split("/")[-1] for v in loaded.weights}
    assert {"W", "Wb", "alpha", "b"} <= names


def test_fit_inside_a_distribution_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        inp = keras.Input((10, 10, 2))
        h = k_augment.ImageAugmentation((2, 8, 8), min_scale=0.9, max_scale=1.1, flip_lr=True, noise=0.01)(inp)
        h = kl.BinaryWeightConvolution(2, 3, (3, 3))(h)
        h = kl.Pooling("max", (2, 2), ignore_border=False)(h)
        out = kl.BinaryConnectAffine(None, 2)(kl.binary_sigmoid(h))
        model = keras.Model(inp, out)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=False)
    conv = model.layers[2]
    before = conv.W.numpy().copy()
    x = np.random.default_rng(19).random((8, 10, 10, 2), dtype=np.float32)
    history = model.fit(x, np.ones((8, 2), np.float32), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(conv.W.numpy(), before)  # the straight-through gradient reached W
    assert model.predict(x, verbose=0).shape == (8, 2)
    np.testing.assert_array_equal(conv.Wb.numpy(), np.where(conv.W.numpy() < 0, -1.0, 1.0))  # refreshed


def test_layers_compile_with_xla():
    model = _model()
    x = np.random.default_rng(22).random((4, 20, 20, 3), dtype=np.float32)
    label = np.zeros((4, 1), np.float32)

    @tf.function(jit_compile=True)
    def gradients(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model([images, labels], training=True)[0] ** 2)
        return tape.gradient(loss, model.trainable_variables)

    grads = gradients(x, label)
    assert len(grads) == len(model.trainable_variables) and all(np.isfinite(g.numpy()).all() for g in grads)


@pytest.mark.parametrize(
    "layer",
    [
        k_augment.ImageAugmentation((3, 8, 8), pad=(1, 1), min_scale=0.5, flip_ud=True, seed=3, skip_at_test=False),
        k_augment.RandomFlip((1, 2), seed=1),
        k_augment.RandomShift((2, 2), "reflect"),
        k_augment.RandomCrop((4, 4)),
        kl.Pooling("average", (2, 2), (1, 1), (1, 1), False, False),
        kl.BinaryConnectAffine(12, (2, 3), bias=False, w_init="NormalAffineGlorot"),
        kl.BinaryWeightConvolution(3, 4, (3, 3), stride=(2, 2), dilation=(1, 1)),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_layers_serialize(layer):
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    # By name: a generated project's nnc_layers, imported by other tests of the same process,
    # registers the same classes under the same names as the copy loaded here.
    assert type(clone).__qualname__ == type(layer).__qualname__
    config, cloned = layer.get_config(), clone.get_config()
    config.pop("name"), cloned.pop("name")
    assert config == cloned


_TWO_REPLICAS = """
import sys
sys.path[:0] = [sys.argv[1]]  # the repository: nndsl.runtime
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from nndsl.runtime.keras import augment as k_augment, nnc_layers as kl
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    inp = keras.Input((10, 10, 2))
    aug = k_augment.ImageAugmentation((2, 8, 8), min_scale=0.8, max_scale=1.2, flip_lr=True, skip_at_test=False)(inp)
    h = kl.BinaryWeightConvolution(2, 3, (3, 3))(aug)
    out = kl.BinaryConnectAffine(None, 2)(kl.Pooling("sum", (2, 2))(kl.binary_sigmoid(h)))
    model = keras.Model(inp, [out, aug])
x = np.random.default_rng(0).random((1, 10, 10, 2), dtype=np.float32).repeat(8, 0)
out, images = model.predict(x, batch_size=8, verbose=0)
assert np.isfinite(out).all()
# replica 0 augments rows 0-3, replica 1 rows 4-7: each image drew its own parameters
assert len({images[i].tobytes() for i in range(8)}) == 8
print("ok")
"""


def test_two_replicas_draw_differently():
    """A MirroredStrategy over two logical CPUs (a subprocess: the devices must be set before TensorFlow starts)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, "-c", _TWO_REPLICAS, str(ROOT)], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]


def test_training_flag_may_be_a_tensor():
    x = np.random.default_rng(20).random((6, 12, 12, 3), dtype=np.float32)
    layers = [
        k_augment.ImageAugmentation((3, 12, 12), min_scale=0.5, max_scale=2.0, angle=0.3),
        k_augment.ImageAugmentation((3, 10, 10), min_scale=0.5, max_scale=2.0, angle=0.3),
        k_augment.RandomFlip((1, 2)),
        k_augment.RandomShift((3, 3)),
        k_augment.RandomCrop((3, 8, 8)),
    ]
    run = tf.function(lambda images, training: [layer(images, training=training) for layer in layers])
    for layer, on, off in zip(layers, run(x, tf.constant(True)), run(x, tf.constant(False)), strict=True):
        inference = layer(x, training=False).numpy()
        assert on.shape == off.shape == inference.shape
        assert not np.allclose(on.numpy(), inference), layer.name
        np.testing.assert_allclose(off.numpy(), inference, atol=1e-6)
