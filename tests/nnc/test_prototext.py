"""Protobuf text format: every fixture reads, writes and reads back to the same tree; hostile
input gets a positioned error (file:line:col), never a traceback, within documented limits and
in time linear in its size."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.nnc import prototext
from nndsl.nnc.prototext import PrototextError, parse, write

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "nntxt").glob("*.nntxt"))


@pytest.mark.parametrize("source", FIXTURES, ids=[s.stem for s in FIXTURES])
def test_round_trip(source: Path) -> None:
    tree = parse(source.read_text(encoding="utf-8"), str(source))
    text = write(tree)
    again = parse(text, "written")
    assert again.shape() == tree.shape()
    assert write(again) == text  # the writer's form is a fixed point
    assert len(list(tree.walk())) > 100


def test_fields_keep_their_lines() -> None:
    source = next(s for s in FIXTURES if s.stem == "classification_iris_iris")
    lines = source.read_text().splitlines()
    tree = parse("\n".join(lines), str(source))
    for f in tree.walk():
        assert lines[f.line - 1][f.col - 1 :].startswith(f.name)


def test_forms_protobuf_accepts() -> None:
    tree = parse(
        "a: [1, -2.5e-3, inf] b: [{x: 1}, <y: 'q'>] c < d: \"s\" 'u' >; e: { } f: True\n"
        'g: "\\x41\\303\\251\\n\\"\\\\" # comment\nh: 0x1F',
        "t",
    )
    assert tree.scalars("a") == ["1", "-2.5e-3", "inf"]
    assert [m.scalar("x") or m.scalar("y") for m in tree.messages("b")] == ["1", "q"]
    assert tree.messages("c")[0].scalar("d") == "su"
    assert tree.messages("e")[0].fields == []
    assert tree.scalar("f") == "True"
    assert tree.scalar("g") == 'Aé\n"\\'
    assert tree.scalar("h") == "0x1F"
    assert parse(write(tree)).shape() == tree.shape()


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("a {", 1, 4, "not closed"),
        ("a: }", 1, 4, "expected a value"),
        ('a: "x', 1, 4, "unterminated string"),
        ("a b", 1, 3, "expected ':' or '{'"),
        ("}", 1, 1, "unexpected '}'"),
        ("a: 12x", 1, 4, "malformed number"),
        ("a: [1 2]", 1, 7, "expected ',' or ']'"),
        ("a { b: 1 >", 1, 10, "unexpected '>'"),
        ("a: 1\n  [ext.f]: 2", 2, 3, "extension"),
        ('a: "\\q"', 1, 4, "unknown escape"),
        ("a: 1\n\n  $", 3, 3, "unexpected character"),
    ],
)
def test_bad_input_positioned(text: str, line: int, col: int, words: str) -> None:
    with pytest.raises(PrototextError) as info:
        parse(text, "f.nntxt")
    e = info.value
    assert (e.file, e.line, e.col) == ("f.nntxt", line, col)
    assert words in e.message
    assert str(e).startswith(f"f.nntxt:{line}:{col}: ")


def test_nesting_limit() -> None:
    depth = prototext.MAX_NESTING
    ok = "a {" * depth + "}" * depth
    assert len(list(parse(ok).walk())) == depth
    with pytest.raises(PrototextError) as info:
        parse("a {" * (depth + 1) + "}" * (depth + 1), "deep")
    assert "nest deeper" in info.value.message and info.value.col == 3 * depth + 3


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prototext, "MAX_BYTES", 100)
    with pytest.raises(PrototextError) as info:
        parse("a: 1\n" * 30, "big")
    assert "larger than 100 bytes" in info.value.message


def test_not_utf8_positioned() -> None:
    with pytest.raises(PrototextError) as info:
        parse(b'a: 1\nb: "\xff"', "bin")
    assert (info.value.line, info.value.col) == (2, 5)


ALPHABET = st.sampled_from(list("ab:{}<>[],;\"'\\#\n -1.5e x_") + ["inf", "True", "dim", '"s"', "0x"])


@settings(max_examples=400, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_fuzz_error_or_tree(text: str) -> None:
    try:
        tree = parse(text, "fuzz")
    except PrototextError as e:
        assert e.file == "fuzz" and e.line >= 1 and e.col >= 1
        return
    assert parse(write(tree)).shape() == tree.shape()
