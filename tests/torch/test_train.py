"""The generated project's train.py and infer.py, end to end on scikit-learn's 8x8 digits (CPU)."""

from __future__ import annotations

import csv
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from conftest import import_generated  # noqa: E402

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# One thread per process: several processes share few cores, and idle OpenMP threads spinning on a busy
# core slow training many times over.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build_digits_dataset(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("project")
    generate(compile_file(ROOT / "specs" / "digits.nnd").project, out)
    return out


@pytest.fixture(scope="module")
def mlp_project(tmp_path_factory) -> Path:
    """tests/data/digits_mlp.nnd, for float16: a CPU has no float16 convolution kernels, and the
    digits CNN took 100 s an epoch under float16 against 9 s under bfloat16."""
    out = tmp_path_factory.mktemp("mlp_project")
    generate(compile_file(ROOT / "tests" / "data" / "digits_mlp.nnd").project, out)
    return out


def run_script(project: Path, script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(project / script), *map(str, args)],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def data_args(digits) -> list[str]:
    train_csv, validation_csv = digits
    return ["--dataset", f"training={train_csv}", "--dataset", f"validation={validation_csv}"]


def latest(output: Path) -> Path:
    """The latest run folder train.py made under its --output folder."""
    return output / (output / "LATEST").read_text().strip()


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained(project, digits) -> Path:
    out = project / "runs"
    run_script(project, "train.py", *data_args(digits), "--epochs", 5, "--workers", 0, "--seed", 0, "--output", out)
    return latest(out)


def test_training_reaches_low_validation_error(trained):
    for name in ("checkpoint.pt", "checkpoint.pt.sha256", "best.pt", "best.npz", "params.npz", "log.csv"):
        assert (trained / name).is_file(), name
    rows = read_log(trained / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    assert {"optimizer_loss", "valid_error", "lr", "seconds"} <= set(rows[0])
    assert float(rows[-1]["optimizer_loss"]) < float(rows[0]["optimizer_loss"])
    assert float(rows[-1]["valid_error"]) <= 0.05


def test_resume_is_bitwise_equal(mlp_project, digits, tmp_path):
    project = mlp_project  # the claim is train.py's; tests/data/digits_mlp.nnd has a random layer and BN
    common = [*data_args(digits), "--deterministic", "--workers", 0, "--seed", 7]
    full, part = tmp_path / "full", tmp_path / "part"
    run_script(project, "train.py", *common, "--epochs", 3, "--output", full)
    # Killed after epoch 2 (--stop-after stops there as an interruption would), then resumed.
    run_script(project, "train.py", *common, "--epochs", 3, "--stop-after", 2, "--output", part)
    assert [int(r["epoch"]) for r in read_log(latest(part) / "log.csv")] == [1, 2]
    result = run_script(project, "train.py", *common, "--epochs", 3, "--resume", "--output", part)
    assert "resumed" in result.stdout
    assert [int(r["epoch"]) for r in read_log(latest(part) / "log.csv")] == [1, 2, 3]
    assert len(list(part.iterdir())) == 2  # LATEST and the one run: resuming made no new folder
    with np.load(latest(full) / "params.npz") as a, np.load(latest(part) / "params.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name


def test_resume_after_shorter_run_with_constant_schedule(mlp_project, digits, tmp_path):
    """`--epochs 2` then `--resume --epochs 3` equals 3 epochs when the schedule does not depend on the
    number of epochs (a Cosine schedule runs to 0 over all epochs, so the schedule is set to Constant)."""
    import json
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(mlp_project, copy, ignore=shutil.ignore_patterns("runs"))
    config = json.loads((copy / "config.json").read_text())
    config["optimizers"][0]["schedule"] = {"type": "Constant", "params": {}, "warmup": None}
    (copy / "config.json").write_text(json.dumps(config))
    common = [*data_args(digits), "--deterministic", "--workers", 0, "--seed", 3]
    run_script(copy, "train.py", *common, "--epochs", 3, "--output", tmp_path / "full")
    run_script(copy, "train.py", *common, "--epochs", 2, "--output", tmp_path / "part")
    run_script(copy, "train.py", *common, "--epochs", 3, "--resume", "--output", tmp_path / "part")
    with np.load(latest(tmp_path / "full") / "params.npz") as a, np.load(latest(tmp_path / "part") / "params.npz") as b:
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name


def test_infer_writes_probabilities(project, digits, trained, tmp_path):
    _, validation_csv = digits
    out = tmp_path / "output.csv"
    run_script(project, "infer.py", trained / "best.pt", "--dataset", validation_csv, "--output", out)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    with open(validation_csv, newline="") as f:
        expected = [row[0] for row in list(csv.reader(f))[1:]]
    header, rows = rows[0], rows[1:]
    assert header == ["x:image", *(f"y'__{i}" for i in range(10))]
    assert [row[0] for row in rows] == expected
    probs = np.array([[float(v) for v in row[1:]] for row in rows])
    assert probs.shape == (len(expected), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    labels = np.array([int(Path(p).stem.split("_")[1]) for p in expected])
    assert (probs.argmax(axis=1) == labels).mean() >= 0.95

    # The parameter file and a folder of images give the same probabilities.
    out2 = tmp_path / "folder.csv"
    folder = Path(validation_csv).parent / "images" / "validation"
    run_script(project, "infer.py", trained / "best.npz", "--dataset", folder, "--output", out2)
    with open(out2, newline="") as f:
        folder_rows = {row[0]: row[1:] for row in list(csv.reader(f))[1:]}
    first = rows[0]
    np.testing.assert_allclose(
        [float(v) for v in folder_rows[Path(first[0]).name]], [float(v) for v in first[1:]], atol=1e-5
    )


def test_bad_dataset_exits_with_status_1(project, digits, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x:image,y:label\nmissing.png,3\n")
    result = subprocess.run(
        [sys.executable, str(project / "train.py"), "--dataset", f"training={bad}", "--output", tmp_path / "o"],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "missing.png" in result.stderr


def test_usage_error_exits_with_status_2(project, tmp_path):
    result = subprocess.run(
        [sys.executable, str(project / "train.py"), "--dataset", "nosuch=x.csv"],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_agree(project, digits, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}", str(project / "train.py"), *data_args(digits), "--epochs", "1",
        "--workers", "0", "--seed", "0", "--output", str(out), "--save-rank-params",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=project, env=ENV, capture_output=True, text=True, timeout=150)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 processes" in result.stdout
    run = latest(out)
    assert [p.name for p in out.iterdir() if p.is_dir()] == [run.name]  # one folder for both processes
    with np.load(run / "rank0.npz") as a, np.load(run / "rank1.npz") as b, np.load(run / "params.npz") as p:
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name
            assert np.array_equal(a[name], p[name]), name
    assert [int(r["epoch"]) for r in read_log(run / "log.csv")] == [1]


# ---------------------------------------------------------------------------------------------------
# The pure pieces of train.py
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def train_module(project):
    return import_generated(project, "train")  # with its own model and nndsl_runtime


def make_run(train, model, solver: str, params: dict, schedule: dict, update_interval: int):
    config = train.load_config()
    spec = {**config["optimizers"][0], "update_interval": update_interval}
    run = train.Optimization(spec, config["networks"][spec["network"]])
    run.optimizer = train.solvers.make_solver(solver, list(model.parameters()), params)
    run.schedule = train.solvers.make_schedule(schedule["type"], schedule.get("params"), 1, 10, params["lr"])
    run.update_interval = update_interval
    return run


def batches(n: int, size: int = 8, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [
        {"x": torch.rand(size, 1, 8, 8, generator=g), "y": torch.randint(0, 10, (size, 1), generator=g).float()}
        for _ in range(n)
    ]


def test_update_interval_sums_gradients(train_module):
    train = train_module
    torch.manual_seed(0)
    model = train.create_model()
    data = batches(2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    # The gradient of each mini-batch alone (same random shifts: the same seed, the same order).
    torch.manual_seed(1)
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for batch in data:
        model.zero_grad(set_to_none=True)
        model.run_network("Training", **batch)["loss"].mean().backward()
        for n, p in model.named_parameters():
            expected[n] += p.grad
    model.zero_grad(set_to_none=True)
    model.load_state_dict({**model.state_dict(), **before})

    torch.manual_seed(1)
    run = make_run(train, model, "Sgd", {"lr": 1.0}, {"type": "Constant"}, update_interval=2)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    _, lr = train.train_step(train.ByName(model), model, run, data[0], 0, scaler)
    assert lr is None  # no update after the first mini-batch of two
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    _, lr = train.train_step(train.ByName(model), model, run, data[1], 1, scaler)
    assert lr == 1.0
    for n, p in model.named_parameters():  # one SGD step with the summed (not averaged) gradient
        torch.testing.assert_close(before[n] - p.detach(), expected[n], rtol=1e-5, atol=1e-6)


def test_schedule_counts_mini_batch_iterations(train_module):
    train = train_module
    model = train.create_model()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    schedule = {"type": "Exponential", "params": {"multiplier": 0.5, "interval": 1}}
    run = make_run(train, model, "Sgd", {"lr": 0.1}, schedule, update_interval=1)
    lrs = [train.train_step(train.ByName(model), model, run, b, i, scaler)[1] for i, b in enumerate(batches(3))]
    assert lrs == pytest.approx([0.1, 0.05, 0.025])
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.025)

    # With update_interval 2 the rate at an update is the schedule's at that mini-batch iteration.
    run = make_run(train, model, "Sgd", {"lr": 0.1}, schedule, update_interval=2)
    lrs = [train.train_step(train.ByName(model), model, run, b, i, scaler)[1] for i, b in enumerate(batches(4))]
    assert lrs[0] is None and lrs[2] is None
    assert lrs[1] == pytest.approx(0.1 * 0.5**1) and lrs[3] == pytest.approx(0.1 * 0.5**3)


def test_losses_and_monitor_values(train_module):
    train = train_module
    network = {
        "outputs": [{"name": "a", "kind": "loss"}, {"name": "b", "kind": "loss"}, {"name": "c", "kind": "output"}]
    }
    outputs = {"a": torch.tensor([[1.0], [3.0]]), "b": torch.tensor([[2.0], [2.0]]), "c": torch.tensor([[9.0], [9.0]])}
    assert train.network_loss(outputs, network).item() == pytest.approx(4.0)
    monitor = {"outputs": [{"name": "e", "kind": "error"}]}
    assert train.monitor_values({"e": torch.tensor([[0.0], [1.0]])}, monitor).tolist() == [0.0, 1.0]
    assert [train.is_update_step(i, 3) for i in range(6)] == [False, False, True, False, False, True]


def test_the_readme_main_job(tmp_path):
    """`python -m nndsl.examples.digits_job`: dataset, compile, train, report."""
    spec = tmp_path / "digits.nnd"  # the job builds the dataset beside the spec: not in the checkout
    spec.write_text((ROOT / "specs" / "digits.nnd").read_text(encoding="utf-8"), encoding="utf-8")
    command = ["-m", "nndsl.examples.digits_job", "--spec", str(spec), "--epochs", "2", "--out", str(tmp_path / "job")]
    r = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=600, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4. validation error after 2 epochs: " in r.stdout
    assert (latest(tmp_path / "job" / "runs") / "learning_curve.png").exists()


def test_export_onnx_runs_in_onnxruntime_like_pytorch(project, digits, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    out = tmp_path / "runs"
    args = [*data_args(digits), "--epochs", 1, "--workers", 0, "--seed", 0, "--output", out, "--export-onnx"]
    r = run_script(project, "train.py", *args, timeout=300)
    assert "exported network Runtime" in r.stdout, r.stdout
    model = import_generated(project).create_model()
    model.load_params(latest(out) / "params.npz")
    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)  # a batch of 3: the batch axis is dynamic
    expected = model.run_network("Runtime", x=torch.from_numpy(x))["y'"].detach().numpy()
    session = ort.InferenceSession(str(latest(out) / "model.onnx"))
    (got,) = session.run(None, {"x": x})
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_training_from_an_image_folder(project, digits, tmp_path):
    """NNC's image-classification layout: root/<class>/<image>, classes sorted by name."""
    import shutil

    train_csv, validation_csv = digits
    root = tmp_path / "folders"
    with open(train_csv, newline="") as f:
        for row in csv.DictReader(f):
            folder = root / str(int(float(row["y:label"])))
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(train_csv.parent / row["x:image"], folder)
    out = tmp_path / "runs"
    args = ["--dataset", f"training={root}", "--dataset", f"validation={validation_csv}"]
    run_script(project, "train.py", *args, "--epochs", 2, "--workers", 0, "--seed", 0, "--output", out)
    assert float(read_log(latest(out) / "log.csv")[-1]["valid_error"]) < 0.5  # learning from the folders


TWO_OPTIMIZERS = """
network Left {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> left: Affine(10) -> SoftmaxCrossEntropy(y)
}
network Right {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> right: Affine(10) -> SoftmaxCrossEntropy(y)
}
network Frozen {
    x = Input(1x8x8, dataset="x")
    p = x -> frozen: Affine(10) -> Softmax
}
dataset training = "train.csv"
dataset validation = "validation.csv"
config {
    max_epoch = 1
    batch_size = 32
    optimizer left { network = Left, dataset = training, solver = Sgd(lr=0.5) }
    optimizer right { network = Right, dataset = training, solver = Momentum(lr=0.1, momentum=0.9) }
    monitor check { network = Left, dataset = validation }
    executor { network = Frozen, dataset = validation }
}
"""


def test_several_optimizers_each_train_their_network(digits, tmp_path):
    spec = tmp_path / "two.nnd"
    spec.write_text(TWO_OPTIMIZERS)
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    project = tmp_path / "project"
    generate(result.project, project)
    out = tmp_path / "runs"
    run_script(project, "train.py", *data_args(digits), "--workers", 0, "--seed", 0, "--output", out)
    final = np.load(latest(out) / "params.npz")
    assert set(final.files) == {"left/W", "left/b", "right/W", "right/b", "frozen/W", "frozen/b"}
    # Biases start at exactly 0 (NNC's Constant initializer): each optimizer moved its own
    # network's, and no optimizer trains Frozen, whose bias is still 0.
    assert not np.allclose(final["left/b"], 0)
    assert not np.allclose(final["right/b"], 0)
    assert np.allclose(final["frozen/b"], 0)


@pytest.mark.parametrize(
    "switches",
    [["--amp", "bf16", "--channels-last"], ["--amp", "fp16", "--update-interval", "2"], ["--compile"]],
    ids=["bf16-channels-last", "fp16-scaler", "compile"],
)
def test_speed_switches(project, mlp_project, digits, tmp_path, switches):
    out = tmp_path / "runs"
    args = [*data_args(digits), "--epochs", 1, "--workers", 0, "--seed", 0, "--output", out, *switches]
    # (torch.compile builds C++ kernels for every graph: the MLP's few are enough to show it trains)
    small = "fp16" in switches or "--compile" in switches
    run_script(mlp_project if small else project, "train.py", *args, timeout=600)
    checkpoint = torch.load(latest(out) / "checkpoint.pt", map_location="cpu", weights_only=True)
    state = next(v for k, v in checkpoint.items() if k in ("model", "model_state", "state_dict"))
    assert not any(k.startswith("_orig_mod.") for k in state)  # the uncompiled module's weights
    # Learning: the training loss below chance level (ln 10). The validation error after this one epoch is
    # no measure: fp16's scaler skips the first updates (overflowing gradients), and it sits at 0.87-0.9.
    assert float(read_log(latest(out) / "log.csv")[-1]["optimizer_loss"]) < math.log(10)
