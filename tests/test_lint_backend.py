"""`nndsl lint --backend torch|keras`: every layer a backend cannot express, in one run, without
importing the framework; `compile` reports them all too, before writing anything."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nndsl.backends.builder import Unsupported
from nndsl.backends.check import backend_diagnostics, emitters
from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.layers import REGISTRY

SPEC = """network Runtime {
    x = Input(3x4x4, dataset="x")
    y' = x
        -> BatchNormalization(axes=1)
        -> Deconvolution(6, kernel=2x2, group=3)
        -> BatchNormalization(axes=2)
}
"""


def _refuse(layer, ins, out):
    raise Unsupported("a configuration this test's emitter refuses")


@pytest.fixture
def refusing(monkeypatch):
    """Both backends' BatchNormalization and the Keras Deconvolution emitters refuse every configuration:
    every layer type lowers in both backends now (tests/nnc/test_more_layer_configurations.py), so the
    mechanism is tested with emitters that refuse."""
    for backend in ("torch", "keras"):
        monkeypatch.setitem(emitters(backend), "BatchNormalization", _refuse)
    monkeypatch.setitem(emitters("keras"), "Deconvolution", _refuse)


def _lint(tmp_path, capsys, *args):
    spec = tmp_path / "limits.nnd"
    spec.write_text(SPEC)
    code = main(["lint", str(spec), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def _errors(doc):
    return [(d["line"], d["column"], d["message"]) for d in doc["diagnostics"] if d["code"] == "E0801"]


def test_these_configurations_lint_clean_for_both_backends(tmp_path, capsys):
    """BatchNormalization over a non-channel axis and Keras's grouped Deconvolution, once refused."""
    code, doc = _lint(tmp_path, capsys, "--backend", "torch", "--backend", "keras")
    assert code == 0 and not _errors(doc)


def test_lint_reports_every_layer_each_backend_cannot_express(tmp_path, capsys, refusing):
    code, doc = _lint(tmp_path, capsys, "--backend", "torch", "--backend", "keras")
    assert code == 1
    found = _errors(doc)
    torch_lines = [(line, col) for line, col, m in found if m.startswith("the torch backend")]
    keras = [(line, m.split(": ", 1)[1]) for line, _, m in found if m.startswith("the keras backend")]
    assert torch_lines == [(4, 12), (6, 12)]
    reason = "a configuration this test's emitter refuses"
    assert keras == [(4, reason), (5, reason), (6, reason)]


def test_lint_without_a_backend_checks_the_language_only(tmp_path, capsys, refusing):
    code, doc = _lint(tmp_path, capsys)
    assert code == 0 and not _errors(doc)


def test_compile_reports_them_all_and_writes_nothing(tmp_path, capsys, refusing):
    spec = tmp_path / "limits.nnd"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    assert main(["compile", str(spec), "--backend", "keras", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("error[E0801]") == 3 and "3 errors" in err
    assert not out.exists()


def test_the_check_imports_no_framework():
    code = (
        "import sys; from nndsl.cli import main; main(['lint', 'specs/resnet18.nnd', '--backend', 'torch',"
        " '--backend', 'keras']); print(sorted({'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stderr


def test_a_layer_type_without_an_emitter_is_an_error_at_the_layer(monkeypatch):
    table = emitters("torch")
    monkeypatch.delitem(table, "ReLU")
    result = compile_file("m.nnd", text="network Runtime {\n    x = Input(4)\n    y = x -> ReLU\n}\n")
    (d,) = backend_diagnostics(result.project, "torch")
    assert d.code == "E0801" and (d.span.line, d.span.col) == (3, 14)
    assert "no emitter" in d.message
    assert "ReLU" in REGISTRY
