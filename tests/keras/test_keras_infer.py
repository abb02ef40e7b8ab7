"""The generated Keras project's infer.py, run as a user runs it on the digits spec: one CSV row per
sample with NNC's output.csv columns, values equal to `Model.run_network`, train.py's checkpoint and
a folder of images give the same values, user errors are one line without a traceback, and the
PyTorch project's infer.py writes the same numbers from the same params.npz."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("keras")
pytest.importorskip("tensorflow")
pytest.importorskip("sklearn")
Image = pytest.importorskip("PIL.Image")

from conftest import import_generated  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_script(project: Path, script: str, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(project / script), *map(str, args)],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def values(rows: list[list[str]], skip: int = 1) -> np.ndarray:
    return np.array([[float(v) for v in row[skip:]] for row in rows])


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    """The digits dataset, built for this module."""
    return build_digits_dataset(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keras_project")
    keras_backend.generate(compile_file(ROOT / "specs" / "digits.nnd").project, out)
    return out


@pytest.fixture(scope="module")
def trained(project, digits) -> Path:
    train_csv, validation_csv = digits
    out = project / "runs"
    datasets = ["--dataset", f"training={train_csv}", "--dataset", f"validation={validation_csv}"]
    r = run_script(project, "train.py", *datasets, "--epochs", 1, "--seed", 0, "--output", out)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    return out / (out / "LATEST").read_text(encoding="utf-8").strip()  # the run's folder


@pytest.fixture(scope="module")
def inferred(project, digits, trained) -> Path:
    """infer.py's output.csv for params.npz on the validation CSV."""
    out = project / "output.csv"
    r = run_script(project, "infer.py", trained / "params.npz", "--dataset", digits[1], "--output", out)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "360 samples, network Runtime x1 (mean)" in r.stdout
    return out


@pytest.fixture(scope="module")
def infer_main(project):
    """infer.py's main(argv), in this process (TensorFlow starts once for the module's quick cases)."""
    module = import_generated(project, "infer")
    folders = {str(project), str(project.resolve())}  # infer.py puts its folder first, to find the project's modules
    sys.path[:] = [p for p in sys.path if p not in folders]
    return module.main


def test_one_row_per_sample_matching_run_network(project, digits, trained, inferred):
    _, validation_csv = digits
    header, rows = read_csv(inferred)
    _, samples = read_csv(validation_csv)
    assert header == ["x:image", *(f"y'__{i}" for i in range(10))]
    assert [row[0] for row in rows] == [s[0] for s in samples]
    probs = values(rows)
    assert probs.shape == (len(samples), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    model = import_generated(project).create_model()
    model.load_params(trained / "params.npz")
    images = np.stack(
        [np.asarray(Image.open(validation_csv.parent / s[0]), dtype=np.float32)[None] / 255.0 for s in samples]
    )  # NNC's layout: (N, 1, 8, 8), normalized as the dataset says
    expected = model.run_network("Runtime", x=images)["y'"]
    np.testing.assert_allclose(probs, expected, atol=1e-6, rtol=1e-5)


def test_checkpoint_and_image_folder_give_the_same_values(infer_main, digits, trained, inferred, tmp_path, capsys):
    _, expected = read_csv(inferred)
    by_name = {Path(row[0]).name: row[1:] for row in expected}
    out = tmp_path / "out.csv"
    assert infer_main([str(trained / "checkpoint"), "--dataset", str(digits[1]), "--output", str(out)]) == 0
    _, rows = read_csv(out)
    assert rows == expected  # the last epoch's checkpoint holds params.npz's values

    folder = digits[1].parent / "images" / "validation"
    out = tmp_path / "folder.csv"
    assert infer_main([str(trained / "params.npz"), "--dataset", str(folder), "--output", str(out)]) == 0
    header, rows = read_csv(out)
    assert header[0] == "x:image"
    assert [row[0] for row in rows] == sorted(by_name)  # every image under the folder, sorted
    for row in rows:
        assert row[1:] == by_name[row[0]], row[0]

    # Several evaluations of a network without random layers: the same values every time, std 0.
    args = ["--dataset", str(digits[1]), "--num-evaluations", "2", "--evaluation", "std", "--output", str(out)]
    assert infer_main([str(trained / "params.npz"), *args]) == 0
    _, rows = read_csv(out)
    assert len(rows) == len(expected) and np.abs(values(rows)).max() < 1e-6
    assert "x2 (std)" in capsys.readouterr().out


def test_bad_dataset_path_exits_with_one_line(project, trained, tmp_path):
    """The script's own output only, on any CPU: TensorFlow's start-up lines (oneDNN's on AVX-512
    CPUs, which TF_CPP_MIN_LOG_LEVEL does not silence) are kept off stderr by tf_startup.py."""
    args = ["--dataset", tmp_path / "nowhere.csv", "--output", tmp_path / "out.csv"]
    r = run_script(project, "infer.py", trained / "params.npz", *args)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == f'error: dataset file "{tmp_path / "nowhere.csv"}" not found'
    assert not (tmp_path / "out.csv").exists()


def test_more_user_errors(infer_main, project, digits, trained, tmp_path, capsys):
    bad_npz = tmp_path / "bad.npz"
    bad_npz.write_bytes(b"not a zip file")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("x:image\nmissing.png\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([tmp_path / "missing.npz", "--dataset", digits[1]], 2, "missing.npz: file not found"),
        ([empty, "--dataset", digits[1]], 1, "no parameter file, checkpoint or run in the folder"),
        ([bad_npz, "--dataset", digits[1]], 1, "bad.npz"),
        ([trained / "log.csv", "--dataset", digits[1]], 1, "log.csv"),
        ([trained / "params.npz", "--dataset", bad_csv], 1, "missing.png"),
        ([trained / "params.npz", "--network", "Nope"], 2, "--network: expected one of Training, Validation, Runtime"),
        ([trained / "params.npz", "--network", "Validation"], 2, "--dataset is needed"),
    ]
    for args, status, words in cases:
        assert infer_main([*map(str, args), "--output", str(tmp_path / "out.csv")]) == status, args
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (args, err)
    assert not (tmp_path / "out.csv").exists()


def test_torch_project_writes_the_same_numbers(digits, trained, inferred, tmp_path_factory):
    pytest.importorskip("torch")
    from nndsl.backends import torch as torch_backend

    torch_project = tmp_path_factory.mktemp("torch_project")
    torch_backend.generate(compile_file(ROOT / "specs" / "digits.nnd").project, torch_project)
    out = torch_project / "output.csv"
    args = [trained / "params.npz", "--dataset", digits[1], "--output", out, "--device", "cpu"]
    r = run_script(torch_project, "infer.py", *args)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    keras_header, keras_rows = read_csv(inferred)
    torch_header, torch_rows = read_csv(out)
    assert torch_header == keras_header
    assert [row[0] for row in torch_rows] == [row[0] for row in keras_rows]
    np.testing.assert_allclose(values(torch_rows), values(keras_rows), atol=1e-4, rtol=0)
