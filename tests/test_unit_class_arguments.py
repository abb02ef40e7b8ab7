"""A unit's arguments in its generated class: a constant of a layer's code is the spec's
expression for one of the layer's arguments exactly where it IS that argument's value (the
builder emits the layer again with the value changed and sees which constants follow), in
every instance the class stands for; a constant that only happens to be equal stays a
number. A unit argument the class then uses is a constructor argument; one it does not use
stays out. The models compute what the model of one class per instance computes."""

from __future__ import annotations

import ast

import torch
from conftest import import_generated

from nndsl.backends import builder
from nndsl.backends.keras.render import render_model as keras_model
from nndsl.backends.torch import project_files
from nndsl.backends.torch.render import render_model
from nndsl.compiler import compile_file

# One instance of Net, where width = 8 = the input's channels: c1's and c2's input channels
# (the input's and c1's output shape) and c3's literal 8 only equal `width`; `Affine(classes)` is
# the argument, `Affine(10)` a literal equal to it; `2 * width` a function of `width`.
SINGLE = """
unit Net(width: int = 8, classes: int = 10, unused: bool = false) {
    in x
    h = x
        -> c1: Convolution(width, kernel=3x3, pad=1x1)
        -> ReLU
        -> c2: Convolution(2 * width, kernel=1x1)
        -> c3: Convolution(8, kernel=1x1)
        -> GlobalAveragePooling
    a = h -> fc: Affine(classes)
    b = h -> aux: Affine(10)
    out Add2(a, b)
}

network Runtime {
    x = Input(8x6x6, dataset="x")
    y' = x -> net: Net
}
"""


def compiled(text: str):
    result = compile_file("spec.nnd", text=text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.project


def class_source(text: str, name: str) -> str:
    (node,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name]
    return ast.get_source_segment(text, node)


def init_signature(text: str, name: str) -> list[str]:
    (node,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name]
    (init,) = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
    return [a.arg for a in init.args.args[1:]]


def test_a_single_instance_takes_the_arguments_its_layers_are_given():
    text = render_model(compiled(SINGLE))
    net = class_source(text, "Net")
    assert init_signature(text, "Net") == ["width", "classes"]  # `unused`: no layer uses it
    assert "nn.Conv2d(8, width, kernel_size=3, padding=1)" in net
    assert "nn.Conv2d(8, 2 * width, kernel_size=1)" in net
    assert "nn.Linear(8, classes)" in net
    assert "self.net = Net()" in text  # the spec gives no arguments: the defaults are the values


def test_a_coincidentally_equal_constant_stays_a_number():
    net = class_source(render_model(compiled(SINGLE)), "Net")
    assert "nn.Conv2d(8, width," in net and "nn.Conv2d(width, width" not in net
    assert "nn.Conv2d(8, 2 * width," in net and "nn.Conv2d(width, 2 * width" not in net
    assert "nn.Conv2d(16, 8, kernel_size=1)" in net  # c3's literal 8
    assert "nn.Linear(8, classes)" in net and "nn.Linear(width" not in net
    assert "nn.Linear(8, 10)" in net  # aux's literal 10


def test_keras_classes_take_the_arguments_too():
    text = keras_model(compiled(SINGLE))
    net = class_source(text, "Net")
    assert init_signature(text, "Net") == ["prefix", "width", "classes"]
    assert "layers.Dense(\n            classes," in net or "layers.Dense(classes," in net
    assert "layers.Dense(\n            10," in net or "layers.Dense(10," in net


def test_an_argument_the_instances_all_give_the_same_is_the_argument():
    # Both projecting BasicBlocks of resnet18 stride by 2 in their shortcut: `stride`, not 2.
    text = render_model(compile_file("specs/resnet18.nnd").project)
    block = class_source(text, "BasicBlock")
    assert "self.shortcut = nn.Conv2d(in_channels, maps, kernel_size=1, stride=stride, bias=False)" in block
    resnet = class_source(text, "ResNet")
    assert init_signature(text, "ResNet") == ["d1", "d2", "d3", "d4", "classes", "epsilon"]  # not `bottleneck`
    assert "nn.Linear(512, classes)" in resnet


def _torch_model(project, out):
    out.mkdir()
    for file, content in project_files(project, out).items():
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        (out / file).write_text(content, encoding="utf-8")
    return import_generated(out).create_model()


def test_the_class_with_arguments_computes_what_the_instance_does(tmp_path):
    project = compiled(SINGLE)
    torch.manual_seed(0)
    merged = _torch_model(project, tmp_path / "merged")
    builder.MERGE_UNITS = False
    try:
        reference = _torch_model(project, tmp_path / "split")
    finally:
        builder.MERGE_UNITS = True
    assert list(merged.state_dict()) == list(reference.state_dict())
    assert [v.shape for v in merged.state_dict().values()] == [v.shape for v in reference.state_dict().values()]
    reference.load_state_dict(merged.state_dict())
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(merged(x), reference(x))
