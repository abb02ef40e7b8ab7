"""The syntax tree of a .nnd file: what the user wrote, with a span on every node.

The tree keeps everything `nndsl fmt` needs to print the file back (comments are kept
beside it in `Module.comments`), and nothing is evaluated yet: unit arguments, repeat
counts and layer parameters stay expressions until the `expand` pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Span

# --- expressions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Num:
    value: int | float
    text: str  # as written, so fmt keeps 1e-4 as 1e-4
    span: Span


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True)
class ShapeLit:
    dims: tuple[int, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Duration:
    value: int
    unit: str  # as written; the config pass accepts epoch(s) and iteration(s)
    span: Span


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True, slots=True)
class Index:
    """`cfg[i]`: an item of a list (or of a shape); negative indices count from the end."""

    value: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class SliceItem:
    """`a:b:c` inside square brackets; a part left out is None."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span


@dataclass(frozen=True, slots=True)
class Slicing:
    """`x[:c]`, `x[c:, ::2]`, `cfg[1:]`: slices of a tensor's per-sample axes, from the channels (NNC's
    Slice layer), or of a list, shape or string. An item is a SliceItem or, beside others, an index."""

    value: Expr
    items: tuple[Expr | SliceItem, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Attr:
    """`x.shape`: an attribute of a value (a tensor's per-sample shape is the only one)."""

    value: Expr
    name: str
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" | "+" | "not"
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # + - * / // % == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class Kwarg:
    name: str
    value: Expr
    span: Span  # the whole `name=value`
    name_span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """`Type(args)` or a bare `Type` in a chain; `label` names the layer or instance."""

    callee: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    label: str | None
    span: Span
    callee_span: Span
    bare: bool = False  # written without parentheses
    # `net: ResNet18(x).pool`: the call's value is the output of the instance's inner layer (unit
    # instance, repeat) of this path, relative to the instance ("pool"; "stage4", "block[1]").
    tap: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Repeat:
    """`repeat [i in] N { stages }` or `repeat N { in x ... out y }`; `repeat row in cfg`
    and `repeat i, row in cfg` iterate a list (`var` takes its items, `index` the copy index)."""

    var: str | None
    count: Expr
    stages: tuple[Stage, ...] | None  # chain form
    body: tuple[Stmt, ...] | None  # block form (starts with `in`)
    label: str | None
    span: Span
    index: str | None = None  # `repeat i, row in cfg`: i (then `var` is row)


@dataclass(frozen=True, slots=True)
class Chain:
    head: Expr
    stages: tuple[Stage, ...]
    span: Span


Stage = Call | Repeat
Expr = (
    Num
    | Str
    | Bool
    | ShapeLit
    | Duration
    | ListLit
    | Name
    | Index
    | Slicing
    | Attr
    | Unary
    | Binary
    | Call
    | Chain
    | Repeat
)

# --- statements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class In:
    names: tuple[Name, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Out:
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[Name, ...]
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] | None
    span: Span
    elif_: bool = False  # `orelse` is a single If written as `else if`


Stmt = In | Out | Assign | If

# --- top-level items -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitParam:
    name: str
    type: str
    default: Expr | None
    span: Span
    type_span: Span


@dataclass(frozen=True, slots=True)
class Unit:
    name: str
    params: tuple[UnitParam, ...]
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True)
class Override:
    path: tuple[str, ...]  # layer path parts ("stage3", "block[2]", "conv1") then the parameter
    value: Expr
    span: Span
    path_span: Span


@dataclass(frozen=True, slots=True)
class DerivedNetwork:
    """`network Validation5 = Validation with { TopNError.n = 5 }`."""

    name: str
    base: str
    overrides: tuple[Override, ...]
    span: Span
    name_span: Span
    base_span: Span


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    value: Expr
    span: Span
    key_span: Span


@dataclass(frozen=True, slots=True)
class Section:
    """`optimizer { ... }`, `monitor valid_error { ... }`."""

    kind: str
    name: str | None
    settings: tuple[Setting | Section, ...]
    span: Span
    kind_span: Span


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    uri: str
    settings: tuple[Setting | Section, ...] | None
    span: Span
    name_span: Span
    uri_span: Span | None = None  # the path string


@dataclass(frozen=True, slots=True)
class Config:
    settings: tuple[Setting | Section, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Include:
    path: str
    span: Span


Item = Include | Unit | Network | DerivedNetwork | Dataset | Config


@dataclass(frozen=True, slots=True)
class Comment:
    text: str  # including the leading '#'
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Module:
    path: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]
