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

Units are expanded once per argument list: the first instance of `Bottleneck(256)` is
recorded as a `_Template` (its layers, values and side effects, relative to the
instance), and the next instances stamp it under their own names and expansion frames
instead of evaluating the body again. Only instances that reported nothing are recorded,
and an instance is stamped only where expanding it would do exactly the same (see
`Expander._stampable`), so errors always come from a real expansion.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..diagnostics import CompileError, Note, Reporter, Span, did_you_mean, make
from ..ir import Frame, Origin
from ..layers import REGISTRY
from ..layers.arithmetic import TENSOR_OPS
from ..layers.base import DERIVED, SHAPE, LayerSpec, Param
from ..layers.foreign import foreign_help
from ..layers.parameter import CONNECTORS
from ..layers.shape import SUBSCRIPT
from ..limits import MAX_DEPTH, MAX_UNIT_DEPTH
from ..syntax import ast
from .count_layers import LayerCounter
from .values import BUILTINS, POISON, Tensor, check_shape, coerce, describe, eval_const, slice_bounds, slice_constant

# The layer types whose value is a network input (NNC's Input): the registry's "input" kind.
INPUT_TYPES = frozenset(t for t, spec in REGISTRY.items() if spec.kind == "input")

DEFAULT_MAX_LAYERS = 1_000_000
PARAMETER_CONNECTORS = ", ".join(f"{'/'.join(c.lower() + '=' for c in cs)} of {t}" for t, cs in CONNECTORS.items())
PARAMETER_SCOPE = "parameter_scope"  # NNC's ParameterScope, a keyword of every layer call
# A keyword of every unit call: multiplies every LRateMultiplier of the instance's layers (0 freezes it).
LRATE_MULTIPLIER = "lrate_multiplier"
UNIT_KEYWORDS = (PARAMETER_SCOPE, LRATE_MULTIPLIER)
SCOPELESS = "_"  # the label of a unit call that opens no scope: `h = x -> _: VGG11()`
DISCARD = "_"  # a binding target that binds nothing: `main, _, _ = net: GoogLeNet(x)`
UNIT_PARAM_TYPES = {
    "int": "int", "float": "float", "bool": "bool", "string": "str", "str": "str", "shape": "shape", "list": "list"
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Held:
    """An operand already evaluated (a tensor or a number), standing in a call the expander makes."""

    value: Any
    span: Span


def _subject(e: ast.Expr) -> str:
    """A sliced or indexed value, for messages: its name, or "this value"."""
    return f"'{e.id}'" if isinstance(e, ast.Name) else "this value"


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
    # For inputs written as a name: that name and where it was bound in the layer's scope
    # (messages about a merge name its operands as the user wrote them).
    input_names: tuple[tuple[str, Span] | None, ...] = ()
    scope: str = ""  # `parameter_scope="enc"`: the qualified name its parameters take ("stage3.enc")
    connectors: tuple[str, ...] = ()  # NNC parameter names the last inputs feed (`b=p`): see ir.Layer


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
    inputs_named: set[int] = field(default_factory=set)  # network inputs named by their Input statement
    # Unit outputs bound in the network and never used: (name, where, unit); no network outputs
    dropped: list[tuple[str, Span, str]] = field(default_factory=list)
    # Unit calls' `lrate_multiplier` values, where written (lint warns about one other than 0 or 1)
    lrates: list[tuple[Span, float]] = field(default_factory=list)

    def layer_type(self, vid: int) -> str | None:
        """The type of the layer that computes value `vid` (None for none)."""
        producer = self.values[vid].producer
        return None if producer is None else self.layers[producer].type

    def is_parameter(self, vid: int) -> bool:
        """Whether a Parameter layer (the registry's "parameter" kind) computes value `vid`."""
        t = self.layer_type(vid)
        return t is not None and REGISTRY[t].kind == "parameter"


@dataclass(slots=True)
class _Recording:
    """A unit instance expanded for the first time with its arguments, watched so that it
    can become a `_Template`. Positions are graph indices (a layer's output value has
    the layer's index)."""

    base: str  # the instance's qualified name: "stage3.block[2]"
    start: int  # its first layer
    inputs: tuple[int, ...]  # the value ids it was given
    input_uses: tuple[int, ...]  # their consumer counts before the instance
    total: int  # Expander.total_layers before the instance
    stack: int  # len(Expander.unit_stack) before the instance
    reported: int  # Reporter.reported before the instance
    unused: int  # len(Graph.unused) before the instance
    peak: int  # the highest layer total the layer limit was checked against
    depth: int = 0  # deepest unit nesting inside, relative to the instance
    units: set[str] = field(default_factory=set)  # units instantiated inside
    renames: list[tuple[int, str, Span]] = field(default_factory=list)  # (input position, name, span)
    pure: bool = True  # False once it read something of its inputs that a caller decides

    def outer_uses_read(self, vid: int, uses: int) -> None:
        """The instance checked whether input `vid` has consumers: if none of them are its
        own, the answer depends on the caller, and the instance cannot be replayed."""
        if vid >= self.start:
            return
        if vid not in self.inputs or uses == self.input_uses[self.inputs.index(vid)]:
            self.pure = False


@dataclass(slots=True)
class _Template:
    """What one unit instance added to the graph, replayable under another name.

    References to values: r >= 0 is the template's own layer r (and its output), r < 0
    the instance's input -1 - r.
    """

    base: str  # the recorded instance's qualified name
    head: tuple[Frame, ...]  # its expansion frames, its own instance frame last
    repeats: tuple[tuple[str, int, int], ...]  # the repeats it was inside
    start: int  # graph index of its first layer
    inputs: tuple[int, ...]  # the value ids it was given
    layers: tuple[PendingLayer, ...]  # as recorded (never changed)
    names: tuple[tuple[str, Span], ...]  # each layer's output (name, def_span) when it ended
    uses: tuple[int, ...]  # consumers inside the instance, per layer
    input_uses: tuple[int, ...]  # consumers inside the instance, per input
    renames: tuple[tuple[int, str, Span], ...]  # inputs the body bound to a name
    unused: tuple[tuple[str, Span], ...]  # Graph.unused entries it added
    outputs: tuple[int, ...]  # references
    need: int  # room under the layer limit it needs (the limit is checked inside)
    depth: int  # unit nesting inside, relative to the instance
    units: frozenset[str]  # units instantiated inside
    steps: _Steps | None = None  # made at the first stamp (most templates are never stamped)
    # The last stamp: where it went, and its layers. An instance at the same place with
    # the same inputs (in a derived network) gets the same layer objects.
    last: tuple[tuple, list[PendingLayer]] | None = None


class _Steps(NamedTuple):
    """A template's layers in the form a stamp reads them, per layer unless noted."""

    suffixes: tuple[str, ...]  # the name after the template's base
    refs: tuple[tuple[int, ...], ...]  # its inputs, as references
    vias: tuple[tuple[Frame, ...], ...]  # the distinct frame chains inside the instance
    via_of: tuple[int, ...]  # its chain in `vias`
    repeats: tuple[tuple[tuple[str, int, int], ...], ...]  # the distinct repeat chains inside
    repeats_of: tuple[int, ...]  # its chain in `repeats`
    names: tuple[tuple[str, Span] | None, ...]  # the name the body gave its output, if any
    columns: tuple[str | None, ...]  # an Input's dataset column: its output's name until named


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
    # For the body of a scope-less unit call (`_: Unit(...)`): the caller's scope and the call.
    # Every name the body takes is also taken there (its layers are named in the caller's scope).
    into: tuple[Scope, Span] | None = None
    # Inside a unit call with `parameter_scope="s"`: the prefix its layers' parameters take
    # ("s.", then "s.block[0]." in a repeat inside), segment for segment beside `prefix`; None:
    # the same as `prefix`.
    pprefix: str | None = None
    # Inside unit calls with `lrate_multiplier=m`: the product of their m, by which every
    # LRateMultiplier of the layers made here is multiplied (0: the instance is frozen).
    lrate: float = 1.0

    @property
    def param_prefix(self) -> str:
        return self.prefix if self.pprefix is None else self.pprefix

    def binding_span(self, name: str) -> Span | None:
        """Where `name` was bound in this scope or an enclosing one (None: not a binding)."""
        s: Scope | None = self
        while s is not None:
            if name in s.bindings:
                bound = s.bound_at.get(name)
                return bound[0] if bound else None
            s = s.parent
        return None

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

    def new_name(self, base: str, explicit: bool, span: Span, reporter: Reporter) -> str | None:
        """A name for a layer, instance or repeat made here: `base` itself where it is the label the
        user wrote (None after reporting a label already used here: what it would make is not made, so
        that it is not also reported to share the first one's parameters), else `base_2`..."""
        owner = self.naming or self
        if explicit:
            if base in owner.names:
                prev = owner.names[base]
                reporter.error("E0206", span, [Note("first used here", prev)], name=base)
                return None
            owner.names[base] = span
            owner._claim_in_caller(base, span, reporter)
            return base
        n = owner.counters.get(base, 0)
        while True:
            n += 1
            candidate = base if n == 1 else f"{base}_{n}"
            if candidate not in owner.names:
                break
        owner.counters[base] = n
        owner.names[candidate] = span
        owner._claim_in_caller(candidate, span, reporter)
        return candidate

    def _claim_in_caller(self, name: str, span: Span, reporter: Reporter) -> None:
        """A scope-less call's body names its layers as the unit does (independently of the
        caller), and they are layers of the caller's scope: a name the caller has already used
        there is an error at the call."""
        if self.into is None:
            return
        caller, call = self.into
        owner = caller.naming or caller
        if name in owner.names:
            notes = [Note("first used here", owner.names[name]), Note(f"the unit names a layer '{name}' here", span)]
            reporter.error(
                "E0206",
                call,
                notes,
                help="a scope-less call ('_:') names the unit's layers in the caller's scope; rename one of them",
                name=name,
            )
            return
        owner.names[name] = call
        owner._claim_in_caller(name, call, reporter)


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
        self.depth = 0  # levels of the expansion open now (see _enter)
        self.unit_stack: list[tuple[str, Span]] = []
        self.used_units: set[str] = set()
        self.graph: Graph | None = None
        self.overrides: dict[str, dict[str, tuple[Any, ast.Override]]] = {}
        self.override_used: set[int] = set()
        # Overrides already reported: a network derived from a derived one inherits its overrides, and
        # checks them against the same base body; each mistake is reported once, not once per descendant
        # (a chain of n derivations would otherwise repeat n^2/2 errors).
        self.override_reported: set[int] = set()
        self._derivations: dict[str, tuple[ast.Network, dict[tuple[str, ...], ast.Override]] | None] = {}
        self.templates: dict[tuple, _Template] = {}  # by (unit, arguments, input aliasing)
        self._recordings: list[_Recording] = []  # innermost last
        self._frame_parts: dict[Frame, tuple[str, str, str]] = {}  # see _frame
        self.counter = LayerCounter(units)
        # The network's names bound by `a, b = Unit(x)`: name -> (where, the unit, the statement's id)
        self.unit_outputs: dict[str, tuple[Span, str, int]] = {}
        # While a call's inner value is read (`net: ResNet18(x).pool`): the value of every layer, unit
        # instance, repeat and repeat copy made, by qualified name (None: nothing is recorded).
        self._inner: dict[str, Any] | None = None

    # --- networks ---------------------------------------------------------------------------

    def expand(self, name: str) -> Graph | None:
        resolved = self._derivation(name)
        if resolved is None:
            return None
        decl, overrides = resolved
        top = self.networks[name]
        # Count first: a spec past the layer limit is refused before any layer is built
        # (twenty levels of units that call the one below twice are a million layers).
        over = self.counter.over(decl.body, self.max_layers - self.total_layers)
        if over is not None:
            self.reporter.error("E0701", over[0], over[1], limit=f"{self.max_layers:,}")
            return None
        graph = Graph(name, top.name_span)
        self.graph = graph
        self._shapes: dict[int, Any] = {}  # value id -> shape (None: an error), for `x.shape` (see _value_shape)
        self._shaped = 0  # the layers whose output shapes are in `_shapes`
        self._prepare_overrides(list(overrides.values()))
        scope = Scope("", {})
        self.unit_outputs = {}
        try:
            self._block(decl.body, scope, where="network")
        except _Abort:
            return None
        self._report_unused(scope)
        self._check_overrides(list(overrides.values()), graph)
        # Outputs: values named at the top level that nothing after them uses (NNC's rule
        # that a network's outputs are its terminal values, with the user's names).
        # Calls of a unit whose outputs the network uses in part (`main, a1, a2 = net: Net(x)`, main
        # used): the outputs left over are heads other networks use, not outputs of this one.
        partly_used = {self.unit_outputs[n][2] for n in self.unit_outputs if scope.bound_at[n][1]}
        for vname, value in scope.bindings.items():
            if (
                isinstance(value, Tensor)
                and not scope.bound_at[vname][1]
                and vname in self.unit_outputs
                and self.unit_outputs[vname][2] in partly_used
            ):
                # not a network output: lint warns (W112) and its layers are left out (`_prune`)
                graph.dropped.append((vname, *self.unit_outputs[vname][:2]))
                continue
            if isinstance(value, Tensor) and not scope.bound_at[vname][1] and value.vid not in graph.outputs:
                if graph.is_parameter(value.vid):
                    self.reporter.error("E0313", scope.bound_at[vname][0], name=vname,
                                        connectors=PARAMETER_CONNECTORS, where="a network output")  # fmt: skip
                    continue
                graph.outputs.append(value.vid)
                graph.values[value.vid].name = vname
        dropped = {n for n, *_ in graph.dropped}
        graph.unused = [
            (n, s)
            for n, s in graph.unused
            if n not in dropped and not any(graph.values[o].name == n for o in graph.outputs)
        ]
        # After an error nothing is generated: every layer stays, so that shape inference reports
        # the mistakes of layers an output would have needed but for the error (`h` of a failed `q`).
        return graph if self.reporter.has_errors else _prune(graph)

    def _derivation(self, name: str) -> tuple[ast.Network, dict[tuple[str, ...], ast.Override]] | None:
        """The plain network `name` derives from and its overrides, the nearest derivation's winning for
        each layer parameter; None after reporting an unknown base or a cycle. Memoized: a chain of n
        derivations is resolved in n steps, each copying only its base's table of overrides."""
        if name in self._derivations:
            return self._derivations[name]
        chain = [name]  # the derivation, in order, up to the first network already resolved
        decl = self.networks[name]
        while isinstance(decl, ast.DerivedNetwork) and chain[-1] not in self._derivations:
            base = self.networks.get(decl.base)
            if base is None:
                self.reporter.error(
                    "E0204", decl.base_span, help=did_you_mean(decl.base, self.networks), name=decl.base
                )
                result = None
                break
            if decl.base in chain:
                # Reported once, at the derivation that closes the cycle, whichever of its
                # networks is expanded first.
                cycle = chain[chain.index(decl.base) :]
                order = {n: i for i, n in enumerate(self.networks)}
                at = cycle.index(min(cycle, key=order.__getitem__))
                cycle = cycle[at:] + cycle[:at]
                last = self.networks[cycle[-1]]
                assert isinstance(last, ast.DerivedNetwork)
                self.reporter.error("E0212", last.base_span, chain=" -> ".join([*cycle, cycle[0]]))
                result = None
                break
            chain.append(decl.base)
            decl = base
        else:
            result = self._derivations.get(chain[-1]) if chain[-1] in self._derivations else (decl, {})
            if not isinstance(self.networks[chain[-1]], ast.DerivedNetwork):
                result = (self.networks[chain[-1]], {})
        for n in reversed(chain):  # from the base down: each derivation's table from its base's
            d = self.networks[n]
            if result is not None and isinstance(d, ast.DerivedNetwork) and n not in self._derivations:
                table = dict(result[1])
                for ov in d.overrides:
                    table[tuple(ov.path)] = ov  # the nearer derivation wins
                result = (result[0], table)
            self._derivations.setdefault(n, result)
        return self._derivations[name]

    def _prepare_overrides(self, overrides: list[ast.Override]) -> None:
        self.overrides = {}
        self.override_used = set()
        for ov in overrides:
            first = id(ov) not in self.override_reported
            if len(ov.path) < 2:
                if first:
                    self.override_reported.add(id(ov))
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
                if first:
                    self.override_reported.add(id(ov))
                    self.reporter.add(e.diagnostic)
                continue
            self.overrides.setdefault(layer, {})[ov.path[-1]] = (value, ov)

    def _check_overrides(self, overrides: list[ast.Override], graph: Graph) -> None:
        names = [layer.name for layer in graph.layers]
        for ov in overrides:
            if len(ov.path) >= 2 and id(ov) not in self.override_used and id(ov) not in self.override_reported:
                self.override_reported.add(id(ov))
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
            for target, v in zip(targets, values, strict=True):
                if target.id == DISCARD:
                    continue  # `main, _, _ = net: Net(x)`: an output left out (its layers with it)
                self._bind(scope, target, v)
                if where == "network":
                    if len(targets) > 1 and isinstance(stmt.value, ast.Call) and stmt.value.callee in self.units:
                        self.unit_outputs[target.id] = (target.span, stmt.value.callee, id(stmt))
                    else:
                        self.unit_outputs.pop(target.id, None)
            return []
        if isinstance(stmt, ast.Out):
            if where == "network":
                raise CompileError(
                    make(
                        "E0310",
                        stmt.span,
                        help="a network's outputs are its values that nothing uses",
                        what="out",
                        where="a network",
                    )
                )
            return [self._tensor(v, scope, "out") for v in stmt.values]
        if isinstance(stmt, ast.In):
            raise CompileError(
                make(
                    "E0310", stmt.span, what="in", where="a network" if where == "network" else "the middle of a block"
                )
            )
        if isinstance(stmt, ast.If):
            while True:  # an else-if chain in a loop: any number of branches (nndsl/limits.py)
                cond = eval_const(stmt.cond, self._const_lookup(scope), self._shape_reader(scope))
                if cond is POISON:
                    return []
                if not isinstance(cond, bool):
                    raise CompileError(
                        make("E0311", stmt.cond.span, expected="condition (true or false)", got=describe(cond))
                    )
                if cond or not stmt.elif_:
                    break
                stmt = stmt.orelse[0]
            branch = stmt.then if cond else (stmt.orelse or ())
            self._enter(stmt.span)
            try:
                return self._block(branch, scope, where)
            finally:
                self.depth -= 1
        raise AssertionError(stmt)

    def _enter(self, span: Span) -> None:
        """One more level of the expansion open (a call, chain, repeat or if block): past
        MAX_DEPTH the network is refused before the recursion gets any deeper. Callers
        leave with `self.depth -= 1`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.depth -= 1
            outermost = self.unit_stack[:1]
            notes = [
                Note(f"inside {_plural(len(self.unit_stack), 'unit instance')}, the outermost here", s)
                for _, s in outermost
            ]
            raise _Abort.report(self.reporter, make("E0211", span, notes, limit=MAX_DEPTH))

    def _bind(self, scope: Scope, target: ast.Name, value: Any) -> None:
        graph = self.graph
        assert graph is not None
        old = scope.bound_at.get(target.id)
        if old is not None and not old[1]:
            prev = scope.bindings.get(target.id)
            if isinstance(prev, Tensor) and self._unconsumed(prev.vid):
                graph.unused.append((target.id, old[0]))
        scope.bindings[target.id] = value
        scope.bound_at[target.id] = (target.span, False)
        if isinstance(value, Tensor):
            self._name_value(value.vid, target.id, target.span)

    def _name_value(self, vid: int, name: str, span: Span) -> None:
        graph = self.graph
        assert graph is not None
        v = graph.values[vid]
        # A network input keeps the name of its Input statement: a later `s = x` (in a unit, say) is an alias.
        if vid not in graph.inputs_named:
            v.name = name
            v.def_span = span
            if graph.layer_type(vid) in INPUT_TYPES:
                graph.inputs_named.add(vid)
        for rec in self._recordings:
            if vid < rec.start:
                if vid in rec.inputs:
                    rec.renames.append((rec.inputs.index(vid), name, span))
                else:
                    rec.pure = False

    def _unconsumed(self, vid: int) -> bool:
        graph = self.graph
        assert graph is not None
        uses = graph.uses[vid]
        for rec in self._recordings:
            rec.outer_uses_read(vid, uses)
        return uses == 0

    def _report_unused(self, scope: Scope) -> None:
        """Values bound in a unit/repeat block and never used are lint material."""
        graph = self.graph
        assert graph is not None
        for name, (span, used) in scope.bound_at.items():
            value = scope.bindings.get(name)
            if not used and isinstance(value, Tensor) and self._unconsumed(value.vid):
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

    def _shape_reader(self, scope: Scope):
        """`x.shape` in `scope`: the per-sample shape of the tensor `x`, as a list of ints."""

        def shape(attr: ast.Attr) -> Any:
            if not isinstance(attr.value, ast.Name):
                raise CompileError(make("E0321", attr.span, what="this value",
                                        reason="'.shape' is read from a tensor's name, like 'x.shape'"))  # fmt: skip
            name = attr.value
            try:
                v = scope.lookup(name.id)
            except KeyError:
                raise CompileError(
                    make("E0202", name.span, help=did_you_mean(name.id, scope.visible()), name=name.id)
                ) from None
            if v is POISON:
                return POISON
            if isinstance(v, tuple) and v and all(isinstance(t, Tensor) for t in v):
                reason = f"it is {len(v)} tensors; name them with '{', '.join(['_'] * len(v))} = ...' first"
                raise CompileError(make("E0321", attr.span, what=f"'{name.id}'", reason=reason))
            if not isinstance(v, Tensor):
                raise CompileError(
                    make("E0321", attr.span, what=f"'{name.id}'", reason=f"it is {describe(v)}, not a tensor")
                )
            return self._value_shape(v.vid)

        return shape

    def _value_shape(self, vid: int) -> Any:
        """The shape of value `vid`, inferred now from the layers built so far (each layer once per
        network: the sweep goes on where the last one stopped). POISON when a layer on the way has
        an error: the shape pass reports it, once. An instance that reads a shape depends on its
        inputs' shapes, so no open recording becomes a template."""
        from .infer_shapes import _infer

        graph = self.graph
        assert graph is not None
        for rec in self._recordings:
            rec.pure = False
        producer = graph.values[vid].producer
        if producer is None:
            return POISON
        shapes = self._shapes
        silent = Reporter()
        while self._shaped <= producer:
            pl = graph.layers[self._shaped]
            ins = tuple([shapes.get(v) for v in pl.inputs])
            shapes[pl.outputs[0]] = _infer(pl, ins, False, graph, silent)[1]
            self._shaped += 1
        out = shapes.get(vid)
        return POISON if out is None else tuple(out)

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
        if isinstance(expr, ast.Call) and expr.callee in BUILTINS and expr.label is None and not expr.bare:
            return eval_const(expr, self._const_lookup(scope), self._shape_reader(scope))  # `c = max(8, w)`
        if isinstance(expr, ast.Call | ast.Chain):
            self._enter(expr.span)
            try:
                return self._call(expr, scope, chained=None) if isinstance(expr, ast.Call) else self._chain(expr, scope)
            finally:
                self.depth -= 1
        if isinstance(expr, ast.Repeat):
            raise CompileError(
                make("E0310", expr.span, help="write 'x -> repeat N { ... }'", what="repeat", where="this position")
            )
        if isinstance(expr, _Held):
            return expr.value
        if isinstance(expr, ast.Binary) and expr.op in TENSOR_OPS and self._mentions_tensor(expr, scope):
            return self._arithmetic(expr, scope)
        if isinstance(expr, ast.Slicing):
            value = self._expr(expr.value, scope)
            if isinstance(value, Tensor):
                return self._slice(expr, value, scope)
            if isinstance(value, tuple) and value and all(isinstance(t, Tensor) for t in value):
                raise CompileError(make("E0308", expr.value.span, callee="this", count=len(value), where="a slice"))
            return slice_constant(expr, value, self._const_lookup(scope), self._shape_reader(scope))
        if isinstance(expr, ast.Index) and self._mentions_tensor(expr.value, scope):
            raise CompileError(make("E0324", expr.index.span, what=_subject(expr.value),
                                    help="a slice keeps the axis: x[i:i + 1]"))  # fmt: skip
        return eval_const(expr, self._const_lookup(scope), self._shape_reader(scope))

    def _slice(self, expr: ast.Slicing, x: Tensor, scope: Scope) -> Any:
        """`x[a:b, c:d:s]`: NNC's Slice layer, one slice per per-sample axis from the first (the
        channels), the axes not given whole; bounds as Python's (negative ones count from the end, those
        past the axis are clipped)."""
        shape = self._value_shape(x.vid)
        if shape is POISON:
            return POISON
        what = _subject(expr.value)
        if len(expr.items) > len(shape):
            extra = expr.items[len(shape)]
            reason = f"it has {len(shape)} ax{'is' if len(shape) == 1 else 'es'} ({'x'.join(map(str, shape))})"
            raise CompileError(make("E0325", extra.span, what=what, reason=reason))
        lookup, reader = self._const_lookup(scope), self._shape_reader(scope)
        bounds: list[tuple[int, int, int]] = []
        for axis, size in enumerate(shape):
            if axis >= len(expr.items):
                bounds.append((0, size, 1))
                continue
            item = expr.items[axis]
            if not isinstance(item, ast.SliceItem):
                raise CompileError(make("E0324", item.span, what=what, help="a slice keeps the axis: i:i + 1"))
            a, b, step = slice_bounds(item, lookup, reader)
            if any(v is POISON for v in (a, b, step)):
                return POISON
            if step is not None and step < 0:
                raise CompileError(make("E0325", item.step.span, what=what,
                                        reason="a slice's step must be positive (Flip reverses an axis)"))  # fmt: skip
            a, b, step = slice(a, b, step).indices(size)
            if b <= a:
                reason = f"{a}:{b} of axis {axis} (of size {size}) selects nothing"
                raise CompileError(make("E0325", item.span, what=what, reason=reason))
            bounds.append((a, b, step))

        def ints(values: Iterable[int]) -> ast.ListLit:
            return ast.ListLit(tuple(ast.Num(v, str(v), expr.span) for v in values), expr.span)

        kwargs = tuple(
            ast.Kwarg(name, ints(b[k] for b in bounds), expr.span, expr.span)
            for k, name in enumerate(("start", "stop", "step"))
        )
        call = ast.Call(SUBSCRIPT, (_Held(x, expr.value.span),), kwargs, None, expr.span, expr.span)
        return self._layer(REGISTRY[SUBSCRIPT], call, scope, None)

    # --- arithmetic on tensors ---------------------------------------------------------------------

    def _mentions_tensor(self, expr: ast.Expr, scope: Scope) -> bool:
        """Whether `+ - * /` in `expr` has a tensor operand: a call, a chain or a name bound to a
        tensor (looked at without marking the name used). A run of operators is walked in a loop."""
        todo = [expr]
        while todo:
            e = todo.pop()
            if isinstance(e, ast.Binary) and e.op in TENSOR_OPS:
                todo += (e.left, e.right)
            elif isinstance(e, ast.Call) and e.callee in BUILTINS and e.label is None and not e.bare:
                continue  # `int(v) * 2`: a built-in function of constants
            elif isinstance(e, ast.Call | ast.Chain | _Held):
                return True
            elif isinstance(e, ast.Slicing | ast.Index):
                todo.append(e.value)  # `x[:c] * 2`; `x[0] + 1` is refused as a tensor's index
            elif isinstance(e, ast.Name):
                s: Scope | None = scope
                while s is not None and e.id not in s.bindings:
                    s = s.parent
                if s is not None and isinstance(s.bindings[e.id], Tensor):
                    return True
        return False

    def _arithmetic(self, expr: ast.Binary, scope: Scope) -> Any:
        """`a + b`, `a - b`, `a * b`, `a / b` with a tensor operand: NNC's arithmetic layers (Add2,
        Sub2, Mul2, Div2 for two tensors; AddScalar, MulScalar, RSubScalar, RDivScalar with a
        constant), named after their types like any unlabeled call, so that an export to NNC holds
        them as they are. `0.3 * aux` is MulScalar(aux, value=0.3). A left-nested run of operators
        is folded in a loop (see nndsl/limits.py)."""
        run = []
        node: ast.Expr = expr
        while isinstance(node, ast.Binary) and node.op in TENSOR_OPS:
            run.append(node)
            node = node.left
        a = self._expr(node, scope)
        for binary in reversed(run):
            b = self._expr(binary.right, scope)
            if a is POISON or b is POISON:
                a = POISON
                continue
            a = self._arithmetic_layer(binary, a, b, scope)
        return a

    def _arithmetic_layer(self, expr: ast.Binary, a: Any, b: Any, scope: Scope) -> Any:
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            # constants on both sides (`1 + 2` in `1 + 2 + t`): the constant rule, on the values
            held = {"\0a": a, "\0b": b}
            pair = ast.Binary(expr.op, ast.Name("\0a", expr.left.span), ast.Name("\0b", expr.right.span), expr.span)
            return eval_const(pair, lambda n: held[n.id])
        for v, side in ((a, expr.left), (b, expr.right)):
            if not isinstance(v, Tensor) and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise CompileError(
                    make("E0311", side.span, expected="tensor or number", got=describe(v),
                         help="arithmetic on tensors takes tensors and numbers")
                )  # fmt: skip
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            callee, inputs, value = TENSOR_OPS[expr.op][0], (a, b), None
        elif isinstance(a, Tensor):
            if expr.op == "/" and b == 0:
                raise CompileError(make("E0311", expr.right.span, expected="a divisor other than 0", got="0"))
            callee, inputs = TENSOR_OPS[expr.op][1], (a,)
            value = -b if expr.op == "-" else 1 / b if expr.op == "/" else b
        else:
            callee, inputs, value = TENSOR_OPS[expr.op][2], (b,), a
        held = tuple(_Held(t, s.span) for t, s in zip(inputs, (expr.left, expr.right) if len(inputs) == 2 else
                     (expr.right if isinstance(b, Tensor) else expr.left,), strict=True))  # fmt: skip
        kwargs = ()
        if value is not None:
            num = ast.Num(value, repr(value), expr.span)
            kwargs = (ast.Kwarg("value", num, expr.span, expr.span),)
        call = ast.Call(callee, held, kwargs, None, expr.span, expr.span)
        return self._layer(REGISTRY[callee], call, scope, None)

    def _chain(self, expr: ast.Chain, scope: Scope) -> Any:
        """The chain's value. After a stage fails (or the head), the later stages are still checked
        on a poisoned input (their names and arguments), each reporting its own mistakes; what
        depends on the failed value (shapes) is not."""
        value = _checked(self.reporter.add, self._expr, expr.head, scope)
        for stage in expr.stages:
            if value is not POISON and not isinstance(value, Tensor):
                if isinstance(value, tuple) and value and all(isinstance(x, Tensor) for x in value):
                    raise CompileError(
                        make("E0308", stage.span, callee="the value before '->'", count=len(value), where="a chain")
                    )
                raise CompileError(make("E0311", expr.head.span, expected="tensor before '->'", got=describe(value)))
            head = expr.head.span if stage is expr.stages[0] else None
            value = _checked(self.reporter.add, self._stage, stage, value, head, scope)
        return value

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
        hint = foreign_help(call.callee, "layer") or did_you_mean(call.callee, [*REGISTRY, *self.units])
        raise CompileError(make("E0201", call.callee_span, help=hint, name=call.callee))

    def _split_args(
        self,
        call: ast.Call,
        n_inputs: int,
        variadic: bool,
        chained: Any,
        scope: Scope,
        callee: str,
        problems: list | None = None,
    ) -> tuple[list[Any], list[Span], list[ast.Expr], list[tuple[str, Span] | None]]:
        """Separate the tensor inputs from the positional parameters. With `problems`, an input that
        is not a tensor (an unknown name...) is added there and taken as POISON, so that the call's
        other arguments are still checked."""
        inputs: list[Any] = []
        spans: list[Span] = []
        names: list[tuple[str, Span] | None] = []
        if chained is not None:
            inputs.append(chained)
            spans.append(call.span)
            names.append(None)
        args = list(call.args)
        want = n_inputs - len(inputs)
        take = len(args) if variadic else min(max(want, 0), len(args))
        for a in args[:take]:
            try:
                inputs.append(self._tensor(a, scope, f"an input of {callee}"))
            except CompileError as e:
                if problems is None:
                    raise
                problems.append(e.diagnostic)
                inputs.append(POISON)
            spans.append(a.span)
            bound = scope.binding_span(a.id) if isinstance(a, ast.Name) else None
            names.append((a.id, bound) if bound is not None else None)
        if not variadic and len(inputs) < n_inputs:
            chained_note = " (one comes from the chain)" if chained is not None else ""
            got = f"{len(inputs)}{chained_note}"
            raise CompileError(
                make("E0302", call.span, callee=callee, expected=_plural(n_inputs, "tensor input"), got=got)
            )
        if variadic and len(inputs) < n_inputs:
            raise CompileError(
                make(
                    "E0302",
                    call.span,
                    callee=callee,
                    expected=f"at least {_plural(n_inputs, 'tensor input')}",
                    got=len(inputs),
                )
            )
        return inputs, spans, args[take:], names

    def _layer(self, spec: LayerSpec, call: ast.Call, scope: Scope, chained: Any) -> Any:
        """The layer `call` makes (its output), or POISON after reporting every problem of the call:
        each argument is checked on its own, so `Convolution(16, kernal=3x3, bais=false)` reports
        both names; a poisoned input (an earlier error) skips only what depends on it."""
        graph = self.graph
        assert graph is not None
        problems: list = []  # this call's diagnostics: all reported, then the layer is not made
        inputs, in_spans, positional, in_names = self._split_args(
            call, len(spec.inputs), spec.variadic, chained, scope, spec.type, problems
        )
        lookup, shape = self._const_lookup(scope), self._shape_reader(scope)
        params: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        unknown = False  # a misspelt parameter: it may be the one a missing-parameter error would name

        def value(arg: ast.Expr, p) -> Any:
            def coerced() -> Any:  # a value that is POISON without an error of its own takes the default
                return self._coerce(eval_const(arg, lookup, shape), p, spec.type, arg.span)

            return _checked(problems.append, coerced)

        if len(positional) > len(spec.positional):
            extra = positional[len(spec.positional)]
            takes = _plural(len(spec.inputs), "tensor input") if not spec.variadic else "tensor inputs"
            if spec.positional:
                takes += " and " + ", ".join(f"'{p}'" for p in spec.positional) + " by position"
            sizes = positional[len(spec.positional) - 1 :] if spec.positional else ()
            split = sizes and spec.param(spec.positional[-1]).type == SHAPE  # Input(3, 32, 32)
            split = split and all(isinstance(a, ast.Num) and isinstance(a.value, int) for a in sizes)
            problems.append(
                make(
                    "E0302",
                    extra.span,
                    help=f"write a shape as {'x'.join(a.text for a in sizes)}"
                    if split
                    else "give the other parameters by name, like kernel=3x3",
                    callee=spec.type,
                    expected=takes,
                    got="another positional argument",
                )
            )
        for pname, arg in zip(spec.positional, positional, strict=False):
            p = spec.param(pname)
            assert p is not None
            params[p.name] = value(arg, p)
            spans[p.name] = arg.span
        pscope = ""
        connectors: dict[str, tuple[Any, Span]] = {}  # NNC's connector name -> (value, span)
        by_connector = {c.lower(): c for c in CONNECTORS.get(spec.type, ())}
        for kw in call.kwargs:
            if kw.name in by_connector:
                connector = by_connector[kw.name]
                if connector in connectors:
                    problems.append(
                        make("E0303", kw.name_span, [Note("first given here", connectors[connector][1])],
                             name=kw.name, callee=spec.type)
                    )  # fmt: skip
                    continue
                tensor = _checked(
                    problems.append, self._tensor, kw.value, scope, f"the {kw.name} connector of {spec.type}"
                )
                if tensor is not POISON and not graph.is_parameter(tensor.vid):
                    got = f"'{kw.value.id}'" if isinstance(kw.value, ast.Name) else "a layer's output"
                    problems.append(make("E0314", kw.value.span, connector=kw.name, callee=spec.type, got=got))
                connectors[connector] = (tensor, kw.value.span)
                continue
            if kw.name == PARAMETER_SCOPE:
                if pscope or PARAMETER_SCOPE in spans:
                    problems.append(
                        make("E0303", kw.name_span, [Note("first given here", spans[PARAMETER_SCOPE])],
                             name=kw.name, callee=spec.type)
                    )  # fmt: skip
                    continue
                spans[PARAMETER_SCOPE] = kw.value.span
                given = _checked(problems.append, eval_const, kw.value, lookup, shape)
                pscope = _checked(problems.append, self._parameter_scope, given, kw.value.span)
                pscope = "" if pscope is POISON else pscope
                continue
            p = spec.param(kw.name)
            if p is None:
                names = [q.name for q in spec.params] + [a for q in spec.params for a in q.aliases] + [PARAMETER_SCOPE]
                problems.append(
                    make("E0301", kw.name_span, help=did_you_mean(kw.name, names), callee=spec.type, name=kw.name)
                )
                unknown = True
                continue
            if p.name in params:
                problems.append(
                    make(
                        "E0303", kw.name_span, [Note("first given here", spans[p.name])], name=p.name, callee=spec.type
                    )
                )
                continue
            params[p.name] = value(kw.value, p)
            spans[p.name] = kw.value.span
        if call.label == SCOPELESS:
            problems.append(make("E0213", call.span, what=f"the layer {spec.type}"))
        if call.tap:
            reason = f"reads an inner value of a unit instance, and {spec.type} is a layer"
            problems.append(make("E0323", call.span, path=".".join(call.tap), reason=reason))
        for t, span, written in zip(inputs, in_spans, in_names, strict=True):
            if t is not POISON and graph.is_parameter(t.vid):
                problems.append(
                    make("E0313", span, name=written[0] if written else graph.values[t.vid].name,
                         connectors=PARAMETER_CONNECTORS, where=f"an input of {spec.type}")
                )  # fmt: skip
        if connectors:
            # Connectors follow the data inputs, in NNC's pin order (W before b).
            ordered = [c for c in CONNECTORS[spec.type] if c in connectors]
            inputs = [*inputs, *(connectors[c][0] for c in ordered)]
            in_spans = [*in_spans, *(connectors[c][1] for c in ordered)]
            in_names = [*in_names, *([None] * len(ordered))]
        name = scope.new_name(call.label or spec.type, call.label is not None, call.span, self.reporter)
        if name is None:
            for d in problems:
                self.reporter.add(d)
            return POISON
        qualified = scope.prefix + name
        for pname, (given, ov) in self.overrides.get(qualified, {}).items():
            self.override_used.add(id(ov))
            p = spec.param(pname)
            if p is None:
                names = [q.name for q in spec.params]
                problems.append(
                    make("E0301", ov.path_span, help=did_you_mean(pname, names), callee=spec.type, name=pname)
                )
                continue
            params[p.name] = _checked(problems.append, self._coerce, given, p, spec.type, ov.value.span)
            spans[p.name] = ov.value.span
        if not unknown:  # else the misspelt name may be the missing one: its error says so
            for p in spec.params:
                if p.name not in params and p.default is None:
                    problems.append(make("E0304", call.span, callee=spec.type, name=p.name))
        for d in problems:
            self.reporter.add(d)
        if problems or any(v is POISON for v in inputs) or any(v is POISON for v in params.values()):
            return POISON
        for p in spec.params:
            if p.name not in params:
                params[p.name] = p.default
        if scope.lrate != 1:
            for p in spec.params:
                if p.nnc.endswith("LRateMultiplier"):
                    params[p.name] = params[p.name] * scope.lrate
        if spec.kind == "input":
            check_shape(params["shape"], "Input shape", spans.get("shape", call.span))
        self._count_layers(1, call.span)
        origin = Origin(call.span, scope.via)
        index = len(graph.layers)
        out = len(graph.values)
        graph.values.append(PendingValue(_value_name(spec.type, params, qualified), index, origin, call.span))
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
                tuple(in_names),
                scope.param_prefix + (pscope or name) if pscope or scope.pprefix is not None else "",
                tuple(c for c in CONNECTORS.get(spec.type, ()) if c in connectors),
            )
        )
        if self._inner is not None:
            self._inner[qualified] = Tensor(out)
        return Tensor(out)

    def _parameter_scope(self, value: Any, span: Span) -> str:
        """A `parameter_scope` value: a name (no scope separators), as NNC's ParameterScope is."""
        if value is POISON:
            return ""
        if not isinstance(value, str):
            raise CompileError(make("E0311", span, expected="parameter_scope (a string)", got=describe(value)))
        if not value or any(c in value for c in "./[]") or value.strip() != value:
            raise CompileError(make("E0311", span, expected="parameter_scope (a name without '.', '/', '[' or ']')",
                                    got=repr(value)))  # fmt: skip
        return value

    def _lrate_multiplier(self, value: Any, span: Span) -> float:
        """A unit call's `lrate_multiplier`: a number of at least 0 (NNC's LRateMultiplier)."""
        if value is POISON:
            return 1.0
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            expected = "lrate_multiplier (a number of at least 0)"
            raise CompileError(make("E0311", span, expected=expected, got=describe(value)))
        return float(value)

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
        for rec in self._recordings:
            rec.units.add(unit.name)
            rec.depth = max(rec.depth, len(self.unit_stack) - rec.stack)
        ins = _unit_inputs(unit)
        if ins is None:
            raise CompileError(make("E0309", unit.name_span, name=unit.name))
        if any(u == unit.name for u, _ in self.unit_stack):
            chain = " -> ".join([u for u, _ in self.unit_stack] + [unit.name])
            raise CompileError(make("E0502", call.callee_span, name=unit.name, chain=chain))
        if len(self.unit_stack) >= MAX_UNIT_DEPTH:
            raise CompileError(make("E0702", call.span, limit=MAX_UNIT_DEPTH))
        problems: list = []  # the call's diagnostics: all reported, then the instance is not made
        inputs, _, positional, _ = self._split_args(
            call, len(ins), False, chained, scope, f"unit {unit.name}", problems
        )
        lookup, shape = self._const_lookup(scope), self._shape_reader(scope)
        args: dict[str, Any] = {}
        arg_spans: dict[str, Span] = {}
        params = {p.name: p for p in unit.params}
        bad = next((params[k] for k in UNIT_KEYWORDS if k in params), None)
        if bad is not None:
            raise CompileError(make("E0214", bad.span, name=unit.name, param=bad.name))
        pscope = ""
        lrate: float | None = None
        unknown = False  # a misspelt argument: it may be the one a missing-argument error would name

        def checked(check, *a) -> Any:
            return _checked(problems.append, check, *a)

        def argument(p: ast.UnitParam, arg: ast.Expr) -> Any:
            value = checked(eval_const, arg, lookup, shape)
            return value if value is POISON else checked(self._unit_arg, p, value, unit, arg.span)

        if len(positional) > len(unit.params):
            problems.append(
                make(
                    "E0302",
                    positional[len(unit.params)].span,
                    callee=f"unit {unit.name}",
                    expected=f"{_plural(len(ins), 'tensor input')} and {_plural(len(unit.params), 'argument')}",
                    got="more",
                )
            )
        for p, arg in zip(unit.params, positional, strict=False):
            args[p.name] = argument(p, arg)
            arg_spans[p.name] = arg.span
        for kw in call.kwargs:
            if kw.name in (PARAMETER_SCOPE, LRATE_MULTIPLIER):
                if kw.name in arg_spans:
                    problems.append(
                        make("E0303", kw.name_span, [Note("first given here", arg_spans[kw.name])],
                             name=kw.name, callee=f"unit {unit.name}")
                    )  # fmt: skip
                    continue
                arg_spans[kw.name] = kw.value.span
                value = checked(eval_const, kw.value, lookup, shape)
                if kw.name == PARAMETER_SCOPE:
                    pscope = checked(self._parameter_scope, value, kw.value.span)
                    if pscope is POISON:
                        pscope = ""
                    if pscope and call.label == SCOPELESS:
                        problems.append(make("E0215", kw.name_span, name=unit.name))
                else:
                    lrate = checked(self._lrate_multiplier, value, kw.value.span)
                    if lrate is POISON:
                        lrate = None
                    else:
                        self.graph.lrates.append((kw.value.span, lrate))
                continue
            p = params.get(kw.name)
            if p is None:
                problems.append(
                    make(
                        "E0301",
                        kw.name_span,
                        help=did_you_mean(kw.name, [*params, *UNIT_KEYWORDS]),
                        callee=f"unit {unit.name}",
                        name=kw.name,
                    )
                )
                unknown = True
                continue
            if p.name in args:
                problems.append(
                    make(
                        "E0303",
                        kw.name_span,
                        [Note("first given here", arg_spans[p.name])],
                        name=p.name,
                        callee=f"unit {unit.name}",
                    )
                )
                continue
            args[p.name] = argument(p, kw.value)
            arg_spans[p.name] = kw.value.span
        for p in unit.params:
            if p.name not in args:
                if p.default is None:
                    if not unknown:  # else the misspelt name may be this one: its error says so
                        problems.append(make("E0304", call.span, callee=f"unit {unit.name}", name=p.name))
                    args[p.name] = POISON
                    continue
                # defaults see the arguments before them
                default = checked(eval_const, p.default, self._const_lookup(Scope("", dict(args))))
                args[p.name] = (
                    default if default is POISON else checked(self._unit_arg, p, default, unit, p.default.span)
                )
        for d in problems:
            self.reporter.add(d)
        if problems or any(v is POISON for v in args.values()):
            return POISON
        # A poisoned input (an earlier error) still expands the body, whose own mistakes are then
        # reported; its layers that read the input are not made.
        scopeless = call.label == SCOPELESS and copy is None
        if scopeless:
            prefix = scope.prefix
            pprefix = scope.pprefix
        elif copy is not None:
            prefix = copy.prefix
            pprefix = copy.pprefix
        else:
            local = scope.new_name(call.label or unit.name, call.label is not None, call.span, self.reporter)
            if local is None:
                return POISON
            prefix = scope.prefix + local + "."
            # `parameter_scope="s"`: the instance's parameters are named after `s`, not after it
            pprefix = scope.param_prefix + (pscope or local) + "." if pscope or scope.pprefix is not None else None
        if scopeless:
            # named after the unit, in the caller's scope (two such calls in one scope collide)
            frame = self._frame(
                "scopeless",
                "scope-less instance ",
                prefix + unit.name,
                f" of unit '{unit.name}'",
                call.span,
                unit.name,
                tuple(args.items()),
            )
        else:
            frame = self._frame(
                "unit", "instance ", prefix[:-1], f" of unit '{unit.name}'", call.span, unit.name, tuple(args.items())
            )
        via = (*scope.via, frame)
        inner_lrate = scope.lrate if lrate is None else scope.lrate * lrate
        reading = call.tap and self._inner is None  # this call records the values inside it
        if reading:
            self._inner = {}
        try:
            result = self._instance(unit, call, scope, inputs, args, prefix, pprefix, via, inner_lrate, scopeless, ins)
            if call.tap and result is not POISON:
                result = self._inner_value(unit, call, prefix if not scopeless else scope.prefix)
        finally:
            if reading:
                self._inner = None
        if self._inner is not None and not scopeless and result is not POISON:
            self._inner[prefix[:-1]] = result
        return result

    def _inner_value(self, unit: ast.Unit, call: ast.Call, prefix: str) -> Tensor:
        """The value `call.tap` names inside the instance just made (its layers' names start with `prefix`)."""
        assert self._inner is not None
        path = ".".join(call.tap)
        value = self._inner.get(prefix + path)
        instance = f"instance '{prefix[:-1]}' of unit '{unit.name}'" if prefix else f"unit '{unit.name}'"
        if value is None:
            inside = sorted({n[len(prefix) :] for n in self._inner if n.startswith(prefix)} - {""})
            raise CompileError(make("E0322", call.span, help=did_you_mean(path, inside), instance=instance, path=path))
        if isinstance(value, tuple):
            reason = f"is {len(value)} values (a unit instance with several outputs); a call gives one"
            raise CompileError(make("E0323", call.span, path=path, reason=reason))
        return value

    def _instance(
        self,
        unit: ast.Unit,
        call: ast.Call,
        scope: Scope,
        inputs: list[Any],
        args: dict[str, Any],
        prefix: str,
        pprefix: str | None,
        via: tuple[Frame, ...],
        inner_lrate: float,
        scopeless: bool,
        ins: tuple[ast.Name, ...],
    ) -> Any:
        """The instance's layers (stamped from a template where one fits): its outputs."""
        recording = None
        # Instances whose inputs are tensors (a repeat may pass a tuple: an error, below)
        # and whose layers no override names are expanded once per argument list. A
        # scope-less instance is always expanded: its names are checked against the caller's.
        # An instance whose parameters are named apart from its layers (`parameter_scope`), or
        # whose learning-rate multipliers are scaled (`lrate_multiplier`), is always expanded too.
        if (
            not scopeless
            and pprefix is None
            and inner_lrate == 1
            and self._inner is None  # the values inside are being recorded: every layer is made
            and all(isinstance(t, Tensor) for t in inputs)
            and not self._overridden(prefix)
        ):
            key = (unit.name, tuple([(type(v), repr(v)) for v in args.values()]), _aliasing(inputs))
            template = self.templates.get(key)
            if template is not None and self._stampable(template):
                return self._stamp(template, prefix[:-1], via, scope.repeats, inputs)
            recording = self._start_recording(prefix[:-1], inputs)
        try:
            inner = Scope(prefix, dict(args), via=via, repeats=scope.repeats, pprefix=pprefix, lrate=inner_lrate)
            if scopeless:
                inner.into = (scope, call.span)
            for n, t in zip(ins, inputs, strict=False):
                inner.bindings[n.id] = t
                inner.bound_at[n.id] = (n.span, False)
            body = [s for s in unit.body if not isinstance(s, ast.In)]
            self.unit_stack.append((unit.name, call.span))
            try:
                outs = self._block(tuple(body), inner, where="unit")
            finally:
                self.unit_stack.pop()
            self._report_unused(inner)
        finally:
            if recording is not None:
                self._recordings.pop()
        if recording is not None and outs and not any(o is POISON for o in outs):
            self._keep_template(recording, key, via, scope.repeats, outs)
        if not outs:
            raise CompileError(make("E0309", unit.name_span, name=unit.name))
        if any(o is POISON for o in outs):
            return POISON
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _unit_arg(self, p: ast.UnitParam, value: Any, unit: ast.Unit, span: Span) -> Any:
        t = UNIT_PARAM_TYPES.get(p.type)
        if t is None:
            raise CompileError(make("E0209", p.type_span, name=p.type))
        if value is POISON:
            return value
        if t == "shape":  # sizes that may be 0 (`pad: shape = 0x3`); a kernel's layer refuses a 0 itself
            sizes = coerce(value, _unit_param(p.name, "ints"), f"unit {unit.name}", span)
            check_shape(sizes, f"'{p.name}' of unit {unit.name}", span, minimum=0)
            return sizes
        return coerce(value, _unit_param(p.name, t), f"unit {unit.name}", span)

    # --- unit templates ---------------------------------------------------------------------------

    def _frame(
        self, kind: str, lead: str, qualified: str, trail: str, span: Span, unit: str = "", args: tuple = ()
    ) -> Frame:
        """A frame named after a unit instance or repeat: `{lead}'{qualified}'{trail}`. The
        parts are kept so that a template can rename the frame for another instance."""
        frame = Frame(kind, f"{lead}'{qualified}'{trail}", span, qualified, unit, args)
        self._frame_parts[frame] = (lead, trail)
        return frame

    def _renamed_frame(self, frame: Frame, old_base: str, new_base: str) -> Frame:
        lead, trail = self._frame_parts[frame]
        name = new_base + frame.name[len(old_base) :]
        return self._frame(frame.kind, lead, name, trail, frame.span, frame.unit, frame.args)

    def _overridden(self, prefix: str) -> bool:
        """Whether a derived network's override names a layer under `prefix`."""
        return any(path.startswith(prefix) for path in self.overrides)

    def _stampable(self, t: _Template) -> bool:
        """Whether expanding the instance again would do exactly what the template records:
        no unit inside it is being instantiated already (E0502), nesting stays under the
        limit (E0702) and so does the layer count (E0701)."""
        if len(self.unit_stack) + t.depth >= MAX_UNIT_DEPTH:
            return False
        if self.total_layers + t.need > self.max_layers:
            return False
        return not any(u in t.units for u, _ in self.unit_stack)

    def _start_recording(self, base: str, inputs: list[Tensor]) -> _Recording:
        graph = self.graph
        assert graph is not None
        vids = tuple(t.vid for t in inputs)
        rec = _Recording(
            base=base,
            start=len(graph.layers),
            inputs=vids,
            input_uses=tuple(graph.uses[v] for v in vids),
            total=self.total_layers,
            stack=len(self.unit_stack),
            reported=self.reporter.reported,
            unused=len(graph.unused),
            peak=self.total_layers,
        )
        self._recordings.append(rec)
        return rec

    def _keep_template(
        self, rec: _Recording, key: tuple, head: tuple[Frame, ...], repeats: tuple, outs: list[Tensor]
    ) -> None:
        """Turn a finished recording into a template, if the instance reported nothing and
        did nothing that depends on its caller."""
        graph = self.graph
        assert graph is not None
        if not rec.pure or self.reporter.reported != rec.reported:
            return
        self.templates[key] = _Template(
            base=rec.base,
            head=head,
            repeats=repeats,
            start=rec.start,
            inputs=rec.inputs,
            layers=tuple(graph.layers[rec.start :]),
            names=tuple((v.name, v.def_span) for v in graph.values[rec.start :]),
            uses=tuple(graph.uses[rec.start :]),
            input_uses=tuple(
                graph.uses[v] - before if rec.inputs.index(v) == i else 0
                for i, (v, before) in enumerate(zip(rec.inputs, rec.input_uses, strict=True))
            ),
            renames=tuple(rec.renames),
            unused=tuple(graph.unused[rec.unused :]),
            outputs=tuple(_ref(t.vid, rec.start, rec.inputs) for t in outs),
            need=max(rec.peak, self.total_layers) - rec.total,
            depth=rec.depth,
            units=frozenset(rec.units),
        )

    @staticmethod
    def _steps(t: _Template) -> _Steps:
        """Read a template's recorded layers into `_Steps`, relative to the instance."""
        cut, start, inputs = len(t.base), t.start, t.inputs
        # Layers of one scope share their frame and repeat chains (the tuples themselves).
        vias: dict[int, int] = {}  # id(a recorded chain) -> its index
        repeat_chains: dict[int, int] = {}
        inner_vias, inner_repeats = [], []
        suffixes, refs, via_of, repeats_of, names, columns = [], [], [], [], [], []
        for pl, (name, def_span) in zip(t.layers, t.names, strict=True):
            suffixes.append(pl.name[cut:])
            refs.append(tuple([v - start if v >= start else -1 - inputs.index(v) for v in pl.inputs]))  # see _ref
            via = vias.get(id(pl.origin.via))
            if via is None:
                via = vias[id(pl.origin.via)] = len(inner_vias)
                inner_vias.append(pl.origin.via[len(t.head) :])
            via_of.append(via)
            chain = repeat_chains.get(id(pl.repeats))
            if chain is None:
                chain = repeat_chains[id(pl.repeats)] = len(inner_repeats)
                inner_repeats.append(pl.repeats[len(t.repeats) :])
            repeats_of.append(chain)
            column = _dataset_column(pl.type, pl.params)
            unnamed = def_span is pl.origin.span and name == (column or pl.name)
            names.append(None if unnamed else (name, def_span))
            columns.append(column)
        return _Steps(
            tuple(suffixes),
            tuple(refs),
            tuple(inner_vias),
            tuple(via_of),
            tuple(inner_repeats),
            tuple(repeats_of),
            tuple(names),
            tuple(columns),
        )

    def _stamp(self, t: _Template, base: str, head: tuple[Frame, ...], repeats: tuple, inputs: list[Tensor]) -> Any:
        """Add the instance `base` of a template's unit: its layers under its own names,
        frames and repeats, reading `inputs`."""
        graph = self.graph
        assert graph is not None
        for rec in self._recordings:
            rec.units.update(t.units)
            rec.depth = max(rec.depth, len(self.unit_stack) - rec.stack + t.depth)
            rec.peak = max(rec.peak, self.total_layers + t.need)
        self.used_units.update(t.units)
        self.total_layers += len(t.layers)
        if t.steps is None:
            t.steps = self._steps(t)
        steps = t.steps
        in_vids = tuple(x.vid for x in inputs)
        offset = len(graph.layers)
        place = (base, head, repeats, offset, in_vids)
        if t.last is not None and t.last[0] == place:
            layers = t.last[1]
        else:
            layers = self._stamped_layers(t, steps, base, head, repeats, offset, in_vids)
            t.last = (place, layers)
        graph.layers.extend(layers)
        values = graph.values
        for pl, named, column in zip(layers, steps.names, steps.columns, strict=True):
            if named is None:
                values.append(PendingValue(column or pl.name, pl.outputs[0], pl.origin, pl.origin.span))
            else:
                values.append(PendingValue(named[0], pl.outputs[0], pl.origin, named[1]))
        graph.uses.extend(t.uses)
        for vid, n in zip(in_vids, t.input_uses, strict=True):
            graph.uses[vid] += n
        for i, name, span in t.renames:
            self._name_value(in_vids[i], name, span)
        graph.unused.extend(t.unused)
        outs = [Tensor(offset + r if r >= 0 else in_vids[-1 - r]) for r in t.outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _stamped_layers(
        self,
        t: _Template,
        steps: _Steps,
        base: str,
        head: tuple[Frame, ...],
        repeats: tuple,
        offset: int,
        in_vids: tuple[int, ...],
    ) -> list[PendingLayer]:
        """The template's layers for the instance `base`: renamed, their frames and repeats
        under the instance's, their inputs among the graph's values from `offset` on."""
        same_place = base == t.base and head == t.head and repeats == t.repeats
        if base == t.base:
            vias = [head + inside for inside in steps.vias]
        else:
            vias = [head + tuple(self._renamed_frame(f, t.base, base) for f in inside) for inside in steps.vias]
        cut = len(t.base)
        repeat_chains = [repeats + tuple((base + q[cut:], i, n) for q, i, n in inside) for inside in steps.repeats]
        layers = []
        for k, (pl, suffix, refs, via, chain) in enumerate(
            zip(t.layers, steps.suffixes, steps.refs, steps.via_of, steps.repeats_of, strict=True)
        ):
            layers.append(
                PendingLayer(
                    base + suffix,
                    pl.type,
                    pl.params,
                    tuple([offset + r if r >= 0 else in_vids[-1 - r] for r in refs]),
                    (offset + k,),
                    pl.origin if same_place else Origin(pl.origin.span, vias[via]),
                    pl.param_spans,
                    pl.input_spans,
                    pl.repeats if same_place else repeat_chains[chain],
                    pl.input_names,
                    base + pl.scope[cut:] if pl.scope else "",
                    pl.connectors,
                )
            )
        return layers

    # --- repeats ----------------------------------------------------------------------------------

    def _repeat(self, rep: ast.Repeat, value: Tensor, scope: Scope) -> Any:
        self._enter(rep.span)
        try:
            return self._repeat_copies(rep, value, scope)
        finally:
            self.depth -= 1

    def _repeat_copies(self, rep: ast.Repeat, value: Tensor, scope: Scope) -> Any:
        count = eval_const(rep.count, self._const_lookup(scope), self._shape_reader(scope))
        if count is POISON:
            return POISON
        items = None  # `repeat row in cfg`: the list's items, one copy each
        if isinstance(count, tuple) and rep.var is not None:
            items, count = count, len(count)
        elif not isinstance(count, int) or isinstance(count, bool):
            expected = "repeat count (an int) or a list to iterate ('repeat row in cfg')"
            raise CompileError(make("E0311", rep.count.span, expected=expected, got=describe(count)))
        elif rep.index is not None:
            raise CompileError(make("E0311", rep.count.span, expected=f"list to iterate with '{rep.index}, {rep.var}'",
                                    got=describe(count)))  # fmt: skip
        if count < 0:
            raise CompileError(make("E0703", rep.count.span, count=count))
        for rec in self._recordings:
            rec.peak = max(rec.peak, self.total_layers + count)
        if count > self.max_layers - self.total_layers:
            raise _Abort.report(self.reporter, make("E0701", rep.count.span, limit=f"{self.max_layers:,}"))
        if rep.label == SCOPELESS:
            raise CompileError(make("E0213", rep.span, what="a repeat"))
        base = rep.label or "repeat"
        name = scope.new_name(base, rep.label is not None, rep.span, self.reporter)
        if name is None:
            return POISON
        qualified = scope.prefix + name
        current: Any = value
        for i in range(count):
            lead = f"copy {i + 1} of {count} of repeat "
            bindings = _copy_bindings(rep, i, items)
            shown = ", ".join(f"{k} = {_show(v)}" for k, v in bindings.items())
            frame = self._frame("repeat", lead, qualified, f" ({shown})" if shown else "", rep.span)
            inner = Scope(
                f"{qualified}[{i}].",
                bindings,
                parent=scope,
                via=(*scope.via, frame),
                repeats=(*scope.repeats, (qualified, i, count)),
                pprefix=None if scope.pprefix is None else f"{scope.pprefix}{name}[{i}].",
                lrate=scope.lrate,
            )
            whole = rep.stages[0] if rep.stages is not None and len(rep.stages) == 1 else None
            # (a call with its own parameter_scope is an instance inside the copy: `s[2]` in NNC)
            if (
                isinstance(whole, ast.Call)
                and whole.label is None
                and whole.callee in self.units
                and not any(kw.name == PARAMETER_SCOPE for kw in whole.kwargs)
            ):
                current = self._unit(self.units[whole.callee], whole, inner, current, copy=inner)
            elif rep.stages is not None:
                for stage in rep.stages:  # after a failed stage the later ones are still checked
                    current = _checked(self.reporter.add, self._stage, stage, current, None, inner)
            else:
                assert rep.body is not None
                first = rep.body[0]
                assert isinstance(first, ast.In)
                if len(first.names) != 1:
                    raise CompileError(
                        make(
                            "E0302",
                            first.span,
                            callee="a repeat block",
                            expected="1 tensor input",
                            got=len(first.names),
                        )
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
            if current is POISON:  # one copy checked (on a poisoned input too): the others are alike
                return POISON
            if self._inner is not None:
                self._inner[f"{qualified}[{i}]"] = current
        if self._inner is not None:
            self._inner[qualified] = current
        return current


def _checked(report, check, *args) -> Any:
    """`check(*args)`; or, where it raises a CompileError, POISON after `report`ing its diagnostic:
    the one way a call, chain or repeat reports a mistake and goes on checking the rest."""
    try:
        return check(*args)
    except CompileError as e:
        report(e.diagnostic)
        return POISON


class _Abort(Exception):
    """Stops expanding a network (the layer limit): nothing after it would make sense."""

    @classmethod
    def report(cls, reporter: Reporter, d) -> _Abort:
        reporter.add(d)
        return cls()


def _prune(graph: Graph) -> Graph:
    """`graph` without the layers no network output needs (an aux head whose output a network
    leaves out, a value never used): they are not computed, as nnabla leaves out of a network
    what no output depends on. Input layers stay (the network's inputs are as written). The
    graph itself when nothing goes; else a copy renumbered in order, the layers' objects kept
    where their inputs keep their numbers."""
    live = [False] * len(graph.values)
    for v in graph.outputs:
        live[v] = True
    for i in range(len(graph.layers) - 1, -1, -1):  # definition order is a topological order
        layer = graph.layers[i]
        if layer.type in INPUT_TYPES:
            live[layer.outputs[0]] = True
        if any(live[o] for o in layer.outputs):
            for v in layer.inputs:
                live[v] = True
    if all(live):
        return graph
    new = [-1] * len(graph.values)
    kept = [k for k, layer in enumerate(graph.layers) if any(live[o] for o in layer.outputs)]
    values = [i for i in range(len(graph.values)) if live[i]]
    for n, i in enumerate(values):
        new[i] = n
    layer_at = {k: n for n, k in enumerate(kept)}
    out = Graph(graph.name, graph.span, unused=graph.unused, dropped=graph.dropped, lrates=graph.lrates)
    for k in kept:
        layer = graph.layers[k]
        if any(new[v] != v for v in (*layer.inputs, *layer.outputs)):
            layer = dataclasses.replace(
                layer, inputs=tuple(new[v] for v in layer.inputs), outputs=tuple(new[v] for v in layer.outputs)
            )
        out.layers.append(layer)
    for i in values:
        v = graph.values[i]
        producer = None if v.producer is None else layer_at[v.producer]
        out.values.append(v if producer == v.producer else dataclasses.replace(v, producer=producer))
        out.uses.append(0)
    for layer in out.layers:
        for v in layer.inputs:
            out.uses[v] += 1
    out.outputs = [new[v] for v in graph.outputs]
    out.inputs_named = {new[v] for v in graph.inputs_named if live[v]}
    return out


def _value_name(layer_type: str, params: dict[str, Any], qualified: str) -> str:
    """The name of a layer's output until the user binds it: an Input's is its dataset
    column, any other layer's its qualified name."""
    return _dataset_column(layer_type, params) or qualified


def _dataset_column(layer_type: str, params: dict[str, Any]) -> str | None:
    if "dataset" in params and REGISTRY[layer_type].kind == "input" and params["dataset"]:
        return params["dataset"]
    return None


@functools.cache
def _unit_param(name: str, type_: str) -> Param:
    """A unit parameter as `coerce` checks it."""
    return Param(name, type_, None, name)


def _copy_bindings(rep: ast.Repeat, i: int, items: tuple | None) -> dict[str, Any]:
    """The names copy `i` of a repeat binds: `repeat i in n` its index; `repeat row in cfg` the
    list's item; `repeat i, row in cfg` both."""
    if rep.var is None:
        return {}
    if items is None:
        return {rep.var: i}
    return {rep.index: i, rep.var: items[i]} if rep.index is not None else {rep.var: items[i]}


def _show(v: Any) -> str:
    """A constant as the spec writes it, for a repeat copy's frame: 3, "M", [6, 24, 2, 2]."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def _ref(vid: int, start: int, inputs: tuple[int, ...]) -> int:
    """A value as a template refers to it (see `_Template`)."""
    return vid - start if vid >= start else -1 - inputs.index(vid)


def _aliasing(inputs: list[Tensor]) -> tuple[int, ...]:
    """Which inputs are the same tensor: (0, 0) for Add2(x, x), (0, 1) for Add2(x, y)."""
    if len(inputs) == 1:
        return (0,)
    vids = [t.vid for t in inputs]
    return tuple(vids.index(v) for v in vids)


def _unit_inputs(unit: ast.Unit) -> tuple[ast.Name, ...] | None:
    ins = [s for s in unit.body if isinstance(s, ast.In)]
    if len(ins) != 1:
        return None
    return ins[0].names


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
