"""Keras lowerings of the layers nnc_layers' section 5 implements (and the Embed, Sort, BatchMatmul, Stack,
Tile, MatrixDiag(Part), EpsilonInsensitiveLoss ones Keras spells itself), against the generated PyTorch
model on the same parameters and inputs, with parameters off NNC's defaults (the layer zoo compares the
defaults with nnabla); Keras's DepthwiseConvolution takes NNC's initializer; no registered layer type is
left without a lowering in either backend; the generated models are ruff-clean."""

import math
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from conftest import import_generated  # noqa: E402
from test_generated_style import RUFF, ruff_clean  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.backends import torch as torch_backend  # noqa: E402
from nndsl.backends.keras.emit import EMITTERS as KERAS_EMITTERS  # noqa: E402
from nndsl.backends.torch.emit import EMITTERS as TORCH_EMITTERS  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.layers import REGISTRY  # noqa: E402

# The hand spec nnabla ran (tests/nnc/test_nntxt_export.py compares it with the PyTorch model), and
# MeanSubtraction, whose running state the parameters set here (a count t = 2).
HAND = Path(__file__).resolve().parent.parent / "nnc" / "fixtures" / "nntxt_export" / "specs"
SPEC = (
    (HAND / "misc_layers.nnd").read_text(encoding="utf-8")
    + """
network MeanSub {
    x = Input(3x4x4, dataset="x")
    y = MeanSubtraction(x, base_axis=1)
}

network MeanSubFixed {
    x = Input(3x4x4, dataset="x")
    y = ms2: MeanSubtraction(x, update_running_mean=false)
}
"""
)


def _values(shape, seed: int) -> np.ndarray:
    """Values in [-2, 2) from a fixed formula, distinct (so that sorting and top-k have no ties)."""
    n = math.prod(shape)
    u = np.modf(np.abs(np.sin(np.arange(n) * 12.9898 + seed * 78.233 + 0.5) * 43758.5453))[0]
    return (u * 4 - 2).reshape(shape).astype(np.float32)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    project = compile_file("misc.nnd", text=SPEC).project
    out = tmp_path_factory.mktemp("misc")
    torch_backend.generate(project, out / "torch")
    keras_backend.generate(project, out / "keras")
    torch_model = import_generated(out / "torch").create_model()
    keras_module = import_generated(out / "keras")
    keras_model = keras_module.create_model()
    # Parameters off their initial values: weights and running means from the formula, the count t = 2.
    table = project.parameter_table()
    params = {}
    for k, (name, p) in enumerate(sorted(table.items())):
        params[name] = np.full(p.shape, 2.0, np.float32) if name.endswith("/t") else _values(p.shape, 100 + k)
    np.savez(out / "params.npz", **params)
    return project, out, torch_model, keras_model


def _inputs(project, net) -> dict[str, np.ndarray]:
    feeds = {}
    for k, vid in enumerate(net.inputs):
        value = net.values[vid]
        x = _values((2, *value.shape), k)
        if net.name == "Embedded":  # class indices 0..4
            x = np.floor((x + 2) / 4 * 5)
        feeds[value.name] = x
    return feeds


@pytest.mark.parametrize("network", [line.split()[1] for line in SPEC.splitlines() if line.startswith("network ")])
def test_keras_outputs_equal_the_torch_model(models, network):
    project, out, torch_model, keras_model = models
    net = project.network(network)
    feeds = _inputs(project, net)
    torch_model.load_params(out / "params.npz")
    keras_model.load_params(out / "params.npz")
    with torch.no_grad():
        expected = torch_model.run_network(network, **{k: torch.from_numpy(v) for k, v in feeds.items()})
    got = keras_model.run_network(network, **feeds)
    for name, value in expected.items():
        value = value.numpy()
        assert got[name].shape == value.shape, name
        scale = max(float(np.abs(value).max()), 1e-6)
        assert float(np.abs(got[name] - value).max()) <= 1e-5 * scale, (network, name)


@pytest.mark.skipif(RUFF is None, reason="ruff is part of the dev extra")
def test_generated_models_are_ruff_clean(models):
    _, out, _, _ = models
    for backend in ("torch", "keras"):
        ruff_clean(out / backend, "model.py")


def test_keras_depthwise_convolution_takes_nnc_initializer(tmp_path):
    """DepthwiseConv2D refuses `kernel_initializer`: NNC's W initializer is its `depthwise_initializer`."""
    text = """\
network Main {
    x = Input(3x8x8, dataset="x")
    y = DepthwiseConvolution(x, kernel=3x3, multiplier=2, w_init="Uniform", w_init_multiplier=0.5, b_init="Constant",
                             b_init_multiplier=0.25)
}
"""
    project = compile_file("dw.nnd", text=text).project
    keras_backend.generate(project, tmp_path)
    code = (tmp_path / "model.py").read_text(encoding="utf-8")
    assert "depthwise_initializer=nnc.NNCInitializer(" in code and "kernel_initializer" not in code
    model = import_generated(tmp_path).create_model()
    params = model.layers_by_name()["DepthwiseConvolution"]
    w, b = (keras.ops.convert_to_numpy(v) for v in (params.kernel, params.bias))
    assert w.shape == (3, 3, 3, 2) and np.abs(w).max() <= 0.5 and np.unique(w).size > 1  # U(-0.5, 0.5)
    assert np.all(b == 0.25)


def test_every_registered_layer_type_has_a_lowering_in_both_backends():
    """A network input is an argument, not a computation (the registry's kind); every other type has an
    emitter in both backends, so no spec that lints reaches E0801 for want of one."""
    lowered = {t for t, spec in REGISTRY.items() if spec.kind == "input"}
    assert set(REGISTRY) - lowered - set(TORCH_EMITTERS) == set()
    assert set(REGISTRY) - lowered - set(KERAS_EMITTERS) == set()


# The layers whose gradient is not their output's derivative (tests/nnc/test_nnabla_backward_layers.py
# checks the runtimes' functions against nnabla): in the generated models, channels-last in Keras.
GRADIENT_NETWORKS = [
    "FixedPoint",
    "Pow2Signed",
    "Pruned",
    "Clipped",
    "TopKKeep",
    "TopKReduce",
    "TopKGradient",
    "MeanSub",
]


@pytest.mark.parametrize("network", GRADIENT_NETWORKS)
def test_keras_input_gradients_equal_the_torch_model(models, network):
    tf = pytest.importorskip("tensorflow")
    project, out, torch_model, keras_model = models
    net = project.network(network)
    (name,) = [net.values[v].name for v in net.inputs]
    (output,) = [net.values[v].name for v in net.outputs]
    x = _inputs(project, net)[name]
    torch_model.load_params(out / "params.npz")
    keras_model.load_params(out / "params.npz")
    tx = torch.from_numpy(x).requires_grad_(True)
    y = torch_model.run_network(network, **{name: tx})[output]
    dy = _values(tuple(y.shape), 7)
    y.backward(torch.from_numpy(dy))
    nnc = import_generated(out / "keras", "nndsl_runtime.keras.nnc")
    kx = tf.constant(nnc.to_channels_last(x))
    with tf.GradientTape() as tape:
        tape.watch(kx)
        ky = keras_model.networks[network]({name: kx}, training=False)[output]
    dx = tape.gradient(ky, kx, output_gradients=tf.constant(nnc.to_channels_last(dy)))
    expected = tx.grad.numpy()
    np.testing.assert_allclose(
        nnc.to_channels_first(dx.numpy()), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()
    )
