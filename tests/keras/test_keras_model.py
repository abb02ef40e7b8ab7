"""Generated Keras models, run: they import without nndsl (and without torch), every value's
symbolic shape equals the shape the IR inferred (each statement's shape comment is checked by
a line tracer while the functional models are built), parameter totals equal `nndsl summary`,
and parameters saved by the PyTorch model give the Keras model the same outputs."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from conftest import SPECS, assert_projects_import_alone, import_generated  # noqa: E402
from zoo_check import KERAS_COVERED_BY, ZOO  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.backends import torch as torch_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

SHAPE_COMMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*) = .*#\s*([0-9x]+)$")


def relative_error(expected: np.ndarray, actual: np.ndarray) -> float:
    """max |expected - actual|, relative to the output's scale (its largest magnitude, at least 1)."""
    if expected.size == 0:
        return 0.0
    scale = max(1.0, float(np.abs(expected).max()))
    return float(np.abs(expected.astype(np.float64) - actual).max()) / scale


def sample_inputs(project, net, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs for `net`: images in [0, 1), and labels (class indices 0 or 1) for the inputs that
    a loss or error layer reads second."""
    rng = np.random.default_rng(seed)
    labels = {layer.inputs[1] for layer in net.layers if len(layer.inputs) > 1}
    inputs = {}
    for vid in net.inputs:
        value = net.values[vid]
        shape = (batch, *value.shape)
        if vid in labels and value.shape == (1,):
            inputs[value.name] = rng.integers(0, 2, shape).astype(np.float32)
        else:
            inputs[value.name] = rng.random(shape, dtype=np.float32)
    return inputs


# Every spec but those whose classes another spec of its family runs (zoo_check.KERAS_COVERED_BY).
BUILT = [p.stem for p in SPECS if p.stem not in KERAS_COVERED_BY]


@pytest.fixture(scope="module", params=BUILT)
def generated(request, tmp_path_factory):
    """The spec's Keras project and its model, built once under the shape-comment tracer
    (`_traced_model`): (project, out, model, module, trace)."""
    project = compile_file(f"specs/{request.param}.nnd").project
    out = tmp_path_factory.mktemp(f"keras_{request.param}")
    keras_backend.generate(project, out)
    module = import_generated(out)
    model, trace = _traced_model(module)
    return project, out, model, module, trace


# The zoo's specs are built and compared with their references in tests/zoo (zoo_check.ZOO).
RUN_APART = [p.stem for p in SPECS if p.stem not in ZOO]


def _project(name: str, tmp_path: Path):
    project = compile_file(f"specs/{name}.nnd").project
    keras_backend.generate(project, tmp_path / "keras")
    return project, tmp_path / "keras"


def test_projects_import_without_nndsl_or_torch(tmp_path):
    folders = [str(_project(name, tmp_path / name)[1]) for name in RUN_APART]
    assert_projects_import_alone(folders, forbidden="torch")  # a Keras project never imports torch


def _expected_shapes(path: Path) -> dict[int, tuple[str, tuple[int, ...]]]:
    shapes = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = SHAPE_COMMENT.match(line)
        if m:
            shapes[number] = (m.group(1), tuple(int(d) for d in m.group(2).split("x")))
    return shapes


def _traced_model(module):
    """`module.create_model()` under a line tracer that reads, after each statement of model.py with a
    shape comment, the symbolic tensor it assigned: (model, (expected, checked lines, mismatches))."""
    path = Path(module.__file__)
    target = str(path)  # (the tracer runs at every call: compared, not built, there)
    expected = _expected_shapes(path)
    checked: set[int] = set()
    pending: list[tuple[object, int]] = []
    mismatches = []

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != target:
            return None

        def local(frame, event, arg):
            while pending and pending[-1][0] is frame:
                _, line = pending.pop()
                name, shape = expected[line]
                value = frame.f_locals.get(name)
                if value is not None and hasattr(value, "shape"):
                    checked.add(line)
                    if tuple(value.shape[1:]) != shape:
                        mismatches.append((line, name, shape, tuple(value.shape[1:])))
            if event == "line" and frame.f_lineno in expected:
                pending.append((frame, frame.f_lineno))
            return local

        return local

    sys.settrace(tracer)
    try:
        model = module.create_model()
    finally:
        sys.settrace(None)
    return model, (expected, checked, mismatches)


def test_symbolic_shapes_equal_the_ir(generated):
    """Every statement's comment gives the channels-last shape the IR inferred; the symbolic
    tensors built by the functional API have it, and every network's outputs have the IR's."""
    project, _, model, module, (expected, checked, mismatches) = generated
    assert not mismatches, mismatches[:5]
    assert len(checked) >= len(expected) * 0.9
    for net in project.networks:
        outputs = model.networks[net.name].output
        shapes = [tuple(outputs[net.values[v].name].shape[1:]) for v in net.outputs]
        assert shapes == [module.nnc.channels_last_shape(net.values[v].shape) for v in net.outputs]


def test_parameter_totals_equal_summary(generated):
    project, _, model, *_ = generated
    variables = {id(v): v for m in model.networks.values() for v in m.trainable_weights}
    assert sum(math.prod(v.shape) for v in variables.values()) == project.total_params
    assert set(model.PARAMETERS) == set(project.parameter_table())


@pytest.mark.parametrize("name", RUN_APART)
def test_torch_parameters_give_the_same_outputs(name, tmp_path):
    """Parameters saved by the PyTorch project, loaded by the Keras one: every network's outputs
    agree in inference mode (max abs difference <= 1e-4 of the output's scale)."""
    project, out = _project(name, tmp_path)
    torch_out = tmp_path / "torch"
    torch_backend.generate(project, torch_out)
    torch_model = import_generated(torch_out).create_model().eval()
    with torch.no_grad():  # random running statistics, so BatchNormalization is not the identity
        for name, buffer in torch_model.named_buffers():
            if name.endswith("running_mean"):
                buffer.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
    torch_model.save_params(tmp_path / "params.npz")
    module = import_generated(out)
    model = module.create_model()
    model.load_params(tmp_path / "params.npz")
    for net in project.networks:
        inputs = sample_inputs(project, net)
        with torch.no_grad():
            expected = torch_model.outputs(net.name, **{k: torch.from_numpy(v) for k, v in inputs.items()})
        feed = {k: module.nnc.to_channels_last(v) for k, v in inputs.items()}
        actual = model.networks[net.name](feed, training=False)
        for name, tensor in expected.items():
            got = module.nnc.to_channels_first(keras.ops.convert_to_numpy(actual[name]))
            error = relative_error(tensor.numpy(), got)
            assert error <= 1e-4, f"{net.name}.{name}: {error:.2e}"


PLAIN_KERAS_SPEC = """include "lib/resnet.nnd"

network Runtime {
    x = Input(3x32x32, dataset="x")
    y = x -> resnet: ResNet(1, 1, 1, 1, bottleneck=true, classes=10) -> Softmax
}
"""

_WITHOUT_TENSORFLOW = """
import sys
sys.modules["tensorflow"] = None  # importing it fails
import keras, numpy as np
import model
assert keras.backend.backend() == "jax"
m = model.create_model()
m.load_params("params.npz")
x = np.load("x.npy")
np.save("y.npy", m.run_network("Runtime", x=x)["y"])
"""


def test_a_model_of_keras_layers_runs_without_tensorflow(tmp_path):
    """A spec that needs no custom layer (a bottleneck ResNet: convolutions, batch normalization,
    max pooling with NNC's padding, residual adds, Affine) gives a model.py of Keras's own layers:
    it runs on Keras's JAX backend with TensorFlow absent (as benchmarks/keras_parity.py runs it on
    a GPU), with the TensorFlow model's parameters and outputs."""
    result = compile_file(Path("specs") / "_plain_keras.nnd", text=PLAIN_KERAS_SPEC)
    assert result.ok, [str(d) for d in result.diagnostics]
    keras_backend.generate(result.project, tmp_path)
    assert "import nnc_layers" not in (tmp_path / "model.py").read_text(encoding="utf-8")
    reference = import_generated(tmp_path).create_model()
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    reference.save_params(tmp_path / "params.npz")
    np.save(tmp_path / "x.npy", x)
    pytest.importorskip("jax")  # in the dev extra
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    r = subprocess.run([sys.executable, "-c", _WITHOUT_TENSORFLOW], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    expected = reference.run_network("Runtime", x=x)["y"]
    assert relative_error(expected, np.load(tmp_path / "y.npy")) <= 1e-5
