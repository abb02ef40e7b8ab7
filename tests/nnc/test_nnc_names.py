"""nnabla's parameter names and shapes for nndsl layers (`nndsl.nnc.names`) against what NNC
itself writes: every parametric layer type, nested repeats, units, a unit in a repeat and a
repeat in a unit.

The fixtures (tests/nnc/fixtures/names/*.json) hold a small .sdcproj per case, the Parameter
variables NNC's `create_prototxt` wrote for it and the parameters nnabla created loading that
.nntxt; tools/nnc_names_fixtures.py regenerates them. With NNC's tool present the live test
converts the projects again and must get the same variables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.compiler import compile_file
from nndsl.layers import REGISTRY
from nndsl.nnc.components import COMPONENTS
from nndsl.nnc.names import FUNCTION_SCOPES, nnc_parameter_table

HERE = Path(__file__).resolve().parent
FIXTURES = sorted((HERE / "fixtures" / "names").glob("*.json"))
ROOT = HERE.parent.parent
TOOL = Path(os.environ.get("NNDSL_NNC_TOOLS", ROOT.parent.parent / "shared" / "nnc-tools" / "nncd_console"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _compiled_table(spec: str, tmp_path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    src = tmp_path / "case.nnd"
    src.write_text(spec, encoding="utf-8")
    result = compile_file(src)
    assert result.ok, [str(d) for d in result.diagnostics]
    return nnc_parameter_table(result.project)


@pytest.mark.parametrize("fixture", [f for f in FIXTURES if _load(f)["spec"]], ids=lambda f: f.stem)
def test_nndsl_names_are_nncs(fixture: Path, tmp_path: Path) -> None:
    """nnc_parameter_table of the case's .nnd equals, name for name and shape for shape, the
    parameters nnabla created from the .nntxt NNC's create_prototxt wrote for the .sdcproj."""
    case = _load(fixture)
    table = _compiled_table(case["spec"], tmp_path)
    ours = sorted((name, list(shape)) for name, shape in table.values())
    nnabla = sorted((p["name"], p["shape"]) for p in case["nnabla"])
    assert ours == nnabla


def _expand(variables: list[dict], times: dict[str, int]) -> list[tuple[str, list[int]]]:
    """nnabla's expansion of repeat copies (utils/converter/nnabla/expander.py): each
    `{RepeatId}` in a name becomes `[i]` for i in range(times), outer repeats first."""
    out = []
    for v in variables:
        names = [v["name"]]
        for rid in re.findall(r"\{([^}]*)\}", v["name"]):
            count = times[rid.rsplit("/", 1)[-1]]  # a repeat inside a unit: "unit/RepeatStart"
            names = [n.replace("{" + rid + "}", f"[{i}]", 1) for n in names for i in range(count)]
        out += [(n, v["shape"]) for n in names]
    return out


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.stem)
def test_fixture_is_consistent(fixture: Path) -> None:
    """What create_prototxt wrote, expanded by nnabla's repeat rule, is what nnabla created:
    the fixtures' two halves agree, and the rule names.py states (`X{R}` -> `X[i]`, nested
    repeats outer first) is nnabla's."""
    case = _load(fixture)
    times = {
        m[1]: int(m[2])
        for m in re.finditer(r"Property_0_Value=(\S+)\nProperty_1_Name=Times\nProperty_1_Value=(\d+)", case["sdcproj"])
    }
    assert sorted(_expand(case["create_prototxt"], times)) == sorted((p["name"], p["shape"]) for p in case["nnabla"])


def test_every_parametric_type_is_covered() -> None:
    """Every registry type whose NNC pins are parameters has its function scope, and a fixture
    shows what NNC writes for it."""
    covered = {m[1] for f in FIXTURES for m in re.finditer(r"^Type=(\w+)$", _load(f)["sdcproj"], re.M)}
    pins = {"W", "slope", "mean", "beta"}
    parametric = {t for t, e in COMPONENTS.items() if t in REGISTRY and {c.name for c in e["connectors"]} & pins}
    assert parametric == set(FUNCTION_SCOPES)
    assert parametric <= covered


def test_unit_without_scope_fixture() -> None:
    """NNC's Unit with an empty ParameterScope opens no scope (the ILSVRC samples' Training
    networks call their model unit that way): its layers' parameters keep their own names."""
    case = _load(HERE / "fixtures" / "names" / "unit_without_scope.json")
    assert [p["name"] for p in case["nnabla"]][:2] == ["conv1/conv/W", "conv1/conv/b"]


@pytest.mark.skipif(not (TOOL / "nncd_console_cli_util").exists(), reason=f"NNC's tool not found at {TOOL}")
def test_live_create_prototxt_matches_fixtures(tmp_path: Path) -> None:
    """NNC's create_prototxt, run now on the fixtures' projects, writes the same variables."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import nnc_names_fixtures as tool
    finally:
        sys.path.pop(0)
    for fixture in FIXTURES:
        case = _load(fixture)
        src = tmp_path / f"{fixture.stem}.sdcproj"
        src.write_text(case["sdcproj"].replace("\n", "\r\n"), encoding="utf-8")
        out = tmp_path / f"{fixture.stem}.nntxt"
        subprocess.run(
            [str(TOOL / "nncd_console_cli_util"), "create_prototxt", "-i", str(src), "-o", str(out),
             "-p", str(tmp_path / "p.csv")],
            cwd=TOOL, check=True, capture_output=True,
        )  # fmt: skip
        assert tool.nntxt_parameters(out.read_text(encoding="utf-8"), "Main") == case["create_prototxt"], fixture.stem
