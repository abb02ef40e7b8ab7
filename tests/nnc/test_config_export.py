""".nnd config -> NNC: `config_to_nnc` writes the sections NNC writes, and NNC's own
create_prototxt makes of them what it made of the original.

Each fixture (tools/nnc_config_fixtures.py) holds, besides NNC's conversion of a sample's (or an
edited copy's) config, the round trip config_to_nnc(compile(config_to_nnd(x))) that this code
made when the fixtures were made and what create_prototxt made of the project with its config
replaced by it. With NNC's tool and nnabla on the machine, a live test converts today's round
trip again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from nnc_config_cases import (
    case_names,
    compile_config,
    exported_config_text,
    import_case,
    load_case,
    referenced_networks,
    split_sections,
)
from test_config_import import assert_same, nnc_meaning, nndsl_meaning

from nndsl.compiler import compile_file
from nndsl.nnc.config_nnd import config_to_nnc, config_to_nnd, sections_text
from nndsl.syntax import ast
from nndsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "samples"
CASES = case_names()


@pytest.mark.parametrize("name", CASES)
def test_round_trip_is_what_nnc_was_given(name):
    """Today's config_to_nnc(compile(config_to_nnd(x))) is the text the fixtures' NNC run converted."""
    case = load_case(name)
    assert exported_config_text(case, name) == case["exported_config_text"]


@pytest.mark.parametrize("name", CASES)
def test_nnc_converts_the_round_trip_to_the_same_config(name):
    case = load_case(name)
    original, exported = nnc_meaning(case["nntxt"]), nnc_meaning(case["exported_nntxt"])
    if name == "variant_linear":  # NNC's Linear, which nnabla does not train, comes back as Polynomial 1
        sched = exported["optimizers"][0]["schedule"]
        assert original["optimizers"][0]["schedule"][0] == "not trained by nnabla: Linear"
        assert sched[0] == "polynomial" and sched[1]["power"] == 1.0
        exported["optimizers"][0]["schedule"] = original["optimizers"][0]["schedule"]
    assert exported == original
    # and the epoch length NNC computes (NumData // BatchSize) is kept
    assert case["exported_nntxt"]["training_config"] == case["nntxt"]["training_config"]


def test_sections_keep_nnc_keys_and_order():
    """Every key NNC wrote in the digits sample's config is written, in NNC's order."""
    case = load_case("tutorial_image_classification_digits")
    ours = split_sections(case["exported_config_text"], "x.sdcproj")
    theirs = split_sections(case["config_text"], "y.sdcproj")
    for kind, sections in theirs.sections.items():
        for mine, nnc in zip(ours.sections[kind], sections, strict=True):
            assert mine.name == nnc.name
            keys = [k for k in mine.items if k in nnc.items]
            assert keys == list(nnc.items), kind
            for k, v in nnc.items.items():
                if kind not in ("Description", "StructureSearch", "Engine") and k != "SolverParameter_3":
                    assert mine.items[k] == v, (kind, k)  # 1e-08 is written 1e-08 again


def _spec_project(text: str, name: str = "spec.nnd"):
    result = compile_file(name, text=text)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


NETS = """network Gen {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    y = x -> Affine(1)
    loss = SquaredError(y, t)
}

network Dis {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    y = x -> Affine(1)
    loss = SquaredError(y, t)
}
"""


def test_mixed_units_are_a_positioned_error():
    project = _spec_project(
        NETS
        + 'dataset train = "t.csv"\n'
        + "config {\n"
        + "    optimizer g { network = Gen, dataset = train, schedule = Step(steps=[3 epochs, 500]) }\n"
        + "}\n"
    )
    diagnostics: list = []
    sections = config_to_nnc(project.config, project.datasets, diagnostics)
    assert [d.code for d in diagnostics] == ["E0623"]
    assert diagnostics[0].span.line == 16 and "epochs and iterations" in diagnostics[0].message
    assert sections["Optimizer"][0].items["LearningRateSteps"] == "3,500"


def test_gan_range_warmup_and_executor_written_as_nnc_reads_them():
    project = _spec_project(
        NETS
        + 'dataset train = "t.csv" { num_data = 640 }\n'
        + "config {\n"
        + "    batch_size = 64\n"
        + "    precision = half\n"
        + "    optimizer gen { network = Gen, dataset = train, solver = AdamW(lr=0.01, weight_decay=0.001), "
        + "start = 2 epochs, end = 4 epochs }\n"
        + "    optimizer dis {\n"
        + "        network = Dis\n"
        + "        dataset = train\n"
        + "        schedule = Linear(warmup=100 iterations)\n"
        + "        end = 300\n"
        + "    }\n"
        + "    executor run { network = Gen, num_evaluations = 4, evaluation = std, back_propagation = true }\n"
        + "}\n"
    )
    s = config_to_nnc(project.config, project.datasets)
    gen, dis = (o.items for o in s["Optimizer"])
    assert (gen["RangeFrom"], gen["RangeTo"], gen["RangeUnit"]) == ("2", "4", "0")
    assert (dis["RangeFrom"], dis["RangeTo"], dis["RangeUnit"]) == ("-1", "300", "1")
    # AdamW's decoupled rate follows weight_decay when not given (as the generated projects read it)
    params = {
        gen[f"SolverParameterName_{i}"]: gen[f"SolverParameter_{i}"] for i in range(int(gen["SolverParameterNum"]))
    }
    assert params == {"Alpha": "0.01", "Beta1": "0.9", "Beta2": "0.999", "Epsilon": "1e-08", "Weight Decay": "0.001"}
    assert gen["WeightDecay"] == "0.001"
    assert (dis["LearningRateScheduler"], dis["LearningRatePower"]) == ("Polynomial", "1")
    assert (dis["LearningRateWarmupScheduler"], dis["LearningRateWarmupLength"]) == ("Linear", "100")
    assert dis["LearningRateWarmupLengthUnit"] == "1"
    ex = s["Executor"][0].items
    assert (ex["NumEvaluations"], ex["RepeatEvaluationType"], ex["NeedBackPropagation"]) == ("4", "2", "1")
    assert s["Config"][0].items["TypeConfig"] == "Half"
    assert s["Config"][0].items["NumOptimizer"] == "2"
    assert s["Dataset"][0].items["NumData"] == "640"


def test_num_data_counted_from_the_csv(tmp_path):
    (tmp_path / "t.csv").write_text("x:image,y:label\n" + "".join(f"i{i}.png,{i % 2}\n" for i in range(37)))
    spec = tmp_path / "s.nnd"
    spec.write_text(NETS + 'dataset train = "t.csv"\nconfig { optimizer { network = Gen, dataset = train } }\n')
    result = compile_file(spec)
    assert result.ok
    s = config_to_nnc(result.project.config, result.project.datasets, root=tmp_path)
    items = s["Dataset"][0].items
    assert items["NumData"] == "37"
    unknown = config_to_nnc(result.project.config, result.project.datasets)  # no folder given: nothing read
    assert unknown["Dataset"][0].items["NumData"] == "0"
    assert items["Shuffle"] == "1"  # nndsl's default: shuffle what an optimizer trains on


# --- import(export(spec)): the same config IR ----------------------------------------------------


def _config_ir(project) -> dict:
    cfg = project.config
    out = {
        "top": (cfg.max_epoch, cfg.batch_size, cfg.save_best, cfg.monitor_interval, cfg.precision),
        "optimizers": [
            (
                o.name,
                o.network,
                o.dataset,
                o.solver.type,
                o.solver.params,
                "Polynomial" if o.schedule.type == "Linear" else o.schedule.type,
                {"power": 1.0} if o.schedule.type == "Linear" else o.schedule.params,
                o.schedule.warmup,
                o.update_interval,
                o.start,
                o.end,
            )
            for o in cfg.optimizers
        ],
        "monitors": [(m.name, m.network, m.dataset) for m in cfg.monitors],
        "executors": [(e.name, e.network, e.dataset, e.num_evaluations, e.evaluation) for e in cfg.executors],
    }
    trained = {o.dataset for o in cfg.optimizers}
    out["datasets"] = [
        (
            d.name,
            d.uri,
            d.name in trained if d.settings["shuffle"] is None else d.settings["shuffle"],
            d.settings["cache"],
            d.settings["image_normalization"],
        )
        for d in project.datasets
    ]
    return out


def _without_config(text: str) -> str:
    """The spec's text less its dataset items and config block (replaced by the imported ones)."""
    module, problems = parse(text, "x.nnd")
    assert not problems
    lines = text.splitlines()
    for item in module.items:
        if isinstance(item, ast.Dataset | ast.Config):
            for n in range(item.span.line - 1, item.span.end_line):
                lines[n] = ""
    return "\n".join(lines) + "\n"


SPECS = sorted((ROOT / "specs").glob("*.nnd"))


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_import_of_export_has_the_same_config(spec):
    result = compile_file(spec)
    assert result.ok
    sections = config_to_nnc(result.project.config, result.project.datasets)
    back = split_sections(sections_text(sections), "x.sdcproj")
    diagnostics: list = []
    imported = config_to_nnd(back, diagnostics)
    assert not diagnostics
    again = compile_file(spec, text=_without_config(spec.read_text()) + "\n" + imported)
    assert again.ok, [d.message for d in again.diagnostics]
    assert _config_ir(again.project) == _config_ir(result.project)


# --- live: NNC's own tool on today's round trip ---------------------------------------------------


def _tools() -> tuple[Path, str] | None:
    tool = Path(os.environ.get("NNDSL_NNC_TOOLS", ROOT.parent / "shared" / "nnc-tools" / "nncd_console"))
    for candidate in (tool, Path("/work/shared/nnc-tools/nncd_console")):
        if (candidate / "nncd_console_cli_util").is_file():
            tool = candidate
            break
    else:
        return None
    python = os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python")
    if not shutil.which(python):
        return None
    check = subprocess.run([python, "-c", "import nnabla.utils.nnabla_pb2"], capture_output=True, timeout=120)
    return (tool, python) if check.returncode == 0 else None


LIVE = ["tutorial_image_classification_digits", "tutorial_basics_01_logistic_regression"]
LIVE += ["variant_two_optimizers", "variant_range_epochs", "variant_warmup_epochs", "variant_step_epochs"]


@pytest.mark.parametrize("name", LIVE)
def test_live_nnc_converts_the_round_trip_to_the_same_config(name, tmp_path):
    tools = _tools()
    if tools is None:
        pytest.skip("NNC's nncd_console_cli_util or nnabla 1.39 is not on this machine (the fixture test covers it)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("nnc_config_fixtures", ROOT / "tools" / "nnc_config_fixtures.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    case = load_case(name)
    base = (SAMPLES / f"{case['base']}.sdcproj").read_text()
    head = base.splitlines()[: base.splitlines().index("[Dataset]")]
    path = tmp_path / f"{name}.sdcproj"
    path.write_text("\n".join(head) + "\n" + exported_config_text(case, name))
    nntxt = fixtures.convert(path, tools[0], tmp_path, tools[1])
    assert nnc_meaning(nntxt) == nnc_meaning(case["nntxt"])
    # and it means what nndsl compiled from the imported config
    project, text, _ = import_case(case, name)
    compiled = compile_config(text, referenced_networks(project), name)
    ipe = int(nntxt["training_config"].get("iter_per_epoch", 0))
    from test_config_import import _names

    assert_same(nndsl_meaning(compiled, ipe), _names(nnc_meaning(nntxt)), name)
    json.dumps(nntxt)  # plain data, as the fixtures store it
