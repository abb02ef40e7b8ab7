"""The installed `nndsl` command: exit codes, formats, and a fast start without torch."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

NNDSL = shutil.which("nndsl", path=str(Path(sys.executable).parent)) or shutil.which("nndsl")


def run(*args, cwd=ROOT):
    assert NNDSL, "the nndsl console script is not installed"
    return subprocess.run([NNDSL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_version():
    from nndsl import __version__

    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"nndsl {__version__}"


def test_lint_clean_spec_exits_0():
    r = run("lint", "specs/resnet18.nnd", "specs/digits.nnd")
    assert r.returncode == 0, r.stderr
    assert "2 files checked: no problems" in r.stderr


def test_lint_errors_exit_1_with_positions():
    r = run("lint", "tests/golden/merge_mismatch.nnd")
    assert r.returncode == 1
    assert r.stderr.startswith("tests/golden/merge_mismatch.nnd:5:9: error[E0402]: ")


def test_lint_json_format():
    r = run("lint", "--format", "json", "tests/golden/unknown_layer.nnd")
    assert r.returncode == 1
    d = json.loads(r.stdout)
    assert d["errors"] == 1
    (diag,) = d["diagnostics"]
    assert diag["code"] == "E0201" and (diag["line"], diag["column"]) == (3, 14)
    assert diag["help"] == "did you mean 'Convolution'?"


def test_warnings_exit_0_unless_strict():
    assert run("lint", "tests/golden/lint_warnings.nnd").returncode == 0
    assert run("lint", "--strict", "tests/golden/lint_warnings.nnd").returncode == 1


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("lint").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("summary", "specs/digits.nnd", "--format", "yaml").returncode == 2
    assert run("lint", "--max-layers", "0", "specs/digits.nnd").returncode == 2


def test_missing_file_is_an_input_error():
    r = run("lint", "no/such/spec.nnd")
    assert r.returncode == 1
    assert "error[E0105]: cannot read 'no/such/spec.nnd'" in r.stderr
    assert "Traceback" not in r.stderr


def test_compile_checks_the_spec_and_writes_a_torch_project(tmp_path):
    bad = run("compile", "tests/golden/unknown_layer.nnd", "--backend", "torch", "-o", str(tmp_path / "out"))
    assert bad.returncode == 1 and "E0201" in bad.stderr
    assert not (tmp_path / "out").exists()
    r = run("compile", "specs/digits.nnd", "--backend", "torch", "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    names = {p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")}
    assert {"model.py", "config.json", "README.md", "train.py", "infer.py"} <= names
    assert {"nndsl_runtime/torch/nnc.py", "nndsl_runtime/torch/data.py"} <= names
    (tmp_path / "out" / "model.py").write_text("# edited\n")
    again = run("compile", "specs/digits.nnd", "--backend", "torch", "-o", str(tmp_path / "out"))
    assert again.returncode == 1 and "changed since nndsl generated it" in again.stderr
    assert (tmp_path / "out" / "model.py").read_text() == "# edited\n"
    keras = run("compile", "specs/digits.nnd", "--backend", "keras", "-o", str(tmp_path / "k"))
    assert keras.returncode == 0, keras.stderr
    names = {p.relative_to(tmp_path / "k").as_posix() for p in (tmp_path / "k").rglob("*")}
    assert {"model.py", "config.json", "README.md", "train.py"} <= names
    assert {f"nndsl_runtime/keras/{m}.py" for m in ("nnc", "augment", "data")} <= names


def test_summary_text():
    r = run("summary", "specs/lenet.nnd", "--network", "Training")
    assert r.returncode == 0
    assert "network Training (trained)" in r.stdout and "78,810" in r.stdout


def test_max_layers_option():
    r = run("lint", "--max-layers", "100", "specs/resnet18.nnd")
    assert r.returncode == 1 and "E0701" in r.stderr


@pytest.mark.parametrize(
    "command",
    [["lint", "specs/resnet152.nnd"], ["summary", "specs/resnet18.nnd"], ["fmt", "--check", "specs/lenet.nnd"]],
)
def test_lint_summary_fmt_never_import_torch_or_tensorflow(command):
    code = (
        "import sys\n"
        "from nndsl.cli import main\n"
        f"rc = main({command!r})\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('torch', 'tensorflow', 'keras', 'jax', 'numpy'))\n"
        "print(rc, heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "0 []", r.stdout + r.stderr


def test_internal_errors_are_reported_without_traceback(monkeypatch, capsys):
    from nndsl import cli

    def boom(args):
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(cli.COMMANDS, "lint", boom)
    monkeypatch.delenv("NNDSL_DEBUG", raising=False)
    assert cli.main(["lint", "specs/digits.nnd"]) == 3
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: simulated bug" in err and "Traceback" not in err


def test_python_dash_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nndsl", "--version"], capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0 and r.stdout.startswith("nndsl ")


def test_compile_points_at_a_layer_the_backend_cannot_express(tmp_path, monkeypatch, capsys):
    """Every layer type lowers in both backends (tests/nnc/test_more_layer_configurations.py): an emitter
    made to refuse stands for a configuration a backend cannot express."""
    from nndsl import cli
    from nndsl.backends.builder import Unsupported
    from nndsl.backends.check import emitters

    def refuse(layer, ins, out):
        raise Unsupported("a configuration this test's emitter refuses")

    monkeypatch.setitem(emitters("torch"), "BatchNormalization", refuse)
    spec = tmp_path / "bn_axes.nnd"
    spec.write_text(
        "network Runtime {\n    x = Input(3x4x4)\n    y = x -> BatchNormalization(axes=1) -> Affine(2)\n}\n"
    )
    assert cli.main(["compile", str(spec), "--backend", "torch", "-o", str(tmp_path / "out")]) == 1
    assert (
        f"{spec}:3:14: error[E0801]: the torch backend cannot express 'BatchNormalization' (BatchNormalization)"
        in capsys.readouterr().err
    )
