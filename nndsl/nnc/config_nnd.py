"""NNC's config (datasets, optimizers, schedules, monitors, executors) <-> the .nnd config.

`config_to_nnd` turns the config sections of an `NncProject` (`[Dataset_i]`, `[Config]`,
`[Optimizer_i]`, `[Monitor_i]`, `[Executor_i]`) into `.nnd` `dataset` items and a `config { }`
block, fmt-canonical; `config_to_nnc` turns a compiled `Config` and datasets back into the
sections NNC writes, with NNC's keys in NNC's order. What each key means was read off NNC's own
`create_prototxt` (tools/nnc_config_fixtures.py runs it on the samples and on edited copies):

- `LearningRateUpdateIntervalUnit`, `LearningRateWarmupLengthUnit`, `RangeUnit`: 0 epochs,
  1 iterations. Durations in epochs become iterations with NNC's `iter_per_epoch`
  (NumData // BatchSize).
- No `LearningRateScheduler` (the legacy `lr_decay` form): Exponential with
  `LearningRateMultiplier` every `LearningRateUpdateInterval` iterations. A multiplier of 1 is
  a constant rate (NNC writes Constant as Exponential, 1, every 1 iteration).
- Step: `LearningRateSteps` (`30,60,90`) in the interval unit. Cosine and Polynomial
  (`LearningRatePower`) run over the whole training (max_epoch * iter_per_epoch).
  NNC's `Linear` reaches nnabla as "Linear", which nnabla 1.39 does not train; nndsl's Linear
  (to 0 over the training) is exported as Polynomial with power 1, which nnabla trains.
- Warm-up: `LearningRateWarmupScheduler=Linear` for `LearningRateWarmupLength` (unit).
- `RangeFrom`/`RangeTo`: the first and last iteration (or epoch) the optimizer runs, counted
  from 1 and included (nnabla's start_iter/end_iter: epochs a..b are iterations
  (a-1)*ipe+1 .. b*ipe); -1 means open.
- `RepeatEvaluationType`: 0 mean, 1 last, 2 std. `TypeConfig`: Float or Half.
- A missing `MonitorInterval` is 10, as NNC makes it.
- Solver parameters are `SolverParameterName_i`/`SolverParameter_i` pairs by NNC's display
  names (NNC's solver_component.txt): `Alpha`, `LearningRate`, `Weight Decay` (AdamW's
  decoupled rate, not the optimizer's `WeightDecay`), `WD Decouple`, ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import ir
from ..diagnostics import Diagnostic, Span, make
from ..solvers import NNC_SCHEDULES, OPTIONAL, SOLVERS
from .idents import ident
from .project import NncProject, NncSection, Where

# NNC's solvers: (NNC display name, nndsl parameter), in NNC's order (solver_component.txt).
NNC_SOLVER_PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "Sgd": (("LearningRate", "lr"),),
    "Momentum": (("LearningRate", "lr"), ("Momentum", "momentum")),
    "Nesterov": (("LearningRate", "lr"), ("Momentum", "momentum")),
    "Adagrad": (("LearningRate", "lr"), ("Epsilon", "epsilon")),
    "Adadelta": (("LearningRate", "lr"), ("Decay", "decay"), ("Epsilon", "epsilon")),
    "RMSprop": (("LearningRate", "lr"), ("Decay", "decay"), ("Epsilon", "epsilon")),
    "RMSpropGraves": (("LearningRate", "lr"), ("Decay", "decay"), ("Momentum", "momentum"), ("Epsilon", "epsilon")),
    "Adam": (("Alpha", "lr"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "epsilon")),
    "AdamW": (("Alpha", "lr"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "epsilon"), ("Weight Decay", "wd")),
    "Adamax": (("Alpha", "lr"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "epsilon")),
    "AMSGRAD": (("Alpha", "lr"), ("Beta1", "beta1"), ("Beta2", "beta2"), ("Epsilon", "epsilon")),
    "AdaBelief": (
        ("Alpha", "lr"),
        ("Beta1", "beta1"),
        ("Beta2", "beta2"),
        ("Epsilon", "epsilon"),
        ("Weight Decay", "wd"),
        ("AMSGrad", "amsgrad"),
        ("WD Decouple", "weight_decouple"),
        ("Fixed Decay", "fixed_decay"),
        ("Rectify", "rectify"),
    ),
    "Lars": (("LearningRate", "lr"), ("Momentum", "momentum"), ("Coefficient", "coefficient"), ("Epsilon", "epsilon")),
    "SgdW": (("LearningRate", "lr"), ("Momentum", "momentum"), ("Weight Decay", "wd")),
    "AdaBound": (
        ("Alpha", "lr"),
        ("Beta1", "beta1"),
        ("Beta2", "beta2"),
        ("Epsilon", "epsilon"),
        ("FinalLR", "final_lr"),
        ("Gamma", "gamma"),
    ),
    "AMSBound": (
        ("Alpha", "lr"),
        ("Beta1", "beta1"),
        ("Beta2", "beta2"),
        ("Epsilon", "epsilon"),
        ("FinalLR", "final_lr"),
        ("Gamma", "gamma"),
    ),
}
# nnabla's solver options NNC has no setting for (its trainer leaves them off): nndsl's AMSGRAD, AMSBound
_NOT_IN_NNC = ("bias_correction",)
EVALUATION_TYPES = ("mean", "last", "std")  # RepeatEvaluationType 0, 1, 2
UNITS = ("epoch", "iteration")  # NNC's unit keys: 0, 1
NNC_MONITOR_INTERVAL = 10  # what NNC makes of a [Config] without MonitorInterval
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")


# --- NNC -> .nnd ---------------------------------------------------------------------------


class _Reader:
    """Reads one section's values, appending a positioned diagnostic for each bad one."""

    def __init__(self, section: NncSection, diagnostics: list[Diagnostic]):
        self.s = section
        self.diagnostics = diagnostics

    def span(self, key: str | None = None) -> Span:
        line = self.s.lines.get(key, 0) if key else 0
        line = line or self.s.where.line or 1
        return Span(self.s.where.file, line, 1, line, 1)

    def error(self, key: str | None, reason: str) -> None:
        value = self.s.items.get(key, "") if key else ""
        self.diagnostics.append(
            make("E0622", self.span(key), section=self.s.name, key=key or "", value=value, reason=reason)
        )

    def has(self, key: str) -> bool:
        return key in self.s.items

    def text(self, key: str, default: str = "") -> str:
        return self.s.items.get(key, default).strip()

    def int(self, key: str, default: int, low: int | None = None) -> int:
        raw = self.text(key)
        if not raw:
            return default
        try:
            v = int(raw)
        except ValueError:
            try:
                f = float(raw)
            except ValueError:
                f = math.nan
            if not f.is_integer():
                self.error(key, "an integer is needed")
                return default
            v = int(f)
        if low is not None and v < low:
            self.error(key, f"must be at least {low}")
            return default
        return v

    def number(self, key: str, default: str) -> str:
        """A number as .nnd text: NNC's own spelling where .nnd reads it (`1e-08`, `0.9`)."""
        raw = self.text(key)
        if not raw:
            return default
        return self.number_text(raw, key, default)

    def number_text(self, raw: str, key: str, default: str) -> str:
        try:
            f = float(raw)
        except ValueError:
            self.error(key, "a number is needed")
            return default
        if not math.isfinite(f):
            self.error(key, "a finite number is needed")
            return default
        return raw.lstrip("+") if _NUMBER.match(raw) else repr(f)

    def flag(self, key: str, default: bool) -> bool:
        raw = self.text(key)
        if not raw:
            return default
        if raw in ("0", "1") or raw.lower() in ("true", "false"):
            return raw in ("1",) or raw.lower() == "true"
        self.error(key, "0 or 1 is needed")
        return default

    def unit(self, key: str, default: str = "iteration") -> str:
        raw = self.text(key)
        if not raw:
            return default
        if raw in ("0", "1"):
            return UNITS[int(raw)]
        self.error(key, "0 (epochs) or 1 (iterations) is needed")
        return default


def _duration(value: int, unit: str) -> str:
    return f"{value} {unit}" + ("" if value == 1 else "s")


def _string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _indexed(sections: list[NncSection]) -> list[NncSection]:
    def index(s: NncSection) -> int:
        m = re.search(r"_(\d+)\Z", s.name)
        return int(m.group(1)) if m else -1

    return sorted(sections, key=index)


def config_to_nnd(project: NncProject, diagnostics: list[Diagnostic]) -> str:
    """The project's datasets and config as .nnd text (`dataset` items, then `config { }`),
    fmt-canonical. Every problem is appended to `diagnostics`, positioned at the file and line,
    naming the section; what can be read is still written."""
    lines: list[str] = []
    known: dict[str, set[str]] = {"network": set(), "dataset": set()}
    for s in _indexed(project.section("Dataset")):
        lines.append(_dataset(_Reader(s, diagnostics)))
        known["dataset"].add(_dataset_name(_Reader(s, [])))
    # The project's networks and the ones NNC derives from Main (MainValidation, MainRuntime).
    names = {ident(n.name) for n in project.networks}
    known["network"] = names | ({"MainValidation", "MainRuntime"} if "Main" in names else set())
    cfg = project.section("Config")
    body: list[str] = []
    if cfg:
        r = _Reader(cfg[0], diagnostics)
        body.append(f"max_epoch = {r.int('MaxEpoch', 100, 1)}")
        body.append(f"batch_size = {r.int('BatchSize', 64, 1)}")
        body.append(f"save_best = {'true' if r.flag('SaveBest', True) else 'false'}")
        body.append(f"monitor_interval = {r.int('MonitorInterval', NNC_MONITOR_INTERVAL, 1)}")
        precision = r.text("TypeConfig", "Float")
        if precision.lower() == "half":
            body.append("precision = half")
        elif precision.lower() != "float":
            r.error("TypeConfig", "NNC's types are Float and Half")
    for s in _indexed(project.section("Optimizer")):
        body.append(_optimizer(_Reader(s, diagnostics), known))
    for s in _indexed(project.section("Monitor")):
        r = _Reader(s, diagnostics)
        settings = _refs(r, "Monitor", known)
        body.append(f"monitor {ident(r.text('Monitor_Name') or 'monitor')} {{ {', '.join(settings)} }}")
    for s in _indexed(project.section("Executor")):
        body.append(_executor(_Reader(s, diagnostics), known))
    out = "\n".join(lines)
    if body:
        out += ("\n\n" if lines else "") + "config {\n" + "".join(_indent(b) for b in body) + "}"
    return _canonical(out + "\n") if out.strip() else ""


def _indent(block: str) -> str:
    return "".join(f"    {line}\n" for line in block.splitlines())


def _canonical(text: str) -> str:
    """`text` as `nndsl fmt` prints it (the config importer's text is already near it)."""
    from ..fmt import format_module
    from ..syntax.parser import parse

    module, problems = parse(text, "<nnc config>")
    return text if problems else format_module(module)


def _dataset_name(r: _Reader) -> str:
    return ident(r.text("Name") or r.s.name)


def _dataset(r: _Reader) -> str:
    name = _dataset_name(r)
    settings = [f"shuffle = {'true' if r.flag('Shuffle', False) else 'false'}"]
    if not r.flag("EnableCache", True):
        settings.append("cache = false")
    if r.flag("ImageNormalization", False):
        settings.append("image_normalization = true")
    if r.int("NumData", 0, 0) > 0:  # NNC's record of the dataset's size (0: not known)
        settings.append(f"num_data = {r.int('NumData', 0, 0)}")
    return f"dataset {name} = {_string(r.text('URI'))} {{ {', '.join(settings)} }}"


def _refs(r: _Reader, prefix: str, known: dict[str, set[str]]) -> list[str]:
    """`network = ...` and `dataset = ...` of a role; a name the project does not define is an
    error here, at the line that names it (`known`: "network" and "dataset" names, as .nnd names)."""
    out = []
    network = r.text(f"{prefix}_NetworkName")
    if not network:
        r.error(f"{prefix}_NetworkName", "the network's name is needed")
    elif known["network"] and ident(network) not in known["network"]:
        r.error(f"{prefix}_NetworkName", f"names network '{network}', which the project does not define")
    else:
        out.append(f"network = {ident(network)}")
    dataset = r.text(f"{prefix}_DatasetName")
    if dataset and ident(dataset) not in known["dataset"]:
        r.error(f"{prefix}_DatasetName", f"names dataset '{dataset}', which the project does not define")
    elif dataset:
        out.append(f"dataset = {ident(dataset)}")
    return out


def _optimizer(r: _Reader, known: dict[str, set[str]]) -> str:
    settings = _refs(r, "Optimizer", known)
    solver = _solver(r)
    if solver:
        settings.append(f"solver = {solver}")
    schedule = _schedule(r)
    if schedule:
        settings.append(f"schedule = {schedule}")
    interval = r.int("UpdateInterval", 1, 1)
    if interval != 1:
        settings.append(f"update_interval = {interval}")
    unit = r.unit("RangeUnit", "epoch")
    for key, word in (("RangeFrom", "start"), ("RangeTo", "end")):
        v = r.int(key, -1)
        if v > 0:
            settings.append(f"{word} = {_duration(v, unit)}")
        elif v == 0:
            r.error(key, "counts from 1 (-1: open)")
    name = ident(r.text("Optimizer_Name") or "optimizer")
    return f"optimizer {name} {{\n" + "".join(f"    {s}\n" for s in settings) + "}"


def _solver(r: _Reader) -> str | None:
    name = r.text("SolverName")
    table = {k.lower(): k for k in NNC_SOLVER_PARAMS}
    solver = table.get(name.lower())
    if solver is None:
        r.diagnostics.append(
            make(
                "E0620",
                r.span("SolverName"),
                section=r.s.name,
                name=name,
                choices=", ".join(NNC_SOLVER_PARAMS),
            )
        )
        return None
    by_nnc = {n.lower(): p for n, p in NNC_SOLVER_PARAMS[solver]}
    types = {p.name: p.type for p in SOLVERS[solver]}
    defaults = {p.name: p.default for p in SOLVERS[solver]}
    args: dict[str, str] = {}
    count = r.int("SolverParameterNum", 0, 0)
    for i in range(count):
        key, vkey = f"SolverParameterName_{i}", f"SolverParameter_{i}"
        pname = r.text(key)
        param = by_nnc.get(pname.lower())
        if param is None:
            expected = ", ".join(n for n, _ in NNC_SOLVER_PARAMS[solver])
            r.error(key, f"solver {solver} has no parameter '{pname}' (NNC's are {expected})")
            continue
        if not r.has(vkey):
            r.error(vkey, f"the value of {pname} is missing")
            continue
        if types[param] == "bool":
            value = r.flag(vkey, False)
            if param == "lr" or value != defaults[param]:  # as a person writes it: defaults left out
                args[param] = "true" if value else "false"
        else:
            text = r.number(vkey, "0")
            default = defaults[param]
            if param == "lr" or not isinstance(default, int | float) or float(text) != default:
                args[param] = text
    wd = r.number("WeightDecay", "0")
    if float(wd) != 0:
        args["weight_decay"] = wd
    return f"{solver}({', '.join(f'{k}={v}' for k, v in args.items())})" if args else solver


def _schedule(r: _Reader) -> str | None:
    kind = r.text("LearningRateScheduler")
    unit = r.unit("LearningRateUpdateIntervalUnit")
    multiplier = r.number("LearningRateMultiplier", "1")
    if kind in ("", "Exponential"):  # "": NNC's legacy lr_decay form, counted in iterations
        interval = r.int("LearningRateUpdateInterval", 1, 1)
        if float(multiplier) == 1:
            text = "Constant"
        else:
            text = f"Exponential(multiplier={multiplier}, interval={_duration(interval, unit)})"
    elif kind == "Step":
        steps = _steps(r)
        if not steps or float(multiplier) == 1:
            text = "Constant"  # nnabla: no step, or a multiplier of 1, is a constant rate
        else:
            listed = ", ".join(_duration(s, unit) for s in steps)
            text = f"Step(multiplier={multiplier}, steps=[{listed}])"
    elif kind == "Cosine":
        text = "Cosine"
    elif kind == "Polynomial":
        power = r.number("LearningRatePower", "1")
        text = "Constant" if float(power) == 0 else f"Polynomial(power={power})"
    elif kind == "Linear":
        text = "Linear"
    elif kind == "None":
        text = "Constant"
    else:
        r.diagnostics.append(
            make(
                "E0621",
                r.span("LearningRateScheduler"),
                section=r.s.name,
                name=kind,
                choices="Exponential, Step, Cosine, Polynomial, Linear",
            )
        )
        return None
    warmup = r.text("LearningRateWarmupScheduler", "None")
    length = r.int("LearningRateWarmupLength", 0, 0)
    if warmup == "Linear" and length > 0:
        w = f"warmup={_duration(length, r.unit('LearningRateWarmupLengthUnit', 'epoch'))}"
        text = f"{text[:-1]}, {w})" if text.endswith(")") else f"{text}({w})"
    elif warmup not in ("None", "Linear"):
        r.diagnostics.append(
            make("E0621", r.span("LearningRateWarmupScheduler"), section=r.s.name, name=warmup, choices="None, Linear")
        )
    return None if text == "Constant" else text


def _steps(r: _Reader) -> list[int]:
    raw = r.text("LearningRateSteps")
    # only LearningRateSteps: NNC's tool reads no LearningRateStep_i (NumLearningRateStep) keys
    items = [x.strip() for x in raw.split(",") if x.strip()] if raw else []
    out = []
    for x in items:
        try:
            v = int(x)
        except ValueError:
            r.error("LearningRateSteps", f"'{x}' is not a whole number of epochs or iterations")
            continue
        if v < 0:
            r.error("LearningRateSteps", f"a step must not be negative, got {v}")
            continue
        out.append(v)
    return out


def _executor(r: _Reader, known: dict[str, set[str]]) -> str:
    settings = _refs(r, "Executor", known)
    n = r.int("NumEvaluations", 1, 1)
    if n != 1:
        settings.append(f"num_evaluations = {n}")
    kind = r.int("RepeatEvaluationType", 0)
    if 0 <= kind < len(EVALUATION_TYPES):
        if kind:
            settings.append(f"evaluation = {EVALUATION_TYPES[kind]}")
    else:
        r.error("RepeatEvaluationType", "NNC's types are 0 (mean), 1 (last) and 2 (std)")
    if r.flag("NeedBackPropagation", False):
        settings.append("back_propagation = true")
    return f"executor {ident(r.text('Executor_Name') or 'executor')} {{ {', '.join(settings)} }}"


# --- .nnd -> NNC ---------------------------------------------------------------------------

ENGINE = {"SDeepEngineType": "NNabla", "RNNTrainingMode": "0"}
SCRIPT = {"Enabled": "0", "NumScript": "0"}
STRUCTURE_SEARCH = {
    "Enabled": "0",
    "Method": "Random",
    "Objective": "ErrorAndCalculation",
    "Validation_Min": "-1",
    "Validation_Max": "-1",
    "CostMultiplyAdd_Min": "-1",
    "CostMultiplyAdd_Max": "-1",
    "EarlyStopping": "0",
    "TimeLimit": "",
    "SetLearningRateOfConvolutionAsZero": "0",
    "AttemptHours": "2",
    "AttemptTimes": "100",
    "NumParallel": "1",
}


def _num(v: Any) -> str:
    """A number as NNC writes it: integers without a point, others as Python's shortest repr."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


_MAX_CSV_BYTES = 16 * 1024**3  # counting a dataset's rows reads at most this much of its CSV


def dataset_rows(path: str | Path, root: Path) -> int | None:
    """The data rows of a dataset CSV (its non-blank lines less the header), or None when it is not
    there, not inside the spec's folder tree `root` (nothing outside it is read) or over
    `_MAX_CSV_BYTES`. Read in chunks: linear in the file, whatever its line lengths."""
    try:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
            return None
        if resolved.stat().st_size > _MAX_CSV_BYTES:
            return None
        rows = 0
        content = False  # the current line has a non-blank character
        with open(resolved, "rb") as f:
            while chunk := f.read(1 << 20):
                *ended, rest = chunk.split(b"\n")
                for line in ended:
                    rows += content or bool(line.strip())
                    content = False
                content = content or bool(rest.strip())
        return max(rows + content - 1, 0)
    except OSError:
        return None


def config_to_nnc(
    config: ir.Config,
    datasets: tuple[ir.Dataset, ...],
    diagnostics: list[Diagnostic] | None = None,
    root: Path | None = None,
) -> dict[str, list[NncSection]]:
    """The sections NNC writes for `config` and `datasets`, by kind, in NNC's file order:
    "Engine" (before the networks), then "Datasets" (`[Dataset]`: Num, MainIndex), "Dataset",
    "Description", "Config", "Optimizer", "Monitor", "Executor", "Script", "StructureSearch".
    Items are NNC's keys and value strings in NNC's order. What NNC cannot say (steps or a range
    in mixed units) is written as nearly as it can be and reported into `diagnostics` when given.
    A dataset without `num_data` gets its CSV's rows (`dataset_rows`) when `root`, the spec's folder,
    is given and holds the CSV; else 0, NNC's "not known"."""
    problems = diagnostics if diagnostics is not None else []
    where = Where("", "", 0)

    def section(name: str, items: dict[str, str]) -> NncSection:
        return NncSection(name, items, Where(where.file, name, 0))

    trained = [o.dataset for o in config.optimizers if o.dataset]
    names = [d.name for d in datasets]
    main = names.index(trained[0]) if trained and trained[0] in names else 0
    out: dict[str, list[NncSection]] = {"Engine": [section("Engine", dict(ENGINE))]}
    out["Datasets"] = [section("Dataset", {"Num": str(len(datasets)), "MainIndex": str(main)})]
    out["Dataset"] = []
    for i, d in enumerate(datasets):
        shuffle = d.settings.get("shuffle")
        if shuffle is None:
            shuffle = d.name in trained
        items = {
            "Name": d.name,
            "URI": d.uri,
            "Shuffle": _num(bool(shuffle)),
            "EnableCache": _num(bool(d.settings.get("cache", True))),
            "ImageNormalization": _num(bool(d.settings.get("image_normalization", False))),
        }
        num_data = d.settings.get("num_data")
        if num_data is None:
            num_data = dataset_rows(d.path, root) if root is not None else None
        items["NumData"] = str(num_data or 0)  # 0: not known, as NNC writes it
        out["Dataset"].append(section(f"Dataset_{i}", items))
    out["Description"] = [section("Description", {"Text": ""})]
    out["Config"] = [
        section(
            "Config",
            {
                "MaxEpoch": str(config.max_epoch),
                "SaveBest": _num(config.save_best),
                "BatchSize": str(config.batch_size),
                "TypeConfig": "Half" if config.precision == "half" else "Float",
                "MonitorInterval": str(config.monitor_interval),
                "NumOptimizer": str(len(config.optimizers)),
                "NumMonitor": str(len(config.monitors)),
                "NumExecutor": str(len(config.executors)),
            },
        )
    ]
    out["Optimizer"] = [
        section(f"Optimizer_{i}", _optimizer_items(o, problems)) for i, o in enumerate(config.optimizers)
    ]
    out["Monitor"] = [
        section(
            f"Monitor_{i}",
            {"Monitor_Name": m.name, "Monitor_NetworkName": m.network, "Monitor_DatasetName": m.dataset or ""},
        )
        for i, m in enumerate(config.monitors)
    ]
    out["Executor"] = [
        section(
            f"Executor_{i}",
            {
                "Executor_Name": e.name,
                "Executor_NetworkName": e.network,
                "Executor_DatasetName": e.dataset or "",
                "NumEvaluations": str(e.num_evaluations),
                "RepeatEvaluationType": str(EVALUATION_TYPES.index(e.evaluation)),
                "NeedBackPropagation": _num(e.back_propagation),
            },
        )
        for i, e in enumerate(config.executors)
    ]
    out["Script"] = [section("Script", dict(SCRIPT))]
    out["StructureSearch"] = [section("StructureSearch", dict(STRUCTURE_SEARCH))]
    return out


def _unit_code(unit: str) -> str:
    return str(UNITS.index(unit))


def _one_unit(
    durations: list[tuple[int, str]], span: Span, what: str, problems: list[Diagnostic]
) -> tuple[list[int], str]:
    """The values of `durations` and their one unit (NNC has one unit key for them)."""
    units = {u for _, u in durations}
    if len(units) > 1:
        problems.append(make("E0623", span, what=what, units=" and ".join(sorted(f"{u}s" for u in units))))
    unit = durations[0][1] if durations else "iteration"
    return [v for v, _ in durations], unit


def config_problems(project: ir.Project) -> list[Diagnostic]:
    """What of the config NNC cannot hold, each at its position, which `nndsl export` reports before it
    writes either format: E0625 at a schedule NNC has no equivalent of (nndsl's Plateau: NNC's
    schedules follow the iteration alone); else what `config_to_nnc` finds (E0623 durations in mixed
    units, E0624 a solver option NNC lacks)."""
    problems = [d for d in map(_schedule_problem, project.config.optimizers) if d is not None]
    if not problems:
        config_to_nnc(project.config, project.datasets, problems)
    return problems


def _schedule_problem(o: ir.Optimizer) -> Diagnostic | None:
    if o.schedule.type in NNC_SCHEDULES:
        return None
    hint = "the generated projects' train.py follow it; for NNC, a Step schedule divides at epochs you choose"
    return make("E0625", o.schedule.span, help=hint, optimizer=o.name, name=o.schedule.type)


def _optimizer_items(o: ir.Optimizer, problems: list[Diagnostic]) -> dict[str, str]:
    items: dict[str, str] = {}
    points = [p for p in (o.start, o.end) if p]
    _, range_unit = _one_unit(points, o.span, "an optimizer's start and end", problems)
    items["RangeFrom"] = str(o.start[0]) if o.start else "-1"
    items["RangeTo"] = str(o.end[0]) if o.end else "-1"
    items["RangeUnit"] = _unit_code(range_unit) if points else "0"
    items["Optimizer_Name"] = o.name
    items["Optimizer_NetworkName"] = o.network
    items["Optimizer_DatasetName"] = o.dataset or ""
    items["UpdateInterval"] = str(o.update_interval)
    s = o.solver
    items["SolverName"] = s.type
    for name in _NOT_IN_NNC:
        if s.params.get(name) is True:
            problems.append(make("E0624", s.span, solver=s.type, param=name))
    params = NNC_SOLVER_PARAMS.get(s.type, tuple((p.nnc, p.name) for p in SOLVERS[s.type] if p.name != "weight_decay"))
    values: list[tuple[str, str]] = []
    for nnc_name, name in params:
        v = s.params.get(name, OPTIONAL)
        if v is OPTIONAL and name == "wd":  # AdamW's, SgdW's decoupled rate follows weight_decay (nnc_solvers)
            v = s.params.get("weight_decay", 0.0)
        if v is OPTIONAL:
            continue
        values.append((nnc_name, _num(v)))
    items["SolverParameterNum"] = str(len(values))
    for i, (nnc_name, v) in enumerate(values):
        items[f"SolverParameterName_{i}"] = nnc_name
        items[f"SolverParameter_{i}"] = v
    items["WeightDecay"] = _num(s.params.get("weight_decay", 0.0))
    sched = o.schedule
    p = sched.params
    problem = _schedule_problem(o)
    if problem is not None:
        problems.append(problem)
    kind, multiplier, interval, unit, power, steps = "Exponential", 1.0, 1, "iteration", 1.0, ""
    if sched.type == "Exponential":
        multiplier = p["multiplier"]
        interval, unit = p["interval"]
    elif sched.type == "Step":
        kind, multiplier = "Step", p["multiplier"]
        values_, unit = _one_unit(list(p["steps"]), sched.span, "the steps of a Step schedule", problems)
        steps = ",".join(str(v) for v in values_)
    elif sched.type == "Cosine":
        kind = "Cosine"
    elif sched.type in ("Polynomial", "Linear"):  # nnabla trains no "Linear": Polynomial of power 1
        kind, power = "Polynomial", p.get("power", 1.0)
    items["LearningRateScheduler"] = kind
    if sched.warmup:
        items["LearningRateWarmupScheduler"] = "Linear"
        items["LearningRateWarmupLength"] = str(sched.warmup[0])
        items["LearningRateWarmupLengthUnit"] = _unit_code(sched.warmup[1])
    else:
        items["LearningRateWarmupScheduler"] = "None"
        items["LearningRateWarmupLength"] = "0"
        items["LearningRateWarmupLengthUnit"] = "0"
    items["LearningRateMultiplier"] = _num(multiplier)
    items["LearningRateUpdateInterval"] = str(interval)
    items["LearningRateUpdateIntervalUnit"] = _unit_code(unit)
    items["LearningRatePower"] = _num(power)
    items["LearningRateSteps"] = steps
    return items


def sections_text(sections: dict[str, list[NncSection]], kinds: Callable[[str], bool] = lambda k: True) -> str:
    """Sections as .sdcproj text (`[Name]` then `Key=Value` lines), in the dict's order."""
    out = []
    for kind, group in sections.items():
        if not kinds(kind):
            continue
        for s in group:
            out.append(f"[{s.name}]")
            out.extend(f"{k}={v}" for k, v in s.items.items())
    return "\n".join(out) + "\n"
