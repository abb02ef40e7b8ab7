"""The layer contract is closed: a layer type is its registry entry (`nndsl/layers/`) and one
lowering per backend, registered with the type's own arguments (`emitter(...)` in
`nndsl/backends/{torch,keras}/emit.py` and `shared.py`). No other code of the backends or the
passes, the lowerings' bodies included, tests a layer's type by name or names a layer type at
all: a new layer type needs no change there. The templates never name a layer type either."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nndsl.backends.builder import Emitters
from nndsl.layers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
GUARDED = (ROOT / "nndsl" / "backends", ROOT / "nndsl" / "passes")
REGISTRATION = "emitter"  # the one registration point: `emitter("Sign")`, `emitter(Softmax=dict(fn="softmax"))`


def _is_type(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "type"


def _registration(node: ast.AST) -> bool:
    f = node.func if isinstance(node, ast.Call) else None
    return isinstance(f, ast.Name) and f.id == REGISTRATION or isinstance(f, ast.Attribute) and f.attr == REGISTRATION


def _attribute_name(node: ast.AST) -> bool:
    """`module.dot("Parameter")`: generated code's attribute of a framework's or the runtime's module
    (`nnc.Parameter`, `nn.PReLU`), a class that may share its name with a layer type."""
    f = node.func if isinstance(node, ast.Call) else None
    return isinstance(f, ast.Attribute) and f.attr == "dot" and len(node.args) == 1 and not node.keywords


def _literal(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        or isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict)
    )


def type_branches(source: str, names=frozenset(REGISTRY)) -> list[tuple[int, str]]:
    """(line, what) for each test of a layer's type by name in `source`: `x.type` compared with a
    string or a literal collection (`==`, `in`), a string method of `x.type` (`startswith`,
    `removeprefix`, `lower`...), a literal table subscripted by `x.type`, and every string that is a
    registered layer type name (`names`) outside the arguments of an `emitter(...)` call (and but for
    the name of a module's attribute in generated code, `nn.dot("PReLU")`)."""
    tree = ast.parse(source)
    allowed: set[int] = set()  # the ids of the constants inside registration calls and of attribute names
    for node in ast.walk(tree):
        if _registration(node):
            allowed |= {id(c) for arg in (*node.args, *node.keywords) for c in ast.walk(arg)}
        elif _attribute_name(node):
            allowed.add(id(node.args[0]))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(map(_is_type, sides)) and any(map(_literal, sides)):
                found.append((node.lineno, "compares a type with a name"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_type(node.func.value):
            found.append((node.lineno, f"reads a type's name (.type.{node.func.attr})"))
        elif isinstance(node, ast.Subscript) and _is_type(node.slice) and _literal(node.value):
            found.append((node.lineno, "looks a type up in a table of names"))
        elif isinstance(node, ast.Constant) and node.value in names and id(node) not in allowed:
            found.append((node.lineno, f"names the layer type {node.value}"))
    return sorted(found)


def test_no_backend_or_pass_tests_a_layer_type_by_name():
    files = sorted(p for d in GUARDED for p in d.rglob("*.py"))
    assert len(files) > 30
    hits = [f"{p.relative_to(ROOT)}:{line}: {what}" for p in files for line, what in type_branches(p.read_text())]
    assert hits == []


def test_the_guard_finds_each_kind_of_type_test():
    probe = """
if layer.type == "Whatever":
    pass
ok = layer.type in ("A", "B")
ok = "A" != spec.type
ok = layer.type.startswith("Binary")
kind = layer.type.removeprefix("Logical")
fn = {"Sum": "sum"}[layer.type]
fn = "sum" if t == "Sum" else "mean"
TYPES = frozenset(["Sum"])
"""
    assert [line for line, _ in type_branches(probe, frozenset({"Sum"}))] == [2, 4, 5, 6, 7, 8, 8, 9, 10]


def test_the_guard_allows_registration_and_names_that_are_no_test():
    probe = """
@emitter("Sum")
def reduce(layer, ins, out, *, fn="sum"):
    return runtime.dot(layer.type)(x)
emitter(Sum=dict(fn="sum"), Mean=dict(fn="mean"))(reduce)
EMITTERS.emitter("Sum")(reduce)
module = NN.dot("Sum")(3)
spec = REGISTRY[layer.type]
same = layer.type == other.type
message = f"{layer.type} over {n} axes"
"""
    assert type_branches(probe, frozenset({"Sum"})) == []


def test_emitter_registers_one_lowering_per_type_with_its_own_arguments():
    table = Emitters("probe")

    @table.emitter("Sum", Mean=dict(fn="mean"), Max=dict(fn="amax"))
    def reduce(layer, ins, out, *, fn="sum"):
        return fn, layer, ins, out

    assert reduce(None, (), ()) == ("sum", None, (), ())  # the decorator returns the function itself
    assert {t: table[t]("L", ((3,),), (1,)) for t in table} == {
        "Sum": ("sum", "L", ((3,),), (1,)),
        "Mean": ("mean", "L", ((3,),), (1,)),
        "Max": ("amax", "L", ((3,),), (1,)),
    }
    with pytest.raises(ValueError, match="probe emitter for Mean registered twice"):
        table.emitter(Mean=dict(fn="mean"))(reduce)
    with pytest.raises(ValueError, match="probe emitter for Summ, which is no layer type"):
        table.emitter("Summ")(reduce)


def test_both_backends_register_through_the_one_helper():
    from nndsl.backends.keras.emit import EMITTERS as KERAS
    from nndsl.backends.torch.emit import EMITTERS as TORCH

    assert (type(TORCH), TORCH.backend, type(KERAS), KERAS.backend) == (Emitters, "torch", Emitters, "keras")


def test_the_templates_never_name_a_layer_type():
    for template in (ROOT / "templates").rglob("*"):
        if template.is_file() and template.suffix in (".py", ".j2"):
            text = template.read_text(encoding="utf-8")
            assert not [t for t in REGISTRY if f'"{t}"' in text or f"'{t}'" in text], template
