"""The front end as one call: spec file in, shape-checked `Project` and diagnostics out.

    include resolution -> declarations -> config (roles) -> expand (units, repeats)
    -> infer_shapes (with merge checks) -> check_parameters -> check_size -> role checks [-> lint]

Each pass is a plain function or a small class in `nndsl.passes`; each reports into one
`Reporter` and carries on, so a run reports every problem it can find.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Note, Reporter, Sources, sort_diagnostics
from .ir import Network, Project
from .limits import MAX_ACTIVATIONS, MAX_PARAMETERS, stack_room
from .passes.check_config import build_config, build_datasets
from .passes.check_parameters import check_parameters
from .passes.check_size import check_size
from .passes.expand import DEFAULT_MAX_LAYERS, Expander, Graph
from .passes.infer_shapes import ShapeCache, infer_shapes
from .passes.resolve_includes import readable_roots, resolve_includes
from .syntax import ast


@dataclass
class Result:
    project: Project | None
    diagnostics: list[Diagnostic]
    sources: Sources
    modules: list[ast.Module] = field(default_factory=list)
    graphs: dict[str, Graph] = field(default_factory=dict)
    units: dict[str, ast.Unit] = field(default_factory=dict)
    used_units: set[str] = field(default_factory=set)
    roots: list[Path] = field(default_factory=list)  # the folder trees the spec may read (includes, lint)
    # Networks with an error of their own: what they lack (a loss the error left out) is not another
    # error, so the checks of the whole (roles) leave them alone.
    failed: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def compile_file(
    path: str | Path,
    *,
    max_layers: int = DEFAULT_MAX_LAYERS,
    lint: bool = False,
    strict: bool = False,
    text: str | None = None,
    include_paths: tuple[str | Path, ...] = (),
    max_parameters: int = MAX_PARAMETERS,
    max_activations: int = MAX_ACTIVATIONS,
) -> Result:
    """Compile a spec (and its includes) to a shape-checked Project.

    `text`, when given, is used instead of reading `path` (editors, tests). Includes may
    read the spec's folder tree and those of `include_paths`. The limits are those of
    nndsl/limits.py and `--max-layers`. `strict` (`lint --strict`) adds the lint checks only it runs.
    """
    # Python's cyclic garbage collector is paused while compiling. The front end allocates
    # one object after another (syntax tree, layers, values) and keeps nearly all of them,
    # so the collector would walk the growing heap again and again and find nothing to
    # free: a third of the time on a 100,000-layer spec, and more than linear. Reference
    # counting frees everything as usual; a cycle, if any, waits for the next collection.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with stack_room():  # the limits bound every stage's recursion (nndsl/limits.py)
            size = (max_parameters, max_activations)
            result = _compile(Path(path), max_layers, lint, text, tuple(include_paths), size, strict)
    finally:
        if collecting:
            gc.enable()
    # In reading order, not the passes' order: the spec first, then its includes as they were read.
    sort_diagnostics(result.diagnostics, [str(path), *(m.path for m in result.modules)])
    return result


def _compile(
    path: Path,
    max_layers: int,
    lint: bool,
    text: str | None,
    include_paths: tuple,
    size: tuple[int, int],
    strict: bool = False,
) -> Result:
    reporter = Reporter()
    sources = Sources()
    display = str(path)
    modules = resolve_includes(path, display, reporter, sources, text, include_paths)
    result = Result(None, reporter.diagnostics, sources, modules, roots=readable_roots(path, include_paths))
    if reporter.has_errors:
        return result

    units: dict[str, ast.Unit] = {}
    networks: dict[str, ast.Network | ast.DerivedNetwork] = {}
    datasets: dict[str, ast.Dataset] = {}
    configs: list[ast.Config] = []
    declared: dict[str, object] = {}
    for module in modules:
        for item in module.items:
            if isinstance(item, ast.Include):
                continue
            if isinstance(item, ast.Config):
                if configs:
                    reporter.error(
                        "E0203", item.span, [Note("the first config is here", configs[0].span)], name="config"
                    )
                else:
                    configs.append(item)
                continue
            table = units if isinstance(item, ast.Unit) else datasets if isinstance(item, ast.Dataset) else networks
            key = ("dataset:" if isinstance(item, ast.Dataset) else "") + item.name
            if key in declared:
                prev = declared[key]
                reporter.error("E0203", item.name_span, [Note("first declared here", prev.name_span)], name=item.name)
                continue
            declared[key] = item
            table[item.name] = item
    for name in units:
        if name in networks:
            reporter.error(
                "E0203", networks[name].name_span, [Note("the unit is declared here", units[name].name_span)], name=name
            )
    result.units = units

    ds = build_datasets(list(datasets.values()), path.parent, reporter)
    config = build_config(configs[0] if configs else None, ds, list(networks), reporter)

    expander = Expander(units, networks, reporter, max_layers)
    shape_cache = ShapeCache()
    nets: list[Network] = []
    for name in networks:
        before = reporter.errors_reported  # a unit's error met again in this network counts for it too
        graph = expander.expand(name)
        if graph is not None:
            result.graphs[name] = graph
            nets.append(infer_shapes(graph, name in config.trained, reporter, shape_cache))
        if reporter.errors_reported > before:
            result.failed.add(name)
    result.used_units = expander.used_units
    check_parameters(nets, reporter)
    check_size(nets, reporter, *size)
    project = Project(str(path), tuple(nets), tuple(ds), config, units=dict(units))
    from .passes.check_roles import check_roles

    check_roles(project, reporter, result.failed)
    if lint and not reporter.has_errors:  # warnings once the errors are fixed: no cascades
        from .passes.lint import lint as run_lint

        run_lint(project, result, reporter, strict)
    result.project = project
    return result
