"""NNC names as .nnd names.

NNC lets a network, layer, dataset or monitor be called anything (`Main Validation`,
`conv-1`, `2nd`); a .nnd name is letters, digits and `_`, not starting with a digit, optionally
ending in primes, and not a reserved word. `ident` keeps a valid name as it is and otherwise
makes the nearest valid one, so the importer, the config importer and the exporter agree.
"""

from __future__ import annotations

import re

RESERVED = frozenset(
    {"unit", "network", "dataset", "config", "include", "in", "out", "if", "else", "repeat", "with"}
    | {"true", "false", "and", "or", "not"}
)

_VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*'*\Z")


def ident(name: str) -> str:
    """`name` if it is a valid .nnd name, else the nearest one: every other character becomes
    `_`, a leading digit or a reserved word gets a leading `_`, and an empty name is `_`."""
    if _VALID.match(name) and name not in RESERVED:
        return name
    body = re.sub(r"[^A-Za-z0-9_]", "_", name.rstrip("'"))
    primes = name[len(name.rstrip("'")) :] if body else ""
    if not body or body[0].isdigit() or body in RESERVED:
        body = "_" + body
    return body + primes
