"""`nndsl lint`: warnings about specs that compile but are probably not what was meant.

Each check is a small function over the finished `Project` (plus the expansion results for
unused values and units). The checks and their codes are listed in docs/diagnostics.md.
"""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path

from ..diagnostics import Note, Reporter
from ..ir import Network, Project
from ..layers import REGISTRY, fmt_shape
from ..layers.foreign import STRICT_DEFAULTS
from .check_roles import is_default, output_kinds
from .resolve_includes import inside


def lint(project: Project, result, reporter: Reporter, strict: bool = False) -> None:
    unused_values(result, reporter)
    unused_units(result, reporter)
    unbound_inputs(project, reporter)
    unused_networks(project, reporter)
    preprocessing(project, reporter)
    evaluations_without_randomness(project, reporter)
    role_outputs(project, reporter)
    roles_without_dataset(project, reporter)
    dataset_columns(project, reporter, result.roots)
    partial_lrate_multipliers(project, result, reporter)
    if strict:
        silent_defaults(project, reporter)
        missing_datasets(project, reporter, result.roots)


def unused_values(result, reporter: Reporter) -> None:
    seen = set()
    for graph in result.graphs.values():
        for name, span in graph.unused:
            if (name, span) not in seen:
                seen.add((name, span))
                reporter.warn("W101", span, name=name)
        for name, span, unit in graph.dropped:
            help_ = (
                "bind it to '_' to leave it out, or give it a statement of its own to make it an output: "
                f"'out_{name} = {name}'"
            )
            reporter.warn("W112", span, help=help_, name=name, unit=unit, network=graph.name)


def unused_units(result, reporter: Reporter) -> None:
    """Units of the main file that nothing uses (an included file is a library: no warning)."""
    main = result.modules[-1].path if result.modules else None
    for name, unit in result.units.items():
        if name not in result.used_units and unit.span.path == main:
            reporter.warn("W109", unit.name_span, name=name)


def unbound_inputs(project: Project, reporter: Reporter) -> None:
    for net in project.networks:
        for layer in net.layers:
            if REGISTRY[layer.type].kind == "input" and not layer.params.get("dataset"):
                reporter.warn(
                    "W102",
                    layer.origin.span,
                    help='bind it to a dataset column: Input(..., dataset="x")',
                    name=net.values[layer.outputs[0]].name,
                )


def unused_networks(project: Project, reporter: Reporter) -> None:
    cfg = project.config
    used = {o.network for o in cfg.optimizers} | {m.network for m in cfg.monitors} | {e.network for e in cfg.executors}
    for net in project.networks:
        if net.name not in used:
            reporter.warn("W103", net.span, name=net.name)


def _consumers(net: Network) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, layer in enumerate(net.layers):
        for v in layer.inputs:
            out.setdefault(v, []).append(i)
    return out


def _preprocessing(net: Network, vid: int, consumers: dict[int, list[int]]) -> tuple:
    """The constant value transforms applied to an input before its first learned layer: the layers
    that scale pixel values by a constant (the preprocessing NNC users get wrong), skipping those that
    move or crop them (the registry's `preprocessing`)."""
    steps = []
    while True:
        users = consumers.get(vid, [])
        if len(users) != 1:
            break
        layer = net.layers[users[0]]
        preprocessing = REGISTRY[layer.type].preprocessing
        if preprocessing == "scales":
            steps.append((layer.type, layer.params.get("value")))
        elif preprocessing != "keeps":
            break
        vid = layer.outputs[0]
    return tuple(steps)


def _describe(steps: tuple) -> str:
    return " -> ".join(f"{t}({v:g})" if isinstance(v, (int, float)) else t for t, v in steps) or "nothing"


def preprocessing(project: Project, reporter: Reporter) -> None:
    """Each network's inputs against those of the earlier networks it shares parameters
    with: one warning per input, naming the first such network that scales it otherwise.
    Each network is read once, and inputs are grouped by how they are scaled, so many
    networks scaled alike (800 derived networks) cost no more than one each."""
    tables = {net.name: set(net.parameter_table()) for net in project.networks}
    # column -> preprocessing steps -> the earlier networks' inputs of that column, in order
    seen: dict[str, dict[tuple, list]] = {}
    for b in project.networks:
        consumers = None
        mine = []
        for lb in b.layers:
            if REGISTRY[lb.type].kind != "input" or not lb.params.get("dataset"):
                continue
            if consumers is None:
                consumers = _consumers(b)
            column = lb.params["dataset"]
            pb = _preprocessing(b, lb.outputs[0], consumers)
            mine.append((column, pb, b, lb))
            other = next(
                (
                    (a, la, pa)
                    for pa, entries in seen.get(column, {}).items()
                    if pa != pb
                    for _, _, a, la in entries
                    if a is not b and not tables[a.name].isdisjoint(tables[b.name])
                ),
                None,
            )
            if other is None:
                continue
            a, la, pa = other
            reporter.warn(
                "W104",
                lb.origin.span,
                [
                    Note(f"'{b.name}' applies {_describe(pb)}", lb.origin.span),
                    Note(f"'{a.name}' applies {_describe(pa)}", la.origin.span),
                ],
                help="the shared weights were learned on inputs scaled one way and will see them scaled another",
                a=a.name,
                b=b.name,
                column=column,
            )
        for entry in mine:
            seen.setdefault(entry[0], {}).setdefault(entry[1], []).append(entry)


def _is_random(net: Network) -> bool:
    return any(
        REGISTRY[layer.type].is_random(layer.params, tuple(net.values[v].shape for v in layer.inputs))
        for layer in net.layers
    )


def evaluations_without_randomness(project: Project, reporter: Reporter) -> None:
    for ex in project.config.executors:
        net = project.network(ex.network)
        if net is not None and ex.num_evaluations > 1 and not _is_random(net):
            reporter.warn(
                "W105",
                ex.span,
                help="every evaluation gives the same output; set num_evaluations = 1 or add augmentation",
                name=ex.name,
                network=ex.network,
                count=ex.num_evaluations,
            )


def role_outputs(project: Project, reporter: Reporter) -> None:
    cfg = project.config
    for o in cfg.optimizers:
        net = project.network(o.network)
        if net is not None and is_default(o) and "loss" not in output_kinds(net):
            reporter.warn("W110", net.span, name=net.name)
    for m in cfg.monitors:
        net = project.network(m.network)
        if net is not None and not output_kinds(net) & {"error", "loss"}:
            reporter.warn("W106", m.span, role="monitor", name=m.name, network=m.network, expected="error or loss")
    for e in cfg.executors:
        net = project.network(e.network)
        if net is not None and not output_kinds(net) - {"error", "loss"}:
            reporter.warn("W106", e.span, role="executor", name=e.name, network=e.network, expected="non-loss")


def roles_without_dataset(project: Project, reporter: Reporter) -> None:
    cfg = project.config
    for role, items in (("optimizer", cfg.optimizers), ("monitor", cfg.monitors), ("executor", cfg.executors)):
        for item in items:
            if item.dataset is None and project.datasets:
                reporter.warn("W108", item.span, role=role, name=item.name)


HEADER_BYTES = 64 * 1024  # a dataset CSV's header line is read up to this many bytes


def _columns(path: str, roots: list[Path]) -> list[str] | None:
    """The column names of a dataset CSV's header, or None where lint may not or cannot read it: only a
    regular `.csv` file inside the spec's folder tree (or an `--include-path` one) is read, so a spec can
    never make lint show a line of another file."""
    if Path(path).suffix.lower() != ".csv" or not inside(Path(path), roots):
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as f:
            line = f.read(HEADER_BYTES).split(b"\n", 1)[0].rstrip(b"\r")
        header = next(csv.reader([line.decode("utf-8-sig")]), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if header is None:
        return None
    return [h.split(":", 1)[0].strip() for h in header]


def dataset_columns(project: Project, reporter: Reporter, roots: list[Path]) -> None:
    """When a dataset's CSV is at hand (see `_columns`), check that it has every column its networks read."""
    datasets = {d.name: d for d in project.datasets}
    cfg = project.config
    pairs = {(o.network, o.dataset) for o in cfg.optimizers}
    pairs |= {(m.network, m.dataset) for m in cfg.monitors} | {(e.network, e.dataset) for e in cfg.executors}
    seen = set()
    for network, dataset in sorted(pairs, key=str):
        ds = datasets.get(dataset) if dataset else None
        net = project.network(network)
        if ds is None or net is None or not Path(ds.path).is_file():
            continue
        columns = _columns(ds.path, roots)
        if columns is None:
            continue
        for layer in net.layers:
            column = layer.params.get("dataset") if REGISTRY[layer.type].kind == "input" else None
            if column and column not in columns and (layer.origin.span, ds.name) not in seen:
                seen.add((layer.origin.span, ds.name))
                reporter.warn(
                    "W107",
                    layer.origin.span,
                    help=f"its columns are: {', '.join(columns)}",
                    dataset=ds.name,
                    path=ds.uri,
                    column=column,
                    input=net.values[layer.outputs[0]].name,
                )


def partial_lrate_multipliers(project: Project, result, reporter: Reporter) -> None:
    """W111: a learning-rate multiplier nnabla would not honour (it only asks whether it is above 0),
    once per place written: a layer's, or a unit call's (which multiplies its layers')."""
    seen = set()
    for graph in result.graphs.values():
        for span, value in graph.lrates:
            if value not in (0, 1) and span not in seen:
                seen.add(span)
                reporter.warn("W111", span, param="lrate_multiplier", value=value)
    for net in project.networks:
        for layer in net.layers:
            for name, span in layer.param_spans.items():
                value = layer.params.get(name)
                if name.endswith("_lrate_multiplier") and value not in (0, 1) and span not in seen:
                    seen.add(span)
                    reporter.warn("W111", span, param=name, value=value)


def _written(value) -> str:
    return f"{value:g}" if isinstance(value, float) else fmt_shape(value) if isinstance(value, tuple) else str(value)


def silent_defaults(project: Project, reporter: Reporter) -> None:
    """W113 (--strict): a layer relying on an NNC default of STRICT_DEFAULTS, once per place written."""
    checks = {t: (params, matters, note) for t, params, matters, note in STRICT_DEFAULTS}
    seen = set()
    for net in project.networks:
        for layer in net.layers:
            check = checks.get(layer.type)
            if check is None or layer.origin.span in seen:
                continue
            params, matters, note = check
            if any(p in layer.param_spans for p in params) or not matters(layer.params):
                continue
            seen.add(layer.origin.span)
            default = REGISTRY[layer.type].param(params[0]).default
            reporter.warn(
                "W113",
                layer.origin.span,
                help=f"{note}; write {params[0]}= to say which you mean",
                type=layer.type,
                param=params[0],
                value=_written(default),
            )


def missing_datasets(project: Project, reporter: Reporter, roots: list[Path]) -> None:
    """W114 (--strict): a dataset CSV that does not exist. Only a path inside the folder trees the spec may
    read (`roots`, as for W107) is looked up: whether a file outside them exists is not the spec's to learn."""
    for ds in project.datasets:
        path = Path(ds.path)
        if inside(path, roots) and not os.path.lexists(path):
            reporter.warn(
                "W114",
                ds.uri_span or ds.span,
                help="a dataset's path is read relative to the spec's folder",
                dataset=ds.name,
                path=ds.uri,
            )
