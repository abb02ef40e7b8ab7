"""Identifiers for generated code.

Every identifier in generated code comes from a `Namer`: legal, unique in its namespace,
not a keyword, and shadowing no builtin or name the generated module imports. Every
string from a spec reaches generated code through `literal` (a properly escaped Python
literal), so a spec can never inject code.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import math
import re
from pathlib import Path

_WORD = re.compile(r"[^0-9a-zA-Z_]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
RESERVED = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins)) | {"self", "cls"}


def snake(name: str) -> str:
    """`BatchNormalization_2` -> `batch_normalization_2`, `y'` -> `y_`, `block[2]` -> `block_2`."""
    text = _CAMEL.sub("_", name.replace("'", "_prime"))
    text = _WORD.sub("_", text).strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text:
        text = "v"
    if text[0].isdigit():
        text = "v" + text
    return text


def camel(name: str) -> str:
    """`basic_block` or `BasicBlock` -> `BasicBlock`."""
    parts = [p for p in _WORD.sub("_", name).split("_") if p]
    text = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    return "V" + text if text[0].isdigit() else text


class Namer:
    """Hands out unique identifiers within one namespace (a module, a class, a function)."""

    def __init__(self, taken: set[str] | frozenset[str] = frozenset()):
        self.used = set(RESERVED) | set(taken)
        self._next: dict[tuple[str, str], int] = {}  # where the search for `wish_N` resumes

    def take(self, wish: str, sep: str = "_") -> str:
        """`wish` if free, else `wish_2`, `wish_3`... (`sep=""` for class names: `Block2`).
        The numbers tried for a wish are not tried again: 10,000 values named `h` cost
        10,000 steps, not 50 million."""
        name = wish if wish.isidentifier() else snake(wish)
        if name in self.used:
            n = self._next.get((name, sep), 2)
            while f"{name}{sep}{n}" in self.used:
                n += 1
            self._next[(name, sep)] = n + 1
            name = f"{name}{sep}{n}"
        self.used.add(name)
        return name


def literal(value) -> str:
    """A Python literal for a constant from a spec (repr is exact for these types)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"no literal for {value}: specs hold finite numbers only")
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, bool | int | float | type(None)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"no literal for {type(value).__name__}")


def shown(text: str) -> str:
    """`text` from the outside world (a file name) as it may stand in generated prose: a
    docstring, a README. Plain printable text without quotes, backslashes or backticks is
    shown as it is; anything else as an escaped ASCII string literal, which can neither end
    the docstring nor the README's code span, nor hold a line break or an undecodable byte."""
    if text.isprintable() and not any(c in text for c in '"\\`'):
        return text
    return _quoted(text).replace("`", "\\x60")


def _quoted(text: str) -> str:
    """A double-quoted Python string literal of `text`: printable characters as they are,
    quotes and backslashes escaped, anything else (line breaks, undecodable bytes of a file
    name, which Python holds as lone surrogates) as a Python escape."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            out.append(ascii(c)[1:-1])  # \n, \x00, \u2028, \udcff, \U000e0001
    return '"' + "".join(out) + '"'


@functools.cache
def template_attributes(template: Path) -> frozenset[str]:
    """The attributes a class template defines itself: its methods (`def name(self`),
    class constants and `self.name = ...` assignments. Read from the template, so a
    method added there is never shadowed by a layer of the same name."""
    text = template.read_text(encoding="utf-8")
    found = re.findall(r"\bdef (\w+)\(self\b", text)
    found += re.findall(r"\bself\.(\w+)\s*=(?!=)", text)
    found += re.findall(r"^    ([A-Z_][A-Z0-9_]*)\s*(?::[^=\n]*)?=(?!=)", text, flags=re.M)
    return frozenset(found)
