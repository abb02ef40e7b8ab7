"""NNC config -> .nnd: each sample's config (and each edited copy's) imports to what NNC's own
create_prototxt says it means.

The fixtures (tests/nnc/fixtures/config/, made by tools/nnc_config_fixtures.py with NNC's tool
and nnabla) hold each project's config text and the config parts of the nntxt NNC made of it.
Each case is imported with `config_to_nnd`, compiled by nndsl, and its IR read the way the
generated training scripts read it (nndsl/runtime/nnc_solvers.py: solver arguments, the
schedule in iterations, the optimizer's iteration range); that is compared with what nnabla's
trainer builds from NNC's nntxt (nnabla/utils/load.py, cli/train.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from nnc_config_cases import case_names, compile_config, import_case, load_case, referenced_networks, split_sections

from nndsl.fmt import format_module
from nndsl.nnc.config_nnd import config_to_nnd
from nndsl.nnc.idents import ident
from nndsl.runtime import nnc_solvers
from nndsl.syntax.parser import parse

ROOT = Path(__file__).resolve().parents[2]

CASES = case_names()
NNABLA_PARAM = {"alpha": "lr"}  # nnabla's names of the solvers' parameters -> nnc_solvers' canonical ones


# --- what nnabla builds from NNC's nntxt -------------------------------------------------------


def nnabla_schedule(solver: dict) -> tuple[str, dict, int]:
    """(kind, arguments, warm-up iterations) as nnabla's _create_optimizer builds them (load.py)."""
    kind = solver.get("lr_scheduler_type", "")
    out: tuple[str, dict] = ("constant", {})
    if kind == "Polynomial":
        p = solver.get("polynomial_scheduler_param", {})
        if p.get("power", 0.0) != 0.0:
            out = ("polynomial", {"max_iter": int(p.get("max_iter", 0)), "power": p["power"]})
    elif kind == "Cosine":
        out = ("cosine", {"max_iter": int(solver.get("cosine_scheduler_param", {}).get("max_iter", 0))})
    elif kind == "Exponential":
        p = solver.get("exponential_scheduler_param", {})
        if p.get("gamma", 0.0) != 1.0:
            out = ("exponential", {"gamma": p.get("gamma", 0.0), "interval": max(int(p.get("iter_interval", 0)), 1)})
    elif kind == "Step":
        p = solver.get("step_scheduler_param", {})
        if p.get("gamma", 0.0) != 1.0 and p.get("iter_steps"):
            out = ("step", {"gamma": p["gamma"], "steps": [int(s) for s in p["iter_steps"]]})
    elif kind == "":
        if solver.get("lr_decay_interval") or solver.get("lr_decay"):
            gamma = solver.get("lr_decay") or 1.0
            out = ("exponential", {"gamma": gamma, "interval": max(int(solver.get("lr_decay_interval", 1)), 1)})
    else:
        out = (f"not trained by nnabla: {kind}", {})
    if out[0] == "exponential" and out[1]["gamma"] == 1.0:
        out = ("constant", {})
    warmup = 0
    if solver.get("lr_warmup_scheduler_type") == "Linear":
        warmup = int(solver.get("linear_warmup_scheduler_param", {}).get("warmup_iter", 0))
    return out[0], out[1], warmup


def nnabla_solver(solver: dict) -> tuple[str, dict]:
    """The solver nnabla's trainer runs: for AdamW and SgdW, solver.weight_decay(weight_decay), called when
    weight_decay > 0 (utils/cli/train.py), sets the decoupled rate wd and adds nothing to the gradient."""
    params = next(v for k, v in solver.items() if k.endswith("_param") and "scheduler" not in k)
    out = {NNABLA_PARAM.get(k, k): v for k, v in params.items()}
    out["weight_decay"] = solver.get("weight_decay", 0.0)
    if solver["type"] in nnc_solvers.DECOUPLED and out["weight_decay"] > 0:
        out["wd"], out["weight_decay"] = out["weight_decay"], 0.0
    return solver["type"], out


def nnc_meaning(nntxt: dict) -> dict:
    """The config parts of an nntxt in one comparable form (protobuf's JSON omits 0 and false)."""
    tc = nntxt.get("training_config", {})
    out = {
        "max_epoch": int(tc.get("max_epoch", 0)),
        "save_best": tc.get("save_best", False),
        "monitor_interval": int(tc.get("monitor_interval", 0)),
        "datasets": [
            {
                "name": d["name"],
                "uri": d.get("uri", ""),
                "shuffle": d.get("shuffle", False),
                "cache": not d.get("overwrite_cache", False),
                "image_normalization": not d.get("no_image_normalization", False),
                "batch_size": int(d.get("batch_size", 0)),
            }
            for d in nntxt.get("dataset", [])
        ],
        "optimizers": [],
        "monitors": [
            {"name": m["name"], "network": m["network_name"], "dataset": m.get("dataset_name", [None])[0]}
            for m in nntxt.get("monitor", [])
        ],
        "executors": [
            {
                "name": e["name"],
                "network": e["network_name"],
                "num_evaluations": int(e.get("num_evaluations", 0)),
                "evaluation": e.get("repeat_evaluation_type", ""),
                "back_propagation": e.get("need_back_propagation", False),
            }
            for e in nntxt.get("executor", [])
        ],
    }
    for o in nntxt.get("optimizer", []):
        out["optimizers"].append(
            {
                "name": o["name"],
                "network": o["network_name"],
                "dataset": o.get("dataset_name", [None])[0],
                "update_interval": int(o.get("update_interval", 0)),
                "range": (int(o.get("start_iter", 0)), int(o.get("end_iter", 0))),
                "solver": nnabla_solver(o["solver"]),
                "schedule": nnabla_schedule(o["solver"]),
            }
        )
    return out


# --- what the generated projects make of nndsl's IR -----------------------------------------------


def nndsl_meaning(project, iterations_per_epoch: int) -> dict:
    cfg = project.config
    total = cfg.max_epoch * iterations_per_epoch
    with_uri = {d.name for d in project.datasets if d.uri}

    def ref(dataset: str | None) -> str | None:  # NNC names no dataset that has no URI
        return dataset if dataset in with_uri else None

    out = {
        "max_epoch": cfg.max_epoch,
        "save_best": cfg.save_best,
        "monitor_interval": cfg.monitor_interval,
        "datasets": [
            {
                "name": d.name,
                "uri": d.uri,
                "shuffle": d.settings["shuffle"],
                "cache": d.settings["cache"],
                "image_normalization": d.settings["image_normalization"],
                "batch_size": cfg.batch_size,
            }
            for d in project.datasets
            if d.uri  # NNC writes no dataset without a URI
        ],
        "optimizers": [],
        "monitors": [{"name": m.name, "network": m.network, "dataset": ref(m.dataset)} for m in cfg.monitors],
        "executors": [
            {
                "name": e.name,
                "network": e.network,
                "num_evaluations": e.num_evaluations,
                "evaluation": e.evaluation,
                "back_propagation": e.back_propagation,
            }
            for e in cfg.executors
        ],
    }
    for o in cfg.optimizers:
        name, args = nnc_solvers.solver_arguments(o.solver.type, o.solver.params)
        params = dict(o.schedule.params)
        if o.schedule.warmup:
            params["warmup"] = o.schedule.warmup
        kind, sched, warmup = nnc_solvers.schedule_arguments(o.schedule.type, params, iterations_per_epoch, total)
        if kind == "exponential" and sched["gamma"] == 1.0:
            kind, sched = "constant", {}
        out["optimizers"].append(
            {
                "name": o.name,
                "network": o.network,
                "dataset": ref(o.dataset),
                "update_interval": o.update_interval,
                "range": nnc_solvers.iteration_range(o.start, o.end, iterations_per_epoch),
                "solver": (name, args),
                "schedule": (kind, sched, warmup),
            }
        )
    return out


def assert_same(nndsl: dict, nnc: dict, case: str) -> None:
    assert nndsl.keys() == nnc.keys()
    for key in nnc:
        if key != "optimizers":
            assert nndsl[key] == nnc[key], f"{case}: {key}"
    assert len(nndsl["optimizers"]) == len(nnc["optimizers"]), case
    for mine, theirs in zip(nndsl["optimizers"], nnc["optimizers"], strict=True):
        for key in ("name", "network", "dataset", "update_interval", "range"):
            assert mine[key] == theirs[key], f"{case}: optimizer {key}"
        assert mine["solver"][0] == theirs["solver"][0], case
        mine_args, their_args = mine["solver"][1], theirs["solver"][1]
        for k in their_args.keys() | mine_args.keys():
            a, b = mine_args.get(k, 0.0), their_args.get(k, 0.0)  # protobuf leaves out 0 and false
            assert math.isclose(float(a), float(b), rel_tol=1e-6), f"{case}: solver {k}: {a} != {b}"
        assert mine["schedule"][0] == theirs["schedule"][0], f"{case}: schedule {mine['schedule']} {theirs['schedule']}"
        assert mine["schedule"][2] == theirs["schedule"][2], f"{case}: warm-up"
        for k, b in theirs["schedule"][1].items():
            a = mine["schedule"][1][k]
            if isinstance(b, list):
                assert a == b, f"{case}: schedule {k}"
            else:
                assert math.isclose(float(a), float(b), rel_tol=1e-6), f"{case}: schedule {k}: {a} != {b}"


def _names(meaning: dict) -> dict:
    """NNC's names as the importer spells them in .nnd (ident)."""
    for group in ("datasets", "optimizers", "monitors", "executors"):
        for item in meaning[group]:
            for k in ("name", "network", "dataset"):
                if item.get(k):
                    item[k] = ident(item[k])
    return meaning


@pytest.mark.parametrize("name", CASES)
def test_config_imports_to_what_nnc_makes_of_it(name):
    case = load_case(name)
    project, text, diagnostics = import_case(case, name)
    assert not diagnostics, [d.message for d in diagnostics]
    compiled = compile_config(text, referenced_networks(project), name)
    nntxt = case["nntxt"]
    ipe = int(nntxt["training_config"].get("iter_per_epoch", 0))
    # NNC's epoch length is the main dataset's NumData // BatchSize; the import keeps NumData
    main = next(d for d in compiled.datasets if d.name == compiled.config.optimizers[0].dataset)
    assert main.settings.get("num_data", 0) // compiled.config.batch_size == ipe
    theirs = _names(nnc_meaning(nntxt))
    if name == "variant_linear":
        # NNC hands nnabla "Linear", which nnabla's trainer refuses ("not supported"); nndsl's Linear
        # (linear decay to 0 over the training) is nnabla's Polynomial of power 1: what NNC makes of
        # the exported project (exported_nntxt) is the reference here.
        assert theirs["optimizers"][0]["schedule"][0] == "not trained by nnabla: Linear"
        theirs = _names(nnc_meaning(case["exported_nntxt"]))
        assert theirs["optimizers"][0]["schedule"][:2] == ("polynomial", {"max_iter": 100 * ipe, "power": 1.0})
    assert_same(nndsl_meaning(compiled, ipe), theirs, name)


def test_every_sample_has_a_case():
    samples = [c for c in CASES if not c.startswith("variant_")]
    assert len(samples) == 13  # the 12 NNC samples with networks nndsl reads, and the Elman sample
    assert len(CASES) - len(samples) >= 30


@pytest.mark.parametrize("name", CASES)
def test_imported_config_is_fmt_canonical(name):
    _, text, _ = import_case(load_case(name), name)
    module, problems = parse(text, "x.nnd")
    assert not problems
    assert format_module(module) == text


def test_precision_half():
    # NNC's TypeConfig=Half reaches nnabla only as a GPU context ("cudnn:half"); on the CPU the tool
    # writes cpu:float, so the fixture shows the key and the import keeps it as config precision.
    case = load_case("variant_half")
    assert "TypeConfig=Half" in case["config_text"]
    project, text, _ = import_case(case, "variant_half")
    assert "precision = half" in text
    assert compile_config(text, referenced_networks(project)).config.precision == "half"


def test_unknown_solver_is_a_positioned_error():
    name = "variant_solver_sgdw"
    case = load_case(name)
    case = {**case, "config_text": case["config_text"].replace("SolverName=SgdW", "SolverName=Nadam")}
    _, text, diagnostics = import_case(case, name)
    assert [d.code for d in diagnostics] == ["E0620"]
    d = diagnostics[0]
    line = case["config_line"] + case["config_text"].splitlines().index("SolverName=Nadam")
    assert (d.span.path, d.span.line) == (f"{name}.sdcproj", line)
    assert d.message.startswith("[Optimizer_0] NNC's solver") and "Nadam" in d.message
    assert "SgdW, AdaBound, AMSBound" in d.message  # the solvers nndsl has
    assert "optimizer Optimizer" in text and "monitor valid_error" in text  # the rest still imports


@pytest.mark.parametrize("name", ["SgdW", "AdaBound", "AMSBound"])
def test_every_nnc_solver_imports(name):
    """Every solver of NNC's solver table (components.SOLVERS) is one nndsl has, with every parameter."""
    from nndsl.nnc.components import SOLVERS as NNC_TABLE
    from nndsl.nnc.config_nnd import NNC_SOLVER_PARAMS

    assert set(NNC_TABLE) <= set(NNC_SOLVER_PARAMS)
    assert [n for n, _, _ in NNC_TABLE[name][1]] == [n for n, _ in NNC_SOLVER_PARAMS[name]]
    variant = f"variant_solver_{name.lower()}"
    _, text, diagnostics = import_case(load_case(variant), variant)
    assert not diagnostics and f"solver = {name}(" in text


BAD = """[Dataset]
Num=1
MainIndex=0
[Dataset_0]
Name=Training
URI=train.csv
Shuffle=maybe
NumData=10
[Config]
MaxEpoch=ten
BatchSize=2
TypeConfig=Double
[Optimizer_0]
Optimizer_Name=Optimizer
Optimizer_NetworkName=Main
Optimizer_DatasetName=Training
SolverName=Nadam
LearningRateScheduler=Triangle
RangeFrom=0
RangeUnit=3
[Optimizer_1]
Optimizer_Name=Second
Optimizer_NetworkName=Main
SolverName=Adam
SolverParameterNum=2
SolverParameterName_0=Alpha
SolverParameter_0=fast
SolverParameterName_1=Momentum
SolverParameter_1=0.9
LearningRateScheduler=Step
LearningRateSteps=10,x
LearningRateUpdateIntervalUnit=0
LearningRateMultiplier=0.5
[Executor_0]
Executor_Name=Executor
Executor_NetworkName=Main
RepeatEvaluationType=7
"""


def test_every_problem_positioned_in_one_run():
    project = split_sections(BAD, "bad.sdcproj", 100)
    diagnostics: list = []
    text = config_to_nnd(project, diagnostics)
    got = [(d.code, d.span.line, d.message.split("]")[0] + "]") for d in diagnostics]
    assert got == [
        ("E0622", 106, "[Dataset_0]"),  # Shuffle=maybe
        ("E0622", 109, "[Config]"),  # MaxEpoch=ten
        ("E0622", 111, "[Config]"),  # TypeConfig=Double
        ("E0620", 116, "[Optimizer_0]"),  # SolverName=Nadam
        ("E0621", 117, "[Optimizer_0]"),  # LearningRateScheduler=Triangle
        ("E0622", 119, "[Optimizer_0]"),  # RangeUnit=3
        ("E0622", 118, "[Optimizer_0]"),  # RangeFrom=0
        ("E0622", 126, "[Optimizer_1]"),  # SolverParameter_0=fast
        ("E0622", 127, "[Optimizer_1]"),  # Momentum is not Adam's
        ("E0622", 130, "[Optimizer_1]"),  # a step 'x'
        ("E0622", 136, "[Executor_0]"),  # RepeatEvaluationType=7
    ], got
    assert all(d.span.path == "bad.sdcproj" and d.severity == "error" for d in diagnostics)
    # what could be read is still written, and compiles
    compile_config(text, ["Main"], "bad")
    assert "schedule = Step(multiplier=0.5, steps=[10 epochs])" in text


def test_legacy_lr_decay_counts_iterations():
    # no LearningRateScheduler: NNC's lr_decay form, in iterations even where NumData is known
    for name in ("variant_legacy_lr_decay", "variant_legacy_lr_decay_numdata"):
        case = load_case(name)
        assert "LearningRateScheduler" not in case["config_text"]
        _, text, _ = import_case(case, name)
        assert "schedule = Exponential(multiplier=0.5, interval=7 iterations)" in text
        assert case["nntxt"]["optimizer"][0]["solver"]["exponential_scheduler_param"]["iter_interval"] == "7"


def test_gan_two_optimizers_in_order():
    case = load_case("variant_two_optimizers")
    project, text, _ = import_case(case, "variant_two_optimizers")
    cfg = compile_config(text, referenced_networks(project)).config
    assert [o.name for o in cfg.optimizers] == ["Generator", "Discriminator"]
    assert [o.name for o in cfg.optimizers] == [o["name"] for o in case["nntxt"]["optimizer"]]
    assert cfg.optimizers[1].schedule.params["steps"] == ((10, "epoch"), (20, "epoch"))
