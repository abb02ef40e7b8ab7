"""`nndsl lint --backend torch|keras`: every layer a backend cannot express, in one run, without
importing the framework; `compile` reports them all too, before writing anything."""

from __future__ import annotations

import json
import subprocess
import sys

from nndsl.backends.check import backend_diagnostics, emitters
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


def _lint(tmp_path, *args):
    spec = tmp_path / "limits.nnd"
    spec.write_text(SPEC)
    cmd = [sys.executable, "-m", "nndsl", "lint", str(spec), "--format", "json", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r, json.loads(r.stdout)


def _errors(doc):
    return [(d["line"], d["column"], d["message"]) for d in doc["diagnostics"] if d["code"] == "E0801"]


def test_lint_reports_every_layer_each_backend_cannot_express(tmp_path):
    r, doc = _lint(tmp_path, "--backend", "torch", "--backend", "keras")
    assert r.returncode == 1
    found = _errors(doc)
    torch_lines = [(line, col) for line, col, m in found if m.startswith("the torch backend")]
    keras = [(line, m.split(": ", 1)[1]) for line, _, m in found if m.startswith("the keras backend")]
    # torch: both BatchNormalizations over non-channel axes; Keras: those and the grouped Deconvolution.
    assert torch_lines == [(4, 12), (6, 12)]
    assert keras == [
        (4, "BatchNormalization over axes other than the channels"),
        (5, "grouped Deconvolution (Keras's Conv*DTranspose has no groups)"),
        (6, "BatchNormalization over axes other than the channels"),
    ]


def test_lint_without_a_backend_checks_the_language_only(tmp_path):
    r, doc = _lint(tmp_path)
    assert r.returncode == 0 and not _errors(doc)


def test_compile_reports_them_all_and_writes_nothing(tmp_path):
    spec = tmp_path / "limits.nnd"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nndsl", "compile", str(spec), "--backend", "keras", "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.count("error[E0801]") == 3 and "3 errors" in r.stderr
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
