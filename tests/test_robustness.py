"""Bad input never produces a traceback: every outcome is a result or a positioned diagnostic.

Hypothesis throws random text, token soup built from the language's own words, and
mutations of the shipped specs at the whole front end (parse, expand, shapes, lint).
"""

import string

from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.syntax.parser import parse

WORDS = [
    "unit",
    "network",
    "dataset",
    "config",
    "include",
    "in",
    "out",
    "if",
    "else",
    "repeat",
    "with",
    "true",
    "false",
    "and",
    "or",
    "not",
    "Input",
    "Convolution",
    "Affine",
    "ReLU",
    "Add2",
    "Concatenate",
    "MaxPooling",
    "BatchNormalization",
    "SoftmaxCrossEntropy",
    "TopNError",
    "Slice",
    "Reshape",
    "x",
    "y",
    "h",
    "s",
    "Block",
    "maps",
    "kernel",
    "stride",
    "pad",
    "dataset",
    "n",
    "axis",
    "optimizer",
    "monitor",
    "executor",
    "solver",
    "Adam",
    "lr",
    "epochs",
    "->",
    "=",
    ",",
    ":",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "==",
    "!=",
    "<",
    ">",
    "3x32x32",
    "1x8x8",
    "3x3",
    "0",
    "1",
    "2",
    "16",
    "1000000000",
    "-1",
    "0.5",
    "1e-4",
    '"x"',
    '"y"',
    '"train.csv"',
    "#",
    "\n",
    "\n\n",
]

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def check(text: str) -> None:
    r = compile_file("fuzz.nnd", text=text, lint=True, max_layers=20_000)
    for d in r.diagnostics:
        assert d.code and d.message
        if d.span is not None:
            assert d.span.line >= 1 and d.span.col >= 1
    if not any(d.code.startswith("E01") for d in r.diagnostics):
        module, diags = parse(text, "fuzz.nnd")
        if not diags:  # what parses must format, and the formatted text must parse the same way
            formatted = format_module(module)
            assert not parse(formatted, "fuzz.nnd")[1]
            assert format_module(parse(formatted, "fuzz.nnd")[0]) == formatted


@FAST
@given(st.text(alphabet=string.printable, max_size=300))
def test_random_text(text):
    check(text)


@FAST
@given(st.lists(st.sampled_from(WORDS), max_size=80).map(" ".join))
def test_token_soup(text):
    check(text)


SOURCES = [p.read_text(encoding="utf-8") for p in SPECS]


@FAST
@given(
    st.sampled_from(SOURCES),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 8), st.sampled_from(WORDS + ["", "", ""])), max_size=4),
)
def test_mutated_specs(source, edits):
    text = source
    for where, cut, insert in edits:
        i = int(where * len(text))
        text = text[:i] + insert + text[i + cut :]
    check(text)


def test_binary_junk_and_cut_files(tmp_path):
    for data in [b"\x00\x01\x02\xff", b"\xff\xfe\x00n\x00", bytes(range(256)), b"network N {" * 1000]:
        f = tmp_path / "junk.nnd"
        f.write_bytes(data)
        r = compile_file(f)
        assert not r.ok and r.diagnostics[0].code in ("E0101", "E0102", "E0104")
    spec = SPECS[0].read_text(encoding="utf-8")
    for cut in range(0, len(spec), max(1, len(spec) // 40)):
        check(spec[:cut])


def test_deep_nesting_does_not_overflow():
    deep = 'network N {\n x = Input(4, dataset="x")\n y = ' + "(" * 500 + "x" + ")" * 500 + "\n}\n"
    check(deep)
    units = "".join(f"unit U{i} {{\n in x\n out x -> U{i + 1}\n}}\n" for i in range(100))
    units += 'unit U100 {\n in x\n out x -> ReLU\n}\nnetwork N {\n x = Input(4, dataset="x")\n y = x -> U0\n}\n'
    r = compile_file("deep.nnd", text=units)
    assert [d.code for d in r.diagnostics if d.severity == "error"] == ["E0702"]


def test_huge_literals_are_diagnostics_not_crashes():
    for literal in ["9" * 5000, "3x" + "9" * 5000, "1e999", "123456789012345678901234567890"]:
        text = f'network N {{\n    x = Input(4, dataset="x") -> MulScalar({literal})\n    y = Input({literal})\n}}\n'
        r = compile_file("big.nnd", text=text)
        assert not r.ok
        assert {d.code for d in r.diagnostics} <= {"E0307", "E0305", "E0403"}
