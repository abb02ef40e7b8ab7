"""The generated Keras project's train.py, run as a user runs it: it reaches NNC-level accuracy on
the digits spec, resumes a killed run from its last checkpoint to the same result, and trains
with MultiWorkerMirroredStrategy across two processes on this machine (loopback only)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import import_generated  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The digits spec compiled for Keras, its dataset built next to a copy of the spec (tests never write
    into the source tree)."""
    specs = tmp_path_factory.mktemp("keras_specs")
    shutil.copy(ROOT / "specs" / "digits.nnd", specs / "digits.nnd")
    build_digits_dataset(specs / "digits")
    out = tmp_path_factory.mktemp("keras_digits")
    keras_backend.generate(compile_file(specs / "digits.nnd").project, out)
    return out


@pytest.fixture(scope="module")
def mlp_project(tmp_path_factory) -> Path:
    """tests/data/digits_mlp.nnd (an MLP with a random layer and batch normalization), for the tests whose
    claims are train.py's: float16 (no float16 convolution kernels on a CPU) and resuming."""
    mlp = ROOT / "tests" / "data" / "digits_mlp.nnd"
    specs = tmp_path_factory.mktemp("keras_mlp_specs")
    shutil.copy(mlp, specs / mlp.name)
    build_digits_dataset(specs / "digits")
    out = tmp_path_factory.mktemp("keras_mlp")
    keras_backend.generate(compile_file(specs / mlp.name).project, out)
    return out


def train(project: Path, *args: str, env=None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=project, env=env or ENV, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def latest(parent: Path) -> Path:
    """The latest run's folder under train.py's --output (runs/LATEST names it)."""
    return parent / (parent / "LATEST").read_text(encoding="utf-8").strip()


def log_rows(parent: Path) -> list[dict]:
    """The latest run's log.csv."""
    with open(latest(parent) / "log.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_digits_reach_nnc_accuracy(project, tmp_path):
    r = train(project, "--seed", "0", "--output", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr[-3000:]
    rows = log_rows(tmp_path / "runs")
    assert len(rows) == 15
    assert float(rows[-1]["valid_error"]) <= 0.05, rows[-1]
    for name in ("params.npz", "best.npz", "learning_curve.png"):
        assert (latest(tmp_path / "runs") / name).stat().st_size > 0


def test_killed_run_resumes_exactly_from_its_last_checkpoint(project, tmp_path):
    """SIGKILL during epoch 3, then --resume: the run finishes as the one never stopped, bit for bit
    (--deterministic fixes TensorFlow's order of floating-point sums; data order, the random
    layers' generator states, the optimizer's state and the schedule's position come back from
    the checkpoint)."""
    common = ("--epochs", "3", "--seed", "5", "--deterministic")
    straight = train(project, *common, "--output", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "train.py", *common, "--output", str(out)],
        cwd=project, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        if line.startswith("epoch 2/3") or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, mid-way through epoch 3 or just after epoch 2
    proc.wait(timeout=60)
    assert [int(r["epoch"]) for r in log_rows(out)] == [1, 2]

    resumed = train(project, "--epochs", "3", "--deterministic", "--resume", "--output", str(out))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed {latest(out)} after epoch 2" in resumed.stdout
    rows, expected = log_rows(out), log_rows(tmp_path / "straight")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row, want in zip(rows, expected, strict=True):
        row.pop("seconds"), want.pop("seconds")
        assert row == want
    with np.load(latest(tmp_path / "straight") / "params.npz") as a, np.load(latest(out) / "params.npz") as b:
        assert set(a.files) == set(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_stopping_after_an_epoch_and_resuming_matches_the_straight_run(mlp_project, tmp_path):
    """Without --deterministic TensorFlow's CPU sums may differ in their last bits between runs, so
    the resumed run agrees with the straight one closely rather than exactly; from epoch 2's state
    (a fresh start's loss is several times higher)."""
    project = mlp_project  # the claim is train.py's, not the model's
    straight = train(project, "--epochs", "3", "--seed", "7", "--output", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-3000:]
    out = str(tmp_path / "stopped")
    first = train(project, "--epochs", "3", "--seed", "7", "--stop-after", "2", "--output", out)
    assert first.returncode == 0, first.stderr[-3000:]
    assert [int(r["epoch"]) for r in log_rows(Path(out))] == [1, 2]
    resumed = train(project, "--epochs", "3", "--resume", "--output", out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final, expected = log_rows(Path(out))[-1], log_rows(tmp_path / "straight")[-1]
    assert float(final["optimizer_loss"]) == pytest.approx(float(expected["optimizer_loss"]), rel=1e-3)
    assert abs(float(final["valid_error"]) - float(expected["valid_error"])) <= 0.02


def test_export_writes_a_saved_model_and_onnx_that_compute_the_runtime_network(project, tmp_path):
    """--export: the executor's network as a SavedModel and as ONNX (tf2onnx), both giving the
    outputs of the trained model's run_network (channels-last images in, as the models take them)."""
    import tensorflow as tf

    out = tmp_path / "runs"
    r = train(project, "--epochs", "1", "--seed", "2", "--export", "--output", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    model = import_generated(project).create_model()
    out = latest(out)
    model.load_params(out / "params.npz")
    _, inputs, outputs, _ = model.NETWORKS["Runtime"]
    ((name, shape),) = inputs.items()
    x = np.random.default_rng(0).random((4, *shape), dtype=np.float32)
    expected = model.run_network("Runtime", **{name: x})[outputs[0]]
    channels_last = np.moveaxis(x, 1, -1)

    saved = tf.saved_model.load(str(out / "saved_model"))  # kept: serve() uses its variables
    served = saved.serve({name: tf.constant(channels_last)})
    np.testing.assert_allclose(np.asarray(served[outputs[0]]), expected, atol=1e-5)

    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    feed_name = session.get_inputs()[0].name
    (result,) = session.run([outputs[0]], {feed_name: channels_last})
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_resume_without_a_checkpoint_is_a_usage_error(project, tmp_path):
    r = train(project, "--resume", "--output", str(tmp_path / "none"))
    assert r.returncode == 2 and "--resume: no run in" in r.stderr
    assert "Traceback" not in r.stderr


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_with_multi_worker_mirrored_strategy(project, tmp_path):
    """Two processes on loopback ports, TF_CONFIG naming both: one epoch of the digits spec,
    bounded in time; the chief writes the outputs, the other worker cleans up after itself."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**ENV, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(
            subprocess.Popen(
                [sys.executable, "train.py", "--epochs", "1", "--seed", "3", "--output", str(tmp_path / "mw")],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    assert "2 replica(s)" in results[0][0]
    rows = log_rows(tmp_path / "mw")
    assert len(rows) == 1 and float(rows[0]["optimizer_loss"]) > 0
    assert (latest(tmp_path / "mw") / "params.npz").exists()
    assert not list((tmp_path / "mw").glob(".worker*"))
