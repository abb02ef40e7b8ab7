"""The wheel ships the grammar (and templates) inside the package and works outside the checkout."""

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_contains_the_grammar_and_runs_outside_the_source_tree(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("nndsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nndsl/grammar/nnd.lark" in names
    assert any(n.startswith("nndsl/templates/") for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import nndsl.syntax.parser as p, sys\n"
        "g = p.grammar_path()\n"
        f"assert str(g).startswith({str(site)!r}), g\n"
        "from nndsl.cli import main\n"
        f"sys.exit(main(['lint', {str(ROOT / 'specs' / 'lenet.nnd')!r}]))\n"
    )
    env_path = str(site)
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the checkout: '' on sys.path must not find the source tree
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_main_job_runs_from_the_wheel_and_writes_only_under_its_output(tmp_path):
    """Installed from a wheel (no checkout, no specs/), the main job finds the spec it ships and builds
    its dataset under its output folder, leaving the installed package untouched."""
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "dist").glob("nndsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nndsl/examples/digits.nnd" in names
    # the transfer job's specs (nndsl/examples/transfer/), which it copies out of the package
    assert {
        f"nndsl/examples/transfer/{n}.nnd" for n in ("backbone", "new_digits", "pretrain", "finetune", "scratch")
    } <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    before = sorted(p.relative_to(site) for p in site.rglob("*") if "__pycache__" not in p.parts)
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run(
        [sys.executable, "-m", "nndsl.examples.digits_job", "--epochs", "1", "--out", "job"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "validation error after 1 epochs" in r.stdout
    assert (work / "job" / "data" / "digits" / "train.csv").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["job"]
    after = sorted(p.relative_to(site) for p in site.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
