"""What NNC makes of a project, to compare two projects as NNC sees them.

`network_signature(nntxt_text)` reads the `.nntxt` NNC's `create_prototxt` wrote and gives, per
network, the functions it runs (type -> count, every repeat counted `times` times) and the
parameters it creates (name -> shape, with each `{RepeatStart}` id replaced by the repeat's
count, so that two projects whose RepeatStart layers are named differently compare equal).
`export(import(sample))` converts, in NNC, to the same network as the sample when these agree
for every network the sample's conversion has (tests/nnc/test_roundtrip.py).
"""

from __future__ import annotations

import re
from collections import Counter

from .prototext import parse

_REPEAT_ID = re.compile(r"\{([^}]*)\}")


def network_signature(nntxt_text: str) -> dict[str, dict]:
    """network name -> {"functions": {type: count}, "parameters": {name: shape}}."""
    root = parse(nntxt_text, "<nntxt>")
    out: dict[str, dict] = {}
    for net in root.messages("network"):
        times = {ri.scalar("id"): int(ri.scalar("times") or 1) for ri in net.messages("repeat_info")}
        functions: Counter[str] = Counter()
        for f in net.messages("function"):
            count = 1
            for rid in f.scalars("repeat_id"):
                count *= times.get(rid, 1)
            ftype = f.scalar("type") or ""
            if ftype not in ("RepeatStart", "RepeatEnd"):
                functions[ftype] += count
        parameters = {}
        for v in net.messages("variable"):
            if v.scalar("type") != "Parameter":
                continue
            name = _REPEAT_ID.sub(lambda m, t=times: f"{{{t.get(m.group(1), 1)}}}", v.scalar("name") or "")
            shape = v.first("shape")
            dims = [int(d) for d in shape.message.scalars("dim")] if shape is not None else []
            parameters[name] = dims
        out[net.scalar("name") or ""] = {"functions": dict(sorted(functions.items())), "parameters": parameters}
    return out
