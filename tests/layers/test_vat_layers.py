"""NNC's VATNoise, WorkingMemory and Unlink compute, forward and backward, what nnabla 1.39 computes.

The oracle is `tests/nnc/fixtures/extra_layers/vat_nnabla.npz`, written by
`tools/nnc_extra_layers_fixtures.py` from nnabla's own `vat_noise` and `unlink` and from nnabla
running the network file NNC's `create_prototxt` made of `vat_layers.sdcproj` (a VAT step: the
noise of WorkingMemory `r` through VATNoise added to x, a KL loss against an Unlink'ed clean
prediction; network `Use` reads the same `r` into a prediction). The PyTorch checks run the generated project's
`nnc` runtime and model, the Keras checks the Keras project's `nnc_layers` and model, and the two
backends are compared with each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.nnc.importer import import_project  # noqa: E402

FIXTURES = HERE.parent / "nnc" / "fixtures" / "extra_layers"
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def oracle() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "vat_nnabla.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vat") / "vat_layers.nnd"
    text, diags = import_project(FIXTURES / "vat_layers.sdcproj", out.name)
    assert text is not None, [d.message for d in diags]
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def torch_project(spec: Path) -> Path:
    from nndsl.backends.torch import generate

    result = compile_file(spec)
    assert result.project is not None, [d.message for d in result.diagnostics]
    generate(result.project, spec.parent / "torch")
    return spec.parent / "torch"


@pytest.fixture(scope="module")
def nnc(torch_project: Path):
    return import_generated(torch_project, "nndsl_runtime.torch.nnc_layers")


@pytest.mark.parametrize("base_axis", [0, 1])
def test_vat_noise_equals_nnabla(nnc, oracle, base_axis):
    """Forward eps * x / sqrt(sum x^2 + 1e-8) from base_axis on; backward: eps * dy written into the
    buffer, nothing added to x's gradient (nnabla leaves it as it was). nndsl's base_axis counts the
    sample's axes, nnabla's the batch too."""
    key = f"fn:vat{base_axis + 1}"
    x = torch.tensor(oracle["fn:x"], requires_grad=True)
    x.grad = torch.full_like(x, 5.0)
    buf = torch.zeros_like(x)
    y = nnc.vat_noise(x, buf, base_axis=base_axis, eps=0.3)
    np.testing.assert_allclose(y.detach().numpy(), oracle[f"{key}:y"], rtol=1e-5, atol=1e-7)
    y.backward(torch.tensor(oracle["fn:dy"]))
    np.testing.assert_allclose(buf.numpy(), oracle[f"{key}:w"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(x.grad.numpy(), oracle[f"{key}:dx"])


def test_vat_noise_writes_nothing_without_a_gradient(nnc, oracle):
    """nnabla runs VATNoise's backward only where an input needs a gradient; so does torch."""
    x = torch.tensor(oracle["fn:x"])
    w = nnc.WorkingMemory((3, 4), needs_grad=False)
    buf = w(x)
    buf.copy_(x)
    y = nnc.vat_noise(buf, buf, base_axis=0, eps=0.3)
    (y * torch.tensor(oracle["fn:dy"])).sum()  # no graph: nothing runs backward
    assert not y.requires_grad
    np.testing.assert_array_equal(w.buf.numpy(), oracle["fn:vat_no_grad:w"])


def test_unlink_stops_the_gradient_like_nnabla(torch_project, oracle):
    x = torch.tensor(oracle["fn:x"], requires_grad=True)
    model = import_generated(torch_project)
    source = Path(model.__file__).read_text()
    assert "h = h.detach()" in source  # the Unlink of network Vat
    z = x.detach()
    (z * 3.0 + x * 2.0).sum().backward()
    np.testing.assert_array_equal(z.numpy(), oracle["fn:unlink:y"])
    np.testing.assert_array_equal(x.grad.numpy(), oracle["fn:unlink:dx"])


def _nnabla_params(model, oracle) -> dict[str, np.ndarray]:
    return {name: oracle[f"param:{nnabla}"].reshape(shape) for name, (nnabla, shape) in model.nnabla_names().items()}


def test_vat_network_equals_nnabla(torch_project, oracle, tmp_path):
    """The VAT step in PyTorch with nnabla's parameters and buffers: the loss, the gradient VATNoise
    writes into `r` (LRateMultiplier 1) and not into `r0` (0, NNC's default), the parameters'
    gradients (none through the Unlink), and network Use reading the `r` that Vat wrote."""
    module = import_generated(torch_project)
    model = module.create_model()
    np.savez(tmp_path / "nnabla.npz", **_nnabla_params(model, oracle))
    model.load_params(tmp_path / "nnabla.npz")
    x = torch.tensor(oracle["x"])
    model.r(x), model.r0(x)  # created for the batch, then given nnabla's initial values
    model.r.buf.data.copy_(torch.tensor(oracle["r_before"]))
    model.r0.buf.data.copy_(torch.tensor(oracle["r0_before"]))
    kl = model.run_network("Vat", x=x)["loss"]
    np.testing.assert_allclose(kl.detach().numpy(), oracle["vat_kl"], rtol=1e-5, atol=1e-6)
    kl.sum().backward()
    np.testing.assert_allclose(model.r.buf.detach().numpy(), oracle["r_after"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(model.r0.buf.numpy(), oracle["r0_after"])
    assert not np.array_equal(oracle["r_after"], oracle["r_before"])  # the oracle saw the write
    np.testing.assert_allclose(model.fc.weight.grad.numpy().T, oracle["grad:fc/affine/W"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.fc.bias.grad.numpy(), oracle["grad:fc/affine/b"], rtol=1e-5, atol=1e-6)
    assert model.fc_clean.weight.grad is None and not oracle["grad:fc_clean/affine/W"].any()
    with torch.no_grad():
        pred = model.run_network("Use", x=x)["y'"]
    np.testing.assert_allclose(pred.numpy(), oracle["use_pred"], rtol=1e-5, atol=1e-6)


def test_working_memory_is_shared_by_name_and_not_a_parameter(torch_project):
    module = import_generated(torch_project)
    source = Path(module.__file__).read_text()
    assert source.count('nnc_layers.WorkingMemory((1, 4, 4), init="Normal"') == 1  # one module for Vat and Use
    model = module.create_model()
    assert "r" not in {k.split(".")[0] for k in model.state_dict()}  # nnabla's files do not hold it
    assert all(not name.startswith("r") for name in model.PARAMETERS)
    x = torch.zeros(2, 1, 4, 4)
    assert model.r(x) is model.r(x)  # the buffer itself, kept between calls
    assert model.r(torch.zeros(3, 1, 4, 4)).shape == (3, 1, 4, 4)  # another batch size: a new buffer


@pytest.fixture(scope="module")
def keras_project(spec: Path) -> Path:
    pytest.importorskip("keras")
    from nndsl.backends.keras import generate

    result = compile_file(spec)
    generate(result.project, spec.parent / "keras")
    return spec.parent / "keras"


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 1, -1)


@pytest.mark.parametrize("base_axis", [0, 1])
def test_keras_vat_noise_equals_nnabla(keras_project, oracle, base_axis):
    tf = pytest.importorskip("tensorflow")
    nnc_layers = import_generated(keras_project, "nndsl_runtime.keras.nnc_layers")
    key = f"fn:vat{base_axis + 1}"
    x = tf.Variable(oracle["fn:x"])  # rank-1 samples' layout is NNC's: (batch, 3, 4) here is (3, 4) per sample
    buf = tf.Variable(tf.zeros_like(x))
    axes = tuple(range(base_axis + 1, 3))
    with tf.GradientTape() as tape:
        y = nnc_layers.vat_noise(x, buf, axes, eps=0.3)
        total = tf.reduce_sum(y * oracle["fn:dy"])
    dx, dbuf = tape.gradient(total, [x, buf])
    np.testing.assert_allclose(y.numpy(), oracle[f"{key}:y"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dbuf.numpy(), oracle[f"{key}:w"], rtol=1e-6, atol=1e-7)  # what the buffer stores
    assert not dx.numpy().any()  # x gets nothing


def test_keras_vat_network_equals_nnabla_and_torch(keras_project, torch_project, oracle, tmp_path):
    """The same VAT step in Keras: nnabla's loss, the buffer written channels-last, the gradients (none
    through the Unlink), network Use reading the shared buffer, eagerly and in a tf.function; and the
    PyTorch model's loss and buffer equal Keras'."""
    tf = pytest.importorskip("tensorflow")
    module = import_generated(keras_project)
    model = module.create_model()
    np.savez(tmp_path / "nnabla.npz", **_nnabla_params(model, oracle))
    model.load_params(tmp_path / "nnabla.npz")
    x = _channels_last(oracle["x"])
    net = model.networks["Vat"]

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            kl = net({"x": x}, training=True)["loss"]
            total = tf.reduce_sum(kl)
        variables = net.trainable_variables
        grads = tape.gradient(total, variables)
        return kl, dict(zip([v.path for v in variables], grads, strict=True))

    for run in (step.python_function, step):
        model.r(x), model.r0(x)
        model.r.buf.assign(_channels_last(oracle["r_before"]))
        model.r0.buf.assign(_channels_last(oracle["r0_before"]))
        kl, grads = run(tf.constant(x))
        np.testing.assert_allclose(kl.numpy(), oracle["vat_kl"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.r.buf.numpy(), _channels_last(oracle["r_after"]), rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(model.r0.buf.numpy(), _channels_last(oracle["r0_after"]))
        np.testing.assert_allclose(grads["fc/kernel"].numpy(), oracle["grad:fc/affine/W"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grads["fc/bias"].numpy(), oracle["grad:fc/affine/b"], rtol=1e-5, atol=1e-6)
        assert grads["fc_clean/kernel"] is None and not grads["r/tap"].numpy().any()
    pred = model.run_network("Use", x=oracle["x"])["y'"]
    np.testing.assert_allclose(pred, oracle["use_pred"], rtol=1e-5, atol=1e-6)
    # torch-vs-Keras: the same step in the PyTorch model gives Keras' loss and buffer.
    torch_model = import_generated(torch_project).create_model()
    torch_model.load_params(tmp_path / "nnabla.npz")
    tx = torch.tensor(oracle["x"])
    torch_model.r(tx), torch_model.r0(tx)
    torch_model.r.buf.data.copy_(torch.tensor(oracle["r_before"]))
    torch_model.r0.buf.data.copy_(torch.tensor(oracle["r0_before"]))
    torch_kl = torch_model.run_network("Vat", x=tx)["loss"]
    torch_kl.sum().backward()
    np.testing.assert_allclose(kl.numpy(), torch_kl.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.r.buf.numpy(), _channels_last(torch_model.r.buf.detach().numpy()), atol=1e-6)


def test_unlink_torch_and_keras_agree(tmp_path):
    pytest.importorskip("keras")
    from nndsl.backends.keras import generate as keras_generate
    from nndsl.backends.torch import generate as torch_generate

    small = tmp_path / "unlink.nnd"
    small.write_text('network N {\n    x = Input(4, dataset="x")\n    y = x -> fc: Affine(3) -> Unlink -> Tanh\n}\n')
    result = compile_file(small)
    assert result.project is not None
    torch_generate(result.project, tmp_path / "t")
    keras_generate(result.project, tmp_path / "k")
    tm = import_generated(tmp_path / "t").create_model()
    km = import_generated(tmp_path / "k").create_model()
    tm.save_params(tmp_path / "p.npz")
    km.load_params(tmp_path / "p.npz")
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    with torch.no_grad():
        want = tm.run_network("N", x=torch.tensor(x))["y"].numpy()
    np.testing.assert_allclose(np.asarray(km.run_network("N", x=x)["y"]), want, rtol=1e-5, atol=1e-6)


def test_keras_working_memory_is_state_not_a_parameter(keras_project):
    module = import_generated(keras_project)
    model = module.create_model()
    assert all(not name.startswith("r") for name in model.PARAMETERS)
    assert model.networks["Vat"].get_layer("r") is model.networks["Use"].get_layer("r")  # shared by name
    assert [v.path for v in model.r0.trainable_variables] == []  # lrate_multiplier 0: nothing to reach it
    x = np.zeros((3, 4, 4, 1), np.float32)
    assert tuple(model.r(x).shape) == (3, 4, 4, 1) and tuple(model.r.buf.numpy().shape) == (3, 4, 4, 1)


TRAIN_SPEC = """network Train {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc: Affine(10) -> SoftmaxCrossEntropy(y)
}

network Vat {
    x = Input(1x8x8, dataset="x")
    clean = x -> fc_clean: Affine(10) -> Softmax -> Unlink
    r = r: WorkingMemory(1x8x8, lrate_multiplier=1)
    noise = VATNoise(r, r, epsilon=1.0)
    loss = Add2(x, noise) -> fc: Affine(10) -> Softmax -> KLMultinomial(clean)
}

network Valid {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    error = x -> fc: Affine(10) -> TopNError(y)
}

dataset training = "digits/train.csv" { shuffle = true, image_normalization = true }
dataset validation = "digits/validation.csv" { shuffle = false, image_normalization = true }

config {
    max_epoch = 1
    batch_size = 32
    optimizer labeled { network = Train, dataset = training, solver = Sgd(lr=0.1) }
    optimizer vat { network = Vat, dataset = training, solver = Sgd(lr=0.1) }
    monitor valid_error { network = Valid, dataset = validation }
}
"""


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_train_py_trains_a_vat_project(tmp_path, backend):
    """Both projects' train.py run a VAT step (WorkingMemory, VATNoise, Unlink) beside a labeled one."""
    import csv
    import os
    import subprocess

    if backend == "keras":
        pytest.importorskip("keras")
    from nndsl.examples.digits import build_digits_dataset

    spec = tmp_path / "vat.nnd"
    spec.write_text(TRAIN_SPEC)
    build_digits_dataset(tmp_path / "digits")
    result = compile_file(spec)
    assert result.project is not None, [d.message for d in result.diagnostics]
    if backend == "torch":
        from nndsl.backends.torch import generate
    else:
        from nndsl.backends.keras import generate
    generate(result.project, tmp_path / backend)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "train.py", "--epochs", "1", "--seed", "3", "--output", "runs"],
        cwd=tmp_path / backend,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = tmp_path / backend / "runs"
    with open(runs / (runs / "LATEST").read_text().strip() / "log.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert all(np.isfinite(float(row[k])) for k in ("labeled_loss", "vat_loss", "valid_error")), row


def test_working_memories_of_one_name_must_agree(tmp_path):
    """One name, one buffer: a WorkingMemory whose settings differ from another network's of the same
    name is an error at the second (E0505), not two buffers that silently stop sharing."""
    spec = tmp_path / "e0505.nnd"
    spec.write_text(
        "network A {\n"
        '    x = Input(4, dataset="x")\n'
        "    r = r: WorkingMemory(4, lrate_multiplier=1)\n"
        "    y = Add2(x, VATNoise(r, r))\n"
        "}\n\n"
        "network B {\n"
        '    x = Input(4, dataset="x")\n'
        "    r = r: WorkingMemory(4)\n"
        "    y = Add2(x, r)\n"
        "}\n"
    )
    result = compile_file(spec)
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code == "E0505" and d.span.line == 9
    assert "lrate_multiplier=0.0 here but lrate_multiplier=1.0 in network 'A'" in d.message
    spec.write_text(spec.read_text().replace("WorkingMemory(4)\n", "WorkingMemory(4, lrate_multiplier=1)\n"))
    assert compile_file(spec).ok
