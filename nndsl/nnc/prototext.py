"""Protocol-buffer text format (what nnabla's `.nntxt` is), read and written without protobuf.

The reader turns text into a small tree of `Message`s whose `Field`s keep their line and
column, so that a problem found later (an unknown function, a missing shape) can point into
the user's file. It knows no schema: a field is a scalar (a string, a number or an
identifier such as an enum value or `true`) or a nested message, and a repeated field is the
same name several times. It accepts what protobuf's own text parser accepts in practice:

    name: value            # scalars: "string" 'string' (adjacent ones join), 12 -1.5e-3 inf,
    name { ... }            #          identifiers (true, True, Buffer)
    name: { ... }   name < ... >   name: [1, 2, 3]   name: [{ ... }, { ... }]
    fields separated by whitespace, ',' or ';'; comments from '#' to the end of the line

Hostile input is refused with a positioned `PrototextError` (file:line:col), never a Python
exception: at most `MAX_BYTES` of text, messages nested at most `MAX_NESTING` deep, and one
pass over the text (time linear in its length; the parser keeps an explicit stack, so no
recursion). The writer turns a tree back into text that the reader reads to the same tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_BYTES = 64 * 1024 * 1024
MAX_NESTING = 100


class PrototextError(Exception):
    """A positioned problem in protobuf text: `file:line:col: message`."""

    def __init__(self, file: str, line: int, col: int, message: str):
        super().__init__(f"{file}:{line}:{col}: {message}")
        self.file = file
        self.line = line
        self.col = col
        self.message = message


@dataclass(slots=True)
class Field:
    """One `name: value` or `name { ... }`. `kind` is "string" (value is the decoded text),
    "number" or "ident" (value is the token as written: `1e-08`, `-1`, `True`), or
    "message" (value is a `Message`)."""

    name: str
    kind: str
    value: str | Message
    line: int
    col: int

    @property
    def message(self) -> Message:
        assert isinstance(self.value, Message)
        return self.value

    @property
    def text(self) -> str:
        assert isinstance(self.value, str)
        return self.value


@dataclass(slots=True)
class Message:
    fields: list[Field] = field(default_factory=list)
    line: int = 1
    col: int = 1

    def all(self, name: str) -> list[Field]:
        return [f for f in self.fields if f.name == name]

    def first(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def scalar(self, name: str, default: str | None = None) -> str | None:
        f = self.first(name)
        return f.value if f is not None and f.kind != "message" else default  # type: ignore[return-value]

    def scalars(self, name: str) -> list[str]:
        return [f.value for f in self.fields if f.name == name and f.kind != "message"]  # type: ignore[misc]

    def messages(self, name: str) -> list[Message]:
        return [f.value for f in self.fields if f.name == name and f.kind == "message"]  # type: ignore[misc]

    def walk(self) -> Iterator[Field]:
        """Every field of the tree, depth first, in text order (iterative)."""
        stack = [iter(self.fields)]
        while stack:
            f = next(stack[-1], None)
            if f is None:
                stack.pop()
                continue
            yield f
            if f.kind == "message":
                stack.append(iter(f.message.fields))

    def shape(self) -> tuple:
        """The tree as plain tuples, for comparing two trees without positions."""
        out: list = []
        stack: list[tuple[Iterator[Field], list]] = [(iter(self.fields), out)]
        while stack:
            it, into = stack[-1]
            f = next(it, None)
            if f is None:
                stack.pop()
                if stack:
                    parent = stack[-1][1]
                    parent[-1] = (parent[-1][0], parent[-1][1], tuple(parent[-1][2]))
                continue
            if f.kind == "message":
                child: list = []
                into.append((f.name, "message", child))
                stack.append((iter(f.message.fields), child))
            else:
                into.append((f.name, f.kind, f.value))
        return tuple(out)


_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n\f\v]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fFuUlL]*
               |[-+]?(?:inf(?:inity)?|nan)\b)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}<>:;,\[\]])
    """,
    re.VERBOSE | re.IGNORECASE,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPES.update({c: c for c in "\\'\"?"})
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.DOTALL)


def _unescape(body: str, file: str, line: int, col: int) -> str:
    """A string literal's text; `\\x..` and octal escapes are bytes, decoded as UTF-8
    together with their neighbours (invalid bytes become U+FFFD)."""
    text: list[str] = []
    pending = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(body):
        if m.start() > pos:
            if pending:
                text.append(pending.decode("utf-8", errors="replace"))
                pending.clear()
            text.append(body[pos : m.start()])
        pos = m.end()
        s = m.group(0)[1:]
        if s[0] in "xX":
            pending.append(int(s[1:], 16))
            continue
        if s[0] in "01234567":
            pending.append(int(s, 8) & 0xFF)
            continue
        if pending:
            text.append(pending.decode("utf-8", errors="replace"))
            pending.clear()
        if s[0] in "uU":
            code = int(s[1:], 16)
            text.append(chr(code) if code <= 0x10FFFF and not 0xD800 <= code < 0xE000 else "\ufffd")
        elif s in _ESCAPES:
            text.append(_ESCAPES[s])
        else:
            raise PrototextError(file, line, col, f"unknown escape '\\{s}' in a string")
    if pending:
        text.append(pending.decode("utf-8", errors="replace"))
    text.append(body[pos:])
    return "".join(text)


def _tokens(text: str, file: str) -> Iterator[tuple[str, str, int, int]]:
    pos = 0
    line = 1
    line_start = 0
    n = len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        col = pos - line_start + 1
        if m is None:
            ch = text[pos]
            what = "an unterminated string" if ch in "\"'" else f"unexpected character {ch!r}"
            raise PrototextError(file, line, col, what)
        kind = m.lastgroup
        value = m.group(0)
        if kind == "space" or kind == "comment":
            newlines = value.count("\n")
            if newlines:
                line += newlines
                line_start = pos + value.rfind("\n") + 1
        else:
            if kind == "number" and m.end() < n and (text[m.end()].isalnum() or text[m.end()] == "_"):
                raise PrototextError(file, line, col, f"malformed number near {text[pos : m.end() + 1]!r}")
            yield kind, value, line, col  # type: ignore[misc]
        pos = m.end()
    yield "eof", "", line, pos - line_start + 1


def parse(text: str | bytes, file: str = "<text>") -> Message:
    """Parse protobuf text into a `Message` tree; a `PrototextError` on any problem."""
    if len(text) > MAX_BYTES:
        raise PrototextError(file, 1, 1, f"the file is larger than {MAX_BYTES} bytes (the limit)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            line = text.count(b"\n", 0, e.start) + 1
            col = e.start - (text.rfind(b"\n", 0, e.start) + 1) + 1
            raise PrototextError(file, line, col, "the file is not UTF-8 text") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return _Parser(text, file).run()


class _Parser:
    """One pass over the tokens with an explicit stack of open messages. A list
    `name: [ ... ]` is a state of the innermost open message: `lists[i]` is the list open in
    `stack[i]` (its field name and position), or None."""

    def __init__(self, text: str, file: str):
        self.file = file
        self.toks = _tokens(text, file)
        self.tok = next(self.toks)

    def advance(self) -> None:
        self.tok = next(self.toks)

    def error(self, message: str) -> PrototextError:
        return PrototextError(self.file, self.tok[2], self.tok[3], message)

    def skip_separator(self, also: str = ",;") -> None:
        if self.tok[0] == "punct" and self.tok[1] in also:
            self.advance()

    def run(self) -> Message:
        root = Message()
        # Each open message: (message, the token that closes it, line and col it opened at).
        stack: list[tuple[Message, str, int, int]] = [(root, "", 1, 1)]
        lists: list[tuple[str, int, int] | None] = [None]
        while True:
            kind, value, line, col = self.tok
            current, closer, oline, ocol = stack[-1]
            open_list = lists[-1]
            if open_list is not None:
                name, fline, fcol = open_list
                if kind == "punct" and value == "]":
                    lists[-1] = None
                    self.advance()
                    self.skip_separator()
                    continue
                if kind == "punct" and value in "{<":
                    self.open(stack, lists, current, name, fline, fcol)
                    continue
                field_kind, text = self.scalar()
                current.fields.append(Field(name, field_kind, text, fline, fcol))
                self.list_separator(name)
                continue
            if kind == "eof":
                if len(stack) > 1:
                    raise self.error(f"the message opened at {oline}:{ocol} is not closed")
                return root
            if kind == "punct" and value in "}>":
                if value != closer:
                    raise self.error(f"unexpected '{value}'")
                stack.pop()
                lists.pop()
                self.advance()
                if lists[-1] is not None:
                    self.list_separator(lists[-1][0])
                else:
                    self.skip_separator()
                continue
            if kind != "ident":
                if kind == "punct" and value == "[":
                    raise self.error("extension and Any fields ('[...]') are not supported")
                raise self.error(f"expected a field name, got {_show(self.tok)}")
            name, fline, fcol = value, line, col
            self.advance()
            colon = self.tok[0] == "punct" and self.tok[1] == ":"
            if colon:
                self.advance()
            if self.tok[0] == "punct" and self.tok[1] in "{<":
                self.open(stack, lists, current, name, fline, fcol)
                continue
            if not colon:
                raise self.error(f"expected ':' or '{{' after '{name}', got {_show(self.tok)}")
            if self.tok[0] == "punct" and self.tok[1] == "[":
                self.advance()
                lists[-1] = (name, fline, fcol)
                continue
            field_kind, text = self.scalar()
            current.fields.append(Field(name, field_kind, text, fline, fcol))
            self.skip_separator()

    def open(self, stack, lists, current: Message, name: str, fline: int, fcol: int) -> None:
        _, value, line, col = self.tok
        if len(stack) > MAX_NESTING:
            raise self.error(f"messages nest deeper than {MAX_NESTING} levels (the limit)")
        child = Message([], line, col)
        current.fields.append(Field(name, "message", child, fline, fcol))
        stack.append((child, "}" if value == "{" else ">", line, col))
        lists.append(None)
        self.advance()

    def list_separator(self, name: str) -> None:
        if self.tok[0] == "punct" and self.tok[1] == ",":
            self.advance()
        elif not (self.tok[0] == "punct" and self.tok[1] == "]"):
            raise self.error(f"expected ',' or ']' in the list '{name}', got {_show(self.tok)}")

    def scalar(self) -> tuple[str, str]:
        kind, value, line, col = self.tok
        if kind == "string":
            parts = [_unescape(value[1:-1], self.file, line, col)]
            self.advance()
            while self.tok[0] == "string":
                parts.append(_unescape(self.tok[1][1:-1], self.file, self.tok[2], self.tok[3]))
                self.advance()
            return "string", "".join(parts)
        if kind == "number" or kind == "ident":
            self.advance()
            return kind, value
        raise self.error(f"expected a value, got {_show(self.tok)}")


def _show(tok: tuple[str, str, int, int]) -> str:
    kind, value, _, _ = tok
    if kind == "eof":
        return "the end of the file"
    return repr(value if len(value) <= 20 else value[:20] + "...")


# ---------------------------------------------------------------------------------------------
# Writer


_PLAIN = re.compile(r'[^"\\\x00-\x1f\x7f]*\Z')


def quote(s: str) -> str:
    """A string literal protobuf reads back to `s` (UTF-8 kept as is, controls escaped)."""
    if _PLAIN.match(s):  # nothing to escape (nearly every name): one regular-expression pass
        return f'"{s}"'
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def write(message: Message, indent: str = "  ") -> str:
    """The tree as protobuf text, one field a line, nested messages indented; a message
    whose fields are all the scalar `dim` (a shape) on one line, as nnabla writes it."""
    lines: list[str] = []
    stack: list[tuple[Iterator[Field], int]] = [(iter(message.fields), 0)]
    while stack:
        it, depth = stack[-1]
        f = next(it, None)
        pad = indent * depth
        if f is None:
            stack.pop()
            if stack:
                lines.append(indent * (depth - 1) + "}")
            continue
        if f.kind == "message":
            inner = f.message.fields
            if inner and all(x.kind == "number" and x.name == "dim" for x in inner):
                dims = " ".join(f"dim: {x.value}" for x in inner)
                lines.append(f"{pad}{f.name}: {{ {dims} }}")
                continue
            lines.append(f"{pad}{f.name} {{")
            stack.append((iter(inner), depth + 1))
            continue
        value = quote(f.text) if f.kind == "string" else f.text
        lines.append(f"{pad}{f.name}: {value}")
    return "\n".join(lines) + ("\n" if lines else "")
