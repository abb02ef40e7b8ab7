"""One class per unit: the instances of a unit merged into one parametrized class.

The builder generates each block instance's code concretely (what the emitters give for
its layers), as records: constructor statements, initializer statements and forward
statements, each keyed by the spec statement it comes from (the layer's call, the child
unit call or repeat). `merge_group` merges the instances of one unit (or the copies of one
layer-bodied repeat) into one class:

- statements are aligned by their keys, never by text;
- constants that differ across instances become expressions over the constructor's
  arguments: the unit's own arguments (all, with the unit's defaults, in declaration order)
  and `in_channels`, the first input's channel count (and `in_features`, its size flattened),
  which the spec's `x.shape[0]` of that input also reads as;
  candidates, in order, are the spec's own expressions of that statement, the arguments, the
  other expressions of the unit's body and small multiples of the arguments, and one is taken
  only if it gives the instance's value in every instance;
- a constant the builder marked as the value of one of its layer call's arguments, or as a
  small affine function or the negation of it (it emits the layer again with that value
  changed, a bool flipped, and marks the constants that follow it, see `builder._provenance`
  and `follows`), is the spec's expression for that argument under that function
  (`momentum=1 - decay`, `bias=with_bias`), where it gives it in every instance: so a class of
  one instance takes the arguments its layers are given (`nn.Linear(2048, classes)`), and a
  constant that only equals an argument stays a number;
- statements only some instances have are generated under `if <the spec's condition>:`,
  checked against every instance (an initializer, under the layer call's or the unit's bool
  argument that is true exactly where it is: `if with_bias:`); a value that such a statement
  replaces in the others takes an `else:` branch;
- a repeat's copies are built in a loop over the spec's count, also where it is 0 in some
  instances (an empty list); a child argument that differs from copy to copy is written in
  the loop's `k` (`in_channels + growth * k`, `k` for `repeat i in n`'s index);
- shape comments: a size the same in every instance is a number, one that differs an
  expression of the constructor's arguments and of the first input's sizes (`ShapeNotes`:
  `4*maps x H/stride x W/stride`), or `?`;
- an emitter's optional argument (`expr.Opt`) or wrapping (`expr.Wrapped`, e.g. a
  Keras padding layer around an input) at its default in every instance is left out, one
  set in any instance is written for all, with its value as an expression (a pad of 0 where
  an instance has none).

Where instances do not merge (a constant no candidate explains, structure the spec's
conditions do not explain), `split_group` splits them into as few classes as it can, each
merged on its own; a class of one instance is that instance's concrete code. Nothing here
guesses: every generated expression is checked against every instance it stands for (a
float to the 12 digits the emitters write it with).
"""

from __future__ import annotations

import ast as pyast
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from ..passes.values import BUILTINS, eval_const
from ..syntax import ast
from .naming import Namer, literal

# --- records --------------------------------------------------------------------------------


@dataclass
class Mod:
    """A constructor statement: a layer's module (`text`) or child blocks (`kids`)."""

    key: tuple
    attr: str
    text: str = ""
    kids: list = field(default_factory=list)  # child Insts: one unit instance, or a repeat's copies
    rels: list = field(default_factory=list)  # the kids' paths relative to the block
    copies: bool = False
    spec: Any = None  # the child's unit call (ast.Call) or the repeat (ast.Repeat)
    ctx: tuple = ()  # the spec's conditions around the statement: ((cond, polarity), ...)


@dataclass
class Init:
    key: tuple
    text: str
    ctx: tuple = ()
    spec: Any = None  # the layer's call (ast.Call)


@dataclass
class Stmt:
    """A forward statement: a layer's call (`template`, `{0}`... the inputs), a child's call
    or a loop over a repeat's copies."""

    key: tuple
    kind: str  # "layer" | "child" | "loop"
    template: str
    inputs: tuple
    outputs: tuple
    comment: str
    attr: str | None = None  # the module attribute it calls
    spec: Any = None
    ctx: tuple = ()
    guard: str = ""  # computed only where this flag holds ("heads": an aux head), else None
    flag: str = ""  # a child's call: the heads argument its class takes ("heads=heads", "heads=False")


@dataclass
class Inst:
    """One block instance (or the top-level model) with its concrete code records."""

    group: tuple  # which class family it belongs to: ("unit", name) / ("repeat", span) / ("top",)
    base: str  # the class name it asks for
    doc_head: str
    spec_params: list  # [(spec name, python name, default value or NOTHING)]
    env: dict  # spec name -> value (the unit's arguments; the enclosing unit's for a copy)
    derived: dict  # python name -> value (what the class needs from its input shapes)
    exprs: list  # the spec expressions of the body (ast.Expr), candidates for constants
    mods: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    body: list = field(default_factory=list)
    args: list = field(default_factory=list)  # input value ids
    outputs: list = field(default_factory=list)
    layers: list = field(default_factory=list)  # (rel, attr, params) for parameter names
    children: list = field(default_factory=list)  # (rel, attr path, Inst)
    shapes_in: str = ""
    shapes_out: str = ""
    in_shape: tuple = ()  # the first input's per-sample shape (NNC's order), for symbolic shape comments
    cls: str = ""  # the class it ends in
    values: dict = field(default_factory=dict)  # that class's constructor arguments -> value
    counts: dict = field(default_factory=dict)  # statement key -> how many it has so far
    flag: bool = False  # its forward takes the heads flag (computes an aux head or calls one that does)
    input_name: str | None = None  # the unit's first input (`in x`) where its body never rebinds it
    locals: list = field(default_factory=list)  # [(spec name, python name, ast.Expr)]: the body's constants
    scope: dict | None = None  # spec name -> value: the arguments and the body's constants (`value_in`)


NOTHING = object()
FITS = 120 - 8  # a statement of a method that fits on its line


class NoMerge(Exception):
    """The instances cannot be one class."""


# --- expressions ----------------------------------------------------------------------------

_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "//": 6, "%": 6}  # fmt: skip


@dataclass(frozen=True)
class Choice:
    """The value of a name a unit's body binds under an `if` (`pad = 1`, then `if stride == 2
    { pad = 0 }`): `then` where `cond` holds, else `orelse` (`builder._body_constants`); as Python
    a conditional expression (`0 if stride == 2 else 1`), which the spec has no syntax for."""

    cond: Any
    then: Any
    orelse: Any


def py_expr(e, names: dict[str, str], prec: int = 0) -> str | None:
    """The spec expression `e` as Python over the constructor's names; None where the two
    languages differ or a name is not an argument. Indexing (`cfg[i]`, negative from the end in
    both), the first input's channel count (`x.shape[0]`: the names' `x.shape[0]`, `in_channels`)
    and the built-in functions, which are Python's (`floor` and `ceil` are `math`'s, `round(v, n)`
    a float) are Python's too."""
    if isinstance(e, Choice):
        parts = [py_expr(e.then, names, 1), py_expr(e.cond, names, 1), py_expr(e.orelse, names)]
        if any(p is None for p in parts):
            return None
        text = f"{parts[0]} if {parts[1]} else {parts[2]}"
        return f"({text})" if prec > 0 else text
    if isinstance(e, ast.Num):
        return repr(e.value)
    if isinstance(e, ast.Bool):
        return repr(e.value)
    if isinstance(e, ast.Str):
        return literal(e.value)
    if isinstance(e, ast.Name):
        return names.get(e.id)
    if isinstance(e, ast.Unary):
        p = 3 if e.op == "not" else 7
        inner = py_expr(e.operand, names, p)
        if inner is None:
            return None
        text = f"not {inner}" if e.op == "not" else f"{e.op}{inner}"
        return f"({text})" if p < prec else text
    if isinstance(e, ast.Binary) and e.op in _PREC:
        p = _PREC[e.op]
        left = py_expr(e.left, names, p)
        right = py_expr(e.right, names, p + 1)
        if left is None or right is None:
            return None
        text = f"{left} {e.op} {right}"
        return f"({text})" if p < prec else text
    if isinstance(e, ast.Index):
        key = shape_key(e)
        if key is not None:
            return names.get(key)
        value, index = py_expr(e.value, names, _ATOM), py_expr(e.index, names)
        return None if value is None or index is None else f"{value}[{index}]"
    if builtin_call(e):
        args = [py_expr(a, names) for a in e.args]
        if any(a is None for a in args):
            return None
        if e.callee in ("floor", "ceil"):
            return f"math.{e.callee}({args[0]})"
        if e.callee == "round" and len(args) == 2:
            return f"float(round({args[0]}, {args[1]}))"  # the spec's is a float for an int too
        return f"{e.callee}({', '.join(args)})"
    return None


_ATOM = 9  # indexing, calls: tighter than any operator
MATH = "math"  # a need (`Candidate.needs`) that is no argument: the generated module imports math


def builtin_call(e) -> bool:
    return isinstance(e, ast.Call) and e.label is None and not e.bare and not e.kwargs and e.callee in BUILTINS


def shape_key(e) -> str | None:
    """`x.shape[0]` (a tensor's size on one axis: here its channel count) as the key `py_expr` looks
    it up by; None for anything else."""
    if (
        isinstance(e, ast.Index)
        and isinstance(e.value, ast.Attr)
        and e.value.name == "shape"
        and isinstance(e.value.value, ast.Name)
        and isinstance(e.index, ast.Num)
        and isinstance(e.index.value, int)
        and not isinstance(e.index.value, bool)
        and e.index.value >= 0
    ):
        return f"{e.value.value.id}.shape[{e.index.value}]"
    return None


def spec_value(e, env: dict):
    def lookup(name):
        if name.id not in env:
            raise KeyError(name.id)
        return env[name.id]

    try:
        return eval_const(e, lookup)
    except Exception:  # noqa: BLE001 - any failure: not a candidate here
        return NOTHING


def value_in(e, inst: Inst):
    """The value of the spec expression `e` in the instance `inst`: its arguments, the constants
    its body binds (`hidden = round(x.shape[0] * t)`) and its first input's shape; NOTHING where
    `e` is no constant of those."""
    if isinstance(e, Choice):
        cond = value_in(e.cond, inst)
        return value_in(e.then if cond else e.orelse, inst) if isinstance(cond, bool) else NOTHING
    scope = scope_of(inst)

    def lookup(name):
        if name.id not in scope:
            raise KeyError(name.id)
        return scope[name.id]

    def shape(attr):
        if inst.input_name is None or not isinstance(attr.value, ast.Name) or attr.value.id != inst.input_name:
            raise KeyError("shape")
        return inst.in_shape

    try:
        return eval_const(e, lookup, shape)
    except Exception:  # noqa: BLE001 - any failure: not a candidate here
        return NOTHING


def scope_of(inst: Inst) -> dict:
    """The instance's arguments and, in order, the constants its body binds."""
    if inst.scope is None:
        inst.scope = dict(inst.env)
        for spec, _, e in inst.locals:
            inst.scope[spec] = value_in(e, inst)
    return inst.scope


def _literal_expr(e) -> bool:
    return isinstance(e, (ast.Num, ast.Bool, ast.Str, ast.ShapeLit)) or (
        isinstance(e, ast.Unary) and _literal_expr(e.operand)
    )


literal_expr = _literal_expr


def _same(value, want) -> bool:
    """`value` (a candidate's) can stand for the constant `want` in generated code."""
    if value is NOTHING:
        return False
    if isinstance(want, bool) or isinstance(value, bool):
        return isinstance(want, bool) and isinstance(value, bool) and want == value
    if isinstance(want, int):
        return isinstance(value, int) and value == want
    if isinstance(want, float):
        return isinstance(value, (int, float)) and value == want
    if isinstance(want, str):
        return isinstance(value, str) and value == want
    if isinstance(want, Axes) and isinstance(value, int) and not isinstance(value, bool):
        return len(set(want)) == 1 and want[0] == value  # (`stride=2` for a stride of 2x2)
    if isinstance(want, tuple):  # a shape argument's value (a size's)
        return (
            isinstance(value, (tuple, list))
            and len(value) == len(want)
            and all(_same(v, w) and type(v) is type(w) for v, w in zip(value, want, strict=True))
        )
    return False


@dataclass
class Candidate:
    text: str
    value: Any  # inst -> value
    needs: frozenset  # the constructor arguments it uses (python names)


class Context:
    """What one class can use: the constructor's names and the candidates for its constants.

    Names: the unit's arguments, the first input's channel count (`x.shape[0]`, the derived
    `in_channels`) and the constants the unit's body binds (`hidden = round(x.shape[0] * t)`),
    each a local variable of the constructor where the class uses it (`prefix` "self.": the
    forward's, stored by the constructor). The forward reads the first input's other sizes from
    the tensor itself (`sizes`, by NNC axis: `x.shape[2]`, `x.shape[1]` in Keras's order, for the
    spec's `x.shape[1]`), which no constructor argument gives."""

    def __init__(
        self, insts: list[Inst], prefix: str = "", sizes: dict[int, str] | None = None, avoid: frozenset = frozenset()
    ):
        first = insts[0]
        self.insts = insts
        self.prefix = prefix
        self.py = {spec: py for spec, py, *_ in first.spec_params}  # spec name -> python name (what `used` records)
        if first.input_name is not None and "in_channels" in first.derived:
            self.py[f"{first.input_name}.shape[0]"] = "in_channels"
        # A stored argument named as a module or a method of the class (torch's `half`) is stored as `half_`.
        own = [py for _, py, *_ in first.spec_params] + list(first.derived) + [py for _, py, _ in first.locals]
        names = Namer(avoid | set(own))
        self.attr = {py: names.take(py + "_") for py in own if py in avoid}
        self.names = {spec: self.ref(py) for spec, py in self.py.items()}
        self.local_needs: dict[str, frozenset] = {}  # a local's python name -> what its expression needs
        self.locals: list[tuple[str, str]] = []  # (python name, its expression as Python), in order
        for spec, py, e in first.locals:
            text = py_expr(e, self.names)
            if text is None or spec in self.py or any(value_in(e, inst) is NOTHING for inst in insts):
                continue
            self.local_needs[py] = self.needs_of(e)
            self.locals.append((py, text))
            self.py[spec] = py
            self.names[spec] = self.ref(py)
        # (after the locals: the constructor computes those, and has no tensor to read sizes from)
        self.sizes = sizes or {}
        self.taken: set[str] = set()  # the sizes the code being merged reads (`merge_fragment`)
        for axis, text in self.sizes.items():
            self.names[f"{first.input_name}.shape[{axis}]"] = text
        self.used: set[str] = set()

    def needs_of(self, e) -> frozenset:
        """The python names (arguments, locals) and imports (`MATH`) the expression `e` uses."""
        needs = {self.py[n] for n in _names(e) if n in self.py}
        return frozenset(needs | ({MATH} if _uses_math(e) else set()))

    def expr_candidate(self, e) -> Candidate | None:
        text = py_expr(e, self.names)
        if text is None or _literal_expr(e):
            return None
        return Candidate(text, lambda inst, e=e: value_in(e, inst), self.needs_of(e))

    def ref(self, py: str) -> str:
        """How the code reads the python name `py`: a local variable, or an attribute it is stored in."""
        return self.prefix + self.attr.get(py, py) if self.prefix else py

    def named(self) -> list[Candidate]:
        """The constructor's names: the unit's arguments, the input's sizes, the body's locals."""
        first = self.insts[0]
        cands = []
        for spec, py, *_ in first.spec_params:
            cands.append(Candidate(self.names[spec], lambda inst, s=spec: inst.env.get(s, NOTHING), frozenset({py})))
        for py in first.derived:
            text, needs = self.ref(py), frozenset({py})
            if py == "in_features" and self.sizes:  # (the forward reads it from the tensor: no argument)
                text, needs = f"math.prod({self.sizes[1].split('.shape')[0]}.shape[1:])", frozenset({MATH})
            cands.append(Candidate(text, lambda inst, p=py: inst.derived.get(p, NOTHING), needs))
        for spec, py, _ in reversed(first.locals):  # (the last first: `expanded`, not the `v` it rounds)
            if py in self.local_needs:
                cands.append(Candidate(self.ref(py), lambda inst, s=spec: scope_of(inst)[s], frozenset({py})))
        for axis, text in self.sizes.items():
            cands.append(Candidate(text, lambda inst, a=axis: inst.in_shape[a], frozenset()))
        return cands

    def generic(self, own: list) -> list[Candidate]:
        named = self.named()
        cands = [c for c in (self.expr_candidate(e) for e in own) if c] + named
        cands += [c for c in (self.expr_candidate(e) for e in self.insts[0].exprs) if c]
        for c in named:
            if not c.text.replace("self.", "", 1).isidentifier():
                continue
            if all(isinstance(c.value(inst), (list, tuple)) and c.value(inst) for inst in self.insts):
                # a list's ends: what a repeat over it gives last (`widths[-1]` channels), or first
                for j in (-1, 0):
                    cands.append(Candidate(f"{c.text}[{j}]", lambda inst, c=c, j=j: _item(c.value(inst), j), c.needs))
            else:
                for k in range(2, 9):
                    cands.append(Candidate(f"{k} * {c.text}", lambda inst, c=c, k=k: _times(k, c.value(inst)), c.needs))
        return cands

    def closure(self, used: set) -> set:
        """`used` with what the locals in it need, transitively."""
        out = set(used)
        for py, _ in reversed(self.locals):
            if py in out:
                out |= self.local_needs[py]
        return out

    def solve(self, wants: list, own: list, insts: list[Inst] | None = None) -> tuple[str, frozenset] | None:
        """An expression giving `wants[i]` in instance `insts[i]`: a candidate (`generic`,
        `compound`), else one where one of the unit's conditions holds and another where it does
        not (`in_channels if stride == 2 else half`)."""
        insts = insts or self.insts
        if all(_same(w, wants[0]) and type(w) is type(wants[0]) for w in wants):
            return None  # a constant: the caller keeps its text
        found = self._find(wants, own, insts) or self._conditional(wants, own, insts)
        if found is None:
            raise NoMerge(f"no expression gives {wants}")
        self.used |= found[1]
        return found

    def _find(self, wants: list, own: list, insts: list[Inst]) -> tuple[str, frozenset] | None:
        if all(_same(w, wants[0]) and type(w) is type(wants[0]) for w in wants):
            return _constant(wants[0]), frozenset()
        cands = self.generic(own)
        sizes = set(self.sizes.values())
        for j, c in enumerate(cands):
            if all(_same(c.value(inst), w) for inst, w in zip(insts, wants, strict=True)):
                if c.text in self.taken:  # (a size the code already reads: the next axis of that size, in order)
                    c = next((d for d in cands[j + 1 :] if d.text in sizes - self.taken and all(
                        _same(d.value(inst), w) for inst, w in zip(insts, wants, strict=True))), c)  # fmt: skip
                if c.text in sizes:
                    self.taken.add(c.text)
                return c.text, c.needs
        return self.compound(wants, insts)

    def _conditional(self, wants: list, own: list, insts: list[Inst]) -> tuple[str, frozenset] | None:
        """`a if cond else b`: `cond` the first of the unit's conditions (its `if`s') that holds in
        some of the instances only, `a` what gives the wants there and `b` elsewhere."""
        for cond in self.conditions():
            holds = [value_in(cond, inst) for inst in insts]
            text = py_expr(cond, self.names, 1)
            if text is None or not all(isinstance(h, bool) for h in holds) or len(set(holds)) != 2:
                continue
            parts = []
            for side in (True, False):
                sub = [(i, w) for i, w, h in zip(insts, wants, holds, strict=True) if h is side]
                parts.append(self._find([w for _, w in sub], own, [i for i, _ in sub]))
            if None in parts:
                continue
            (a, na), (b, nb) = parts
            if " if " in a or " if " in b:
                continue  # (one condition at a time)
            return f"{a} if {text} else {b}", na | nb | self.needs_of(cond)
        return None

    def conditions(self) -> list:
        """The spec's conditions around the statements of the unit (its `if`s), in the body's order."""
        out: dict = {}
        for inst in self.insts:
            for item in [*inst.mods, *inst.inits, *inst.body]:
                for cond, _ in item.ctx:
                    out.setdefault(cond.span, cond)
        return list(out.values())

    def compound(self, wants: list, insts: list[Inst]) -> tuple[str, frozenset] | None:
        """`b * c` or `a + b * c` of the integer arguments and sizes, the first that gives every
        want (a DenseNet block's transition takes `in_channels + layers * growth` channels), where
        the wants take three values at least (through two, some such expression always fits)."""
        if not all(isinstance(w, int) and not isinstance(w, bool) for w in wants) or len(set(wants)) < 3:
            return None
        ints = []
        for c in self.named():
            values = [c.value(inst) for inst in insts]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                ints.append((c, values))
        for (b, vb), (c, vc) in ((x, y) for j, x in enumerate(ints) for y in ints[j + 1 :]):
            product = [x * y for x, y in zip(vb, vc, strict=True)]
            if product == wants:
                return f"{b.text} * {c.text}", b.needs | c.needs
            for a, va in ints:
                if a is not b and a is not c and [x + y for x, y in zip(va, product, strict=True)] == wants:
                    return f"{a.text} + {b.text} * {c.text}", a.needs | b.needs | c.needs
        return None


def _constant(value) -> str:
    """A constant as the code writes it (a size as its one int where its axes agree)."""
    return unsized(size_marker(value)) if isinstance(value, Axes) else literal(value)


def _item(v, j: int):
    return v[j] if isinstance(v, (list, tuple)) and v else NOTHING


def _times(k, v):
    return k * v if isinstance(v, int) and not isinstance(v, bool) else NOTHING


def _names(e) -> set[str]:
    """The names `py_expr` looks up for `e` (`x.shape[0]` as one)."""
    if isinstance(e, Choice):
        return _names(e.cond) | _names(e.then) | _names(e.orelse)
    key = shape_key(e)
    if key is not None:
        return {key}
    if isinstance(e, ast.Name):
        return {e.id}
    out = set()
    for f in ("left", "right", "operand", "value", "index"):
        if isinstance(getattr(e, f, None), (ast.Name, ast.Unary, ast.Binary, ast.Index, ast.Attr, ast.Call)):
            out |= _names(getattr(e, f))
    if builtin_call(e):
        for a in e.args:
            out |= _names(a)
    return out


def _uses_math(e) -> bool:
    if isinstance(e, Choice):
        return any(_uses_math(x) for x in (e.cond, e.then, e.orelse))
    if builtin_call(e) and e.callee in ("floor", "ceil"):
        return True
    subs = [getattr(e, f, None) for f in ("left", "right", "operand", "value", "index")]
    subs += list(e.args) if builtin_call(e) else []
    return any(_uses_math(x) for x in subs if isinstance(x, (ast.Unary, ast.Binary, ast.Index, ast.Call)))


# --- text with constants ----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<prov>\x04[^\x05]+\x05)|(?P<size>\x0e[^\x0f]*\x0f)|(?P<str>[rbfu]?"(?:[^"\\]|\\.)*"|[rbfu]?'(?:[^'\\]|\\.)*')"""
    r"""|(?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)|(?P<sp>\s+)|(?P<op>.)""",
    re.S,
)
OPTION = re.compile("\x02([dn])(\\w+|@)=(.*?)\x03", re.S)


# Provenance: `\x04k\x05` before a constant says it is the value of the layer call's k-th argument
# (`own_exprs`), `\x04k:a:b\x05` that it is a * that value + b, `\x04k:not\x05` its negation, as the
# builder found by emitting the layer again with that value changed (`follows`).
PROV = re.compile("\x04[^\x05]+\x05")


def option_marker(k: str, v: str, default: str) -> str:
    return f"\x02{'d' if unsized(v) == unsized(default) else 'n'}{k}={v}\x03"


# A per-axis size (`expr.Size`) in the code to merge: `\x0e(3, 3)\x0f`, one constant (a tuple)
# that the code writes as `3` (`unsized`), `(1, 7)` as it is.
SIZE = re.compile("\x0e([^\x0f]*)\x0f")


class Axes(tuple):
    """A size's value in the code to merge (`expr.Size`): a layer reads one int for every axis
    (`3`) as that int on each (`(3, 3)`), so either stands for it."""


def size_marker(value: tuple) -> str:
    return f"\x0e{literal(tuple(value))}\x0f"


def unsized(text: str) -> str:
    """`text` with its sizes as the code writes them: one int where every axis agrees."""

    def short(m) -> str:
        value = pyast.literal_eval(m.group(1))
        return literal(value[0]) if len(set(value)) == 1 else m.group(1)

    return SIZE.sub(short, text)


def raw_marker(text: str, default: bool) -> str:
    """A piece of code (an `expr.Wrapped`'s) written as it is where an instance needs it."""
    return f"\x02{'d' if default else 'n'}@={text}\x03"


def _written(name: str, value: str) -> str:
    """An option as code: `, name=value`, or a raw marker's text."""
    return value if name == "@" else f", {name}={value}"


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[tuple[str, str, int, int, str | None], ...]:
    """The tokens of `text`, each with the argument its provenance mark names (or None). Cached: a
    merge tokenizes the same fragments of every instance many times over."""
    out = []
    mark = None
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "sp":
            continue
        if kind == "prov":
            mark = m.group()[1:-1]
            continue
        out.append((kind, m.group(), m.start(), m.end(), mark))
        mark = None
    return tuple(out)


def follows(before: str, afters: list[str], value, changed: list, k: int) -> dict[int, str]:
    """The constants of `before` that follow the value of argument `k` of the layer's call, as
    provenance marks ({token index: mark}): `afters` is the same code emitted with that value
    `changed` (none where the code differs otherwise). A constant is the value where it is the
    value in every text; `a * value + b` where that function gives it in every text, with `a` a
    small nonzero integer and `b` a small integer (or any float, for a float); `not value` where
    a bool constant is the negation in every text. A shape's value (a tuple) is a size the texts
    write (`expr.Size`) where it is the value in every text, and where its axes agree, each of
    them is a number that follows it as its axes' one value does."""
    a = _tokens(before)
    bs = [_tokens(t) for t in afters]
    if any(len(b) != len(a) for b in bs):
        return {}
    sizes = [tuple(v) if isinstance(v, (tuple, list)) else v for v in [value, *changed]]
    # (a shape's constant that is one of its axes: where every axis agrees, the size of each)
    values = [v[0] if isinstance(v, tuple) and v and len(set(v)) == 1 else v for v in sizes]
    out = {}
    for j, tok in enumerate(a):
        consts = [_const(tok), *(_const(b[j]) for b in bs)]
        if any(c is NOTHING for c in consts):
            continue
        if any(isinstance(c, tuple) for c in consts):  # a size (`expr.Size`): the shape itself
            if all(isinstance(c, tuple) and _same(c, v) for c, v in zip(consts, sizes, strict=True)):
                out[j] = str(k)
            continue
        if all(isinstance(c, bool) for c in consts) and all(isinstance(v, bool) for v in values):
            if consts == values:
                out[j] = str(k)
            elif consts == [not v for v in values]:
                out[j] = f"{k}:not"
            continue
        if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in [*consts, *values]):
            continue
        if all(_same(c, v) and type(c) is type(v) for c, v in zip(consts, values, strict=True)):
            out[j] = str(k)
            continue
        fit = _affine(values, consts)
        if fit is not None:
            out[j] = f"{k}:{fit[0]!r}:{fit[1]!r}"
    return out


def _affine(xs: list, ys: list) -> tuple | None:
    """(a, b) with y = a * x + b at every point: a a small nonzero integer, b a small integer where
    the ys are integers (a float the code writes to 12 digits, where they are floats); not (1, 0)."""
    if len(xs) < 3 or xs[1] == xs[0]:
        return None
    a = round((ys[1] - ys[0]) / (xs[1] - xs[0]), 9)
    if a != int(a) or not 0 < abs(a) <= 8:
        return None
    a = int(a)
    b = ys[0] - a * xs[0]
    if all(isinstance(y, int) for y in ys):
        if not (isinstance(b, int) or float(b).is_integer()) or abs(b) > 8:
            return None
        b = int(b)
    else:
        b = round(b, 9)
        b = int(b) if float(b).is_integer() else b
    if (a, b) == (1, 0) or not all(_close(a * x + b, y) for x, y in zip(xs, ys, strict=True)):
        return None
    return a, b


def _close(value, want) -> bool:
    """`value` (a function's of an argument) gives the constant `want`: exactly, or for a float to the
    12 digits the emitters write."""
    if isinstance(want, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value, 12) == round(want, 12)
    return _same(value, want)


def with_marks(text: str, marks: dict) -> str:
    """`text` with a provenance mark before each token `j` of `marks` ({token index: mark})."""
    toks = _tokens(text)
    for j in sorted(marks, reverse=True):
        start = toks[j][2]
        text = text[:start] + f"\x04{marks[j]}\x05" + text[start:]
    return text


def _const(tok) -> Any:
    return _token_value(tok[0], tok[1])


@functools.lru_cache(maxsize=8192)
def _token_value(kind: str, s: str) -> Any:
    """The value a token writes (immutable: a number, a string, a bool or `Axes`), or NOTHING."""
    if kind == "size":
        return Axes(pyast.literal_eval(s[1:-1]))
    if kind == "num":
        return pyast.literal_eval(s)
    if kind == "str" and s[0] in "\"'":
        return pyast.literal_eval(s)
    if kind == "name" and s in ("True", "False"):
        return s == "True"
    return NOTHING


def merge_fragment(texts: list[str], ctx: Context, own: list, insts: list[Inst]) -> tuple[str, frozenset]:
    """One text for the instances' `texts`, equal but for constants."""
    toks = [_tokens(t) for t in texts]
    if any(len(t) != len(toks[0]) for t in toks):
        raise NoMerge("different code")
    ctx.taken = set()
    out = texts[0]
    needs: frozenset = frozenset()
    edits = []
    for j in range(len(toks[0])):
        column = [t[j] for t in toks]
        same = all(c[1] == column[0][1] for c in column)
        wants = [_const(c) for c in column]
        found = _marked(column, wants, ctx, own, insts)
        if found is None:
            if same:
                continue
            if any(w is NOTHING for w in wants):
                raise NoMerge("different code")
            found = ctx.solve(wants, own, insts)
            if found is None:
                raise NoMerge("different code")
        text, n = found
        needs |= n
        prev = toks[0][j - 1][1] if j else ""
        nxt = toks[0][j + 1][1] if j + 1 < len(toks[0]) else ""
        atomic = (
            re.fullmatch(r"[A-Za-z_][\w.]*", text) is not None
            or (prev in ("(", ",", "=", "[") and nxt in (")", ",", "]"))
            or len(toks[0]) == 1  # the whole text: an option's value (`groups=hidden * 2`)
        )
        edits.append((column[0][2], column[0][3], text if atomic else f"({text})"))
    for start, end, text in reversed(edits):
        out = out[:start] + text + out[end:]
    out = unsized(PROV.sub("", out))
    return (slice_spacing(out) if edits else out), needs


_CLOSE = {"(": ")", "[": "]", "{": "}"}


def slice_spacing(text: str) -> str:
    """`text` with its slices spaced as ruff formats them: a slice with an operand that is more
    than a name or a number (`x[:, self.half :]`, an expression a merge wrote for a number) has
    its colons spaced as operators, on the sides that have an operand."""
    toks = _tokens(text)
    gaps: dict = {}  # (end of a token, start of the next) -> the space between them

    def simple(seg: list) -> bool:
        kinds = [t[0] for t in seg]
        return kinds in ([], ["name"], ["num"]) or (kinds == ["op", "num"] and seg[0][1] == "-")

    def items(i: int, closer: str) -> int:
        """The items of the brackets opened before `i`; the index after their closer."""
        start, colons = i, []
        while i < len(toks):
            s = toks[i][1]
            if s in _CLOSE:
                i = items(i + 1, _CLOSE[s])
                continue
            if s in (closer, ","):
                if colons and closer == "]":
                    bounds = [start - 1, *colons, i]
                    if not all(simple(toks[a + 1 : b]) for a, b in zip(bounds, bounds[1:], strict=False)):
                        for c in colons:
                            if c - 1 >= start and toks[c - 1][1] != ":":
                                gaps[(toks[c - 1][3], toks[c][2])] = " "
                            if c + 1 < i and toks[c + 1][1] != ":":
                                gaps[(toks[c][3], toks[c + 1][2])] = " "
                start, colons = i + 1, []
                i += 1
                if s == closer:
                    return i
                continue
            if s == ":":
                colons.append(i)
            i += 1
        return i

    items(0, "")
    for (a, b), space in sorted(gaps.items(), reverse=True):
        text = text[:a] + space + text[b:]
    return text


def _marked(column: list, wants: list, ctx: Context, own: list, insts: list) -> tuple[str, frozenset] | None:
    """The spec's expression for a constant that every instance marks as the same function of the
    same argument of the layer's call (the argument itself, `1 - decay`, `not bias`), where that
    expression gives the constant in every instance."""
    marks = {c[4] for c in column}
    if len(marks) != 1:
        return None
    (mark,) = marks
    if mark is None or any(w is NOTHING for w in wants):
        return None
    k, *fn = mark.split(":")
    if int(k) >= len(own):
        return None
    c = ctx.expr_candidate(own[int(k)])
    if c is None:
        return None
    if fn:
        c = _function(c, fn, own[int(k)], ctx)
    if c is None or not all(_close(c.value(inst), w) for inst, w in zip(insts, wants, strict=True)):
        return None
    ctx.used |= c.needs
    return c.text, c.needs


def _function(c: Candidate, fn: list, e, ctx: Context) -> Candidate | None:
    """The candidate `c` (the spec's expression `e`) under a provenance mark's function."""
    if fn == ["not"]:
        inner = py_expr(e, ctx.names, 4)
        return Candidate(
            f"not {inner}", lambda inst: not v if isinstance(v := c.value(inst), bool) else NOTHING, c.needs
        )
    a, b = (pyast.literal_eval(x) for x in fn)
    inner = py_expr(e, ctx.names, 7)
    if a == 1:
        text = f"{inner} + {b!r}" if b > 0 else f"{inner} - {-b!r}"
    elif a == -1:
        text = f"{b!r} - {inner}" if b else f"-{inner}"
    else:
        text = f"{a} * {inner}" + (f" + {b!r}" if b > 0 else f" - {-b!r}" if b < 0 else "")

    def value(inst):
        v = c.value(inst)
        return a * v + b if isinstance(v, (int, float)) and not isinstance(v, bool) else NOTHING

    return Candidate(text, value, c.needs)


def merge_text(texts: list[str], ctx: Context, own: list, insts: list[Inst]) -> tuple[str, frozenset]:
    """`merge_fragment` over texts with option markers: an option at its default in every
    instance is left out, one set anywhere is written out with each instance's value."""
    parts = [_parts(t) for t in texts]
    shape = [tuple(p if isinstance(p, str) else ("opt", p[1]) for p in ps) for ps in parts]
    if any(
        len(s) != len(shape[0])
        or any(
            isinstance(a, tuple) != isinstance(b, tuple) or (isinstance(a, tuple) and a != b)
            for a, b in zip(s, shape[0], strict=False)
        )
        for s in shape
    ):  # noqa: E501
        raise NoMerge("different options")
    out = []
    needs: frozenset = frozenset()
    for j, first in enumerate(parts[0]):
        if isinstance(first, str):
            text, n = merge_fragment([ps[j] for ps in parts], ctx, own, insts)
            out.append(text)
            needs |= n
            continue
        column = [ps[j] for ps in parts]
        if all(c[0] == "d" for c in column):
            continue
        value, n = merge_fragment([c[2] for c in column], ctx, own, insts)
        out.append(_written(first[1], value))
        needs |= n
    return "".join(out), needs


def _parts(text: str) -> list:
    parts: list = []
    pos = 0
    for m in OPTION.finditer(text):
        parts.append(text[pos : m.start()])
        parts.append((m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    parts.append(text[pos:])
    return parts


def concrete(text: str) -> str:
    """A text with option markers as the emitter writes it for one layer."""
    options = OPTION.sub(lambda m: "" if m.group(1) == "d" else _written(m.group(2), m.group(3)), text)
    return unsized(PROV.sub("", options))


# --- aligning statements ----------------------------------------------------------------------


def align(seqs: list[list[tuple]]) -> list[tuple]:
    """One order of the keys of every sequence that keeps each sequence's order."""
    merged: list = []
    for seq in seqs:
        merged = _merge2(merged, seq)
    return merged


def _merge2(a: list, b: list) -> list:
    if not a:
        return list(b)
    n, m = len(a), len(b)
    lcs = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            lcs[i][j] = lcs[i + 1][j + 1] + 1 if a[i] == b[j] else max(lcs[i + 1][j], lcs[i][j + 1])
    out, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            out.append(a[i])
            i, j = i + 1, j + 1
        elif lcs[i + 1][j] >= lcs[i][j + 1]:
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    out += a[i:] + b[j:]
    if len(set(out)) != len(out):
        raise NoMerge("statements in different orders")
    return out


_NEGATED = {"==": "!=", "!=": "=="}


def condition(ctx_items: tuple, cx: Context, present: list[bool]) -> str:
    """The spec's condition of a statement, as Python, checked against where it is present."""
    if not ctx_items:
        raise NoMerge("a statement only some instances have, outside any if")
    texts = []
    for cond, polarity in ctx_items:
        flipped = _NEGATED.get(cond.op) if not polarity and isinstance(cond, ast.Binary) else None
        if flipped:  # `kind != "HS"` for the else of `kind == "HS"`
            text = py_expr(ast.Binary(flipped, cond.left, cond.right, cond.span), cx.names, 2)
        else:
            text = py_expr(cond, cx.names, 3 if not polarity else 2)
            text = text if polarity or text is None else f"not {text}"
        if text is None:
            raise NoMerge("a condition the constructor cannot compute")
        texts.append(text)
    for inst, want in zip(cx.insts, present, strict=True):
        got = all(value_in(c, inst) is p for c, p in ctx_items)
        if got != want:
            raise NoMerge("the spec's condition does not explain which instances have a statement")
    for c, _ in ctx_items:
        cx.used |= cx.needs_of(c)
    return " and ".join(texts)


def condition_or_flag(item, cx: Context, present: list[bool]) -> str:
    """`condition` of a statement; where the spec's conditions do not explain it, the first of
    the layer call's bool arguments and then of the unit's bool arguments that is true exactly
    where the statement is (a bias's initializer, present where `with_bias` is), checked against
    every instance."""
    try:
        return condition(item.ctx, cx, present)
    except NoMerge:
        pass
    cands = [c for c in (cx.expr_candidate(e) for e in own_exprs(item.spec)) if c]
    first = cx.insts[0]
    cands += [Candidate(py, lambda inst, s=spec: inst.env.get(s, NOTHING), frozenset({py})) for spec, py, *_ in
              first.spec_params]  # fmt: skip
    for c in cands:
        values = [c.value(inst) for inst in cx.insts]
        if not all(isinstance(v, bool) for v in values):
            continue
        for negated in (False, True):
            if all((v is not negated) == p for v, p in zip(values, present, strict=True)):
                cx.used |= c.needs
                if not negated:
                    return c.text
                return f"not {c.text}" if c.text.isidentifier() else f"not ({c.text})"
    raise NoMerge("the spec's condition does not explain which instances have a statement")


# --- one class from a group of instances ----------------------------------------------------------


@dataclass
class ClassCode:
    params: list  # [(python name, annotation, default literal or None)]
    init: list  # [(depth, line)]
    body: list  # [(depth, line)]
    args: list
    returns: str
    symbolic: bool = False  # some shape comment is an expression of the class's sizes
    math: bool = False  # its code calls math's functions (`math.floor`)


class KidClass:
    """What a parent needs of a child's class: its name and constructor parameters."""

    def __init__(self, name: str, params: list, spec_of: dict, spec_order: list):
        self.name = name
        self.spec_order = spec_order  # the unit's parameters (spec names) in declaration order
        self.params = params  # [(python name, annotation, default literal or None)]
        self.spec_of = spec_of  # python name -> spec name (None for a derived one)


def _groups(keys: list, present: dict) -> list:
    """Consecutive keys present in the same instances: [(presence, [keys])]."""
    out: list = []
    for k in keys:
        p = present[k]
        if out and out[-1][0] == p:
            out[-1][1].append(k)
        else:
            out.append((p, [k]))
    return out


def child_args(kid_cls: KidClass, kids: list, call, cx: Context, insts: list, literal) -> str:
    """The constructor arguments of a child class in the parent: the spec's own call
    arguments (checked), the child's derived sizes from the parent's names."""
    given: dict = {}
    positional: list = []
    if isinstance(call, ast.Call):
        positional = list(call.args)
        given = {kw.name: kw.value for kw in call.kwargs}
    spec_names = kid_cls.spec_order
    pos_given = dict(zip(spec_names, positional, strict=False))
    out_pos, out_kw = [], []
    for py, _, default in kid_cls.params:
        spec = kid_cls.spec_of[py]
        wants = [k.values[py] for k in kids]
        expr = pos_given.get(spec, given.get(spec)) if spec is not None else None
        if spec is not None and expr is None and default is not None and all(literal(w) == default for w in wants):
            continue
        text = _solve_or_literal(wants, [expr] if expr is not None else [], cx, insts, literal)
        keyword = spec is not None and (spec in given or (spec not in pos_given and default is not None))
        if keyword or out_kw:
            out_kw.append(f"{py}={text}")
        else:
            out_pos.append(text)
    return out_pos + out_kw


def _solve_or_literal(wants, own, cx, insts, literal) -> str:
    if len(insts) == 1 or all(type(w) is type(wants[0]) and w == wants[0] for w in wants):
        for e in own:  # the spec's own expression, where it gives the value everywhere
            c = cx.expr_candidate(e)
            if c and all(_same(c.value(i), w) for i, w in zip(insts, wants, strict=True)):
                cx.used |= c.needs
                return c.text
        return literal(wants[0])
    found = cx.solve(wants, own, insts)
    if found is None:
        return literal(wants[0])
    return found[0]


def merge_class(insts: list, dialect, classes: dict, literal, attributes: frozenset, namer_cls) -> ClassCode:
    """One class for `insts` (raises NoMerge). `classes`: Inst.cls -> KidClass of the children."""
    cx = Context(insts)
    args = ["x"] if len(insts[0].args) == 1 else [f"x{k}" for k in range(len(insts[0].args))]
    # The forward's constants: stored arguments (`self.name`) and the input's sizes (`x.shape[2]`).
    taken = frozenset({m.attr for i in insts for m in i.mods} | set(attributes))
    fx = Context(insts, "self.", runtime_sizes(dialect, insts, args[0]) if args else {}, taken)

    # Constructor statements.
    mkeys = align([[m.key for m in i.mods] for i in insts])
    mby = [{m.key: m for m in i.mods} for i in insts]
    repeats = {m.attr: m for b in mby for m in b.values() if m.copies}
    for inst, b in zip(insts, mby, strict=True):
        for k in mkeys:  # a repeat of no copies in this instance: an empty list of them
            m = next((b2[k] for b2 in mby if k in b2), None)
            if k not in b and m is not None and m.copies and zero_copies(m, inst):
                b[k] = Mod(k, m.attr, kids=[], rels=[], copies=True, spec=m.spec, ctx=m.ctx)
    mpresent = {k: tuple(k in b for b in mby) for k in mkeys}
    # One attribute from two statements (a label in both branches of an `if`): two classes.
    attr_keys = {next(b[k] for b in mby if k in b).attr: k for k in mkeys}
    if len(attr_keys) != len(mkeys):
        raise NoMerge("one attribute for the modules of two statements")
    init: list = []
    for presence, ks in _groups(mkeys, mpresent):
        sub = [i for i, p in zip(insts, presence, strict=True) if p]
        pairs = [mod_line([b[k] for b in mby if k in b], sub, cx, dialect, classes, literal) for k in ks]
        lines = [f"self.{a} = {c}" for a, c in pairs]
        if all(presence):
            init += [(0, line) for line in lines]
            continue
        first = next(b[ks[0]] for b in mby if ks[0] in b)
        test = condition(first.ctx, cx, list(presence))
        ternary = f"self.{pairs[0][0]} = {pairs[0][1]} if {test} else None"
        if len(pairs) == 1 and len(ternary) <= FITS:  # one module: as ruff has it, a conditional expression
            init.append((0, ternary))
            continue
        init.append((0, f"if {test}:"))
        init += [(1, line) for line in lines]
        attrs = [next(b[k] for b in mby if k in b).attr for k in ks]
        init.append((0, "else:"))
        init.append((1, " = ".join(f"self.{a}" for a in attrs) + " = None"))

    # Initializers.
    ikeys = align([[x.key for x in i.inits] for i in insts])
    iby = [{x.key: x for x in i.inits} for i in insts]
    ipresent = {k: tuple(k in b for b in iby) for k in ikeys}
    for presence, ks in _groups(ikeys, ipresent):
        sub = [i for i, p in zip(insts, presence, strict=True) if p]
        lines = []
        for k in ks:
            items = [b[k] for b in iby if k in b]
            text, _ = merge_text([x.text for x in items], cx, own_exprs(items[0].spec), sub)
            lines.append(text)
        if all(presence):
            init += [(0, line) for line in lines]
            continue
        first = next(b[ks[0]] for b in iby if ks[0] in b)
        init.append((0, f"if {condition_or_flag(first, cx, list(presence))}:"))
        init += [(1, line) for line in lines]

    # Forward.
    if any(len(i.args) != len(args) or len(i.outputs) != len(insts[0].outputs) for i in insts):
        raise NoMerge("different inputs or outputs")
    if any(i.flag != insts[0].flag for i in insts):
        raise NoMerge("auxiliary heads in some instances only")
    notes = ShapeNotes(insts, dialect, cx.names)
    reserved = dialect.reserved | ({dialect.heads_flag} if insts[0].flag else set())
    body, returns = render_body(insts, fx, args, reserved, mpresent, notes, repeats)
    stored = sorted(fx.used - {MATH})
    if stored:
        init = [(0, f"{', '.join(fx.ref(p) for p in stored)} = {', '.join(stored)}")] + init
    used = cx.closure(cx.used | fx.used)
    init = [(0, f"{py} = {text}") for py, text in cx.locals if py in used] + init
    params = [p for p in _params(insts[0]) if p[0] in used]
    body = notes.resolve(body, {p[0] for p in params})
    return ClassCode(params, init, body, args, returns, notes.symbolic, MATH in used)


def _params(inst: Inst) -> list:
    out = [(py, "int", None) for py in inst.derived]
    for _, py, default, annotation in inst.spec_params:
        out.append((py, annotation, default))
    return out


def mod_line(items: list, sub: list, cx: Context, dialect, classes: dict, literal, top: bool = False) -> tuple:
    """(attribute, constructor code) of one aligned constructor statement."""
    first = next((m for m in items if m.kids or not m.copies), items[0])  # (not a repeat's no copies)
    if any(
        m.attr != first.attr or bool(m.kids or m.copies) != bool(first.kids or first.copies) or m.copies != first.copies
        for m in items
    ):
        raise NoMerge("different modules")
    if not first.kids:
        text, _ = merge_text([m.text for m in items], cx, own_exprs(first.spec), sub)
        return first.attr, text
    if not first.copies:
        names = {m.kids[0].cls for m in items}
        if len(names) != 1:
            raise NoMerge("children of different classes")
        kid = classes[first.kids[0].cls]
        call = first.spec
        a = child_args(kid, [m.kids[0] for m in items], call, cx, sub, literal)
        return first.attr, dialect.child(kid.name, first.rels[0], top, a)
    repeat, call = first.spec if first.spec else (None, None)
    names = {k.cls for m in items for k in m.kids}
    if len(names) != 1:
        if len(items) > 1:
            raise NoMerge("copies of different classes")
        parts = []
        for kid_inst, rel in zip(first.kids, first.rels, strict=True):
            kid = classes[kid_inst.cls]
            parts.append((kid.name, rel, child_args(kid, [kid_inst], call, cx, sub, literal)))
        return first.attr, dialect.copies_list(parts, top)
    kid = classes[next(iter(names))]
    counts = [len(m.kids) for m in items]
    used = set(cx.used)  # (what the loop needs, which copies one by one do not)
    count = _list_count(repeat, counts, cx, sub) or _solve_or_literal(
        counts, [repeat.count] if repeat is not None else [], cx, sub, literal
    )
    uses_k = False
    a = []
    flat_insts = [i for i, m in zip(sub, items, strict=True) for _ in m.kids]
    spec_args = _call_exprs(call, kid)
    for py, _, default in kid.params:
        wants = [k.values[py] for m in items for k in m.kids]
        expr = spec_args.get(py)
        if (
            kid.spec_of[py] is not None
            and expr is None
            and default is not None
            and all(literal(w) == default for w in wants)
        ):
            continue
        own = [expr] if expr is not None else []
        try:
            text = _solve_or_literal(wants, own, cx, flat_insts, literal)
        except NoMerge:
            try:
                text = _per_copy(items, sub, py, own, cx, literal, repeat)
            except NoMerge:
                if len(items) > 1:
                    raise
                a = None  # one instance: its copies one by one
                break
            uses_k = True
        named = spec_args.get(("kw", py)) or (expr is None and default is not None)
        keyword = kid.spec_of[py] is not None and named
        if keyword or any(_is_kw(x) for x in a):
            a.append(f"{py}={text}")
        else:
            a.append(text)
    text = dialect.copies_loop(kid.name, first.rels, top, a, count, uses_k) if a is not None else None
    if text is None:
        if len(items) > 1:
            raise NoMerge("copies the dialect cannot build in a loop")
        cx.used = used
        parts = [
            (kid.name, rel, child_args(kid, [k], call, cx, sub, literal))
            for k, rel in zip(first.kids, first.rels, strict=True)
        ]
        text = dialect.copies_list(parts, top)
    return first.attr, text


def _list_count(repeat, counts: list, cx: Context, sub: list) -> str | None:
    """`len(widths)`: the count of a repeat over a list (`repeat w in widths`), where it is that."""
    if repeat is None or repeat.var is None:
        return None
    text = py_expr(repeat.count, cx.names)
    lists = [value_in(repeat.count, inst) for inst in sub]
    if text is None or not all(
        isinstance(v, (tuple, list)) and len(v) == n for v, n in zip(lists, counts, strict=True)
    ):
        return None
    cx.used |= cx.needs_of(repeat.count)
    return f"len({text})"


def _copy_candidates(repeat, own: list, cx: Context) -> list:
    """A copy's argument of a repeat over a list (`repeat w in widths`, `repeat i, row in cfg`) in
    terms of the loop's `k`: [(text, needs, value(instance, k))]: the spec's expression of it with
    the item as `widths[k]` (and the index as `k`), the item itself, the previous copy's (`widths[k
    - 1]`, a copy's input channels), and small multiples of those."""
    if repeat is None or repeat.var is None:
        return []
    it = py_expr(repeat.count, cx.names, _ATOM)
    if it is None:
        return []
    base = cx.needs_of(repeat.count)

    def item(inst, k, back=0):
        seq = value_in(repeat.count, inst)
        ok = isinstance(seq, (tuple, list)) and 0 <= k - back < len(seq)
        return seq[k - back] if ok else NOTHING

    loop = {repeat.var: f"{it}[k]", **({repeat.index: "k"} if repeat.index else {})}
    names = {**cx.names, **loop}
    out = []
    for e in own:
        text = py_expr(e, names)
        if text is not None:

            def value(inst, k, e=e):
                env = {**scope_of(inst), repeat.var: item(inst, k)}
                return spec_value(e, {**env, repeat.index: k} if repeat.index else env)

            needs = {cx.py[n] for n in _names(e) if n in cx.py and n not in loop} | ({MATH} if _uses_math(e) else set())
            out.append((text, base | needs, value))
    for back, text in ((0, f"{it}[k]"), (1, f"{it}[k - 1]")):
        out.append((text, base, lambda inst, k, b=back: item(inst, k, b)))
        out += [(f"{m} * {text}", base, lambda inst, k, b=back, m=m: _times(m, item(inst, k, b))) for m in range(2, 9)]
    return out


def _copy_solve(wants: list, cands: list, cx: Context) -> str | None:
    """The first of `_copy_candidates` that gives every want: [(instance, k, value)]."""
    for text, needs, value in cands:
        if all(_same(value(inst, k), w) for inst, k, w in wants):
            cx.used |= needs
            return text
    return None


def _per_copy(items: list, sub: list, py: str, own: list, cx: Context, literal, repeat=None) -> str:
    """A child constructor argument that differs from copy to copy of a repeat, in terms of the
    loop's `k`: a value growing by the same step from copy to copy (a DenseNet block's
    `in_channels + growth * k`, a copy's index `k`), a function of a list's item (`widths[k]`,
    `_copy_candidates`), or one value for the first copy and another for the rest (`in_channels if
    k == 0 else 4 * maps`, `... else 8 * widths[k - 1]`), each part solved over the instances."""
    sub = [i for i, m in zip(sub, items, strict=True) if m.kids]  # (a repeat's no copies: no arguments)
    items = [m for m in items if m.kids]
    values = [[k.values[py] for k in m.kids] for m in items]
    copies = _copy_candidates(repeat, own, cx)
    wants = [(i, k, v) for i, vs in zip(sub, values, strict=True) for k, v in enumerate(vs)]
    found = _copy_solve(wants, copies, cx)
    if found is not None:
        return found
    if all(v == list(range(len(v))) and not any(isinstance(x, bool) for x in v) for v in values):
        return "k"  # a copy's index: `repeat i in n { ... }`
    # (a line through three copies at least: two copies are any two values)
    if max(len(v) for v in values) >= 3 and all(
        len(v) >= 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v) for v in values
    ):
        steps = [v[1] - v[0] for v in values]
        if all(v[j] == v[0] + j * d for v, d in zip(values, steps, strict=True) for j in range(len(v))):
            try:
                ta = _solve_or_literal([v[0] for v in values], [], cx, sub, literal)
                tb = _solve_or_literal(steps, [], cx, sub, literal)
            except NoMerge:
                pass
            else:
                if tb == "1":
                    return f"{ta} + k"
                step = tb if re.fullmatch(r"[\w.]+( \* [\w.]+)*", tb) else f"({tb})"
                return f"{ta} + {step} * k"
    w0 = [m.kids[0].values[py] for m in items]
    w1 = [k.values[py] for m in items for k in m.kids[1:]]
    i1 = [i for i, m in zip(sub, items, strict=True) for _ in m.kids[1:]]
    t0 = _solve_or_literal(w0, own, cx, sub, literal)
    rest = _copy_solve([x for x in wants if x[1] > 0], copies, cx) if w1 else t0
    t1 = rest if rest is not None else _solve_or_literal(w1, own, cx, i1, literal)
    t0, t1 = (f"({t})" if " if " in t else t for t in (t0, t1))
    return f"{t0} if k == 0 else {t1}"


def _call_exprs(call, kid: KidClass) -> dict:
    out: dict = {}
    if not isinstance(call, ast.Call):
        return out
    spec_to_py = {s: p for p, s in kid.spec_of.items() if s is not None}
    spec_order = kid.spec_order
    for s, e in zip(spec_order, call.args, strict=False):
        if s in spec_to_py:
            out[spec_to_py[s]] = e
    for kw in call.kwargs:
        if kw.name in spec_to_py:
            out[spec_to_py[kw.name]] = kw.value
            out[("kw", spec_to_py[kw.name])] = True
    return out


def own_exprs(call) -> list:
    """The expressions a spec call gives (its positional arguments, then its keywords' values)."""
    if not isinstance(call, ast.Call):
        return []
    return [*call.args, *(kw.value for kw in call.kwargs)]


def zero_copies(mod: Mod, inst: Inst) -> bool:
    """The repeat of `mod` (a list of copies some instances have) has no copies in `inst`: its
    count is 0 there, under conditions that hold there (`repeat blocks - 1` with blocks = 1)."""
    rep = mod.spec[0] if isinstance(mod.spec, tuple) else None
    if not isinstance(rep, ast.Repeat):
        return False
    count = value_in(rep.count, inst)
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and count == 0
        and all(value_in(c, inst) is p for c, p in mod.ctx)
    )


def render_body(
    insts: list,
    fx: Context,
    args: list,
    reserved,
    mpresent: dict,
    notes: ShapeNotes | None = None,
    repeats: dict | None = None,
) -> tuple[list, str]:
    """The merged forward: [(depth, line)] and the returned variables. A statement's shape comment
    is its shape where every instance has the same; where they differ, `notes` (if given) writes
    it as an expression of the class's sizes."""
    keys = align([[s.key for s in i.body] for i in insts])
    by = [{s.key: s for s in i.body} for i in insts]
    present = {k: tuple(k in b for b in by) for k in keys}
    allp = tuple(True for _ in insts)
    # Loops over a repeat's copies that some instances have no copies of (`repeats`: attribute ->
    # its Mod): run there too, over the empty list, passing their input through.
    empty: dict = {}
    for k in keys:
        s0 = next(b[k] for b in by if k in b)
        mod = (repeats or {}).get(s0.attr) if s0.kind == "loop" else None
        if mod is not None:
            empty[k] = {i for i in range(len(insts)) if k not in by[i] and zero_copies(mod, insts[i])}
            present[k] = tuple(p or i in empty[k] for i, p in enumerate(present[k]))
    mv = []  # per instance: value id -> merged value
    for i, inst in enumerate(insts):
        m = {v: ("arg", k) for k, v in enumerate(inst.args)}
        for k in keys:
            s = by[i].get(k)
            if s is not None:
                for j, o in enumerate(s.outputs):
                    m[o] = (k, j)
        mv.append(m)
    phis: dict = {}  # merged value C -> F: C where its statement ran, else F
    order = {k: j for j, k in enumerate(keys)}

    def ref(vids_by_inst: list) -> tuple:
        """One merged value for a position that each instance (of those given) fills with its value."""
        got = {}
        for i, v in vids_by_inst:
            if v not in mv[i]:
                raise NoMerge("a value from outside")
            got[i] = mv[i][v]
        values = set(got.values())
        if len(values) == 1:
            return values.pop()
        if len(values) != 2:
            raise NoMerge("a value with more than two sources")
        # The later statement's value first as the conditional one: its alternative is computed by then.
        for c in sorted(values, key=lambda v: (order.get(v[0], -1), v[1]), reverse=True):
            (f,) = values - {c}
            # after a loop over no copies in some instances: their value is the loop's input
            if (
                c[0] in empty
                and c[1] == 0
                and refs.get(c[0], [None])[0] == f
                and all((got[i] == c) != (i in empty[c[0]]) for i in got)
            ):
                return c
            if c[0] == "arg" or present[c[0]] == allp:
                continue
            if all((got[i] == c) == present[c[0]][i] for i in got):
                if phis.get(c, f) != f:
                    raise NoMerge("a conditional value with two alternatives")
                phis[c] = f
                return c
        raise NoMerge("a value the spec's conditions do not explain")

    refs = {}
    for k in keys:
        idx = [i for i in range(len(insts)) if k in by[i]]
        s0 = by[idx[0]][k]
        if any(len(by[i][k].inputs) != len(s0.inputs) or len(by[i][k].outputs) != len(s0.outputs) for i in idx):
            raise NoMerge("different wiring")
        if any(by[i][k].kind != s0.kind or by[i][k].attr != s0.attr for i in idx):
            raise NoMerge("different statements")
        if any(by[i][k].guard != s0.guard or by[i][k].flag != s0.flag for i in idx):
            raise NoMerge("a statement only some instances compute with their auxiliary heads")
        refs[k] = [ref([(i, by[i][k].inputs[j]) for i in idx]) for j in range(len(s0.inputs))]
    out_refs = [ref([(i, insts[i].outputs[j]) for i in range(len(insts))]) for j in range(len(insts[0].outputs))]
    groups = _groups(keys, present)
    # `if`/`else`: a group some instances have, then one that the others have and whose values
    # replace the first's (`if odd: h = pool_a(h)`, `else: h = pool_b(h)`); the else's values take
    # the then's names, and a value both branches read is read once.
    elses: dict[int, dict] = {}  # group index -> {its value: the then-group's value it replaces}
    for j in range(1, len(groups)):
        (pa, ka), (pb, kb) = groups[j - 1], groups[j]
        alts = {c: f for c, f in phis.items() if c[0] in kb}
        if (
            pa != allp
            and j - 1 not in elses
            and all(a != b for a, b in zip(pa, pb, strict=True))
            and alts
            and all(f[0] in ka for f in alts.values())
            and not any(c[0] in ka for c in phis)
        ):
            elses[j] = alts
    uses: dict = {}
    for j, (_, ks) in enumerate(groups):
        seen = {r for k in groups[j - 1][1] for r in refs[k]} if j in elses else set()
        for k in ks:
            for r in refs[k]:
                if r not in seen:
                    uses[r] = uses.get(r, 0) + 1
    for r in out_refs:
        uses[r] = uses.get(r, 0) + 1
    paired = {f for alts in elses.values() for f in alts.values()}
    for f in phis.values():
        if f not in paired:
            uses[f] = uses.get(f, 0) + 1

    local = Namer(frozenset({"self", *args}) | frozenset(reserved))
    var = {("arg", k): a for k, a in enumerate(args)}
    body: list = []
    for g, (presence, ks) in enumerate(groups):
        depth = 0 if presence == allp else 1
        lines = []
        group_keys = set(ks)
        branch = g in elses or g + 1 in elses  # one of an if/else's two branches
        renamed = {c: var[f] for c, f in elses.get(g, {}).items()}
        for k in ks:
            idx = [i for i in range(len(insts)) if k in by[i]]
            items = [by[i][k] for i in idx]
            s0 = items[0]
            ins = [var[r] for r in refs[k]]
            prev = refs[k][0] if refs[k] else None
            reuse = (
                prev is not None
                and prev[0] != "arg"
                and uses.get(prev, 0) == 1
                and prev not in phis.values()
                and ((prev[0] in group_keys or branch) if depth else (present[prev[0]] == allp or prev in phis))
            )
            comments = {s.comment for s in items}
            comment = f"  # {s0.comment}" if len(comments) == 1 and s0.comment else ""
            if len(comments) > 1 and notes is not None:
                comment = "  # " + notes.defer([s.comment for s in items], [insts[i] for i in idx])
            if s0.kind == "loop":
                name = renamed.get((k, 0)) or (var[prev] if reuse else local.take("h"))
                if name != ins[0]:
                    lines.append(f"{name} = {ins[0]}")
                step = local.take(s0.template)
                lines.append(f"for {step} in self.{s0.attr}:")
                lines.append(f"    {name} = {step}({name}){comment}")
                var[(k, 0)] = name
                continue
            if s0.kind == "child":
                # an output the network leaves out (of an aux head, see builder._heads) is `_`
                names = [
                    renamed[(k, j)]
                    if (k, j) in renamed
                    else "_"
                    if s0.outputs[j] < 0
                    else var[prev]
                    if (reuse and j == 0 and len(s0.outputs) == 1)
                    else local.take("h")
                    for j in range(len(s0.outputs))
                ]
                lhs = ", ".join(names) if names else "_"
                call = f"self.{s0.attr}({', '.join([*ins, s0.flag] if s0.flag else ins)})"
                if s0.guard:
                    none = "None" if len(names) == 1 else "(" + ", ".join("None" for _ in names) + ")"
                    call = f"{call} if {s0.guard} else {none}"
                lines.append(f"{lhs} = {call}{comment}")
                for j, nm in enumerate(names):
                    var[(k, j)] = nm
                continue
            template = _merge_template([s.template for s in items], fx, s0.spec, [insts[i] for i in idx])
            name = renamed.get((k, 0)) or (var[prev] if reuse else local.take("h"))
            code = _fill(template, ins)
            if s0.guard:
                code = f"{code} if {s0.guard} else None"
            lines.append(f"{name} = {code}{comment}")
            var[(k, 0)] = name
        if depth == 0:
            body += [(0, line) for line in lines]
            continue
        if g in elses:
            body.append((0, "else:"))
            body += [(1, line) for line in lines]
            continue
        test = _presence_test(ks, by, mpresent, presence, fx)
        alts = [(c, f) for c, f in phis.items() if c[0] in group_keys]
        single = len(lines) == 1 and len(alts) == 1 and lines[0].startswith(f"{var[alts[0][0]]} = ")
        ternary = f"{lines[0].split('  # ')[0]} if {test} else {var.get(alts[0][1]) if alts else ''}"
        if g + 1 in elses:
            body.append((0, f"if {test}:"))
            body += [(1, line) for line in lines]
            continue
        if single and alts[0][1] in var and len(ternary) <= FITS:  # `v = f(x) if test else x`, as ruff has it
            body.append((0, ternary))
            continue
        body.append((0, f"if {test}:"))
        body += [(1, line) for line in lines]
        if alts:
            if any(f not in var for _, f in alts):
                raise NoMerge("a conditional value whose alternative comes later")
            body.append((0, "else:"))
            for c, f in alts:
                body.append((1, f"{var[c]} = {var[f]}"))
    return body, ", ".join(var[r] for r in out_refs)


def _presence_test(ks: list, by: list, mpresent: dict, presence: tuple, fx: Context) -> str:
    """The test of statements some instances have: one of their modules' presence, else (statements
    without a module of their own: `h = h + x`) the spec's condition, over the stored arguments."""
    for k in ks:
        s = next(b[k] for b in by if k in b)
        if s.attr and mpresent.get(k) == presence:
            return f"self.{s.attr} is not None"
    first = next(b[ks[0]] for b in by if ks[0] in b)
    try:
        return condition(first.ctx, fx, list(presence))
    except NoMerge:
        raise NoMerge("a conditional statement without a module to test") from None


_PLACE = re.compile(r"(?<!\{)\{(\d+)\}(?!\})")


def _merge_template(templates: list, fx: Context, spec, insts: list) -> str:
    if len(set(templates)) == 1 and not PROV.search(templates[0]):
        return concrete(templates[0])
    marked = [_PLACE.sub(lambda m: f"__in{m.group(1)}__", t) for t in templates]
    text, _ = merge_text(marked, fx, own_exprs(spec), insts)
    return re.sub(r"__in(\d+)__", lambda m: "{" + m.group(1) + "}", text)


def _fill(template: str, ins: list) -> str:
    return template.format(*ins)


def _is_kw(arg: str) -> bool:
    """`name=value` (a keyword argument), not `a == b`."""
    return re.match(r"[A-Za-z_]\w*=(?!=)", arg) is not None


def fingerprint(inst: Inst) -> tuple:
    """Equal for instances whose code and arguments are the same (so that merging one of them
    stands for all)."""
    place: dict = {v: ("arg", k) for k, v in enumerate(inst.args)}
    body = []
    for s in inst.body:
        ins = tuple(place.get(v, ("?", v)) for v in s.inputs)
        body.append((s.key, s.kind, s.template, s.comment, s.attr, ins, s.guard, s.flag))
        for j, o in enumerate(s.outputs):
            place[o] = (s.key, j)
    mods = tuple(
        (
            m.key,
            m.attr,
            m.text,
            m.copies,
            tuple(m.rels),
            tuple((k.cls, tuple(sorted(k.values.items()))) for k in m.kids),
        )
        for m in inst.mods
    )
    return (
        inst.group,
        inst.flag,
        inst.in_shape,  # the input's sizes: a symbolic shape comment is checked against them
        tuple(sorted((k, repr(v)) for k, v in inst.env.items())),
        tuple(sorted(inst.derived.items())),
        mods,
        tuple((x.key, x.text) for x in inst.inits),
        tuple(body),
        tuple(place.get(v, ("?", v)) for v in inst.outputs),
    )


# --- symbolic shape comments ----------------------------------------------------------------------

# The names of a class input's sizes in comments, by its rank, in NNC's order (channels first).
DIM_NAMES = {1: ("N",), 2: ("C", "L"), 3: ("C", "H", "W"), 4: ("C", "D", "H", "W")}
_NOTE = re.compile("\x06(\\d+)\x07")


def axis_order(dialect, rank: int) -> list[int]:
    """The NNC axes of a value of that rank in the order the dialect holds them ([] where unknown)."""
    try:
        order = [int(t) - 1 for t in dialect.shape(tuple(range(1, rank + 1))).split("x")]
    except ValueError:
        return []
    return order if sorted(order) == list(range(rank)) else []


def dim_names(dialect, rank: int) -> tuple[str, ...]:
    """The names of an input's sizes in the order `dialect.shape` writes a shape of that rank."""
    names = DIM_NAMES.get(rank)
    order = axis_order(dialect, rank)
    return tuple(names[p] for p in order) if names and order else ()


def runtime_sizes(dialect, insts: list, arg: str) -> dict[int, str]:
    """The first input's sizes but its channels, as the forward reads them from the batch-first
    tensor `arg` (`x.shape[2]` for NNC's axis 1 in PyTorch), by NNC axis; none where the unit's
    body rebinds its input (the spec's `x.shape` is then no longer the input's)."""
    ranks = {len(i.in_shape) for i in insts}
    if len(ranks) != 1 or insts[0].input_name is None:
        return {}
    order = axis_order(dialect, ranks.pop())
    return {a: f"{arg}.shape[{order.index(a) + 1}]" for a in range(1, len(order))}


def _dims(comment: str) -> list | None:
    """The sizes of a shape comment's parts (`112x112x64, 10`): [[int, ...] or the part's text]."""
    out: list = []
    for part in comment.split(", "):
        try:
            out.append([int(t) for t in part.split("x")])
        except ValueError:
            out.append(part)
    return out


class ShapeNotes:
    """Shape comments of a class for several instances, whose shapes differ: each size is a
    number where it is the same in every instance, else the first expression (of the class's
    constructor arguments and of the sizes of its first input, `C`, `H`, `W` in the dialect's
    order) that gives it in every instance, else `?`. A comment with no size known is left out.
    The comments are written once the constructor's arguments are known (`resolve`)."""

    def __init__(self, insts: list, dialect, names: dict):
        self.jobs: list = []
        self.symbolic = False
        self.names = names  # spec name -> python name
        self.varying = {py for spec, py in names.items() if len({repr(i.env.get(spec)) for i in insts}) > 1}
        ranks = {len(i.in_shape) for i in insts}
        self.inputs = dim_names(dialect, ranks.pop()) if len(ranks) == 1 else ()
        self.in_dims = {id(i): (_dims(dialect.shape(i.in_shape)) or [[]])[0] for i in insts} if self.inputs else {}

    def defer(self, comments: list, insts: list) -> str:
        self.jobs.append((comments, insts))
        return f"\x06{len(self.jobs) - 1}\x07"

    def resolve(self, body: list, allowed: set) -> list:
        """`body` with each deferred comment written over the constructor arguments `allowed`."""
        texts = [self._comment(comments, insts, allowed) for comments, insts in self.jobs]

        def line(text: str) -> str:
            m = _NOTE.search(text)
            if m is None:
                return text
            note = texts[int(m.group(1))]
            return text[: m.start()] + note if note else text[: m.start()].removesuffix("  # ")

        return [(depth, line(text)) for depth, text in body]

    def _comment(self, comments: list, insts: list, allowed: set) -> str | None:
        parts = [_dims(c) for c in comments]
        if any(len(p) != len(parts[0]) for p in parts):
            return None
        cands = self._candidates(insts, allowed)
        out, known = [], False
        for j, first in enumerate(parts[0]):
            column = [p[j] for p in parts]
            if isinstance(first, str) or any(isinstance(c, str) or len(c) != len(first) for c in column):
                same = all(c == first for c in column)
                out.append(first if same and isinstance(first, str) else "?")
                known |= same
                continue
            sizes = []
            for d in range(len(first)):
                wants = [c[d] for c in column]
                text = str(wants[0]) if len(set(wants)) == 1 else _size_expr(wants, cands, d)
                sizes.append(text or "?")
                known |= text is not None
            symbolic = any(not s.isdigit() for s in sizes)
            out.append((" x " if symbolic else "x").join(sizes))
        if not known:
            return None
        text = ", ".join(out)
        self.symbolic |= any(not t.isdigit() and t != "?" for t in re.split(r" x |x|, ", text))
        return text

    def _candidates(self, insts: list, allowed: set) -> list:
        """(input position used or None, text, size per instance) of the expressions a size may
        be, simplest first."""
        args = []
        for spec, py in self.names.items():
            values = [i.env.get(spec) for i in insts]
            if py in allowed and py != "x" and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                args.append((py, values))
        inputs = self.inputs if not ({py for py, _ in args} & set(self.inputs)) else ()
        cands: list = [(None, name, v) for name, v in args]
        cands += [(None, f"{k}*{name}", [k * x for x in v]) for name, v in args for k in range(2, 9)]
        for d, name in enumerate(inputs):
            v = [self.in_dims[id(i)][d] for i in insts]
            cands.append((d, name, v))
            # Arguments that differ between the class's instances before numbers (a shortcut's
            # `H/stride`, in the instances that have one, all of stride 2), numbers before the others
            # (a pooling's `H/2`, not `H/n` where every instance's n is 2 too).
            for group in (
                [x for x in args if x[0] in self.varying],
                None,
                [x for x in args if x[0] not in self.varying],
            ):
                if group is None:
                    cands += [(d, f"{name}/{k}", [x // k if x % k == 0 else None for x in v]) for k in range(2, 9)]
                    cands += [(d, f"{k}*{name}", [k * x for x in v]) for k in range(2, 9)]
                    cands += [(d, f"{name}-{k}", [x - k for x in v]) for k in range(1, 9)]
                    cands += [(d, f"{name}+{k}", [x + k for x in v]) for k in range(1, 9)]
                    continue
                for a, w in group:
                    quotient = [x // y if y > 0 and x % y == 0 else None for x, y in zip(v, w, strict=True)]
                    cands.append((d, f"{name}/{a}", quotient))
                cands += [(d, f"{a}*{name}", [y * x for x, y in zip(v, w, strict=True)]) for a, w in group]
                cands += [(d, f"{name}+{a}", [x + y for x, y in zip(v, w, strict=True)]) for a, w in group]
        return cands


def _size_expr(wants: list, cands: list, pos: int) -> str | None:
    """The first candidate giving `wants` in every instance: the input's size at the same position
    (`H` for an output's `H`), an expression of the arguments alone (`4*maps`), then one of the
    input's size at the same position (`H/stride`); never one of its other sizes (a channel count
    that happens to be `H+base`)."""
    plain = [c for c in cands if c[0] == pos][:1]
    for tier in (plain, [c for c in cands if c[0] is None], [c for c in cands if c[0] == pos]):
        for _, text, values in tier:
            if values == wants:
                return text
    return None
