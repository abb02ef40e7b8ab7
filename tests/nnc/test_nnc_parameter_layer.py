"""NNC's Parameter layer in the W and b connectors of Affine and Convolution: import, shapes, names,
and both backends against nnabla.

Fixtures in `fixtures/parameter_layer/`, made by `tools/nnc_parameter_layer_fixtures.py` with NNC's
own project tool and nnabla 1.39: a project in NNC's layout with Parameter layers linked into an
Affine's b, an Affine's W and b, a Convolution's b and a Convolution's W; NNC's `complete` of it
(every layer's Output and CostParameter) and `error_check`; a summary of `create_prototxt`'s network
file (variables, functions, learning-rate multipliers); nnabla's forward of that file (batch 2) and
nnabla's own parameter file (`nn.save_parameters`, .h5) of the parameters it ran with.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.sdcproj import read_sdcproj
from nndsl.nnc.to_nnd import translate
from nndsl.syntax.parser import parse

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "parameter_layer"
PROJECT = FIXTURES / "parameter_connectors.sdcproj"
LAYERS = ("fc1", "fc2", "c1", "c2")  # the layers whose outputs nnabla's run holds, in network order

sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))


def _json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tr = translate(read_sdcproj(PROJECT))
    assert tr.ok, [str(p) for p in tr.problems]
    spec = tmp_path_factory.mktemp("param") / "parameter_connectors.nnd"
    spec.write_text(tr.text)
    result = compile_file(spec, lint=True)
    assert result.project is not None, [d.message for d in result.diagnostics]
    return tr, spec, result


def test_imports_as_connectors_lint_clean_and_canonical(imported):
    tr, spec, result = imported
    module, diags = parse(tr.text, spec.name)
    assert not diags and format_module(module) == tr.text
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    text = re.sub(r"\(\s+", "(", re.sub(r",?\s+\)", ")", re.sub(r",\n\s+", ", ", tr.text)))  # calls on one line
    assert "fc1: Affine(3, b=fc1_b)" in text and "fc2: Affine(2x2, w=fc2_w, b=fc2_b)" in text
    assert "c1: Convolution(3, b=c1_b)" in text and "w=c2_w)" in text
    # NNC's *GraphOutput size: the shape of the parameter the layer gives
    assert "fc2_w: Parameter(32x2x2, " in text and "lrate_multiplier=0)" in text


def test_shapes_and_costs_equal_nnc_complete(imported):
    """Every NNC layer's Output shape and CostParameter as nndsl infers them: a Parameter counts its
    size, the layer it feeds no longer counts that parameter."""
    tr, _, result = imported
    fixture = _json("parameter_connectors.complete.json")
    assert fixture["error_check"] == []
    want = fixture["networks"]["Main"]
    names = tr.layer_names["Main"]
    ir = result.project.network("Main")
    by_name = {layer.name: layer for layer in ir.layers}
    for nnc_name, (shape, cost) in want.items():
        mine = by_name[names[nnc_name]]
        assert list(ir.value(mine.outputs[0]).shape) == shape, nnc_name
        assert sum(math.prod(p.shape) for p in mine.parameters) == (cost or 0), nnc_name
    assert len(want) == 14
    assert ir.total_params == sum(c or 0 for _, c in want.values())


def test_names_shapes_and_lrates_equal_create_prototxt(imported):
    """nnabla's parameters are the spec's: a Parameter's variable is named after the layer (no `/W`),
    without a batch axis, with the layer's initializer; the consumer's own parameters keep their
    names; LRateMultiplier 0 is the optimizer's multiplier 0 (and a frozen parameter of the spec)."""
    _, _, result = imported
    nntxt = _json("parameter_connectors.nntxt.json")
    theirs = {n: v for n, v in nntxt["Main"]["variables"].items() if v["type"] == "Parameter"}
    table = nnc_parameter_table(result.project)
    assert {n: list(s) for n, s in table.values()} == {n: v["shape"] for n, v in theirs.items()}
    for layer in result.project.network("Main").layers:
        if layer.type == "Parameter":
            (p,) = layer.parameters
            assert theirs[layer.name]["initializer"] == [layer.params["init"], layer.params["init_multiplier"]]
            assert nntxt["optimizers"]["OptMain"][layer.name] == p.lrate_multiplier
    functions = nntxt["Main"]["functions"]
    assert functions["fc2"]["inputs"] == ["x", "fc2_w", "fc2_b"]
    assert functions["c1"]["inputs"] == ["x", "c1/conv/W", "c1_b"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_both_backends_load_nnablas_h5_and_give_nnablas_outputs(imported, backend, tmp_path):
    """nnabla's own .h5 (the parameters it ran with) through the generated project's `load_params`:
    every output of network MainRuntime equals nnabla's, at most 1e-4 of the output's scale."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    _, _, result = imported
    (torch_backend if backend == "torch" else keras_backend).generate(result.project, tmp_path)
    model = import_generated(tmp_path).create_model()
    model.load_params(FIXTURES / "parameter_connectors_nnabla.h5")
    with np.load(FIXTURES / "parameter_connectors_nnabla.npz", allow_pickle=False) as z:
        nnabla = {k: z[k] for k in z.files}
    if backend == "torch":
        import torch

        with torch.no_grad():
            got = model.run_network("MainRuntime", x=torch.from_numpy(nnabla["x"]))
        got = {k: v.numpy() for k, v in got.items()}
    else:
        got = {k: np.asarray(v) for k, v in model.run_network("MainRuntime", x=nnabla["x"]).items()}
    assert len(got) == len(LAYERS)
    for name, (_, array) in zip(LAYERS, got.items(), strict=True):
        want = nnabla[f"out:{name}"]
        diff = float(np.abs(array.reshape(want.shape) - want).max())
        assert diff <= 1e-4 * max(float(np.abs(want).max()), 1e-6), (name, diff)


NNC_TOOL = Path(os.environ.get("NNC_TOOL", "/work/shared/nnc-tools/nncd_console"))
NNABLA_PYTHON = Path(os.environ.get("NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))


def _nndsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, timeout=300)


def test_export_links_the_parameters_into_the_connector_pins_and_round_trips(imported, tmp_path):
    """`nndsl export` writes each Parameter layer linked into its consumer's connector pin as NNC does
    (W = pin 1, b = pin 2, as in the NNC project), and the import of the export has the spec's
    parameters (names, shapes, initializers, learning-rate multipliers)."""
    _, spec, result = imported
    out = tmp_path / "exported.sdcproj"
    done = _nndsl("export", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr

    def connector_links(project):
        (net,) = [n for n in project.networks if n.name == "Main"]
        by_id = {layer.id: layer for layer in net.layers}
        return sorted(
            (by_id[k.source].name, by_id[k.dest].name, k.dest_pin)
            for k in net.links
            if by_id[k.source].type == "Parameter"
        )

    original, exported = read_sdcproj(PROJECT), read_sdcproj(out)
    assert connector_links(exported) == connector_links(original)
    assert len(connector_links(original)) == 5
    tr = translate(exported)
    assert tr.ok, [str(p) for p in tr.problems]
    again = tmp_path / "again.nnd"
    again.write_text(tr.text)
    back = compile_file(again)
    assert back.project is not None
    for name in ("Main", "MainRuntime"):
        assert back.project.network(name).parameter_table() == result.project.network(name).parameter_table()


@pytest.mark.skipif(not (NNC_TOOL / "nncd_console_cli_util").exists(), reason="NNC's project tool is not here")
@pytest.mark.skipif(not NNABLA_PYTHON.exists(), reason="no Python with nnabla here")
def test_nncs_tool_accepts_the_export_and_nnabla_runs_it_live(imported, tmp_path):
    """Live: NNC's error_check finds nothing in the exported .sdcproj, create_prototxt converts it,
    and nnabla runs both its network file and nndsl's .nntxt export with nnabla's .h5, giving the
    outputs of nnabla's run of the original project (the fixture)."""
    _, spec, _ = imported
    sdcproj, nntxt = tmp_path / "e.sdcproj", tmp_path / "e.nntxt"
    assert _nndsl("export", str(spec), "-o", str(sdcproj)).returncode == 0
    assert _nndsl("export", str(spec), "-o", str(nntxt)).returncode == 0
    cli = str(NNC_TOOL / "nncd_console_cli_util")
    errors, converted = tmp_path / "errors.txt", tmp_path / "nnc.nntxt"
    subprocess.run([cli, "error_check", "-i", str(sdcproj), "-o", str(errors)], cwd=NNC_TOOL, check=True,
                   capture_output=True)  # fmt: skip
    assert not errors.exists() or not errors.read_text().strip(), errors.read_text()
    subprocess.run([cli, "create_prototxt", "-i", str(sdcproj), "-o", str(converted), "-p", str(tmp_path / "p.csv")],
                   cwd=NNC_TOOL, check=True, capture_output=True)  # fmt: skip
    script = f"""
import sys, numpy as np, nnabla as nn
from nnabla.utils import load
z = np.load({str(FIXTURES / "parameter_connectors_nnabla.npz")!r}, allow_pickle=False)
worst = 0.0
for path in sys.argv[1:]:
    nn.clear_parameters()
    info = load.load([path], prepare_data_iterator=False, batch_size=2)
    nn.load_parameters({str(FIXTURES / "parameter_connectors_nnabla.h5")!r})
    net = info.networks["MainRuntime"]
    x = "x" if "x" in net.variables else "Input"  # NNC names the variable after the Input layer
    net.variables[x].variable_instance.d = z["x"]
    for n in {LAYERS!r}:
        v = net.variables[n].variable_instance
        v.forward()
        worst = max(worst, float(np.abs(v.d - z["out:" + n]).max() / np.abs(z["out:" + n]).max()))
print(worst)
"""
    done = subprocess.run([str(NNABLA_PYTHON), "-c", script, str(converted), str(nntxt)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) <= 1e-4


def test_the_nntxt_nnc_wrote_imports_as_the_project(imported, tmp_path):
    """create_prototxt's network file of the project: its Parameter variables in a connector's place
    become the same Parameter layers and connectors, with the same parameters, as the .sdcproj's import."""
    from nndsl.nnc.nntxt import read_nntxt

    tr0, _, result = imported
    tr = translate(read_nntxt(FIXTURES / "parameter_connectors.nntxt"))
    assert tr.ok, [str(p) for p in tr.problems]
    for line in ("fc1: Affine(3, b=fc1_b)", "fc2: Affine(2x2, w=fc2_w, b=fc2_b)", "c1: Convolution(3, b=c1_b)"):
        assert line in tr.text and line in tr0.text
    spec = tmp_path / "from_nntxt.nnd"
    spec.write_text(tr.text)
    back = compile_file(spec)
    assert back.project is not None, [d.message for d in back.diagnostics]
    assert back.project.network("Main").parameter_table() == result.project.network("Main").parameter_table()


def test_a_parameter_into_another_connector_is_a_positioned_error(tmp_path):
    """A Parameter layer linked into a connector nndsl does not take it in (here a BatchNormalization's
    gamma, NNC's pin 2) stays a positioned E0981 at the Parameter's section, nothing written."""
    text = PROJECT.read_text()
    text = text.replace("Type=Affine\n", "Type=BatchNormalization\n", 1)
    assert text != PROJECT.read_text()
    src = tmp_path / "bn.sdcproj"
    src.write_text(text)
    out = tmp_path / "bn.nnd"
    done = _nndsl("import", str(src), "-o", str(out), "--format", "json")
    assert done.returncode == 1 and not out.exists() and "Traceback" not in done.stderr
    found = [d for d in json.loads(done.stdout)["diagnostics"] if d["code"] == "E0981"]
    assert [text.splitlines()[d["line"] - 1] for d in found] == ["[Main_Layer_1]"]
    assert "linked into the " in found[0]["message"] and "BatchNormalization 'fc1'" in found[0]["message"]
