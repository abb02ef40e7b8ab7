"""nndsl/nnc/components.py, the one table of NNC's layers, is what tools/gen_nnc_components.py makes of
the layer definitions of NNC's own project tool."""

from __future__ import annotations

import importlib.util
import re

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


def _layer_defaults(text: str) -> dict[str, tuple[str, tuple[str, ...], list[tuple[str, str, tuple[str, ...]]]]]:
    """nnc-samples/layer_defaults.txt, a one-line-a-layer digest of NNC's layer definitions:
    type -> (category, pins, [(property, default, choices)])."""
    line_re = re.compile(r"^(?P<cat>[^/]+)/(?P<type>\w+)(?: \[inputs: (?P<pins>[^\]]*)\])?:(?P<props>.*)$")
    prop_re = re.compile(r"^(?P<name>[\w.]+)=(?P<value>[^{]*?)(?: \{(?P<choices>[^}]*)\})?$")
    out = {}
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        m = line_re.match(line)
        props = [prop_re.match(item) for item in filter(None, (p.strip() for p in m["props"].split(";")))]
        pins = tuple(p.strip() for p in m["pins"].split(",")) if m["pins"] else ()
        listed = [(p["name"], p["value"].strip(), tuple(filter(None, (p["choices"] or "").split("|")))) for p in props]
        out[m["type"]] = (m["cat"], pins, listed)
    return out


def test_layer_defaults_digest_agrees_with_the_table():
    """The shared layer_defaults.txt (derived from the same definitions) has the same types in the same
    order, categories, pins, and for every property it lists the table's default and choices, in the
    table's order. It leaves out what a project holds for every parameter (ParameterScope,
    `<p>.File`, `<p>.LRateMultiplier`) and what NNC computes (BaseAxis of Affine...), and it lists no
    choices for a Parameter's Initializer and an Argument's Type, where NNC's files list them."""
    tools = ec.find_nnc_tools()  # shared/nnc-tools, beside shared/nnc-samples
    src = tools.parent / "nnc-samples" / "layer_defaults.txt" if tools else None
    if src is None or not src.exists():
        pytest.skip("shared/nnc-samples is not on this machine (NNDSL_NNC_TOOLS or ../shared)")
    digest = _layer_defaults(src.read_text(encoding="utf-8"))
    assert list(digest) == list(COMPONENTS)
    for t, (category, pins, props) in digest.items():
        entry = COMPONENTS[t]
        assert (category, pins) == (entry["category"], tuple(c.name for c in entry["connectors"])), t
        every = {p.name: p for p in entry["properties"]}
        assert [n for n, _, _ in props] == [n for n in every if n in dict.fromkeys(n for n, _, _ in props)], t
        for name, default, choices in props:
            assert every[name].editable and every[name].default == default, (t, name)
            if (t, name) not in (("Parameter", "Initializer"), ("Argument", "Type")):
                assert every[name].choices == choices, (t, name)
            else:
                assert not choices and every[name].choices, (t, name)
        left_out = {n for n, p in every.items() if p.editable} - {n for n, _, _ in props}
        assert all(n == "ParameterScope" or n.endswith((".File", ".LRateMultiplier")) for n in left_out), t
