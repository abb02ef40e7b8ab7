"""The .nntxt reader against NNC's own import_nntxt.

Fixtures (tests/nnc/fixtures/nntxt/, made by tools/nnc_nntxt_fixtures.py with NNC's tool):
each sample's .nntxt as NNC's create_prototxt writes it, the project NNC's import_nntxt makes
of it, and the sample project itself. The reader must give import_nntxt's layers (types,
names, properties), links and config, except where import_nntxt loses what the .nntxt says:
it writes every initializer as the layer's default and drops weight decay, schedules other
than Exponential, save_best, and loss targets' dataset columns; there the reader must give
what the sample project itself has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nndsl.nnc.components import COMPONENTS
from nndsl.nnc.nntxt import NntxtError, read_nntxt, read_nntxt_text

FIXTURES = Path(__file__).parent / "fixtures" / "nntxt"
SOURCES = sorted(FIXTURES.glob("*.nntxt"))
TOOL = Path(__file__).resolve().parents[2].parent / "shared" / "nnc-tools" / "nncd_console"
RECURRENT_SAMPLE = "tutorial_recurrent_neural_networks_elman_net"

# What import_nntxt writes as the layer's default whatever the .nntxt says (checked below:
# the tool's value is the default, ours is the sample project's).
TOOL_DEFAULTS = ("Initializer", "InitializerMultiplier")


def same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def load(stem: str) -> tuple[dict, dict]:
    tool = json.loads((FIXTURES / f"{stem}.import_nntxt.json").read_text())
    original_path = FIXTURES / f"{stem}.original.json"
    original = json.loads(original_path.read_text()) if original_path.exists() else {"layers": {}, "config": {}}
    return tool, original


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_networks_equal_import_nntxt(source: Path) -> None:
    tool, original = load(source.stem)
    project = read_nntxt(source, recurrent=True)
    assert [n.name for n in project.networks] == list(tool["networks"])
    checked = from_original = 0
    for net in project.networks:
        theirs = tool["networks"][net.name]
        their_layers = {layer["props"]["Name"]: layer for layer in theirs["layers"]}
        ours = {layer.name: layer for layer in net.layers}
        assert sorted(ours) == sorted(their_layers), net.name
        assert len(net.layers) == len(theirs["layers"])
        for name, layer in ours.items():
            their = their_layers[name]
            assert layer.type == their["type"], (net.name, name)
            defaults = {p.name: p.default for p in COMPONENTS[layer.type]["properties"]}
            missing = set(their["props"]) - set(layer.props)
            if layer.type == "Delay":  # recurrent: NNC computes Size from the graph
                missing.discard("Size")
            assert not missing, (net.name, name, missing)
            assert set(layer.props) <= set(their["props"]), (net.name, name, set(layer.props) - set(their["props"]))
            for key, value in layer.props.items():
                tool_value = their["props"][key]
                checked += 1
                if same(value, tool_value):
                    continue
                lost = key.rsplit(".", 1)[-1] in TOOL_DEFAULTS or key.endswith(".Dataset")
                assert lost, (net.name, name, key, value, tool_value)
                if key.rsplit(".", 1)[-1] in TOOL_DEFAULTS:
                    assert same(tool_value, defaults[key]), (name, key, tool_value)
                # The sample project has the value the .nntxt carries (a layer of a unit is
                # named by its scope in the .nntxt, SqueezeNet/FireModule_2/Squeeze, and by
                # its own name in the unit's network).
                orig = original["layers"].get(name) or original["layers"].get(name.rsplit("/", 1)[-1], {})
                assert key in orig, (net.name, name, key)
                assert same(value, orig[key]), (net.name, name, key, value, orig[key])
                from_original += 1
        names = {layer.id: layer.name for layer in net.layers}
        our_links = sorted([names[k.source], k.source_pin, names[k.dest], k.dest_pin] for k in net.links)
        assert our_links == sorted(theirs["links"]), net.name
    assert checked > 0
    print(f"{source.stem}: {checked} properties, {from_original} of them as in the sample project")


# Keys import_nntxt gets wrong: (key, what it does). For these, ours equals the sample's.
TOOL_CONFIG_LOSSES = {
    "URI": "doubles every backslash (it does not unescape the .nntxt string)",
    "SaveBest": "always 0",
    "WeightDecay": "always 0",
    "LearningRateScheduler": "always Exponential",
    "LearningRateMultiplier": "always 1",
    "LearningRateUpdateInterval": "always 1",
    "LearningRateUpdateIntervalUnit": "always 0",
    "MonitorInterval": "always 10",
}


@pytest.mark.parametrize("source", SOURCES, ids=[s.stem for s in SOURCES])
def test_config_equals_import_nntxt(source: Path) -> None:
    tool, original = load(source.stem)
    project = read_nntxt(source, recurrent=True)
    compared = 0
    for kind, sections in project.sections.items():
        for section in sections:
            theirs = tool["config"].get(section.name)
            assert theirs is not None, (kind, section.name)
            orig = original["config"].get(section.name, {})
            for key, value in section.items.items():
                compared += 1
                if key in theirs and same(value, theirs[key]):
                    continue
                assert key in TOOL_CONFIG_LOSSES, (section.name, key, value, theirs.get(key))
                if key == "URI":
                    assert theirs[key] == value.replace("\\", "\\\\")
                if orig:
                    # Intervals may be in epochs (ours, where they divide) or iterations.
                    if key.startswith("LearningRateUpdateInterval") and "LearningRateUpdateInterval" in orig:
                        continue
                    assert key in orig and same(value, orig[key]), (section.name, key, value, orig.get(key))
    assert compared > 0


def test_interval_in_epochs_equals_the_sample_in_iterations() -> None:
    # vgg-11: the sample says 1201050 iterations; its .nntxt has 40035 iterations per epoch.
    project = read_nntxt(FIXTURES / "image_recognition_ILSVRC2012_vgg_vgg-11.nntxt")
    opt = project.section("Optimizer")[0].items
    _, original = load("image_recognition_ILSVRC2012_vgg_vgg-11")
    orig = original["config"]["Optimizer_0"]
    text = (FIXTURES / "image_recognition_ILSVRC2012_vgg_vgg-11.nntxt").read_text()
    iter_per_epoch = int(text.split("iter_per_epoch:")[1].split()[0])
    ours = int(opt["LearningRateUpdateInterval"]) * (
        iter_per_epoch if opt["LearningRateUpdateIntervalUnit"] == "0" else 1
    )
    theirs = int(orig["LearningRateUpdateInterval"]) * (
        iter_per_epoch if orig["LearningRateUpdateIntervalUnit"] == "0" else 1
    )
    assert ours == theirs


def test_recurrent_functions_are_reported_each_positioned() -> None:
    source = FIXTURES / f"{RECURRENT_SAMPLE}.nntxt"
    with pytest.raises(NntxtError) as info:
        read_nntxt(source)
    problems = info.value.problems
    text = source.read_text().splitlines()
    kinds = sorted({p.message.split()[0] for p in problems})
    assert kinds == ["Delay", "RecurrentInput", "RecurrentOutput"]
    assert len(problems) == 9  # three recurrent functions in each of the three networks
    for p in problems:
        assert "cannot express yet" in p.message
        assert p.where.file == str(source)
        assert p.where.section.startswith('network "') and ' / function "' in p.where.section
        assert text[p.where.line - 1].strip() == "function {"
        fname = p.where.section.split('function "')[1].rstrip('"')
        assert f'name: "{fname}"' in text[p.where.line]


def test_every_unknown_function_reported_in_one_run() -> None:
    text = """network {
  name: "Main"
  variable { name: "x" type: "Buffer" shape: { dim: -1 dim: 3 } }
  function { name: "A" type: "NoSuchThing" input: "x" output: "a" }
  function { name: "B" type: "ReLU" input: "a" output: "b" }
  function { name: "C" type: "AlsoUnknown" input: "b" output: "c" }
}
"""
    with pytest.raises(NntxtError) as info:
        read_nntxt_text(text, "x.nntxt")
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith('x.nntxt:4: [network "Main" / function "A"]') and "NoSuchThing" in m for m in messages)
    assert any(m.startswith('x.nntxt:6: [network "Main" / function "C"]') and "AlsoUnknown" in m for m in messages)


def test_syntax_error_is_positioned() -> None:
    with pytest.raises(NntxtError) as info:
        read_nntxt_text('network {\n  name: "Main"\n  variable { name: }\n}\n', "y.nntxt")
    (problem,) = info.value.problems
    assert problem.where.file == "y.nntxt" and problem.where.line == 3
    assert "column" in problem.message


def test_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(NntxtError) as info:
        read_nntxt(tmp_path / "absent.nntxt")
    assert "cannot be read" in str(info.value)


@pytest.mark.skipif(
    not (TOOL / "nncd_console_cli_util").exists(), reason="NNC's project tool is not beside the repository"
)
def test_live_import_nntxt_agrees(tmp_path: Path) -> None:
    """The same claim against NNC's tool run now, on nnabla's residual-repeat .nntxt."""
    source = tmp_path / "r.nntxt"
    shutil.copyfile(FIXTURES / "nnabla_residual_repeat.nntxt", source)
    out = tmp_path / "r.sdcproj"
    subprocess.run(
        [str(TOOL / "nncd_console_cli_util"), "import_nntxt", "-i", str(source), "-o", str(out)],
        cwd=TOOL,
        check=True,
        capture_output=True,
        timeout=120,
    )
    types: dict[str, str] = {}
    current: dict[str, str] = {}
    for line in out.read_text().splitlines():
        if line.startswith("["):
            current = {}
        elif "=" in line:
            key, value = line.split("=", 1)
            current[key] = value
            if key == "Property_0_Value" and "Type" in current:
                types[value] = current["Type"]
    project = read_nntxt(source)
    assert {layer.name: layer.type for n in project.networks for layer in n.layers} == types
