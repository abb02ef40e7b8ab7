"""Expand networks: instantiate units, unroll repeats, evaluate conditionals.

The result of expanding one network is a `Graph`: a flat list of layers in definition
order (which is a topological order) with their parameters bound and type-checked but
not yet resolved against shapes (`infer_shapes` does that).

Naming follows NNC: a layer is named by its label (`conv1: Convolution(...)`) or by its
type (`Convolution`, then `Convolution_2`, ...) within its scope; unit instances and
repeats open scopes (`stage3`, `block[2]`), so a layer's qualified name is
`stage3.block[2].conv1`. Networks share parameters through equal names.

Errors are reported and expansion goes on: a failed expression yields POISON, which
silences the errors that would only follow from the first one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import CompileError, Note, Reporter, Span, did_you_mean, make
from ..ir import Frame, Origin
from ..layers import REGISTRY
from ..layers.base import DERIVED, LayerSpec
from ..syntax import ast
from .values import POISON, Tensor, check_shape, coerce, describe, eval_const

DEFAULT_MAX_LAYERS = 1_000_000
MAX_UNIT_DEPTH = 64
UNIT_PARAM_TYPES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "str": "str", "shape": "shape"}


# --- the graph being built ------------------------------------------------------------------


@dataclass(slots=True)
class PendingLayer:
    name: str
    type: str
    params: dict[str, Any]  # bound and coerced; DERIVED where the shape pass fills in
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    origin: Origin
    param_spans: dict[str, Span]
    input_spans: tuple[Span, ...]
    repeats: tuple[tuple[str, int, int], ...]


@dataclass(slots=True)
class PendingValue:
    name: str
    producer: int | None
    origin: Origin
    def_span: Span  # where the user named it (or the producing call)


@dataclass(slots=True)
class Graph:
    name: str
    span: Span
    layers: list[PendingLayer] = field(default_factory=list)
    values: list[PendingValue] = field(default_factory=list)
    uses: list[int] = field(default_factory=list)  # consumer count per value
    outputs: list[int] = field(default_factory=list)
    unused: list[tuple[str, Span]] = field(default_factory=list)  # values bound and never used


@dataclass(slots=True)
class Scope:
    """Names visible in a block, and the naming scope for layers created in it."""

    prefix: str  # qualified-name prefix, "" or "stage3.block[2]."
    bindings: dict[str, Any]
    parent: Scope | None = None  # for repeat bodies: they see the enclosing names
    names: dict[str, Span] = field(default_factory=dict)  # layer/instance names used here
    counters: dict[str, int] = field(default_factory=dict)
    via: tuple[Frame, ...] = ()
    repeats: tuple[tuple[str, int, int], ...] = ()
    bound_at: dict[str, tuple[Span, bool]] = field(default_factory=dict)  # name -> (span, used)
    naming: Scope | None = None  # the scope that owns layer names (self unless a block shares it)

    def lookup(self, name: str) -> Any:
        s: Scope | None = self
        while s is not None:
            if name in s.bindings:
                if name in s.bound_at:
                    span, _ = s.bound_at[name]
                    s.bound_at[name] = (span, True)
                return s.bindings[name]
            s = s.parent
        raise KeyError(name)

    def visible(self) -> Iterable[str]:
        s: Scope | None = self
        while s is not None:
            yield from s.bindings
            s = s.parent

    def new_name(self, base: str, explicit: bool, span: Span, reporter: Reporter) -> str:
        owner = self.naming or self
        if explicit:
            if base in owner.names:
                prev = owner.names[base]
                reporter.error("E0206", span, [Note("first used here", prev)], name=base)
            owner.names[base] = span
            return base
        n = owner.counters.get(base, 0)
        while True:
            n += 1
            candidate = base if n == 1 else f"{base}_{n}"
            if candidate not in owner.names:
                break
        owner.counters[base] = n
        owner.names[candidate] = span
        return candidate


class Expander:
    """Expands the networks of one project (its units, networks and derived networks)."""

    def __init__(
        self,
        units: dict[str, ast.Unit],
        networks: dict[str, ast.Network | ast.DerivedNetwork],
        reporter: Reporter,
        max_layers: int = DEFAULT_MAX_LAYERS,
    ):
        self.units = units
        self.networks = networks
        self.reporter = reporter
        self.max_layers = max_layers
        self.total_layers = 0
        self.unit_stack: list[tuple[str, Span]] = []
        self.used_units: set[str] = set()
        self.graph: Graph | None = None
        self.overrides: dict[str, dict[str, tuple[Any, ast.Override]]] = {}
        self.override_used: set[int] = set()

    # --- networks ---------------------------------------------------------------------------

    def expand(self, name: str) -> Graph | None:
        decl = self.networks[name]
        overrides: list[ast.Override] = []
        seen = {name}
        while isinstance(decl, ast.DerivedNetwork):
            overrides = list(decl.overrides) + overrides
            base = self.networks.get(decl.base)
            if base is None:
                self.reporter.error(
                    "E0204", decl.base_span, help=did_you_mean(decl.base, self.networks), name=decl.base
                )
                return None
            if decl.base in seen:
                self.reporter.error("E0106", decl.base_span, chain=" -> ".join([*seen, decl.base]))
                return None
            seen.add(decl.base)
            decl = base
        top = self.networks[name]
        graph = Graph(name, top.name_span)
        self.graph = graph
        self._prepare_overrides(overrides)
        scope = Scope("", {})
        try:
            self._block(decl.body, scope, where="network")
        except _Abort:
            return None
        self._report_unused(scope)
        self._check_overrides(overrides, graph)
        # Outputs: values named at the top level that nothing after them uses (NNC's rule
        # that a network's outputs are its terminal values, with the user's names).
        for vname, value in scope.bindings.items():
            if isinstance(value, Tensor) and not scope.bound_at[vname][1] and value.vid not in graph.outputs:
                graph.outputs.append(value.vid)
                graph.values[value.vid].name = vname
        graph.unused = [(n, s) for n, s in graph.unused if not any(graph.values[o].name == n for o in graph.outputs)]
        return graph

    def _prepare_overrides(self, overrides: list[ast.Override]) -> None:
        self.overrides = {}
        self.override_used = set()
        for ov in overrides:
            if len(ov.path) < 2:
                self.reporter.error(
                    "E0307",
                    ov.path_span,
                    message="an override names a layer and its parameter: 'Layer.parameter = value'",
                )
                continue
            layer = ".".join(ov.path[:-1])
            try:
                value = eval_const(ov.value, self._const_lookup(Scope("", {})))
            except CompileError as e:
                self.reporter.add(e.diagnostic)
                continue
            self.overrides.setdefault(layer, {})[ov.path[-1]] = (value, ov)

    def _check_overrides(self, overrides: list[ast.Override], graph: Graph) -> None:
        names = [layer.name for layer in graph.layers]
        for ov in overrides:
            if len(ov.path) >= 2 and id(ov) not in self.override_used:
                path = ".".join(ov.path[:-1])
                self.reporter.error(
                    "E0208", ov.path_span, help=did_you_mean(path, names), path=path, network=graph.name
                )

    # --- statements ---------------------------------------------------------------------------

    def _block(self, stmts: tuple[ast.Stmt, ...], scope: Scope, where: str) -> list[Any]:
        """Run statements; returns the values of `out` statements (units, repeat blocks)."""
        outs: list[Any] = []
        for stmt in stmts:
            try:
                outs.extend(self._stmt(stmt, scope, where))
            except CompileError as e:
                self.reporter.add(e.diagnostic)
                if isinstance(stmt, ast.Assign):
                    for t in stmt.targets:
                        scope.bindings[t.id] = POISON
                elif isinstance(stmt, ast.Out):
                    outs.extend(POISON for _ in stmt.values)
        return outs

    def _stmt(self, stmt: ast.Stmt, scope: Scope, where: str) -> list[Any]:
        if isinstance(stmt, ast.Assign):
            value = self._expr(stmt.value, scope)
            targets = stmt.targets
            if len(targets) == 1:
                values = [value]
            elif isinstance(value, tuple) and value and all(isinstance(v, Tensor) for v in value):
                if len(value) != len(targets):
                    raise CompileError(
                        make("E0312", stmt.span, count=len(targets), callee="the right-hand side", outputs=len(value))
                    )
                values = list(value)
            elif value is POISON:
                values = [POISON] * len(targets)
            else:
                raise CompileError(
                    make("E0312", stmt.span, count=len(targets), callee="the right-hand side", outputs=1)
                )
            for target, v in zip(targets, values):
                self._bind(scope, target, v)
            return []
        if isinstance(stmt, ast.Out):
            if where == "network":
                raise CompileError(
                    make("E0310", stmt.span, help="a network's outputs are its values that nothing uses", what="out", where="a network")
                )
            return [self._tensor(v, scope, "out") for v in stmt.values]
        if isinstance(stmt, ast.In):
            raise CompileError(
                make("E0310", stmt.span, what="in", where="a network" if where == "network" else "the middle of a block")
            )
        if isinstance(stmt, ast.If):
            cond = eval_const(stmt.cond, self._const_lookup(scope))
            if cond is POISON:
                return []
            if not isinstance(cond, bool):
                raise CompileError(make("E0311", stmt.cond.span, expected="condition (true or false)", got=describe(cond)))
            branch = stmt.then if cond else (stmt.orelse or ())
            return self._block(branch, scope, where)
        raise AssertionError(stmt)

    def _bind(self, scope: Scope, target: ast.Name, value: Any) -> None:
        graph = self.graph
        assert graph is not None
        old = scope.bound_at.get(target.id)
        if old is not None and not old[1]:
            prev = scope.bindings.get(target.id)
            if isinstance(prev, Tensor) and graph.uses[prev.vid] == 0:
                graph.unused.append((target.id, old[0]))
        scope.bindings[target.id] = value
        scope.bound_at[target.id] = (target.span, False)
        if isinstance(value, Tensor):
            v = graph.values[value.vid]
            v.name = target.id
            v.def_span = target.span

    def _report_unused(self, scope: Scope) -> None:
        """Values bound in a unit/repeat block and never used are lint material."""
        graph = self.graph
        assert graph is not None
        for name, (span, used) in scope.bound_at.items():
            value = scope.bindings.get(name)
            if not used and isinstance(value, Tensor) and graph.uses[value.vid] == 0:
                graph.unused.append((name, span))

    # --- expressions ---------------------------------------------------------------------------

    def _const_lookup(self, scope: Scope):
        def lookup(name: ast.Name) -> Any:
            try:
                v = scope.lookup(name.id)
            except KeyError:
                raise CompileError(
                    make("E0202", name.span, help=did_you_mean(name.id, scope.visible()), name=name.id)
                ) from None
            if isinstance(v, Tensor):
                raise CompileError(make("E0311", name.span, expected="constant", got=f"the tensor '{name.id}'"))
            return v

        return lookup

    def _tensor(self, expr: ast.Expr, scope: Scope, where: str) -> Any:
        v = self._expr(expr, scope)
        if v is POISON or isinstance(v, Tensor):
            return v
        if isinstance(v, tuple) and v and all(isinstance(x, Tensor) for x in v):
            raise CompileError(make("E0308", expr.span, callee="this", count=len(v), where=where))
        raise CompileError(make("E0311", expr.span, expected="tensor", got=describe(v)))

    def _expr(self, expr: ast.Expr, scope: Scope) -> Any:
        if isinstance(expr, ast.Name):
            try:
                return scope.lookup(expr.id)
            except KeyError:
                hint = did_you_mean(expr.id, scope.visible())
                raise CompileError(make("E0202", expr.span, help=hint, name=expr.id)) from None
        if isinstance(expr, ast.Call):
            return self._call(expr, scope, chained=None)
        if isinstance(expr, ast.Chain):
            head = self._expr(expr.head, scope)
            value = head
            for stage in expr.stages:
                if value is POISON:
                    return POISON
                if not isinstance(value, Tensor):
                    if isinstance(value, tuple) and value and all(isinstance(x, Tensor) for x in value):
                        raise CompileError(
                            make("E0308", stage.span, callee="the value before '->'", count=len(value), where="a chain")
                        )
                    raise CompileError(make("E0311", expr.head.span, expected="tensor before '->'", got=describe(value)))
                value = self._stage(stage, value, expr.head.span if stage is expr.stages[0] else None, scope)
            return value
        if isinstance(expr, ast.Repeat):
            raise CompileError(
                make("E0310", expr.span, help="write 'x -> repeat N { ... }'", what="repeat", where="this position")
            )
        return eval_const(expr, self._const_lookup(scope))

    def _stage(self, stage: ast.Stage, value: Tensor, head_span: Span | None, scope: Scope) -> Any:
        if isinstance(stage, ast.Repeat):
            return self._repeat(stage, value, scope)
        return self._call(stage, scope, chained=value)

    # --- calls ------------------------------------------------------------------------------------

    def _call(self, call: ast.Call, scope: Scope, chained: Tensor | None) -> Any:
        spec = REGISTRY.get(call.callee)
        if spec is not None:
            return self._layer(spec, call, scope, chained)
        unit = self.units.get(call.callee)
        if unit is not None:
            return self._unit(unit, call, scope, chained)
        if chained is None and call.bare:
            # a bare name in head position is a value reference handled by _expr
            raise AssertionError("bare call in head position")
        hint = did_you_mean(call.callee, [*REGISTRY, *self.units])
        raise CompileError(make("E0201", call.callee_span, help=hint, name=call.callee))

    def _split_args(
        self, call: ast.Call, n_inputs: int, variadic: bool, chained: Tensor | None, scope: Scope, callee: str
    ) -> tuple[list[Any], list[Span], list[ast.Expr]]:
        """Separate the tensor inputs from the positional parameters."""
        inputs: list[Any] = []
        spans: list[Span] = []
        if chained is not None:
            inputs.append(chained)
            spans.append(call.span)
        args = list(call.args)
        want = n_inputs - len(inputs)
        if variadic:
            take = len(args)
        else:
            take = min(max(want, 0), len(args))
        for a in args[:take]:
            inputs.append(self._tensor(a, scope, f"an input of {callee}"))
            spans.append(a.span)
        if not variadic and len(inputs) < n_inputs:
            chained_note = " (one comes from the chain)" if chained is not None else ""
            got = f"{len(inputs)}{chained_note}"
            raise CompileError(
                make("E0302", call.span, callee=callee, expected=_plural(n_inputs, "tensor input"), got=got)
            )
        if variadic and len(inputs) < n_inputs:
            raise CompileError(
                make("E0302", call.span, callee=callee, expected=f"at least {_plural(n_inputs, 'tensor input')}", got=len(inputs))
            )
        return inputs, spans, args[take:]

    def _layer(self, spec: LayerSpec, call: ast.Call, scope: Scope, chained: Tensor | None) -> Any:
        graph = self.graph
        assert graph is not None
        inputs, in_spans, positional = self._split_args(call, len(spec.inputs), spec.variadic, chained, scope, spec.type)
        lookup = self._const_lookup(scope)
        params: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        if len(positional) > len(spec.positional):
            extra = positional[len(spec.positional)]
            takes = _plural(len(spec.inputs), "tensor input") if not spec.variadic else "tensor inputs"
            if spec.positional:
                takes += " and " + ", ".join(f"'{p}'" for p in spec.positional) + " by position"
            raise CompileError(
                make(
                    "E0302",
                    extra.span,
                    help="give the other parameters by name, like kernel=3x3",
                    callee=spec.type,
                    expected=takes,
                    got="another positional argument",
                )
            )
        for pname, arg in zip(spec.positional, positional):
            p = spec.param(pname)
            assert p is not None
            params[p.name] = self._coerce(eval_const(arg, lookup), p, spec.type, arg.span)
            spans[p.name] = arg.span
        for kw in call.kwargs:
            p = spec.param(kw.name)
            if p is None:
                names = [q.name for q in spec.params] + [a for q in spec.params for a in q.aliases]
                raise CompileError(
                    make("E0301", kw.name_span, help=did_you_mean(kw.name, names), callee=spec.type, name=kw.name)
                )
            if p.name in params:
                raise CompileError(
                    make("E0303", kw.name_span, [Note("first given here", spans[p.name])], name=p.name, callee=spec.type)
                )
            params[p.name] = self._coerce(eval_const(kw.value, lookup), p, spec.type, kw.value.span)
            spans[p.name] = kw.value.span
        if any(v is POISON for v in inputs):
            return POISON
        name = scope.new_name(call.label or spec.type, call.label is not None, call.span, self.reporter)
        qualified = scope.prefix + name
        for pname, (value, ov) in self.overrides.get(qualified, {}).items():
            p = spec.param(pname)
            if p is None:
                names = [q.name for q in spec.params]
                raise CompileError(
                    make("E0301", ov.path_span, help=did_you_mean(pname, names), callee=spec.type, name=pname)
                )
            params[p.name] = self._coerce(value, p, spec.type, ov.value.span)
            spans[p.name] = ov.value.span
            self.override_used.add(id(ov))
        for p in spec.params:
            if p.name not in params:
                if p.default is None:
                    raise CompileError(make("E0304", call.span, callee=spec.type, name=p.name))
                params[p.name] = p.default
        if spec.kind == "input":
            check_shape(params["shape"], "Input shape", spans.get("shape", call.span))
        self._count_layers(1, call.span)
        origin = Origin(call.span, scope.via)
        index = len(graph.layers)
        out = len(graph.values)
        # An Input's value is known by its dataset column until the user names it.
        shown = params["dataset"] if spec.kind == "input" and params.get("dataset") else qualified
        graph.values.append(PendingValue(shown, index, origin, call.span))
        graph.uses.append(0)
        for t in inputs:
            graph.uses[t.vid] += 1
        graph.layers.append(
            PendingLayer(
                qualified,
                spec.type,
                params,
                tuple(t.vid for t in inputs),
                (out,),
                origin,
                spans,
                tuple(in_spans),
                scope.repeats,
            )
        )
        return Tensor(out)

    def _coerce(self, value: Any, p, callee: str, span: Span) -> Any:
        if value is POISON:
            return DERIVED if p.default is DERIVED else p.default
        return coerce(value, p, callee, span)

    def _count_layers(self, n: int, span: Span) -> None:
        self.total_layers += n
        if self.total_layers > self.max_layers:
            raise _Abort.report(self.reporter, make("E0701", span, limit=f"{self.max_layers:,}"))

    # --- units ------------------------------------------------------------------------------------

    def _unit(
        self, unit: ast.Unit, call: ast.Call, scope: Scope, chained: Tensor | None, copy: Scope | None = None
    ) -> Any:
        """Instantiate `unit`. With `copy` (a repeat copy whose whole body is this call), the
        instance takes the copy's name: `block[2].conv1`, not `block[2].Bottleneck.conv1`."""
        self.used_units.add(unit.name)
        ins = _unit_inputs(unit)
        if ins is None:
            raise CompileError(make("E0309", unit.name_span, name=unit.name))
        if any(u == unit.name for u, _ in self.unit_stack):
            chain = " -> ".join([u for u, _ in self.unit_stack] + [unit.name])
            raise CompileError(make("E0502", call.callee_span, name=unit.name, chain=chain))
        if len(self.unit_stack) >= MAX_UNIT_DEPTH:
            raise CompileError(make("E0702", call.span, limit=MAX_UNIT_DEPTH))
        inputs, _, positional = self._split_args(call, len(ins), False, chained, scope, f"unit {unit.name}")
        lookup = self._const_lookup(scope)
        args: dict[str, Any] = {}
        arg_spans: dict[str, Span] = {}
        params = {p.name: p for p in unit.params}
        if len(positional) > len(unit.params):
            raise CompileError(
                make(
                    "E0302",
                    positional[len(unit.params)].span,
                    callee=f"unit {unit.name}",
                    expected=f"{_plural(len(ins), 'tensor input')} and {_plural(len(unit.params), 'argument')}",
                    got="more",
                )
            )
        for p, arg in zip(unit.params, positional):
            args[p.name] = self._unit_arg(p, eval_const(arg, lookup), unit, arg.span)
            arg_spans[p.name] = arg.span
        for kw in call.kwargs:
            p = params.get(kw.name)
            if p is None:
                raise CompileError(
                    make("E0301", kw.name_span, help=did_you_mean(kw.name, params), callee=f"unit {unit.name}", name=kw.name)
                )
            if p.name in args:
                raise CompileError(
                    make("E0303", kw.name_span, [Note("first given here", arg_spans[p.name])], name=p.name, callee=f"unit {unit.name}")
                )
            args[p.name] = self._unit_arg(p, eval_const(kw.value, lookup), unit, kw.value.span)
            arg_spans[p.name] = kw.value.span
        for p in unit.params:
            if p.name not in args:
                if p.default is None:
                    raise CompileError(make("E0304", call.span, callee=f"unit {unit.name}", name=p.name))
                # defaults see the arguments before them
                args[p.name] = self._unit_arg(p, eval_const(p.default, self._const_lookup(Scope("", dict(args)))), unit, p.default.span)
        if any(v is POISON for v in inputs) or any(v is POISON for v in args.values()):
            return POISON
        if copy is not None:
            prefix = copy.prefix
        else:
            prefix = scope.prefix + scope.new_name(call.label or unit.name, call.label is not None, call.span, self.reporter) + "."
        frame = Frame("unit", f"instance '{prefix[:-1]}' of unit '{unit.name}'", call.span)
        inner = Scope(prefix, dict(args), via=(*scope.via, frame), repeats=scope.repeats)
        for n, t in zip(ins, inputs):
            inner.bindings[n.id] = t
            inner.bound_at[n.id] = (n.span, False)
        body = [s for s in unit.body if not isinstance(s, ast.In)]
        self.unit_stack.append((unit.name, call.span))
        try:
            outs = self._block(tuple(body), inner, where="unit")
        finally:
            self.unit_stack.pop()
        self._report_unused(inner)
        if not outs:
            raise CompileError(make("E0309", unit.name_span, name=unit.name))
        if any(o is POISON for o in outs):
            return POISON
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _unit_arg(self, p: ast.UnitParam, value: Any, unit: ast.Unit, span: Span) -> Any:
        from ..layers.base import Param

        t = UNIT_PARAM_TYPES.get(p.type)
        if t is None:
            raise CompileError(make("E0209", p.type_span, name=p.type))
        if value is POISON:
            return value
        return coerce(value, Param(p.name, t, None, p.name), f"unit {unit.name}", span)

    # --- repeats ----------------------------------------------------------------------------------

    def _repeat(self, rep: ast.Repeat, value: Tensor, scope: Scope) -> Any:
        count = eval_const(rep.count, self._const_lookup(scope))
        if count is POISON:
            return POISON
        if not isinstance(count, int) or isinstance(count, bool):
            raise CompileError(make("E0311", rep.count.span, expected="repeat count (an int)", got=describe(count)))
        if count < 0:
            raise CompileError(make("E0703", rep.count.span, count=count))
        if count > self.max_layers - self.total_layers:
            raise _Abort.report(self.reporter, make("E0701", rep.count.span, limit=f"{self.max_layers:,}"))
        base = rep.label or "repeat"
        name = scope.new_name(base, rep.label is not None, rep.span, self.reporter)
        qualified = scope.prefix + name
        current: Any = value
        for i in range(count):
            frame = Frame("repeat", f"copy {i + 1} of {count} of repeat '{qualified}'" + (f" ({rep.var} = {i})" if rep.var else ""), rep.span)
            inner = Scope(
                f"{qualified}[{i}].",
                {rep.var: i} if rep.var else {},
                parent=scope,
                via=(*scope.via, frame),
                repeats=(*scope.repeats, (qualified, i, count)),
            )
            whole = rep.stages[0] if rep.stages is not None and len(rep.stages) == 1 else None
            if isinstance(whole, ast.Call) and whole.label is None and whole.callee in self.units:
                current = self._unit(self.units[whole.callee], whole, inner, current, copy=inner)
            elif rep.stages is not None:
                for stage in rep.stages:
                    if current is POISON:
                        return POISON
                    current = self._stage(stage, current, None, inner)
            else:
                assert rep.body is not None
                first = rep.body[0]
                assert isinstance(first, ast.In)
                if len(first.names) != 1:
                    raise CompileError(
                        make("E0302", first.span, callee="a repeat block", expected="1 tensor input", got=len(first.names))
                    )
                inner.bindings[first.names[0].id] = current
                inner.bound_at[first.names[0].id] = (first.names[0].span, False)
                outs = self._block(rep.body[1:], inner, where="repeat")
                self._report_unused(inner)
                if len(outs) != 1:
                    raise CompileError(
                        make("E0308", rep.span, callee="the repeat block", count=len(outs), where="a repeat")
                    )
                current = outs[0]
            if current is POISON:
                return POISON
        return current


class _Abort(Exception):
    """Stops expanding a network (the layer limit): nothing after it would make sense."""

    @classmethod
    def report(cls, reporter: Reporter, d) -> _Abort:
        reporter.add(d)
        return cls()


def _unit_inputs(unit: ast.Unit) -> tuple[ast.Name, ...] | None:
    ins = [s for s in unit.body if isinstance(s, ast.In)]
    if len(ins) != 1:
        return None
    return ins[0].names


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
