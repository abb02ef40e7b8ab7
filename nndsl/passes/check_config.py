"""Build the `Config` IR from the config block: roles, solvers, schedules, settings.

Roles (which network trains, which are monitored, which runs at inference) come from the
config's `optimizer`, `monitor` and `executor` sections. Where the config is silent, NNC's
network names are the defaults: `Training` is trained on dataset `training`, `Validation`
and `Validation5` are monitored on `validation`, `Runtime` is the executor's network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..diagnostics import CompileError, Reporter, Span, did_you_mean, make
from ..ir import Config, Dataset, Executor, Monitor, Optimizer, Schedule, Solver
from ..layers.base import BOOL, INT, Param
from ..layers.foreign import foreign_help
from ..solvers import DEFAULT_SCHEDULE, DURATION, EVALUATIONS, OPTIONAL, PRECISIONS, SCHEDULES, SOLVERS
from ..syntax import ast
from .values import POISON, Symbol, coerce, describe, eval_const

DEFAULT_SOLVER = "Adam"

_TOP = {
    "max_epoch": Param("max_epoch", INT, 100, "MaxEpoch", (), ("epochs",)),
    "batch_size": Param("batch_size", INT, 64, "BatchSize"),
    "save_best": Param("save_best", BOOL, True, "SaveBest"),
    "monitor_interval": Param("monitor_interval", INT, 1, "MonitorInterval"),
}
_DATASET = {
    "shuffle": Param("shuffle", BOOL, None, "Shuffle"),
    "cache": Param("cache", BOOL, True, "EnableCache"),
    "image_normalization": Param("image_normalization", BOOL, False, "ImageNormalization"),
    "num_data": Param("num_data", INT, None, "NumData"),
}
_SECTION_KEYS = {
    "optimizer": ("network", "dataset", "solver", "schedule", "update_interval", "start", "end"),
    "monitor": ("network", "dataset"),
    "executor": ("network", "dataset", "num_evaluations", "evaluation", "back_propagation"),
}


def _lookup(name: ast.Name) -> Any:
    return Symbol(name.id, name.span)


def _const(expr: ast.Expr) -> Any:
    return eval_const(expr, _lookup)


def build_datasets(items: list[ast.Dataset], spec_dir: Path, reporter: Reporter) -> list[Dataset]:
    out = []
    for d in items:
        settings: dict[str, Any] = {}
        for s in d.settings or ():
            if isinstance(s, ast.Section) or s.key not in _DATASET:
                key = s.kind if isinstance(s, ast.Section) else s.key
                span = s.kind_span if isinstance(s, ast.Section) else s.key_span
                reporter.error("E0601", span, help=did_you_mean(key, _DATASET), name=key, where=f"dataset '{d.name}'")
                continue
            try:
                settings[s.key] = coerce(_const(s.value), _DATASET[s.key], f"dataset '{d.name}'", s.value.span)
            except CompileError as e:
                reporter.add(e.diagnostic)
                continue
            if s.key == "num_data" and settings[s.key] < 0:
                reporter.error(
                    "E0604",
                    s.value.span,
                    where=f"dataset '{d.name}'",
                    name=s.key,
                    expected="at least 0",
                    got=settings[s.key],
                )
        settings.setdefault("shuffle", None)  # None: the training script shuffles training data only
        for k, p in _DATASET.items():
            if k != "num_data":  # num_data only where NNC recorded it
                settings.setdefault(k, p.default)
        out.append(Dataset(d.name, d.uri, str(spec_dir / d.uri), settings, d.span, d.uri_span))
    return out


def build_config(cfg: ast.Config | None, datasets: list[Dataset], networks: list[str], reporter: Reporter) -> Config:
    top: dict[str, Any] = {}
    optimizers: list[Optimizer] = []
    monitors: list[Monitor] = []
    executors: list[Executor] = []
    ds_names = [d.name for d in datasets]
    ctx = _Ctx(reporter, networks, ds_names)
    precision = "float"
    if cfg is not None:
        seen: dict[str, Span] = {}
        for s in cfg.settings:
            if isinstance(s, ast.Section):
                if s.kind == "optimizer":
                    o = ctx.optimizer(s, len(optimizers))
                    if o:
                        optimizers.append(o)
                elif s.kind == "monitor":
                    m = ctx.monitor(s, len(monitors))
                    if m:
                        monitors.append(m)
                elif s.kind == "executor":
                    e = ctx.executor(s, len(executors))
                    if e:
                        executors.append(e)
                else:
                    reporter.error(
                        "E0601",
                        s.kind_span,
                        help=did_you_mean(s.kind, [*_SECTION_KEYS, *_TOP]),
                        name=s.kind,
                        where="config",
                    )
                continue
            if s.key == "precision":
                if s.key in seen:
                    reporter.error("E0607", s.key_span, name=s.key, where="config")
                    continue
                seen[s.key] = s.span
                precision = ctx.word(s, PRECISIONS, "config", precision)
                continue
            p = _TOP.get(s.key) or next((q for q in _TOP.values() if s.key in q.aliases), None)
            if p is None:
                reporter.error(
                    "E0601",
                    s.key_span,
                    help=did_you_mean(s.key, [*_TOP, "precision", *_SECTION_KEYS]),
                    name=s.key,
                    where="config",
                )
                continue
            if p.name in seen:
                reporter.error("E0607", s.key_span, name=p.name, where="config")
                continue
            seen[p.name] = s.span
            try:
                v = coerce(_const(s.value), p, "config", s.value.span)
                if p.type == INT and v < 1:  # save_best is a bool: false is a value, not 0
                    raise CompileError(
                        make("E0604", s.value.span, where="config", name=p.name, expected="at least 1", got=v)
                    )
                top[p.name] = v
            except CompileError as e:
                reporter.add(e.diagnostic)
    defaulted = False
    span = cfg.span if cfg else None
    if not optimizers and "Training" in networks:
        defaulted = True
        optimizers.append(
            Optimizer(
                "optimizer",
                "Training",
                "training" if "training" in ds_names else None,
                Solver(DEFAULT_SOLVER, {p.name: p.default for p in SOLVERS[DEFAULT_SOLVER]}, span or _nowhere()),
                Schedule(DEFAULT_SCHEDULE, {}, None, span or _nowhere()),
                1,
                span or _nowhere(),
            )
        )
    if not monitors:
        for net, name in (("Validation", "valid_error"), ("Validation5", "valid_error5")):
            if net in networks:
                defaulted = True
                monitors.append(
                    Monitor(name, net, "validation" if "validation" in ds_names else None, span or _nowhere())
                )
    ctx.check_plateau_monitors(monitors)
    if not executors and "Runtime" in networks:
        defaulted = True
        executors.append(
            Executor(
                "executor", "Runtime", "validation" if "validation" in ds_names else None, 1, "mean", span or _nowhere()
            )
        )
    return Config(
        top.get("max_epoch", _TOP["max_epoch"].default),
        top.get("batch_size", _TOP["batch_size"].default),
        top.get("save_best", _TOP["save_best"].default),
        top.get("monitor_interval", _TOP["monitor_interval"].default),
        tuple(optimizers),
        tuple(monitors),
        tuple(executors),
        span,
        defaulted,
        precision,
    )


def _nowhere() -> Span:
    from .check_roles import DEFAULTS_PATH

    return Span(DEFAULTS_PATH, 1, 1, 1, 1)


class _Ctx:
    def __init__(self, reporter: Reporter, networks: list[str], datasets: list[str]):
        self.reporter = reporter
        self.networks = networks
        self.datasets = datasets
        self.plateau_monitors: list[tuple[str, Span]] = []  # (monitor, where) of every Plateau schedule

    def _settings(self, s: ast.Section) -> dict[str, ast.Setting]:
        where = f"{s.kind} '{s.name}'" if s.name else s.kind
        out: dict[str, ast.Setting] = {}
        for item in s.settings:
            if isinstance(item, ast.Section):
                self.reporter.error("E0601", item.kind_span, name=item.kind, where=where)
                continue
            if item.key not in _SECTION_KEYS[s.kind]:
                self.reporter.error(
                    "E0601",
                    item.key_span,
                    help=did_you_mean(item.key, _SECTION_KEYS[s.kind]),
                    name=item.key,
                    where=where,
                )
                continue
            if item.key in out:
                self.reporter.error("E0607", item.key_span, name=item.key, where=where)
                continue
            out[item.key] = item
        return out

    def _ref(
        self, setting: ast.Setting | None, kind: str, known: list[str], s: ast.Section, required: bool
    ) -> str | None:
        where = f"{s.kind} '{s.name}'" if s.name else s.kind
        if setting is None:
            if required:
                self.reporter.error("E0606", s.kind_span, where=where, name=kind)
            return None
        try:
            v = _const(setting.value)
        except CompileError as e:
            self.reporter.add(e.diagnostic)
            return None
        name = v.name if isinstance(v, Symbol) else v if isinstance(v, str) else None
        if name is None:
            self.reporter.error(
                "E0604", setting.value.span, where=where, name=kind, expected=f"a {kind} name", got=describe(v)
            )
            return None
        if name not in known:
            code = "E0204" if kind == "network" else "E0205"
            self.reporter.error(code, setting.value.span, help=did_you_mean(name, known), name=name)
            return None
        return name

    def _int(self, setting: ast.Setting | None, name: str, default: int, where: str) -> int:
        if setting is None:
            return default
        try:
            v = coerce(_const(setting.value), Param(name, INT, default, name), where, setting.value.span)
        except CompileError as e:
            self.reporter.add(e.diagnostic)
            return default
        if v < 1:
            self.reporter.error("E0604", setting.value.span, where=where, name=name, expected="at least 1", got=v)
            return default
        return v

    def optimizer(self, s: ast.Section, index: int) -> Optimizer | None:
        st = self._settings(s)
        name = s.name or ("optimizer" if index == 0 else f"optimizer_{index + 1}")
        where = f"optimizer '{name}'"
        network = self._ref(st.get("network"), "network", self.networks, s, True)
        dataset = self._ref(st.get("dataset"), "dataset", self.datasets, s, False)
        solver = self._callable(st.get("solver"), SOLVERS, "E0602", DEFAULT_SOLVER, s.span, where)
        schedule = self._callable(st.get("schedule"), SCHEDULES, "E0603", DEFAULT_SCHEDULE, s.span, where)
        interval = self._int(st.get("update_interval"), "update_interval", 1, where)
        start = self._point(st.get("start"), "start", where)
        end = self._point(st.get("end"), "end", where)
        if start and end and start[1] != end[1]:
            self.reporter.error(
                "E0604",
                st["end"].value.span,
                where=where,
                name="end",
                expected=f"in {start[1]}s, as 'start' is (NNC's RangeUnit is one for both)",
                got=f"{end[0]} {end[1]}s",
            )
            end = None
        elif start and end and end[0] < start[0]:
            self.reporter.error(
                "E0604",
                st["end"].value.span,
                where=where,
                name="end",
                expected=f"at least 'start' ({start[0]} {start[1]}s)",
                got=f"{end[0]} {end[1]}s",
            )
            end = None
        if schedule is not None and schedule[0] == "Plateau" and not self._plateau(st["schedule"], schedule[1], where):
            schedule = None
        if network is None or solver is None or schedule is None:
            return None
        sched_params = dict(schedule[1])
        warmup = sched_params.pop("warmup", None)
        return Optimizer(
            name,
            network,
            dataset,
            Solver(solver[0], solver[1], solver[2]),
            Schedule(schedule[0], sched_params, warmup if warmup and warmup[0] else None, schedule[2]),
            interval,
            s.span,
            start,
            end,
        )

    def _plateau(self, setting: ast.Setting, values: dict[str, Any], where: str) -> bool:
        """A Plateau schedule's values in range (Keras's ReduceLROnPlateau refuses a factor of 1 or more);
        its monitor is checked once every monitor is known (`check_plateau_monitors`)."""
        spans = {kw.name: kw.value.span for kw in setting.value.kwargs} if isinstance(setting.value, ast.Call) else {}
        ok = True
        for name, fits, expected in (
            ("factor", lambda v: 0 < v < 1, "between 0 and 1, both excluded (the learning rate is multiplied by it)"),
            ("patience", lambda v: v >= 0, "at least 0"),
            ("cooldown", lambda v: v >= 0, "at least 0"),
            ("min_delta", lambda v: v >= 0, "at least 0"),
            ("min_lr", lambda v: v >= 0, "at least 0"),
        ):
            v = values.get(name)
            if v is not POISON and v is not None and not fits(v) and name in spans:
                self.reporter.error("E0604", spans[name], where=f"the Plateau schedule of {where}", name=name,
                                    expected=expected, got=v)  # fmt: skip
                ok = False
        if "monitor" in spans and values.get("monitor") is not POISON:
            self.plateau_monitors.append((values["monitor"], spans["monitor"]))
        return ok

    def check_plateau_monitors(self, monitors: list[Monitor]) -> None:
        """Every Plateau schedule follows one of the config's monitors (E0216)."""
        names = [m.name for m in monitors]
        for name, span in self.plateau_monitors:
            if name not in names:
                hint = did_you_mean(name, names) or (
                    f"the monitors are {', '.join(names)}" if names else "add a monitor section for it to follow"
                )
                self.reporter.error("E0216", span, help=hint, name=name)

    def _point(self, setting: ast.Setting | None, name: str, where: str) -> tuple[int, str] | None:
        """An optimizer's `start` or `end`: an iteration or epoch counted from 1 (`3 epochs`, `500`)."""
        if setting is None:
            return None
        try:
            v = coerce(_const(setting.value), Param(name, DURATION, None, name), where, setting.value.span)
        except CompileError as e:
            self.reporter.add(e.diagnostic)
            return None
        if v[0] < 1:
            self.reporter.error(
                "E0604", setting.value.span, where=where, name=name, expected="at least 1 (counted from 1)", got=v[0]
            )
            return None
        return v

    def word(self, item: ast.Setting, choices: tuple[str, ...], where: str, default: str) -> str:
        """A setting that is one of a few words, written bare (`mean`) or as a string."""
        try:
            v = _const(item.value)
        except CompileError as e:
            self.reporter.add(e.diagnostic)
            return default
        word = v.name if isinstance(v, Symbol) else v
        if isinstance(word, str) and word in choices:
            return word
        if v is not POISON:
            self.reporter.error(
                "E0306",
                item.value.span,
                help=did_you_mean(str(word), choices),
                name=item.key,
                callee=where,
                choices=", ".join(choices),
                got=describe(v),
            )
        return default

    def _bool(self, setting: ast.Setting | None, name: str, where: str) -> bool:
        if setting is None:
            return False
        try:
            return coerce(_const(setting.value), Param(name, BOOL, False, name), where, setting.value.span)
        except CompileError as e:
            self.reporter.add(e.diagnostic)
            return False

    def _callable(self, setting, table, code, default, span, where):
        """`Nesterov(lr=0.1, momentum=0.9)` or a bare `Adam`: a solver or schedule."""
        if setting is None:
            return default, {p.name: p.default for p in table[default]}, span
        expr = setting.value
        if isinstance(expr, ast.Name):
            expr = ast.Call(expr.id, (), (), None, expr.span, expr.span, bare=True)
        if not isinstance(expr, ast.Call) or expr.label is not None:
            what = "solver" if code == "E0602" else "schedule"
            self.reporter.error(
                "E0604",
                expr.span,
                where=where,
                name=setting.key,
                expected=f"a {what} like {default}(...)",
                got="something else",
            )
            return None
        params = table.get(expr.callee)
        if params is None:
            kind = "solver" if code == "E0602" else "schedule"
            hint = foreign_help(expr.callee, kind, [kw.name for kw in expr.kwargs]) or did_you_mean(expr.callee, table)
            self.reporter.add(make(code, expr.callee_span, help=hint, name=expr.callee))
            return None
        by_name = {p.name: p for p in params} | {a: p for p in params for a in p.aliases}
        values: dict[str, Any] = {}
        ok = True
        if expr.args:
            self.reporter.error(
                "E0302",
                expr.args[0].span,
                help="give solver and schedule parameters by name, like lr=0.1",
                callee=expr.callee,
                expected="parameters by name",
                got="a positional argument",
            )
            ok = False
        given = set()  # the parameters written, valid or not (a bad value is not also a missing one)
        for kw in expr.kwargs:
            p = by_name.get(kw.name)
            if p is not None:
                given.add(p.name)
            if p is None:
                self.reporter.error(
                    "E0301", kw.name_span, help=did_you_mean(kw.name, by_name), callee=expr.callee, name=kw.name
                )
                ok = False
                continue
            if p.name in values:
                self.reporter.error("E0303", kw.name_span, name=p.name, callee=expr.callee)
                ok = False
                continue
            try:
                v = _const(kw.value)
                values[p.name] = v if v is POISON else coerce(v, p, expr.callee, kw.value.span)
            except CompileError as e:
                self.reporter.add(e.diagnostic)
                ok = False
        for p in params:
            if p.name not in values and p.default is not OPTIONAL:
                if p.name in given:
                    continue
                if p.default is None:
                    self.reporter.error("E0304", expr.span, callee=expr.callee, name=p.name)
                    ok = False
                else:
                    values[p.name] = p.default
        return (expr.callee, values, expr.span) if ok else None

    def monitor(self, s: ast.Section, index: int) -> Monitor | None:
        st = self._settings(s)
        network = self._ref(st.get("network"), "network", self.networks, s, True)
        dataset = self._ref(st.get("dataset"), "dataset", self.datasets, s, False)
        if network is None:
            return None
        return Monitor(s.name or f"monitor_{index + 1}", network, dataset, s.span)

    def executor(self, s: ast.Section, index: int) -> Executor | None:
        st = self._settings(s)
        name = s.name or ("executor" if index == 0 else f"executor_{index + 1}")
        where = f"executor '{name}'"
        network = self._ref(st.get("network"), "network", self.networks, s, True)
        dataset = self._ref(st.get("dataset"), "dataset", self.datasets, s, False)
        n = self._int(st.get("num_evaluations"), "num_evaluations", 1, where)
        evaluation = self.word(st["evaluation"], EVALUATIONS, where, "mean") if "evaluation" in st else "mean"
        back_propagation = self._bool(st.get("back_propagation"), "back_propagation", where)
        if network is None:
            return None
        return Executor(name, network, dataset, n, evaluation, s.span, back_propagation)
