"""NNC's rules that both runtimes implement are written once, in the runtime's framework-free modules:
augmentation in `nnc_augment` (both runtimes draw and sample through it), pooling and convolution
geometry in `nnc_shapes`.

- A numpy implementation of its array operations (a third user, written here) checks the formulas
  against nnabla's rules: the per-image draws on fixed uniforms, the per-pixel loop of
  `image_augmentation.cpp`, the colour rule, RandomShift's border rule (numpy's pad modes), NNC's
  defaults (the compiler's copy of NNC's layer table) and nnabla's own ImageAugmentation on the
  configurations where it draws nothing that matters (fixture by tools/nnc_augment_fixtures.py; also
  live when nnabla is installed).
- The torch and the Keras layer, given the same uniforms, give the same parameters (bit for bit but for
  each framework's own exp).
- Pooling windows (`pooled_size`, `pool_right_pads`, `pool_window_lengths`) against nnabla's own
  SumPooling and AveragePooling (fixture by tools/nnc_pooling_window_fixtures.py; also live).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from nndsl.layers.base import nnc_properties
from nndsl.runtime import nnc_augment, nnc_shapes
from nndsl.runtime.nnc_augment import ImageAugmentationConfig

FIXTURE = ROOT / "tests" / "nnc" / "fixtures" / "rules" / "image_augmentation.json"
POOLING_FIXTURE = ROOT / "tests" / "nnc" / "fixtures" / "rules" / "pooling_windows.json"
NNABLA_PYTHON = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))


class NumpyOps:
    """`nnc_augment.ArrayOps` in numpy (float32 throughout)."""

    exp, cos, sin, abs, where, clip = (
        staticmethod(np.exp),
        staticmethod(np.cos),
        staticmethod(np.sin),
        staticmethod(np.abs),
        staticmethod(np.where),
        staticmethod(np.clip),
    )
    zeros_like = staticmethod(np.zeros_like)

    def reshape(self, x, shape):
        return np.reshape(x, tuple(shape))

    def float32(self, x):
        return np.asarray(x, dtype=np.float32)

    def cast_like(self, x, like):
        return np.asarray(x, dtype=like.dtype)

    def full(self, shape, value):
        return np.full(tuple(shape), value, dtype=np.float32)

    def false(self, n):
        return np.zeros(n, dtype=bool)

    def pixel_grid(self, h, w):
        return tuple(np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"))


OPS = NumpyOps()

# Every parameter away from its default, so that every draw and every branch counts.
FULL = dict(
    pad=(2, 1),
    min_scale=0.6,
    max_scale=1.7,
    angle=0.4,
    aspect_ratio=1.3,
    distortion=0.3,
    flip_lr=True,
    flip_ud=True,
    brightness=0.1,
    brightness_each=True,
    contrast=1.5,
    contrast_center=0.4,
    contrast_each=True,
    noise=0.2,
)


class Draws:
    """nnabla's uniforms u = (rgen() % 1001) * 0.001 and flips, fixed: the k-th call returns the same
    numbers in every runtime. `calls` records (kind, shape) in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def uniform(self, shape) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        rng = np.random.default_rng(len(self.calls))
        self.calls.append(("u", shape))
        return rng.integers(0, 1001, shape).astype(np.float32) * np.float32(0.001)

    def bits(self, n) -> np.ndarray:
        rng = np.random.default_rng(100 + len(self.calls))
        self.calls.append(("bits", (int(n),)))
        return rng.integers(0, 2, int(n)) == 1


def _numpy_draws(config: ImageAugmentationConfig, n: int, channels: int) -> tuple[dict, Draws]:
    draws = Draws()
    params = nnc_augment.sample_params(
        config, OPS, n, channels, uniform=draws.uniform, flip=lambda n, on: draws.bits(n) & on
    )
    return params, draws


# ------------------------------------------------------------------------------------------------
# The formulas against nnabla's rules (numpy)
# ------------------------------------------------------------------------------------------------


def test_config_defaults_are_nncs_and_checked():
    """ImageAugmentationConfig's defaults are NNC's (the compiler's table of NNC's layer definitions)."""
    names = {"FlipLR": "flip_lr", "FlipUD": "flip_ud"}
    table = {}
    for prop, (default, _) in nnc_properties("ImageAugmentation").items():
        if prop in ("Shape", "Seed", "SkipAtTest"):
            continue
        name = names.get(prop) or "".join("_" + c.lower() if c.isupper() else c for c in prop).lstrip("_")
        table[name] = default
    config = ImageAugmentationConfig((3, 8, 8))
    ours = {k: v for k, v in config.as_dict().items() if k != "shape"}
    assert set(ours) == set(table)
    for name, default in table.items():
        if name == "pad":
            assert ours[name] == tuple(int(p) for p in default.split(",")), name
        elif default in ("True", "False"):
            assert ours[name] is (default == "True"), name
        else:
            assert ours[name] == float(default), name
    for bad in ({"min_scale": 0.0}, {"aspect_ratio": -1.0}, {"contrast": 0.0}, {"pad": (1,)}):
        with pytest.raises(ValueError, match="ImageAugmentation"):
            ImageAugmentationConfig((8, 8), **bad)
    with pytest.raises(ValueError, match="differ in channels"):
        ImageAugmentationConfig((3, 8, 8)).check_channels(1, (4, 1, 8, 8))
    kwargs = {"min_scale": 0.5, "name": "aug"}
    assert ImageAugmentationConfig.split((8, 8), kwargs).min_scale == 0.5 and kwargs == {"name": "aug"}


def test_draws_are_nnablas_formulas_on_fixed_uniforms():
    """image_augmentation.cpp's per-image parameters, written here from nnabla's closed forms (powers, not
    the exp/log the module computes), for the same uniforms; the centre is every u = 1/2."""
    config = ImageAugmentationConfig((3, 9, 11), **FULL)
    n, channels = 6, 3
    params, draws = _numpy_draws(config, n, channels)
    order = [kind for kind, _ in draws.calls]
    assert order == ["u"] * 5 + ["bits"] * 2 + ["u"] * 4
    replay = Draws()
    u = [replay.uniform(shape) if kind == "u" else replay.bits(shape[0]) for kind, shape in draws.calls]
    c = config
    expected = {
        "scale": c.min_scale * (c.max_scale / c.min_scale) ** u[0].astype(np.float64),
        "scale_x": c.aspect_ratio ** (u[1].astype(np.float64) - 0.5),
        "angle": (2 * u[2].astype(np.float64) - 1) * c.angle,
        "offset_x": u[3],
        "offset_y": u[4],
        "brightness": (2 * u[7].astype(np.float64) - 1) * c.brightness,
        "contrast": c.contrast ** (2 * u[8].astype(np.float64) - 1),
        "distortion": np.exp((2 * u[9].astype(np.float64) - 1) * c.distortion) - 1,
        "noise": u[10] * c.noise,
    }
    for name, value in expected.items():
        assert params[name].dtype == np.float32, name
        np.testing.assert_allclose(params[name], value, rtol=2e-6, atol=1e-7, err_msg=name)
    np.testing.assert_array_equal(params["flip_lr"], u[5])
    np.testing.assert_array_equal(params["flip_ud"], u[6])
    assert params["brightness"].shape == params["contrast"].shape == (n, channels)

    centre = nnc_augment.sample_params(config, OPS, n, channels)
    np.testing.assert_allclose(centre["scale"], math.sqrt(c.min_scale * c.max_scale), rtol=1e-6)
    np.testing.assert_allclose(centre["scale_x"], 1.0, rtol=1e-6)
    for name in ("angle", "brightness", "distortion", "noise"):
        np.testing.assert_allclose(centre[name], 0.0, atol=1e-7, err_msg=name)
    np.testing.assert_array_equal(centre["contrast"], 1.0)
    assert not centre["flip_lr"].any() and not centre["flip_ud"].any()
    disabled = ImageAugmentationConfig((9, 11))
    p, _ = _numpy_draws(disabled, n, channels)
    assert not p["flip_lr"].any() and p["brightness"].shape == (n, 1)


def _nnabla_coordinates(p, i, shape, pad, h_in, w_in):
    """image_augmentation.cpp's loop over the output pixels of image i (float64 scalars): the input point
    (x, y) each one reads, clamped to the input as its bilinear sampler does."""
    h_out, w_out = shape
    w_half, h_half = w_out * 0.5, h_out * 0.5
    scale, scale_x = float(p["scale"][i]), float(p["scale_x"][i])
    scale_y = 1.0 / scale_x
    i_scale_x, i_scale_y = 1.0 / (scale * scale_x), 1.0 / (scale * scale_y)
    w_scaled, h_scaled = (w_in + pad[1] * 2) * scale * scale_x, (h_in + pad[0] * 2) * scale * scale_y
    cx, cy = (w_out - 1) * 0.5, (h_out - 1) * 0.5
    cx_scaled = float(p["offset_x"][i]) * (w_scaled - w_out) + cx
    cy_scaled = float(p["offset_y"][i]) * (h_scaled - h_out) + cy
    cos, sin = math.cos(float(p["angle"][i])), math.sin(float(p["angle"][i]))
    x_ax = (-cos if p["flip_lr"][i] else cos) * i_scale_x
    y_ax = (sin if p["flip_lr"][i] else -sin) * i_scale_y
    x_ay = (-sin if p["flip_ud"][i] else sin) * i_scale_x
    y_ay = (-cos if p["flip_ud"][i] else cos) * i_scale_y
    x0 = cx_scaled * i_scale_x - (x_ax * cx + y_ax * cy) - pad[1]
    y0 = cy_scaled * i_scale_y - (x_ay * cx + y_ay * cy) - pad[0]
    d = float(p["distortion"][i])
    xs, ys = np.empty((h_out, w_out)), np.empty((h_out, w_out))
    for iy in range(h_out):
        xl, yl = x0, y0
        for ix in range(w_out):
            x, y = xl, yl
            if d != 0.0:
                dx, dy = (ix - w_half) / w_half, (iy - h_half) / h_half
                r2 = dx * dx + dy * dy
                dx = (dx + dx * d * r2) * w_half / (1.0 + d) + w_half
                dy = (dy + dy * d * r2) * h_half / (1.0 + d) + h_half
                x, y = x0 + dx * x_ax + dy * y_ax, y0 + dx * x_ay + dy * y_ay
            xs[iy, ix], ys[iy, ix] = min(max(x, 0.0), w_in - 1.0), min(max(y, 0.0), h_in - 1.0)
            xl += x_ax
            yl += x_ay
        if d == 0.0:
            x0 += y_ax
            y0 += y_ay
    return xs, ys


@pytest.mark.parametrize("distortion", [0.0, 0.3])
def test_sampling_grid_is_nnablas_per_pixel_loop(distortion):
    config = ImageAugmentationConfig((3, 9, 11), **{**FULL, "distortion": distortion})
    params, _ = _numpy_draws(config, 6, 3)
    params["flip_lr"] = np.array([True, False, True, False, True, False])  # every flip combination
    params["flip_ud"] = np.array([False, True, True, False, False, True])
    h_in, w_in = 12, 14
    x_in, y_in = nnc_augment.sampling_grid(config, OPS, params, h_in, w_in)
    assert x_in.dtype == y_in.dtype == np.float32 and x_in.shape == (6, 9, 11)
    for i in range(6):
        xs, ys = _nnabla_coordinates(params, i, (9, 11), config.pad, h_in, w_in)
        np.testing.assert_allclose(x_in[i], xs, atol=5e-5)
        np.testing.assert_allclose(y_in[i], ys, atol=5e-5)
    gx, gy = nnc_augment.grid_sample_coordinates(x_in, y_in, h_in, w_in)
    np.testing.assert_allclose((gx + 1) * (w_in - 1) / 2, x_in, atol=1e-5)
    np.testing.assert_allclose((gy + 1) * (h_in - 1) / 2, y_in, atol=1e-5)


def test_colour_rule_is_nnablas():
    """y = (v + b - contrast_center) * c + contrast_center, per channel with *_each, else per image."""
    config = ImageAugmentationConfig((3, 4, 4), **FULL)
    params, _ = _numpy_draws(config, 5, 3)
    v = np.random.default_rng(1).random((5, 3, 4, 4), dtype=np.float32)
    got = nnc_augment.adjust_colour(config, OPS, v, params, lambda p: p[..., None, None])
    b, c = params["brightness"].astype(np.float64), params["contrast"].astype(np.float64)
    expected = (v + b[..., None, None] - 0.4) * c[..., None, None] + 0.4
    np.testing.assert_allclose(got, expected, atol=1e-6)
    plain = ImageAugmentationConfig((3, 4, 4))
    assert nnc_augment.adjust_colour(plain, OPS, v, params, lambda p: p[..., None, None]) is v


def _bilinear(images, xs, ys):
    """(M, C, H, W) images read at (M, Ho, Wo) points inside them, bilinearly (nnabla's sampler)."""
    h, w = images.shape[-2:]
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    m = np.arange(images.shape[0])[:, None, None]

    def at(yi, xi):
        return np.moveaxis(images[m, :, yi, xi], -1, 1)  # (M, C, Ho, Wo)

    def w_(a):
        return a[:, None]

    return (
        at(y0, x0) * w_((1 - fx) * (1 - fy))
        + at(y0, x1) * w_(fx * (1 - fy))
        + at(y1, x0) * w_((1 - fx) * fy)
        + at(y1, x1) * w_(fx * fy)
    )


def _numpy_augment(x, parameters):
    """The shared rules with numpy ops and a bilinear sampler: the deterministic centre (every u = 1/2)."""
    config = ImageAugmentationConfig(**parameters)
    images = x if x.ndim == 4 else x[:, None]
    n, channels, h_in, w_in = images.shape
    params = nnc_augment.sample_params(config, OPS, n, channels)
    xs, ys = nnc_augment.sampling_grid(config, OPS, params, h_in, w_in)
    out = nnc_augment.adjust_colour(config, OPS, _bilinear(images, xs, ys), params, lambda p: p[..., None, None])
    return out if x.ndim == 4 else out[:, 0]


def _check_nnabla_cases(cases):
    assert len(cases) >= 4
    for name, case in cases.items():
        x = np.array(case["input"], dtype=np.float32)
        expected = np.array(case["output"])
        got = _numpy_augment(x, case["parameters"])
        assert got.shape == expected.shape, name
        np.testing.assert_allclose(got, expected, atol=2e-6, err_msg=name)


def test_shared_rules_reproduce_nnablas_image_augmentation():
    """nnabla 1.39's F.image_augmentation (stored by tools/nnc_augment_fixtures.py) on resizes by 0.8, 0.5
    and 2 with and without padding, (C, H, W) and (H, W): its geometry, border and bilinear sampling."""
    _check_nnabla_cases(json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"])


def _live_cases(tool: str, tmp_path: Path) -> list | dict:
    """The cases a fixture tool of tools/ computes now with nnabla (skipped where nnabla is absent)."""
    if not NNABLA_PYTHON.exists():
        pytest.skip(f"nnabla is not installed ({NNABLA_PYTHON}; set NNDSL_NNABLA_PYTHON)")
    out = tmp_path / "cases.json"
    command = [str(NNABLA_PYTHON), str(ROOT / "tools" / tool), "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return json.loads(out.read_text(encoding="utf-8"))["cases"]


def test_shared_rules_reproduce_live_nnabla(tmp_path):
    _check_nnabla_cases(_live_cases("nnc_augment_fixtures.py", tmp_path))


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_random_shift_border_rule_is_numpys_pad(mode):
    """nnabla random_shift.cpp: "nearest" replicates the edge (numpy's "edge"), "reflect" mirrors it
    repeating the edge pixel (numpy's "symmetric")."""
    for size in (1, 2, 5):
        row = np.arange(size)
        padded = np.pad(row, 3 * size, mode="edge" if mode == "nearest" else "symmetric")
        for s in range(-2 * size, 2 * size + 1):
            src = np.arange(size)[None, :] - s
            index = nnc_augment.shift_source_index(OPS, src, size, mode)
            np.testing.assert_array_equal(row[index[0]], padded[3 * size - s : 4 * size - s], err_msg=f"{size} {s}")
    with pytest.raises(ValueError, match="border_mode"):
        nnc_augment.check_border_mode("wrap")


# ------------------------------------------------------------------------------------------------
# Both runtimes draw through the shared formulas
# ------------------------------------------------------------------------------------------------


def test_torch_and_keras_draw_the_same_parameters_from_the_same_uniforms(monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    t_augment = importlib.import_module("nndsl.runtime.torch.augment")
    k_augment = importlib.import_module("nndsl.runtime.keras.augment")
    n, channels = 7, 3
    t_draws, k_draws = Draws(), Draws()
    t_layer = t_augment.ImageAugmentation((3, 9, 11), **FULL)
    k_layer = k_augment.ImageAugmentation((3, 9, 11), **FULL)
    assert t_layer.config == k_layer.config == ImageAugmentationConfig((3, 9, 11), **FULL)
    monkeypatch.setattr(t_layer, "_u1001", lambda shape, device: torch.from_numpy(t_draws.uniform(shape)))
    monkeypatch.setattr(t_layer, "_bits", lambda shape, device: torch.from_numpy(t_draws.bits(shape[0])))
    monkeypatch.setattr(k_layer, "_u1001", lambda shape: k_draws.uniform(shape))
    monkeypatch.setattr(k_layer, "_bits", lambda shape: k_draws.bits(shape[0]))
    t_params = t_layer.sample_params(n, channels, torch.device("cpu"))
    k_params = k_layer.sample_params(n, channels)
    np_params, np_draws = _numpy_draws(t_layer.config, n, channels)
    assert t_draws.calls == k_draws.calls == np_draws.calls
    assert set(t_params) == set(k_params) == set(np_params)
    for name in np_params:
        t, k = t_params[name].numpy(), np.asarray(k_params[name])
        assert t.dtype == k.dtype == np_params[name].dtype, name
        if name in ("scale", "scale_x", "contrast", "distortion"):  # each framework's own exp: an ulp or two
            np.testing.assert_allclose(t, k, rtol=3e-7, atol=3e-7, err_msg=name)  # (distortion is exp(.) - 1)
            np.testing.assert_allclose(t, np_params[name], rtol=3e-7, atol=3e-7, err_msg=name)
        else:  # the same float32 operations: bit for bit
            np.testing.assert_array_equal(t, k, err_msg=name)
            np.testing.assert_array_equal(t, np_params[name], err_msg=name)
    reference = nnc_augment.sample_params(t_layer.config, OPS, n, channels)  # the centre, too
    t_centre = t_layer.sample_params(n, channels, torch.device("cpu"), random=False)
    k_centre = k_layer.sample_params(n, channels, random=False)
    for name, value in reference.items():
        np.testing.assert_allclose(t_centre[name].numpy(), value, rtol=3e-7, atol=3e-7, err_msg=name)
        np.testing.assert_allclose(np.asarray(k_centre[name]), value, rtol=3e-7, atol=3e-7, err_msg=name)


def test_both_runtimes_sample_the_shared_grid():
    """The torch and Keras layers read the input at the shared module's points: a ramp image (value = x
    coordinate) comes out as sampling_grid's x_in in both, for draws with every flip and a rotation."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorflow")
    t_augment = importlib.import_module("nndsl.runtime.torch.augment")
    k_augment = importlib.import_module("nndsl.runtime.keras.augment")
    config = ImageAugmentationConfig((1, 9, 11), **{**FULL, "brightness": 0.0, "contrast": 1.0, "noise": 0.0})
    params, _ = _numpy_draws(config, 4, 1)
    params["flip_lr"] = np.array([True, False, True, False])
    params["flip_ud"] = np.array([False, True, True, False])
    h_in, w_in = 12, 14
    ramp = np.broadcast_to(np.arange(w_in, dtype=np.float32), (4, 1, h_in, w_in)).copy()
    x_in, _ = nnc_augment.sampling_grid(config, OPS, params, h_in, w_in)
    options = {k: v for k, v in config.as_dict().items() if k != "shape"}
    t_out = t_augment.ImageAugmentation(config.shape, **options).apply(
        torch.from_numpy(ramp), {k: torch.from_numpy(np.asarray(v)) for k, v in params.items()}
    )
    k_out = k_augment.ImageAugmentation(config.shape, **options).apply(np.moveaxis(ramp, 1, -1), params, random=False)
    np.testing.assert_allclose(t_out.numpy()[:, 0], x_in, atol=2e-5)
    np.testing.assert_allclose(np.asarray(k_out)[..., 0], x_in, atol=2e-5)


# ------------------------------------------------------------------------------------------------
# Pooling and convolution geometry (nnc_shapes)
# ------------------------------------------------------------------------------------------------


def _check_pooling_windows(cases):
    assert len(cases) >= 8
    for case in cases:
        n, k, s, p, ignore_border = (case[key] for key in ("size", "kernel", "stride", "pad", "ignore_border"))
        out = nnc_shapes.pooled_size(n, k, s, p, ignore_border)
        assert out == len(case["sum"]), case
        # the padded input holds every window: pad on the left, pool_right_pads on the right
        (right,) = nnc_shapes.pool_right_pads([n], [out], [k], [s], [p])
        assert (out - 1) * s + k <= p + n + right, case
        inside = np.array(nnc_shapes.pool_window_lengths(n, out, k, s, p, including_pad=False), dtype=float)
        np.testing.assert_array_equal(inside, case["sum"], err_msg=str(case))  # elements of the input per window
        for including_pad in (True, False):
            lengths = np.array(nnc_shapes.pool_window_lengths(n, out, k, s, p, including_pad), dtype=float)
            average = np.array(case[f"average_including_pad_{including_pad}"])
            np.testing.assert_allclose(np.array(case["sum"]) / lengths, average, rtol=1e-6, err_msg=str(case))


def test_pooling_windows_are_nnablas():
    _check_pooling_windows(json.loads(POOLING_FIXTURE.read_text(encoding="utf-8"))["cases"])


def test_pooling_windows_are_live_nnablas(tmp_path):
    _check_pooling_windows(_live_cases("nnc_pooling_window_fixtures.py", tmp_path))


def test_pooling_and_convolution_geometry_defaults_and_checks():
    """NNC's defaults: a pooling stride is its kernel, a convolution's 1; pad 0; dilation 1."""
    assert nnc_shapes.pool_geometry("max", (2, 3)) == ((2, 3), (2, 3), (0, 0))
    assert nnc_shapes.pool_geometry("average", [3], [1], [1]) == ((3,), (1,), (1,))
    assert nnc_shapes.conv_geometry((3, 3)) == ((3, 3), (1, 1), (0, 0), (1, 1))
    assert nnc_shapes.conv_geometry([5], [2], [2], [1]) == ((5,), (2,), (2,), (1,))
    with pytest.raises(ValueError, match="pooling mode"):
        nnc_shapes.pool_geometry("min", (2, 2))
    for bad in (((2, 2, 2, 2), None), ((2, 2), (1,))):
        with pytest.raises(ValueError, match="1 to 3 axes"):
            nnc_shapes.pool_geometry("sum", *bad)
    with pytest.raises(ValueError, match="1 to 3 axes"):
        nnc_shapes.conv_geometry((1, 1, 1, 1))
    with pytest.raises(ValueError, match="differ in axes"):
        nnc_shapes.conv_geometry((3, 3), stride=(1,))
