"""Scope-less unit calls, `_: Unit(...)`: the unit's layers are named in the caller's scope
(NNC's Unit layer with an empty ParameterScope).

The rules (docs/language.md, "Names of layers"): the body names its layers as the unit does, and
they are layers of the caller's scope: a name the caller has already used there, or takes later
as a label, is E0206 at the call (so two scope-less calls of one unit in one scope are); `_`
labels unit calls only (E0213 on a layer or a repeat); in a repeat, the copy's index applies as
in any scope (`repeat[0].conv1`, nnabla `[0]/conv1/conv/W`, as NNC names it); both backends
name the parameters after the caller (`conv1/W`), so networks share them by name.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_generated

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.nnc.names import nnc_parameter_table
from nndsl.syntax.parser import parse

UNITS = """\
unit Block(maps: int = 2) {
    in x
    out x -> conv1: Convolution(maps, kernel=1x1) -> ReLU
}

unit Model {
    in x
    out x -> _: Block -> stage: Block -> repeat 2 { _: Block } -> fc: Affine(3)
}
"""

SHARED = (
    UNITS
    + """
network A {
    x = Input(1x4x4, dataset="x")
    y' = x -> _: Model
}

network B {
    x = Input(1x4x4, dataset="x")
    y' = x -> _: Model -> Identity
}
"""
)


def _compile(text: str, tmp_path=None):
    return compile_file("t.nnd", text=text)


def _errors(text: str) -> list:
    result = _compile(text)
    return [d for d in result.diagnostics if d.severity == "error"]


def test_fmt_keeps_scope_less_calls_and_is_canonical():
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    a, b = _: Split2(x)
    y' = Add2(a, b) -> _: Model
}

unit Split2 {
    in x
    out x -> left: ReLU, x -> right: Sigmoid
}
"""
    )
    module, diagnostics = parse(text, "t.nnd")
    assert not diagnostics
    formatted = format_module(module)
    assert formatted == text
    assert "a, b = _: Split2(x)" in formatted and "-> _: Model" in formatted
    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    names = {layer.name for layer in result.project.network("N").layers}
    assert {"left", "right", "conv1", "stage.conv1", "repeat[0].conv1", "repeat[1].conv1", "fc"} <= names


def test_parameters_are_named_in_the_callers_scope():
    result = _compile(SHARED)
    assert result.ok, [str(d) for d in result.diagnostics]
    table = nnc_parameter_table(result.project)
    assert set(table) == {
        "conv1/W",
        "conv1/b",
        "stage/conv1/W",
        "stage/conv1/b",
        "repeat[0]/conv1/W",
        "repeat[0]/conv1/b",
        "repeat[1]/conv1/W",
        "repeat[1]/conv1/b",
        "fc/W",
        "fc/b",
    }
    # nnabla's names, as NNC's create_prototxt gives them (tests/nnc/test_scopeless_units.py)
    assert table["conv1/W"][0] == "conv1/conv/W"
    assert table["repeat[1]/conv1/W"][0] == "[1]/conv1/conv/W"
    assert table["stage/conv1/W"][0] == "stage/conv1/conv/W"
    a, b = (result.project.network(n) for n in "AB")
    assert {x.name for x in a.layers if x.parameters} == {x.name for x in b.layers if x.parameters}


def test_a_scope_less_call_inside_a_scoped_instance_is_named_in_that_instance():
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    y' = x -> net: Model
}
"""
    )
    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    names = {layer.name for layer in result.project.network("N").layers if layer.parameters}
    assert names == {"net.conv1", "net.stage.conv1", "net.repeat[0].conv1", "net.repeat[1].conv1", "net.fc"}


def test_a_name_the_caller_already_uses_is_an_error_at_the_call():
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    y' = x -> conv1: Convolution(1, kernel=1x1) -> _: Block
}
"""
    )
    errors = _errors(text)
    clash = [d for d in errors if d.code == "E0206"]
    assert len(clash) == 1
    line = text.splitlines().index("    y' = x -> conv1: Convolution(1, kernel=1x1) -> _: Block") + 1
    d = clash[0]
    assert (d.span.line, d.span.col) == (line, text.splitlines()[line - 1].index("_: Block") + 1)
    assert "'conv1'" in d.message
    assert [n.span.line for n in d.notes] == [line, 3]  # the caller's layer, then the unit's


def test_two_scope_less_calls_of_one_unit_in_one_scope_collide():
    """Their parameters would merge (NNC would share them): E0206 at the second call."""
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    y' = x -> _: Block -> _: Block
}
"""
    )
    errors = [d for d in _errors(text) if d.code == "E0206"]
    assert errors
    line = len(text.splitlines()) - 1
    second = text.splitlines()[line - 1].rindex("_: Block") + 1
    assert all((d.span.line, d.span.col) == (line, second) for d in errors)


def test_a_later_label_of_the_caller_collides_with_the_units_layer():
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    y' = x -> _: Block -> conv1: Convolution(1, kernel=1x1)
}
"""
    )
    errors = [d for d in _errors(text) if d.code == "E0206"]
    assert len(errors) == 1
    assert errors[0].span.col == text.splitlines()[-2].index("conv1:") + 1


def test_later_unlabelled_layers_of_the_caller_skip_the_units_names():
    text = (
        UNITS
        + """
network N {
    x = Input(1x4x4, dataset="x")
    y' = x -> _: Block -> ReLU
}
"""
    )
    result = _compile(text)
    assert result.ok, [str(d) for d in result.diagnostics]
    assert [layer.name for layer in result.project.network("N").layers] == ["Input", "conv1", "ReLU", "ReLU_2"]


@pytest.mark.parametrize(
    ("stage", "what"),
    [("_: ReLU", "the layer ReLU"), ("_: repeat 2 { ReLU }", "a repeat")],
)
def test_the_scope_less_label_is_for_unit_calls_only(stage, what):
    text = f"""\
network N {{
    x = Input(1x4x4, dataset="x")
    y' = x -> {stage}
}}
"""
    errors = _errors(text)
    assert [d.code for d in errors] == ["E0213"]
    assert what in errors[0].message
    assert (errors[0].span.line, errors[0].span.col) == (3, text.splitlines()[2].index("_:") + 1)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_both_backends_name_the_parameters_after_the_caller_and_share_them(backend, tmp_path):
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    result = _compile(SHARED)
    assert result.ok
    generate = {"torch": torch_backend, "keras": keras_backend}[backend].generate
    generate(result.project, tmp_path)
    module = import_generated(tmp_path)
    model = module.create_model()
    table = nnc_parameter_table(result.project)
    assert {k: v[0] for k, v in module.Model.nnabla_names().items()} == {k: v[0] for k, v in table.items()}
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32)
    if backend == "torch":
        import torch

        with torch.no_grad():
            ya = model.run_network("A", x=torch.from_numpy(x))["y'"].numpy()
            yb = model.run_network("B", x=torch.from_numpy(x))["y'"].numpy()
        # the scope-less instances' layers are the network's own attributes: no `Model.` or `Block.`
        assert {k.rsplit(".", 1)[0] for k in model.state_dict()} == {
            "conv1",
            "stage.conv1",
            "repeat.0.conv1",
            "repeat.1.conv1",
            "fc",
        }
    else:
        ya = model.run_network("A", x=x)["y'"]
        yb = model.run_network("B", x=x)["y'"]
    assert ya.shape == (2, 3)
    assert np.array_equal(ya, yb)  # one set of parameters, whichever network runs
    # and saved under the caller-scoped names
    model.save_params(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as saved:
        assert set(saved.files) == set(table)
