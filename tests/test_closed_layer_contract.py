"""The layer contract is closed: what a backend knows of a layer type is its registry entry and its
lowering (the emitters, `nndsl/backends/{torch,keras}/emit.py` and the lowerings both share,
`shared.py`). The rest of the backends (the builder, the merge of unit classes, the renderers, the
project's files) and the templates never test a layer's type by name: a new layer type needs no
change there."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ROOT / "nndsl" / "backends"
LOWERINGS = {BACKENDS / "torch" / "emit.py", BACKENDS / "keras" / "emit.py", BACKENDS / "shared.py"}


def _type_tests(path: Path, root: Path = ROOT) -> list[str]:
    """`x.type == "Name"`, `x.type in ("A", "B")`, `"A" == x.type` and the like in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        typed = any(isinstance(s, ast.Attribute) and s.attr == "type" for s in sides)
        named = any(
            isinstance(s, ast.Constant)
            and isinstance(s.value, str)
            or isinstance(s, ast.Tuple | ast.List | ast.Set)
            and any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in s.elts)
            for s in sides
        )
        if typed and named:
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return sorted(found, key=lambda h: int(h.rsplit(":", 1)[1]))


def test_no_backend_code_outside_the_lowerings_tests_a_layer_type_by_name():
    files = sorted(p for p in BACKENDS.rglob("*.py") if p not in LOWERINGS)
    assert len(files) > 10
    assert [hit for path in files for hit in _type_tests(path)] == []


def test_the_templates_never_name_a_layer_type():
    from nndsl.layers import REGISTRY

    for template in (ROOT / "templates").rglob("*"):
        if template.is_file() and template.suffix in (".py", ".j2"):
            text = template.read_text(encoding="utf-8")
            assert not [t for t in REGISTRY if f'"{t}"' in text or f"'{t}'" in text], template


def test_the_check_finds_what_it_looks_for(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('if layer.type == "BatchNormalization":\n    pass\nok = layer.type in ("A", "B")\n')
    assert _type_tests(probe, tmp_path) == ["probe.py:1", "probe.py:3"]
