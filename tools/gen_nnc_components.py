"""Regenerate nndsl/nnc/components.py, nndsl's one table of NNC's layers, from NNC's own definitions.

NNC's editor and its project tool define every layer in a `layer_component/<Category>/<Type>.txt`
file (sony/nnc-desktop, Apache-2.0): its properties with their types, defaults, option lists and
the nnabla function argument each one becomes (`ArgumentName=convolution_param.pad`, with flags
such as `-a` for an axis counted without the batch axis), its input-side connectors (`W`, `b`: Kind
Parameter; `T`: Kind Data) and the parametric function's scope (`ParameterScope=conv`).
`layer_component.txt` beside them lists the layer types NNC offers, by category, in its editor's
order; the tool loads no project holding a type it does not list (Flatten, and ClipByValue and
ClipByNorm, which the list comments out, have files but are no NNC layers), so the table holds
exactly the listed ones. The layer registry (NNC names, defaults, choices), the `.sdcproj` and
`.nntxt` writers and readers all read this table. Generated once and checked in:

    python tools/gen_nnc_components.py ../shared/nnc-tools/nncd_console/settings/NNabla

The solvers (NNC's solver names, their parameters' NNC names and nnabla fields) come from the
`solver_component.txt` in that folder.
"""

from __future__ import annotations

import pprint
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "nndsl" / "nnc" / "components.py"
# What NNC's `complete` computes for display (shapes, costs), not a setting: left out unless the
# user may edit it (Interpolate's and VATNoise's Output).
DISPLAYED = {"Input", "Output", "IsLossFunction"}


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = out.setdefault(line[1:-1], [])
        elif current is not None:
            current.append(line)
    return out


def keyvals(lines: list[str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in lines if "=" in line)


def listed(text: str) -> dict[str, str]:
    """layer_component.txt: layer type -> category, in NNC's order (a `;` line is commented out)."""
    s = sections(text)
    return {t: cat for cat in s["Category"] for t in s.get(cat, []) if not t.startswith(";")}


def component(path: Path, category: str) -> dict:
    s = sections(path.read_text(encoding="utf-8-sig"))
    glob = keyvals(s.get("Global", []))
    connectors = []
    for name in s.get("InputSideConnector", []):
        kv = keyvals(s.get(f"InputSideConnector_{name}", []))
        connectors.append((name, kv.get("Kind", "Data"), kv.get("Enable", "True")))
    props = []
    for name in s.get("Property", []):
        kv = keyvals(s.get(f"Property_{name}", []))
        editable = kv.get("Editable") != "False"
        if (name in DISPLAYED or name.startswith("Cost")) and not editable:
            continue
        arg, *flags = kv.get("ArgumentName", "").split() or [""]
        choices = tuple(s.get(f"Property_{name}_Option", ()))
        props.append((name, kv.get("Type", ""), kv.get("Value", ""), arg, tuple(flags), editable, choices))
    scope = glob.get("ParameterScope", "")
    entry = {
        "category": category,
        "scope": scope if "/" not in scope else "",
        "connectors": tuple(connectors),
        "properties": tuple(props),
    }
    if glob.get("IsParam") == "True":
        entry["is_param"] = True
    return entry


def layers(folder: Path) -> dict[str, dict]:
    """Every layer type NNC lists, in its order: the table `components.COMPONENTS` holds."""
    root = folder / "layer_component"
    order = listed((root / "layer_component.txt").read_text(encoding="utf-8-sig"))
    return {t: component(root / cat / f"{t}.txt", cat) for t, cat in order.items()}


def solvers(text: str) -> dict[str, tuple]:
    """solver_component.txt: per solver, nnabla's param message and (NNC name, nnabla field,
    default) for each of its parameters."""
    out = {}
    for name, lines in sections(text).items():
        kv = keyvals(lines)
        params = tuple(tuple(kv[f"param_{i}"].split(";")[:3]) for i in range(int(kv.get("num_param", "0"))))
        out[name] = (kv.get("argument_name", ""), params)
    return out


def _connector(c: tuple) -> str:
    name, kind, enable = c
    return f"Connector({name!r}, {kind!r}{f', {enable!r}' if enable != 'True' else ''})"


def _property(p: tuple) -> str:
    """`Property("Pad", "UIntArray", "0,0", "convolution_param.pad")`, the fields that differ from their defaults."""
    name, type_, default, arg, flags, editable, choices = p
    args = [repr(name), repr(type_), repr(default)]
    if arg or flags:
        args.append(repr(arg))
    if flags:
        args.append(repr(flags))
    if not editable:
        args.append("editable=False")
    if choices:
        args.append(f"choices={choices!r}")
    return f"Property({', '.join(args)})"


def render(table: dict[str, dict], solver_table: dict[str, tuple]) -> str:
    lines = [
        '"""NNC\'s layers: properties, defaults, choices, nnabla arguments, connectors (generated; do not edit).',
        "",
        "Generated by tools/gen_nnc_components.py from the layer_component files of NNC's project tool",
        "(sony/nnc-desktop, Apache-2.0). Every layer type NNC lists, in its order, with its category, the",
        "parametric function's scope, its input-side connectors and its properties in NNC's order (what",
        "NNC computes for display, Input, Output and the costs, left out). A default starting with `*` is",
        "computed by NNC (`*Name`, `*ConvolutionPaddingSize`).",
        '"""',
        "",
        "from typing import NamedTuple",
        "",
        "",
        "class Connector(NamedTuple):",
        '    """An input-side connector: a parameter (`W`, `b`) or a data input (a loss\'s `T`)."""',
        "",
        "    name: str",
        '    kind: str  # "Data" | "Parameter"',
        '    enable: str = "True"  # when NNC draws it: "True" or a property (`*WithBias`)',
        "",
        "",
        "class Property(NamedTuple):",
        "    name: str",
        "    type: str  # NNC's property type: Int, PIntArray, Float, Boolean, Option, Text, File...",
        "    default: str",
        "    argument: str = ''  # the nnabla function argument it becomes (convolution_param.pad)",
        "    flags: tuple[str, ...] = ()  # -a an axis NNC counts without the batch axis; -b a shape without it",
        "    editable: bool = True  # False: NNC computes it and a project does not hold it",
        "    choices: tuple[str, ...] = ()  # an Option's values",
        "",
        "",
        "COMPONENTS = {",
    ]
    for t, entry in table.items():
        lines.append(f"    {t!r}: {{")
        lines.append(f'        "category": {entry["category"]!r},')
        lines.append(f'        "scope": {entry["scope"]!r},')
        conns = [_connector(c) for c in entry["connectors"]]
        lines.append(f'        "connectors": ({"".join(c + ", " for c in conns).rstrip()}),')
        props = [_property(p) for p in entry["properties"]]
        lines.append(f'        "properties": ({"".join(p + ", " for p in props).rstrip()}),')
        if entry.get("is_param"):
            lines.append('        "is_param": True,')
        lines.append("    },")
    lines.append("}")
    lines.append("")
    lines.append("# solver_component.txt: solver -> (nnabla's param message, ((NNC name, nnabla field, default), ...))")
    lines.append(f"SOLVERS = {pprint.pformat(solver_table, width=110)}")
    return "\n".join(lines) + "\n"


def main(folder: str) -> None:
    root = Path(folder)
    solver_table = solvers((root / "solver_component.txt").read_text("utf-8-sig"))
    OUT.write_text(render(layers(root), solver_table), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(OUT)], check=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
