"""`nndsl export`: a compiled spec as an NNC project that NNC's own tool accepts.

Every spec in specs/ and tests/nnc/export_specs/ exports to exactly the project that NNC's
`error_check` found clean and `create_prototxt` converted when tools/nnc_export_fixtures.py
ran them (the fixture holds the export's sha256, the tool's verdicts and the parameters
nnabla created from the converted network); where the tool is on this machine, it is run
again on the export made now. The rest checks the structure a person sees in NNC's editor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.compiler import compile_file
from nndsl.nnc import export_check as ec
from nndsl.nnc.export import Exporter, export_parameter_table
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.sdcproj_write import sdcproj_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "nnc" / "fixtures" / "export"
HAND = ROOT / "tests" / "nnc" / "export_specs"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nntxt_export_cases import NOT_NNC  # noqa: E402  (specs NNC cannot hold, and where)

SPECS = [p for p in sorted((ROOT / "specs").glob("*.nnd")) if p.stem not in NOT_NNC] + sorted(HAND.glob("*.nnd"))
IDS = [p.stem for p in SPECS]


@pytest.fixture(autouse=True)
def _no_dataset_on_disk(monkeypatch):
    """The fixtures were made where the specs' dataset CSVs did not exist (NumData=0, NNC's "not
    known"); a checkout that has made them (the README's main job writes specs/digits/) counts their
    rows into NumData. The export is compared as made without them (tests/nnc/test_export_num_data.py
    checks the counting)."""
    from nndsl.nnc import config_nnd

    monkeypatch.setattr(config_nnd, "dataset_rows", lambda path, root: None)


def _export(spec: Path) -> tuple[str, Exporter]:
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    exporter = Exporter(result)
    return sdcproj_text(exporter.export()), exporter


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def _networks(text: str) -> dict[str, list[dict[str, str]]]:
    """The export's layers per network, as NNC reads the INI sections."""
    nets: dict[str, list[dict[str, str]]] = {}
    section = ""
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("["):
            section = line[1:-1]
            current = None
            if "_Layer_" in section:
                current = {}
                nets.setdefault(section.rsplit("_Layer_", 1)[0], []).append(current)
            continue
        key, _, value = line.partition("=")
        if current is not None:
            current[key] = value
    for layers in nets.values():
        for layer in layers:
            for k in [k for k in layer if k.endswith("_Name")]:  # properties; an Argument's Type stays the layer's
                layer.setdefault(layer[k], layer[k.replace("_Name", "_Value")])
    return nets


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_export_is_the_one_nncs_tool_accepted(spec):
    text, _ = _export(spec)
    record = _fixture(spec.stem)
    assert record["error_check"] == "No errors were found."
    assert record["create_prototxt"] is True
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == record["sdcproj_sha256"]
    golden = FIXTURES / f"{spec.stem}.sdcproj"
    if golden.exists():
        assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_parameters_are_the_ones_nnabla_created(spec):
    """Names and shapes of every parameter, as nnabla made them from create_prototxt's
    network (repeat copies expanded), equal the export's table; outside repeats NNC cannot
    hold (written out copy by copy) that is `nnc_parameter_table`, which the parameter files
    of generated projects use."""
    _, exporter = _export(spec)
    table = export_parameter_table(exporter)
    created = {name: tuple(shape) for name, shape in _fixture(spec.stem)["nnabla_parameters"].items()}
    assert {name: tuple(shape) for name, shape in table.values()} == created
    if not exporter.written_out:
        assert table == nnc_parameter_table(exporter.project)


def _live_tools():
    tools = ec.find_nnc_tools()
    if tools is None:
        pytest.skip("NNC's project tool is not on this machine (NNDSL_NNC_TOOLS or ../shared/nnc-tools)")
    return tools


# The tool takes tens of seconds on the big ResNets: live on the specs whose whole export is a
# fixture; the fixture's sha256 ties the others to the verdict the tool gave when it was made.
SMALL = [p for p in SPECS if (FIXTURES / f"{p.stem}.sdcproj").exists()]


@pytest.mark.parametrize("spec", SMALL, ids=[p.stem for p in SMALL])
def test_nncs_tool_accepts_the_export_live(spec, tmp_path):
    tools = _live_tools()
    text, _ = _export(spec)
    path = tmp_path / f"{spec.stem}.sdcproj"
    path.write_text(text, encoding="utf-8")
    verdict = ec.run_nnc(tools, path)
    assert verdict == {"error_check": "No errors were found.", "create_prototxt": True}


@pytest.mark.parametrize("name", sorted(NOT_NNC))
@pytest.mark.parametrize("suffix, code", [(".sdcproj", "E0960"), (".nntxt", "E0801")])
def test_a_spec_nnc_cannot_hold_is_refused_at_the_layer(name, suffix, code, tmp_path):
    out = tmp_path / f"{name}{suffix}"
    r = _nndsl("export", f"specs/{name}.nnd", "-o", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith(f"{NOT_NNC[name]}: error[{code}]: "), r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


# --- what a person sees in NNC ---------------------------------------------------------------


def test_parameter_settings_that_follow_an_argument_are_no_macros():
    """NNC's tool refuses `W.InitializerMultiplier=*std` in a unit called three Units deep (the
    fixture holds its verdict on the export, which gives each value its own network instead)."""
    text, _ = _export(HAND / "deep_settings.nnd")
    nets = _networks(text)
    convs = {
        name: (layer["W.InitializerMultiplier"], layer["OutMaps"])
        for name, layers in nets.items()
        for layer in layers
        if layer["Type"] == "Convolution"
    }
    # trained and not (batch statistics), each std its own network; maps still an argument macro
    assert sorted(convs.values()) == [("0.01", "4"), ("0.01", "4"), ("0.1", "*maps"), ("0.1", "*maps")]
    assert "*std" not in text


def test_alike_repeats_are_repeatstart_repeatend():
    text, _ = _export(HAND / "repeats.nnd")
    runtime = _networks(text)["Runtime"]
    times = [layer["Times"] for layer in runtime if layer["Type"] == "RepeatStart"]
    assert times == ["2", "2", "3"]  # outer, inner (nested inside it), the repeat of Block
    assert sum(layer["Type"] == "RepeatEnd" for layer in runtime) == 3
    # the repeat of one unit call is a Unit layer named after the repeat
    assert [layer["Name"] for layer in runtime if layer["Type"] == "Unit"] == ["block"]
    # the copies of `dense` differ (Affine(4 * (i + 1))): written out, named as NNC keeps them
    affines = [layer["Name"] for layer in runtime if layer["Type"] == "Affine"]
    assert affines == ["Affine0", "Affine1", "Affine2", "Affine"]
    assert any(layer["Type"] == "Comment" and "dense" in layer["Comment"] for layer in runtime)


def test_units_are_unit_layers_with_arguments_as_macros():
    text, _ = _export(HAND / "units.nnd")
    nets = _networks(text)
    assert list(nets) == ["Net", "Fire", "Training", "Runtime"]  # callers before callees, as NNC needs
    fire = nets["Fire"]
    assert [layer["Name"] for layer in fire if layer["Type"] == "Argument"] == ["squeeze", "expand"]
    convs = {layer["Name"]: layer["OutMaps"] for layer in fire if layer["Type"] == "Convolution"}
    assert convs == {"squeeze_conv": "*squeeze", "expand1": "*expand", "expand3": "*expand"}
    calls = [(layer["Name"], layer["squeeze"], layer["expand"]) for layer in nets["Net"] if layer["Type"] == "Unit"]
    assert calls == [("fire1", "4", "8"), ("fire2", "6", "12")]
    assert all(layer["Network"] == "Fire" for layer in nets["Net"] if layer["Type"] == "Unit")


def test_units_whose_structure_follows_an_argument_are_specialised():
    text, _ = _export(HAND / "if_units.nnd")
    nets = _networks(text)
    assert sorted(n for n in nets if n.startswith("Stage")) == ["Stage", "Stage_2"]
    runtime = {layer["Name"]: layer["Network"] for layer in nets["Runtime"] if layer["Type"] == "Unit"}
    assert runtime["s1"] == runtime["s3"] != runtime["s2"]  # s1 and s3 project, with maps as *maps
    projecting = nets[runtime["s1"]]
    assert {layer["OutMaps"] for layer in projecting if layer["Type"] == "Convolution"} == {"*maps"}
    assert all(any(layer["Type"] == "Comment" for layer in nets[n]) for n in ("Stage", "Stage_2"))


def test_derived_networks_and_comments():
    text, _ = _export(HAND / "derived.nnd")
    nets = _networks(text)
    assert [layer["N"] for layer in nets["Validation3"] if layer["Type"] == "TopNError"] == ["3"]
    assert [layer["N"] for layer in nets["Validation"] if layer["Type"] == "TopNError"] == ["1"]
    assert [layer["Comment"] for layer in nets["Validation"] if layer["Type"] == "Comment"] == [
        "two layers and an error"
    ]
    assert [layer["Comment"] for layer in nets["Runtime"] if layer["Type"] == "Comment"] == [
        "the same layers as Validation, so the same parameters"
    ]
    # the label is NNC's T.Dataset, not a layer
    assert [layer["T.Dataset"] for layer in nets["Validation"] if layer["Type"] == "TopNError"] == ["y"]
    assert sum(layer["Type"] == "Input" for layer in nets["Validation"]) == 1
    # Validation3 has no role: the export adds none; the checks' copy has an executor for it
    assert "Executor_NetworkName=Validation3" not in text
    result = compile_file(HAND / "derived.nnd")
    whole = sdcproj_text(Exporter(result).export(every_network=True))
    assert "Executor_Name=export_Validation3\nExecutor_NetworkName=Validation3" in whole
    assert _networks(whole) == nets  # the same networks, one executor more


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_layout_is_a_readable_chain(spec):
    """Every link goes downwards (a chain top to bottom, branches in columns of their own)
    and no two layers of a network share a position."""
    text, _ = _export(spec)
    nets = _networks(text)
    links: dict[str, list[tuple[str, str]]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line[1:-1]
        elif "_Link_" in section and line.startswith(("SourceLayerID", "DestLayerID")):
            net = section.rsplit("_Link_", 1)[0]
            if line.startswith("Source"):
                links.setdefault(net, []).append((line.split("=")[1], ""))
            else:
                links[net][-1] = (links[net][-1][0], line.split("=")[1])
    for net, layers in nets.items():
        at = {layer["ID"]: (int(layer["Position_0"]), int(layer["Position_1"])) for layer in layers}
        assert len(set(at.values())) == len(at), net
        for src, dst in links.get(net, []):
            assert at[dst][1] > at[src][1], (net, src, dst)


# --- the command ------------------------------------------------------------------------------


def _nndsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nndsl", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_cli_writes_refuses_to_overwrite_and_force(tmp_path):
    out = tmp_path / "lenet.sdcproj"
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == _export(ROOT / "specs" / "lenet.nnd")[0]
    out.write_text("mine", encoding="utf-8")
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out))
    assert r.returncode == 1 and "E0961" in r.stderr
    assert out.read_text(encoding="utf-8") == "mine"
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out), "--force")
    assert r.returncode == 0 and out.read_text(encoding="utf-8").startswith("[Engine]")
    assert [p.name for p in tmp_path.iterdir()] == ["lenet.sdcproj"]  # no temporary left


def test_cli_usage_and_input_errors(tmp_path):
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and ".sdcproj, .nntxt" in r.stderr and not (tmp_path / "x.onnx").exists()
    spec = tmp_path / "two.nnd"
    spec.write_text(
        "unit Two {\n    in x\n    a = x -> ReLU\n    b = x -> Tanh\n    out a, b\n}\n\n"
        'network Runtime {\n    x = Input(4, dataset="x")\n    p, q = Two(x)\n    y\' = Add2(p, q)\n}\n',
        encoding="utf-8",
    )
    # NNC's Unit layer has one output: an instance with two is written out in place (issue 12)
    r = _nndsl("export", str(spec), "-o", str(tmp_path / "two.sdcproj"), "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    runtime = _networks((tmp_path / "two.sdcproj").read_text(encoding="utf-8"))["Runtime"]
    assert [layer["Name"] for layer in runtime if layer["Type"] in ("ReLU", "Tanh", "Unit")] == ["Two_ReLU", "Two_Tanh"]
    r = _nndsl("export", str(tmp_path / "missing.nnd"), "-o", str(tmp_path / "m.sdcproj"))
    assert r.returncode == 1 and "Traceback" not in r.stderr


# --- round trip (needs the nnc-import part's `nndsl import`) ----------------------------------


def _summary(spec: Path) -> dict:
    project = compile_file(spec).project
    assert project is not None
    nets = {  # every layer's type and output shape, in any order (the importer may order them its way)
        net.name: sorted((layer.type, net.value(layer.outputs[0]).shape) for layer in net.layers if layer.outputs)
        for net in project.networks
    }
    return {"networks": nets, "parameters": sorted(nnc_parameter_table(project).values()), "config": _config(project)}


def _config(project) -> dict:
    """The whole config as values: every role, solver, schedule and setting, and each dataset's
    name and settings; not where the spec wrote them (spans), nor whether roles were defaulted
    (an export writes them out)."""

    def plain(value):
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "span"}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    config = plain(project.config)
    config.pop("defaulted")
    config["datasets"] = {d.name: plain(d.settings) for d in project.datasets}
    return config


def _rows(spec: Path, dataset: str) -> int:
    """The data rows of the CSV of `spec`'s `dataset` (its lines less the header)."""
    (d,) = [d for d in compile_file(spec).project.datasets if d.name == dataset]
    lines = Path(d.path).read_text(encoding="utf-8").splitlines()
    return len([line for line in lines if line.strip()]) - 1


@pytest.mark.parametrize("spec", ["lenet", "digits", "units", "if_units", "targets"])
def test_import_of_export_is_the_same_ir(spec, tmp_path):
    path = ROOT / "specs" / f"{spec}.nnd"
    path = path if path.exists() else HAND / f"{spec}.nnd"
    out = tmp_path / f"{spec}.sdcproj"
    assert _nndsl("export", str(path), "-o", str(out)).returncode == 0
    back = tmp_path / f"{spec}.nnd"
    r = _nndsl("import", str(out), "-o", str(back))
    assert r.returncode == 0, r.stderr
    original, again = _summary(path), _summary(back)
    assert again["parameters"] == original["parameters"]
    if not original["config"]["datasets"]:
        # NNC needs a dataset: the export of a spec without one has an empty placeholder, bound to
        # every role, which the import keeps (NNC's own projects have datasets without a URI too).
        placeholder = again["config"].pop("datasets")
        assert list(placeholder) == ["_dataset"]
        roles = [r for kind in ("optimizers", "monitors", "executors") for r in again["config"][kind]]
        assert roles and {r.pop("dataset") for r in roles} == {"_dataset"}
        for kind in ("optimizers", "monitors", "executors"):
            for role in original["config"][kind]:
                assert role.pop("dataset") is None
        original["config"].pop("datasets")
    for name, settings in again["config"].get("datasets", {}).items():
        # NNC records a dataset's size (NumData) where its CSV is there (a checkout that ran the
        # README's main job has specs/digits/): the import keeps it as `num_data`, the rows counted
        if "num_data" in settings and "num_data" not in original["config"]["datasets"][name]:
            assert settings.pop("num_data") == _rows(path, name)
    assert again["config"] == original["config"]
    for name, layers in original["networks"].items():
        assert again["networks"][name] == layers, name


def test_a_value_cannot_add_lines_to_the_project(tmp_path):
    spec = tmp_path / "odd.nnd"
    spec.write_text(
        'network Runtime {\n    x = Input(4, dataset="x\\n[Global]\\nNumNetwork=0")\n    y\' = x -> ReLU\n}\n',
        encoding="utf-8",
    )
    result = compile_file(spec)
    if not result.ok:
        pytest.skip("the language refuses a line break in a string")
    text = sdcproj_text(Exporter(result).export())
    assert text.splitlines().count("[Global]") == 1
    assert "Property_2_Value=x\\n[Global]\\nNumNetwork=0" in text


def test_a_written_out_copy_cannot_take_a_labels_parameters(tmp_path):
    """NNC names a written-out copy `Affine0`; a layer labelled `Affine0` beside it would get
    the same parameters in NNC: refused, at the label."""
    spec = tmp_path / "clash.nnd"
    spec.write_text(
        "network Runtime {\n"
        '    x = Input(4, dataset="x")\n'
        "    h = x -> dense: repeat i in 2 { Affine(4 + i) -> ReLU }\n"
        "    y' = h -> Affine0: Affine(3)\n"
        "}\n",
        encoding="utf-8",
    )
    r = _nndsl("export", str(spec), "-o", str(tmp_path / "clash.sdcproj"), "--format", "json")
    assert r.returncode == 1
    [d] = json.loads(r.stdout)["diagnostics"]
    assert (d["code"], d["line"]) == ("E0960", 4) and "'Affine0'" in d["message"]
