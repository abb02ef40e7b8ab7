"""One class per unit in generated model.py: a unit's instances merge into one class whose
constructor takes the unit's arguments, with the spec's conditions as `if`s and its repeats
as loops; where they cannot merge, the unit splits into as few classes as it needs. Every
merged model computes exactly what the model of one class per instance computes (the
builder's `MERGE_UNITS = False`), with the same parameter names."""

from __future__ import annotations

import ast
import re

import pytest
import torch
from conftest import import_generated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.backends import builder
from nndsl.backends.keras.render import render_model as keras_model
from nndsl.backends.torch import project_files
from nndsl.backends.torch.render import build, render_model
from nndsl.compiler import compile_file


def classes(text: str) -> list[str]:
    return [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]


def compiled(text: str):
    result = compile_file("spec.nnd", text=text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.project


def init_signature(text: str, cls: str) -> list[str]:
    tree = ast.parse(text)
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    (init,) = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
    return [a.arg for a in init.args.args[1:]]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("specs/resnet50.nnd", ["Bottleneck", "Stage", "ResNet", "Model"]),
        ("specs/resnet18.nnd", ["BasicBlock", "Stage", "ResNet", "Model"]),
        ("specs/vgg16.nnd", ["ConvStep", "ConvBlock", "VGG", "Model"]),
    ],
)
def test_one_torch_class_per_unit(spec, expected):
    text = render_model(compile_file(spec).project)
    assert classes(text) == expected
    assert not re.search(r"^\s*(\w+) = \1$", text, flags=re.M)  # no stray `h_2 = h` before a loop


def test_resnet50_bottleneck_takes_the_units_arguments():
    text = render_model(compile_file("specs/resnet50.nnd").project)
    assert init_signature(text, "Bottleneck") == [
        "in_channels",
        "maps",
        "stride",
        "project",
        "groups",
        "width_per_group",
        "epsilon",
    ]
    assert "if project:" in text and "if self.shortcut is not None:" in text
    assert "range(blocks - 1)" in text
    assert "BasicBlock" not in text  # Stage's other branch: no instance takes it


@pytest.mark.parametrize(
    "spec", ["specs/resnet50.nnd", "specs/resnet18.nnd", "specs/vgg16.nnd", "specs/cifar10_resnet.nnd"]
)
def test_keras_one_builder_class_per_unit_as_in_torch(spec):
    # Keras pads every padded convolution with an explicit ZeroPadding2D (never "same"), so a
    # unit's strided instances (the downsampling blocks) are the same code as the others and
    # merge: the same classes as torch's, with the same constructor arguments (and `prefix`), but
    # for `in_channels`, which Keras layers read from their input.
    project = compile_file(spec).project
    torch_text, keras_text = render_model(project), keras_model(project)
    assert classes(keras_text) == classes(torch_text)
    for cls in classes(torch_text)[:-1]:
        expected = [a for a in init_signature(torch_text, cls) if a != "in_channels"]
        assert init_signature(keras_text, cls) == ["prefix", *expected]


UNIT_ARGS = """
unit Block(maps: int, stride: int = 1, gate: bool = false) {
    in x
    h = x -> conv: Convolution(maps, kernel=3x3, stride=stride, pad=1x1) -> bn: BatchNormalization -> ReLU
    if gate {
        h = h -> gate_conv: Convolution(maps, kernel=1x1) -> Sigmoid
    }
    out h
}

unit Never(maps: int, extra: bool = false) {
    in x
    h = x -> conv: Convolution(maps, kernel=1x1)
    if extra {
        h = h -> more: Convolution(maps, kernel=1x1) -> Tanh
    }
    out h -> ReLU
}

unit Head(n: int) {
    in x
    out x -> c: Convolution(2, kernel=1x1) -> fc: Affine(n)
}

network Runtime {
    x = Input(3x8x8, dataset="x")
    a = x -> b1: Block(4) -> b2: Block(6, stride=2, gate=true) -> b3: Block(6) -> n1: Never(5) -> n2: Never(7)
    y' = a -> h1: Head(3)
    z = x -> h2: Head(3)
}
"""


def test_one_class_for_instances_with_different_arguments():
    text = render_model(compiled(UNIT_ARGS))
    assert classes(text) == ["Block", "Never", "Head", "Head2", "Model"]
    assert init_signature(text, "Block") == ["in_channels", "maps", "stride", "gate"]
    assert "if gate:" in text


def test_a_branch_no_instance_takes_generates_nothing():
    text = render_model(compiled(UNIT_ARGS))
    never = text[text.index("class Never") : text.index("class Head")]
    assert "more" not in never and "tanh" not in never and "if " not in never
    assert init_signature(text, "Never") == ["in_channels", "maps"]


LOOPS = """
unit Block(maps: int) {
    in x
    out x -> Convolution(maps, kernel=3x3, pad=1x1) -> ReLU -> MaxPooling(kernel=2x2)
}

network Runtime {
    x = Input(3x32x32, dataset="x")
    y = x
        -> stage: repeat row in [[8], [16], [32]] { Block(row[0]) }
        -> same: repeat 2 { Convolution(32, kernel=3x3, pad=1x1) -> ReLU }
}
"""


def test_a_loop_comments_every_copys_shape():
    """`h = step(h)` runs once per copy: where the copies' outputs differ (a table of widths, as
    VGG's blocks), its comment lists each copy's shape in order, never the last's alone."""
    project = compiled(LOOPS)
    net = project.network("Runtime")
    last = {layer.name.split(".")[0]: layer for layer in net.layers}  # each copy's last layer: stage[0], ...
    shapes = [net.values[layer.outputs[0]].shape for name, layer in last.items() if name != "Input"]
    assert shapes == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (32, 4, 4), (32, 4, 4)]
    for text, order in ((render_model(project), (0, 1, 2)), (keras_model(project), (1, 2, 0))):
        lines = [line.strip() for line in text.splitlines() if "_step(h)" in line]
        stage = ", ".join("x".join(str(s[i]) for i in order) for s in shapes[:3])
        same = "x".join(str(shapes[4][i]) for i in order)
        assert lines == [f"h = stage_step(h)  # {stage}", f"h = same_step(h)  # {same}"], lines


def test_fallback_split_names_and_docstrings():
    # Head's Affine takes 2*4*4 = 32 features in one instance and 2*8*8 = 128 in the other (its
    # convolution's output, not its input, whose sizes are `in_features`): nothing the unit knows
    # gives both, so it is two classes.
    text = render_model(compiled(UNIT_ARGS))
    assert "nn.Linear(32, n)" in text and "nn.Linear(128, n)" in text  # n: Head's own argument
    assert "one class for 1 of its 2 instances" in text


def _torch_model(project, tmp_path, name):
    out = tmp_path / name
    out.mkdir()
    for file, content in project_files(project, out).items():
        (out / file).parent.mkdir(parents=True, exist_ok=True)  # the runtime package's folders
        (out / file).write_text(content, encoding="utf-8")
    return import_generated(out).create_model()


def _same_outputs(project, tmp_path, inputs: dict) -> None:
    merged = _torch_model(project, tmp_path, "merged")
    builder.MERGE_UNITS = False
    try:
        reference = _torch_model(project, tmp_path, "split")
    finally:
        builder.MERGE_UNITS = True
    assert list(merged.state_dict()) == list(reference.state_dict())
    assert merged.PARAMETERS == reference.PARAMETERS
    reference.load_state_dict(merged.state_dict())
    for net in project.networks:
        names = merged.NETWORKS[net.name][1]
        feed = {n: inputs[n] for n in names}
        with torch.no_grad():
            a = merged.run_network(net.name, **feed)
            b = reference.run_network(net.name, **feed)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), k


def test_merged_and_split_models_compute_the_same(tmp_path):
    torch.manual_seed(0)
    _same_outputs(compiled(UNIT_ARGS), tmp_path, {"x": torch.randn(2, 3, 8, 8)})


@st.composite
def unit_specs(draw) -> str:
    """Units with arguments, a condition and a repeat, used with random arguments."""
    uses = []
    c = 2
    for k in range(draw(st.integers(1, 4))):
        maps = draw(st.sampled_from([2, 3, 4]))
        stride = draw(st.sampled_from([1, 2]))
        gate = draw(st.booleans())
        n = draw(st.integers(0, 2))
        uses.append(f"u{k}: Cell({maps}, stride={stride}, gate={str(gate).lower()}, n={n})")
        c = maps
    del c
    chain = " -> ".join(uses)
    return f"""
unit Cell(maps: int, stride: int = 1, gate: bool = false, n: int = 1) {{
    in x
    h = x -> conv: Convolution(maps, kernel=3x3, stride=stride, pad=1x1) -> bn: BatchNormalization
    s = h
    if gate {{
        s = h -> g: Convolution(maps, kernel=1x1, bias=false) -> Sigmoid
    }}
    h = Add2(h, s) -> ReLU
    out h -> more: repeat n {{ Convolution(maps, kernel=3x3, pad=1x1) -> ReLU }}
}}

network Runtime {{
    x = Input(2x8x8, dataset="x")
    y' = x -> {chain} -> MaxPooling(kernel=1x1)
}}
"""


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=unit_specs())
def test_random_unit_specs_merge_to_the_same_model(spec, tmp_path_factory):
    project = compiled(spec)
    m = build(project)
    assert [c.name for c in m.classes].count("Cell") == 1
    torch.manual_seed(0)
    _same_outputs(project, tmp_path_factory.mktemp("u"), {"x": torch.randn(2, 2, 8, 8)})


HOSTILE = """
unit U(nn: int, prefix: int = 1, k: bool = false, training: int = 2, x: int = 1, layers: int = 0) {
    in h
    a = h -> c: Convolution(nn, kernel=3x3, stride=prefix, pad=1x1)
    if k {
        a = a -> d: Convolution(nn, kernel=1x1)
    }
    out a -> e: repeat training { Convolution(nn, kernel=1x1) } -> MaxPooling(kernel=x, stride=x)
}

network Runtime {
    i = Input(3x8x8, dataset="x")
    y' = i -> a1: U(4) -> a2: U(5, prefix=2, k=true, training=1, x=2) -> a3: U(6, training=3)
}
"""


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("spec", [UNIT_ARGS, HOSTILE], ids=["unit_args", "hostile_names"])
def test_merged_classes_are_ruff_clean(spec, backend, tmp_path):
    """Unit arguments named like the generated module's names (`nn`, `layers`, `prefix`, `k`,
    `training`) are renamed; long constructor headers and conditional modules are as ruff writes them."""
    from test_generated_style import BACKENDS, ruff_clean

    BACKENDS[backend].generate(compiled(spec), tmp_path)
    ruff_clean(tmp_path, "model.py")


def test_hostile_names_compute_the_same(tmp_path):
    torch.manual_seed(0)
    _same_outputs(compiled(HOSTILE), tmp_path, {"i": torch.randn(2, 3, 8, 8)})


def _keras_model(project, tmp_path, name):
    from nndsl.backends.keras import generate

    out = tmp_path / name
    out.mkdir()
    generate(project, out)
    return import_generated(out).create_model()


PADS = """
unit C(maps: int, p: int = 1) {
    in x
    h = x -> conv: Convolution(maps, kernel=3x3, pad=[p, p]) -> ReLU
        -> MaxPooling(kernel=3x3, stride=1x1, pad=[p, p])
        -> AveragePooling(kernel=3x3, stride=1x1, pad=[p, p])
    out h
}

network Runtime {
    x = Input(3x8x8, dataset="x")
    y' = x -> a: C(4) -> b: C(4, p=0) -> c: C(4, p=2)
}
"""


@pytest.mark.parametrize(
    ("spec", "unit", "args"),
    [(UNIT_ARGS, "Block", ["maps", "stride", "gate"]), (PADS, "C", ["maps", "p"])],
    ids=["strides", "pads"],
)
def test_keras_merged_and_split_models_compute_the_same(spec, unit, args, tmp_path):
    # Block's strided instance (b2) and C's unpadded one (b) merge with the others in Keras
    # too (every padded convolution or pooling is an explicit ZeroPadding2D, or -inf pad, with
    # "valid", the pad an expression where instances differ): the merged model computes
    # exactly what one class per instance computes, with the same weight names.
    import numpy as np

    project = compiled(spec)
    text = keras_model(project)
    assert classes(text) == classes(render_model(project))
    assert init_signature(text, unit) == ["prefix", *args]
    merged = _keras_model(project, tmp_path, "merged")
    builder.MERGE_UNITS = False
    try:
        reference = _keras_model(project, tmp_path, "split")
    finally:
        builder.MERGE_UNITS = True
    assert len(classes((tmp_path / "split" / "model.py").read_text())) > len(classes(text))
    assert [w.path for w in merged.weights] == [w.path for w in reference.weights]
    for a, b in zip(merged.weights, reference.weights, strict=True):
        b.assign(a.numpy())
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    for net in project.networks:
        a, b = merged.run_network(net.name, x=x), reference.run_network(net.name, x=x)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
