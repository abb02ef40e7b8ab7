"""The Parameter layer: a learnable tensor given to the W or b connector of Affine and Convolution
(`Affine(3, b=p)`): names, shapes, errors, and both backends computing the same thing.

What NNC and nnabla do with such a layer (its shape, names, initializer, outputs) is checked in
tests/nnc/test_nnc_parameter_layer.py against NNC's tool and nnabla.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import import_generated

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.syntax.parser import parse

SPEC = """\
network Main {
    x = Input(2x5x5)
    pb = fc1_b: Parameter(4)
    h1 = fc1: Affine(x, 4, b=pb)
    pw = fc2_w: Parameter(50x3)
    h2 = fc2: Affine(x, 3, w=pw)
    pw3 = fc3_w: Parameter(50x2x2, init="Uniform", init_multiplier=0.5)
    pb3 = fc3_b: Parameter(2x2, lrate_multiplier=0.0)
    h3 = fc3: Affine(x, 2x2, w=pw3, b=pb3)
    cb = c1_b: Parameter(3)
    h4 = c1: Convolution(x, 3, kernel=3x3, pad=1x1, b=cb)
    cw = c2_w: Parameter(4x2x3x3)
    h5 = c2: Convolution(x, 4, kernel=3x3, stride=2x2, w=cw)
    cw3 = c3_w: Parameter(3x2x2x2)
    cb3 = c3_b: Parameter(3)
    h6 = c3: Convolution(x, 3, kernel=2x2, pad=1x1, w=cw3, b=cb3)
}
"""


def _compile(tmp_path: Path, text: str):
    spec = tmp_path / "p.nnd"
    spec.write_text(text)
    return compile_file(spec), spec


def _nndsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, timeout=300)


def test_the_parameter_is_named_after_its_layer_and_the_consumer_loses_it(tmp_path):
    result, _ = _compile(tmp_path, SPEC)
    assert result.project is not None, [d.message for d in result.diagnostics]
    net = result.project.network("Main")
    table = net.parameter_table()
    assert table["fc1_b"].shape == (4,) and "fc1/b" not in table and table["fc1/W"].shape == (50, 4)
    assert table["fc2_w"].shape == (50, 3) and "fc2/W" not in table and table["fc2/b"].shape == (3,)
    assert table["fc3_w"].shape == (50, 2, 2) and not any(k.startswith("fc3/") for k in table)
    assert table["fc3_b"].lrate_multiplier == 0.0 and table["fc3_w"].init == "Uniform"
    assert table["c1_b"].shape == (3,) and table["c1/W"].shape == (3, 2, 3, 3) and "c1/b" not in table
    assert table["c2_w"].shape == (4, 2, 3, 3) and table["c2/b"].shape == (4,)
    by = {layer.name: layer for layer in net.layers}
    assert by["fc3"].connectors == ("W", "b") and by["fc3"].data_inputs == by["fc3"].inputs[:1]
    assert [net.value(v).shape for v in net.outputs] == [(4,), (3,), (2, 2), (3, 5, 5), (4, 3, 3), (3, 6, 6)]
    module, diags = parse(SPEC, "p.nnd")
    assert not diags and format_module(module) == SPEC


def test_misuses_are_positioned_errors_all_in_one_run(tmp_path):
    """A Parameter's value as data (E0313, as NNC refuses it), a connector given another layer's value
    (E0314), a size that is not the connector's (E0401 at the argument): every one reported."""
    text = """\
network Main {
    x = Input(1x4x4)
    p = Parameter(4)
    h = fc: Affine(x, 3, b=p)
    r = ReLU(x)
    z = Affine(x, 3, w=r)
    q = Add2(h, p)
    y = p
}
"""
    spec = tmp_path / "bad.nnd"
    spec.write_text(text)
    done = _nndsl("lint", str(spec), "--format", "json")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    found = {(d["code"], d["line"], d["column"]) for d in json.loads(done.stdout)["diagnostics"]}
    lines = text.splitlines()
    assert ("E0314", 6, lines[5].index("r)") + 1) in found
    assert ("E0313", 7, lines[6].index("p)") + 1) in found
    assert ("E0401", 4, lines[3].index("p)") + 1) in found
    assert any(code == "E0313" and line == 8 for code, line, _ in found)  # a network output


def test_size_and_a_missing_own_bias_are_checked(tmp_path):
    result, _ = _compile(
        tmp_path, "network M {\n    x = Input(3)\n    p = Parameter(3)\n    y = Affine(x, 3, bias=false, b=p)\n}\n"
    )
    assert [d.code for d in result.diagnostics] == ["E0401"] and "no parameter b" in result.diagnostics[0].message
    result, _ = _compile(
        tmp_path, "network M {\n    x = Input(3)\n    p = Parameter(3)\n    y = Affine(x, 3, b=p, b=p)\n}\n"
    )
    assert [d.code for d in result.diagnostics] == ["E0303"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_each_backend_computes_nncs_affine_and_convolution_with_the_parameters(tmp_path, backend):
    """The generated model, parameters loaded from an .npz of NNC's layouts, computes what NNC's Affine
    (x flattened @ W in (inputs, outputs) + b) and Convolution (cross-correlation, W as (out, in, kh, kw))
    compute, written here in numpy (nnabla's outputs for an imported NNC project: the nnc test)."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    result, _ = _compile(tmp_path, SPEC)
    out = tmp_path / backend
    (torch_backend if backend == "torch" else keras_backend).generate(result.project, out)
    module = import_generated(out)
    rng = np.random.default_rng(3)
    params = {
        name: rng.normal(size=shape).astype(np.float32)
        for name, (*_, shape, _nnabla, _nnabla_shape) in module.Model.PARAMETERS.items()
    }
    np.savez(out / "p.npz", **params)
    model = module.create_model()
    model.load_params(out / "p.npz")
    x = rng.normal(size=(2, 2, 5, 5)).astype(np.float32)
    if backend == "torch":
        import torch

        with torch.no_grad():
            got = {k: v.numpy() for k, v in model.run_network("Main", x=torch.from_numpy(x)).items()}
        frozen = [n for n, (key, *_) in module.Model.PARAMETERS.items() if not model.get_parameter(key).requires_grad]
        assert frozen == ["fc3_b"]
    else:
        got = {k: np.asarray(v) for k, v in model.run_network("Main", x=x).items()}
        found = model.layers_by_name()
        frozen = [
            n for n, (layer, attr, *_) in module.Model.PARAMETERS.items() if not getattr(found[layer], attr).trainable
        ]
        assert frozen == ["fc3_b"]
    flat = x.reshape(2, -1)

    def conv(x, w, b, stride=1, pad=0):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        k = w.shape[2]
        n = (x.shape[2] - k) // stride + 1
        y = np.zeros((x.shape[0], w.shape[0], n, n), np.float64)
        for i in range(n):
            for j in range(n):
                patch = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
                y[:, :, i, j] = np.einsum("bchw,ochw->bo", patch, w)
        return y + b.reshape(1, -1, 1, 1)

    p = params
    want = {
        "h1": flat @ p["fc1/W"] + p["fc1_b"],
        "h2": flat @ p["fc2_w"] + p["fc2/b"],
        "h3": (flat @ p["fc3_w"].reshape(50, 4)).reshape(2, 2, 2) + p["fc3_b"],
        "h4": conv(x, p["c1/W"], p["c1_b"], pad=1),
        "h5": conv(x, p["c2_w"], p["c2/b"], stride=2, pad=1),  # NNC's default border mode: same
        "h6": conv(x, p["c3_w"], p["c3_b"], pad=1),
    }
    for name, w in want.items():
        assert got[name].shape == w.shape, name
        assert np.abs(got[name] - w).max() <= 1e-4 * max(np.abs(w).max(), 1.0), name
