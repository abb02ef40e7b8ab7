"""The generated PyTorch `Model` is an ordinary `nn.Module`: `model(x)` runs the model's network
(docs/language.md, "The model's network") and equals `run_network` of it, `torchinfo.summary`
counts the parameters `nndsl summary` totals, the parameter table is data in parameters.json,
and a project whose table is missing or damaged stops with a one-line error."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import import_generated

from nndsl.backends.toplevel import COLUMNS, main_network, parameter_rows
from nndsl.backends.torch import generate
from nndsl.backends.torch.render import build
from nndsl.compiler import compile_file
from nndsl.summary import to_json

torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is in the dev extra (pip install -e '.[dev]')")

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
    return result.project, import_generated(out), out


def _inputs(project, network: str, batch: int) -> list[torch.Tensor]:
    net = project.network(network)
    g = torch.Generator().manual_seed(0)
    return [torch.randn((batch, *net.values[v].shape), generator=g) for v in net.inputs]


def test_calling_the_model_runs_its_network(generated):
    project, module, _ = generated
    model = module.create_model()
    network = module.Model.NETWORK
    assert network == main_network(project)
    _, names, outputs, trained = module.Model.NETWORKS[network]
    assert not trained  # every case has a network no optimizer trains
    xs = _inputs(project, network, batch=1 if "resnet" in project.path else 2)
    with torch.no_grad():
        expected = model.run_network(network, **dict(zip(names, xs, strict=True)))
        got = model.eval()(*xs)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(outputs)
    for name, tensor in zip(outputs, got, strict=True):
        assert torch.equal(tensor, expected[name]), name


def test_torchinfo_counts_what_nndsl_summary_totals(generated):
    project, module, _ = generated
    net = project.network(module.Model.NETWORK)
    sizes = [(1, *net.values[v].shape) for v in net.inputs]
    stats = torchinfo.summary(module.create_model(), input_size=sizes, verbose=0, device="cpu")
    assert stats.total_params == to_json(project)["total_params"]
    assert stats.total_params == sum(p.numel() for p in module.create_model().parameters())


def test_named_networks_stay_reachable(generated):
    project, module, _ = generated
    model = module.create_model()
    for net in project.networks:
        method, names, outputs, trained = module.Model.NETWORKS[net.name]
        xs = _inputs(project, net.name, batch=1 if "resnet" in project.path else 2)
        if "resnet" in project.path and net.name != module.Model.NETWORK:
            continue  # one ResNet-18 forward is enough
        torch.manual_seed(1)
        with torch.no_grad():
            by_name = model.run_network(net.name, **dict(zip(names, xs, strict=True)))
        assert model.training == trained
        torch.manual_seed(1)
        with torch.no_grad():
            direct = getattr(model, method)(*xs)
        direct = direct if isinstance(direct, tuple) else (direct,)
        assert list(by_name) == outputs
        for name, tensor in zip(outputs, direct, strict=True):
            assert torch.equal(by_name[name], tensor), (net.name, name)


def test_the_parameter_table_is_data_beside_the_model(generated):
    project, module, out = generated
    text = (out / "parameters.json").read_text(encoding="utf-8")
    table = json.loads(text)  # JSON: nothing in it runs
    assert table["columns"] == list(COLUMNS["torch"])
    assert table["parameters"] == parameter_rows(build(project), "torch")
    assert set(table["parameters"]) == set(project.parameter_table())
    # What the model reads is the file, row for row; model.py spells no parameter name.
    rows = {n: tuple(tuple(v) if isinstance(v, list) else v for v in row) for n, row in table["parameters"].items()}
    assert rows == module.Model.PARAMETERS
    source = (out / "model.py").read_text(encoding="utf-8")
    strings = {n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not strings & set(table["parameters"])
    # One row per line: a changed parameter is a one-line diff.
    assert len(text.splitlines()) == len(table["parameters"]) + 8 - (not table["parameters"])


def test_save_and_load_go_through_the_table(generated, tmp_path):
    project, module, _ = generated
    model = module.create_model()
    model.save_params(tmp_path / "p.npz")
    again = module.create_model()
    again.load_params(tmp_path / "p.npz")
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


DAMAGES = ["missing", "not JSON", "not a table", "another backend's", "a row too short"]


def damaged_project(damage: str, tmp_path: Path) -> Path:
    """A generated project whose parameters.json has `damage`."""
    result = compile_file("tests/data/shared_scope.nnd")
    out = tmp_path / "out"
    generate(result.project, out)
    table = out / "parameters.json"
    data = json.loads(table.read_text(encoding="utf-8"))
    if damage == "missing":
        table.unlink()
    elif damage == "not JSON":
        table.write_text(table.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    elif damage == "not a table":
        table.write_text("[1, 2, 3]\n", encoding="utf-8")
    elif damage == "another backend's":
        data["columns"] = list(COLUMNS["keras"])
        table.write_text(json.dumps(data), encoding="utf-8")
    else:
        data["parameters"]["enc/W"] = data["parameters"]["enc/W"][:2]
        table.write_text(json.dumps(data), encoding="utf-8")
    return out


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_missing_or_damaged_table_is_a_one_line_error(damage, tmp_path):
    """Loading model.py (what train.py and infer.py do first) reads parameters.json: each damage is the
    runtime's RunError, one line naming the file, which the scripts print after `error: ` (below)."""
    out = damaged_project(damage, tmp_path)
    with pytest.raises(Exception) as raised:
        import_generated(out)
    assert type(raised.value).__name__ == "RunError", raised.value
    message = str(raised.value)
    assert "\n" not in message and "parameters.json" in message, message


@pytest.mark.parametrize(("script", "damage"), [("infer.py", "missing"), ("train.py", "a row too short")])
def test_the_scripts_stop_at_a_damaged_table_with_its_one_line_error(script, damage, tmp_path):
    """Each script, run as a program (a Python start each: one damage each, the reader being the same)."""
    out = damaged_project(damage, tmp_path)
    r = subprocess.run([sys.executable, script], cwd=out, capture_output=True, text=True, timeout=300, env=_quiet_env())
    assert r.returncode == 1, (script, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "parameters.json" in lines[0], (script, r.stderr)
    assert "Traceback" not in r.stderr


def _quiet_env() -> dict:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1"}
