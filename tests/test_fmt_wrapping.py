"""`nndsl fmt` wraps a call that does not fit in 100 columns as black wraps calls: one argument
per line, one level deeper, each with a trailing comma, `)` on a line of its own; chains are broken
before `->` first. Comments stay, the result is canonical (fmt of it is itself), every line fits
where its arguments do, and the formatted spec compiles to the same IR."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.compiler import compile_file
from nndsl.fmt import WIDTH, format_module
from nndsl.syntax.parser import parse


def fmt(src: str) -> str:
    module, diagnostics = parse(src, "t.nnd")
    assert not diagnostics
    return format_module(module)


def ir(src: str):
    result = compile_file("t.nnd", text=src)
    assert result.ok, [d.message for d in result.diagnostics]
    return [(n.name, [(lay.name, lay.type, lay.params) for lay in n.layers]) for n in result.project.networks]


CONV = 'conv: Convolution(maps, kernel=3x3, stride=stride, pad=1x1, bias=false, w_init="NormalConvolutionHeBackward")'
CAT = "Concatenate(x -> Block(16), x -> Block(16, stride=1), x -> MaxPooling(kernel=3x3, stride=1x1, pad=1x1), axis=0)"
LONG = (
    "unit Block(maps: int, stride: int = 1) {\n"
    "    in x\n"
    f"    out x -> {CONV} -> ReLU  # after\n"
    "}\n"
    "\n"
    "network N {\n"
    '    x = Input(3x32x32, dataset="x")\n'
    "    # before\n"
    f"    y = {CAT}\n"
    "}\n"
)


def test_a_long_call_is_wrapped_one_argument_per_line():
    assert fmt(LONG) == textwrap.dedent(
        """\
        unit Block(maps: int, stride: int = 1) {
            in x
            out x
                -> conv: Convolution(
                    maps,
                    kernel=3x3,
                    stride=stride,
                    pad=1x1,
                    bias=false,
                    w_init="NormalConvolutionHeBackward",
                )
                -> ReLU  # after
        }

        network N {
            x = Input(3x32x32, dataset="x")
            # before
            y = Concatenate(
                x -> Block(16),
                x -> Block(16, stride=1),
                x -> MaxPooling(kernel=3x3, stride=1x1, pad=1x1),
                axis=0,
            )
        }
        """
    )


def test_wrapping_is_canonical_and_keeps_the_meaning():
    once = fmt(LONG)
    assert fmt(once) == once
    assert ir(once) == ir(LONG)
    assert all(len(line) <= WIDTH for line in once.splitlines())


def test_a_call_that_fits_once_the_chain_is_broken_stays_on_its_line():
    src = "network N {\n    x = Input(3x8x8)\n    y = x -> " + " -> ".join(["Convolution(8, kernel=3x3)"] * 4) + "\n}\n"
    out = fmt(src)
    assert "    y = x\n        -> Convolution(8, kernel=3x3)\n" in out
    assert "(\n" not in out


def test_a_comment_inside_a_wrapped_call_moves_before_the_statement():
    src = textwrap.dedent(
        """\
        network N {
            x = Input(3x8x8)
            y = x -> Convolution(8, kernel=3x3,  # the kernel
                stride=1x1, pad=1x1, bias=false, w_init="NormalConvolutionHeBackward", b_init="Constant")
        }
        """
    )
    out = fmt(src)
    assert "    # the kernel\n    y = x\n        -> Convolution(\n            8,\n" in out
    assert fmt(out) == out
    assert ir(out) == ir(src)


_ARG = st.sampled_from(
    ["kernel=3x3", "stride=2x2", "pad=1x1", "bias=false", 'w_init="NormalConvolutionHeBackward"', "group=1"]
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 64), st.lists(_ARG, unique=True, max_size=6)), min_size=1, max_size=5))
def test_wrapped_specs_are_canonical_and_compile_alike(stages):
    calls = [f"Convolution({maps}{''.join(', ' + a for a in args)})" for maps, args in stages]
    src = "network N {\n    x = Input(3x16x16)\n    y = x -> " + " -> ".join(calls) + "  # end\n}\n"
    out = fmt(src)
    assert fmt(out) == out
    assert out.count("# end") == 1
    assert all(len(line.split("  #")[0]) <= WIDTH for line in out.splitlines())  # (a trailing comment may pass)
    assert ir(out) == ir(src)


# A configuration table too long for its line: a unit's default (the header wrapped one parameter
# per line) and a constant of a body, each wrapped a row per line; a short list stays on its line.
TABLE = (
    "# rows: t, c, n, s\n"
    "unit Net(cfg: list = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], "
    "[6, 160, 3, 2]], classes: int = 10) {  # a comment\n"
    "    in x\n"
    "    widths = [[16, 16, 16, 16, 16, 16, 16, 16], [24, 24, 24, 24, 24, 24, 24, 24], [32, 32, 32, 32, 32]]\n"
    "    h = x -> stage: repeat row in cfg { Convolution(row[1], kernel=1x1) }\n"
    "    out h -> fc: Affine(classes + widths[0][0] - widths[1][0] + [1, 2][0] + len(widths) - 4)\n"
    "}\n"
    "\n"
    "network N {\n"
    '    x = Input(3x8x8, dataset="x")\n'
    "    y = x -> net: Net\n"
    "}\n"
)


def test_a_long_list_is_wrapped_one_item_per_line_and_so_is_a_long_unit_header():
    assert fmt(TABLE) == textwrap.dedent(
        """\
        # rows: t, c, n, s
        # a comment
        unit Net(
            cfg: list = [
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
            ],
            classes: int = 10,
        ) {
            in x
            widths = [
                [16, 16, 16, 16, 16, 16, 16, 16],
                [24, 24, 24, 24, 24, 24, 24, 24],
                [32, 32, 32, 32, 32],
            ]
            h = x -> stage: repeat row in cfg { Convolution(row[1], kernel=1x1) }
            out h -> fc: Affine(classes + widths[0][0] - widths[1][0] + [1, 2][0] + len(widths) - 4)
        }

        network N {
            x = Input(3x8x8, dataset="x")
            y = x -> net: Net
        }
        """
    )


def test_wrapped_lists_are_canonical_and_keep_the_meaning():
    once = fmt(TABLE)
    assert fmt(once) == once
    assert ir(once) == ir(TABLE)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.integers(0, 99999), min_size=1, max_size=12), min_size=1, max_size=12))
def test_wrapped_tables_are_canonical_and_compile_alike(rows):
    table = "[" + ", ".join("[" + ", ".join(map(str, r)) + "]" for r in rows) + "]"
    src = (
        f"unit U(cfg: list = {table}) {{\n    in x\n    out x -> fc: Affine(len(cfg) + cfg[-1][0] % 7 + 1)\n}}\n\n"
        f'network N {{\n    x = Input(4, dataset="x")\n    t = {table}\n    y = x -> u: U(t) -> Affine(len(t))\n}}\n'
    )
    out = fmt(src)
    assert fmt(out) == out
    assert all(len(line) <= WIDTH for line in out.splitlines())
    assert ir(out) == ir(src)
