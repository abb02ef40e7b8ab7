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
