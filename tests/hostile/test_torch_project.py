"""Hostile input to a generated PyTorch project's train.py and infer.py: crafted pickles, damaged and
mismatched checkpoints and parameter files, bad labels and images, bad options, reruns. Each gets a
one-line error naming the file, row or option, exit status 1 (bad input) or 2 (usage), no traceback,
and nothing a run wrote is lost.

The scripts run as a user runs them, but in this process (their `main(argv)`, in their folder, with
their output and what `sys.exit` would print captured), as tests/hostile/test_keras_project.py runs
Keras's: torch is imported once, not once a run. What a run sets that outlives it in a process (torch's
random state, deterministic algorithms, flushing denormals, its thread count) is put back after each."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from conftest import script_main  # noqa: E402
from PIL import Image  # noqa: E402

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class CreatesAFile:
    """Unpickling this creates `marker` (what a crafted checkpoint would do: run code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile-torch")
    train_csv, validation_csv = build_digits_dataset(root / "digits")
    for path, rows in ((train_csv, 64), (validation_csv, 32)):
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[: rows + 1]) + "\n")
    project = root / "project"
    generate(compile_file(ROOT / "specs" / "digits.nnd").project, project)
    return {"root": root, "project": project, "train": train_csv, "validation": validation_csv}


@functools.cache
def _main(project: Path, name: str):
    """`main` of the project's script `name` (train.py, infer.py), imported in this process."""
    return script_main(project, name.removesuffix(".py"))


def script(data, name: str, *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python PROJECT/NAME ARGS` in `cwd` (the project's folder): its exit status, stdout and stderr."""
    argv = [str(a) for a in args]
    main = _main(data["project"], name)
    stdout, stderr = io.StringIO(), io.StringIO()
    state = torch.get_rng_state(), torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    before = os.getcwd()
    os.chdir(cwd or data["project"])
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = main(argv)
            except SystemExit as e:  # what the interpreter does with it: a message is printed, status 1
                status = e.code
                if isinstance(status, str):
                    print(status, file=sys.stderr)
                    status = 1
        status = 0 if status is None else status
    finally:
        os.chdir(before)
        torch.set_rng_state(state[0])
        torch.use_deterministic_algorithms(state[1])
        torch.set_num_threads(state[2])
        torch.set_flush_denormal(False)  # a process's default
    return subprocess.CompletedProcess([name, *argv], status, stdout.getvalue(), stderr.getvalue())


def train(data, output: Path, *args, training: Path | None = None) -> subprocess.CompletedProcess:
    return script(
        data, "train.py", "--dataset", f"training={training or data['train']}",
        "--dataset", f"validation={data['validation']}", "--epochs", 1, "--batch-size", 32, "--workers", 0,
        "--seed", 0, "--output", output, *args,
    )  # fmt: skip


def infer(data, *args) -> subprocess.CompletedProcess:
    return script(data, "infer.py", *args, "--dataset", data["validation"], "--output", data["root"] / "out.csv")


def assert_one_line_error(result: subprocess.CompletedProcess, status: int, *names: str) -> str:
    assert result.returncode == status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or (status == 2 and lines[0].startswith("usage:")), result.stderr
    for name in names:
        assert name in lines[-1], (name, lines[-1])
    return lines[-1]


def latest(output: Path) -> Path:
    return output / (output / "LATEST").read_text().strip()


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def trained(data) -> Path:
    """A finished one-epoch run: runs/<name>/ with checkpoint.pt, best.pt, best.npz, params.npz."""
    output = data["root"] / "runs"
    result = train(data, output)
    assert result.returncode == 0, result.stdout + result.stderr
    return latest(output)


def copy_run(trained: Path, tmp_path: Path) -> Path:
    """A copy of the trained run, alone in a runs/ folder of its own (to damage it)."""
    run = tmp_path / "runs" / trained.name
    shutil.copytree(trained, run)
    (tmp_path / "runs" / "LATEST").write_text(trained.name + "\n")
    return run


# ---------------------------------------------------------------------------------------------------
# Checkpoints run code
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["resume checkpoint.pt", "infer best.pt", "infer checkpoint.pt", "infer .npz"])
def test_a_crafted_pickle_runs_nothing(data, trained, tmp_path, target):
    marker = tmp_path / "pwned"
    run = copy_run(trained, tmp_path)
    if target.endswith(".npz"):
        path = run / "best.npz"
        np.savez(path, **{"net/fc/W": np.array([CreatesAFile(marker)], dtype=object)})
    else:
        path = run / target.split()[1]
        torch.save({"model": CreatesAFile(marker), "epoch": 1}, path)
        # A matching checksum record: the checksum is no defence against a crafted file; loading is.
        (run / f"{path.name}.sha256").write_text(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    result = train(data, tmp_path / "runs", "--resume") if target.startswith("resume") else infer(data, path)
    assert_one_line_error(result, 1, str(path.name))
    assert not marker.exists(), "the crafted file ran code"


# ---------------------------------------------------------------------------------------------------
# Reruns lose nothing
# ---------------------------------------------------------------------------------------------------


def test_a_second_run_keeps_the_first(data, tmp_path):
    output = tmp_path / "runs"
    assert train(data, output).returncode == 0
    first = latest(output)
    before = digests(first)
    assert {"checkpoint.pt", "best.pt", "best.npz", "params.npz", "log.csv"} <= set(before)
    result = train(data, output)
    assert result.returncode == 0, result.stderr
    second = latest(output)
    assert second != first and second.parent == first.parent
    assert digests(first) == before
    # --resume continues the latest; a named run continues that one, and nothing else changes.
    result = train(data, output, "--epochs", 2, "--resume", first.name)
    assert result.returncode == 0, result.stderr
    assert f"resumed from {first / 'checkpoint.pt'}" in result.stdout
    assert len((first / "log.csv").read_text().splitlines()) == 3
    # infer.py reads the latest run by default
    result = script(data, "infer.py", "--runs", output, "--dataset", data["validation"], "--output", tmp_path / "o.csv")
    assert result.returncode == 0, result.stderr
    assert str(second / "best.npz") in result.stdout


# ---------------------------------------------------------------------------------------------------
# Non-finite training
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lr", ["nan", "inf", "-inf", "0"])
def test_non_finite_learning_rate_is_refused(data, tmp_path, lr):
    assert_one_line_error(train(data, tmp_path / "runs", "--lr", lr), 2, "--lr")
    assert not (tmp_path / "runs").exists()


def test_non_finite_solver_parameter_in_config_is_refused(data, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(data["project"], project)
    config = json.loads((project / "config.json").read_text())
    config["optimizers"][0]["solver"]["params"]["lr"] = float("nan")
    (project / "config.json").write_text(json.dumps(config))  # json writes NaN, json.load reads it
    result = script({**data, "project": project}, "train.py", "--output", tmp_path / "runs")
    assert_one_line_error(result, 2, "config.json", "solver", "lr")


def test_a_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(data, trained, tmp_path):
    run = copy_run(trained, tmp_path)
    before = digests(run)
    # lr x 1e30: the first update makes the weights huge, batch normalization's variances overflow.
    result = train(data, tmp_path / "runs", "--epochs", 3, "--resume", "--lr", "1e30")
    message = assert_one_line_error(result, 1, "epoch 2", "iteration", "loss is nan", "checkpoint.pt")
    assert "is kept" in message
    assert digests(run) == before  # checkpoint, best model, parameters, log: untouched


# ---------------------------------------------------------------------------------------------------
# Parameter files and checkpoints that do not fit
# ---------------------------------------------------------------------------------------------------


def test_a_parameter_file_missing_layers_is_refused_unless_partial(data, trained, tmp_path):
    with np.load(trained / "params.npz") as f:
        arrays = {k: f[k] for k in f.files}
    dropped = sorted(k for k in arrays if k.startswith("net/fc/"))
    path = tmp_path / "partial.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if k not in dropped})
    assert_one_line_error(infer(data, path), 1, "partial.npz", dropped[0], "lacks")
    result = infer(data, path, "--partial")
    assert result.returncode == 0, result.stderr


def test_a_stale_parameter_file_names_the_parameter_and_both_shapes(data, trained, tmp_path):
    with np.load(trained / "params.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["net/fc/W"] = arrays["net/fc/W"][:, :5]  # the spec had 5 classes when it was written
    path = tmp_path / "stale.npz"
    np.savez(path, **arrays)
    assert_one_line_error(infer(data, path), 1, "stale.npz", '"net/fc/W" is 64x5', "64x10")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("target", ["resume", "infer"])
def test_a_corrupt_or_truncated_checkpoint_is_detected(data, trained, tmp_path, damage, target):
    run = copy_run(trained, tmp_path)
    path = run / "checkpoint.pt"
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01  # inside a tensor's data: torch.load alone would not notice
    else:
        del raw[len(raw) // 3 :]
    path.write_bytes(bytes(raw))
    result = train(data, tmp_path / "runs", "--epochs", 2, "--resume") if target == "resume" else infer(data, path)
    assert_one_line_error(result, 1, "checkpoint.pt", "corrupt or truncated")


def test_resume_after_the_architecture_changed_names_the_parameter(data, trained, tmp_path):
    spec = tmp_path / "digits.nnd"
    text = (ROOT / "specs" / "digits.nnd").read_text().replace("(32", "(16")  # the stem, the first blocks
    spec.write_text(text.replace('"digits/', f'"{data["train"].parent}/'))
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    project = tmp_path / "project"
    generate(result.project, project)
    copy_run(trained, tmp_path)
    result = train({**data, "project": project}, tmp_path / "runs", "--epochs", 2, "--resume")
    assert_one_line_error(result, 1, "checkpoint.pt", "net.stem.weight", "16x1x3x3", "32x1x3x3")


# ---------------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["10", "-1", "1e30", "2.5"])
def test_a_label_that_is_not_a_class_index(data, tmp_path, label):
    lines = data["train"].read_text().splitlines()
    lines[3] = f"{lines[3].split(',')[0]},{label}"
    bad = data["train"].parent / f"labels-{label}.csv"  # beside the images its rows name
    bad.write_text("\n".join(lines) + "\n")
    result = train(data, tmp_path / "runs", training=bad)
    assert_one_line_error(result, 1, str(bad), "row 4", '"y:label"', "0 to 9")


def test_a_decompression_bomb_png(data, tmp_path):
    Image.new("1", (20_000, 20_000)).save(tmp_path / "bomb.png")
    bad = tmp_path / "bomb.csv"
    bad.write_text("x:image,y:label\n" + "bomb.png,1\n" * 40)
    result = train(data, tmp_path / "runs", training=bad)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{bad}, row 2" in result.stderr and "decompression bomb" in result.stderr


def test_infer_given_an_image_instead_of_a_csv(data, trained, tmp_path):
    image = data["train"].parent / data["train"].read_text().splitlines()[1].split(",")[0]
    result = script(data, "infer.py", trained / "best.npz", "--dataset", image, "--output", tmp_path / "o.csv")
    assert_one_line_error(result, 1, image.name, "is an image, not a dataset CSV")


# ---------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, named",
    [
        (["--device", "foo"], "--device foo"),
        (["--device", "cuda:99"], "--device cuda:99"),
        (["--workers", "-1"], "--workers -1"),
        (["--seed", str(2**64)], "--seed"),
        (["--seed", "-3"], "--seed"),
        (["--resume", "19990101-000000"], "--resume 19990101-000000"),
    ],
    ids=["device-foo", "device-cuda99", "workers", "seed-huge", "seed-negative", "resume-unknown"],
)
def test_bad_train_options(data, tmp_path, args, named):
    assert_one_line_error(train(data, tmp_path / "runs", *args), 2, named)


def test_output_onto_a_file_or_an_unwritable_folder(data, tmp_path):
    file = tmp_path / "file"
    file.write_text("mine")
    assert_one_line_error(train(data, file), 2, "--output", "is a file")
    assert_one_line_error(train(data, file / "runs"), 2, "--output", "is under")
    assert file.read_text() == "mine"
    assert_one_line_error(train(data, "/proc/nndsl/runs"), 2, "--output", "cannot create")


@pytest.mark.parametrize(
    "args, status, named",
    [
        (["--device", "foo"], 2, "--device foo"),
        (["--workers", "-1"], 2, "--workers -1"),
        (["nosuch.npz"], 2, "nosuch.npz"),
    ],
    ids=["device", "workers", "missing-params"],
)
def test_bad_infer_options(data, trained, args, status, named):
    params = [] if args[0].endswith(".npz") else [trained / "best.npz"]
    assert_one_line_error(infer(data, *params, *args), status, named)
