"""Every mistake in one run, and nothing that only follows from another one.

- The golden specs with several errors (tests/golden/NAME.nnd with NAME.fixes) are fixed one
  mistake at a time: NAME.fixes lists, in order, `LINE: the corrected line`. After each fix the
  errors of the lines not yet fixed are exactly those of the first run (none disappears: none was a
  consequence of a fixed one; none appears: none was hidden by one), and after the last fix none is
  left. Every golden spec reporting more than one error has a .fixes file.
- A property (Hypothesis): k independent typos put into a valid spec give at least k errors in one
  run, one at each typo, in reading order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.compiler import compile_file

GOLDEN = ROOT / "tests" / "golden"
FIXED = sorted(GOLDEN.glob("*.fixes"))


def errors(path: Path, text: str) -> list[tuple[int, str, str]]:
    """(line, code, message) of each error `lint` finds in `text` (as the spec at `path`), in order."""
    result = compile_file(path, text=text, lint=True)
    return [(d.span.line if d.span else 0, d.code, d.message) for d in result.diagnostics if d.severity == "error"]


def fixes(path: Path) -> list[tuple[int, str]]:
    rows = []
    for row in path.read_text(encoding="utf-8").splitlines():
        line, sep, text = row.partition(":")
        assert sep and line.isdigit(), f"{path.name}: a fix is 'LINE: the corrected line', got {row!r}"
        rows.append((int(line), text[1:] if text.startswith(" ") else text))
    return rows


@pytest.mark.parametrize("fixes_file", FIXED, ids=[p.stem for p in FIXED])
def test_fixing_the_mistakes_one_by_one_leaves_the_other_errors_as_they_were(fixes_file):
    spec = fixes_file.with_suffix(".nnd")
    lines = spec.read_text(encoding="utf-8").split("\n")
    first = errors(spec, "\n".join(lines))
    steps = fixes(fixes_file)
    assert len(first) >= len(steps) >= 2 or len(steps) == 1 < len(first), "a .fixes file is for several errors"
    fixed: set[int] = set()
    for line, text in steps:
        assert any(e[0] == line for e in first), f"line {line} of {spec.name} has no error to fix"
        lines[line - 1] = text
        fixed.add(line)
        now = errors(spec, "\n".join(lines))
        assert now == [e for e in first if e[0] not in fixed], f"after fixing lines {sorted(fixed)}"
    assert not errors(spec, "\n".join(lines)), "the fixes leave no error"


def test_every_golden_spec_with_several_errors_says_how_to_fix_them():
    for spec in sorted(GOLDEN.glob("*.nnd")):
        expected = spec.with_suffix(".expected").read_text(encoding="utf-8")
        if expected.count("error[") > 1:
            assert spec.with_suffix(".fixes").exists(), f"{spec.name} reports several errors but has no .fixes"


# --- k typos, k errors --------------------------------------------------------------------------

BASE = """\
unit Block(maps: int, stride: int = 1) {
    in x
    h = x
        -> conv1: Convolution(maps, kernel=3x3, pad=1x1, stride=stride, bias=false)
        -> bn1: BatchNormalization(decay_rate=0.9)
        -> ReLU
    out h -> conv2: Convolution(maps, kernel=3x3, pad=1x1) -> Tanh
}

network Training {
    x = Input(3x16x16, dataset="x")
    y = Input(1, dataset="y")
    h = x -> stem: Convolution(8, kernel=3x3, pad=1x1) -> MaxPooling(kernel=2x2)
    h = h -> Block(16, stride=2) -> repeat 2 { Block(16) }
    h = h -> AveragePooling(kernel=2x2, stride=2x2)
    loss = h -> fc: Affine(10, bias=true) -> SoftmaxCrossEntropy(y)
}

network Validation {
    x = Input(3x16x16, dataset="x")
    y = Input(1, dataset="y")
    h = x -> stem: Convolution(8, kernel=3x3, pad=1x1) -> MaxPooling(kernel=2x2)
    h = h -> Block(16, stride=2) -> repeat 2 { Block(16) }
    h = h -> AveragePooling(kernel=2x2, stride=2x2)
    error = h -> fc: Affine(10, bias=true) -> TopNError(y, n=1)
}
"""

# One call per entry: (line, the words of the call a typo may hit). At most one typo per call, so the
# typos are independent (a misspelt layer has no parameters to check).
CALLS = [
    (4, ["Convolution", "kernel", "pad", "stride", "bias"]),
    (5, ["BatchNormalization", "decay_rate"]),
    (6, ["ReLU"]),
    (13, ["MaxPooling"]),
    (14, ["Block", "stride"]),
    (15, ["AveragePooling", "kernel", "stride"]),
    (16, ["Affine", "bias", "SoftmaxCrossEntropy"]),
    (22, ["Convolution"]),
    (24, ["AveragePooling", "kernel"]),
    (25, ["Affine", "bias", "TopNError"]),
]


def test_the_base_spec_is_valid():
    result = compile_file(ROOT / "tests" / "typos.nnd", text=BASE, lint=True)
    assert result.ok, [d.message for d in result.diagnostics]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_k_independent_typos_give_at_least_k_errors_in_reading_order(data):
    chosen = data.draw(st.lists(st.sampled_from(range(len(CALLS))), min_size=1, max_size=len(CALLS), unique=True))
    lines = BASE.split("\n")
    typos = []
    for i in chosen:
        line, words = CALLS[i]
        word = data.draw(st.sampled_from(words))
        text = lines[line - 1]
        # the word as a name: `kernel=` (a parameter) or `Convolution(`, `ReLU` (a callee)
        at = next(k for k in range(len(text)) if text.startswith(word, k) and not text[k + len(word) :][:1].isalnum())
        typo = data.draw(st.sampled_from([word + "q", word[:-1], word[0] + word[2:] if len(word) > 2 else word + "z"]))
        lines[line - 1] = text[:at] + typo + text[at + len(word) :]
        typos.append((line, at + 1))
    result = compile_file(ROOT / "tests" / "typos.nnd", text="\n".join(lines), lint=True)
    found = [d for d in result.diagnostics if d.severity == "error"]
    assert len(found) >= len(typos), [d.message for d in found]
    places = [(d.span.line, d.span.col) for d in result.diagnostics if d.span is not None]
    assert places == sorted(places)
    for line, col in typos:
        assert any(d.span.line == line and d.span.col == col for d in found), (line, col, [str(d.span) for d in found])
