"""Merged unit classes (`nndsl.backends.merge`): shape comments of a class for several instances
are expressions of its sizes, constants that are functions of the unit's arguments are those
functions, and fewer units split.

A symbolic shape comment is checked where it matters, in the generated model as it runs: each
commented statement of every unit class is followed by a check that evaluates the comment with
the instance's constructor arguments and its input's sizes and compares it with the tensor's
shape (both backends). The merged models compute what the model of one class per instance
(`builder.MERGE_UNITS = False`) computes, with the same parameter names."""

from __future__ import annotations

import ast
import inspect
import re

import numpy as np
import pytest
import torch
from conftest import ROOT, import_generated

from nndsl.backends import builder
from nndsl.backends.keras import generate as keras_generate
from nndsl.backends.keras.render import render_model as keras_model
from nndsl.backends.torch import project_files
from nndsl.backends.torch.render import render_model
from nndsl.compiler import compile_file


def compiled(text: str):
    result = compile_file("spec.nnd", text=text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.project


def classes(text: str) -> list[str]:
    return [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]


def class_source(text: str, name: str) -> str:
    (node,) = [n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name]
    return ast.get_source_segment(text, node)


# --- specs ---------------------------------------------------------------------------------------

# A small ResNet: Bottleneck and Stage as in specs/lib/resnet.nnd, on an 8x16x16 input.
RESNET = """
unit Bottleneck(maps: int, stride: int = 1, project: bool = false) {
    in x
    h = x -> conv1: Convolution(maps, kernel=1x1, with_bias=false) -> bn1: BatchNormalization -> ReLU
        -> conv2: Convolution(maps, kernel=3x3, stride=[stride, stride], pad=1x1, with_bias=false)
        -> bn2: BatchNormalization -> ReLU
        -> conv3: Convolution(4 * maps, kernel=1x1, with_bias=false) -> bn3: BatchNormalization
    s = x
    if project {
        s = x -> shortcut: Convolution(4 * maps, kernel=1x1, stride=[stride, stride], with_bias=false)
            -> shortcut_bn: BatchNormalization
    }
    out Add2(h, s) -> ReLU
}

unit Stage(blocks: int, maps: int, stride: int = 1) {
    in x
    out x -> first: Bottleneck(maps, stride=stride, project=true) -> block: repeat blocks - 1 { Bottleneck(maps) }
}

network Runtime {
    x = Input(8x16x16, dataset="x")
    y' = x -> s1: Stage(2, 4) -> s2: Stage(2, 8, stride=2) -> s3: Stage(1, 16, stride=2)
        -> GlobalAveragePooling -> fc: Affine(5) -> Softmax
}
"""

# Sizes no argument gives (a pooling whose halving is not the unit's), a 1-D input, an affine
# head whose inputs differ: `H/2`, `N`, and a `?` where nothing explains a size.
SIZES = """
unit Down(maps: int) {
    in x
    out x -> conv: Convolution(maps, kernel=3x3, pad=0x0) -> ReLU -> MaxPooling(kernel=2x2)
}

unit Dense(n: int) {
    in x
    out x -> fc: Affine(n) -> ReLU
}

network Runtime {
    x = Input(3x18x18, dataset="x")
    y' = x -> d1: Down(4) -> d2: Down(6) -> Reshape(out_shape=54) -> e1: Dense(7) -> e2: Dense(5)
}
"""

# Units a configuration table drives, as MobileNet's: a block whose hidden width is a constant of
# its body computed from its input's width (`round(x.shape[0] * t)`), with an expansion only where
# t != 1 and a residual add where the shape is kept; a squeeze width through `max` and `floor`; a
# stage of one table row (a list argument, indexed).
TABLE = """
unit Block(maps: int, stride: int = 1, t: int = 1) {
    in x
    hidden = round(x.shape[0] * t)
    h = x
    if t != 1 {
        h = h -> expand: Convolution(hidden, kernel=1x1, bias=false) -> expand_bn: BatchNormalization -> ReLU6
    }
    h = h -> dw: DepthwiseConvolution(kernel=3x3, stride=stride, pad=1x1, bias=false) -> ReLU6
        -> project: Convolution(maps, kernel=1x1, bias=false)
    if stride == 1 and x.shape[0] == maps {
        h = h + x
    }
    out h
}

unit Squeeze(ratio: float) {
    in x
    w = max(2, floor(x.shape[0] * ratio))
    out x * (x -> GlobalAveragePooling -> fc1: Convolution(w, kernel=1x1) -> ReLU
        -> fc2: Convolution(x.shape[0], kernel=1x1) -> Sigmoid)
}

unit Stage(row: list) {
    in x
    out x -> first: Block(row[1], stride=row[3], t=row[0]) -> block: repeat row[2] - 1 { Block(row[1], t=row[0]) }
        -> se: Squeeze(row[-1])
}

network Runtime {
    x = Input(4x16x16, dataset="x")
    y' = x -> stage: repeat row in [[1, 4, 1, 1, 0.5], [2, 8, 2, 2, 0.75], [3, 8, 3, 1, 0.25]] { Stage(row) }
        -> GlobalAveragePooling -> fc: Affine(3)
}
"""

SPECS = {"resnet": (RESNET, (8, 16, 16)), "sizes": (SIZES, (3, 18, 18)), "table": (TABLE, (4, 16, 16))}


# --- the comments, checked as the model runs ---------------------------------------------------------

NAMES = {1: "N", 2: "CL", 3: "CHW", 4: "CDHW"}  # docs/language.md: a class input's sizes


def _instrument(text: str) -> tuple[str, int]:
    """model.py with a check after each commented statement of the unit classes (and the number of
    symbolic comments it checks)."""
    lines = text.split("\n")
    out: list[str] = []
    cls = None
    first_arg = None
    target = indent = None
    symbolic = 0
    for line in lines:
        out.append(line)
        if m := re.match(r"class (\w+)", line):
            cls = m.group(1)
            continue
        if cls in (None, "Model"):
            continue
        if m := re.match(r"    def (?:forward|__call__)\(self, (\w+)", line):
            first_arg = m.group(1)
            continue
        if m := re.match(r"(\s+)(\w+(?:, \w+)*) = ", line):
            target, indent = m.group(2), m.group(1)
        if first_arg and target and (m := re.search(r"\)?  # (.+)$", line)):
            comment = m.group(1)
            symbolic += bool(re.search(r"[A-Za-z?]", comment))
            out.append(f"{indent}_nndsl_check(self, {first_arg}, ({target},), {comment!r})")
            target = None
    code = "\n".join(out)
    head = "from __future__ import annotations\n"
    return code.replace(head, head + "\nfrom shape_check import check as _nndsl_check\n", 1), symbolic


SHAPE_CHECK = """
CHECKED = []


def check(obj, x, values, comment):
    args = obj.__dict__.get("_nndsl_args", {})
    names = NAMES[len(x.shape) - 1]
    sizes = dict(zip(ORDER, x.shape[1:]))
    env = {**args, **sizes}
    parts = comment.split(", ")
    assert len(parts) == len(values), comment
    for part, value in zip(parts, values):
        dims = part.split(" x ") if " x " in part else part.split("x")
        got = tuple(value.shape[1:])
        assert len(dims) == len(got), (comment, got)
        for d, n in zip(dims, got):
            if d != "?":
                want = eval(d, {"__builtins__": {}}, env)
                CHECKED.append((type(obj).__name__, comment, d, want, n))
"""


def _record_args(module) -> None:
    """Each unit class keeps the arguments it was constructed with (what its comments name)."""
    for name, cls in vars(module).items():
        if not isinstance(cls, type) or name == "Model" or cls.__module__ != module.__name__:
            continue
        orig = cls.__init__

        def init(self, *a, __orig=orig, **k):
            bound = inspect.signature(__orig).bind(self, *a, **k)
            bound.apply_defaults()
            __orig(self, *a, **k)
            object.__setattr__(self, "_nndsl_args", {n: v for n, v in bound.arguments.items() if n != "self"})

        cls.__init__ = init


def _write_torch(project, out):
    out.mkdir()
    for file, content in project_files(project, out).items():
        (out / file).parent.mkdir(parents=True, exist_ok=True)
        (out / file).write_text(content, encoding="utf-8")


def _checked_model(project, backend: str, out, shape):
    if backend == "torch":
        _write_torch(project, out)
    else:
        out.mkdir()
        keras_generate(project, out)
    model_py = out / "model.py"
    text, symbolic = _instrument(model_py.read_text())
    model_py.write_text(text)
    # The input's size names in the backend's order: channels first in torch, last in Keras.
    order = "names" if backend == "torch" else "names[1:] + names[:1]"
    (out / "shape_check.py").write_text(f"NAMES = {NAMES!r}\n" + SHAPE_CHECK.replace("ORDER", order))
    module = import_generated(out)
    _record_args(module)
    model = module.create_model()
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    if backend == "torch":
        with torch.no_grad():
            model(torch.from_numpy(x))
    else:
        (name,) = model.NETWORKS["Runtime"][1]
        model.run_network("Runtime", **{name: x})
    return module._nndsl_check.__globals__["CHECKED"], symbolic


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("spec", SPECS)
def test_symbolic_shape_comments_hold_in_every_instance(spec, backend, tmp_path):
    text, shape = SPECS[spec]
    checked, symbolic = _checked_model(compiled(text), backend, tmp_path / "m", shape)
    assert symbolic > 0
    wrong = [c for c in checked if c[3] != c[4]]
    assert not wrong, wrong
    assert {d for _, _, d, _, _ in checked if not d.isdigit()}  # the expressions were evaluated


def test_resnet_bottleneck_comments_read_as_the_unit():
    text = render_model(compiled(RESNET))
    block = class_source(text, "Bottleneck")
    assert "h = self.conv1(x)  # maps x H x W" in block
    assert "h = self.conv3(h)  # 4*maps x H/stride x W/stride" in block
    assert "In a class for several instances" in text  # the module docstring says how to read them
    keras = class_source(keras_model(compiled(RESNET)), "Bottleneck")
    assert "# H/stride x W/stride x 4*maps" in keras  # channels last, as Keras holds them


def test_unexplained_sizes_are_question_marks_never_numbers():
    # Dense's output is n. Down: 3x18x18 -> 4x8x8 -> 6x3x3 (an unpadded 3x3 convolution, H-2, then
    # a 2x2 pooling): no candidate gives 8 and 3 from 18 and 8, so it is `?`.
    text = render_model(compiled(SIZES))
    dense = class_source(text, "Dense")
    assert "# n" in dense
    down = class_source(text, "Down")
    assert "# maps x H-2 x W-2" in down
    assert "# maps x ? x ?" in down  # (H-2)/2: no single candidate; shown as ?, not a number


# --- constants that are functions of the unit's arguments -------------------------------------------

# NNC's decay rate d is PyTorch's momentum 1 - d; a bias switched by a bool argument; groups that
# the rules refuse for an odd number of maps (so the argument is changed to an accepted value).
FUNCTIONS = """
unit B(maps: int, decay: float = 0.9, with_bias: bool = true, groups: int = 1) {
    in x
    out x -> conv: Convolution(maps, kernel=3x3, with_bias=with_bias, group=groups)
        -> bn: BatchNormalization(decay_rate=decay) -> ReLU
}

unit One(decay: float = 0.9, with_bias: bool = true) {
    in x
    out x -> conv: Convolution(6, kernel=1x1, with_bias=with_bias) -> bn: BatchNormalization(decay_rate=decay)
}

network Runtime {
    x = Input(4x8x8, dataset="x")
    y' = x -> b1: B(4) -> b2: B(4, decay=0.5, with_bias=false) -> b3: B(8, decay=0.99, groups=2)
        -> one: One(0.75, with_bias=false)
}
"""


def test_functions_of_arguments_merge_into_one_class():
    text = render_model(compiled(FUNCTIONS))
    assert classes(text) == ["B", "One", "Model"]  # before: B, B2, B3 (momentum, the bias's initializer)
    b = class_source(text, "B")
    assert "nn.BatchNorm2d(maps, eps=0.0001, momentum=1 - decay)" in b
    assert "nn.Conv2d(4, maps, kernel_size=3, padding=1, groups=groups, bias=with_bias)" in b
    assert "        if with_bias:\n            nn.init.zeros_(self.conv.bias)" in b
    keras = keras_model(compiled(FUNCTIONS))
    assert classes(keras) == ["B", "One", "Model"]
    assert "momentum=decay" in class_source(keras, "B")


def test_a_single_instance_takes_functions_of_its_arguments():
    # One's only instance: its momentum is 1 - decay and its bias with_bias, proven by emitting the
    # layers again with decay changed and with_bias flipped (a literal 0.25 or False is not a proof).
    one = class_source(render_model(compiled(FUNCTIONS)), "One")
    assert "def __init__(self, decay: float = 0.9, with_bias: bool = True)" in one
    assert "momentum=1 - decay" in one and "bias=with_bias" in one


def test_provenance_fits_affine_functions_and_negations():
    from nndsl.backends import merge

    # f(v, 2v + 1, 11, 8 - v): token 2 is v, token 4 is 2v + 1, 11 does not follow v, 8 - v does.
    before, afters = "f(5, 11, 11, 3)", ["f(6, 13, 11, 2)", "f(7, 15, 11, 1)"]
    assert merge.follows(before, afters, 5, [6, 7], 0) == {2: "0", 4: "0:2:1", 8: "0:-1:8"}
    # A float: round(1 - d, 12), as the torch emitter writes NNC's decay rate as momentum.
    d = [0.9, 0.9625, 0.8375]  # (1.025: the rules refuse a rate past 1)
    texts = [f"m({round(1 - x, 12)!r})" for x in d]
    assert merge.follows(texts[0], texts[1:], d[0], d[1:], 3) == {2: "3:-1:1"}
    assert merge.follows("g(True, False)", ["g(False, True)"], True, [False], 1) == {2: "1", 4: "1:not"}
    # Two points on a line but a third off it, a scale past 8: no function.
    assert merge.follows("h(2)", ["h(4)", "h(7)"], 1, [2, 3], 0) == {}
    assert merge.follows("h(10)", ["h(20)", "h(30)"], 1, [2, 3], 0) == {}


# --- merged and per-instance models compute the same ----------------------------------------------


def _per_instance(make):
    builder.MERGE_UNITS = False
    try:
        return make()
    finally:
        builder.MERGE_UNITS = True


def _torch_model(project, out):
    _write_torch(project, out)
    return import_generated(out).create_model()


def torch_same(project, tmp_path, shape) -> tuple[int, int]:
    """The merged model and the one of one class per instance: the same parameters (names and
    shapes), the same outputs, the same running statistics after a step in training mode. Their
    class counts."""
    merged = _torch_model(project, tmp_path / "merged")
    reference = _per_instance(lambda: _torch_model(project, tmp_path / "split"))
    assert merged.PARAMETERS == reference.PARAMETERS
    assert [(k, v.shape) for k, v in merged.state_dict().items()] == [
        (k, v.shape) for k, v in reference.state_dict().items()
    ]
    reference.load_state_dict(merged.state_dict())
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32))
    with torch.no_grad():
        merged.eval(), reference.eval()
        assert torch.equal(merged(x), reference(x))
        merged.train(), reference.train()
        torch.manual_seed(2)  # (the same dropout masks)
        a = merged(x)
        torch.manual_seed(2)
        assert torch.equal(a, reference(x))
    for (k, a), b in zip(merged.state_dict().items(), reference.state_dict().values(), strict=True):
        # momentum=1 - decay is 1 - 0.9 in float, where the per-instance code writes 0.1
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), k
    count = [len(classes((tmp_path / d / "model.py").read_text())) for d in ("merged", "split")]
    return count[0], count[1]


def _keras_model(project, out):
    out.mkdir()
    keras_generate(project, out)
    return import_generated(out).create_model()


def keras_same(project, tmp_path, shape) -> None:
    merged = _keras_model(project, tmp_path / "kmerged")
    reference = _per_instance(lambda: _keras_model(project, tmp_path / "ksplit"))
    assert [w.path for w in merged.weights] == [w.path for w in reference.weights]
    assert [tuple(w.shape) for w in merged.weights] == [tuple(w.shape) for w in reference.weights]
    for a, b in zip(merged.weights, reference.weights, strict=True):
        b.assign(a.numpy())
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(np.float32)
    (name,) = merged.NETWORKS["Runtime"][1]
    a, b = merged.run_network("Runtime", **{name: x}), reference.run_network("Runtime", **{name: x})
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_functions_of_arguments_compute_what_each_instance_does(tmp_path):
    torch.manual_seed(0)
    merged, split = torch_same(compiled(FUNCTIONS), tmp_path, (4, 8, 8))
    assert (merged, split) == (3, 5)
    keras_same(compiled(FUNCTIONS), tmp_path, (4, 8, 8))


# --- fewer fallback splits ---------------------------------------------------------------------------

# Realistic units that split (or failed) before: a DenseNet block, whose copies' input channels grow
# by `growth` from copy to copy (the model failed to generate: an internal error); a VGG block with
# `repeat n - 1` where n = 1 in some instances (no copies: no list, so a class of its own); a
# classifier head on feature maps of different sizes (nn.Linear's in_features).
SPLITS = """
unit ConvBNReLU(maps: int) {
    in x
    out x -> conv: Convolution(maps, kernel=3x3, pad=1x1, with_bias=false) -> bn: BatchNormalization -> ReLU
}

unit Block(maps: int, n: int) {
    in x
    out x -> first: ConvBNReLU(maps) -> rest: repeat n - 1 { ConvBNReLU(maps) } -> MaxPooling(kernel=2x2)
}

unit DenseLayer(growth: int) {
    in x
    h = x -> bn: BatchNormalization -> ReLU -> conv: Convolution(growth, kernel=3x3, pad=1x1, with_bias=false)
    out Concatenate(x, h)
}

unit DenseBlock(layers: int, growth: int) {
    in x
    out x -> layer: repeat layers { DenseLayer(growth) }
}

unit Classifier(n: int, p: float = 0.5) {
    in x
    out x -> Dropout(p=p) -> fc1: Affine(16) -> ReLU -> fc2: Affine(n)
}

network Runtime {
    x = Input(3x16x16, dataset="x")
    a = x -> b1: Block(4, 1) -> d1: DenseBlock(2, 2)
    b = a -> b2: Block(8, 2) -> d2: DenseBlock(3, 4) -> b3: Block(8, 1)
    y' = Add2(a -> aux: Classifier(5, p=0.2), b -> main: Classifier(5))
}
"""


def test_fewer_splits():
    project = compiled(SPLITS)
    text = render_model(project)
    # before: Block, Block2 (n = 1), Classifier, Classifier2, and no model at all (DenseBlock)
    assert classes(text) == ["ConvBNReLU", "Block", "DenseLayer", "DenseBlock", "Classifier", "Model"]
    # (only b2 has copies: their input channels are 8 there)
    assert "nn.ModuleList(ConvBNReLU(8, maps) for _ in range(n - 1))" in class_source(text, "Block")
    dense = class_source(text, "DenseBlock")
    assert "nn.ModuleList(DenseLayer(in_channels + growth * k, growth) for k in range(layers))" in dense
    assert "self.fc1 = nn.Linear(in_features, 16)" in class_source(text, "Classifier")
    # Keras's dense layer reads its input's size itself; its NNC layout names the input's shape
    # (affine_cl:8x4x4), which no argument gives: still two classes there.
    assert classes(keras_model(project)) == [
        "ConvBNReLU", "Block", "DenseLayer", "DenseBlock", "Classifier", "Classifier2", "Model"
    ]  # fmt: skip


def test_fewer_splits_compute_what_each_instance_does(tmp_path):
    torch.manual_seed(0)
    merged, split = torch_same(compiled(SPLITS), tmp_path, (3, 16, 16))
    assert merged < split
    keras_same(compiled(SPLITS), tmp_path, (3, 16, 16))


# A layer-bodied repeat with an index: the copy's index is an argument of the copy's class.
INDEXED = """
unit Pyramid(n: int, base: int) {
    in x
    out x -> step: repeat i in n { Convolution(base * (i + 1), kernel=3x3, pad=1x1) -> ReLU }
}

network Runtime {
    x = Input(3x8x8, dataset="x")
    y' = x -> p1: Pyramid(3, 4) -> p2: Pyramid(2, 8)
}
"""


def test_a_repeats_index_is_an_argument_of_its_copies_class(tmp_path):
    project = compiled(INDEXED)
    text = render_model(project)
    # before: StepStep, StepStep2, StepStep3 (one per index), Pyramid, Pyramid2
    assert classes(text) == ["StepStep", "Pyramid", "Pyramid2", "Model"]
    assert "nn.Conv2d(in_channels, base * (i + 1), kernel_size=3, padding=1)" in class_source(text, "StepStep")
    # Keras reads the input channels itself: one Pyramid too, its copies' indexes the loop's k.
    keras = keras_model(project)
    assert classes(keras) == ["StepStep", "Pyramid", "Model"]
    assert 'StepStep(f"{prefix}step.{k}.", base, k) for k in range(n)' in class_source(keras, "Pyramid")
    torch.manual_seed(0)
    torch_same(project, tmp_path, (3, 8, 8))
    keras_same(project, tmp_path, (3, 8, 8))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_new_expressions_are_ruff_clean(backend, tmp_path):
    from test_generated_style import BACKENDS, ruff_clean

    for k, spec in enumerate([RESNET, SIZES, FUNCTIONS, SPLITS, INDEXED, TABLE, ODD_EVEN, TOWERS]):
        out = tmp_path / str(k)
        out.mkdir()
        BACKENDS[backend].generate(compiled(spec), out)
        ruff_clean(out, "model.py")


# --- units a configuration table drives ----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_table_driven_units_are_one_class_each(backend):
    # before: Block, Block2, Block3, Squeeze, Squeeze2, Stage, Stage2, Stage3 (torch; Keras one Block
    # fewer): `row[1]`, `x.shape[0]`, `round`, `floor` had no Python, nor had a body's constant
    text = (render_model if backend == "torch" else keras_model)(compiled(TABLE))
    assert classes(text)[:-1] == ["Block", "Squeeze", "Stage"]
    block = class_source(text, "Block")
    assert "        hidden = round(in_channels * t)\n" in block  # the body's constant, a local, used by name
    assert "self.in_channels, self.maps, self.stride = in_channels, maps, stride" in block
    assert "h_2 = h + x if self.stride == 1 and self.in_channels == self.maps else h" in block  # no module to test
    assert "if t != 1:\n" in block
    squeeze = class_source(text, "Squeeze")
    assert "w = max(2, math.floor(in_channels * ratio))" in squeeze
    assert "\nimport math\n" in text
    stage = class_source(text, "Stage")
    assert "row: tuple" in stage
    prefix = "" if backend == "torch" else 'prefix + "first.", '
    assert f"self.first = Block({prefix}in_channels, row[1], stride=row[3], t=row[0])" in stage
    assert "range(row[2] - 1)" in stage and "Squeeze(" in stage and "row[-1])" in stage


def test_table_driven_units_compute_what_each_instance_does(tmp_path):
    torch.manual_seed(0)
    merged, split = torch_same(compiled(TABLE), tmp_path, (4, 16, 16))
    assert (merged, split) == (4, 13)  # one class per instance: 6 Block, 3 Squeeze, 3 Stage
    keras_same(compiled(TABLE), tmp_path, (4, 16, 16))


def test_a_rebound_input_has_no_shape_in_the_constructor():
    # `x` rebound: `x.shape[0]` after it is the convolution's width, not the input's, so the merge
    # must not write it as in_channels; the widths still come out right (checked in every instance).
    spec = """
unit Wide(maps: int) {
    in x
    x = x -> conv: Convolution(maps, kernel=1x1)
    out x -> fc: Convolution(2 * x.shape[0], kernel=1x1)
}

network Runtime {
    x = Input(3x4x4, dataset="x")
    y' = x -> a: Wide(4) -> b: Wide(6)
}
"""
    text = render_model(compiled(spec))
    assert classes(text) == ["Wide", "Model"]
    wide = class_source(text, "Wide")
    assert "nn.Conv2d(maps, 2 * maps, kernel_size=1)" in wide
    assert "in_channels * 2" not in wide and "2 * in_channels" not in wide.split("self.fc")[1]


# A label in both branches of an `if`: two modules of one attribute name, one in each instance. Before,
# the merged constructor assigned the attribute twice (the second `None` where the first was built).
BRANCHES = """
unit Gate(hard: bool) {
    in x
    if hard {
        g = x -> fc: Convolution(x.shape[0], kernel=1x1) -> Sigmoid
    } else {
        g = x -> fc: Convolution(x.shape[0], kernel=3x3) -> Tanh
    }
    out x * g
}

network Runtime {
    x = Input(4x6x6, dataset="x")
    y' = x -> a: Gate(true) -> b: Gate(false) -> c: Gate(true)
}
"""


def test_a_label_in_both_branches_of_an_if_builds_each_module(tmp_path):
    assert classes(render_model(compiled(BRANCHES))) == ["Gate", "Gate2", "Model"]
    torch.manual_seed(0)
    torch_same(compiled(BRANCHES), tmp_path, (4, 6, 6))
    keras_same(compiled(BRANCHES), tmp_path, (4, 6, 6))


# An `if` on the input's size (xception's DownBlock): the constructor cannot know it, the forward
# reads it from the tensor, and its two branches are one `if`/`else` binding the same variable.
ODD_EVEN = """
unit Down(maps: int) {
    in x
    h = x -> conv: Convolution(maps, kernel=3x3, pad=1x1)
    if x.shape[1] % 2 == 1 {
        h = h -> pool: MaxPooling(kernel=3x3, stride=2x2, pad=1x1)
    } else {
        h = h -> pool: MaxPooling(kernel=3x3, stride=2x2, ignore_border=false)
    }
    out h -> ReLU
}

network Runtime {
    x = Input(3x15x15, dataset="x")
    y' = x -> a: Down(4) -> b: Down(6) -> c: Down(8) -> d: Down(8)
}
"""


def test_an_if_on_the_inputs_size_is_an_if_else_in_the_forward(tmp_path):
    """15 -> 8 -> 4 -> 2 -> 1: odd, even, even, even. One class, whose forward tests the tensor's
    size once and binds `h` in both branches; it computes what the per-instance classes do."""
    torch_text = render_model(compiled(ODD_EVEN))
    assert classes(torch_text) == ["Down", "Model"]
    body = class_source(torch_text, "Down").split("def forward")[1]
    assert re.search(r"\n        if x\.shape\[2\] % 2 == 1:\n            h = F\.max_pool2d\(h, .*\n        else:\n"
                     r"            h = nnc_layers\.pooling\(h, ", body), body  # fmt: skip
    assert len(re.findall(r"\bif\b", body)) == 1, body  # (no conditional expression beside it)
    keras_text = keras_model(compiled(ODD_EVEN))
    assert classes(keras_text) == ["Down", "Model"]
    assert "\n        if x.shape[1] % 2 == 1:\n" in class_source(keras_text, "Down")
    assert torch_same(compiled(ODD_EVEN), tmp_path, (3, 15, 15)) == (2, 5)
    keras_same(compiled(ODD_EVEN), tmp_path, (3, 15, 15))


# Shape arguments (tuples in the constructor), a repeat over a list argument (its copies built in
# a loop, the first on the unit's input, the next on the last one's width, the head on the list's
# last), and sizes only the input's tensor gives (a reshape over its sizes, in the forward).
TOWERS = """
unit Conv(maps: int, kernel: shape = 1x1, stride: shape = 1x1, pad: shape = 0x0) {
    in x
    out x -> conv: Convolution(maps, kernel=kernel, stride=stride, pad=pad, with_bias=false)
        -> bn: BatchNormalization -> ReLU
}

unit Tower(widths: list) {
    in x
    h = x -> conv: repeat w in widths { Conv(w, kernel=3x3, pad=1x1) }
    h = h -> head: Conv(x.shape[0], kernel=1x3, pad=0x1)
    out Reshape(h, out_shape=[x.shape[0], x.shape[1] * x.shape[2]]) -> Reshape(out_shape=x.shape)
}

network Runtime {
    x = Input(3x8x8, dataset="x")
    y' = x -> a: Tower([4, 6]) -> b: Tower([5]) -> c: Conv(8, kernel=3x3, stride=2x2, pad=1x1)
        -> e: Tower([2, 2, 3]) -> d: Conv(8) -> GlobalAveragePooling -> fc: Affine(3)
}
"""


def test_shape_and_list_arguments_and_the_inputs_sizes_merge(tmp_path):
    text = render_model(compiled(TOWERS))
    assert classes(text) == ["Conv", "Tower", "Model"]
    tower = class_source(text, "Tower")
    assert "Conv(in_channels if k == 0 else widths[k - 1], widths[k], kernel=(3, 3), pad=(1, 1))" in tower
    assert "for k in range(len(widths))" in tower
    assert "self.head = Conv(widths[-1], in_channels, kernel=(1, 3), pad=(0, 1))" in tower
    assert "h.reshape(-1, self.in_channels, x.shape[2] * x.shape[3])" in tower
    assert "kernel: tuple[int, ...] = (1, 1)" in class_source(text, "Conv")
    assert classes(keras_model(compiled(TOWERS))) == ["Conv", "Tower", "Model"]
    assert torch_same(compiled(TOWERS), tmp_path, (3, 8, 8)) == (3, 15)  # (11 Conv, 3 Tower, Model)
    keras_same(compiled(TOWERS), tmp_path, (3, 8, 8))


# --- the zoo: one class per unit -------------------------------------------------------------------

ONE_CLASS_EACH = ["xception", "inception_v3", "googlenet", "shufflenet_v2_x1_0", "densenet161", "densenet121",
                  "mobilenet", "mobilenet_v2", "mobilenet_v3_large", "squeezenet1_1", "efficientnet_b0", "resnet50",
                  "vgg16", "unet", "se_resnet50", "resnext50_32x4d"]  # fmt: skip


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("spec", ONE_CLASS_EACH)
def test_each_zoo_unit_is_one_class(spec, backend):
    """The golden model.py (tests/test_generated_golden.py holds it equal to what is generated) has one
    class per unit the model uses: no `Unit2` beside `Unit`; what each computes is the zoo's tests'."""
    text = (ROOT / "tests" / "generated" / f"{spec}.{backend}" / "model.py").read_text(encoding="utf-8")
    names = classes(text)
    units = compile_file(ROOT / "specs" / f"{spec}.nnd").units
    split = [n for n in names if n.rstrip("0123456789") != n and n.rstrip("0123456789") in units]
    assert split == [], f"{spec} ({backend}): {names}"
    assert len(names) == len(set(names))
