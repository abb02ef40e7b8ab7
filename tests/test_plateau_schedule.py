"""The Plateau schedule (issue 12: AlexNet's "divide the learning rate by 10 when the validation error
stops improving", which NNC lacks): Keras's ReduceLROnPlateau rule, the same decisions in both backends'
runtimes, lint's checks, export's refusal, and an exact --resume of a run whose rate it reduced."""

from __future__ import annotations

import csv
import functools
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.cli import main
from nndsl.compiler import compile_file
from nndsl.runtime.nnc_solvers import Plateau

if importlib.util.find_spec("triton") is not None:
    import triton  # noqa: F401  (loaded before TensorFlow: see tests/keras/test_solvers.py)

ROOT = Path(__file__).resolve().parents[1]

# A monitor's values on a grid of 1/64 and min_delta from a few multiples of 1/64: exact in float32,
# where Keras compares, so no decision depends on rounding.
VALUES = st.lists(st.integers(0, 16).map(lambda k: k / 64), min_size=1, max_size=30)
SETTINGS = st.fixed_dictionaries(
    {
        "factor": st.sampled_from([0.1, 0.5, 0.25]),
        "patience": st.integers(0, 4),
        "min_delta": st.sampled_from([0.0, 1 / 64, 1 / 16]),
        "cooldown": st.integers(0, 3),
        "min_lr": st.sampled_from([0.0, 1e-3, 2e-2]),
    }
)
BASE_LR = 0.1


@functools.cache
def _keras_model():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=BASE_LR), loss="mse")
    return model


def keras_reference(values: list[float], kw: dict) -> list[float]:
    """The learning rate after each epoch, as keras.callbacks.ReduceLROnPlateau sets it."""
    keras = pytest.importorskip("keras")
    model = _keras_model()
    model.optimizer.learning_rate = BASE_LR
    callback = keras.callbacks.ReduceLROnPlateau(monitor="valid_error", mode="min", **kw)
    callback.set_model(model)
    callback.on_train_begin()
    lrs = []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"valid_error": value})
        lrs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    return lrs


def plateau_lrs(values: list[float], kw: dict) -> list[float]:
    plateau = Plateau("valid_error", base_lr=BASE_LR, **kw)
    out = []
    for value in values:
        plateau.observe(value)
        out.append(BASE_LR * plateau.scale)
    return out


@settings(max_examples=25, deadline=None)
@given(values=VALUES, kw=SETTINGS)
def test_the_rule_is_keras_reduce_lr_on_plateau(values, kw):
    expected = keras_reference(values, kw)
    got = plateau_lrs(values, kw)
    np.testing.assert_allclose(got, expected, rtol=1e-6)  # Keras keeps the rate in float32


# A sequence that improves, stalls past the patience, improves by less than min_delta, stalls again.
SEQUENCE = [0.5, 0.4, 0.4, 0.41, 0.39, 0.2, 0.2, 0.2, 0.19999, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1]
KW = {"factor": 0.1, "patience": 2, "min_delta": 1e-3, "cooldown": 2, "min_lr": 1e-4}


def test_both_backends_runtimes_decide_alike_and_as_keras():
    torch_solvers = pytest.importorskip("nndsl.runtime.torch.solvers")
    keras_solvers = pytest.importorskip("nndsl.runtime.keras.solvers")
    params = {"monitor": "valid_error", **KW}
    torch_schedule = torch_solvers.make_schedule("Plateau", params, 10, 150, BASE_LR)
    keras_schedule = keras_solvers.make_schedule("Plateau", params, 10, 150, BASE_LR)
    torch_lrs, keras_lrs, reductions = [], [], []
    for epoch, value in enumerate(SEQUENCE):
        reduced = torch_schedule.observe({"valid_error": value, "other": 0.0})
        assert keras_schedule.observe({"valid_error": value}) == reduced
        reductions += [epoch] if reduced else []
        torch_lrs.append(torch_schedule.lr(10 * epoch))
        keras_lrs.append(keras_schedule.value(10 * epoch))
    assert reductions == [3, 7, 10, 13]  # then min_lr holds it: 0.1 -> 0.01 -> 0.001 -> 1e-4
    np.testing.assert_allclose(keras_lrs, torch_lrs, rtol=1e-6)
    np.testing.assert_allclose(torch_lrs, keras_reference(SEQUENCE, KW), rtol=1e-6)
    assert torch_schedule.state_dict() == keras_schedule.state_dict()
    assert not torch_schedule.observe({"other": 1.0})  # an epoch its monitor was not evaluated in


def test_a_state_restored_goes_on_as_the_original():
    a = Plateau("m", **KW, base_lr=BASE_LR)
    for v in SEQUENCE[:6]:
        a.observe(v)
    b = Plateau("m", **KW, base_lr=BASE_LR)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))  # as the Keras checkpoint record holds it
    assert [a.observe(v) for v in SEQUENCE[6:]] == [b.observe(v) for v in SEQUENCE[6:]]
    assert a.state_dict() == b.state_dict()
    with pytest.raises(ValueError, match="not a Plateau schedule's state"):
        b.load_state_dict({"best": 1.0})


def test_a_nan_never_improves():
    p = Plateau("m", patience=1, base_lr=1.0)
    assert not p.observe(0.5)
    assert p.observe(float("nan")) and p.scale == pytest.approx(0.1)


# --- the language ------------------------------------------------------------------------------

SPEC = textwrap.dedent(
    """\
    network Training {
        x = Input(4, dataset="x")
        y = Input(1, dataset="y")
        loss = x -> fc: Affine(3) -> SoftmaxCrossEntropy(y)
    }

    network Validation {
        x = Input(4, dataset="x")
        y = Input(1, dataset="y")
        error = x -> fc: Affine(3) -> TopNError(y)
    }

    config {
        optimizer {
            network = Training
            solver = Momentum(lr=0.01)
            schedule = SCHEDULE
        }
        monitor valid_error { network = Validation }
    }
    """
)


def compile_schedule(schedule: str):
    return compile_file("t.nnd", text=SPEC.replace("SCHEDULE", schedule))


def test_a_plateau_schedule_is_in_the_ir_and_the_generated_config(tmp_path):
    result = compile_schedule("Plateau(monitor=valid_error, patience=5)")
    assert result.ok, [str(d) for d in result.diagnostics]
    schedule = result.project.config.optimizers[0].schedule
    assert schedule.type == "Plateau"
    assert schedule.params == {
        "monitor": "valid_error",
        "factor": 0.1,
        "patience": 5,
        "min_delta": 1e-4,
        "cooldown": 0,
        "min_lr": 0.0,
    }
    from nndsl.backends.project_config import project_config

    (optimizer,) = project_config(result.project, tmp_path)["optimizers"]
    assert optimizer["schedule"]["params"]["monitor"] == "valid_error"


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("Plateau(monitor=valid_eror)", ["17:36: E0216: unknown monitor 'valid_eror' (did you mean 'valid_error'?)"]),
        ('Plateau(monitor="accuracy")', ["17:36: E0216: unknown monitor 'accuracy' (the monitors are valid_error)"]),
        (
            "Plateau(monitor=valid_error, factor=1)",
            [
                "17:56: E0604: the Plateau schedule of optimizer 'optimizer': 'factor' must be between 0 and 1, "
                "both excluded (the learning rate is multiplied by it), got 1.0"
            ],
        ),
        (
            "Plateau(monitor=valid_error, patience=-1, min_lr=-0.1)",
            [
                "17:58: E0604: the Plateau schedule of optimizer 'optimizer': 'patience' must be at least 0, got -1",
                "17:69: E0604: the Plateau schedule of optimizer 'optimizer': 'min_lr' must be at least 0, got -0.1",
            ],
        ),
        ("Plateau(patience=2)", ["17:20: E0304: Plateau needs parameter 'monitor'"]),
        (
            "Plateau(monitor=3)",
            ["17:36: E0305: 'monitor' of Plateau must be a name (like valid_error), got an int (3)"],
        ),
        (
            "Plateau(monitor=valid_error, patience=1.5)",
            ["17:58: E0305: 'patience' of Plateau must be an int, got a float (1.5)"],
        ),
    ],
)
def test_lint_checks_the_monitor_and_the_values_at_their_positions(schedule, expected):
    diags = [d for d in compile_schedule(schedule).diagnostics if d.severity == "error"]
    got = [f"{d.span.line}:{d.span.col}: {d.code}: {d.message}" + (f" ({d.help})" if d.help else "") for d in diags]
    assert got == expected


@pytest.mark.parametrize("suffix", [".sdcproj", ".nntxt"])
def test_export_refuses_a_plateau_schedule_at_it(suffix, tmp_path, capsys):
    spec = tmp_path / "t.nnd"
    spec.write_text(SPEC.replace("SCHEDULE", "Plateau(monitor=valid_error)"))
    out = tmp_path / f"t{suffix}"
    assert main(["export", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:17:20: error[E0625]: optimizer 'optimizer': NNC has no schedule like Plateau" in err
    assert not out.exists()
    spec.write_text(SPEC.replace("SCHEDULE", "Step(steps=[5 epochs])"))
    assert main(["export", str(spec), "-o", str(out)]) == 0


# --- training: an exact resume -------------------------------------------------------------------

# min_delta 1: nothing improves after the first evaluation, so the rate halves after epoch 2 (patience
# 1) and the cooldown of 2 skips epoch 3's evaluation (a run that lost it would halve the rate again).
PLATEAU = "Plateau(monitor=valid_error, factor=0.5, patience=1, min_delta=1, cooldown=2)"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("sklearn")
    from nndsl.examples.digits import build_digits_dataset

    root = tmp_path_factory.mktemp("plateau")
    shutil.copy(ROOT / "specs" / "digits.nnd", root / "digits.nnd")
    text = (root / "digits.nnd").read_text()
    assert "schedule = Cosine" in text
    (root / "digits.nnd").write_text(text.replace("schedule = Cosine", f"schedule = {PLATEAU}"))
    train_csv, validation_csv = build_digits_dataset(root / "digits")
    for path, rows in ((train_csv, 192), (validation_csv, 64)):  # 3 mini-batches an epoch
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[: rows + 1]) + "\n")
    return root / "digits.nnd", root


def train(project: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "train.py", "--epochs", "3", "--seed", "3", "--deterministic", "--output", str(output)]
    r = subprocess.run([*command, *extra], cwd=project, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


def latest(output: Path) -> Path:
    return output / (output / "LATEST").read_text().strip()


def log(output: Path) -> list[dict]:
    with open(latest(output) / "log.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_resumed_run_follows_the_plateau_exactly(digits, backend, tmp_path):
    pytest.importorskip(backend)
    backend_module = importlib.import_module(f"nndsl.backends.{backend}")
    spec, _ = digits
    project = tmp_path / "project"
    backend_module.generate(compile_file(spec).project, project)
    straight = train(project, tmp_path / "straight")
    assert [row["lr"] for row in log(tmp_path / "straight")] == ["0.002", "0.002", "0.001"]
    assert "epoch 2: valid_error stopped improving: optimizer's learning rate 0.001" in straight.stdout
    assert "epoch 3: valid_error" not in straight.stdout  # the cooldown

    train(project, tmp_path / "resumed", "--stop-after", "2")
    run = latest(tmp_path / "resumed")
    if backend == "torch":
        import torch

        state = torch.load(run / "checkpoint.pt", weights_only=True)["schedule_states"]
    else:
        (record,) = (run / "checkpoint").glob("ckpt-2.json")
        state = json.loads(record.read_text())["schedules"]
    first_error = float(log(tmp_path / "resumed")[0]["valid_error"])  # the best: nothing improved on it
    assert state == [{"best": pytest.approx(first_error, rel=1e-5), "wait": 0, "cooldown": 2, "scale": 0.5}]
    resumed = train(project, tmp_path / "resumed", "--resume")
    assert "stopped improving" not in resumed.stdout  # the cooldown came back: no reduction at epoch 3
    assert log(tmp_path / "resumed") == log(tmp_path / "straight")
    with np.load(latest(tmp_path / "straight") / "params.npz") as a, np.load(run / "params.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
