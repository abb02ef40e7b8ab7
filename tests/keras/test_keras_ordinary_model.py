"""The generated Keras `Model` is a functional `keras.Model` of the model's network, as
`keras.applications` builds theirs: `model(x)` equals `run_network` of that network (in NNC's
layout), `summary()` and `count_params()` count what `nndsl summary` totals (plus Keras's
non-trainable batch statistics), other networks stay reachable, the parameter table is data in
parameters.json, and a project whose table is missing or damaged stops with a one-line error."""

import io
import json
import math
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import import_generated

from nndsl.backends.keras import generate
from nndsl.backends.keras.render import build
from nndsl.backends.toplevel import COLUMNS, main_network, parameter_rows
from nndsl.compiler import compile_file
from nndsl.summary import to_json

CASES = {
    "lenet": "specs/lenet.nnd",
    "resnet18": "specs/resnet18.nnd",
    "shared_scope": "tests/data/shared_scope.nnd",
    "several_networks": "tests/data/several_networks.nnd",
}


@pytest.fixture(scope="module", params=list(CASES))
def generated(request, tmp_path_factory):
    result = compile_file(CASES[request.param])
    assert result.ok, [str(d) for d in result.diagnostics]
    out = tmp_path_factory.mktemp(request.param)
    generate(result.project, out)
    module = import_generated(out)
    return result.project, module, module.create_model(), out


def _inputs(project, network: str) -> dict[str, np.ndarray]:
    """Random inputs in NNC's layout (batch, C, H, W)."""
    net = project.network(network)
    batch = 1 if "resnet" in project.path else 2
    rng = np.random.default_rng(0)
    return {
        net.values[v].name: rng.standard_normal((batch, *net.values[v].shape)).astype(np.float32) for v in net.inputs
    }


def test_the_model_is_a_keras_model_of_its_network(generated):
    project, module, model, _ = generated
    assert isinstance(model, keras.Model)
    assert module.Model.NETWORK == main_network(project) == model.name
    _, shapes, outputs, trained = module.Model.NETWORKS[model.name]
    assert not trained
    inputs = _inputs(project, model.name)
    expected = model.run_network(model.name, **inputs)
    xs = [module.nnc.to_channels_last(inputs[n]) for n in shapes]  # in the network's order
    got = model(xs if len(xs) > 1 else xs[0])
    got = got if isinstance(got, (tuple, list)) else (got,)
    assert len(got) == len(outputs)
    for name, tensor in zip(outputs, got, strict=True):
        np.testing.assert_array_equal(module.nnc.to_channels_first(keras.ops.convert_to_numpy(tensor)), expected[name])


def _ir_sizes(project) -> tuple[int, int]:
    """(trainable, not trainable) parameter elements of the project, each shared one once."""
    table = project.parameter_table().values()
    trainable = sum(math.prod(p.shape) for p in table if p.trainable)
    return trainable, sum(math.prod(p.shape) for p in table if not p.trainable)


def test_count_params_and_summary_count_what_nndsl_summary_totals(generated):
    project, _, model, _ = generated
    trainable, state = _ir_sizes(project)
    assert trainable == to_json(project)["total_params"]
    assert sum(math.prod(w.shape) for w in model.trainable_weights) == trainable
    assert model.count_params() == trainable + state  # Keras counts batch statistics as weights
    lines = io.StringIO()
    model.summary(print_fn=lambda line, **_: lines.write(line + "\n"))
    text = lines.getvalue()
    total = re.search(r"Total params: ([\d,]+)", text).group(1)
    assert int(total.replace(",", "")) == trainable + state
    assert int(re.search(r"Trainable params: ([\d,]+)", text).group(1).replace(",", "")) == trainable


def test_every_network_stays_reachable(generated):
    project, module, model, _ = generated
    for net in project.networks:
        _, names, outputs, _ = module.Model.NETWORKS[net.name]
        assert isinstance(model.networks[net.name], keras.Model)
        if "resnet" in project.path and net.name != model.name:
            continue  # one ResNet-18 forward is enough
        result = model.run_network(net.name, **_inputs(project, net.name))
        assert list(result) == outputs


def test_the_parameter_table_is_data_beside_the_model(generated):
    project, module, _, out = generated
    table = json.loads((out / "parameters.json").read_text(encoding="utf-8"))
    assert table["columns"] == list(COLUMNS["keras"])
    assert table["parameters"] == parameter_rows(build(project), "keras")
    rows = {n: tuple(tuple(v) if isinstance(v, list) else v for v in row) for n, row in table["parameters"].items()}
    assert rows == module.Model.PARAMETERS
    assert table["parameters"] and table["parameters"].keys() == project.parameter_table().keys()
    assert not any(f'"{name}"' in (out / "model.py").read_text(encoding="utf-8") for name in rows)


# The reader is the one both backends ship (tests/torch/test_ordinary_module.py tries more damage);
# here each Keras script once, TensorFlow's start being slow.
@pytest.mark.parametrize(("damage", "script"), [("missing", "infer.py"), ("another backend's", "train.py")])
def test_a_missing_or_damaged_table_is_a_one_line_error(damage, script, tmp_path):
    result = compile_file("tests/data/shared_scope.nnd")
    out = tmp_path / "out"
    generate(result.project, out)
    table = out / "parameters.json"
    if damage == "missing":
        table.unlink()
    elif damage == "not JSON":
        table.write_text('{\n  "format": \n', encoding="utf-8")
    else:
        data = json.loads(table.read_text(encoding="utf-8"))
        data["columns"] = list(COLUMNS["torch"])
        table.write_text(json.dumps(data), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, script], cwd=out, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "parameters.json" in lines[0], r.stderr
