"""Identifiers for generated code.

Every identifier in generated code comes from a `Namer`: legal, unique in its namespace,
not a keyword, and shadowing no builtin or name the generated module imports. Every
string from a spec reaches generated code through `literal` (a properly escaped Python
literal), so a spec can never inject code.
"""

from __future__ import annotations

import builtins
import json
import keyword
import math
import re

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
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a Python literal
    if isinstance(value, bool | int | float | type(None)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"no literal for {type(value).__name__}")
