"""Slices of a tensor's per-sample axes, `x[:c]`, `x[c:, ::2, 1:-1]` (issue 12: ShuffleNet's
`x.chunk(2, dim=1)`), as NNC's Slice layer with a value per axis; slices of constants (`cfg[1:]`)."""

import textwrap

import numpy as np
import pytest
from conftest import import_generated
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.syntax.parser import parse


def compile_text(src: str):
    return compile_file("t.nnd", text=textwrap.dedent(src))


def errors(src: str) -> list[str]:
    diags = compile_text(src).diagnostics
    return [f"{d.span.line}:{d.span.col}: {d.code}: {d.message}" for d in diags if d.severity == "error"]


def network(shape: str, *lines: str) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f'network Main {{\n    x = Input({shape}, dataset="x")\n{body}\n}}\n'


def slice_layers(src: str) -> list:
    """(Slice layer, its output shape) of network Main, in order."""
    result = compile_text(src)
    assert result.ok, [str(d) for d in result.diagnostics]
    net = result.project.network("Main")
    return [(layer, net.values[layer.outputs[0]].shape) for layer in net.layers if layer.type == "Slice"]


def unit_with(out: str) -> str:
    return f"unit U(c: int, cfg: list) {{\n    in x\n    out {out}\n}}\n"


# --- syntax and fmt ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["x[:c]", "x[c:]", "x[:]", "x[::2]", "x[1:-1, ::2]", "x[c:, 1:2:3, :4]", "x[:c + 1]", "x[cfg[0]:]"]
)
def test_canonical_slices_format_as_written(text):
    src = unit_with(text)
    module, diags = parse(src, "t.nnd")
    assert not diags
    assert format_module(module) == src


@pytest.mark.parametrize(
    ("written", "canonical"), [("x[ : c ]", "x[:c]"), ("x[1::]", "x[1:]"), ("x[: c+1]", "x[:c + 1]")]
)
def test_fmt_writes_slices_without_spaces_or_empty_steps(written, canonical):
    module, diags = parse(unit_with(written), "t.nnd")
    assert not diags
    assert format_module(module) == unit_with(canonical)


def test_a_colon_inside_parentheses_in_brackets_still_labels_a_call():
    src = "network Main {\n    x = Input(4x2x2)\n    y = [Add2(x, r: ReLU(x))]\n}\n"
    module, diags = parse(src, "t.nnd")
    assert not diags
    (inner,) = module.items[0].body[1].value.items
    assert inner.args[1].label == "r" and inner.args[1].callee == "ReLU"


# --- the Slice layer ---------------------------------------------------------------------------


def test_halves_of_the_channels_are_nnc_slices_with_a_value_per_axis():
    src = unit_with("x") + network("8x6x6", "c = 4", "a = x[:c] -> ReLU", "b = x[c:, ::2, 1:-1] -> ReLU")
    (a, a_shape), (b, b_shape) = slice_layers(src)
    assert (a.params["start"], a.params["stop"], a.params["step"]) == ((0, 0, 0), (4, 6, 6), (1, 1, 1))
    assert (b.params["start"], b.params["stop"], b.params["step"]) == ((4, 0, 1), (8, 6, 5), (1, 2, 1))
    assert (a_shape, b_shape) == ((4, 6, 6), (4, 3, 4))
    assert (a.name, b.name) == ("Slice", "Slice_2")  # named after the type, as an unlabelled call


def test_a_slice_is_a_layer_input_and_a_chain_head_and_reads_unit_arguments():
    src = textwrap.dedent(
        """\
        unit Half(maps: int) {
            in x
            half = maps // 2
            out Concatenate(x[:half], x[half:] -> ReLU) -> Affine(2)
        }
        """
    ) + network("6x2x2", "y = x -> h: Half(6)")
    (first, _), (second, _) = slice_layers(src)
    assert first.params["stop"][0] == 3 and second.params["start"][0] == 3
    assert first.name == "h.Slice"


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
    data=st.data(),
)
def test_a_slices_shape_is_numpys(shape, data):
    """Python's bounds: negative ones count from the end, those past the axis are clipped."""
    items, numpy_items = [], []
    for size in shape[: data.draw(st.integers(1, len(shape)))]:
        start = data.draw(st.none() | st.integers(-size - 2, size + 2))
        stop = data.draw(st.none() | st.integers(-size - 2, size + 2))
        step = data.draw(st.none() | st.integers(1, 3))
        text = ("" if start is None else str(start)) + ":" + ("" if stop is None else str(stop))
        items.append(text if step is None else f"{text}:{step}")
        numpy_items.append(slice(start, stop, step))
    want = np.empty(shape)[tuple(numpy_items)].shape
    src = network("x".join(map(str, shape)), f"y = x[{', '.join(items)}] -> ReLU")
    if 0 in want:
        assert [e.split(": ")[1] for e in errors(src)] == ["E0325"]
    else:
        ((_, got),) = slice_layers(src)
        assert got == want


SPEC = unit_with("x") + network(
    "6x5x4", "y0 = x[:3] -> ReLU", "y1 = x[2:, ::2, 1:-1] -> ReLU", "y2 = x[-2:, 1:4:2, ::3] -> ReLU"
)
EXPECTED = [lambda a: a[:, :3], lambda a: a[:, 2:, ::2, 1:-1], lambda a: a[:, -2:, 1:4:2, ::3]]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_generated_slices_select_numpys_elements(backend, tmp_path):
    pytest.importorskip(backend)
    if backend == "torch":
        from nndsl.backends.torch import generate
    else:
        from nndsl.backends.keras import generate
    result = compile_text(SPEC)
    assert result.ok
    generate(result.project, tmp_path / "p")
    module = import_generated(tmp_path / "p")
    model = module.create_model()
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 4)).astype(np.float32)
    if backend == "torch":
        import torch

        got = [v.numpy() for v in model.run_network("Main", x=torch.from_numpy(x)).values()]
    else:
        got = list(model.run_network("Main", x=x).values())  # NNC's layout in and out
    for value, expected in zip(got, EXPECTED, strict=True):
        np.testing.assert_array_equal(value, np.maximum(expected(x), 0))
    text = (tmp_path / "p" / "model.py").read_text()
    assert ("x[:, :3]" if backend == "torch" else "x[:, :, :, :3]") in text


# --- constants --------------------------------------------------------------------------------


def test_a_list_slice_drives_a_repeat():
    src = textwrap.dedent(
        """\
        unit Widths(widths: list) {
            in x
            out x -> first: Affine(widths[0]) -> rest: repeat w in widths[1:] { Affine(w) }
        }
        """
    ) + network("3", "y = x -> s: Widths([4, 5, 6, 7])")
    result = compile_text(src)
    assert result.ok
    net = result.project.network("Main")
    assert [net.values[la.outputs[0]].shape for la in net.layers if la.type == "Affine"] == [(4,), (5,), (6,), (7,)]


@pytest.mark.parametrize(
    ("expr", "value"),
    [("[1, 2, 3][1:]", (2, 3)), ("[1, 2, 3][::-1]", (3, 2, 1)), ("3x4x5[:2]", (3, 4)), ("[1, 2, 3][5:]", ())],
)
def test_constant_slices_are_pythons(expr, value):
    src = network("3", f"y = x -> Affine(len({expr}) + 1)")
    ((affine),) = [la for la in compile_text(src).project.network("Main").layers if la.type == "Affine"]
    assert affine.params["out_shape"] == (len(value) + 1,)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("y = x[0] -> ReLU", "2:11: E0324: 'x' is a tensor: its axes take slices like x[a:b], not an index"),
        ("y = x[1:, 0] -> ReLU", "2:15: E0324: 'x' is a tensor: its axes take slices like x[a:b], not an index"),
        ("y = x[0] + 1", "2:11: E0324: 'x' is a tensor: its axes take slices like x[a:b], not an index"),
        ("y = x[:, :, :, :] -> ReLU", "2:20: E0325: cannot slice 'x': it has 3 axes (4x2x2)"),
        (
            "y = x[::-1] -> ReLU",
            "2:13: E0325: cannot slice 'x': a slice's step must be positive (Flip reverses an axis)",
        ),
        ("y = x[3:1] -> ReLU", "2:11: E0325: cannot slice 'x': 3:1 of axis 0 (of size 4) selects nothing"),
        ("y = x[:, 5:] -> ReLU", "2:14: E0325: cannot slice 'x': 2:2 of axis 1 (of size 2) selects nothing"),
        ("y = x[:1.5] -> ReLU", "2:12: E0307: a slice's bounds and step are ints, got a float (1.5)"),
        ("y = x[::0] -> ReLU", "2:13: E0307: a slice's step cannot be 0"),
        (
            "y = x -> Affine(len(3[1:]))",
            "2:25: E0307: only a tensor, a list, a shape or a string can be sliced, got an int (3)",
        ),
        (
            "y = x -> Affine(len([1, 2][1:, 0]))",
            "2:36: E0307: a list takes one slice, like cfg[1:] (several are a tensor's, one per axis)",
        ),
    ],
)
def test_bad_slices_are_positioned_errors(line, message):
    assert errors(network("4x2x2", line)) == [message.replace("2:", "3:", 1)]  # the line after the Input


def test_slicing_several_outputs_names_them_first():
    src = textwrap.dedent(
        """\
        unit Two {
            in x
            out x -> ReLU, x -> Tanh
        }
        """
    ) + network("4x2x2", "y = Two(x)[:2] -> ReLU")
    assert errors(src) == ["7:9: E0308: this has 2 outputs; a slice needs exactly one"]
