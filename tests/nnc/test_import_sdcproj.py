"""`nndsl import` of NNC's sample projects, checked against what NNC's own tool computed.

The fixtures (tests/nnc/fixtures/complete/<stem>.json, made by tools/nnc_complete_fixtures.py
with NNC's `complete` and `create_prototxt`) hold, per network, every layer's output shape and
parameter count and the parameter names nnabla gets.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.sdcproj import parse_sdcproj, read_sdcproj
from nndsl.nnc.to_nnd import translate
from nndsl.syntax.parser import parse

HERE = Path(__file__).resolve().parent
# NNC's samples, and small projects written for these tests (NNC's error_check accepts them)
SAMPLES = sorted((HERE / "samples").glob("*.sdcproj")) + sorted((HERE / "fixtures/import_cases").glob("*.sdcproj"))
RECURRENT = "tutorial_recurrent_neural_networks_elman_net"


def _import(sample: Path, tmp_path: Path):
    """The sample's import and its compile (with lint), once per sample for the whole module."""
    if sample not in _IMPORTED:
        tr = translate(read_sdcproj(sample))
        assert tr.ok, [str(p) for p in tr.problems]
        spec = tmp_path / f"{sample.stem}.nnd"
        spec.write_text(tr.text)
        _IMPORTED[sample] = (tr, compile_file(spec, lint=True))
    return _IMPORTED[sample]


_IMPORTED: dict[Path, tuple] = {}


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.stem != RECURRENT], ids=lambda p: p.stem)
def test_sample_imports_clean_and_canonical(sample, tmp_path):
    tr, result = _import(sample, tmp_path)
    module, diags = parse(tr.text, "x.nnd")
    assert not diags
    assert format_module(module) == tr.text  # fmt leaves it unchanged
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert not errors, errors
    # A project without monitors (the hand-made one) leaves NNC's derived MainValidation unused.
    allowed = set() if read_sdcproj(sample).section("Monitor") else {"W103"}
    warnings = [d for d in result.diagnostics if d.severity == "warning" and d.code not in allowed]
    assert not warnings, warnings


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.stem != RECURRENT], ids=lambda p: p.stem)
def test_sample_shapes_and_parameters_equal_nnc(sample, tmp_path):
    fixture = json.loads((HERE / "fixtures/complete" / f"{sample.stem}.json").read_text())
    tr, result = _import(sample, tmp_path)
    project = result.project
    nnc = read_sdcproj(sample)
    checked = 0
    for net in nnc.networks:
        want = fixture[net.name]["layers"]
        names = tr.layer_names.get(net.name)
        if names is None:  # a unit network: its layers are checked through its callers' totals
            continue
        ir = project.network(net.name)
        by_name = {layer.name: layer for layer in ir.layers}
        for layer in net.layers:
            if layer.type in ("RepeatStart", "RepeatEnd", "Comment", "Argument", "Unit"):
                continue
            assert layer.name in names, f"{net.name}: NNC layer {layer.name} not found"
            mine = by_name[names[layer.name]]
            shape, cost = want[layer.name]
            out = ir.value(mine.outputs[0]).shape
            assert list(out) == shape, (net.name, layer.name, out, shape)
            count = sum(math_prod(p.shape) for p in mine.parameters)  # NNC counts BN's mean and var too
            assert count == cost, (net.name, layer.name, count, cost)
            checked += 1
        # the network's total: NNC counts a repeat's body once (per copy), a Unit layer as its whole network
        layer_types = {layer.name: layer.type for layer in net.layers}
        nnc_total = sum(c for name, (_, c) in want.items() if layer_types.get(name) not in ("RepeatStart", "RepeatEnd"))
        mine_total = sum(
            math_prod(p.shape)
            for layer in ir.layers
            if not layer.repeats or all(c == 0 for _, c, _ in layer.repeats)
            for p in layer.parameters
        )
        assert mine_total == nnc_total, (net.name, mine_total, nnc_total)
    assert checked > 0
    # parameter names: nnabla's (create_prototxt's, with a repeat's copies as {RepeatStart})
    table = nnc_parameter_table(project)
    mine = {re.sub(r"\[\d+\]", "[]", name) for name, _ in table.values()}
    theirs = set()
    for net in fixture.values():
        theirs |= {re.sub(r"\{[^}]*\}", "[]", name) for name in net.get("parameters", [])}
    assert mine == theirs, (sorted(mine - theirs)[:5], sorted(theirs - mine)[:5])


def math_prod(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def test_recurrent_sample_gets_positioned_diagnostics(tmp_path):
    sample = HERE / "samples" / f"{RECURRENT}.sdcproj"
    out = tmp_path / "elman.nnd"
    proc = subprocess.run(
        [sys.executable, "-m", "nndsl", "import", str(sample), "-o", str(out), "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    found = {(d["line"], d["message"].split("]")[0] + "]") for d in report["diagnostics"] if d["code"] == "E0981"}
    # RecurrentInput, Delay and RecurrentOutput, each at its own section's line
    assert {m for _, m in found} == {"[Layer_3]", "[Layer_4]", "[Layer_9]"}
    lines = sample.read_text().splitlines()
    for line, section in found:
        assert lines[line - 1] == section
    assert not out.exists()
    assert "Traceback" not in proc.stderr


def test_cli_writes_once_and_refuses_to_overwrite(tmp_path):
    sample = HERE / "samples" / "tutorial_basics_01_logistic_regression.sdcproj"
    out = tmp_path / "lr.nnd"
    run = [sys.executable, "-m", "nndsl", "import", str(sample), "-o", str(out)]
    first = subprocess.run(run, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    text = out.read_text()
    assert "network Main {" in text and "network MainValidation = Main with {}" in text
    out.write_text("# mine\n")
    second = subprocess.run(run, capture_output=True, text=True)
    assert second.returncode == 1 and "E0961" in second.stderr
    assert out.read_text() == "# mine\n"
    third = subprocess.run([*run, "--force"], capture_output=True, text=True)
    assert third.returncode == 0 and out.read_text() == text
    usage = subprocess.run(
        [sys.executable, "-m", "nndsl", "import", str(tmp_path / "x.txt"), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 2


def _edited_squeezenet(case: str) -> str:
    """The edit tools/nnc_complete_fixtures.py (edited_squeezenet) gave NNC's create_prototxt: that
    script's own function, so that the test and the fixture cannot drift apart."""
    spec = importlib.util.spec_from_file_location(
        "nnc_complete_fixtures", HERE.parent.parent / "tools/nnc_complete_fixtures.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.edited_squeezenet(case)


@pytest.mark.parametrize("case", ["inner", "outer"])
def test_per_instance_unit_properties_as_nnc_resolves_them(case, tmp_path):
    """A unit layer's property set per instance becomes a unit argument; where instances nest,
    the outermost instance's value wins, as in NNC's create_prototxt (the fixture)."""
    want = json.loads((HERE / "fixtures/complete/unit_overrides.json").read_text())[case]
    tr = translate(parse_sdcproj(_edited_squeezenet(case).encode(), "sq.sdcproj"))
    assert tr.ok, [str(p) for p in tr.problems]
    spec = tmp_path / "sq.nnd"
    spec.write_text(tr.text)
    result = compile_file(spec)
    assert result.ok, result.diagnostics
    got = {}
    for net in result.project.networks:
        layer = next(x for x in net.layers if x.name == "FireModule_2.Squeeze")
        got[net.name] = layer.params["w_init_multiplier"]
    assert got == want
    # SqueezeNet is a unit called without a scope: the nested property becomes its argument,
    # which it passes on to FireModule_2
    # (on one line, whichever lines fmt wraps the calls on)
    text = re.sub(r"\(\s+", "(", re.sub(r",?\s+\)", ")", tr.text))
    assert "FireModule_2: FireModule(squeeze_w_init_multiplier=fire_module_2_squeeze_w_init_multiplier)" in text
    if case == "outer":
        assert "_: SqueezeNet(fire_module_2_squeeze_w_init_multiplier=3.0)" in text


LOGISTIC = HERE / "samples/tutorial_basics_01_logistic_regression.sdcproj"


def _with_layer(extra: str, count: int = 4) -> bytes:
    """The logistic-regression sample with one more layer section."""
    text = LOGISTIC.read_text().replace(f"NumLayer={count}", f"NumLayer={count + 1}", 1)
    return text.replace("[Link_0]", extra + "[Link_0]", 1).encode()


def test_comment_layers_become_comments_before_the_nearest_layer(tmp_path):
    comment = (
        "[Layer_4]\nID=20\nType=Comment\nPosition_0=24\nPosition_1=118\nPosition_2=240\nPosition_3=48\n"
        "Property_0_Name=Name\nProperty_0_Value=Comment\nProperty_1_Name=Comment\n"
        "Property_1_Value=probability of a 9\nNumProperty=2\n"
    )
    tr = translate(parse_sdcproj(_with_layer(comment), "c.sdcproj"))
    assert tr.ok, [str(p) for p in tr.problems]
    lines = tr.text.splitlines()
    at = lines.index("    # probability of a 9")
    assert lines[at + 1].strip().startswith("loss = x")  # the statement holding Sigmoid, the nearest layer
    assert tr.text.count("probability of a 9") == 1  # not repeated in the derived networks
    spec = tmp_path / "c.nnd"
    spec.write_text(tr.text)
    assert compile_file(spec).ok


@pytest.mark.parametrize(
    "extra, message",
    [
        ("[Layer_4]\nID=20\nType=LSTM\nProperty_0_Name=Name\nProperty_0_Value=LSTM\nNumProperty=1\n", "recurrent"),
        ("[Layer_4]\nID=20\nType=NoSuchLayer\nProperty_0_Name=Name\nProperty_0_Value=X\nNumProperty=1\n", "not an NNC"),
        (
            "[Layer_4]\nID=20\nType=RepeatStart\nProperty_0_Name=Name\nProperty_0_Value=R\nNumProperty=1\n",
            "no RepeatEnd",
        ),
        (
            "[Layer_4]\nID=20\nType=Unit\nProperty_0_Name=Name\nProperty_0_Value=U\nProperty_1_Name=Network\n"
            "Property_1_Value=Nowhere\nNumProperty=2\n",
            "does not define",
        ),
    ],
)
def test_inexpressible_layers_get_positioned_errors(extra, message):
    data = _with_layer(extra)
    tr = translate(parse_sdcproj(data, "e.sdcproj"))
    assert tr.text is None
    errors = [p for p in tr.problems if p.severity == "error"]
    assert any(message in p.message for p in errors), [str(p) for p in tr.problems]
    lines = data.decode().splitlines()
    for p in errors:
        assert p.where.file == "e.sdcproj" and p.where.section == "Layer_4"
        assert lines[p.where.line - 1].startswith(("[Layer_4]", "Property_1_Value="))


NNC_TOOL = Path("/work/shared/nnc-tools/nncd_console")


@pytest.mark.skipif(
    not (NNC_TOOL / "nncd_console_cli_util").exists(), reason="NNC's project tool is not on this machine"
)
def test_fixtures_are_what_nncs_tool_computes_now(tmp_path):
    """The live check: NNC's `complete` on a sample gives what the fixture holds."""
    sample = HERE / "samples/tutorial_basics_12_residual_learning.sdcproj"
    out = tmp_path / "complete.sdcproj"
    subprocess.run(
        [str(NNC_TOOL / "nncd_console_cli_util"), "complete", "-i", str(sample), "-o", str(out)],
        cwd=NNC_TOOL,
        check=True,
        capture_output=True,
    )
    fixture = json.loads((HERE / "fixtures/complete" / f"{sample.stem}.json").read_text())
    for net in read_sdcproj(out).networks:
        for layer in net.layers:
            if "Output" in layer.props:
                shape = [int(v) for v in layer.props["Output"].split(",") if v.strip()]
                assert fixture[net.name]["layers"][layer.name] == [shape, int(layer.props.get("CostParameter") or 0)]


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.stem != RECURRENT], ids=lambda p: p.stem)
def test_every_network_runs_the_functions_nnabla_runs(sample, tmp_path):
    """Per network, the layers that run (a SkipAtTest layer does not run in a network no
    optimizer trains) are, type by type and repeats expanded, the functions of the network
    NNC's create_prototxt writes, derived MainValidation/MainRuntime included."""
    fixture = json.loads((HERE / "fixtures/complete" / f"{sample.stem}.json").read_text())
    _, result = _import(sample, tmp_path)
    nnc = read_sdcproj(sample)
    trained = {s.items.get("Optimizer_NetworkName", "").strip() for s in nnc.section("Optimizer")}
    compared = 0
    for name, want in fixture.items():
        if "functions" not in want:
            continue
        net = result.project.network(name)
        assert net is not None, f"no network {name}"
        assert net.training == (name in trained)
        got: dict[str, int] = {}
        for layer in net.layers:
            if layer.type == "Input":
                continue
            if layer.params.get("skip_at_test") is True and name not in trained:
                continue
            got[layer.type] = got.get(layer.type, 0) + 1
        assert got == want["functions"], name
        compared += 1
    assert compared == sum(1 for n in fixture.values() if "functions" in n) > 0


def test_parameter_files_an_archive_carries_are_written_beside_the_spec(tmp_path, monkeypatch):
    """`nndsl import x.nnp` also writes the archive's parameter files, named after the spec
    (the .nnp reader is another module; here it is stood in for by a project that carries one)."""
    from nndsl import cli
    from nndsl.nnc import importer

    project = read_sdcproj(LOGISTIC)
    project.parameter_files = {"parameter.h5": b"\x89HDF\r\n\x1a\nnot really"}
    monkeypatch.setattr(importer, "read_project", lambda path: project)
    out = tmp_path / "lr.nnd"
    assert cli.main(["import", str(tmp_path / "x.nnp"), "-o", str(out)]) == 0
    assert (tmp_path / "lr.h5").read_bytes() == project.parameter_files["parameter.h5"]
    assert out.read_text().startswith("network Main {")
    out.unlink()
    (tmp_path / "lr.h5").write_bytes(b"mine")
    assert cli.main(["import", str(tmp_path / "x.nnp"), "-o", str(out)]) == 1  # lr.h5 is the user's now
    assert (tmp_path / "lr.h5").read_bytes() == b"mine" and not out.exists()
    assert cli.main(["import", str(tmp_path / "x.nnp"), "-o", str(out), "--force"]) == 0
    assert (tmp_path / "lr.h5").read_bytes() == project.parameter_files["parameter.h5"]
