"""Constant expressions for configuration tables (issue 12): built-in functions, lists as unit
arguments with indexing and iteration (`repeat row in cfg`), and a tensor's shape (`x.shape`)."""

import dataclasses
import json
import math
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.diagnostics import CompileError
from nndsl.fmt import format_module
from nndsl.limits import MAX_LIST_ITEMS
from nndsl.passes.values import eval_const
from nndsl.syntax import ast
from nndsl.syntax.parser import parse


def compile_text(src: str, **kw):
    return compile_file("t.nnd", text=textwrap.dedent(src), **kw)


def errors(src: str, **kw) -> list:
    return [d for d in compile_text(src, **kw).diagnostics if d.severity == "error"]


def const(text: str):
    """Evaluate a constant expression as a unit argument's default does."""
    module, diags = parse(f"unit U(a: int = {text}) {{\n    in x\n    out x\n}}\n", "t.nnd")
    assert not diags, diags
    return eval_const(module.items[0].params[0].default, lambda name: pytest.fail(name.id))


def summary_json(capsys, path) -> dict:
    assert main(["summary", str(path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- built-in functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "int(-2.7)",
        "int(2.7)",
        "int(7)",
        "round(2.5)",
        "round(3.5)",
        "round(-0.5)",
        "round(2.675, 2)",
        "floor(-1.5)",
        "ceil(1.2)",
        "ceil(-1.2)",
        "abs(-3)",
        "abs(-2.5)",
        "float(3) / 2",
        "min(3, 1, 2)",
        "max(3, 1.5)",
        "max([4, 9, 2])",
        "min([4, 9, 2]) + len([1, 2, 3])",
        "len(3x32x32)",
        'len("abc")',
        "int(max(8, int(37 * 0.75 + 4) // 8 * 8))",
        "[[1, 16], [6, 24]][1][0]",
        "[1, 2, 3][-1]",
        "3x32x32[0] * 2",
    ],
)
def test_builtins_and_indexing_evaluate_as_python_does(text):
    want = eval(text.replace("3x32x32", "(3, 32, 32)"), {"floor": math.floor, "ceil": math.ceil})  # noqa: S307
    got = const(text)
    if isinstance(want, list):
        want = tuple(want)
    assert got == want and type(got) is type(want)


def test_make_divisible_written_with_int_and_max_is_torchvisions():
    utils = pytest.importorskip("torchvision.models._utils")
    src = "unit U(v: float, m: int = max(8, int(v + 4) // 8 * 8)) {\n    in x\n    out x\n}\n"
    module, _ = parse(src, "t.nnd")
    default = module.items[0].params[1].default
    for v in [c * w for c in (16, 24, 32, 64, 96, 160, 320, 1280) for w in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)]:
        m = eval_const(default, lambda name, v=v: v)
        if m < 0.9 * v:  # the spec's `if` beside the expression
            m += 8
        assert m == utils._make_divisible(v, 8), v


# --- the MobileNetV2 and VGG tables ----------------------------------------------------------

MOBILENET_V2 = """\
# MobileNetV2 as torchvision builds it: inverted residual blocks driven by a table.
unit ConvBNReLU(maps: int, k: int = 3, stride: int = 1, group: int = 1) {
    in x
    out x
        -> Convolution(maps, kernel=[k, k], stride=[stride, stride], pad=[k // 2, k // 2], group=group, bias=false)
        -> BatchNormalization
        -> ReLU6
}

# Its width is read from its input: `x.shape[0]`.
unit InvertedResidual(maps: int, stride: int, t: int) {
    in x
    inp = x.shape[0]
    hidden = round(inp * t)
    h = x
    if t != 1 {
        h = x -> expand: ConvBNReLU(hidden, k=1)
    }
    h = h
        -> dw: ConvBNReLU(hidden, stride=stride, group=hidden)
        -> project: Convolution(maps, kernel=1x1, bias=false)
        -> BatchNormalization
    if stride == 1 and inp == maps {
        h = Add2(x, h)
    }
    out h
}

# One row of the table: expansion t, width c, blocks n, first stride s; c made divisible by 8.
unit Stage(row: list, width: float = 1.0) {
    in x
    v = row[1] * width
    maps = max(8, int(v + 4) // 8 * 8)
    if maps < 0.9 * v {
        maps = maps + 8
    }
    out x
        -> first: InvertedResidual(maps, row[3], row[0])
        -> block: repeat row[2] - 1 { InvertedResidual(maps, 1, row[0]) }
}

unit MobileNetV2(
    width: float = 1.0,
    classes: int = 1000,
    cfg: list = [
        [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]
    ],
) {
    in x
    out x
        -> stem: ConvBNReLU(max(8, int(32 * width + 4) // 8 * 8), stride=2)
        -> stage: repeat row in cfg { Stage(row, width) }
        -> last: ConvBNReLU(max(8, int(1280 * max(1.0, width) + 4) // 8 * 8), k=1)
        -> GlobalAveragePooling
        -> Dropout(0.2)
        -> Affine(classes)
}

network Runtime {
    x = Input(3x224x224, dataset="x")
    y = x -> MobileNetV2(WIDTH) -> Softmax
}
"""


@pytest.mark.parametrize("width", ["1.0", "0.5"])
def test_mobilenet_v2_from_a_table_has_torchvisions_parameter_count(width, tmp_path, capsys):
    spec = tmp_path / "mobilenet_v2.nnd"
    spec.write_text(MOBILENET_V2.replace("WIDTH", width), encoding="utf-8")
    got = summary_json(capsys, spec)["total_params"]
    if width == "1.0":
        assert got == 3_504_872  # torchvision's published figure for mobilenet_v2()
    models = pytest.importorskip("torchvision.models")
    reference = models.mobilenet_v2(width_mult=float(width))
    assert got == sum(p.numel() for p in reference.parameters())


VGG = """\
unit VGG(cfg: list, bn: bool = false) {
    in x
    out x
        -> features: repeat v in cfg {
            in t
            if v == "M" {
                out t -> MaxPooling(kernel=2x2)
            } else if bn {
                out t -> Convolution(v, kernel=3x3, pad=1x1) -> BatchNormalization -> ReLU
            } else {
                out t -> Convolution(v, kernel=3x3, pad=1x1) -> ReLU
            }
        }
}

network Runtime {
    x = Input(3x32x32, dataset="x")
    y = x -> VGG(CFG, bn=BN)
}
"""


@pytest.mark.parametrize("cfg", ["A", "D"])
@pytest.mark.parametrize("bn", [False, True])
def test_vgg_table_with_m_entries_matches_torchvisions_make_layers(cfg, bn, tmp_path, capsys):
    vgg = pytest.importorskip("torchvision.models.vgg")
    table = vgg.cfgs[cfg]
    spec = tmp_path / "vgg.nnd"
    spec.write_text(VGG.replace("CFG", json.dumps(table)).replace("BN", "true" if bn else "false"), encoding="utf-8")
    d = summary_json(capsys, spec)
    features = vgg.make_layers(table, batch_norm=bn)
    assert d["total_params"] == sum(p.numel() for p in features.parameters())
    layers = d["networks"][0]["layers"]
    names = {"MaxPooling": "MaxPool2d", "Convolution": "Conv2d", "BatchNormalization": "BatchNorm2d", "ReLU": "ReLU"}
    assert [names[row["type"]] for row in layers if row["type"] != "Input"] == [type(m).__name__ for m in features]
    # 32x32 halved by each "M"
    assert layers[-1]["output_shape"] == [table[-2], 32 >> table.count("M"), 32 >> table.count("M")]


# --- iteration --------------------------------------------------------------------------------


def test_repeat_over_a_list_binds_items_and_index():
    r = compile_text(
        """
        network N {
            x = Input(2x8x8, dataset="x")
            y = x -> stack: repeat i, w in [4, 6, 8] { Convolution(w + i, kernel=1x1) }
                  -> repeat row in [[3, 1], [5, 2]] { Convolution(row[0], kernel=[row[1], row[1]]) }
                  -> repeat v in [] { ReLU }
                  -> repeat k in [1x1, 3x3] { Convolution(4, kernel=k, pad=[k[0] // 2, k[1] // 2]) }
        }
        """
    )
    assert r.ok, r.diagnostics
    kernels = [tuple(layer.params["kernel"]) for layer in r.project.networks[0].layers[-2:]]
    assert kernels == [(1, 1), (3, 3)]
    convs = [layer for layer in r.project.networks[0].layers if layer.type == "Convolution"]
    assert [layer.name for layer in convs[:3]] == [
        "stack[0].Convolution",
        "stack[1].Convolution",
        "stack[2].Convolution",
    ]
    assert [layer.params["out_maps"] for layer in convs] == [4, 7, 10, 3, 5, 4, 4]
    assert [tuple(layer.params["kernel"]) for layer in convs[3:5]] == [(1, 1), (2, 2)]
    # copies' frames show the item: a message inside copy 2 says which row it is
    bad = errors(
        """
        network N {
            x = Input(2x8x8, dataset="x")
            y = x -> repeat row in [[4, 1], [6, 3]] { Convolution(row[0], kernel=1x1, group=row[1]) }
        }
        """
    )
    assert [d.code for d in bad] == ["E0401"]
    assert any("row = [6, 3]" in n.message for n in bad[0].notes), bad[0].notes


def test_repeat_over_a_list_counts_toward_the_layer_limit_before_building():
    bad = errors(
        """
        network N {
            x = Input(4, dataset="x")
            y = x -> repeat v in [1, 2, 3, 4, 5, 6] { Affine(v) -> ReLU }
        }
        """,
        max_layers=10,
    )
    assert [d.code for d in bad] == ["E0701"]


# --- x.shape ---------------------------------------------------------------------------------


def test_shape_is_read_per_instance_even_with_equal_arguments():
    # Two instances with the same arguments but inputs of different widths: the second is not a
    # copy of the first (units are otherwise expanded once per argument list).
    r = compile_text(
        """
        unit Double(k: int = 1) {
            in x
            out x -> Convolution(2 * x.shape[0], kernel=[k, k]) -> Affine(len(x.shape) + x.shape[-1])
        }
        network N {
            x = Input(3x8x8, dataset="x")
            a = x -> Double()
            b = x -> Convolution(5, kernel=1x1) -> Double()
        }
        """
    )
    assert r.ok, r.diagnostics
    net = r.project.networks[0]
    convs = [layer.params["out_maps"] for layer in net.layers if layer.type == "Convolution"]
    assert convs == [6, 5, 10]
    affines = [net.value(layer.outputs[0]).shape for layer in net.layers if layer.type == "Affine"]
    assert affines == [(11,), (11,)]


def test_shape_of_a_shape_that_failed_reports_the_failure_once():
    bad = errors(
        """
        network N {
            x = Input(3x4x4, dataset="x")
            h = x -> Affine(5) -> Convolution(8, kernel=3x3)
            y = h -> Affine(h.shape[0])
        }
        """
    )
    assert [d.code for d in bad] == ["E0401"]


@pytest.mark.parametrize(
    "body, code, line, col, words",
    [
        ("y = x -> Affine([4, 5][2])", "E0320", 3, 28, "index 2 is out of range for a list of 2 items"),
        ("y = x -> Affine([4, 5][-3])", "E0320", 3, 28, "index -3 is out of range"),
        ('y = x -> Affine(int("a"))', "E0307", 3, 25, 'int() needs a number, got a string ("a")'),
        ("y = x -> Affine(n[0])", "E0307", 3, 21, "only a list or a shape can be indexed, got an int (4)"),
        ("y = x -> Affine([4, 5][1.0])", "E0307", 3, 28, "an index must be an int"),
        ("y = x -> Dropout([0.5, 0.2])", "E0305", 3, 22, "'p' of Dropout must be a number, got a list"),
        ("y = x -> Affine(4) -> Convolution([4, 5], kernel=1)", "E0305", 3, 39, "must be an int, got a list (4, 5)"),
        ("y = x -> Affine(max(4))", "E0307", 3, 25, "max() of one argument needs a list"),
        ("y = x -> Affine(max())", "E0307", 3, 21, "max() takes at least 1 argument, got 0"),
        ("y = x -> Affine(len(1, 2))", "E0307", 3, 21, "len() takes 1 argument, got 2"),
        ("y = x -> Affine(round(2.5, 1.5))", "E0307", 3, 32, "number of digits must be an int"),
        ("y = x -> Affine(n.shape[0])", "E0321", 3, 21, "the shape of 'n' is not known here: it is an int (4)"),
        ("y = x -> Affine(x.size)", "E0307", 3, 23, "unknown attribute 'size'"),
        ("y = x -> Affine(z.shape[0])", "E0202", 3, 21, "z"),
        ("t = Two(x)\n    y = x -> Affine(t.shape[0])", "E0321", 4, 21, "it is 2 tensors"),
        ("y = x -> repeat i, v in 3 { ReLU }", "E0311", 3, 29, "list to iterate with 'i, v'"),
        ('y = x -> repeat "abc" { ReLU }', "E0311", 3, 21, "repeat count (an int) or a list"),
        ("y = x -> Affine(1.5 * 2)", "E0305", 3, 21, "must be a shape (like 3x32x32, or an int), got a float (3)"),
    ],
)
def test_positioned_errors(body, code, line, col, words):
    src = (
        "unit Two() {\n    in x\n    out x -> ReLU, x -> Tanh\n}\n\n"
        f'network N {{\n    n = 4\n    x = Input(4, dataset="x")\n    {body}\n}}\n'
    )
    bad = errors(src)
    assert bad, src
    d = bad[0]
    assert (d.code, d.span.line - 6, d.span.col) == (code, line, col), (d.code, d.span, d.message)
    assert words in d.message, d.message
    assert "internal error" not in d.message


def test_lists_built_from_lists_cannot_double_past_the_limit():
    lines = ["a0 = [1, 2, 3, 4]"] + [f"a{i} = [a{i - 1}, a{i - 1}]" for i in range(1, 40)]
    body = "\n    ".join(lines)
    bad = errors(f'network N {{\n    {body}\n    x = Input(4, dataset="x")\n    y = x -> Affine(len(a39))\n}}\n')
    assert [d.code for d in bad] == ["E0307"]
    assert f"more than {MAX_LIST_ITEMS:,} items" in bad[0].message
    # a_i holds 4 * 2^i numbers and 2^(i+1) - 2 lists: the first past the limit is reported
    first = next(i for i in range(40) if 4 * 2**i + 2 ** (i + 1) - 2 > MAX_LIST_ITEMS)
    assert bad[0].span.line == 2 + first


# --- fmt ----------------------------------------------------------------------------------------


def _strip(node):
    """A syntax tree without its positions."""
    if isinstance(node, tuple):
        return tuple(_strip(x) for x in node)
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(
            _strip(getattr(node, f.name)) for f in dataclasses.fields(node) if not f.name.endswith("span")
        )
    return node


def test_fmt_is_canonical_on_every_new_form():
    text = (
        MOBILENET_V2.replace("WIDTH", "0.75")
        + VGG.replace("CFG", '[64, "M"]').replace("BN", "true")
        + (
            "\nunit T(cfg: list = [[1, 2], [3]]) {\n    in x\n"
            "    out x -> repeat i, row in cfg { Affine(row[-1] + (x.shape)[0] + -cfg[i][0]) }"
            " -> Affine((1 + 2)[0] + abs(-len(cfg)))\n}\n"
        )
    )
    module, diags = parse(text, "t.nnd")
    assert not diags
    once = format_module(module)
    again, diags = parse(once, "t.nnd")
    assert not diags
    assert format_module(again) == once
    assert _strip(again.items) == _strip(module.items)
    assert "repeat i, row in cfg" in once and "x.shape[0]" in once and "(1 + 2)[0]" in once


_names = st.sampled_from(["a", "cfg", "x"])


def _exprs():
    leaf = st.one_of(
        st.integers(0, 99).map(str),
        _names,
        st.just('"M"'),
        st.lists(st.integers(0, 9).map(str), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    )

    def extend(inner):
        return st.one_of(
            st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
            inner.map(lambda e: f"({e}).shape"),
            st.tuples(
                st.sampled_from(["int", "round", "max", "min", "len", "abs"]), st.lists(inner, min_size=1, max_size=3)
            ).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(inner, st.sampled_from(["+", "*", "//", "==", "and"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda e: f"-{e}"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(_exprs())
def test_fmt_round_trips_generated_expressions(e):
    text = f"unit U(a: int = {e}) {{\n    in x\n    out x -> repeat i, row in {e} {{ Affine({e}) }}\n}}\n"
    module, diags = parse(text, "t.nnd")
    assert not diags, (text, diags)
    once = format_module(module)
    again, diags = parse(once, "t.nnd")
    assert not diags, once
    assert format_module(again) == once
    assert _strip(again.items) == _strip(module.items)
    assert isinstance(module.items[0], ast.Unit)


def test_shape_drives_repeat_counts_and_conditions_and_the_layer_limit_still_holds():
    src = """
        unit Widen() {
            in x
            h = x -> repeat x.shape[0] { ReLU }
            if x.shape[1] > 4 {
                h = h -> MaxPooling(kernel=2x2)
            }
            out h
        }
        network N {
            x = Input(3x8x8, dataset="x")
            y = x -> Widen() -> Convolution(6, kernel=1x1) -> Widen()
        }
        """
    r = compile_text(src)
    assert r.ok, r.diagnostics
    net = r.project.networks[0]
    assert [layer.type for layer in net.layers].count("ReLU") == 3 + 6
    assert net.value(net.outputs[0]).shape == (6, 4, 4)  # pooled once: 8x8, then 4x4 is not above 4
    # the early count stops at `x.shape`; the expander still refuses the spec at the limit
    assert [d.code for d in errors(src, max_layers=8)] == ["E0701"]


@pytest.mark.parametrize("e", ["[0]" + "[0]" * 3000, "max(" * 3000 + "1" + ")" * 3000, "x" + ".shape" * 3000])
def test_deeply_nested_new_forms_stop_at_the_nesting_limit(e):
    bad = errors(f'network N {{\n    x = Input(4, dataset="x")\n    a = {e}\n}}\n')
    assert [d.code for d in bad] == ["E0210"]


def _arith():
    leaf = st.one_of(st.integers(-20, 20).map(str), st.sampled_from(["0.5", "2.5", "1.25", "3.75", "7.0"]))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%", "/"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(st.sampled_from(["int", "round", "floor", "ceil", "abs", "float"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            st.tuples(st.sampled_from(["min", "max"]), st.lists(inner, min_size=2, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: f"max([{', '.join(xs)}])"),
        )

    return st.recursive(leaf, extend, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(_arith())
def test_arithmetic_with_builtins_agrees_with_python(text):
    try:
        want = eval(text, {"floor": math.floor, "ceil": math.ceil})  # noqa: S307
    except (ZeroDivisionError, OverflowError):
        want = None
    if isinstance(want, float) and not math.isfinite(want) or isinstance(want, int) and abs(want) > 2**62:
        want = None
    module, diags = parse(f"unit U(a: int = {text}) {{\n    in x\n    out x\n}}\n", "t.nnd")
    assert not diags
    try:
        got = eval_const(module.items[0].params[0].default, lambda name: pytest.fail(name.id))
    except CompileError as e:
        assert want is None, (text, want, e.diagnostic.message)
        assert e.diagnostic.code == "E0307"
        return
    assert got == want and type(got) is type(want), text
