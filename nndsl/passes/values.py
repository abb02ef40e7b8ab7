"""Compile-time values: constant evaluation and type coercion.

Specs are never executed as Python: expressions are a small closed language (numbers,
strings, booleans, shapes, lists, arithmetic, comparisons, and/or/not) interpreted here.
Tensors are opaque references into the graph being built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..diagnostics import CompileError, Span, make
from ..layers.base import BOOL, CHOICE, FLOAT, FLOATS, INT, INTS, SHAPE, STR, Param
from ..limits import MAX_LIST_ITEMS
from ..syntax import ast

MAX_ELEMENTS = 2**40  # per sample; larger shapes are refused as absurd


@dataclass(frozen=True, slots=True)
class Tensor:
    vid: int


@dataclass(frozen=True, slots=True)
class Symbol:
    """A bare name in the config (`network = Training`)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class DurationValue:
    value: int
    unit: str  # "epoch" | "iteration"


class _Poison:
    """The value of an expression that already produced an error: it silences follow-ups."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "POISON"


POISON: Any = _Poison()


def describe(v: Any) -> str:
    """A value's kind, for messages: 'an int (3)', 'a shape (3x32x32)'."""
    if isinstance(v, Tensor):
        return "a tensor"
    if isinstance(v, bool):
        return f"a bool ({'true' if v else 'false'})"
    if isinstance(v, int):
        return f"an int ({v})"
    if isinstance(v, float):
        return f"a float ({v:g})"
    if isinstance(v, str):
        return f'a string ("{v}")'
    if isinstance(v, tuple):
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return f"a list ({', '.join(map(str, v))})" if v else "an empty list"
        return "a list"
    if isinstance(v, Symbol):
        return f"the name '{v.name}'"
    if isinstance(v, DurationValue):
        return f"a duration ({v.value} {v.unit}s)"
    return "a value"


_TYPE_WORDS = {
    INT: "an int",
    FLOAT: "a number",
    BOOL: "true or false",
    STR: "a string",
    CHOICE: "a string",
    SHAPE: "a shape (like 3x32x32, or an int)",
    INTS: "an int or a list of ints",
    FLOATS: "a number or a list of numbers",
    "duration": "a duration (like 30 epochs or 1000 iterations)",
    "durations": "a list of durations",
    "list": "a list (like [64, 128] or [[1, 16], [6, 24]])",
    "name": "a name (like valid_error)",
}


def expected_word(type_: str) -> str:
    return _TYPE_WORDS.get(type_, type_)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def coerce(v: Any, param: Param, callee: str, span: Span) -> Any:
    """Convert `v` to `param`'s type or raise a positioned E0305/E0306/E0403."""
    t = param.type

    def bad() -> CompileError:
        return CompileError(
            make("E0305", span, name=param.name, callee=callee, expected=expected_word(t), got=describe(v))
        )

    if t == INT:
        if _is_int(v):
            return v
        raise bad()
    if t == FLOAT:
        if _is_num(v) and math.isfinite(v):
            return float(v)
        raise bad()
    if t == BOOL:
        if isinstance(v, bool):
            return v
        raise bad()
    if t == STR:
        if isinstance(v, str):
            return v
        raise bad()
    if t == CHOICE:
        if isinstance(v, str) and v in param.choices:
            return v
        if isinstance(v, str):
            choices = ", ".join(param.choices)
            from ..diagnostics import did_you_mean

            raise CompileError(
                make(
                    "E0306",
                    span,
                    help=did_you_mean(v, param.choices),
                    name=param.name,
                    callee=callee,
                    choices=choices,
                    got=f'"{v}"',
                )
            )
        raise bad()
    if t in (SHAPE, INTS):
        items = (v,) if _is_int(v) else v
        if not isinstance(items, tuple) or not all(_is_int(x) for x in items):
            raise bad()
        if t == SHAPE:
            check_shape(items, f"'{param.name}' of {callee}", span)
        return items
    if t == FLOATS:
        items = (v,) if _is_num(v) else v
        if not isinstance(items, tuple) or not all(_is_num(x) for x in items):
            raise bad()
        return tuple(float(x) for x in items)
    if t == "list":  # a unit's `list` parameter: any list (of numbers, strings, lists, shapes)
        if isinstance(v, tuple):
            return v
        raise bad()
    if t == "name":  # a config section's name, written bare (`monitor=valid_error`) or as a string
        if isinstance(v, Symbol):
            return v.name
        if isinstance(v, str):
            return v
        raise bad()
    if t == "duration":
        if _is_int(v):
            v = DurationValue(v, "iteration")
        if isinstance(v, DurationValue) and v.value >= 0:
            return (v.value, v.unit)
        raise bad()
    if t == "durations":
        items = (v,) if not isinstance(v, tuple) else v
        out = []
        for x in items:
            if _is_int(x):
                x = DurationValue(x, "iteration")
            if not isinstance(x, DurationValue) or x.value < 0:
                raise bad()
            out.append((x.value, x.unit))
        return tuple(out)
    raise AssertionError(f"unknown parameter type {t}")


def check_shape(dims: tuple[int, ...], what: str, span: Span, minimum: int = 1) -> None:
    """Refuse sizes below `minimum` (zero and negative shapes; a unit's `shape` argument may hold 0,
    as a pad does: the layer it is given to checks it) and absurdly large shapes."""
    from ..layers.base import fmt_shape

    for d in dims:
        if d < minimum:
            raise CompileError(
                make(
                    "E0403",
                    span,
                    what=what,
                    shape=fmt_shape(dims),
                    reason=f"every size must be at least {minimum}, got {d}",
                )
            )
    if math.prod(dims) > MAX_ELEMENTS:
        raise CompileError(
            make(
                "E0403",
                span,
                what=what,
                shape=fmt_shape(dims),
                reason=f"{math.prod(dims):,} elements per sample is more than the limit of {MAX_ELEMENTS:,}",
            )
        )


# --- constant expressions ----------------------------------------------------------------------

_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_MAX_INT = 2**62


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


def _err(span: Span, message: str) -> CompileError:
    return CompileError(make("E0307", span, message=message))


Lookup = Callable[[ast.Name], Any]
ShapeOf = Callable[[ast.Attr], Any]


def _no_shape(attr: ast.Attr) -> Any:
    raise CompileError(make("E0321", attr.span, what=_attr_subject(attr), reason="no tensor is visible here"))


def _attr_subject(attr: ast.Attr) -> str:
    return f"'{attr.value.id}'" if isinstance(attr.value, ast.Name) else "this value"


def eval_const(expr: ast.Expr, lookup: Lookup, shape: ShapeOf = _no_shape) -> Any:
    """Evaluate a constant expression. `lookup` resolves names (and reports unknown ones);
    `shape` gives a tensor's per-sample shape for `x.shape` (where tensors are visible)."""
    if isinstance(expr, ast.Num):
        v = expr.value
        if (isinstance(v, float) and not math.isfinite(v)) or (isinstance(v, int) and v > _MAX_INT):
            raise _err(expr.span, f"the number {_short(expr.text)} is too large")
        return v
    if isinstance(expr, ast.Str):
        return expr.value
    if isinstance(expr, ast.Bool):
        return expr.value
    if isinstance(expr, ast.ShapeLit):
        if any(d > _MAX_INT for d in expr.dims):
            raise _err(expr.span, "a size of this shape is too large")
        return expr.dims
    if isinstance(expr, ast.Name):
        return lookup(expr)
    if isinstance(expr, ast.ListLit):
        items = tuple(eval_const(x, lookup, shape) for x in expr.items)
        if any(x is POISON for x in items):
            return POISON
        if _list_size(items) > MAX_LIST_ITEMS:
            limit = f"{MAX_LIST_ITEMS:,}"
            raise _err(expr.span, f"a list of more than {limit} items (counting the items of the lists in it)")
        return items
    if isinstance(expr, ast.Duration):
        unit = expr.unit.rstrip("s")
        if unit not in ("epoch", "iteration"):
            raise _err(expr.span, f"unknown unit '{expr.unit}'; a duration counts 'epochs' or 'iterations'")
        return DurationValue(expr.value, unit)
    if isinstance(expr, ast.Unary):
        v = eval_const(expr.operand, lookup, shape)
        if v is POISON:
            return v
        if expr.op == "not":
            if not isinstance(v, bool):
                raise _err(expr.span, f"'not' needs true or false, got {describe(v)}")
            return not v
        if not _is_num(v):
            raise _err(expr.span, f"'{expr.op}' needs a number, got {describe(v)}")
        return -v if expr.op == "-" else v
    if isinstance(expr, ast.Binary):
        # A run of binary operators (`1 + 2 + ... + n`, left-nested) is folded in a loop, so
        # its length never deepens the recursion (see nndsl/limits.py).
        run = []
        node: ast.Expr = expr
        while isinstance(node, ast.Binary):
            run.append(node)
            node = node.left
        a = eval_const(node, lookup, shape)
        for binary in reversed(run):
            a = _binary(binary, a, lookup, shape)
        return a
    if isinstance(expr, ast.Index):
        return _index(expr, eval_const(expr.value, lookup, shape), eval_const(expr.index, lookup, shape))
    if isinstance(expr, ast.Slicing):
        return slice_constant(expr, eval_const(expr.value, lookup, shape), lookup, shape)
    if isinstance(expr, ast.Attr):
        if expr.name != "shape":
            raise _err(expr.name_span, f"unknown attribute '{expr.name}'; a tensor has only '.shape'")
        return shape(expr)
    if isinstance(expr, ast.Call) and expr.label is None and not expr.bare and expr.callee in BUILTINS:
        return _builtin(expr, [eval_const(a, lookup, shape) for a in expr.args])
    if isinstance(expr, (ast.Call, ast.Chain, ast.Repeat)):
        raise _err(expr.span, "a layer or unit call cannot be used as a constant")
    raise _err(expr.span, "not a constant expression")


def _binary(expr: ast.Binary, a: Any, lookup: Lookup, shape: ShapeOf) -> Any:
    """`expr` with its left operand's value `a` already known."""
    if expr.op in ("and", "or"):
        if a is POISON:
            return a
        if not isinstance(a, bool):
            raise _err(expr.left.span, f"'{expr.op}' needs true or false, got {describe(a)}")
        if (expr.op == "and" and not a) or (expr.op == "or" and a):
            return a
        b = eval_const(expr.right, lookup, shape)
        if b is not POISON and not isinstance(b, bool):
            raise _err(expr.right.span, f"'{expr.op}' needs true or false, got {describe(b)}")
        return b
    b = eval_const(expr.right, lookup, shape)
    if a is POISON or b is POISON:
        return POISON
    if expr.op in _COMPARE:
        if expr.op in ("==", "!=") or (_is_num(a) and _is_num(b)):
            return _COMPARE[expr.op](a, b)
        raise _err(expr.span, f"cannot compare {describe(a)} with {describe(b)}")
    if not (_is_num(a) and _is_num(b)):
        raise _err(expr.span, f"'{expr.op}' needs numbers, got {describe(a)} and {describe(b)}")
    if expr.op in ("/", "//", "%") and b == 0:
        raise _err(expr.right.span, "division by zero")
    result = _BINARY[expr.op](a, b)
    if isinstance(result, float) and not math.isfinite(result):
        raise _err(expr.span, "the result is not a finite number")
    if _is_int(result) and abs(result) > _MAX_INT:
        raise _err(expr.span, f"the result {result:.3e} is too large")
    return result


# --- indexing and built-in functions ----------------------------------------------------------


def _list_size(items: tuple) -> int:
    """The items of a list, counting those of the lists in it (a list named twice counts twice),
    found by a walk that stops past MAX_LIST_ITEMS: lists built from lists by name (`b = [a, a]`)
    cannot grow past the limit, so printing or comparing one stays bounded."""
    total = 0
    sizes: dict[int, int] = {}  # id(a list in it) -> its size: a list named twice is walked once
    stack: list[tuple[tuple, bool]] = [(items, False)]
    while stack:
        t, done = stack.pop()
        if done:
            sizes[id(t)] = len(t) + sum(sizes[id(x)] for x in t if isinstance(x, tuple))
            continue
        if id(t) in sizes:
            continue
        stack.append((t, True))
        for x in t:
            if isinstance(x, tuple) and id(x) not in sizes:
                stack.append((x, False))
        total += len(t)
        if total > MAX_LIST_ITEMS:
            return total
    return sizes[id(items)]


def _index(expr: ast.Index, v: Any, i: Any) -> Any:
    """`v[i]`: an item of a list or shape; a negative index counts from the end."""
    if v is POISON or i is POISON:
        return POISON
    if not isinstance(v, tuple):
        raise _err(expr.value.span, f"only a list or a shape can be indexed, got {describe(v)}")
    if not _is_int(i):
        raise _err(expr.index.span, f"an index must be an int, got {describe(i)}")
    if not -len(v) <= i < len(v):
        what = f"a list of {len(v)} item{'' if len(v) == 1 else 's'}" if v else "an empty list"
        raise CompileError(make("E0320", expr.index.span, index=i, what=what))
    return v[i]


def slice_bounds(item: ast.SliceItem, lookup: Lookup, shape: ShapeOf) -> tuple[Any, Any, Any]:
    """The start, stop and step of `a:b:c` (None where left out), each an int, or POISON."""
    bounds = []
    for part in (item.start, item.stop, item.step):
        v = None if part is None else eval_const(part, lookup, shape)
        if v is not None and v is not POISON and not _is_int(v):
            raise _err(part.span, f"a slice's bounds and step are ints, got {describe(v)}")
        bounds.append(v)
    if bounds[2] == 0:
        raise _err(item.step.span, "a slice's step cannot be 0")
    return bounds[0], bounds[1], bounds[2]


def slice_constant(expr: ast.Slicing, v: Any, lookup: Lookup, shape: ShapeOf) -> Any:
    """`cfg[1:]`, `name[::-1]`: Python's slice of a list, shape or string (one slice, no index)."""
    if v is POISON:
        return POISON
    if not isinstance(v, tuple | str):
        raise _err(expr.value.span, f"only a tensor, a list, a shape or a string can be sliced, got {describe(v)}")
    if len(expr.items) != 1 or not isinstance(expr.items[0], ast.SliceItem):
        raise _err(expr.items[0].span if len(expr.items) == 1 else expr.items[1].span,
                   f"{'a string' if isinstance(v, str) else 'a list'} takes one slice, like cfg[1:] "
                   "(several are a tensor's, one per axis)")  # fmt: skip
    bounds = slice_bounds(expr.items[0], lookup, shape)
    if any(b is POISON for b in bounds):
        return POISON
    return v[slice(*bounds)]


def _number(name: str, v: Any, span: Span) -> int | float:
    if not _is_num(v):
        raise _err(span, f"{name}() needs a number, got {describe(v)}")
    return v


def _checked_int(v: int, span: Span) -> int:
    if abs(v) > _MAX_INT:
        raise _err(span, f"the result {v:.3e} is too large")
    return v


def _int(call: ast.Call, args: list[Any]) -> Any:
    return _checked_int(int(_number("int", args[0], call.args[0].span)), call.span)


def _float(call: ast.Call, args: list[Any]) -> Any:
    return float(_number("float", args[0], call.args[0].span))


def _round(call: ast.Call, args: list[Any]) -> Any:
    v = _number("round", args[0], call.args[0].span)
    if len(args) == 1:
        return _checked_int(round(v), call.span)  # Python's rule: halves go to the even neighbour
    if not _is_int(args[1]):
        raise _err(call.args[1].span, f"round()'s number of digits must be an int, got {describe(args[1])}")
    return float(round(v, args[1]))


def _floor(call: ast.Call, args: list[Any]) -> Any:
    return _checked_int(math.floor(_number("floor", args[0], call.args[0].span)), call.span)


def _ceil(call: ast.Call, args: list[Any]) -> Any:
    return _checked_int(math.ceil(_number("ceil", args[0], call.args[0].span)), call.span)


def _abs(call: ast.Call, args: list[Any]) -> Any:
    return abs(_number("abs", args[0], call.args[0].span))


def _len(call: ast.Call, args: list[Any]) -> Any:
    if not isinstance(args[0], tuple | str):
        raise _err(call.args[0].span, f"len() needs a list, a shape or a string, got {describe(args[0])}")
    return len(args[0])


def _extreme(pick: Callable[..., Any]) -> Callable[[ast.Call, list[Any]], Any]:
    def function(call: ast.Call, args: list[Any]) -> Any:
        name = pick.__name__
        if len(args) == 1:
            if not isinstance(args[0], tuple):
                raise _err(call.args[0].span, f"{name}() of one argument needs a list, got {describe(args[0])}")
            if not args[0]:
                raise _err(call.args[0].span, f"{name}() of an empty list")
            items, spans = args[0], [call.args[0].span] * len(args[0])
        else:
            items, spans = args, [a.span for a in call.args]
        for v, span in zip(items, spans, strict=True):
            _number(name, v, span)
        return pick(items)

    return function


# name -> (the function, the fewest and the most arguments it takes; None: any number)
BUILTINS: dict[str, tuple[Callable[[ast.Call, list[Any]], Any], int, int | None]] = {
    "int": (_int, 1, 1),
    "float": (_float, 1, 1),
    "round": (_round, 1, 2),
    "floor": (_floor, 1, 1),
    "ceil": (_ceil, 1, 1),
    "abs": (_abs, 1, 1),
    "len": (_len, 1, 1),
    "min": (_extreme(min), 1, None),
    "max": (_extreme(max), 1, None),
}


def _builtin(call: ast.Call, args: list[Any]) -> Any:
    function, least, most = BUILTINS[call.callee]
    if call.kwargs:
        raise _err(call.kwargs[0].name_span, f"{call.callee}() takes no named arguments")
    if len(args) < least or (most is not None and len(args) > most):
        if most is None:
            takes = f"at least {least} argument"
        elif least == most:
            takes = f"{least} argument{'' if least == 1 else 's'}"
        else:
            takes = f"{least} to {most} arguments"
        raise _err(call.span, f"{call.callee}() takes {takes}, got {len(args)}")
    if any(a is POISON for a in args):
        return POISON
    return function(call, args)
