"""lint's dataset-column check (W107) reads a dataset CSV's header only where a spec may read: a regular
`.csv` file in the spec's folder tree (or an `--include-path` one). A spec naming another file as its
dataset never makes lint show a line of it, and a FIFO or device never hangs it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NNDSL = shutil.which("nndsl", path=str(Path(sys.executable).parent)) or shutil.which("nndsl")
SECRET = "nndsl-dataset-secret-51c2"


def spec_reading(folder: Path, dataset: str) -> Path:
    path = folder / "spec" / "net.nnd"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "network Training {\n"
        '    x = Input(4, dataset="x")\n'
        '    y = Input(1, dataset="y")\n'
        "    loss = x -> Affine(3) -> SoftmaxCrossEntropy(y)\n"
        "}\n"
        f'dataset train = "{dataset}"\n'
        "config {\n    optimizer { network = Training, dataset = train, solver = Sgd }\n}\n",
        encoding="utf-8",
    )
    return path


def lint(path: Path, *extra: str) -> subprocess.CompletedProcess:
    assert NNDSL, "the nndsl console script is not installed"
    r = subprocess.run([NNDSL, "lint", str(path), *extra], capture_output=True, text=True, timeout=30)
    assert "Traceback" not in r.stdout + r.stderr and "internal error" not in r.stdout + r.stderr
    return r


def test_a_csv_in_the_spec_folder_is_checked(tmp_path):
    path = spec_reading(tmp_path, "train.csv")
    (path.parent / "train.csv").write_text("a:image,y:label\nimg.png,1\n", encoding="utf-8")
    r = lint(path)
    assert "W107" in r.stderr and "its columns are: a, y" in r.stderr


@pytest.mark.parametrize("where", ["outside.csv", "outside.txt"])
def test_a_dataset_outside_the_spec_folder_is_never_shown(tmp_path, where):
    (tmp_path / where).write_text(f"{SECRET}:image,{SECRET}2\n", encoding="utf-8")
    r = lint(spec_reading(tmp_path, f"../{where}"))
    assert SECRET not in r.stdout + r.stderr
    assert "W107" not in r.stderr


def test_include_path_widens_the_check(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a:image,y:label\n", encoding="utf-8")
    path = spec_reading(tmp_path, str(data / "train.csv"))
    assert "W107" not in lint(path).stderr
    assert "W107" in lint(path, "--include-path", str(data)).stderr


def test_a_fifo_or_a_file_that_is_not_csv_is_not_read(tmp_path):
    folder = tmp_path / "spec"
    folder.mkdir()
    os.mkfifo(folder / "fifo.csv")
    assert lint(spec_reading(tmp_path, "fifo.csv")).returncode == 0  # returns: the FIFO was not opened
    (folder / "passwd").write_text(f"{SECRET}:x:0:0\n", encoding="utf-8")
    r = lint(spec_reading(tmp_path, "passwd"))
    assert SECRET not in r.stdout + r.stderr
