"""Generated statements laid out the way `ruff format` lays them out, so that generated
projects are format-clean as written (and byte-stable without a formatter installed).

Generated statements are one-liners of calls, subscripts and tuple/list/dict displays, maybe
with a trailing comment. A statement that does not fit is broken at its last bracket pair,
as black and ruff break it (their "right-hand split"):

- a call's arguments go on one indented line if they fit there, else one per line with a
  trailing comma (a sole argument keeps no comma);
- a display's elements always go one per line with a trailing comma;
- each resulting line that still does not fit is broken the same way (the closing line too, when
  a call chain continues after it), and a trailing comment stays after the closing bracket;
- a call chain whose last call's opening line would not fit breaks at an earlier call;
- a comprehension that does not fit puts its element and each `for` and `if` clause on a line of
  its own.

`tests/test_pyformat.py` checks this against ruff on generated and random statements.
"""

from __future__ import annotations

OPENING, CLOSING = "([{", ")]}"


def fit(statement: str, indent: int, width: int = 120) -> str:
    """`statement`, written at column `indent`, as lines within `width` columns where ruff format
    can break it; the first line carries no indentation (the template supplies it)."""
    return "\n".join(_lines(statement, indent, width))[indent:]


def _lines(text: str, indent: int, width: int) -> list[str]:
    pad = " " * indent
    if indent + len(text) <= width:
        return [pad + text]
    code, comment = _split_comment(text)
    clauses = _comprehension_clauses(code)
    if len(clauses) > 1:  # a comprehension's element and each `for` / `if` clause on lines of their own
        clauses[-1] += comment
        return [line for clause in clauses for line in _lines(clause, indent, width)]
    pairs = _top_level_pairs(code)
    if not pairs:
        return [pad + text]
    # The last bracket pair whose opening line fits (a call chain's earlier call when the last
    # call's opening line would not), else the last.
    open_, close = next((p for p in reversed(pairs) if indent + p[0] + 1 <= width), pairs[-1])
    head, body, tail = code[: open_ + 1], code[open_ + 1 : close], code[close:] + comment
    parts = split_top_level(body)
    if not parts:
        return [pad + text]
    is_call = open_ > 0 and (code[open_ - 1].isalnum() or code[open_ - 1] in "_)]")
    inner = indent + 4
    if is_call or (len(parts) == 1 and not body.rstrip().endswith(",")):
        one = ", ".join(parts)
        if inner + len(one) <= width or len(parts) == 1:
            return [pad + head, *_lines(one, inner, width), *_lines(tail, indent, width)]
    lines = [pad + head]
    for part in parts:
        lines += _lines(part + ",", inner, width)
    return [*lines, *_lines(tail, indent, width)]


def fitted_lines(statement: str, indent: int, width: int = 120) -> list[str]:
    """`statement` at column `indent` as `fit` lays it out, each line with its indentation."""
    return _lines(statement, indent, width)


def split_top_level(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument list or display (brackets and strings
    respected)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in OPENING:
            depth += 1
        elif ch in CLOSING:
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _scan(text: str):
    """(index, character) of every character of `text` outside string literals."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        else:
            yield i, ch


def _split_comment(text: str) -> tuple[str, str]:
    """The code of a line and its trailing comment (with the spaces before it)."""
    for i, ch in _scan(text):
        if ch == "#":
            code = text[:i].rstrip()
            return code, text[len(code) :]
    return text, ""


def _comprehension_clauses(code: str) -> list[str]:
    """A comprehension's body (`f(k) for k in range(n) if k`, outside brackets) split before each
    `for` and each `if` after the first `for`; [code] where there is none."""
    cuts, depth = [], 0
    for i, ch in _scan(code):
        if ch in OPENING:
            depth += 1
        elif ch in CLOSING:
            depth -= 1
        elif depth == 0 and (code.startswith(" for ", i) or (cuts and code.startswith(" if ", i))):
            cuts.append(i)
    if not cuts:
        return [code]
    bounds = [0, *cuts, len(code)]
    return [code[a:b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]


def _top_level_pairs(code: str) -> list[tuple[int, int]]:
    """(opening, closing) index of every outermost bracket pair, in order."""
    pairs, depth, start = [], 0, 0
    for i, ch in _scan(code):
        if ch in OPENING:
            if depth == 0:
                start = i
            depth += 1
        elif ch in CLOSING and depth:  # a broken line's tail starts with its bracket's closing
            depth -= 1
            if depth == 0:
                pairs.append((start, i))
    return pairs
