"""NNC's WorkingMemory, VATNoise, Unlink and Parameter layers: import, export, and what NNC says.

Fixtures in `fixtures/extra_layers/`, made by `tools/nnc_extra_layers_fixtures.py` with NNC's own
project tool and nnabla 1.39: two small projects in NNC's layout, NNC's `complete` (every layer's
Output and CostParameter) and `error_check` of them, a summary of `create_prototxt`'s network file,
the export of the imported VAT project (.sdcproj and .nntxt) with NNC's verdict on it, and nnabla's
runs of the original and the exported network files. Where NNC's tool (or nnabla) is on the
machine, the live tests run it on what nndsl writes now.
"""

from __future__ import annotations

import json
import math
import os
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
FIXTURES = HERE / "fixtures" / "extra_layers"
VAT = FIXTURES / "vat_layers.sdcproj"
PARAMETER = FIXTURES / "parameter_layers.sdcproj"
NNC_TOOL = Path(os.environ.get("NNC_TOOL", "/work/shared/nnc-tools/nncd_console"))
NNABLA_PYTHON = Path(os.environ.get("NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
TOOLS = HERE.parent.parent / "tools"


def _json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tr = translate(read_sdcproj(VAT))
    assert tr.ok, [str(p) for p in tr.problems]
    spec = tmp_path_factory.mktemp("extra") / "vat_layers.nnd"
    spec.write_text(tr.text)
    result = compile_file(spec, lint=True)
    assert result.project is not None, [d.message for d in result.diagnostics]
    return tr, spec, result


def _nndsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, timeout=300)


def test_vat_project_imports_lint_clean_and_canonical(imported):
    tr, spec, result = imported
    module, diags = parse(tr.text, spec.name)
    assert not diags and format_module(module) == tr.text
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    assert "r: WorkingMemory(size=1x4x4, lrate_multiplier=1.0)" in tr.text  # NNC's name kept: it is shared
    assert "VATNoise(r, r, epsilon=0.5)" in tr.text and "-> Unlink" in tr.text


def test_vat_shapes_and_costs_equal_nnc_complete(imported):
    """Every NNC layer's Output shape and CostParameter (WorkingMemory's counts its Size) as nndsl
    infers them, and each network's total."""
    tr, _, result = imported
    fixture = _json("vat_layers.complete.json")
    assert fixture["error_check"] == []
    checked = 0
    for net in read_sdcproj(VAT).networks:
        want = fixture["networks"][net.name]
        names = tr.layer_names[net.name]
        ir = result.project.network(net.name)
        by_name = {layer.name: layer for layer in ir.layers}
        for layer in net.layers:
            mine = by_name[names[layer.name]]
            shape, cost = want[layer.name]
            assert list(ir.value(mine.outputs[0]).shape) == shape, (net.name, layer.name)
            assert sum(math.prod(p.shape) for p in mine.parameters) == (cost or 0), (net.name, layer.name)
            checked += 1
        assert sum(math.prod(p.shape) for x in ir.layers for p in x.parameters) == sum(c or 0 for _, c in want.values())
    assert checked == 3 + 13 + 5


def test_vat_names_and_variables_equal_create_prototxt(imported):
    """nnabla's parameters are the spec's (by nnabla's names); a WorkingMemory is a Buffer of the batch
    named after the layer with the layer's initializer, not a parameter; VATNoise's eps and base_axis
    and the optimizers' learning-rate multipliers of the buffers are the spec's."""
    _, _, result = imported
    nntxt = _json("vat_layers.nntxt.json")
    table = nnc_parameter_table(result.project)
    theirs = {
        name: v["shape"]
        for net, body in nntxt.items()
        if net != "optimizers"
        for name, v in body["variables"].items()
        if v["type"] == "Parameter"
    }
    assert {n: list(s) for n, s in table.values()} == theirs
    for net in result.project.networks:
        body = nntxt[net.name]
        for layer in net.layers:
            if layer.type == "WorkingMemory":
                v = body["variables"][layer.name]
                assert v["type"] == "Buffer" and v["shape"] == [-1, *layer.params["size"]]
                assert v["initializer"] == [layer.params["init"], layer.params["init_multiplier"]]
                lrate = nntxt["optimizers"].get(f"Opt{net.name}", {}).get(layer.name)
                assert lrate in (None, layer.params["lrate_multiplier"])
            if layer.type == "VATNoise":
                (f,) = [
                    f
                    for f in body["functions"].values()
                    if f["type"] == "VATNoise" and f["eps"] == layer.params["epsilon"]
                ]
                assert f["base_axis"] == layer.params["base_axis"] + 1  # nnabla counts the batch axis
                assert f["inputs"][0] == f["inputs"][1]  # x and Buf: the same WorkingMemory
    assert nntxt["optimizers"]["OptVat"]["r"] == 1.0 and nntxt["optimizers"]["OptVat"]["r0"] == 0.0


def test_a_parameter_layer_linked_as_data_gets_a_positioned_error(tmp_path):
    """NNC accepts a Parameter layer in an Affine's b connector (its complete gives it the bias's
    shape; nndsl imports that as `b=`, tests/nnc/test_nnc_parameter_layer.py) and gives a Parameter
    linked as data no shape, which nndsl refuses too: one E0981 at that Parameter layer's section,
    nothing written."""
    fixture = _json("parameter_layers.complete.json")
    assert fixture["networks"]["IntoBias"]["bias_p"] == [[3], 3]
    assert fixture["networks"]["IntoData"]["Add2_p"][0] == []
    assert any("Add2_p->Output : Empty property" in e for e in fixture["error_check"])
    out = tmp_path / "p.nnd"
    done = _nndsl("import", str(PARAMETER), "-o", str(out), "--format", "json")
    assert done.returncode == 1 and not out.exists() and "Traceback" not in done.stderr
    found = [d for d in json.loads(done.stdout)["diagnostics"] if d["code"] == "E0981"]
    lines = PARAMETER.read_text().splitlines()
    assert sorted(lines[d["line"] - 1] for d in found) == ["[IntoData_Layer_1]"]
    messages = " | ".join(d["message"] for d in found)
    assert "'offset' is a Parameter layer linked into the data input of Add2 'Add2_p'" in messages


def test_a_layer_linked_into_a_weight_connector_is_refused(tmp_path):
    """A link from any other layer into Affine's W connector: positioned E0981 at the Affine."""
    text = VAT.read_text().replace(
        "[Vat_Link_7]\nID=7\nSourceLayerID=0\nSourcePinIndex=0\nDestLayerID=8\nDestPinIndex=0",
        "[Vat_Link_7]\nID=7\nSourceLayerID=0\nSourcePinIndex=0\nDestLayerID=10\nDestPinIndex=1",
    )
    assert text != VAT.read_text()
    src = tmp_path / "w.sdcproj"
    src.write_text(text)
    done = _nndsl("import", str(src), "-o", str(tmp_path / "w.nnd"), "--format", "json")
    assert done.returncode == 1, done.stdout
    (d,) = [d for d in json.loads(done.stdout)["diagnostics"] if "connector" in d["message"]]
    assert "Input 'x' is linked into the W connector of Affine 'fc_2'" in d["message"]
    assert text.splitlines()[d["line"] - 1] == "[Vat_Layer_10]"


@pytest.mark.parametrize("suffix", [".sdcproj", ".nntxt"])
def test_export_is_the_one_nnc_and_nnabla_checked(imported, tmp_path, suffix):
    """`nndsl export` of the imported project writes what the fixture holds, which NNC's tool and
    nnabla checked when the fixtures were made (the next tests)."""
    _, spec, _ = imported
    out = tmp_path / f"vat{suffix}"
    done = _nndsl("export", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == (FIXTURES / f"vat_layers.export{suffix}").read_text()


def _comparable(summary: dict) -> dict:
    """Per network: the functions by type (VATNoise with its arguments), the parameters and the
    buffers with initializers; the optimizers' multipliers."""
    out = {}
    for net, body in summary.items():
        if net == "optimizers":
            continue
        functions = sorted(
            (f["type"], f.get("eps"), f.get("base_axis"), len(f["inputs"])) for f in body["functions"].values()
        )
        variables = {n: v for n, v in body["variables"].items() if v["type"] == "Parameter" or v["initializer"]}
        out[net] = {"functions": functions, "variables": variables}
    out["optimizers"] = summary["optimizers"]
    return out


def test_export_converts_in_nnc_to_the_original_network():
    """export(import(project)): NNC's error_check finds nothing, and create_prototxt makes the same
    networks of it as of the original (functions, parameters, buffers, multipliers)."""
    verdict = _json("vat_layers.export.complete.json")
    assert verdict["error_check"] == []
    assert _comparable(_json("vat_layers.export.nntxt.json")) == _comparable(_json("vat_layers.nntxt.json"))
    original = _json("vat_layers.complete.json")["networks"]
    for net, layers in verdict["networks"].items():
        assert sorted(json.dumps(v) for v in layers.values()) == sorted(json.dumps(v) for v in original[net].values())


def test_exported_nntxt_runs_in_nnabla_as_the_original():
    with (
        np.load(FIXTURES / "vat_nnabla.npz", allow_pickle=False) as a,
        np.load(FIXTURES / "vat_export_nnabla.npz", allow_pickle=False) as b,
    ):
        assert set(b.files) <= set(a.files) and "r_after" in b.files
        for key in b.files:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_import_of_the_export_has_the_spec_s_ir(imported, tmp_path):
    """import(export(spec)): the same networks, layers, shapes, parameters and buffers."""
    _, spec, result = imported
    out = tmp_path / "vat.sdcproj"
    assert _nndsl("export", str(spec), "-o", str(out)).returncode == 0
    tr = translate(read_sdcproj(out))
    assert tr.ok, [str(p) for p in tr.problems]
    again = tmp_path / "again.nnd"
    again.write_text(tr.text)
    second = compile_file(again)
    assert second.project is not None

    def ir(project):
        return {
            net.name: sorted(
                (x.type, tuple(net.value(x.outputs[0]).shape), tuple((p.name, p.shape) for p in x.parameters))
                for x in net.layers
            )
            for net in project.networks
        }

    assert ir(second.project) == ir(result.project)
    assert nnc_parameter_table(second.project) == nnc_parameter_table(result.project)


# --- live: NNC's tool and nnabla on what nndsl writes now -------------------------------------------


@pytest.mark.skipif(not (NNC_TOOL / "nncd_console_cli_util").exists(), reason="NNC's project tool is not here")
def test_live_nnc_accepts_the_export(imported, tmp_path):
    sys.path.insert(0, str(TOOLS))
    try:
        import nnc_extra_layers_fixtures as tool
    finally:
        sys.path.remove(str(TOOLS))
    _, spec, _ = imported
    out = tmp_path / "vat.sdcproj"
    assert _nndsl("export", str(spec), "-o", str(out)).returncode == 0
    layers, errors, nntxt = tool.run_tool(NNC_TOOL, out, tmp_path)
    assert errors == [] and nntxt is not None
    assert layers == _json("vat_layers.export.complete.json")["networks"]
    original, _, _ = tool.run_tool(NNC_TOOL, VAT, tmp_path)
    assert original == _json("vat_layers.complete.json")["networks"]


@pytest.mark.skipif(not NNABLA_PYTHON.exists(), reason="no Python with nnabla here")
def test_live_nnabla_runs_the_exported_nntxt(imported, tmp_path):
    _, spec, _ = imported
    out = tmp_path / "vat.nntxt"
    assert _nndsl("export", str(spec), "-o", str(out)).returncode == 0
    code = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import nnc_extra_layers_fixtures as t;"
        "first = dict(np.load(sys.argv[2])); np.savez(sys.argv[4], **t.nnabla_run("
        "__import__('pathlib').Path(sys.argv[3]), 'KLMultinomial', 'Softmax', first))"
    )
    run = [str(NNABLA_PYTHON), "-c", code, str(TOOLS), str(FIXTURES / "vat_nnabla.npz"), str(out), str(tmp_path / "r")]
    done = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(tmp_path / "r.npz") as got, np.load(FIXTURES / "vat_nnabla.npz") as want:
        for key in ("vat_kl", "r_after", "r0_after", "grad:fc/affine/W", "use_pred"):
            np.testing.assert_allclose(got[key], want[key], rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_nnabla_parameter_file_of_a_vat_project_loads_and_saves(imported, tmp_path, backend):
    """nnabla's own .h5 of the VAT project (its parameters; the WorkingMemory buffers are no parameters
    and are not in it) loads into the generated project with nnabla's values, and the project's .h5
    holds exactly nnabla's names."""
    pytest.importorskip("h5py")
    pytest.importorskip(backend)
    sys.path.insert(0, str(HERE.parent))
    from conftest import import_generated

    if backend == "torch":
        from nndsl.backends.torch import generate
    else:
        from nndsl.backends.keras import generate
    _, _, result = imported
    generate(result.project, tmp_path / backend)
    model = import_generated(tmp_path / backend).create_model()
    with np.load(FIXTURES / "vat_nnabla.npz", allow_pickle=False) as npz:
        saved = sorted(str(n) for n in npz["nnabla_saved"])
        values = {k[len("param:") :]: npz[k] for k in npz.files if k.startswith("param:")}
    assert sorted(n for n, _ in model.nnabla_names().values()) == saved
    model.load_params(FIXTURES / "vat_nnabla_params.h5")
    model.save_params(tmp_path / "mine.npz")
    with np.load(tmp_path / "mine.npz", allow_pickle=False) as mine:
        for name, (nnabla, shape) in model.nnabla_names().items():
            np.testing.assert_array_equal(mine[name].reshape(shape), values[nnabla], err_msg=name)
    model.save_params(tmp_path / "mine.h5")
    import h5py

    with h5py.File(tmp_path / "mine.h5", "r") as f:
        names = []
        f.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) else None)
    assert sorted(names) == saved


def test_nncs_nntxt_of_the_project_imports_to_the_same_ir(imported, tmp_path):
    """create_prototxt's .nntxt of the VAT project (WorkingMemory as a Buffer with an initializer)
    imports to the networks the .sdcproj imports to."""
    _, _, result = imported
    out = tmp_path / "from_nntxt.nnd"
    done = _nndsl("import", str(FIXTURES / "vat_layers.nntxt"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    again = compile_file(out)
    assert again.project is not None

    def ir(project):
        return {
            net.name: sorted(
                (x.type, tuple(net.value(x.outputs[0]).shape), tuple((p.name, p.shape) for p in x.parameters))
                for x in net.layers
            )
            for net in project.networks
        }

    assert ir(again.project) == ir(result.project)
    memories = {x.name: x.params for net in again.project.networks for x in net.layers if x.type == "WorkingMemory"}
    assert memories["r"]["lrate_multiplier"] == 1.0 and memories["r0"]["init"] == "Uniform"
    assert memories["r0"]["init_multiplier"] == 2.0
