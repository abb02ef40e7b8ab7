"""Generated code as a small typed expression tree, and the one printer that makes it text.

Emitters build their layers' calls and constructors as trees (`Emit.call`, `Emit.module`); the
builder prints them once (`Printer`), and the printer records the imports the code needs: a
`Module` node (`nn`, `F`, `layers`, `nnc`...) knows the import statement that brings its name,
so a generated file imports exactly what its code uses.

The spelling helpers make a tree read like the code it prints: `NN.dot("Conv2d")(3, 64,
kernel_size=3, stride=Opt(2, 1))` is `nn.Conv2d(3, 64, kernel_size=3, stride=2)`; `x + y * 2`,
`-x`, `x[...]`, `x.dot("flatten")(1)` build operators, subscripts and method calls; plain Python
values (ints, floats, bools, strings, tuples) become literals (`naming.literal`).

Placeholders stand for what the builder fills in: `MODULE` (`{m}`, the layer's attribute),
`inp(k)` (`{k}`, input k) and `BATCH` (`{batch_ref}`). An optional keyword argument (`Opt`) is
left out where it is at the framework's default and a `Wrapped` call is written only where it is
needed; while the builder generates code to merge (`full`), both are kept with the marks
`merge.option_marker` / `merge.raw_marker` write, so that instances that differ only there merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import merge
from .naming import literal

# Python's binding strengths, lowest first (the grammar's order).
_CMP, _OR, _XOR, _AND, _ADD, _MUL, _UNARY, _POW, _POSTFIX, _ATOM = 5, 6, 7, 8, 10, 11, 12, 13, 15, 16
_BINARY = {
    "|": _OR, "^": _XOR, "&": _AND, "+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL, "//": _MUL, "%": _MUL,
    "@": _MUL, "**": _POW, "==": _CMP, "!=": _CMP, "<": _CMP, "<=": _CMP, ">": _CMP, ">=": _CMP,
}  # fmt: skip


class Expr:
    """A node of generated code. Operators and calls on a node build bigger nodes."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Call:
        return Call(self, tuple(map(lit, args)), tuple((k, _kwarg(v)) for k, v in kwargs.items()))

    def dot(self, name: str) -> Attr:
        return Attr(self, name)

    def __getitem__(self, index: Any) -> Subscript:
        items = index if isinstance(index, tuple) else (index,)
        return Subscript(self, tuple(map(lit, items)))

    def __add__(self, o: Any) -> Bin:
        return Bin("+", self, lit(o))

    def __radd__(self, o: Any) -> Bin:
        return Bin("+", lit(o), self)

    def __sub__(self, o: Any) -> Bin:
        return Bin("-", self, lit(o))

    def __rsub__(self, o: Any) -> Bin:
        return Bin("-", lit(o), self)

    def __mul__(self, o: Any) -> Bin:
        return Bin("*", self, lit(o))

    def __rmul__(self, o: Any) -> Bin:
        return Bin("*", lit(o), self)

    def __truediv__(self, o: Any) -> Bin:
        return Bin("/", self, lit(o))

    def __rtruediv__(self, o: Any) -> Bin:
        return Bin("/", lit(o), self)

    def __pow__(self, o: Any) -> Bin:
        return Bin("**", self, lit(o))

    def __rpow__(self, o: Any) -> Bin:
        return Bin("**", lit(o), self)

    def __matmul__(self, o: Any) -> Bin:
        return Bin("@", self, lit(o))

    def __and__(self, o: Any) -> Bin:
        return Bin("&", self, lit(o))

    def __or__(self, o: Any) -> Bin:
        return Bin("|", self, lit(o))

    def __xor__(self, o: Any) -> Bin:
        return Bin("^", self, lit(o))

    def __neg__(self) -> Unary:
        return Unary("-", self)


@dataclass(frozen=True, slots=True, eq=True)
class Module(Expr):
    """A module's name in generated code (`nn`), brought by `statement` (`from torch import nn`)."""

    name: str
    statement: str


@dataclass(frozen=True, slots=True)
class Name(Expr):
    """A name the generated code has without an import (`self`, `k`, a unit class)."""

    name: str


@dataclass(frozen=True, slots=True)
class Code(Expr):
    """Code the builder's merge has already written (a unit's argument expression): an atom."""

    text: str


@dataclass(frozen=True, slots=True)
class Place(Expr):
    """A placeholder the builder fills in: `{m}`, `{0}`, `{batch_ref}`."""

    key: str


@dataclass(frozen=True, slots=True)
class Lit(Expr):
    value: Any  # int, float, bool, None, str or a tuple of them


@dataclass(frozen=True, slots=True)
class Size(Expr):
    """A per-axis size (a kernel, a stride, a padding): one int where every axis agrees (`3`),
    else a tuple (`(1, 7)`), which the frameworks' layers read alike. Under `full` it is written
    with its tuple (`merge.size_marker`), so that instances whose sizes print differently
    (`3`, `(1, 7)`) still merge, into one expression of the unit's argument (`kernel`)."""

    value: tuple[int, ...]

    def __init__(self, value: Any):
        object.__setattr__(self, "value", tuple(value))

    @property
    def short(self) -> Any:
        """The value as written: the one int, or the tuple."""
        return self.value[0] if len(set(self.value)) == 1 else self.value


@dataclass(frozen=True, slots=True)
class Seq(Expr):
    """A tuple or (`list=True`) list display."""

    items: tuple[Expr, ...]
    list: bool = False


@dataclass(frozen=True, slots=True)
class Attr(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Opt:
    """An optional keyword argument's value and the framework's default (not itself an expression)."""

    value: Expr
    default: Expr

    def __init__(self, value: Any, default: Any):
        object.__setattr__(self, "value", lit(value))
        object.__setattr__(self, "default", lit(default))


@dataclass(frozen=True, slots=True)
class Call(Expr):
    fn: Expr
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr | Opt], ...] = ()

    def with_kwargs(self, **kwargs: Any) -> Call:
        return Call(self.fn, self.args, self.kwargs + tuple((k, _kwarg(v)) for k, v in kwargs.items()))


@dataclass(frozen=True, slots=True)
class Bin(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str  # "-", "~"
    operand: Expr


@dataclass(frozen=True, slots=True)
class Slice(Expr):
    """`start:stop:step` inside a subscript (None parts left out; `step` None: no second colon)."""

    start: Expr | None = None
    stop: Expr | None = None
    step: Expr | None = None


@dataclass(frozen=True, slots=True)
class Subscript(Expr):
    obj: Expr
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Comp(Expr):
    """`elt for var in iterable`: a generator as a call's only argument, or (`list=True`) a list."""

    elt: Expr
    var: str
    iterable: Expr
    list: bool = False


@dataclass(frozen=True, slots=True)
class Hole(Expr):
    """Where a `Wrapped` node's `outer` takes its `inner`."""


@dataclass(frozen=True, slots=True)
class Wrapped(Expr):
    """`outer` with `inner` in its `HOLE` where `needed` (a padding layer around an input:
    `layers.ZeroPadding2D(1)(HOLE)`), `inner` alone where not."""

    outer: Expr
    inner: Expr
    needed: bool


HOLE = Hole()
MODULE = Place("m")
BATCH = Place("batch_ref")


def inp(k: int) -> Place:
    """Input `k` of the layer."""
    return Place(str(k))


def lit(v: Any) -> Expr:
    """`v` as a node: a node as it is, a Python constant as its literal."""
    if isinstance(v, Expr):
        return v
    if isinstance(v, list):
        return Seq(tuple(map(lit, v)), list=True)
    if isinstance(v, tuple) and any(isinstance(x, Expr) for x in v):
        return Seq(tuple(map(lit, v)))
    return Lit(v)


def _kwarg(v: Any) -> Expr | Opt:
    return v if isinstance(v, Opt) else lit(v)


def name(text: str) -> Name:
    return Name(text)


def cmp(op: str, left: Any, right: Any) -> Bin:
    """A comparison (`==`, `<`...), which Python's operators on nodes cannot spell."""
    assert _BINARY[op] == _CMP, op
    return Bin(op, lit(left), lit(right))


def _prec(e: Expr) -> int:
    if isinstance(e, Bin):
        return _BINARY[e.op]
    if isinstance(e, Unary):
        return _UNARY
    if isinstance(e, Lit) and isinstance(e.value, int | float) and not isinstance(e.value, bool) and e.value < 0:
        return _UNARY
    if isinstance(e, Size) and isinstance(e.short, int) and e.short < 0:
        return _UNARY
    if isinstance(e, (Attr, Call, Subscript)):
        return _POSTFIX
    if isinstance(e, Wrapped):
        return _prec(e.outer) if e.needed else _prec(e.inner)
    if isinstance(e, Comp) and not e.list:
        return 0
    return _ATOM


class Printer:
    """Prints nodes as source text and records, by name, the import statements they need.

    `full`: the merge's form, every `Opt` and `Wrapped` kept with its marks (see the module doc).
    Printing is linear in the tree: each node is visited once and written into one list of parts.
    """

    def __init__(self, full: bool = False):
        self.full = full
        self.imports: dict[str, str] = {}

    def __call__(self, e: Expr) -> str:
        out: list[str] = []
        self._write(e, out)
        return "".join(out)

    def _sub(self, e: Expr, out: list[str], parens: bool) -> None:
        if parens:
            out.append("(")
            self._write(e, out)
            out.append(")")
        else:
            self._write(e, out)

    def _write(self, e: Expr, out: list[str]) -> None:  # noqa: C901 - one case per node type
        if isinstance(e, Module):
            self.imports[e.name] = e.statement
            out.append(e.name)
        elif isinstance(e, Name):
            out.append(e.name)
        elif isinstance(e, Code):
            out.append(e.text)
        elif isinstance(e, Place):
            out.append("{" + e.key + "}")
        elif isinstance(e, Lit):
            out.append(literal(e.value))
        elif isinstance(e, Size):
            out.append(merge.size_marker(e.value) if self.full else literal(e.short))
        elif isinstance(e, Seq):
            out.append("[" if e.list else "(")
            for k, x in enumerate(e.items):
                if k:
                    out.append(", ")
                self._write(x, out)
            out.append("]" if e.list else ("," if len(e.items) == 1 else "") + ")")
        elif isinstance(e, Attr):
            self._sub(e.obj, out, _prec(e.obj) < _POSTFIX or _int_literal(e.obj))
            out.append("." + e.name)
        elif isinstance(e, Call):
            self._sub(e.fn, out, _prec(e.fn) < _POSTFIX)
            out.append("(")
            self._arguments(e, out)
            out.append(")")
        elif isinstance(e, Subscript):
            self._sub(e.obj, out, _prec(e.obj) < _POSTFIX)
            out.append("[")
            for k, x in enumerate(e.items):
                if k:
                    out.append(", ")
                self._write(x, out)
            out.append("]")
        elif isinstance(e, Slice):
            if e.start is not None:
                self._write(e.start, out)
            out.append(":")
            if e.stop is not None:
                self._write(e.stop, out)
            if e.step is not None:
                out.append(":")
                self._write(e.step, out)
        elif isinstance(e, Bin):
            p = _BINARY[e.op]
            lp, rp = _prec(e.left), _prec(e.right)
            if p == _POW:  # right-associative; its right operand may be a unary minus
                left, right = lp <= p, rp < _UNARY
            elif p == _CMP:  # comparisons chain: parenthesize any comparison inside
                left, right = lp <= p, rp <= p
            else:
                left, right = lp < p, rp <= p
            self._sub(e.left, out, left)
            out.append(f" {e.op} ")
            self._sub(e.right, out, right)
        elif isinstance(e, Unary):
            out.append(e.op)
            self._sub(e.operand, out, _prec(e.operand) < _UNARY)
        elif isinstance(e, Comp):
            out.append("[" if e.list else "")
            self._write(e.elt, out)
            out.append(f" for {e.var} in ")
            self._write(e.iterable, out)
            out.append("]" if e.list else "")
        elif isinstance(e, Hole):
            out.append("\x00")
        elif isinstance(e, Wrapped):
            if not (e.needed or self.full):
                self._write(e.inner, out)
                return
            # What this instance leaves out records no import (another instance that needs it does).
            before, after = (self if e.needed else Printer(self.full))(e.outer).split("\x00")
            if self.full:
                before, after = merge.raw_marker(before, not e.needed), merge.raw_marker(after, not e.needed)
            out.append(before)
            self._write(e.inner, out)
            out.append(after)
        else:
            raise TypeError(f"not an expression: {e!r}")

    def _arguments(self, e: Call, out: list[str]) -> None:
        """Positional then keyword arguments; an `Opt` at its default is left out (kept marked under
        `full`, as `merge.option_marker` writes it, which supplies its own `, `)."""
        written = False
        for x in e.args:
            if written:
                out.append(", ")
            self._write(x, out)
            written = True
        for k, v in e.kwargs:
            if isinstance(v, Opt):
                vp = Printer(self.full)
                value, default = vp(v.value), Printer(self.full)(v.default)
                at_default = merge.unsized(value) == merge.unsized(default)  # (a size as it is written)
                if not at_default:  # a value left out records no import
                    self.imports.update(vp.imports)
                if self.full:
                    out.append(merge.option_marker(k, value, default))
                    written = written or not at_default
                elif not at_default:
                    out.append((", " if written else "") + f"{k}={value}")
                    written = True
                continue
            out.append((", " if written else "") + f"{k}=")
            self._write(v, out)
            written = True


def _int_literal(e: Expr) -> bool:
    return isinstance(e, Lit) and isinstance(e.value, int) and not isinstance(e.value, bool)


def render(e: Expr, full: bool = False) -> str:
    """`e` as text, its imports dropped (for a test's or a message's look at one expression)."""
    return Printer(full)(e)
