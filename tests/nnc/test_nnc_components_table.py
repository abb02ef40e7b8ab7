"""nndsl/nnc/components.py, the one table of NNC's layers, is what tools/gen_nnc_components.py makes of
the layer definitions of NNC's own project tool."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT

from nndsl.nnc import export_check as ec
from nndsl.nnc.components import COMPONENTS, SOLVERS


def _generator():
    spec = importlib.util.spec_from_file_location("gen_nnc_components", ROOT / "tools" / "gen_nnc_components.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_table_is_generated_from_nncs_tool():
    tools = ec.find_nnc_tools()
    if tools is None:
        pytest.skip("NNC's project tool is not on this machine (NNDSL_NNC_TOOLS or ../shared/nnc-tools)")
    folder = tools / "nncd_console" / "settings" / "NNabla"
    gen = _generator()
    assert gen.layers(folder) == COMPONENTS
    assert list(gen.layers(folder)) == list(COMPONENTS)  # NNC's order
    assert gen.solvers((folder / "solver_component.txt").read_text("utf-8-sig")) == SOLVERS


def test_generator_reads_a_layer_definition(tmp_path):
    """A layer file as NNC writes one: its option list, the connectors, the flags of an nnabla
    argument; Input, Output and the costs NNC computes are left out, an editable Output is kept; a
    type the list comments out is no NNC layer."""
    root = tmp_path / "layer_component"
    (root / "Basic").mkdir(parents=True)
    (root / "layer_component.txt").write_text("[Category]\nBasic\n[Basic]\nConv\n;Hidden\n", encoding="utf-8")
    (root / "Basic" / "Conv.txt").write_text(
        "[Global]\nParameterScope=conv\n[InputSideConnector]\nW\nb\n"
        "[InputSideConnector_W]\nKind=Parameter\n[InputSideConnector_b]\nKind=Parameter\nEnable=*WithBias\n"
        "[Property]\nInput\nMode\nBaseAxis\nOutput\nCostAdd\n"
        "[Property_Input]\nEditable=False\nType=PIntArray\nValue=*GraphInput\n"
        "[Property_Mode]\nType=Option\nValue=same\n[Property_Mode_Option]\nvalid\nsame\n"
        "[Property_BaseAxis]\nType=UInt\nValue=0\nArgumentName=conv_param.base_axis -a -n\nEditable=False\n"
        "[Property_Output]\nType=PIntArray\nValue=*Input\n"
        "[Property_CostAdd]\nEditable=False\nType=UInt\nValue=*Output\n",
        encoding="utf-8",
    )
    (root / "Basic" / "Hidden.txt").write_text("[Property]\n", encoding="utf-8")
    table = _generator().layers(tmp_path)
    assert list(table) == ["Conv"]
    conv = table["Conv"]
    assert (conv["category"], conv["scope"]) == ("Basic", "conv")
    assert conv["connectors"] == (("W", "Parameter", "True"), ("b", "Parameter", "*WithBias"))
    assert conv["properties"] == (
        ("Mode", "Option", "same", "", (), True, ("valid", "same")),
        ("BaseAxis", "UInt", "0", "conv_param.base_axis", ("-a", "-n"), False, ()),
        ("Output", "PIntArray", "*Input", "", (), True, ()),
    )
