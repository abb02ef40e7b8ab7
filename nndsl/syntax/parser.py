"""Text to syntax tree: the Lark LALR parser, its post-lexer, and human syntax errors.

`parse(text, path)` returns a `Module` and a list of diagnostics. It never raises for bad
input: binary junk, a cut file or a stray bracket each become a positioned diagnostic.
After a syntax error the parser resumes at the next top-level item (a line starting with
`unit`, `network`, `dataset`, `config` or `include`), so one run reports the syntax errors
of every item.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ..diagnostics import Diagnostic, Note, Span, make
from ..layers.foreign import foreign_help
from ..limits import MAX_NESTING
from . import ast

GRAMMAR_NAME = "nnd.lark"


def grammar_path() -> Path:
    """The grammar ships inside the wheel (nndsl/grammar); a source checkout has it at the top."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "grammar" / GRAMMAR_NAME, here.parent / "grammar" / GRAMMAR_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"grammar {GRAMMAR_NAME} not found next to the nndsl package")


# --- the post-lexer: which newlines end a statement --------------------------------------------

# A newline right after one of these cannot end a statement.
_CONTINUES_AFTER = frozenset(
    ["->", "=", ",", "{", "(", "[", ":", "+", "-", "*", "/", "//", "%", "==", "!=", "<", "<=", ">", ">="]
    + ["and", "or", "not", "with", "in", "repeat", "if", "else"]
)
# A newline right before one of these cannot end a statement either.
_CONTINUES_BEFORE = frozenset(["->", "}", "else", "with"])
_OPEN = {"(": ")", "[": "]"}
_CLOSE = {")", "]"}
_BRACKETS = frozenset("([{")
_BRACKETS_CLOSE = frozenset(")]}")


class _PostLex:
    """Drops the newlines that cannot end a statement. It also moves every token down by
    `line_offset` lines: after a syntax error the parser resumes on the rest of the file
    alone (see `parse`), and positions stay those of the whole file."""

    always_accept = ("_NL",)
    line_offset = 0

    def process(self, stream):
        depth = 0
        brackets: list[str] = []  # the open ( [ {, innermost last: a `:` inside [ ] is a slice's
        prev: Token | None = None
        pending: Token | None = None
        offset = _PostLex.line_offset
        for tok in stream:
            if offset:
                tok.line += offset
                tok.end_line += offset
            if tok.type != "STRING":
                if tok.value in _BRACKETS:
                    brackets.append(tok.value)
                elif tok.value in _BRACKETS_CLOSE and brackets:
                    brackets.pop()
                elif tok.value == ":" and brackets and brackets[-1] == "[":
                    tok = Token.new_borrow_pos("SLICE_COLON", ":", tok)
            if tok.type == "_NL":
                if depth == 0 and prev is not None and not _continues(prev, _CONTINUES_AFTER):
                    pending = pending or tok
                continue
            if pending is not None:
                if not _continues(tok, _CONTINUES_BEFORE):
                    yield pending
                pending = None
            if tok.type != "STRING":
                if tok.value in _OPEN:
                    depth += 1
                elif tok.value in _CLOSE and depth:
                    depth -= 1
            yield tok
            prev = tok


def _continues(tok: Token, words: frozenset[str]) -> bool:
    return tok.type not in ("NAME", "STRING") and tok.value in words


# --- tokens to AST ------------------------------------------------------------------------------


class _Closed(NamedTuple):
    """The items of a `{ ... }` body, and the `}` that ends it (the end of its parent's span)."""

    items: tuple
    close: Token


class _PathPart(NamedTuple):
    """`block[2]` in an override's layer path."""

    text: str
    first: Token
    last: Token


class _ToAst(Transformer):
    """Builds `ast` nodes while Lark parses: it is the parser's inline transformer, so no
    parse tree is built. Each callback gets a rule's children (tokens and nodes; the
    grammar names the keywords and brackets a span needs) and returns a node.

    A node's span runs from its first token to its last. A parenthesised expression
    keeps its own span, but a node built from it covers the parentheses: `_parens`
    remembers them (this is how Lark's `propagate_positions` counts them too).
    """

    def __init__(self) -> None:
        super().__init__()
        self.path = "<input>"
        self._parens: dict[int, tuple[Any, Token, Token]] = {}  # id(node) -> (node, "(", ")")

    def reset(self, path: str) -> None:
        self.path = path
        self._parens.clear()

    # spans
    def _tok(self, t: Token) -> Span:
        return Span(self.path, t.line, t.column, t.end_line, t.end_column)

    def _span(self, first: Any, last: Any) -> Span:
        """From the start of `first` to the end of `last` (tokens, nodes or _Closed)."""
        if isinstance(first, Token):
            line, col = first.line, first.column
        elif id(first) in self._parens:
            lpar = self._parens[id(first)][1]
            line, col = lpar.line, lpar.column
        elif isinstance(first, _PathPart):
            line, col = first.first.line, first.first.column
        else:
            line, col = first.span.line, first.span.col
        if isinstance(last, Token):
            return Span(self.path, line, col, last.end_line, last.end_column)
        if isinstance(last, _Closed):
            return Span(self.path, line, col, last.close.end_line, last.close.end_column)
        if id(last) in self._parens:
            rpar = self._parens[id(last)][2]
            return Span(self.path, line, col, rpar.end_line, rpar.end_column)
        if isinstance(last, _PathPart):
            return Span(self.path, line, col, last.last.end_line, last.last.end_column)
        return Span(self.path, line, col, last.span.end_line, last.span.end_col)

    # items
    def start(self, c):
        return tuple(i for i in c if i is not None)

    def include(self, c):
        return ast.Include(_unquote(c[1]), self._span(c[0], c[1]))

    def unit_def(self, c):
        keyword, name, *params, body = c
        params = tuple(p for p in params if p is not None)
        return ast.Unit(str(name), params, body.items, self._span(keyword, body), self._tok(name))

    def unit_param(self, c):
        name, type_, default = c
        span = self._span(name, type_ if default is None else default)
        return ast.UnitParam(str(name), str(type_), default, span, self._tok(type_))

    def network_def(self, c):
        keyword, name, body = c
        return ast.Network(str(name), body.items, self._span(keyword, body), self._tok(name))

    def derived_network(self, c):
        keyword, name, base, *overrides, close = c
        overrides = tuple(o for o in overrides if o is not None)
        span = self._span(keyword, close)
        return ast.DerivedNetwork(str(name), str(base), overrides, span, self._tok(name), self._tok(base))

    def override(self, c):
        (parts, path_span), value = c
        end = self._span(value, value)
        span = Span(self.path, path_span.line, path_span.col, end.end_line, end.end_col)
        return ast.Override(parts, value, span, path_span)

    def layer_path(self, c):
        parts = tuple(p.text if isinstance(p, _PathPart) else str(p) for p in c)
        return parts, self._span(c[0], c[-1])

    def indexed(self, c):
        name, index, close = c
        return _PathPart(f"{name}[{_int(index)}]", name, close)

    def block(self, c):
        return _Closed(tuple(s for s in c[:-1] if s is not None), c[-1])

    # statements
    def in_stmt(self, c):
        keyword, *names = c
        return ast.In(tuple(ast.Name(str(t), self._tok(t)) for t in names), self._span(keyword, c[-1]))

    def out_stmt(self, c):
        keyword, *values = c
        return ast.Out(tuple(values), self._span(keyword, c[-1]))

    def assign(self, c):
        *targets, value = c
        return ast.Assign(tuple(ast.Name(str(t), self._tok(t)) for t in targets), value, self._span(c[0], value))

    def if_stmt(self, c):
        keyword, cond, then, orelse = c
        span = self._span(keyword, then if orelse is None else orelse)
        if isinstance(orelse, ast.If):
            return ast.If(cond, then.items, (orelse,), span, True)
        return ast.If(cond, then.items, None if orelse is None else orelse.items, span, False)

    # chains and calls
    def chain(self, c):
        return ast.Chain(c[0], tuple(c[1:]), self._span(c[0], c[-1]))

    def call(self, c):
        name, *args, close = c
        pos = tuple(a for a in args if a is not None and not isinstance(a, ast.Kwarg))
        kws = tuple(a for a in args if isinstance(a, ast.Kwarg))
        return ast.Call(str(name), pos, kws, None, self._span(name, close), self._tok(name))

    def bare(self, c):
        span = self._tok(c[0])
        return ast.Call(str(c[0]), (), (), None, span, span, bare=True)

    def labeled_call(self, c):
        label, call = c
        span = self._span(label, call)
        return ast.Call(call.callee, call.args, call.kwargs, str(label), span, call.callee_span, call.bare)

    def tapped(self, c):
        call, (parts, path_span) = c
        span = Span(self.path, call.span.line, call.span.col, path_span.end_line, path_span.end_col)
        return dataclasses.replace(call, tap=call.tap + parts, span=span)

    def labeled_repeat(self, c):
        label, r = c
        return ast.Repeat(r.var, r.count, r.stages, r.body, str(label), self._span(label, r), r.index)

    def repeat(self, c):
        keyword, first, second, count, (stages, stmts), close = c
        # `repeat i in n`, `repeat row in cfg`: one name, the copy's value; `repeat i, row in cfg`: two
        index, var = (None, first) if second is None else (first, second)
        var = str(var) if var is not None else None
        index = str(index) if index is not None else None
        return ast.Repeat(var, count, stages, stmts, None, self._span(keyword, close), index)

    def repeat_chain(self, c):
        return tuple(c), None

    def repeat_block(self, c):
        return None, tuple(c)

    def kwarg(self, c):
        return ast.Kwarg(str(c[0]), c[1], self._span(c[0], c[1]), self._tok(c[0]))

    # constants and operators
    def int_(self, c):
        return ast.Num(_int(c[0]), str(c[0]), self._tok(c[0]))

    def float_(self, c):
        return ast.Num(float(c[0]), str(c[0]), self._tok(c[0]))

    def string(self, c):
        return ast.Str(_unquote(c[0]), self._tok(c[0]))

    def shape(self, c):
        return ast.ShapeLit(tuple(_int(d) for d in str(c[0]).split("x")), self._tok(c[0]))

    def true(self, c):
        return ast.Bool(True, self._tok(c[0]))

    def false(self, c):
        return ast.Bool(False, self._tok(c[0]))

    def duration(self, c):
        return ast.Duration(_int(c[0]), str(c[1]), self._span(c[0], c[1]))

    def name(self, c):
        return ast.Name(str(c[0]), self._tok(c[0]))

    def list_(self, c):
        return ast.ListLit(tuple(x for x in c[1:-1] if x is not None), self._span(c[0], c[-1]))

    def index(self, c):
        value, *items, close = c
        if len(items) == 1 and not isinstance(items[0], ast.SliceItem):
            index = items[0]
            if isinstance(value, ast.Call) and value.tap and isinstance(index, ast.Num) and index.text.isdigit():
                # `net: ResNet18(x).layer4[1]`: a repeat copy on the path of an inner value
                span = self._span(value, close)
                tap = (*value.tap[:-1], f"{value.tap[-1]}[{int(index.text)}]")
                return dataclasses.replace(value, tap=tap, span=span)
            return ast.Index(value, index, self._span(value, close))
        return ast.Slicing(value, tuple(items), self._span(value, close))

    def slice(self, c):
        start, colon, stop, colon2, step = c
        first = colon if start is None else start
        last = step if step is not None else colon2 if colon2 is not None else stop if stop is not None else colon
        return ast.SliceItem(start, stop, step, self._span(first, last))

    def attr(self, c):
        value, name = c
        if isinstance(value, ast.Call) and not value.bare and str(name) != "shape":
            # `net: ResNet18(x).pool`: an inner value of the unit instance the call makes
            return dataclasses.replace(value, tap=(*value.tap, str(name)), span=self._span(value, name))
        return ast.Attr(value, str(name), self._span(value, name), self._tok(name))

    def paren(self, c):
        lpar, expr, rpar = c
        self._parens[id(expr)] = (expr, lpar, rpar)  # the node is kept alive, so its id stays its own
        return expr

    def neg(self, c):
        return ast.Unary("-", c[1], self._span(c[0], c[1]))

    def pos(self, c):
        return ast.Unary("+", c[1], self._span(c[0], c[1]))

    def not_(self, c):
        return ast.Unary("not", c[1], self._span(c[0], c[1]))

    def _bin(op):  # noqa: N805  (a factory used at class creation)
        def method(self, c):
            return ast.Binary(op, c[0], c[-1], self._span(c[0], c[-1]))

        return method

    add, sub, mul, div, floordiv, mod = _bin("+"), _bin("-"), _bin("*"), _bin("/"), _bin("//"), _bin("%")
    and_, or_ = _bin("and"), _bin("or")

    def compare(self, c):
        return ast.Binary(str(c[1]), c[0], c[2], self._span(c[0], c[2]))

    def key(self, c):
        return c[0]

    # datasets and config
    def dataset_def(self, c):
        keyword, name, uri, settings = c
        items = None if settings is None else settings.items
        span = self._span(keyword, uri if settings is None else settings)
        return ast.Dataset(str(name), _unquote(uri), items, span, self._tok(name), self._tok(uri))

    def config_def(self, c):
        keyword, settings = c
        return ast.Config(settings.items, self._span(keyword, settings))

    def settings(self, c):
        return _Closed(tuple(s for s in c[:-1] if s is not None), c[-1])

    def setting(self, c):
        return ast.Setting(str(c[0]), c[1], self._span(c[0], c[1]), self._tok(c[0]))

    def section(self, c):
        kind, settings = c
        return ast.Section(str(kind), None, settings.items, self._span(kind, settings), self._tok(kind))

    def named_section(self, c):
        kind, name, settings = c
        return ast.Section(str(kind), str(name), settings.items, self._span(kind, settings), self._tok(kind))


# Larger literals are kept as this value, which every consumer refuses as too large (Python
# also refuses to convert very long digit strings).
TOO_LARGE = 2**63
_MAX_DIGITS = 19


def _int(text: str) -> int:
    digits = str(text).lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else TOO_LARGE


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(tok: Token) -> str:
    body = str(tok)[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


# --- the parser object --------------------------------------------------------------------------

_comments: list[Token] = []
_transformer = _ToAst()
_parser: Lark | None = None


def _cache_file() -> str | bool:
    """Lark caches its LALR tables; keep the cache per user, fall back to no cache."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for root in (base, tempfile.gettempdir()):
        d = os.path.join(root, "nndsl")
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK):
                return os.path.join(d, "nnd-grammar.lark-cache")
        except OSError:
            continue
    return False


def get_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            lexer="basic",
            postlex=_PostLex(),
            maybe_placeholders=True,
            lexer_callbacks={"COMMENT": _comments.append},
            transformer=_transformer,
            cache=_cache_file(),
        )
    return _parser


# --- syntax errors in words ---------------------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "SHAPE": "a shape like 3x32x32",
    "COMP_OP": "a comparison",
    "SLICE_COLON": "':'",
    "_NL": "a new line",
    "$END": "the end of the file",
}
_TOP_LEVEL = re.compile(r"^(unit|network|dataset|config|include)\b", re.M)


def _describe_expected(expected: set[str], parser: Lark) -> str:
    words = []
    for name in sorted(expected):
        if name in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            words.append(f"'{pattern.value}'")
    words = list(dict.fromkeys(words))
    if not words:
        return ""
    if len(words) > 6:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _found(tok: Token | None) -> str:
    if tok is None or tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    text = str(tok)
    if tok.type == "NAME":
        return f"'{text}'"
    return f"'{text}'" if len(text) < 30 else f"'{text[:27]}...'"


def _brackets(text: str, line: int = 1) -> tuple[list[tuple[str, int, int, str]], tuple[str, int, int] | None]:
    """Scan brackets (outside strings and comments) in `text`, which starts a line (`line`).
    Returns the stack still open at the end and the first closing bracket that matches
    nothing (char, line, col)."""
    stack: list[tuple[str, int, int, str]] = []
    col = 0
    i, n = 0, len(text)
    word_start = 0
    while i < n:
        ch = text[i]
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            col += j - i - 1
            i = j
            continue
        elif ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            col += j - i
            i = j + 1
            continue
        elif ch in "([{":
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] == "_"):
                k -= 1
            word_start = k
            stack.append((ch, line, col, text[word_start:i] + ch))
        elif ch in ")]}":
            want = {")": "(", "]": "[", "}": "{"}[ch]
            if not stack or stack[-1][0] != want:
                return stack, (ch, line, col)
            stack.pop()
        i += 1
    return stack, None


def _syntax_diagnostic(err: UnexpectedInput, text: str, path: str, parser: Lark, lines: _Lines) -> Diagnostic:
    """The diagnostic for a syntax error in the part of `text` parsed last, which starts at
    line `lines.first` (brackets are matched from there: earlier items had their own)."""
    line = getattr(err, "line", None)
    col = getattr(err, "column", None)
    tok = getattr(err, "token", None)
    if isinstance(err, UnexpectedEOF) or (tok is not None and tok.type == "$END"):
        all_lines = text.splitlines() or [""]
        line, col = len(all_lines), len(all_lines[-1]) + 1
    if not isinstance(line, int) or line < 1:
        line, col = 1, 1
    width = len(str(tok)) if tok is not None and tok.type not in ("$END", "_NL") else 1
    span = Span(path, line, col, line, col + max(1, width))

    # Unbalanced brackets explain most syntax errors better than "unexpected token".
    prefix = text[lines.start(lines.first) : lines.start(line) + col - 1]
    still_open, stray = _brackets(prefix + (str(tok) if tok is not None and tok.type != "$END" else ""), lines.first)
    if stray is not None and stray[1] == line and stray[2] >= col:
        ch = stray[0]
        opener = {")": "(", "]": "[", "}": "{"}[ch]
        # `f(a, [b)`: the ')' closes an outer '(' so the inner '[' is what is missing.
        if any(o[0] == opener for o in still_open):
            o_ch, o_line, o_col, o_text = still_open[-1]
            close = {"(": ")", "[": "]", "{": "}"}[o_ch]
            return make(
                "E0102",
                span,
                [Note(f"'{o_text}' opened here", Span(path, o_line, o_col, o_line, o_col + 1))],
                close=close,
                open=o_text,
                line=o_line,
                col=o_col,
            )
        return make("E0103", span, found=ch, open=opener)
    if still_open and still_open[-1][0] in "([":
        o_ch, o_line, o_col, o_text = still_open[-1]
        close = {"(": ")", "[": "]"}[o_ch]
        if isinstance(err, UnexpectedEOF) or (tok is not None and (tok.type == "$END" or o_line < line)):
            return make(
                "E0102",
                span,
                [Note(f"'{o_text}' opened here", Span(path, o_line, o_col, o_line, o_col + 1))],
                close=close,
                open=o_text,
                line=o_line,
                col=o_col,
            )
    if still_open and (isinstance(err, UnexpectedEOF) or (tok is not None and tok.type == "$END")):
        o_ch, o_line, o_col, o_text = still_open[-1]
        return make(
            "E0102",
            span,
            [Note(f"'{o_text}' opened here", Span(path, o_line, o_col, o_line, o_col + 1))],
            close="}",
            open=o_text,
            line=o_line,
            col=o_col,
        )

    if isinstance(err, UnexpectedCharacters):
        at = lines.start(line) + col - 1
        ch = text[at] if line <= lines.count and at < len(text) else "?"
        return make("E0101", Span(path, line, col, line, col + 1), message=f"unexpected character {ch!r}")
    expected = _describe_expected(set(getattr(err, "expected", ()) or ()), parser)
    message = f"unexpected {_found(tok)}"
    if expected:
        message += f"; expected {expected}"
    help_, notes = _hint(tok, err, text, lines, line, col, still_open)
    return make("E0101", span, [Note(m, Span(path, *at)) for m, at in notes], help=help_, message=message)


def _hint(tok: Token | None, err: UnexpectedInput, text: str, lines: _Lines, line: int, col: int, still_open: list):
    """The help for a syntax error at `tok` (line, col), and notes as (message, (line, col, end_line,
    end_col)): the usual fixes of what a user of Python, PyTorch or Keras writes."""
    if tok is None:
        return None, []
    expected = set(getattr(err, "expected", ()) or ())
    if str(tok) == "=" and "COMP_OP" in expected:
        return "use '==' to compare", []
    if tok.type == "_NL" and "RBRACE" in expected:
        return "a statement must fit on its line; continue a chain on the next line by starting it with '->'", []
    at = lines.start(line) + col - 1
    if expected == {"COMMA", "EQUAL"}:  # a statement that starts with a name and is no assignment
        return _missing_arrow(text, lines, at, line)
    if str(tok) == "," and "RPAR" in expected and still_open and still_open[-1][3] == "(":
        return _tuple(text, lines.start(still_open[-1][1]) + still_open[-1][2]), []
    spaced = re.search(r"(\d+(?:\s*x\s*\d+)*)\s*x\s*$", text[lines.start(line) : at]) if tok.type == "INT" else None
    if spaced and re.search(r"\s", spaced.group(0)):  # kernel=3 x 3
        written = re.sub(r"\s", "", spaced.group(1))
        return f"write a shape without spaces: {written}x{tok}", []
    module = re.search(r"\b[A-Za-z_]\w*\.([A-Za-z_]\w*)\s*$", text[lines.start(line) : at]) if str(tok) == "(" else None
    if module:
        name = module.group(1)
        return "a layer is called by its name alone, without a module" + (
            f"; {foreign_help(name, 'layer')}" if foreign_help(name, "layer") else f": {name}(...)"
        ), []
    return None, []


def _missing_arrow(text: str, lines: _Lines, at: int, line: int):
    """`h = x -> A` then a line `B -> C`: the second line starts a statement of its own. When the
    name before the error starts its line and the code line before it is an assignment or a chain,
    the fix is a leading '->' (pointed at by a note where that name is on an earlier line)."""
    i = at
    while i > 0 and text[i - 1] in " \t\r\n":
        i -= 1
    start = i
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    name_line = bisect.bisect_right(lines.starts, start)
    first = lines.start(name_line)
    if start == i or text[first:start].strip():
        return None, []
    above = [t.split("#", 1)[0].rstrip() for t in text[: max(first - 1, 0)].split("\n")[-50:]]
    previous = next((t for t in reversed(above) if t.strip()), "")
    if previous.endswith("{") or ("->" not in previous and "=" not in previous):
        return None, []
    fixed = text[start : text.find("\n", start) if "\n" in text[start:] else len(text)].split("#", 1)[0].strip()
    fixed = fixed if len(fixed) <= 40 else fixed[:37] + "..."
    help_ = f"to continue the chain on the next line, start that line with '->': -> {fixed}"
    if name_line == line:
        return help_, []
    col = start - first + 1
    return help_, [("this line is read as a new statement", (name_line, col, name_line, col + i - start))]


def _tuple(text: str, after: int) -> str:
    """The help for a tuple, `Input((3, 32, 32))`: the text after its '(' (at offset `after`)."""
    close = text.find(")", after, after + 200)
    items = [t.strip() for t in text[after : close if close >= 0 else after].split(",")]
    items = [t for t in items if t]
    if close >= 0 and items and all(t.isdigit() for t in items):
        return f"write a shape as {'x'.join(items)}, not ({', '.join(items)}{',' if len(items) == 1 else ''})"
    return "nndsl has no tuples: write a shape as 3x32x32, and a list as [a, b] (a list of ints is a shape too)"


class _Lines:
    """Where each line of a text starts, found once (a syntax error's context is then read
    in time proportional to that context, not to the file)."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.count = len(self.starts)
        self.first = 1  # the line the part of the text being parsed starts at

    def start(self, line: int) -> int:
        return self.starts[min(max(line, 1), self.count) - 1]


# --- entry point ---------------------------------------------------------------------------------


def parse(text: str, path: str) -> tuple[ast.Module, list[Diagnostic]]:
    """Parse `text`; syntax errors come back as diagnostics, never as exceptions."""
    parser = get_parser()
    diags: list[Diagnostic] = []
    items: list[ast.Item] = []
    comments: list[ast.Comment] = []
    lines = _Lines(text)
    # After a syntax error, parsing resumes on the rest of the file from the next top-level
    # item; the post-lexer moves its tokens down to their lines in the whole file. Each
    # part is read once, so recovering from any number of errors stays linear.
    try:
        while True:
            _comments.clear()
            _transformer.reset(path)
            offset = _PostLex.line_offset = lines.first - 1
            try:
                items.extend(parser.parse(text[lines.start(lines.first) :] if offset else text))
                comments.extend(ast.Comment(str(t), t.line + offset, t.column) for t in _comments)
                break
            except UnexpectedInput as err:
                comments.extend(ast.Comment(str(t), t.line + offset, t.column) for t in _comments)
                if isinstance(err, UnexpectedCharacters):  # raised by the lexer, before the post-lexer
                    err.line += offset
                diags.append(_syntax_diagnostic(err, text, path, parser, lines))
                # Resume at the next top-level item after the error.
                err_line = getattr(err, "line", None)
                if not isinstance(err_line, int) or err_line < 1 or isinstance(err, UnexpectedEOF):
                    break
                start = _next_item_line(text, err_line, lines)
                if start is None:
                    break
                lines.first = start
    finally:
        _PostLex.line_offset = 0
    _transformer.reset(path)  # let go of the last parse's nodes
    kept = []
    for item in items:
        too_deep = _too_deep(item)
        if too_deep is None:
            kept.append(item)
        else:  # dropped: the stages after the parser recurse over what they are given
            diags.append(make("E0210", too_deep.span, limit=MAX_NESTING))
    items = kept
    seen: set[tuple[int, int]] = set()
    unique = []
    for c in sorted(comments, key=lambda c: (c.line, c.col)):
        if (c.line, c.col) not in seen:
            seen.add((c.line, c.col))
            unique.append(c)
    return ast.Module(path, tuple(items), tuple(unique)), diags


def _next_item_line(text: str, after_line: int, lines: _Lines) -> int | None:
    """The line of the first top-level item after line `after_line`."""
    if after_line >= lines.count:
        return None
    m = _TOP_LEVEL.search(text, lines.start(after_line + 1))
    if m is None:
        return None
    return bisect.bisect_right(lines.starts, m.start())


# --- nesting ------------------------------------------------------------------------------------


def _too_deep(item: ast.Item) -> Any:
    """The first node (in source order) nested deeper than MAX_NESTING in `item`, or None.

    Each node is one level below its parent (a statement and its value are one level),
    except the left operand of a binary operator (a run like `1 + 2 + ... + n` is flat,
    however long) and the `if` of an `else if` (a chain of branches is flat): the later
    stages walk both in loops. The walk is a loop too, so it is linear and never deep.
    """
    stack: list[tuple[Any, int]] = [(item, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        children = list(_children(node, depth))
        stack.extend(reversed(children))
    return None


def _children(node: Any, depth: int):
    """A node's children (nodes with a span), each with its depth."""
    d = depth + 1
    if isinstance(node, ast.Binary):
        yield node.left, depth
        yield node.right, d
    elif isinstance(node, ast.Unary):
        yield node.operand, d
    elif isinstance(node, ast.Index):
        yield node.value, d
        yield node.index, d
    elif isinstance(node, ast.Slicing):
        yield node.value, d
        for x in node.items:
            yield x, d
    elif isinstance(node, ast.SliceItem):
        for x in (node.start, node.stop, node.step):
            if x is not None:
                yield x, d
    elif isinstance(node, ast.Attr):
        yield node.value, d
    elif isinstance(node, ast.ListLit):
        for x in node.items:
            yield x, d
    elif isinstance(node, ast.Call):
        for x in node.args:
            yield x, d
        for k in node.kwargs:
            yield k.value, d
    elif isinstance(node, ast.Chain):
        yield node.head, d
        for x in node.stages:
            yield x, d
    elif isinstance(node, ast.Repeat):
        yield node.count, d
        for x in node.stages or node.body or ():
            yield x, d
    elif isinstance(node, ast.If):
        yield node.cond, d
        for x in node.then:
            yield x, d
        if node.elif_:
            yield node.orelse[0], depth
        else:
            for x in node.orelse or ():
                yield x, d
    elif isinstance(node, ast.Out):  # a statement and its values are one level
        for x in node.values:
            yield x, depth
    elif isinstance(node, ast.Assign | ast.Setting | ast.Override):
        yield node.value, depth
    elif isinstance(node, ast.Unit):
        for p in node.params:
            if p.default is not None:
                yield p.default, d
        for x in node.body:
            yield x, d
    elif isinstance(node, ast.Network):
        for x in node.body:
            yield x, d
    elif isinstance(node, ast.DerivedNetwork):
        for x in node.overrides:
            yield x, d
    elif isinstance(node, ast.Section | ast.Config | ast.Dataset):
        for x in node.settings or ():
            yield x, d
