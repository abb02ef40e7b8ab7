"""The emitters' expression tree and its one printer (`nndsl.backends.expr`): operators print with
the parentheses Python needs and no more (checked by evaluating what is printed), the printer
records the import of every module a tree names however deep, optional keyword arguments and
wrapped calls print as the framework's defaults allow (and with the merge's marks in full mode),
and every emitter of both backends returns trees, never text."""

from __future__ import annotations

import ast
import operator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.backends import merge
from nndsl.backends.builder import BackendUnsupported, lower
from nndsl.backends.expr import HOLE, MODULE, Expr, Lit, Module, Opt, Printer, Wrapped, cmp, inp, name, render
from nndsl.backends.keras.emit import EMITTERS as KERAS
from nndsl.backends.torch.emit import EMITTERS as TORCH
from nndsl.compiler import compile_file

ZOO = Path(__file__).parent / "nnc" / "fixtures" / "nntxt_export" / "specs" / "all_layers.nnd"

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "**": operator.pow, "&": operator.and_,
        "|": operator.or_, "^": operator.xor, "<": operator.lt, "==": operator.eq}  # fmt: skip


def _trees():
    """Random arithmetic trees over small ints, as (node, the value Python gives the tree itself)."""
    leaf = st.integers(-5, 9).map(lambda v: (Lit(v), v))

    def grow(children):
        binary = st.tuples(st.sampled_from(["+", "-", "*", "&", "|", "^", "<", "=="]), children, children)
        power = st.tuples(children, st.integers(0, 3))  # a literal exponent keeps the values small
        return st.one_of(
            binary.map(
                lambda t: (
                    cmp(t[0], t[1][0], t[2][0]) if t[0] in "<==" else _bin(t[0], t[1][0], t[2][0]),
                    _OPS[t[0]](t[1][1], t[2][1]),
                )
            ),  # fmt: skip
            power.map(lambda t: (t[0][0] ** t[1], t[0][1] ** t[1])),
            children.map(lambda c: (-c[0], -c[1])),
        )

    return st.recursive(leaf, grow, max_leaves=12)


def _bin(op: str, a: Expr, b: Expr) -> Expr:
    return {"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op]


@settings(max_examples=400, deadline=None)
@given(_trees())
def test_printed_arithmetic_evaluates_to_the_trees_value(tree):
    node, value = tree
    text = render(node)
    assert eval(compile(ast.parse(text, mode="eval"), "<expr>", "eval"), {"__builtins__": {}}) == value, text


def test_parentheses_only_where_python_needs_them():
    a, b, c = name("a"), name("b"), name("c")
    assert render(a + b * c) == "a + b * c"
    assert render((a + b) * c) == "(a + b) * c"
    assert render(a - (b - c)) == "a - (b - c)"
    assert render((a - b) - c) == "a - b - c"
    assert render(a ** (b**c)) == "a ** b ** c"
    assert render((a**b) ** c) == "(a ** b) ** c"
    assert render(a**-b) == "a ** -b"
    assert render(Lit(-2) ** a) == "(-2) ** a"
    assert render(-(a + b)) == "-(a + b)"
    assert render((a + b).dot("abs")()) == "(a + b).abs()"
    assert render(cmp("<", cmp("<", a, b), c)) == "(a < b) < c"
    assert render((cmp("!=", a, 0) & cmp("!=", b, 0)).dot("float")()) == "((a != 0) & (b != 0)).float()"


def test_imports_are_recorded_for_modules_however_deep():
    nn = Module("nn", "from torch import nn")
    F = Module("F", "from torch.nn import functional as F")
    torch = Module("torch", "import torch")
    ops = Module("ops", "from keras import ops")
    tree = nn.dot("Sequential")(
        [F.dot("relu")(-(inp(0) + torch.dot("zeros")(1)))[0]],
        scale=Opt(ops.dot("ones")(2), 1),
        pad=Wrapped(nn.dot("Pad")(HOLE), MODULE(inp(1)), True),
    )
    printer = Printer()
    text = printer(tree)
    assert text == "nn.Sequential([F.relu(-({0} + torch.zeros(1)))[0]], scale=ops.ones(2), pad=nn.Pad({m}({1})))"
    assert printer.imports == {
        "nn": "from torch import nn", "F": "from torch.nn import functional as F", "torch": "import torch",
        "ops": "from keras import ops",
    }  # fmt: skip
    assert Printer().imports == {}  # each printer its own record
    untouched = Printer()
    untouched(name("self").dot("training"))
    assert untouched.imports == {}


def test_optional_keywords_are_left_out_at_the_default_and_marked_in_full_mode():
    conv = Module("nn", "from torch import nn").dot("Conv2d")
    at_default = conv(3, 8, kernel_size=3, stride=Opt(1, 1), bias=Opt(True, True))
    changed = conv(3, 8, kernel_size=3, stride=Opt(2, 1), bias=Opt(False, True))
    assert render(at_default) == "nn.Conv2d(3, 8, kernel_size=3)"
    assert render(changed) == "nn.Conv2d(3, 8, kernel_size=3, stride=2, bias=False)"
    full = render(at_default, full=True)
    assert full == "nn.Conv2d(3, 8, kernel_size=3" + merge.option_marker("stride", "1", "1") + (
        merge.option_marker("bias", "True", "True") + ")"
    )
    # The merge reads the marked text back as the plain one.
    assert merge.concrete(full) == render(at_default)
    assert merge.concrete(render(changed, full=True)) == render(changed)
    # A keyword added after an option at its default still gets its comma (the Keras layer name).
    named = Module("layers", "from keras import layers").dot("PReLU")(axis=Opt(1, 1)).with_kwargs(name="p")
    assert render(named) == 'layers.PReLU(name="p")'
    assert merge.concrete(render(named, full=True)) == 'layers.PReLU(name="p")'


def test_wrapped_calls_are_written_where_needed_and_marked_in_full_mode():
    pad = Module("layers", "from keras import layers").dot("ZeroPadding2D")
    for needed in (True, False):
        w = Wrapped(pad(1)(HOLE), inp(0), needed)
        plain = render(w)
        assert plain == ("layers.ZeroPadding2D(1)({0})" if needed else "{0}")
        full = render(w, full=True)
        assert full == merge.raw_marker("layers.ZeroPadding2D(1)(", not needed) + "{0}" + (
            merge.raw_marker(")", not needed)
        )
        assert merge.concrete(full) == plain


def test_printing_visits_each_node_once(monkeypatch):
    """Linear in the tree: every node is written once, into one list of parts (no re-printing of
    subtrees, no joining of nested strings)."""
    ops = Module("ops", "from keras import ops")

    def balanced(depth: int) -> tuple[Expr, int]:
        if depth == 0:
            return inp(depth), 1
        (a, na), (b, nb) = balanced(depth - 1), balanced(depth - 1)
        return ops.dot("add")(a, b * 2), na + nb + 5  # call, attribute, module, product, literal

    tree, nodes = balanced(12)
    calls = []
    write = Printer._write
    monkeypatch.setattr(Printer, "_write", lambda self, e, out: (calls.append(1), write(self, e, out)))
    text = render(tree)
    assert len(calls) == nodes
    assert text.count("ops.add(") == 2**12 - 1


def test_no_emitter_of_either_backend_returns_text():
    """Every layer of the layer zoo (one network per registry type), through both backends' emitters:
    the call and the constructor are trees, and they print."""
    result = compile_file(ZOO)
    assert result.ok, [d.message for d in result.diagnostics]
    seen = {"torch": set(), "keras": set()}
    for backend, emitters in (("torch", TORCH), ("keras", KERAS)):
        for net in result.project.networks:
            for layer in net.layers:
                try:
                    emit = lower(backend, emitters, layer, net)
                except BackendUnsupported:
                    continue
                if emit is None:
                    continue
                assert isinstance(emit.call, Expr), (backend, layer.type, emit.call)
                assert emit.module is None or isinstance(emit.module, Expr), (backend, layer.type)
                render(emit.call, full=True)
                if emit.module is not None:
                    render(emit.module)
                seen[backend].add(layer.type)
    # The zoo reaches (nearly) every emitter of each backend.
    for backend, emitters in (("torch", TORCH), ("keras", KERAS)):
        assert len(seen[backend]) >= 0.9 * len(emitters), sorted(set(emitters) - seen[backend])


def test_what_an_instance_leaves_out_records_no_import():
    layers = Module("layers", "from keras import layers")
    F = Module("F", "from torch.nn import functional as F")
    for full in (False, True):
        printer = Printer(full)
        printer(Wrapped(layers.dot("ZeroPadding2D")(0)(HOLE), inp(0), False))
        printer(Module("nn", "from torch import nn").dot("Conv2d")(1, 2, act=Opt(F.dot("relu"), F.dot("relu"))))
        assert set(printer.imports) == {"nn"}, full
        printer(F.dot("pad")(inp(0), mode=Opt(layers.dot("X"), 1)))
        assert set(printer.imports) == {"nn", "F", "layers"}, full
