"""Hostile input to a generated Keras project's train.py and infer.py, run as a user runs them (their
main(argv) in this process, so TensorFlow starts once; the start-up noise test runs the scripts as
programs). Every bad input is one line `error: ...` naming the file, row or option, exit status 1 (bad
input) or 2 (bad command line), never a traceback; nothing a run wrote is lost or overwritten; nothing
in a parameter file or checkpoint is run."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")
pytest.importorskip("tensorflow")
Image = pytest.importorskip("PIL.Image")

from conftest import import_generated, script_main  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

SPEC = """
network Training {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc1: Affine(WIDTH) -> Tanh -> fc2: Affine(3) -> SoftmaxCrossEntropy(y)
}

network Validation {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc1: Affine(WIDTH) -> Tanh -> fc2: Affine(3) -> SoftmaxCrossEntropy(y)
}

network Runtime {
    x = Input(4, dataset="x")
    p = x -> fc1: Affine(WIDTH) -> Tanh -> fc2: Affine(3) -> Softmax
}

dataset training = "data/train.csv" { shuffle = true }
dataset validation = "data/valid.csv" { shuffle = false }

config {
    max_epoch = 2
    batch_size = 16
    optimizer { network = Training, dataset = training, solver = Adam(lr=0.01) }
    monitor valid_loss { network = Validation, dataset = validation }
    executor { network = Runtime, dataset = validation }
}
"""


class CreatesAFile:
    """Unpickling this creates `marker`: what a crafted parameter file or checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_csv(path: Path, x: np.ndarray, y) -> Path:
    rows = ["x__0,x__1,x__2,x__3,y"]
    rows += [",".join([*(f"{v:.6g}" for v in xi), str(yi)]) for xi, yi in zip(x, y, strict=True)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def make_project(folder: Path, width: int = 8) -> Path:
    """The tiny spec (Affine(width) hidden layer) compiled for Keras, with its datasets."""
    folder.mkdir(parents=True)
    (folder / "data").mkdir()
    rng = np.random.default_rng(0)
    write_csv(folder / "data" / "train.csv", rng.standard_normal((48, 4)), rng.integers(0, 3, 48))
    write_csv(folder / "data" / "valid.csv", rng.standard_normal((20, 4)), rng.integers(0, 3, 20))
    (folder / "tiny.nnd").write_text(SPEC.replace("WIDTH", str(width)), encoding="utf-8")
    result = compile_file(folder / "tiny.nnd")
    assert result.ok, [d.message for d in result.diagnostics]
    keras_backend.generate(result.project, folder / "project")
    return folder / "project"


def scripts(project: Path):
    """(train.main, infer.main) of the project, imported in this process."""
    return script_main(project, "train"), script_main(project, "infer")


def one_error(capsys, status: int, got: int, *words: str) -> str:
    """The error line the call printed: exit `status`, exactly one `error:` line, containing `words`."""
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert got == status and len(errors) == 1, (got, captured.err)
    assert "Traceback" not in captured.err, captured.err
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs_in(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("keras_hostile") / "tiny")


@pytest.fixture(scope="module")
def mains(project):
    return scripts(project)


def test_a_second_run_keeps_the_first_and_resume_names_a_run(project, mains, tmp_path, capsys):
    train, infer = mains
    out = tmp_path / "runs"
    assert train(["--output", str(out), "--seed", "1"]) == 0, capsys.readouterr().err
    first = runs_in(out)
    assert len(first) == 1
    first_files = {p.name: digest(p) for p in first[0].iterdir() if p.is_file()}
    assert {"params.npz", "best.npz", "log.csv"} <= set(first_files)
    assert train(["--output", str(out), "--seed", "2", "--stop-after", "1"]) == 0, capsys.readouterr().err
    second = [r for r in runs_in(out) if r not in first]
    assert len(second) == 1 and (out / "LATEST").read_text().strip() == second[0].name
    assert {p.name: digest(p) for p in first[0].iterdir() if p.is_file()} == first_files  # untouched
    capsys.readouterr()

    # --resume continues the latest run (the second), --resume NAME a named one.
    assert train(["--output", str(out), "--resume"]) == 0
    assert f"resumed {second[0]} after epoch 1" in capsys.readouterr().out
    assert len(runs_in(out)) == 2 and {p.name: digest(p) for p in first[0].iterdir() if p.is_file()} == first_files
    assert train(["--output", str(out), "--resume", "nope"]) == 2
    one_error(capsys, 2, 2, "--resume nope")

    # infer.py defaults to the latest run's best parameters; a run folder, the folder of runs too.
    csv = project.parent / "data" / "valid.csv"
    assert infer([str(out), "--dataset", str(csv), "--output", str(tmp_path / "o.csv")]) == 0
    assert str(second[0] / "best.npz") in capsys.readouterr().out
    assert infer([str(first[0]), "--dataset", str(csv), "--output", str(tmp_path / "o.csv")]) == 0
    assert str(first[0] / "best.npz") in capsys.readouterr().out


def test_bad_command_lines_are_one_line_usage_errors(project, mains, tmp_path, capsys):
    train, infer = mains
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = ["--output", str(tmp_path / "runs")]
    cases = [
        (["--lr", "nan"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--lr", "-1"], "--lr"),
        (["--seed", str(2**64)], "--seed"),
        (["--seed", "-1"], "--seed"),
        (["--epochs", "0"], "--epochs"),
        (["--output", str(blocker)], "is a file"),
        (["--output", str(blocker / "runs")], "a file, not a folder"),
        (["--output", "/proc/nndsl-no-such-folder/runs"], "cannot create"),
        ([*out, "--resume"], "--resume"),  # no run yet
    ]
    for argv, words in cases:
        one_error(capsys, 2, train(argv), words)
    assert not (tmp_path / "runs").exists() or not runs_in(tmp_path / "runs")

    assert train([*out, "--epochs", "1", "--seed", "3"]) == 0
    (run,) = runs_in(tmp_path / "runs")
    params = run / "params.npz"
    csv = project.parent / "data" / "valid.csv"
    cases = [
        (["--device", "foo"], "--device"),
        (["--workers", "-1"], "--workers"),
        (["--output", str(tmp_path)], "is a folder"),
        (["--output", str(blocker / "out.csv")], "a file, not a folder"),
        (["--batch-size", "0"], "--batch-size"),
    ]
    capsys.readouterr()
    for argv, words in cases:
        one_error(capsys, 2, infer([str(params), "--dataset", str(csv), *argv]), words)


def test_non_finite_solver_settings_are_refused(project, mains):
    """config.json is the user's to edit (and JSON reads NaN): a solver setting must be finite."""
    train = import_generated(project, "train")
    config = train.load_config(project / "config.json")
    config["optimizers"][0]["solver"]["params"]["lr"] = math.nan
    with pytest.raises(train.UsageError, match="config.json: optimizer .* lr: expected a finite number"):
        train.parse_args([], config)


def test_a_huge_seed_trains(project, mains, tmp_path, capsys):
    """numpy's global seed takes 32 bits; a run's seed may have 63."""
    train, _ = mains
    assert train(["--output", str(tmp_path), "--seed", str(2**63 - 1), "--epochs", "1"]) == 0, capsys.readouterr()
    assert f"seed {2**63 - 1}" in capsys.readouterr().out


def test_bad_datasets_name_the_file_and_row(project, mains, tmp_path, capsys):
    train, infer = mains
    x = np.zeros((20, 4))
    for label in ("3", "-1", "2.5", "1e30"):  # 3 classes: 0, 1, 2
        bad = write_csv(tmp_path / "labels.csv", x, ["1"] * 19 + [label])
        got = train(["--output", str(tmp_path / "runs"), "--dataset", f"training={bad}"])
        one_error(capsys, 1, got, str(bad), "row 21", "class index")
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # 400 million pixels in a few kB
    (tmp_path / "bomb.csv").write_text("x,y\nbomb.png,1\n", encoding="utf-8")
    got = train(["--output", str(tmp_path / "runs"), "--dataset", f"validation={tmp_path / 'bomb.csv'}"])
    one_error(capsys, 1, got, "bomb.csv", "row 2", "decompression bomb")

    assert train(["--output", str(tmp_path / "runs"), "--epochs", "1"]) == 0
    capsys.readouterr()
    image = tmp_path / "picture.png"
    Image.new("L", (2, 2)).save(image)
    got = infer([str(tmp_path / "runs"), "--dataset", str(image), "--output", str(tmp_path / "o.csv")])
    one_error(capsys, 1, got, "picture.png", "not a dataset CSV")
    assert not (tmp_path / "o.csv").exists()


def test_a_non_finite_loss_stops_the_run_and_keeps_its_checkpoint(project, mains, tmp_path, capsys):
    """--lr 1e40 (Adam's steps of 1e38) overflows the weights: the resumed run stops in epoch 2,
    naming the epoch, exit 1; epoch 1's
    checkpoint, best.npz and params.npz are untouched."""
    train, _ = mains
    out = tmp_path / "runs"
    assert train(["--output", str(out), "--seed", "4", "--stop-after", "1"]) == 0
    (run,) = runs_in(out)
    kept = {p.relative_to(run): digest(p) for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    got = train(["--output", str(out), "--resume", "--lr", "1e40"])
    line = one_error(capsys, 1, got, "epoch 2", "loss is", "ckpt-1")
    assert "intact" in line
    assert {p.relative_to(run): digest(p) for p in run.rglob("*") if p.is_file()} == kept


def test_nan_is_never_the_best(project, mains):
    """What decides whether train.py writes best.npz: a NaN (or no) monitor value never does."""
    train = import_generated(project, "train")
    assert not train.improves(math.nan, math.inf) and not train.improves(None, 1.0)
    assert train.improves(0.5, math.inf) and not train.improves(math.inf, math.inf)


def test_loaders_run_no_code(project, mains, tmp_path, capsys, monkeypatch):
    """A pickle that would create a file, wherever a loader reads: a raw pickle named .npz, an
    object array in an .npz, a run's best.npz (infer.py's default), a checkpoint's data file
    (its record's digest forged to match). Nothing is created; one line, exit 1."""
    train, infer = mains
    out = tmp_path / "runs"
    assert train(["--output", str(out), "--epochs", "1", "--seed", "5"]) == 0
    (run,) = runs_in(out)
    marker = tmp_path / "pwned"
    evil = pickle.dumps(CreatesAFile(marker))
    raw = tmp_path / "raw.npz"
    raw.write_bytes(evil)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **{"fc1/W": np.array([CreatesAFile(marker)], dtype=object)})
    csv = ["--dataset", str(project.parent / "data" / "valid.csv"), "--output", str(tmp_path / "o.csv")]
    capsys.readouterr()
    for path in (raw, objects):
        one_error(capsys, 1, infer([str(path), *csv]), path.name)
    (run / "best.npz").write_bytes(objects.read_bytes())
    monkeypatch.chdir(tmp_path)  # infer.py's default: runs/, its latest run's best.npz
    one_error(capsys, 1, infer([*csv]), "best.npz", "Python objects")

    data = next((run / "checkpoint").glob("ckpt-1.data-*"))
    data.write_bytes(evil)
    record_path = run / "checkpoint" / "ckpt-1.json"
    record = json.loads(record_path.read_text())
    record["files"][data.name] = digest(data)  # the attacker forges the record too
    record_path.write_text(json.dumps(record))
    one_error(capsys, 1, infer([str(run / "checkpoint"), *csv]), "ckpt-1")
    one_error(capsys, 1, train(["--output", str(out), "--resume"]), "ckpt-1")
    assert not marker.exists()
    assert not (tmp_path / "o.csv").exists()


def test_a_kill_at_any_step_of_a_save_resumes_exactly(project, mains, tmp_path, capsys):
    """A checkpoint is its files, then its record (ckpt-N.json), then the older ones go. A run killed
    after writing epoch 2's files but not its record (or mid-write: TensorFlow's temporary folder
    left), or after the record but before the cleanup, resumes from the newest recorded epoch and
    ends bit for bit as the straight run."""
    train, _ = mains
    common = ["--seed", "8", "--deterministic"]
    assert train(["--output", str(tmp_path / "straight"), *common]) == 0
    (straight,) = runs_in(tmp_path / "straight")
    with np.load(straight / "params.npz") as f:
        expected = dict(f)
    for kill in ("files-written", "mid-write", "before-cleanup"):
        out = tmp_path / kill
        assert train(["--output", str(out), *common, "--stop-after", "1"]) == 0
        (run,) = runs_in(out)
        folder = run / "checkpoint"
        if kill == "files-written":  # epoch 2's files without their record
            for p in list(folder.glob("ckpt-1.*")):
                if p.suffix != ".json":
                    (folder / p.name.replace("ckpt-1", "ckpt-2")).write_bytes(b"half-written")
        elif kill == "mid-write":
            (folder / "ckpt-2_temp").mkdir()
            (folder / "ckpt-2_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"partial")
        else:  # an older complete checkpoint left beside the newest
            for p in list(folder.glob("ckpt-1.*")):
                (folder / p.name.replace("ckpt-1", "ckpt-0")).write_bytes(p.read_bytes())
        capsys.readouterr()
        assert train(["--output", str(out), "--resume"]) == 0, capsys.readouterr().err
        assert "after epoch 1" in capsys.readouterr().out
        with np.load(run / "params.npz") as f:
            assert set(f.files) == set(expected)
            for name in f.files:
                np.testing.assert_array_equal(f[name], expected[name], err_msg=f"{kill}: {name}")
        left = sorted(p.name for p in folder.iterdir())  # only the last epoch's checkpoint stays
        assert "ckpt-2.json" in left and all(name.startswith("ckpt-2.") for name in left), left


def test_corrupt_and_truncated_checkpoints_are_refused(project, mains, tmp_path, capsys):
    train, infer = mains
    out = tmp_path / "runs"
    assert train(["--output", str(out), "--stop-after", "1", "--seed", "6"]) == 0
    (run,) = runs_in(out)
    folder = run / "checkpoint"
    data = next(folder.glob("ckpt-1.data-*"))
    original = data.read_bytes()
    csv = ["--dataset", str(project.parent / "data" / "valid.csv"), "--output", str(tmp_path / "o.csv")]
    capsys.readouterr()
    damaged = {"flipped": original[:-1] + bytes([original[-1] ^ 1]), "truncated": original[: len(original) // 2]}
    for content in damaged.values():
        data.write_bytes(content)
        one_error(capsys, 1, train(["--output", str(out), "--resume"]), data.name, "corrupt or truncated")
        one_error(capsys, 1, infer([str(folder), *csv]), data.name, "corrupt or truncated")
    data.write_bytes(original)
    (folder / "ckpt-1.json").write_text('{"seed": 1, "fi')
    one_error(capsys, 1, train(["--output", str(out), "--resume"]), "ckpt-1.json", "corrupt or truncated")
    (folder / "ckpt-1.json").unlink()
    one_error(capsys, 2, train(["--output", str(out), "--resume"]), "no checkpoint")


def test_parameter_files_must_fit_the_model(project, mains, tmp_path, capsys):
    """A file missing layers is refused naming them unless --partial; a stale one (another shape)
    names the parameter and both shapes."""
    _, infer = mains
    model = import_generated(project, "model").create_model()
    model.save_params(tmp_path / "full.npz")
    with np.load(tmp_path / "full.npz") as f:
        arrays = dict(f)
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if not k.startswith("fc2/")})
    np.savez(tmp_path / "stale.npz", **{**arrays, "fc1/W": np.zeros((4, 9), np.float32)})
    csv = ["--dataset", str(project.parent / "data" / "valid.csv"), "--output", str(tmp_path / "o.csv")]
    capsys.readouterr()
    one_error(capsys, 1, infer([str(tmp_path / "missing.npz"), *csv]), "fc2/W", "fc2/b", "lacks 2")
    assert not (tmp_path / "o.csv").exists()
    one_error(capsys, 1, infer([str(tmp_path / "stale.npz"), *csv]), "fc1/W", "4x9", "4x8")
    assert infer([str(tmp_path / "missing.npz"), "--partial", *csv]) == 0
    assert (tmp_path / "o.csv").exists()


def test_resume_after_the_architecture_changed_names_the_variable(project, mains, tmp_path, capsys):
    train, _ = mains
    out = tmp_path / "runs"
    assert train(["--output", str(out), "--stop-after", "1", "--seed", "7"]) == 0
    wider_train, _ = scripts(make_project(tmp_path / "wider", width=9))
    capsys.readouterr()
    one_error(capsys, 1, wider_train(["--output", str(out), "--resume"]), "fc1/kernel", "(4, 8)", "(4, 9)")


def test_quiet_startup_keeps_descriptor_2_noise_away(project):
    """What the block writes to file descriptor 2 (as TensorFlow's C++ start-up does) is dropped,
    shown when the block fails or when TF_CPP_MIN_LOG_LEVEL=0 asks for it; on any CPU."""
    code = (
        "import os, sys\n"
        "from nndsl_runtime.keras.tf_startup import quiet_startup\n"
        "with quiet_startup():\n"
        "    os.write(2, b'oneDNN custom operations are on\\n')\n"
        "    if sys.argv[1] == 'fail':\n"
        "        raise ImportError('broken install')\n"
        "print('after', file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", code, "ok"], cwd=project, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == "after\n", quiet.stderr
    failed = subprocess.run([sys.executable, "-c", code, "fail"], cwd=project, env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "oneDNN" in failed.stderr and "broken install" in failed.stderr
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"
    shown = subprocess.run([sys.executable, "-c", code, "ok"], cwd=project, env=env, capture_output=True, text=True)
    assert shown.stderr == "oneDNN custom operations are on\nafter\n", shown.stderr


def test_scripts_print_only_their_error_on_this_machine(project, tmp_path):
    """infer.py run as a user runs it (TF_CPP_MIN_LOG_LEVEL unset): stderr is its one error line,
    TensorFlow's start-up lines (oneDNN's on AVX-512 CPUs) stay away."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["OMP_NUM_THREADS"] = "1"
    missing = tmp_path / "nowhere.csv"
    r = subprocess.run(
        [sys.executable, "infer.py", str(tmp_path / "p.npz"), "--dataset", str(missing)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.splitlines() == [r.stderr.strip()], r.stderr
    assert r.stderr.startswith("error: ") and "p.npz" in r.stderr
