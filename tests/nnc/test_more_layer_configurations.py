"""Layer configurations a backend once refused with E0801, in both backends, against nnabla 1.39.

The cases are in `more_layer_cases.py` (grouped and strided-dilated transposed convolutions,
BatchNormalization, InstanceNormalization and GroupNormalization over other axes, PReLU along another
axis, OneHot of several indices per sample); what nnabla computed for them (outputs, and the
gradients of the input and the parameters for an output gradient) is stored by
`tools/nnc_more_layer_fixtures.py` in `fixtures/more_layers/`. Each backend's generated project
loads the parameters in NNC's layout (`load_params` of a `.npz` keyed by the spec's names), runs
every case's network and gives nnabla's output and gradients; `save_params` gives the parameters
back unchanged. The 3-D depthwise (de)convolutions nnabla itself refuses (`refused.json`) are a
positioned compile error. The live test reruns nnabla where it is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "more_layers"
ROOT = HERE.parent.parent
NNABLA_PYTHON = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))

sys.path.insert(0, str(HERE))
import more_layer_cases as M  # noqa: E402

sys.path.remove(str(HERE))
sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))

from nndsl.backends.check import backend_diagnostics  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

# float32 rounding, relative to the largest value of the array compared
TOLERANCE = 1e-5


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def project():
    result = compile_file("more_layers.nnd", text=M.spec(), lint=True)
    assert result.project is not None, [(d.code, d.message) for d in result.diagnostics]
    errors = [(d.code, d.message) for d in result.diagnostics if d.severity == "error"]
    assert not errors, errors
    return result.project


def _parameters(project) -> dict[str, np.ndarray]:
    """Every parameter of the spec (by spec name, NNC's shape) with the cases' values."""
    out = {}
    for net in project.networks:
        for layer in net.layers:
            for q in layer.parameters:
                out[layer.parameter_name(q)] = M.parameter_value(layer.parameter_name(q), q.shape)
    return out


@pytest.fixture(scope="module")
def models(project, tmp_path_factory):
    """Both backends' generated models, with the cases' parameters loaded from a `.npz`."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    root = tmp_path_factory.mktemp("more_layers")
    params = root / "params.npz"
    np.savez(params, **_parameters(project))
    out = {}
    for name, backend in (("torch", torch_backend), ("keras", keras_backend)):
        backend.generate(project, root / name)
        generated = import_generated(root / name)
        model = generated.create_model()
        model.load_params(params)
        out[name] = (generated, model)
    return out


def _worst(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1.0)


def _torch_run(model, name: str, mine, x: np.ndarray, grad: bool, training: bool = False) -> dict[str, np.ndarray]:
    """The case's output and, with `grad`, the gradients of x and of its parameters (NNC's layout); with
    `training`, in training mode (batch statistics), and the state after the step (`state:<name>`)."""
    import torch

    model.train(training)
    xt = torch.from_numpy(x).requires_grad_(grad)
    model.zero_grad()
    (y,) = model.outputs(M.network(name), x=xt).values()
    out = {"y": y.detach().numpy()}
    if training:
        state = model.state_dict()
        for spec_name, (key, _, shape, *_) in model.PARAMETERS.items():
            if spec_name in mine and "running" in key:
                out[f"state:{spec_name}"] = state[key].numpy().reshape(shape)
    if grad:
        (y * torch.from_numpy(M.dy(tuple(y.shape)))).sum().backward()
        out["x"] = xt.grad.numpy()
        grads = {k: v.grad for k, v in model.named_parameters()}  # not BatchNorm's running statistics
        for spec_name, (key, layout, shape, *_) in model.PARAMETERS.items():
            if spec_name in mine and key in grads:
                g = grads[key].numpy()
                out[spec_name] = (g.T if layout == "affine" else g).reshape(shape)
    return out


def _keras_run(generated, model, name: str, mine, x: np.ndarray, grad: bool, training=False) -> dict[str, np.ndarray]:
    import tensorflow as tf

    nnc = generated.nnc
    net = model.networks[M.network(name)]
    found = model.layers_by_name()
    state = {k: v for k, v in model.PARAMETERS.items() if k in mine and not getattr(found[v[0]], v[1]).trainable}
    mine = {
        k: v for k, v in model.PARAMETERS.items() if k in mine and getattr(found[v[0]], v[1]).trainable
    }  # not BatchNormalization's moving statistics
    variables = [getattr(found[layer], variable) for layer, variable, *_ in mine.values()]
    xt = tf.constant(nnc.to_channels_last(x))
    with tf.GradientTape() as tape:
        tape.watch(xt)
        (y,) = net({"x": xt}, training=training).values()
        y_nnc = y if len(y.shape) < 3 else tf.experimental.numpy.moveaxis(y, -1, 1)
        loss = tf.reduce_sum(y_nnc * M.dy(tuple(y_nnc.shape)))
    out = {"y": y_nnc.numpy()}
    if training:
        for spec_name, (layer, variable, layout, shape, *_) in state.items():
            out[f"state:{spec_name}"] = nnc.to_nnc(getattr(found[layer], variable).numpy(), layout, shape)
    if grad:
        gx, *gp = tape.gradient(loss, [xt, *variables])
        out["x"] = nnc.to_channels_first(gx.numpy())
        for (spec_name, (_, _, layout, shape, *_)), g in zip(mine.items(), gp, strict=True):
            out[spec_name] = nnc.to_nnc(g.numpy(), layout, shape)
    return out


def _run(project, models, backend: str, name: str, training: bool = False) -> dict[str, np.ndarray]:
    generated, model = models[backend]
    grad = name in M.GRADIENT_CASES
    mine = set(M.case_parameters(project, name))
    if backend == "torch":
        return _torch_run(model, name, mine, M.input_of(name), grad, training)
    return _keras_run(generated, model, name, mine, M.input_of(name), grad, training)


def _expected(nnabla: dict, name: str) -> dict[str, np.ndarray]:
    out = {"y": nnabla[f"y:{name}"]}
    prefix = f"grad:{name}:"
    out.update({k[len(prefix) :]: v for k, v in nnabla.items() if k.startswith(prefix)})
    return out


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", list(M.CASES))
def test_each_configuration_gives_nnablas_output_and_gradients(project, models, backend, name):
    """The output, and the gradients of the input and of every parameter for nnabla's output gradient,
    equal nnabla's to float32 rounding."""
    want = _expected(_load(FIXTURES / "more_layers.npz"), name)
    got = _run(project, models, backend, name)
    assert sorted(got) == sorted(want)
    worst = {k: _worst(got[k], want[k]) for k in want}
    assert max(worst.values()) <= TOLERANCE, worst


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", list(M.TRAINING))
def test_batch_normalization_in_training_gives_nnablas_step(project, models, backend, name, tmp_path):
    """As a network an optimizer trains runs it (nnabla's batch_stat): the output and gradients, from the
    batch's statistics, and the running mean and variance after the step equal nnabla's (nnabla moves
    the variance towards the unbiased one, n / (n - 1): torch's BatchNorm*d and the Keras runtime's
    nnc.BatchNormalization do too, Keras's own layer would not)."""
    generated, _ = models[backend]
    np.savez(tmp_path / "params.npz", **_parameters(project))
    model = generated.create_model()  # a fresh one: the step moves its running statistics
    model.load_params(tmp_path / "params.npz")
    got = _run(project, {backend: (generated, model)}, backend, name, training=True)
    nnabla = _load(FIXTURES / "more_layers.npz")
    want = {"y": nnabla[f"train:y:{name}"]}
    want.update({k.split(":", 3)[3]: v for k, v in nnabla.items() if k.startswith(f"train:grad:{name}:")})
    want.update({"state:" + k.split(":", 2)[2]: v for k, v in nnabla.items() if k.startswith(f"train:{name}:")})
    assert sorted(got) == sorted(want)
    worst = {k: _worst(got[k], want[k]) for k in want}
    assert max(worst.values()) <= TOLERANCE, worst


def test_torch_and_keras_agree(project, models):
    for name in M.CASES:
        a, b = _run(project, models, "torch", name), _run(project, models, "keras", name)
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=TOLERANCE * max(float(np.abs(a[key]).max()), 1.0))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_parameters_round_trip_in_nncs_layout(project, models, backend, tmp_path):
    """save_params writes back, in NNC's layout and shapes, exactly the values load_params read, as .npz
    and as NNC's .protobuf (nnabla's names); a fresh model loads them and computes the same."""
    generated, model = models[backend]
    want = _parameters(project)
    for suffix in (".npz", ".protobuf"):
        path = tmp_path / f"saved{suffix}"
        model.save_params(path)
        fresh = generated.create_model()
        fresh.load_params(path)
        fresh.save_params(tmp_path / "again.npz")
        again = _load(tmp_path / "again.npz")
        assert sorted(again) == sorted(want)
        for key, value in want.items():
            np.testing.assert_array_equal(again[key], value, err_msg=f"{suffix} {key}")


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_lint_backend_reports_none_of_them(project, backend):
    assert backend_diagnostics(project, backend) == []


REFUSALS = {  # case: (what nnabla's message checks, what nndsl's says, the parameter it points at)
    "dwconv_3d": ("kernel_dims <= 2", "1-D or 2-D kernels only", "kernel"),
    "dwdeconv_3d": ("kernel_dims <= 2", "1-D or 2-D kernels only", "kernel"),
    "bn_two_axes": ("axes_.size() == 1", "one axis only", "axes"),
}


@pytest.mark.parametrize("name", list(M.REFUSED))
def test_what_nnabla_refuses_is_a_positioned_compile_error(name):
    """nnabla's depthwise (de)convolution takes 1-D or 2-D kernels only, and its BatchNormalization (the
    function NNC's network files run) one axis only (its messages in refused.json): such a layer is an
    error at the parameter in the spec, for every backend, not an E0801."""
    nnabla = json.loads((FIXTURES / "refused.json").read_text())[name]
    theirs, ours, param = REFUSALS[name]
    assert nnabla is not None and theirs in nnabla
    shape, call, _, _ = M.REFUSED[name]
    text = f'network Main {{\n    x = Input({"x".join(map(str, shape))}, dataset="x")\n    y = {call}\n}}\n'
    result = compile_file("m.nnd", text=text)
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code != "E0801" and ours in d.message
    assert d.span.line == 3 and text.splitlines()[2][: d.span.col - 1].endswith(f"{param}=")


# --- live: nnabla, when it is here ------------------------------------------------------------------


def test_fixtures_regenerate_live(tmp_path):
    """The fixture script run now with nnabla gives the stored outputs and gradients and messages."""
    if not NNABLA_PYTHON.exists():
        pytest.skip(f"nnabla's Python is not at {NNABLA_PYTHON} (set NNDSL_NNABLA_PYTHON)")
    out = tmp_path / "more_layers.npz"
    script = ROOT / "tools" / "nnc_more_layer_fixtures.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(script), "--nnabla", str(NNABLA_PYTHON), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    fresh, stored = _load(out), _load(FIXTURES / "more_layers.npz")
    assert sorted(fresh) == sorted(stored)
    for key in stored:
        np.testing.assert_array_equal(fresh[key], stored[key], err_msg=key)
    assert json.loads((tmp_path / "refused.json").read_text()) == json.loads((FIXTURES / "refused.json").read_text())
