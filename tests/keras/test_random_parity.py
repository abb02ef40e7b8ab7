"""Cross-backend parity on random specs: Hypothesis draws networks from the layer registry
(convolutions with stride, padding, dilation and groups, pooling, activations, residual units,
repeats, Concatenate on channels, Reshape and Transpose that reorder elements, Slice, Affine
after spatial layers), the PyTorch project's parameters are saved and loaded into the Keras
project, and the Runtime network's outputs agree in inference mode."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from conftest import import_generated  # noqa: E402
from random_specs import specs  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.backends import torch as torch_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402


@given(text=specs())
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_random_specs_agree_across_backends(text, tmp_path_factory):
    result = compile_file("random.nnd", text=text)
    assert result.ok, (text, [d.message for d in result.diagnostics])
    project = result.project
    out = tmp_path_factory.mktemp("random")
    torch_backend.generate(project, out / "torch")
    keras_backend.generate(project, out / "keras")
    torch.manual_seed(0)
    torch_model = import_generated(out / "torch").create_model().eval()
    with torch.no_grad():
        for name, buffer in torch_model.named_buffers():
            if name.endswith("running_mean"):
                buffer.uniform_(-0.5, 0.5)
            elif name.endswith("running_var"):
                buffer.uniform_(0.5, 2.0)
    torch_model.save_params(out / "params.npz")
    module = import_generated(out / "keras")
    model = module.create_model()
    model.load_params(out / "params.npz")
    net = project.networks[0]
    source, sink = net.values[net.inputs[0]], net.values[net.outputs[0]]
    x = np.random.default_rng(0).standard_normal((2, *source.shape)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model.outputs("Runtime", **{source.name: torch.from_numpy(x)})[sink.name].numpy()
    actual = model.run_network("Runtime", **{source.name: x})[sink.name]
    assert actual.shape == expected.shape, text
    scale = max(1.0, float(np.abs(expected).max()))
    assert float(np.abs(expected - actual).max()) <= 1e-4 * scale, text
