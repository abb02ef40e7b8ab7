"""NNC's Unit layers of empty ParameterScope as nndsl's scope-less unit calls (`_: Unit`).

- Import: the VGG-11 and SqueezeNet samples call their model from every network through such a
  Unit; the import writes the model once, as a `unit`, and `_:` calls to it (no copies).
- Export: a `_:` call is a Unit layer of empty ParameterScope, which NNC's own tool accepts and
  converts with the spec's parameter names (fixtures/scopeless/nnc.json, written by
  tools/nnc_scopeless_fixtures.py with NNC's tool; the live test runs the tool where it is).
- Round trip: importing the export gives the spec's layers, shapes and parameter names back.
- Two such Units calling one network in one network share their parameters in NNC, which nndsl
  cannot say inside one network: the importer refuses them with the Unit layer's position.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

from nndsl.compiler import compile_file
from nndsl.nnc import export_check as ec
from nndsl.nnc.export import Exporter, export_parameter_table
from nndsl.nnc.importer import import_project
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.sdcproj import read_sdcproj
from nndsl.nnc.sdcproj_write import sdcproj_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLES = HERE / "samples"
FIX = HERE / "fixtures" / "scopeless"
SPEC = FIX / "scopeless.nnd"
SCOPELESS_SAMPLES = ["image_recognition_ILSVRC2012_vgg_vgg-11", "image_recognition_ILSVRC2012_squeezenet_squeezenet11"]


def _tool():
    spec = importlib.util.spec_from_file_location("nnc_scopeless_fixtures", ROOT / "tools/nnc_scopeless_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fixture() -> dict:
    return json.loads((FIX / "nnc.json").read_text(encoding="utf-8"))


def _export(spec: Path) -> tuple[str, Exporter]:
    result = compile_file(spec)
    assert result.ok, [str(d) for d in result.diagnostics]
    exporter = Exporter(result)
    return sdcproj_text(exporter.export()), exporter


def _unit_layers(text: str) -> list[tuple[str, str, str]]:
    """(Name, Network, ParameterScope) of every Unit layer of an .sdcproj."""
    out = []
    for section in re.split(r"\n(?=\[)", text):
        if "\nType=Unit\n" not in section:
            continue
        props = dict(re.findall(r"Property_\d+_Name=(.*)\nProperty_\d+_Value=(.*)", section))
        out.append((props["Name"], props["Network"], props["ParameterScope"]))
    return out


def _nnabla_names(table_names) -> set[str]:
    """nnabla's names with every repeat index, `[2]` or NNC's `{RepeatStart}`, as `[]`."""
    return {re.sub(r"\{[^}]*\}", "[]", re.sub(r"\[\d+\]", "[]", name)) for name in table_names}


# --- import ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", SCOPELESS_SAMPLES)
def test_import_writes_the_model_once_as_a_unit_called_without_scope(stem, tmp_path):
    sample = SAMPLES / f"{stem}.sdcproj"
    text, diagnostics = import_project(sample, str(tmp_path / f"{stem}.nnd"))
    assert text is not None, [d.message for d in diagnostics]
    nnc = read_sdcproj(sample)
    empty = {
        layer.props["Network"].strip()
        for net in nnc.networks
        for layer in net.layers
        if layer.type == "Unit" and layer.props.get("ParameterScope", "*Name").strip() == ""
    }
    assert empty, "the sample calls its model through Units of empty scope"
    units = dict(re.findall(r"^unit (\w+)\(?[^\n]*\{\n(.*?)^\}", text, re.MULTILINE | re.DOTALL))
    networks = dict(re.findall(r"^network (\w+) \{\n(.*?)^\}", text, re.MULTILINE | re.DOTALL))
    assert empty <= set(units)
    calls = {name for body in networks.values() for name in re.findall(r"_: (\w+)", body)}
    assert calls == empty
    # no copies: each parametric label of a unit is in that unit only, never in a network
    for unit in empty:
        labels = re.findall(r"(\w+): (?:Convolution|Affine)\(", units[unit])
        assert labels
        for body in networks.values():
            assert not re.findall(r"\b(\w+): (?:Convolution|Affine)\(", body)
    # and the unit's parameters have the caller's names: no `VGG11/` scope
    result = compile_file(tmp_path / f"{stem}.nnd", text=text)
    assert result.ok, [str(d) for d in result.diagnostics]
    names = {n for n, _ in nnc_parameter_table(result.project).values()}
    assert not any(n.split("/")[0] in empty for n in names)


def test_two_units_of_empty_scope_calling_one_network_in_one_network_are_refused(tmp_path):
    """NNC gives both one set of parameters (the fixture: `conv1/conv/W` once); nndsl has no
    layers sharing parameters inside one network: a positioned error, no traceback."""
    record = _fixture()["two_calls"]
    assert record["create_prototxt"] and record["parameters"]["Training"].count("conv1/conv/W") == 1
    text = _tool().two_calls_sdcproj(tmp_path)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == record["sha256"]
    src = tmp_path / "two.sdcproj"
    src.write_text(text, encoding="utf-8")
    out, diagnostics = import_project(src, str(tmp_path / "two.nnd"))
    assert out is None
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors and all("one set of parameters" in d.message for d in errors), [d.message for d in errors]
    assert all(d.span.path.endswith("two.sdcproj") and d.span.line > 0 for d in errors)
    assert any("[Training_Layer_" in d.message for d in errors)


# --- export ---------------------------------------------------------------------------------


def test_export_writes_scope_less_calls_as_units_of_empty_scope():
    text, _ = _export(SPEC)
    units = _unit_layers(text)
    by_scope = {(network, scope) for _, network, scope in units}
    # Model from both networks, Block and Head inside Model: empty; `stage: Block`: scoped
    assert ("Model", "") in by_scope and ("Block", "") in by_scope and ("Head", "") in by_scope
    assert ("Block", "*Name") in by_scope
    assert sum(1 for _, network, scope in units if network == "Model") == 2


def test_export_is_accepted_by_nnc_with_the_specs_parameter_names():
    """NNC's error_check finds nothing, create_prototxt converts it, and the parameters it
    creates in every network are the spec's nnabla names (nndsl.nnc.names), caller-scoped."""
    record = _fixture()["export"]
    text, exporter = _export(SPEC)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == record["sha256"]
    assert record["error_check"] == "No errors were found." and record["create_prototxt"]
    table = export_parameter_table(exporter)
    assert table == nnc_parameter_table(exporter.project)
    mine = _nnabla_names(name for name, _ in table.values())
    assert "conv1/conv/W" in mine and "stage/conv1/conv/W" in mine and "[]/conv1/conv/W" in mine
    for network, names in record["parameters"].items():
        assert _nnabla_names(names) == mine, network


def test_nncs_tool_accepts_the_export_live(tmp_path):
    tools = ec.find_nnc_tools()
    if tools is None:
        pytest.skip("NNC's project tool is not here (NNDSL_NNC_TOOLS); the fixture test covers the claim")
    text, exporter = _export(SPEC)
    sdcproj = tmp_path / "scopeless.sdcproj"
    sdcproj.write_text(text, encoding="utf-8")
    verdict = ec.run_nnc(tools, sdcproj)
    assert verdict["error_check"] == "No errors were found." and verdict["create_prototxt"]
    found = _tool().parameters(sdcproj.with_suffix(".nntxt").read_text(encoding="utf-8"))
    assert found == _fixture()["export"]["parameters"]


def test_import_of_the_export_is_the_spec(tmp_path):
    """import(export(spec)): the same scope-less calls, layers, shapes and parameter names."""
    text, _ = _export(SPEC)
    sdcproj = tmp_path / "scopeless.sdcproj"
    sdcproj.write_text(text, encoding="utf-8")
    back, diagnostics = import_project(sdcproj, str(tmp_path / "back.nnd"))
    assert back is not None, [d.message for d in diagnostics]
    assert "-> _: Model" in back and "_: Block" in back and "stage: Block" in back

    def summary(result):
        assert result.ok, [str(d) for d in result.diagnostics]
        nets = {
            net.name: sorted((layer.name, layer.type, net.value(layer.outputs[0]).shape) for layer in net.layers)
            for net in result.project.networks
        }
        return nets, nnc_parameter_table(result.project)

    original = summary(compile_file(SPEC))
    again = summary(compile_file(tmp_path / "back.nnd", text=back))
    assert again[1] == original[1]  # nndsl's parameter names and nnabla's, shapes
    for name, layers in original[0].items():
        parametric = [x for x in layers if x[1] in ("Convolution", "Affine")]
        assert [x for x in again[0][name] if x[1] in ("Convolution", "Affine")] == parametric, name
        assert sorted((t, s) for _, t, s in again[0][name]) == sorted((t, s) for _, t, s in layers), name
