"""Hostile input against the front end's limits: deep nesting, super-linear cost, cycles
and models too large for memory. Each gets a positioned diagnostic and exit 1 from the
real `nndsl` command, never a traceback or an internal error (exit 3), and each stage
does work linear in its input (counted here in steps, not timed: the figures are printed
by benchmarks/frontend_limits.py).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SPECS

from nndsl.backends.naming import Namer
from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.limits import MAX_DEPTH, MAX_NESTING
from nndsl.passes import count_layers, expand, lint
from nndsl.passes.expand import Expander
from nndsl.syntax import parser
from nndsl.syntax.parser import parse

NNDSL = shutil.which("nndsl", path=str(Path(sys.executable).parent)) or shutil.which("nndsl")


def run(*args, env=None):
    assert NNDSL, "the nndsl console script is not installed"
    return subprocess.run(
        [NNDSL, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def clean(r) -> None:
    """No traceback, no internal error, whatever the outcome."""
    assert "Traceback" not in r.stderr + r.stdout
    assert "internal error" not in r.stderr
    assert r.returncode in (0, 1), r.stderr


def network(name: str, body: str) -> str:
    return f'network {name} {{\n    x = Input(4, dataset="x")\n{body}\n}}\n'


# --- deep nesting: one item per construct, each slightly past MAX_NESTING -------------------------

N = MAX_NESTING + 3
# name -> (the network body, the column where the first node past the limit starts)
DEEP = {
    "unary_minus": ("    y = x -> MulScalar(" + "-" * N + "1)", 24 + MAX_NESTING - 2),
    "not": ("    if " + "not " * N + "true {\n        y = x -> ReLU\n    }", None),
    "lists": ("    y = x -> MulScalar(" + "[" * N + "1" + "]" * N + ")", None),
    "ifs": ("    " + "if true { " * N + "y = x -> ReLU" + " }" * N, None),
    "repeats": ("    y = x -> " + "repeat 1 { " * N + "ReLU" + " }" * N, None),
    "repeat_blocks": ("    y = x -> " + "repeat 1 {\n in t\n out t -> " * N + "ReLU" + "\n}" * N, None),
    "calls": ("    y = " + "Add2(" * N + "x" + ", x)" * N, None),
    "parenthesised_right_operands": ("    y = x -> MulScalar(" + "1 - (" * N + "1" + ")" * N + ")", None),
}
# The issue's sizes: far past the limit, where the stages used to overflow Python's stack.
ISSUE = {
    "unary_minus_984": "    y = x -> MulScalar(" + "-" * 984 + "1)",
    "ifs_492": "    " + "if true { " * 492 + "y = x -> ReLU" + " }" * 492,
    "lists_493": "    y = x -> MulScalar(" + "[" * 493 + "1" + "]" * 493 + ")",
    "repeats_492": "    y = x -> " + "repeat 1 { " * 492 + "ReLU" + " }" * 492,
}


@pytest.fixture(scope="module")
def deep_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("deep") / "deep.nnd"
    items = [network(f"N_{name}", body) for name, (body, _) in DEEP.items()]
    items += [network(f"I_{name}", body) for name, body in ISSUE.items()]
    path.write_text("\n".join(items), encoding="utf-8")
    return path


def test_every_deep_construct_is_one_positioned_E0210(deep_spec):
    _, diags = parse(deep_spec.read_text(encoding="utf-8"), str(deep_spec))
    assert [d.code for d in diags] == ["E0210"] * (len(DEEP) + len(ISSUE))
    lines = deep_spec.read_text(encoding="utf-8").splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line.startswith("network ")]
    for d, start, name in zip(diags, starts, [*DEEP, *ISSUE], strict=True):
        assert d.span.line > start, name  # inside its own network
        assert f"deeper than {MAX_NESTING} levels" in d.message
    column = DEEP["unary_minus"][1]
    assert (diags[0].span.line, diags[0].span.col) == (starts[0] + 2, column)


@pytest.mark.parametrize(
    "command",
    [
        ["lint"],
        ["summary"],
        ["fmt", "--check"],
        ["compile", "--backend", "torch", "-o", "{out}"],
        ["compile", "--backend", "keras", "-o", "{out}"],
    ],
    ids=["lint", "summary", "fmt", "torch", "keras"],
)
def test_deep_nesting_through_every_command(deep_spec, tmp_path, command):
    r = run(*[a.format(out=tmp_path / "out") for a in command], deep_spec)
    clean(r)
    assert r.returncode == 1
    assert r.stderr.count("error[E0210]") == len(DEEP) + len(ISSUE)
    assert f"{deep_spec}:3:{DEEP['unary_minus'][1]}: error[E0210]" in r.stderr


def test_json_is_one_document_with_every_nesting_error(deep_spec):
    r = run("lint", "--format", "json", deep_spec)
    clean(r)
    doc = json.loads(r.stdout)
    assert doc["errors"] == len(DEEP) + len(ISSUE)
    assert {d["code"] for d in doc["diagnostics"]} == {"E0210"}


def test_nesting_at_the_limit_is_accepted_and_one_more_is_refused():
    for depth, ok in ((MAX_NESTING - 3, True), (MAX_NESTING - 2, False)):
        # statements are level 1, a chain's stages 2, their arguments 3: the unary minus
        # signs are levels 3, 4, ... and the number under them one more
        text = network("N", "    y = x -> MulScalar(" + "-" * depth + "1)")
        r = compile_file("limit.nnd", text=text)
        assert r.ok == ok, (depth, [d.message for d in r.diagnostics])


# --- flat constructs of any length are handled, not refused -----------------------------------------

FLAT = "\n".join(
    [
        network("Sum", "    y = x -> MulScalar(" + " + ".join(["1"] * 5000) + ")"),
        network("Products", "    y = x -> MulScalar(" + " * ".join(["1"] * 3000) + ")"),
        network(
            "Mixed",  # a left-nested run that needs parentheses at every step
            "    y = x -> MulScalar(" + "(" * 1000 + "1" + "".join(f" + {i}) * 1" for i in range(1000)) + ")",
        ),
        network(
            "ElseIf",
            "    if false {\n        y = x -> ReLU\n    }"
            + "".join(f" else if {i} == 0 {{\n        y = x -> ReLU\n    }}" for i in range(1, 2000))
            + " else {\n        y = x -> Tanh\n    }",
        ),
        network("Parens", "    y = x -> MulScalar(" + "(" * 2000 + "2" + ")" * 2000 + ")"),
    ]
)


def test_long_sums_else_if_chains_and_parentheses_compile_and_format(tmp_path):
    r = compile_file("flat.nnd", text=FLAT)
    assert r.ok, [d.message for d in r.diagnostics[:3]]
    values = {
        net.name: next(layer.params for layer in net.layers if layer.type in ("MulScalar", "Tanh", "ReLU"))
        for net in r.project.networks
    }
    assert values["Sum"]["value"] == 5000.0
    assert values["Products"]["value"] == 1.0
    assert values["Mixed"]["value"] == sum(range(1000)) + 1
    assert values["Parens"]["value"] == 2.0
    assert next(layer.type for layer in r.project.network("ElseIf").layers if layer.type != "Input") == "Tanh"
    module, diags = parse(FLAT, "flat.nnd")
    assert not diags
    once = format_module(module)
    again, diags = parse(once, "flat.nnd")
    assert not diags and format_module(again) == once
    path = tmp_path / "flat.nnd"
    path.write_text(once, encoding="utf-8")
    r2 = compile_file(path)
    assert r2.ok
    assert [n.layers[-1].params for n in r2.project.networks] == [n.layers[-1].params for n in r.project.networks]


def test_flat_constructs_through_the_cli(tmp_path):
    path = tmp_path / "flat.nnd"
    path.write_text(FLAT, encoding="utf-8")
    for args in (["lint"], ["fmt", "--check"], ["compile", "--backend", "torch", "-o", tmp_path / "out"]):
        r = run(*args, path)
        clean(r)
        assert "error[" not in r.stderr, r.stderr[:500]


# --- the expansion's depth, through unit instances ------------------------------------------------


def unit_tower(units: int, ifs: int) -> str:
    """`units` units, each calling the next inside `ifs` nested if blocks."""
    text = f"unit U{units} {{\n    in x\n    out x -> ReLU\n}}\n"
    for k in range(units - 1, -1, -1):
        text += f"unit U{k} {{\n    in x\n" + "if true {\n" * ifs + f"out x -> U{k + 1}\n" + "}\n" * ifs + "}\n"
    return text + network("Training", "    y = x -> U0")


def test_a_deep_expansion_is_E0211_with_the_outermost_instance():
    r = compile_file("tower.nnd", text=unit_tower(60, 2))
    (d,) = r.diagnostics
    assert d.code == "E0211" and f"deeper than {MAX_DEPTH} levels" in d.message
    assert d.span.line > 1 and d.notes and "outermost" in d.notes[0].message


def test_the_deepest_accepted_expansion_generates_clean_code_in_both_backends(tmp_path):
    # 60 units, each a chain and a repeat around the next: 121 levels, just under the limit.
    text = "unit U60 {\n    in x\n    out x -> ReLU\n}\n"
    for k in range(59, -1, -1):
        text += f"unit U{k} {{\n    in x\n    out x -> repeat 1 {{ U{k + 1} }}\n}}\n"
    path = tmp_path / "tower.nnd"
    path.write_text(text + network("Training", "    y = x -> U0"), encoding="utf-8")
    ruff = Path(sys.executable).parent / "ruff"
    for backend in ("torch", "keras"):
        r = run("compile", "--backend", backend, "-o", tmp_path / backend, path)
        clean(r)
        assert r.returncode == 0, r.stderr
        # A model of parameterless layers only: Keras's classes had an empty __init__, and
        # both backends an unused import or an unformatted empty PARAMETERS table.
        for check in (["check"], ["format", "--check"]):
            lint_run = subprocess.run([ruff, *check, "."], cwd=tmp_path / backend, capture_output=True, text=True)
            assert lint_run.returncode == 0, lint_run.stdout + lint_run.stderr


def test_limits_do_not_depend_on_the_callers_stack():
    """The deepest accepted spec compiles and formats from deep inside a caller's stack."""
    text = unit_tower(40, 1) + network("Deep", "    y = x -> MulScalar(" + "-" * (MAX_NESTING - 3) + "1)")
    module, diags = parse(text, "deep.nnd")
    assert not diags

    def nested(n):
        if n:
            return nested(n - 1)
        return compile_file("deep.nnd", text=text), format_module(module)

    limit = sys.getrecursionlimit()
    r, formatted = nested(limit - 100)
    assert r.ok, [d.message for d in r.diagnostics]
    assert formatted.startswith("unit U40")
    assert sys.getrecursionlimit() == limit


# --- error recovery is linear ---------------------------------------------------------------------


def test_recovery_reads_each_part_of_the_file_once(monkeypatch):
    lines = 4000
    text = "".join(f"network N{i} {{ x = = }}\n" for i in range(lines))
    lexed = []
    real = parser._PostLex.process

    def counting(self, stream):
        def lexer():
            for tok in stream:
                lexed.append(tok.type)
                yield tok

        return real(self, lexer())

    monkeypatch.setattr(parser._PostLex, "process", counting)
    _, diags = parse(text, "bad.nnd")
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [
        ("E0101", i + 1, len(f"network N{i} {{ x = ") + 1) for i in range(lines)
    ]
    # Each line's tokens up to its error, once: the parser used to lex a blanked copy of
    # everything before the error again after each error (8 million newlines here).
    assert len(lexed) <= 6 * lines


def test_recovery_keeps_positions_and_brackets_of_later_items():
    text = 'network A { x = = }\n\nnetwork B {\n    x = Input(4, dataset="x")\n    y = x -> Affine(3\n}\n'
    _, diags = parse(text, "two.nnd")
    assert [(d.code, d.span.line) for d in diags] == [("E0101", 1), ("E0102", 6)]
    assert "opened at 5:" in diags[1].message


# --- the layer limit before building ---------------------------------------------------------------


def doubling(levels: int) -> str:
    """Each unit calls the one below twice: 2^levels layers."""
    text = "unit U0 {\n    in x\n    out x -> ReLU\n}\n"
    for k in range(1, levels + 1):
        text += f"unit U{k} {{\n    in x\n    out x -> a: U{k - 1} -> b: U{k - 1}\n}}\n"
    return text + network("Training", f"    y = x -> U{levels}")


def test_an_exponential_unit_tree_is_refused_before_any_layer_is_built(monkeypatch):
    built = []
    real = Expander._layer
    monkeypatch.setattr(Expander, "_layer", lambda self, *a: built.append(1) or real(self, *a))
    r = compile_file("tree.nnd", text=doubling(60), max_layers=1000)
    (d,) = r.diagnostics
    assert d.code == "E0701" and d.span.line == 3  # the ReLU in U0 that crosses the limit
    assert len(d.notes) == 61 and "unit 'U0'" in d.notes[0].message
    assert built == []  # the expander used to build up to the limit first


def test_a_tree_of_a_million_layers_through_the_cli(tmp_path):
    path = tmp_path / "tree.nnd"
    path.write_text(doubling(20), encoding="utf-8")  # 2^20 ReLU and an Input: just past 1,000,000
    r = run("lint", path)
    clean(r)
    assert r.returncode == 1
    assert r.stderr.startswith(f"{path}:3:14: error[E0701]: expanding this would make more than 1,000,000 layers")


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_the_count_stops_where_the_expander_stops(spec, monkeypatch):
    """At one layer under each shipped spec's size, the count reports the place the
    expander itself reports when it builds up to the limit. The size is what the expander
    builds: every network's layers before it leaves out those no output needs (GoogLeNet's
    auxiliary classifiers, built in Validation and Runtime too)."""
    with monkeypatch.context() as m:
        m.setattr(expand, "_prune", lambda graph: graph)
        layers = sum(len(n.layers) for n in compile_file(spec).project.networks)
    assert compile_file(spec, max_layers=layers).ok
    counted = compile_file(spec, max_layers=layers - 1)
    monkeypatch.setattr(count_layers.LayerCounter, "over", lambda self, body, budget: None)
    built = compile_file(spec, max_layers=layers - 1)
    assert [d.code for d in counted.diagnostics] == ["E0701"]
    assert counted.diagnostics[0].span == built.diagnostics[0].span


# --- derived networks and long chains: linear work -------------------------------------------------


def test_lint_reads_each_network_once_among_many_derived(monkeypatch):
    text = network("Validation", "    y = x -> fc: Affine(2) -> m: MulScalar(2.0)")
    text += "".join(f"network V{i} = Validation with {{ m.value = {i}.5 }}\n" for i in range(60))
    calls = []
    real = lint._consumers
    monkeypatch.setattr(lint, "_consumers", lambda net: calls.append(net.name) or real(net))
    r = compile_file("derived.nnd", text=text, lint=True)
    assert r.ok
    assert len(calls) <= 61  # was one per pair of networks: 1,830


def test_preprocessing_warning_still_names_both_networks():
    text = network("Training", "    y = x -> MulScalar(0.5) -> fc: Affine(2)")
    text += network("Validation", "    y = x -> fc: Affine(2)")
    r = compile_file("w104.nnd", text=text, lint=True)
    (w,) = [d for d in r.diagnostics if d.code == "W104"]
    assert "'Training' and 'Validation'" in w.message and w.span.line == 6


def test_fresh_names_cost_one_step_each():
    class Counting(set):
        probes = 0

        def __contains__(self, item):
            Counting.probes += 1
            return super().__contains__(item)

    namer = Namer()
    namer.used = Counting(namer.used)
    names = [namer.take("h") for _ in range(3000)]
    assert names[:3] == ["h", "h_2", "h_3"] and len(set(names)) == 3000
    assert Counting.probes <= 3 * 3000  # was 4.5 million
    namer.used.add("b_2")
    assert [namer.take("b"), namer.take("b")] == ["b", "b_3"]


# --- derived-network cycles ----------------------------------------------------------------------------

CYCLE = network("Validation", "    y = x -> fc: Affine(2) -> m: MulScalar(2.0)") + (
    "network X = A with { m.value = 1.0 }\n"
    "network A = B with { m.value = 1.0 }\n"
    "network B = C with { m.value = 1.0 }\n"
    "network C = A with { m.value = 1.0 }\n"
)


def test_a_derived_cycle_is_E0212_once_at_the_derivation_that_closes_it(tmp_path):
    path = tmp_path / "cycle.nnd"
    path.write_text(CYCLE, encoding="utf-8")
    outputs = set()
    for seed in ("0", "1", "2"):
        r = run("lint", path, env={"PYTHONHASHSEED": seed})
        clean(r)
        outputs.add(r.stderr)
    (out,) = outputs  # the same text in every run
    assert out.startswith(f"{path}:8:13: error[E0212]: derived networks form a cycle: A -> B -> C -> A\n")
    assert out.count("error[") == 1 and "include cycle" not in out


# --- models too large for memory -----------------------------------------------------------------------


def test_parameters_and_activations_past_the_limits(tmp_path):
    path = tmp_path / "huge.nnd"
    path.write_text(
        'network Big {\n    x = Input(1000000, dataset="x")\n    y = x -> fc: Affine(100000)\n}\n'
        + network("Wide", "    y = x -> wide: Affine(20000000000)"),
        encoding="utf-8",
    )
    r = run("lint", path)
    clean(r)
    assert r.returncode == 1
    assert f"{path}:3:14: error[E0410]" in r.stderr  # 10^11 weights
    assert f"{path}:7:14: error[E0411]" in r.stderr  # 2 x 10^10 values per sample
    assert r.stderr.count("error[") == 2
    r = run("lint", "--max-parameters", 10**12, "--max-activations", 10**11, path)
    clean(r)
    assert "error[" not in r.stderr
    assert run("lint", "--max-parameters", "0", path).returncode == 2
    assert run("lint", "--max-activations", "-5", path).returncode == 2


def test_shared_parameters_count_once():
    # 4 x 2 x 10^9 weights in each network, the same parameter: 8 x 10^9 in all, under 10^10.
    text = network("A", "    y = x -> fc: Affine(2000000000, bias=false)")
    text += network("B", "    y = x -> fc: Affine(2000000000, bias=false)")
    r = compile_file("shared.nnd", text=text)
    assert r.ok, [d.message for d in r.diagnostics]
    r = compile_file("shared.nnd", text=text, max_parameters=7_999_999_999)
    assert [d.code for d in r.diagnostics] == ["E0410"]
