"""Regenerate tests/nnc/fixtures/config/: what NNC's own create_prototxt makes of NNC configs.

For each NNC sample project, and for small edited copies of two of them (one config value
changed, a second optimizer added, ...), this runs NNC's project tool

    nncd_console_cli_util create_prototxt -i X.sdcproj -o X.nntxt -p X.csv

reads the `.nntxt` it writes with nnabla's own protobuf classes, and stores one JSON file per
case holding
  - "config_text": the config part of the (edited) `.sdcproj` (`[Dataset]` to the end) and
    "config_line": the line it starts on, so tests read exactly the sections NNC read;
  - "nntxt": the `training_config`, `global_config`, `dataset`, `optimizer` (without its
    `parameter_variable`/`data_variable`/`loss_variable` lists: they belong to the networks),
    `monitor` and `executor` parts of the nntxt, as protobuf's JSON form
    (`google.protobuf.json_format.MessageToDict`, field names as in nnabla.proto);
  - "exported_config_text": nndsl's round trip of the config, config_to_nnc(compile(
    config_to_nnd(x))) (tests/nnc/nnc_config_cases.py), and "exported_nntxt": what
    create_prototxt makes of the project with its config replaced by that text.

Run with nndsl's Python (this checkout first on the path), NNC's tool and the nnabla venv
(see ../shared/nnc-tools/README.md):

    PYTHONPATH=$PWD /work/main/.venv/bin/python tools/nnc_config_fixtures.py \
        --samples /work/shared/nnc-samples --tool /work/shared/nnc-tools/nncd_console \
        --nnabla-python /work/nnabla-venv/bin/python

It overwrites tests/nnc/fixtures/config/*.json (the folder is the repository's own); `--only CASE ...`
regenerates the named cases alone (e.g. `--only variant_solver_sgdw variant_solver_amsbound`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "nnc" / "fixtures" / "config"

SMALL_OLD = "tutorial_basics_01_logistic_regression"  # plain [Layer_k] layout, legacy lr_decay form
SMALL_NEW = "tutorial_image_classification_digits"  # [Global] layout, every schedule key present

# case name -> (base sample, {section: {key: value, or None to delete}}, extra sections text)
VARIANTS: dict[str, tuple[str, dict[str, dict[str, str | None]], str]] = {
    # the legacy form: no LearningRateScheduler, only a multiplier and an interval
    "legacy_lr_decay": (
        SMALL_OLD,
        {"Optimizer_0": {"LearningRateMultiplier": "0.5", "LearningRateUpdateInterval": "7"}},
        "",
    ),
    "legacy_lr_decay_numdata": (
        SMALL_OLD,
        {
            "Optimizer_0": {"LearningRateMultiplier": "0.5", "LearningRateUpdateInterval": "7"},
            "Dataset_0": {"NumData": "1500"},
        },
        "",
    ),
    "exponential_epochs": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Exponential",
                "LearningRateMultiplier": "0.5",
                "LearningRateUpdateInterval": "3",
                "LearningRateUpdateIntervalUnit": "0",
            }
        },
        "",
    ),
    "exponential_iterations": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Exponential",
                "LearningRateMultiplier": "0.5",
                "LearningRateUpdateInterval": "250",
                "LearningRateUpdateIntervalUnit": "1",
            }
        },
        "",
    ),
    "step_epochs": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Step",
                "LearningRateMultiplier": "0.2",
                "LearningRateSteps": "30,60,90",
                "LearningRateUpdateIntervalUnit": "0",
            }
        },
        "",
    ),
    "step_iterations": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Step",
                "LearningRateMultiplier": "0.2",
                "LearningRateSteps": "1000,2000",
                "LearningRateUpdateIntervalUnit": "1",
            }
        },
        "",
    ),
    "cosine": (SMALL_NEW, {"Optimizer_0": {"LearningRateScheduler": "Cosine"}}, ""),
    # keys NNC leaves out: the interval unit (iterations), the warm-up unit (epochs); and the older
    # NumLearningRateStep / LearningRateStep_i keys, which NNC's tool does not read (no steps)
    "exponential_no_unit": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateMultiplier": "0.5",
                "LearningRateUpdateInterval": "3",
                "LearningRateUpdateIntervalUnit": None,
            }
        },
        "",
    ),
    "warmup_no_unit": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateWarmupScheduler": "Linear",
                "LearningRateWarmupLength": "2",
                "LearningRateWarmupLengthUnit": None,
            }
        },
        "",
    ),
    "step_older_keys": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Step",
                "LearningRateMultiplier": "0.5",
                "LearningRateSteps": None,
                "NumLearningRateStep": "2",
                "LearningRateStep_0": "3",
                "LearningRateStep_1": "6",
                "LearningRateUpdateIntervalUnit": "0",
            }
        },
        "",
    ),
    "polynomial": (
        SMALL_NEW,
        {"Optimizer_0": {"LearningRateScheduler": "Polynomial", "LearningRatePower": "2"}},
        "",
    ),
    "linear": (SMALL_NEW, {"Optimizer_0": {"LearningRateScheduler": "Linear"}}, ""),
    "warmup_epochs": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateScheduler": "Cosine",
                "LearningRateWarmupScheduler": "Linear",
                "LearningRateWarmupLength": "5",
                "LearningRateWarmupLengthUnit": "0",
            }
        },
        "",
    ),
    "warmup_iterations": (
        SMALL_NEW,
        {
            "Optimizer_0": {
                "LearningRateWarmupScheduler": "Linear",
                "LearningRateWarmupLength": "100",
                "LearningRateWarmupLengthUnit": "1",
            }
        },
        "",
    ),
    "range_epochs": (
        SMALL_NEW,
        {"Optimizer_0": {"RangeFrom": "2", "RangeTo": "5", "RangeUnit": "0"}},
        "",
    ),
    "range_iterations": (
        SMALL_NEW,
        {"Optimizer_0": {"RangeFrom": "10", "RangeTo": "500", "RangeUnit": "1"}},
        "",
    ),
    "range_open": (
        SMALL_NEW,
        {"Optimizer_0": {"RangeFrom": "-1", "RangeTo": "-1", "RangeUnit": "0"}},
        "",
    ),
    "evaluation_last": (
        SMALL_NEW,
        {"Executor_0": {"NumEvaluations": "8", "RepeatEvaluationType": "1"}},
        "",
    ),
    "evaluation_std": (
        SMALL_NEW,
        {"Executor_0": {"NumEvaluations": "8", "RepeatEvaluationType": "2", "NeedBackPropagation": "1"}},
        "",
    ),
    "half": (SMALL_NEW, {"Config": {"TypeConfig": "Half"}}, ""),
    "update_interval_weight_decay": (
        SMALL_NEW,
        {"Optimizer_0": {"UpdateInterval": "4", "WeightDecay": "0.0005"}},
        "",
    ),
    "dataset_flags": (
        SMALL_NEW,
        {"Dataset_0": {"Shuffle": "0", "EnableCache": "0", "ImageNormalization": "0"}},
        "",
    ),
    # a GAN-like project: two optimizers, each on its own network and range
    "two_optimizers": (
        SMALL_NEW,
        {"Config": {"NumOptimizer": "2"}, "Optimizer_0": {"Optimizer_Name": "Generator", "UpdateInterval": "2"}},
        "[Optimizer_1]\nOptimizer_Name=Discriminator\nOptimizer_NetworkName=Main\n"
        "Optimizer_DatasetName=Validation\nUpdateInterval=1\nSolverName=Momentum\nSolverParameterNum=2\n"
        "SolverParameterName_0=LearningRate\nSolverParameter_0=0.01\nSolverParameterName_1=Momentum\n"
        "SolverParameter_1=0.5\nWeightDecay=0.0001\nLearningRateScheduler=Step\nLearningRateMultiplier=0.5\n"
        "LearningRateUpdateInterval=1\nLearningRateUpdateIntervalUnit=0\nLearningRatePower=1\n"
        "LearningRateSteps=10,20\n",
    ),
}

SOLVER_CASES = {
    "Sgd": {"LearningRate": "0.05"},
    "Momentum": {"LearningRate": "0.05", "Momentum": "0.8"},
    "Adagrad": {"LearningRate": "0.02", "Epsilon": "1e-07"},
    "Adadelta": {"LearningRate": "0.5", "Decay": "0.9", "Epsilon": "1e-05"},
    "RMSprop": {"LearningRate": "0.002", "Decay": "0.8", "Epsilon": "1e-07"},
    "AdamW": {"Alpha": "0.002", "Beta1": "0.8", "Beta2": "0.99", "Epsilon": "1e-07", "Weight Decay": "0.001"},
    "Adamax": {"Alpha": "0.003", "Beta1": "0.8", "Beta2": "0.99", "Epsilon": "1e-07"},
    "AMSGRAD": {"Alpha": "0.002", "Beta1": "0.8", "Beta2": "0.99", "Epsilon": "1e-07"},
    "AdaBelief": {
        "Alpha": "0.002",
        "Beta1": "0.8",
        "Beta2": "0.99",
        "Epsilon": "1e-07",
        "Weight Decay": "0.001",
        "AMSGrad": "1",
        "WD Decouple": "1",
        "Fixed Decay": "0",
        "Rectify": "1",
    },
    "Lars": {"LearningRate": "0.02", "Momentum": "0.8", "Coefficient": "0.002", "Epsilon": "1e-05"},
    "SgdW": {"LearningRate": "0.02", "Momentum": "0.8", "Weight Decay": "0.001"},
    "AdaBound": {
        "Alpha": "0.002",
        "Beta1": "0.8",
        "Beta2": "0.99",
        "Epsilon": "1e-07",
        "FinalLR": "0.2",
        "Gamma": "0.002",
    },
    "AMSBound": {
        "Alpha": "0.003",
        "Beta1": "0.85",
        "Beta2": "0.995",
        "Epsilon": "1e-06",
        "FinalLR": "0.05",
        "Gamma": "0.01",
    },
}
for _solver, _params in SOLVER_CASES.items():
    _items: dict[str, str | None] = {"SolverName": _solver, "SolverParameterNum": str(len(_params))}
    for _i in range(9):
        _items[f"SolverParameterName_{_i}"] = None
        _items[f"SolverParameter_{_i}"] = None
    for _i, (_k, _v) in enumerate(_params.items()):
        _items[f"SolverParameterName_{_i}"] = _k
        _items[f"SolverParameter_{_i}"] = _v
    VARIANTS[f"solver_{_solver.lower()}"] = (SMALL_NEW, {"Optimizer_0": _items}, "")
# NNC's WeightDecay beside a decoupled solver's own "Weight Decay": nnabla's trainer puts it in wd's place
for _solver in ("SgdW", "AdamW"):
    _edits = dict(VARIANTS[f"solver_{_solver.lower()}"][1]["Optimizer_0"], WeightDecay="0.003")
    VARIANTS[f"solver_{_solver.lower()}_weight_decay"] = (SMALL_NEW, {"Optimizer_0": _edits}, "")


def edit(text: str, edits: dict[str, dict[str, str | None]], extra: str) -> str:
    """`text` (an .sdcproj) with keys of sections set (None: removed, new keys appended at the
    section's end) and `extra` sections appended."""
    out: list[str] = []
    section = None
    pending: dict[str, str | None] = {}

    def flush() -> None:
        for k, v in pending.items():
            if v is not None:
                out.append(f"{k}={v}")
        pending.clear()

    for line in text.splitlines():
        if line.startswith("["):
            flush()
            section = line.strip()[1:-1]
            pending.update(edits.get(section, {}))
            out.append(line)
            continue
        key = line.split("=", 1)[0]
        if section in edits and key in pending:
            v = pending.pop(key)
            if v is not None:
                out.append(f"{key}={v}")
            continue
        out.append(line)
    flush()
    return "\n".join(out) + "\n" + extra


def config_part(text: str) -> tuple[str, int]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "[Dataset]")
    return "\n".join(lines[start:]) + "\n", start + 1


# Run by nnabla's Python: the nntxt's config parts as JSON, read with nnabla's own protobuf classes.
PARSE = """
import json, sys
from google.protobuf import json_format, text_format
from nnabla.utils import nnabla_pb2
proto = nnabla_pb2.NNablaProtoBuf()
text_format.Parse(open(sys.argv[1]).read(), proto)
for o in proto.optimizer:
    for f in ("parameter_variable", "data_variable", "loss_variable", "generator_variable"):
        o.ClearField(f)
for m in proto.monitor:
    for f in ("data_variable", "generator_variable"):
        m.ClearField(f)
for e in proto.executor:
    for f in ("parameter_variable", "data_variable", "output_variable", "generator_variable", "loss_variable"):
        e.ClearField(f)
d = json_format.MessageToDict(proto, preserving_proto_field_name=True)
d.pop("network", None)
# nnabla's own learning-rate schedulers (as its trainer builds them) at iterations around every
# boundary of the schedule, or the error nnabla raises for a schedule it does not train
import nnabla.utils.load as load
from nnabla.ext_utils import get_extension_context
ipe = proto.training_config.iter_per_epoch or 1
total = proto.training_config.max_epoch * ipe
d["nnabla_lr"] = {}
for o in proto.optimizer:
    s = o.solver
    marks = {0, 1, 2, total - 1, total, total + 5}
    marks |= {k * total // 64 for k in range(65)}
    bounds = list(s.step_scheduler_param.iter_steps) + [s.linear_warmup_scheduler_param.warmup_iter]
    interval = s.exponential_scheduler_param.iter_interval
    bounds += [k * interval for k in range(1, 4)] if interval else []
    for b in bounds:
        marks |= {b - 1, b, b + 1}
    try:
        scheduler = load._create_optimizer(get_extension_context("cpu"), o, None).scheduler
        d["nnabla_lr"][o.name] = [[i, scheduler.get_learning_rate(i)] for i in sorted(m for m in marks if m >= 0)]
    except Exception as e:  # nnabla 1.39 trains no "Linear"
        d["nnabla_lr"][o.name] = str(e)
print(json.dumps(d))
"""


def convert(sdcproj: Path, tool: Path, work: Path, python: str) -> dict:
    nntxt = work / (sdcproj.stem + ".nntxt")
    subprocess.run(
        [str(tool / "nncd_console_cli_util"), "create_prototxt", "-i", str(sdcproj), "-o", str(nntxt),
         "-p", str(work / (sdcproj.stem + ".csv"))],
        cwd=tool, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    done = subprocess.run([python, "-c", PARSE, str(nntxt)], check=True, capture_output=True, timeout=300)
    return json.loads(done.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, required=True)
    ap.add_argument("--tool", type=Path, required=True, help="the nncd_console folder")
    ap.add_argument("--nnabla-python", required=True, help="a Python with nnabla 1.39")
    ap.add_argument("--only", nargs="+", metavar="CASE", help="regenerate these cases only (fixture names)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "nnc"))
    import nnc_config_cases

    OUT.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[str, str]] = {}
    for p in sorted(args.samples.glob("*.sdcproj")):
        cases[p.stem] = (p.stem, p.read_text())
    for name, (base, edits, extra) in VARIANTS.items():
        cases["variant_" + name] = (base, edit((args.samples / f"{base}.sdcproj").read_text(), edits, extra))
    if args.only:
        unknown = sorted(set(args.only) - set(cases))
        if unknown:
            ap.error(f"no such case: {', '.join(unknown)}")
        cases = {name: cases[name] for name in args.only}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, (base, text) in cases.items():
            src = work / f"{name}.sdcproj"
            src.write_text(text)
            cfg, line = config_part(text)
            data = {"base": base, "config_line": line, "config_text": cfg}
            exported = nnc_config_cases.exported_config_text(data, name)
            head = text.splitlines()[: line - 1]
            round_trip = work / f"{name}_exported.sdcproj"
            round_trip.write_text("\n".join(head) + "\n" + exported)
            try:
                data["nntxt"] = convert(src.resolve(), args.tool.resolve(), work, args.nnabla_python)
                data["exported_config_text"] = exported
                data["exported_nntxt"] = convert(round_trip.resolve(), args.tool.resolve(), work, args.nnabla_python)
            except subprocess.CalledProcessError as e:
                print(f"{name}: failed: {e.stderr.decode(errors='replace')[-300:]}", file=sys.stderr)
                continue
            tmp_out = OUT / f".{name}.json.tmp"
            tmp_out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
            os.replace(tmp_out, OUT / f"{name}.json")
            print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
