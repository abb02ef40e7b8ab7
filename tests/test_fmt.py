"""`nndsl fmt`: canonical, idempotent, comment-preserving, and meaning-preserving."""

import textwrap

import pytest
from conftest import ROOT, SPECS

from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.fmt import format_module
from nndsl.syntax.parser import parse

LIBS = sorted((ROOT / "specs" / "lib").glob("*.nnd"))


def _parses(p) -> bool:
    try:
        return not parse(p.read_text(encoding="utf-8"), "x")[1]
    except UnicodeDecodeError:
        return False


GOLDEN_OK = [p for p in sorted((ROOT / "tests" / "golden").glob("*.nnd")) if _parses(p)]


def fmt(text: str) -> str:
    module, diags = parse(text, "t.nnd")
    assert not diags
    return format_module(module)


def ir_signature(project):
    """Everything about the IR except source positions."""
    return [
        (
            n.name,
            [
                (layer.name, layer.type, sorted(layer.params.items()), layer.inputs, layer.parameters, layer.macs)
                for layer in n.layers
            ],
            [(v.name, v.shape) for v in n.values],
            n.outputs,
        )
        for n in project.networks
    ] + [project.config.__class__.__name__, project.config.optimizers and project.config.optimizers[0].solver.params]


@pytest.mark.parametrize("spec", SPECS + LIBS + GOLDEN_OK, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_fmt_is_idempotent_and_keeps_comments(spec):
    text = spec.read_text(encoding="utf-8")
    once = fmt(text)
    assert fmt(once) == once
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    for c in comments:
        assert c in once
    module, _ = parse(text, "t")
    assert len(parse(once, "t")[0].comments) == len(module.comments)


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_formatted_spec_compiles_to_the_same_ir(spec, tmp_path):
    rel = spec.relative_to(ROOT)
    original = compile_file(rel).project
    formatted = compile_file(rel, text=fmt(spec.read_text(encoding="utf-8"))).project
    assert ir_signature(formatted) == ir_signature(original)


def test_shipped_specs_are_already_canonical():
    for spec in SPECS + LIBS:
        assert main(["fmt", "--check", str(spec.relative_to(ROOT))]) == 0, spec


def test_canonical_form():
    src = textwrap.dedent(
        """\
        # header


        unit   U( a:int,b : int=2 ) {   # trailing
          in x
          h=x->Convolution( a,kernel = 3x3 )->ReLU


          # before out
          out h
        }
        network N { x = Input( 3x8x8 ,dataset = "x" )
            y = x -> U(4) -> repeat i in 2 { Affine(( i + 1 ) * 2) }
        }
        config { max_epoch=3 , batch_size = 2 }
        """
    )
    assert fmt(src) == textwrap.dedent(
        """\
        # header

        unit U(a: int, b: int = 2) {  # trailing
            in x
            h = x -> Convolution(a, kernel=3x3) -> ReLU

            # before out
            out h
        }

        network N {
            x = Input(3x8x8, dataset="x")
            y = x -> U(4) -> repeat i in 2 { Affine((i + 1) * 2) }
        }

        config {
            max_epoch = 3
            batch_size = 2
        }
        """
    )


def test_long_chains_break_before_arrows():
    src = (
        'network N {\n    x = Input(3x8x8, dataset="x")\n    y = x'
        + " -> Convolution(8, kernel=3x3, pad=1x1)" * 4
        + "\n}\n"
    )
    out = fmt(src)
    assert "    y = x\n        -> Convolution(8, kernel=3x3, pad=1x1)\n" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_fmt_writes_in_place_and_check_reports(tmp_path, capsys):
    f = tmp_path / "a.nnd"
    f.write_text('network N {\n  x = Input(4,dataset="x")\n}\n')
    assert main(["fmt", "--check", str(f)]) == 1
    assert f.read_text() == 'network N {\n  x = Input(4,dataset="x")\n}\n'
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == 'network N {\n    x = Input(4, dataset="x")\n}\n'
    assert main(["fmt", "--check", str(f)]) == 0


def test_fmt_refuses_a_file_with_syntax_errors_and_leaves_it(tmp_path, capsys):
    f = tmp_path / "bad.nnd"
    f.write_text("network N {\n  x = Input(4\n")
    assert main(["fmt", str(f)]) == 1
    assert f.read_text() == "network N {\n  x = Input(4\n"
    assert "not formatted" in capsys.readouterr().err


def test_comments_inside_a_block_repeat_stay_inside():
    src = textwrap.dedent(
        """\
        network N {
            x = Input(4x8x8, dataset="x")
            y = x -> res: repeat 2 {
                # first
                in t
                u = t -> Convolution(4, kernel=3x3, pad=1x1) -> ReLU  # inner
                out Add2(t, u)  # last
            } -> ReLU  # after
        }
        """
    )
    out = fmt(src)
    assert out == textwrap.dedent(
        """\
        network N {
            x = Input(4x8x8, dataset="x")
            y = x
                -> res: repeat 2 {
                    # first
                    in t
                    u = t -> Convolution(4, kernel=3x3, pad=1x1) -> ReLU  # inner
                    out Add2(t, u)  # last
                }
                -> ReLU  # after
        }
        """
    )
    assert fmt(out) == out
