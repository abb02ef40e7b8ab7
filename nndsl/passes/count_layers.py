"""How many layers a network expands to, found before a single layer is built.

The expander stops at the layer limit (E0701), but a spec can reach it only after building
a million layers: a unit that calls the one below twice doubles with every level, and
twenty levels are a million layers. This pass counts first. Constants in a spec (unit
arguments, repeat counts, conditions) depend on tensors only through `x.shape`, which ends
the count with no answer (below); otherwise the count is exact; each
unit is counted once per argument list, so counting is linear in the spec, not in the
layers it makes.

`LayerCounter.over(body, budget)` walks a network body in the expander's order and returns
where the expansion would pass `budget` layers: the same place the expander would report
(the layer, or the repeat count, that crosses the limit). Anything the counter cannot
follow (an error in the spec, a unit that instantiates itself, nesting past the limits)
ends the count with no answer: the expander then runs as usual and reports the error.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import CompileError, Note, Span
from ..layers import REGISTRY
from ..limits import MAX_DEPTH, MAX_UNIT_DEPTH
from ..syntax import ast
from .values import BUILTINS, coerce, eval_const

_TENSOR = object()  # a tensor value: only its existence matters here


def _shape(attr: ast.Attr) -> Any:
    """`x.shape` is not known before the layers are built: the count stops (the expander still
    checks the limit as it builds)."""
    raise _Unknown


class _Unknown(Exception):
    """The count cannot be followed further (an error the expander will report)."""


class _Over(Exception):
    """The expansion passes the budget here."""

    def __init__(self, span: Span):
        super().__init__()
        self.span = span
        self.notes: list[Note] = []  # the unit instances around it, innermost first


class _Env:
    """Names visible in a block: a unit's own, or a repeat body's and those around it."""

    __slots__ = ("names", "parent")

    def __init__(self, names: dict[str, Any], parent: _Env | None = None):
        self.names = names
        self.parent = parent

    def lookup(self, name: str) -> Any:
        env: _Env | None = self
        while env is not None:
            if name in env.names:
                return env.names[name]
            env = env.parent
        raise _Unknown

    def constant(self, name: ast.Name) -> Any:
        v = self.lookup(name.id)
        if v is _TENSOR or isinstance(v, tuple) and v and v[0] is _TENSOR:
            raise _Unknown
        return v


class LayerCounter:
    def __init__(self, units: dict[str, ast.Unit]):
        self.units = units
        self.sizes: dict[tuple, tuple[Any, int]] = {}  # (unit, arguments) -> (value, layers) of an instance
        self.stack: list[str] = []  # units being counted
        self.depth = 0

    def over(self, body: tuple[ast.Stmt, ...], budget: int) -> tuple[Span, list[Note]] | None:
        """Where expanding `body` passes `budget` layers, with the unit instances around
        that place; None if it does not, or if the count cannot tell."""
        self.stack.clear()
        self.depth = 0
        try:
            self._block(body, _Env({}), budget)
        except _Over as e:
            return e.span, e.notes
        except (_Unknown, CompileError):
            return None
        return None

    # Each method returns (value, layers) or layers, at most `budget` layers: past it, _Over.

    def _block(self, stmts: tuple[ast.Stmt, ...], env: _Env, budget: int) -> tuple[list[Any], int]:
        outs: list[Any] = []
        used = 0
        for stmt in stmts:
            if isinstance(stmt, ast.Assign):
                value, n = self._expr(stmt.value, env, budget - used)
                if len(stmt.targets) == 1:
                    env.names[stmt.targets[0].id] = value
                elif isinstance(value, tuple) and len(value) == len(stmt.targets):
                    for t, v in zip(stmt.targets, value, strict=True):
                        env.names[t.id] = v
                else:
                    raise _Unknown
            elif isinstance(stmt, ast.Out):
                n = 0
                for v in stmt.values:
                    value, k = self._expr(v, env, budget - used - n)
                    outs.append(value)
                    n += k
            elif isinstance(stmt, ast.If):
                while True:  # as the expander walks else-if chains
                    cond = eval_const(stmt.cond, env.constant, _shape)
                    if not isinstance(cond, bool):
                        raise _Unknown
                    if cond or not stmt.elif_:
                        break
                    stmt = stmt.orelse[0]
                self._enter()
                try:
                    branch_outs, n = self._block(stmt.then if cond else (stmt.orelse or ()), env, budget - used)
                finally:
                    self.depth -= 1
                outs.extend(branch_outs)
            else:
                raise _Unknown  # `in` out of place
            used += n
        return outs, used

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unknown

    def _expr(self, expr: ast.Expr, env: _Env, budget: int) -> tuple[Any, int]:
        if isinstance(expr, ast.Name):
            return env.lookup(expr.id), 0
        if isinstance(expr, ast.Call) and expr.callee in BUILTINS and expr.label is None and not expr.bare:
            return eval_const(expr, env.constant, _shape), 0
        if isinstance(expr, ast.Call | ast.Chain):
            self._enter()
            try:
                if isinstance(expr, ast.Call):
                    return self._call(expr, None, env, budget)
                value, used = self._expr(expr.head, env, budget)
                for stage in expr.stages:
                    if value is not _TENSOR:
                        raise _Unknown
                    if isinstance(stage, ast.Repeat):
                        value, n = self._repeat(stage, env, budget - used)
                    else:
                        value, n = self._call(stage, _TENSOR, env, budget - used)
                    used += n
                return value, used
            finally:
                self.depth -= 1
        if isinstance(expr, ast.Repeat):
            raise _Unknown
        return eval_const(expr, env.constant, _shape), 0

    def _inputs(self, call: ast.Call, n_inputs: int, variadic: bool, chained: Any, env: _Env, budget: int):
        """The tensor arguments' layers, as the expander splits a call's arguments; returns
        the remaining positional arguments and the layers."""
        have = 0 if chained is None else 1
        take = len(call.args) if variadic else min(max(n_inputs - have, 0), len(call.args))
        used = 0
        for a in call.args[:take]:
            value, n = self._expr(a, env, budget - used)
            if value is not _TENSOR:
                raise _Unknown
            used += n
        if have + take < n_inputs:
            raise _Unknown
        return call.args[take:], used

    def _call(self, call: ast.Call, chained: Any, env: _Env, budget: int) -> tuple[Any, int]:
        spec = REGISTRY.get(call.callee)
        if spec is not None:
            _, used = self._inputs(call, len(spec.inputs), spec.variadic, chained, env, budget)
            if used + 1 > budget:
                raise _Over(call.span)
            return _TENSOR, used + 1
        unit = self.units.get(call.callee)
        if unit is None:
            raise _Unknown
        return self._unit(unit, call, chained, env, budget)

    def _unit(self, unit: ast.Unit, call: ast.Call, chained: Any, env: _Env, budget: int) -> tuple[Any, int]:
        from .expand import UNIT_PARAM_TYPES, _unit_inputs, _unit_param

        ins = _unit_inputs(unit)
        if ins is None or unit.name in self.stack or len(self.stack) >= MAX_UNIT_DEPTH:
            raise _Unknown
        positional, used = self._inputs(call, len(ins), False, chained, env, budget)
        if len(positional) > len(unit.params):
            raise _Unknown
        given = dict(zip((p.name for p in unit.params), positional, strict=False))
        for kw in call.kwargs:
            if kw.name in given:
                raise _Unknown
            given[kw.name] = kw.value
        args: dict[str, Any] = {}
        for p in unit.params:
            t = UNIT_PARAM_TYPES.get(p.type)
            if t is None:
                raise _Unknown
            if p.name in given:
                value = eval_const(given.pop(p.name), env.constant, _shape)
            elif p.default is not None:
                value = eval_const(p.default, _Env(dict(args)).constant)
            else:
                raise _Unknown
            args[p.name] = coerce(value, _unit_param(p.name, t), unit.name, p.span)
        if given:
            raise _Unknown
        key = (unit.name, tuple([(type(v), repr(v)) for v in args.values()]))
        known = self.sizes.get(key)
        if known is not None and used + known[1] <= budget:
            return known[0], used + known[1]
        inner = _Env(dict(args))
        for n in ins:
            inner.names[n.id] = _TENSOR
        self.stack.append(unit.name)
        try:
            outs, size = self._block(tuple(s for s in unit.body if not isinstance(s, ast.In)), inner, budget - used)
        except _Over as e:
            e.notes.append(Note(f"in an instance of unit '{unit.name}'", call.span))
            raise
        finally:
            self.stack.pop()
        if not outs:
            raise _Unknown
        value = outs[0] if len(outs) == 1 else tuple(outs)
        self.sizes[key] = (value, size)
        return value, used + size

    def _repeat(self, rep: ast.Repeat, env: _Env, budget: int) -> tuple[Any, int]:
        from .expand import _copy_bindings

        self._enter()
        try:
            count = eval_const(rep.count, env.constant, _shape)
            items = None
            if isinstance(count, tuple) and rep.var is not None:  # `repeat row in cfg`
                items, count = count, len(count)
            elif not isinstance(count, int) or isinstance(count, bool) or count < 0 or rep.index is not None:
                raise _Unknown
            if count > budget:  # as the expander checks before unrolling
                raise _Over(rep.count.span)

            def copy(i: int, room: int) -> int:
                inner = _Env(_copy_bindings(rep, i, items), env)
                whole = rep.stages[0] if rep.stages is not None and len(rep.stages) == 1 else None
                if isinstance(whole, ast.Call) and whole.label is None and whole.callee in self.units:
                    value, n = self._unit(self.units[whole.callee], whole, _TENSOR, inner, room)
                elif rep.stages is not None:
                    value, n = _TENSOR, 0
                    for stage in rep.stages:
                        if value is not _TENSOR:
                            raise _Unknown
                        if isinstance(stage, ast.Repeat):
                            value, k = self._repeat(stage, inner, room - n)
                        else:
                            value, k = self._call(stage, _TENSOR, inner, room - n)
                        n += k
                else:
                    first = rep.body[0]
                    if not isinstance(first, ast.In) or len(first.names) != 1:
                        raise _Unknown
                    inner.names[first.names[0].id] = _TENSOR
                    outs, n = self._block(rep.body[1:], inner, room)
                    if len(outs) != 1:
                        raise _Unknown
                    value = outs[0]
                if value is not _TENSOR:
                    raise _Unknown
                return n

            if count == 0:
                return _TENSOR, 0
            if rep.var is None:  # every copy is the same: count one
                one = copy(0, budget)
                if one * count <= budget:
                    return _TENSOR, one * count
                fit = budget // one
                copy(fit, budget - fit * one)  # raises _Over where the expander would stop
                raise AssertionError("a copy larger than its room fitted")
            used = 0
            for i in range(count):
                used += copy(i, budget - used)
            return _TENSOR, used
        finally:
            self.depth -= 1
