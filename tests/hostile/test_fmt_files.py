"""`nndsl fmt` and the files it rewrites: through a symbolic link (the link stays a link),
never a read-only file, and idempotent on specs with lines too long to keep."""

import os
import stat

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nndsl.cli import main
from nndsl.fmt import format_module
from nndsl.syntax.parser import parse

UNFORMATTED = 'network N {\n  x = Input(4,dataset="x")\n}\n'
FORMATTED = 'network N {\n    x = Input(4, dataset="x")\n}\n'
LONG_DATASET = (
    'dataset train = "train.csv" { shuffle = true, cache = true, image_normalization = true, other = 1, '
    "more = 2222222 }"
)


def fmt(text: str) -> str:
    module, diags = parse(text, "t.nnd")
    assert not diags, diags
    return format_module(module)


def test_fmt_writes_through_a_symbolic_link(tmp_path, capsys):
    target = tmp_path / "real" / "net.nnd"
    target.parent.mkdir()
    target.write_text(UNFORMATTED)
    target.chmod(0o640)
    link = tmp_path / "link.nnd"
    link.symlink_to(os.path.relpath(target, tmp_path))
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, tmp_path)
    assert target.read_text() == FORMATTED and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["net.nnd"]  # no temporary file left
    assert "link.nnd: formatted" in capsys.readouterr().err


def test_fmt_refuses_a_read_only_file_and_leaves_it(tmp_path, capsys):
    spec = tmp_path / "ro.nnd"
    spec.write_text(UNFORMATTED)
    spec.chmod(0o444)
    link = tmp_path / "link.nnd"
    link.symlink_to(spec)
    for name in (spec, link):
        assert main(["fmt", str(name)]) == 1
        err = capsys.readouterr().err
        assert f"nndsl: error: {name}: not formatted: the file is read-only" in err and "Traceback" not in err
    assert spec.read_text() == UNFORMATTED and stat.S_IMODE(spec.stat().st_mode) == 0o444
    assert main(["fmt", "--check", str(spec)]) == 1  # --check writes nothing: read-only is fine
    spec.chmod(0o644)
    assert main(["fmt", str(spec)]) == 0 and spec.read_text() == FORMATTED


def test_fmt_goes_on_after_a_read_only_file(tmp_path, capsys):
    ro, rw = tmp_path / "ro.nnd", tmp_path / "rw.nnd"
    for p in (ro, rw):
        p.write_text(UNFORMATTED)
    ro.chmod(0o444)
    assert main(["fmt", str(ro), str(rw)]) == 1
    assert ro.read_text() == UNFORMATTED and rw.read_text() == FORMATTED


def test_a_long_dataset_line_next_to_another_item_formats_once():
    net = 'network N {\n    x = Input(4, dataset="x")\n}\n'
    for text in (
        f'{LONG_DATASET}\ndataset v = "v.csv"\n{net}',
        f'dataset v = "v.csv"\n{LONG_DATASET}\n{net}',
        f"{LONG_DATASET}\n{LONG_DATASET.replace('train', 'valid')}\n",
    ):
        once = fmt(text)
        assert fmt(once) == once, once


# --- fmt(fmt(x)) == fmt(x) on specs with long lines -----------------------------------------

_KEYWORDS = {"unit", "network", "dataset", "config", "include", "in", "out", "if", "else", "repeat", "with", "true"}
_KEYWORDS |= {"false", "and", "or", "not"}
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,24}", fullmatch=True).filter(lambda n: n not in _KEYWORDS)
VALUES = st.one_of(
    st.integers(0, 10**9).map(str),
    st.sampled_from(["true", "false", "0.5", "1e-4", "30 epochs"]),
    NAMES.map(lambda n: f'"{n}.csv"'),
)


@st.composite
def dataset(draw) -> str:
    head = f'dataset {draw(NAMES)} = "{draw(NAMES)}.csv"'
    entries = [f"{k} = {v}" for k, v in draw(st.lists(st.tuples(NAMES, VALUES), max_size=8))]
    if not entries:
        return head
    if draw(st.booleans()):
        return f"{head} {{ {', '.join(entries)} }}"
    return head + " {\n" + "".join(f"    {e}\n" for e in entries) + "}"


@st.composite
def network(draw) -> str:
    layers = draw(
        st.lists(st.sampled_from(["ReLU", "Affine(10)", "Tanh", "Dropout(0.5)", "h: Affine(200)"]), max_size=14)
    )
    chain = " -> ".join(["x", *layers]) if layers else "x"
    return f'network {draw(NAMES).capitalize()} {{\n    x = Input(4, dataset="x")\n    y = {chain}\n}}'


@st.composite
def config(draw) -> str:
    sections = draw(st.lists(st.tuples(NAMES, NAMES, NAMES), max_size=3))
    body = "".join(f"    monitor {m} {{ network = {n.capitalize()}, dataset = {d} }}\n" for m, n, d in sections)
    return "config {\n" + f"    max_epoch = {draw(st.integers(1, 10**6))}\n" + body + "}"


# Datasets most often, and most often on adjacent lines: the layout fmt keeps together.
ITEMS = st.one_of(dataset(), dataset(), dataset(), network(), config(), NAMES.map(lambda n: f'include "{n}.nnd"'))
SEPARATORS = st.sampled_from(["\n", "\n", "\n", "\n\n", "\n# a comment\n", "  # at the end\n", "\n\n\n"])


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.tuples(ITEMS, SEPARATORS), min_size=1, max_size=6))
def test_fmt_is_idempotent_on_specs_with_long_lines(items):
    text = "".join(item + sep for item, sep in items)
    module, diags = parse(text, "t.nnd")
    assume(not diags)
    once = format_module(module)
    assert fmt(once) == once
