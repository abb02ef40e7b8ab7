"""Shared by the NNC config tests and tools/nnc_config_fixtures.py: the config part of an NNC
project read into an `NncProject`, compiled through .nnd, and written back.

`split_sections` is a minimal INI split (section kinds as nndsl/nnc/sdcproj.py gives them:
`[X_k]` is of kind X, the `[Dataset]` header of kind "Datasets"), so these tests need only
the config text the fixtures hold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nndsl import ir
from nndsl.compiler import compile_file
from nndsl.nnc.config_nnd import config_to_nnc, config_to_nnd, sections_text
from nndsl.nnc.idents import ident
from nndsl.nnc.project import NncProject, NncSection, Where

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "config"
NETWORK_KEYS = ("Optimizer_NetworkName", "Monitor_NetworkName", "Executor_NetworkName")


def split_sections(text: str, path: str, first_line: int = 1) -> NncProject:
    project = NncProject(path, [])
    current = None
    for n, line in enumerate(text.splitlines(), first_line):
        if line.startswith("["):
            name = line.strip()[1:-1]
            m = re.fullmatch(r"(.*)_(\d+)", name)
            kind = m.group(1) if m else ("Datasets" if name == "Dataset" else name)
            current = NncSection(name, {}, Where(path, name, n), {})
            project.sections.setdefault(kind, []).append(current)
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current.items[key] = value
            current.lines[key] = n
    return project


def referenced_networks(project: NncProject) -> list[str]:
    names: list[str] = []
    for group in project.sections.values():
        for s in group:
            for key in NETWORK_KEYS:
                v = s.items.get(key, "").strip()
                if v and ident(v) not in names:
                    names.append(ident(v))
    return names


def stub_spec(config_nnd: str, networks: list[str]) -> str:
    """`config_nnd` with a small network of each name (each with a loss, as an optimizer needs)."""
    nets = [
        f'network {n} {{\n    x = Input(2, dataset="x")\n    t = Input(1, dataset="y")\n'
        f"    y = x -> Affine(1)\n    loss = SquaredError(y, t)\n}}\n"
        for n in networks
    ]
    return "\n".join(nets) + "\n" + config_nnd


def compile_config(config_nnd: str, networks: list[str], name: str = "case") -> ir.Project:
    spec = stub_spec(config_nnd, networks)
    result = compile_file(f"{name}.nnd", text=spec)
    errors = [f"{d.span}: {d.code} {d.message}" for d in result.diagnostics if d.severity == "error"]
    assert not errors, "\n".join(errors) + "\n" + spec
    return result.project


def load_case(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def case_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def import_case(case: dict, name: str) -> tuple[NncProject, str, list]:
    project = split_sections(case["config_text"], f"{name}.sdcproj", case["config_line"])
    diagnostics: list = []
    return project, config_to_nnd(project, diagnostics), diagnostics


def exported_config_text(case: dict, name: str) -> str:
    """config_to_nnc(compile(config_to_nnd(x))) as .sdcproj text, every kind but Engine (which
    goes before the networks)."""
    project, text, _ = import_case(case, name)
    compiled = compile_config(text, referenced_networks(project), name)
    sections = config_to_nnc(compiled.config, compiled.datasets)
    return sections_text(sections, lambda kind: kind != "Engine")
