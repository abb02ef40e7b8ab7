"""The Keras runtime's BatchNormalization (nndsl/runtime/keras/nnc.py, what every generated Keras
BatchNormalization is): its training steps move the running mean and variance as nnabla's
BatchNormalization does (the unbiased batch variance, n / (n - 1)) and as torch's BatchNorm*d, where
Keras's own layer moves the variance towards the biased one.

nnabla's steps are tests/nnc/fixtures/bn_running_stats/ (tools/nnabla_bn_running_stats_fixtures.py,
nnabla 1.39); the live test reruns that script when nnabla is here."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

nnc = importlib.import_module("nndsl.runtime.keras.nnc")

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/nnc/fixtures/bn_running_stats/bn_running_stats.npz"
TOOL = ROOT / "tools/nnabla_bn_running_stats_fixtures.py"
NNABLA_PYTHON = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
CASES = ("affine", "conv", "affine_batch1", "conv_batch1")
ORDINARY = ("affine", "conv", "conv_batch1")  # n > 1 values per channel
TOLERANCE = 1e-5  # relative to the values' scale


def _fixture(path: Path = FIXTURE) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return dict(f)


NNABLA = _fixture()


def _close(got: np.ndarray, want: np.ndarray, tolerance: float = TOLERANCE) -> None:
    np.testing.assert_allclose(got, want, rtol=0, atol=tolerance * max(float(np.abs(want).max()), 1.0))


def _keras_steps(case: str, layer_class=None, dtype=None) -> dict[str, np.ndarray]:
    """The case's steps through a Keras BatchNormalization (the runtime's unless `layer_class`), built
    as the emitter builds it, channels-last: outputs (NNC's layout) and running statistics after each."""
    f = {k.split(":", 1)[1]: v for k, v in NNABLA.items() if k.startswith(case + ":")}
    cls = layer_class or nnc.BatchNormalization
    layer = cls(momentum=float(f["decay_rate"]), epsilon=float(f["eps"]), dtype=dtype)
    x = f["x"]
    layer.build((None,) + nnc.to_channels_last(x[0]).shape[1:])
    for nnabla_name, variable in (
        ("beta", "beta"),
        ("gamma", "gamma"),
        ("mean0", "moving_mean"),
        ("var0", "moving_variance"),
    ):
        getattr(layer, variable).assign(f[nnabla_name].reshape(-1))
    ys, means, vars_ = [], [], []
    for batch in x:
        inputs = nnc.to_channels_last(batch)
        if dtype is not None:
            inputs = keras.ops.cast(inputs, keras.DTypePolicy(dtype).compute_dtype)
        y = layer(inputs, training=True)
        ys.append(nnc.to_channels_first(np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32")))))
        means.append(keras.ops.convert_to_numpy(layer.moving_mean))
        vars_.append(keras.ops.convert_to_numpy(layer.moving_variance))
    return {"y": np.stack(ys), "mean": np.stack(means), "var": np.stack(vars_), "layer": layer}


def _torch_steps(case: str) -> dict[str, np.ndarray]:
    """The case's steps through torch's BatchNorm1d/2d with the same momentum (1 - decay rate) and eps."""
    torch = pytest.importorskip("torch")
    f = {k.split(":", 1)[1]: v for k, v in NNABLA.items() if k.startswith(case + ":")}
    x = f["x"]
    cls = torch.nn.BatchNorm1d if x.ndim == 3 else torch.nn.BatchNorm2d
    bn = cls(x.shape[2], eps=float(f["eps"]), momentum=1 - float(f["decay_rate"]))
    with torch.no_grad():
        for nnabla_name, tensor in (
            ("beta", bn.bias),
            ("gamma", bn.weight),
            ("mean0", bn.running_mean),
            ("var0", bn.running_var),
        ):
            tensor.copy_(torch.from_numpy(f[nnabla_name].reshape(-1)))
    bn.train()
    ys, means, vars_ = [], [], []
    for batch in x:
        with torch.no_grad():
            ys.append(bn(torch.from_numpy(batch)).numpy())
        means.append(bn.running_mean.numpy().copy())
        vars_.append(bn.running_var.numpy().copy())
    return {"y": np.stack(ys), "mean": np.stack(means), "var": np.stack(vars_)}


@pytest.mark.parametrize("case", ORDINARY)
def test_running_statistics_are_nnablas(case):
    """After each of 3 steps on fixed batches (2-D: an Affine's output, 4-D, a batch of one image),
    the outputs and the running mean and variance equal nnabla's."""
    got = _keras_steps(case)
    for key in ("y", "mean", "var"):
        _close(got[key], NNABLA[f"{case}:{key}"])


@pytest.mark.parametrize("case", ORDINARY)
def test_running_statistics_are_torchs(case):
    got, torch_steps = _keras_steps(case), _torch_steps(case)
    for key in ("y", "mean", "var"):
        _close(got[key], torch_steps[key])


@pytest.mark.parametrize("case", ORDINARY)
def test_keras_own_layer_is_not(case):
    """The bug it fixes: Keras's own BatchNormalization, the same steps, moves the variance elsewhere
    (towards the biased variance) while its outputs and running mean are nnabla's."""
    own = _keras_steps(case, keras.layers.BatchNormalization)
    _close(own["mean"], NNABLA[f"{case}:mean"])
    _close(own["y"], NNABLA[f"{case}:y"])
    assert np.abs(own["var"] - NNABLA[f"{case}:var"]).max() > 100 * TOLERANCE * np.abs(NNABLA[f"{case}:var"]).max()


def test_one_value_per_channel():
    """A batch of one sample of an Affine's output: n = 1 value per channel. nnabla's running variance
    turns NaN (0 * 1 / 0) and torch refuses the batch; the runtime's takes the factor 1 there: Keras's
    own step (towards the biased variance, 0), finite, with nnabla's outputs (beta) and running mean."""
    case = "affine_batch1"
    assert np.isnan(NNABLA[f"{case}:var"]).all()
    got, own = _keras_steps(case), _keras_steps(case, keras.layers.BatchNormalization)
    assert np.isfinite(got["var"]).all()
    _close(got["var"], own["var"])
    _close(got["mean"], NNABLA[f"{case}:mean"])
    # Keras normalizes as x * inv + (beta - mean * inv), inv = gamma / sqrt(var + eps): with var = 0
    # two terms of size |x| / sqrt(eps) cancel, float32 rounding of ~300 where nnabla's gives beta exactly.
    _close(got["y"], NNABLA[f"{case}:y"], 1e-3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_steps(policy):
    """Under a mixed-precision policy the layer computes in float16/bfloat16, keeps its variables in
    float32 and still takes nnabla's step (to the precision of the half-precision input)."""
    got = _keras_steps("conv", dtype=policy)
    layer = got["layer"]
    assert {v.dtype for v in layer.weights} == {"float32"}
    assert layer.compute_dtype == keras.DTypePolicy(policy).compute_dtype
    tolerance = {"mixed_float16": 2e-3, "mixed_bfloat16": 2e-2}[policy]
    for key in ("mean", "var"):
        _close(got[key], NNABLA[f"conv:{key}"], tolerance)


def test_trains_in_a_model_under_mixed_precision():
    """A Dense + the runtime's BatchNormalization under mixed_bfloat16 trains through fit: the loss falls."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x @ rng.normal(size=(6, 1))).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    h = nnc.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype="mixed_bfloat16")(
        keras.layers.Dense(8, dtype="mixed_bfloat16")(inputs)
    )
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(h))
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    losses = model.fit(x, y, batch_size=16, epochs=4, verbose=0).history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_variables_and_config_are_keras_layers():
    """The same variables (names, shapes, dtypes, in the same order: checkpoints and parameter files
    find them as before) and config as Keras's layer, and it deserializes to itself."""
    ours = nnc.BatchNormalization(momentum=0.7, epsilon=1e-4, axis=1, name="bn")
    theirs = keras.layers.BatchNormalization(momentum=0.7, epsilon=1e-4, axis=1, name="bn")
    for layer in (ours, theirs):
        layer.build((None, 3, 5))
    assert [(v.path, tuple(v.shape), v.dtype) for v in ours.weights] == [
        (v.path, tuple(v.shape), v.dtype) for v in theirs.weights
    ]
    assert ours.get_config() == theirs.get_config()
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
    # it comes back as the runtime's class: this one, or a generated project's copy of it where another
    # test imported one (Keras's registry keeps the class last registered under the name)
    cls = type(again)
    assert (cls.__qualname__, cls.__module__.rsplit(".", 2)[-2:]) == ("BatchNormalization", ["keras", "nnc"])
    assert cls is nnc.BatchNormalization or cls.__module__ == "nndsl_runtime.keras.nnc"
    assert again.get_config() == ours.get_config()


def test_inference_is_keras_layers():
    """Out of training the moving statistics normalize, unchanged: Keras's own layer's output."""
    got = _keras_steps("conv")
    layer = got["layer"]
    theirs = keras.layers.BatchNormalization.from_config(layer.get_config())
    theirs.build((None, 3, 2, 3))
    theirs.set_weights(layer.get_weights())
    x = nnc.to_channels_last(NNABLA["conv:x"][0])
    before = [np.asarray(w) for w in layer.get_weights()]
    _close(keras.ops.convert_to_numpy(layer(x, training=False)), keras.ops.convert_to_numpy(theirs(x, training=False)))
    for w, b in zip(layer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)


def test_fixture_regenerates_live(tmp_path):
    """nnabla 1.39 itself, when it is here: the tool's steps are the stored fixture's."""
    if not NNABLA_PYTHON.exists():
        pytest.skip(f"nnabla is not installed ({NNABLA_PYTHON}; set NNDSL_NNABLA_PYTHON)")
    out = tmp_path / "live.npz"
    r = subprocess.run([str(NNABLA_PYTHON), str(TOOL), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    live = _fixture(out)
    assert sorted(live) == sorted(NNABLA)
    for key, value in live.items():
        np.testing.assert_array_equal(value, NNABLA[key], err_msg=key)


_ON_JAX = """
import importlib, sys
import numpy as np, keras
assert keras.backend.backend() == "jax" and "tensorflow" not in sys.modules
nnc = importlib.import_module("nndsl.runtime.keras.nnc")
f = dict(np.load(sys.argv[1], allow_pickle=False))
layer = nnc.BatchNormalization(momentum=float(f["conv:decay_rate"]), epsilon=float(f["conv:eps"]))
x = f["conv:x"]
layer.build((None,) + nnc.to_channels_last(x[0]).shape[1:])
for name, variable in (("beta", "beta"), ("gamma", "gamma"), ("mean0", "moving_mean"), ("var0", "moving_variance")):
    getattr(layer, variable).assign(f["conv:" + name].reshape(-1))
var = []
for batch in x:
    layer(nnc.to_channels_last(batch), training=True)
    var.append(np.asarray(layer.moving_variance))
np.save(sys.argv[2], np.stack(var))
"""


def test_steps_on_jax_without_tensorflow(tmp_path):
    """keras.ops only: on Keras's JAX backend, TensorFlow not imported, the same steps are nnabla's."""
    pytest.importorskip("jax")  # in the dev extra
    out = tmp_path / "var.npy"
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(
        [sys.executable, "-c", _ON_JAX, str(FIXTURE), str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    _close(np.load(out), NNABLA["conv:var"])
