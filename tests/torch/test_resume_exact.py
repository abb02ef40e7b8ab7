"""A torch run killed (SIGKILL) at several moments and resumed equals the run never interrupted, bit for
bit: every parameter of params.npz and best.npz, every log row but its seconds, with --workers 0 and 2.

The digits spec's RandomShift draws from torch's global generator, so any loader that draws from it too
(the monitors' did: a resumed process drew its first base seed at another moment) shows here."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
EPOCHS = 5


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The project and a small digits dataset (4 mini-batches an epoch): a run is mostly start-up."""
    root = tmp_path_factory.mktemp("exact")
    train_csv, validation_csv = build_digits_dataset(root / "digits")
    for path, rows in ((train_csv, 256), (validation_csv, 96)):
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[: rows + 1]) + "\n")
    project = root / "project"
    generate(compile_file(ROOT / "specs" / "digits.nnd").project, project)
    return project, train_csv, validation_csv


def command(small, workers: int, output: Path, *extra: str) -> list[str]:
    project, train_csv, validation_csv = small
    return [
        sys.executable, str(project / "train.py"), "--dataset", f"training={train_csv}",
        "--dataset", f"validation={validation_csv}", "--epochs", str(EPOCHS), "--seed", "11", "--deterministic",
        "--workers", str(workers), "--output", str(output), *extra,
    ]  # fmt: skip


def run(small, *args, **kwargs) -> subprocess.CompletedProcess:
    r = subprocess.run(command(small, *args, **kwargs), cwd=small[0], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def latest(output: Path) -> Path:
    return output / (output / "LATEST").read_text().strip()


def log_rows(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def assert_same_run(a: Path, b: Path) -> None:
    assert log_rows(a) == log_rows(b)
    for name in ("params.npz", "best.npz"):
        with np.load(a / name) as x, np.load(b / name) as y:
            assert sorted(x.files) == sorted(y.files)
            for key in x.files:
                assert np.array_equal(x[key], y[key]), f"{name}: {key}"


def kill_when(small, workers: int, output: Path, rows: int | None, delay: float) -> bool:
    """Start a run, SIGKILL it when its log has `rows` rows (None: when its first checkpoint exists)
    plus `delay` seconds; True when it was killed before it finished."""
    process = subprocess.Popen(
        command(small, workers, output), cwd=small[0], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    try:
        while True:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            run = output / (output / "LATEST").read_text().strip() if (output / "LATEST").exists() else None
            logged = run is not None and (run / "log.csv").exists()  # written after the checkpoint
            if logged and (rows is None or len(log_rows(run)) >= rows):
                break
            time.sleep(0.01)
        time.sleep(delay)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    return not (latest(output) / "params.npz").exists()


@pytest.fixture(scope="module")
def straight(small, tmp_path_factory) -> dict[int, Path]:
    out = tmp_path_factory.mktemp("straight")
    return {w: (run(small, w, out / f"w{w}"), latest(out / f"w{w}"))[1] for w in (0, 2)}


def test_workers_do_not_change_the_run(straight):
    assert_same_run(straight[0], straight[2])


@pytest.mark.parametrize(
    "workers, rows, delay",
    [(0, 1, 0.0), (0, None, 1.1), (2, 3, 0.0), (2, None, 0.3)],
    ids=["w0-epoch1", "w0-later", "w2-epoch3", "w2-soon"],
)
def test_killed_and_resumed_equals_straight(small, straight, tmp_path, workers, rows, delay):
    out = tmp_path / "runs"
    killed = kill_when(small, workers, out, rows, delay)
    run(small, workers, out, "--resume")
    resumed = latest(out)
    assert [int(r["epoch"]) for r in log_rows(resumed)] == list(range(1, EPOCHS + 1))
    assert_same_run(straight[workers], resumed)
    assert killed or delay > 0, "killed too late to test anything"
