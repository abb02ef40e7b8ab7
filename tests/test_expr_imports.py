"""A generated model.py imports exactly the modules its code uses: the conditional imports come from
what the expression printer recorded (`ModelRender.imports`), not from a guess over the text. Each
file's module-level imports are compared with the module names its code loads (Python's own parse)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nndsl.backends.keras.render import build as keras_build
from nndsl.backends.keras.render import render_model as keras_model
from nndsl.backends.torch.render import build as torch_build
from nndsl.backends.torch.render import render_model as torch_model
from nndsl.compiler import compile_file

SPECS = Path(__file__).resolve().parent.parent / "specs"

# Stateless operators only: no `F` in torch, no `layers`/`initializers` in Keras.
PLAIN = """network Runtime {
    x = Input(4)
    y = Input(4)
    z = Add2(x, y) -> MulScalar(value=2.0)
}
"""
# A constant initializer other than 0 and 1 (Keras: `initializers.Constant`), a functional op (torch: `F`).
CONSTANT = """network Runtime {
    x = Input(4)
    z = x -> Affine(3, w_init="Constant", w_init_multiplier=0.5) -> ReLU
}
"""


def _imports_and_uses(text: str) -> tuple[set[str], set[str]]:
    tree = ast.parse(text)
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            imported |= {a.asname or a.name for a in node.names}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return imported, used


def _project(text: str | None, spec: str | None):
    result = compile_file(str(SPECS / spec)) if spec else compile_file("m.nnd", text=text)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


CASES = [("plain", PLAIN, None), ("constant", CONSTANT, None), ("lenet", None, "lenet.nnd"),
         ("digits", None, "digits.nnd")]  # fmt: skip


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize(("label", "text", "spec"), CASES, ids=[c[0] for c in CASES])
def test_model_imports_exactly_what_its_code_uses(backend, label, text, spec):
    project = _project(text, spec)
    build, render = (torch_build, torch_model) if backend == "torch" else (keras_build, keras_model)
    m = build(project)
    code = render(project, m)
    imported, used = _imports_and_uses(code)
    assert imported <= used, sorted(imported - used)  # nothing imported that the code does not use
    # Every module the printer recorded is imported, and nothing it did not record is imported
    # beyond the template's own (the names the template's code always uses).
    assert set(m.imports) <= imported
    own = {"torch": {"os", "Path", "np", "torch", "nn", "nnc", "read_parameter_table"},
           "keras": {"os", "Path", "np", "keras", "ops", "nnc", "read_parameter_table"}}[backend]  # fmt: skip
    assert imported - own <= set(m.imports), sorted(imported - own - set(m.imports))


def test_the_recorded_imports_follow_the_layers():
    plain, constant = _project(PLAIN, None), _project(CONSTANT, None)
    assert "F" not in torch_build(plain).imports
    assert "F" in torch_build(constant).imports
    assert {"layers", "initializers"}.isdisjoint(keras_build(plain).imports)
    assert {"layers", "initializers"} <= set(keras_build(constant).imports)
    assert keras_build(constant).imports["initializers"] == "from keras import initializers"
