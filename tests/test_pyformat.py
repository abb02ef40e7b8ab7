"""The layout of generated statements (`nndsl.backends.pyformat`) is ruff format's: random
statements of the shapes generated code has (assignments of nested calls, call chains, tuples,
lists, keyword arguments, trailing comments, dict entries), at random lengths, are laid out by
`fit` and then left unchanged by `ruff format`."""

from __future__ import annotations

import keyword
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.backends.pyformat import fit, split_top_level

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")

names = st.from_regex(r"[a-z][a-z0-9_]{0,24}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n))
dotted = st.lists(names, min_size=1, max_size=3).map(".".join)
strings = st.from_regex(r"[a-zA-Z0-9 ./#()\[\],:=-]{0,30}", fullmatch=True).map(lambda s: f'"{s}"')
atoms = st.one_of(names, st.integers(0, 10**6).map(str), strings, st.just('float("-inf")'))


def _compound(inner):
    keyword = st.tuples(names, inner).map(lambda kv: f"{kv[0]}={kv[1]}")
    arguments = st.tuples(st.lists(inner, max_size=4), st.lists(keyword, max_size=4)).map(lambda a: a[0] + a[1])
    calls = st.tuples(dotted, arguments).map(lambda c: f"{c[0]}({', '.join(c[1])})")
    tuples = st.lists(inner, min_size=2, max_size=6).map(lambda xs: f"({', '.join(xs)})")
    lists = st.lists(inner, min_size=1, max_size=6).map(lambda xs: f"[{', '.join(xs)}]")
    chains = st.tuples(calls, st.lists(inner, min_size=1, max_size=3)).map(lambda c: f"{c[0]}({', '.join(c[1])})")
    # `nn.ModuleList(Block(...) for k in range(n))`, `[Block(...) for k in range(n)]`: a repeat's copies
    loops = st.tuples(inner, names, inner).map(lambda c: f"{c[0]} for {c[1]} in range({c[2]})")
    generators = st.tuples(dotted, loops).map(lambda c: f"{c[0]}({c[1]})")
    comprehensions = loops.map(lambda c: f"[{c}]")
    return st.one_of(calls, tuples, lists, chains, generators, comprehensions)


expressions = st.recursive(atoms, _compound, max_leaves=20)
comments = st.one_of(
    st.just(""), st.from_regex(r"[a-z0-9]([a-z0-9x ]{0,38}[a-z0-9])?", fullmatch=True).map(lambda c: f"  # {c}")
)
statements = st.tuples(st.sampled_from(["h", "self.layer_name", "out, aux"]), expressions, comments).map(
    lambda s: f"{s[0]} = {s[1]}{s[2]}"
)
entries = st.tuples(strings, st.lists(atoms, min_size=2, max_size=5)).map(lambda e: f"{e[0]}: ({', '.join(e[1])}),")


@pytest.mark.skipif(RUFF is None, reason="ruff is part of the dev extra")
@given(body=st.lists(statements, min_size=1, max_size=12), table=st.lists(entries, min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fit_lays_out_statements_as_ruff_format_does(body, table):
    source = "def f(self):\n" + "".join(f"    {fit(s, 4)}\n" for s in body) + "    return h\n\n\nTABLE = {\n"
    source += "".join(f"    {fit(e, 4)}\n" for e in table) + "}\n"
    r = subprocess.run(
        [RUFF, "format", "--isolated", "--line-length", "120", "-"],
        input=source, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == source


def test_fit_keeps_short_statements_and_breaks_long_ones_at_the_last_bracket():
    assert fit("x = f(a, b)", 8) == "x = f(a, b)"
    call = "nnc.ImageAugmentation(shape=(3, 224, 224), min_scale=0.467, max_scale=1.67, aspect_ratio=1.33)"
    assert fit("self.aug = " + call, 8, width=60) == (
        "self.aug = nnc.ImageAugmentation(\n"
        "            shape=(3, 224, 224),\n"
        "            min_scale=0.467,\n"
        "            max_scale=1.67,\n"
        "            aspect_ratio=1.33,\n"
        "        )"
    )


def test_a_long_comprehension_puts_its_for_clause_on_a_line_of_its_own():
    element = "Bottleneck(4 * maps, maps, groups=groups, width_per_group=width_per_group, epsilon=epsilon)"
    assert fit(f"self.block = nn.ModuleList({element} for _ in range(blocks - 1))", 8) == (
        f"self.block = nn.ModuleList(\n            {element}\n            for _ in range(blocks - 1)\n        )"
    )


def test_split_top_level_respects_brackets_and_strings():
    assert split_top_level('a, f(b, c), "d, e", [g, h]') == ["a", "f(b, c)", '"d, e"', "[g, h]"]
