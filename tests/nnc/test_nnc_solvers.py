"""NNC's SgdW, AdaBound and AMSBound (and AdamW's weight decay) in both generated runtimes, against
real nnabla 1.39 updates.

The fixtures (tests/nnc/fixtures/solvers/*.json, made by tools/nnc_solver_fixtures.py with nnabla)
hold a few updates of each solver on float32 parameters with given gradients, driven as NNC's trainer
drives nnabla: solver.weight_decay(WeightDecay) when it is > 0, the learning rate set before every
update. Here the same solver, made by each runtime's `make_solver` from the same NNC parameters,
must give nnabla's parameters after every update. With nnabla installed ($NNDSL_NNABLA_PYTHON or
/work/nnabla-venv/bin/python) the live test recomputes the fixtures with it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "nnc" / "fixtures" / "solvers"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json"))
NNABLA = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
# NNC's display names of the solvers' parameters -> the runtimes' (nnabla's) names
NNC_TO_RUNTIME = {"Weight Decay": "wd", "FinalLR": "final_lr", "Epsilon": "eps"}
# float32 parameters: the runtimes and nnabla round differently (AMSBound without bias correction takes
# steps of ~1 from a tiny sqrt(v_hat), so its rounding shows most)
RTOL, ATOL = 1e-5, 2e-6


def _case(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _nnc_kwargs(case: dict) -> dict:
    kwargs = {NNC_TO_RUNTIME.get(k, k): v for k, v in case["nnc_params"].items()}
    return {**kwargs, **case["extra"], "weight_decay": case["weight_decay"]}


def _assert_nnablas(case: dict, got: list[dict]) -> None:
    for step, (g, e) in enumerate(zip(got, case["after"], strict=True)):
        for k in e:
            np.testing.assert_allclose(
                g[k], np.asarray(e[k], np.float32), rtol=RTOL, atol=ATOL, err_msg=f"{k} after update {step + 1}"
            )


def test_fixtures_cover_the_three_solvers():
    solvers = {_case(name)["solver"] for name in CASES}
    assert {"SgdW", "AdaBound", "AMSBound", "AdamW"} <= solvers
    assert any(_case(n)["weight_decay"] > 0 for n in CASES) and any(_case(n)["weight_decay"] == 0 for n in CASES)
    assert all(_case(n)["nnabla"].startswith("1.39") for n in CASES)


@pytest.mark.parametrize("name", CASES)
def test_torch_runtime_gives_nnablas_updates(name):
    torch = pytest.importorskip("torch")
    solvers = importlib.import_module("nndsl.runtime.torch.solvers")
    case = _case(name)
    params = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for k, v in case["params"].items()}
    optimizer = solvers.make_solver(case["solver"], list(params.values()), _nnc_kwargs(case))
    got = []
    for lr, grads in zip(case["lrs"], case["grads"], strict=True):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for k, p in params.items():
            p.grad = torch.tensor(grads[k], dtype=torch.float32)
        optimizer.step()
        got.append({k: p.detach().numpy().copy() for k, p in params.items()})
    _assert_nnablas(case, got)


@pytest.fixture(scope="module")
def keras_solvers():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401  (before TensorFlow, as tests/keras/test_solvers.py explains)
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    return importlib.import_module("nndsl.runtime.keras.solvers")


@pytest.mark.parametrize("name", CASES)
def test_keras_runtime_gives_nnablas_updates(name, keras_solvers):
    import keras
    import tensorflow as tf

    case = _case(name)
    variables = {k: keras.Variable(np.asarray(v, np.float32), dtype="float32") for k, v in case["params"].items()}
    optimizer = keras_solvers.make_solver(case["solver"], _nnc_kwargs(case))
    got = []
    for lr, grads in zip(case["lrs"], case["grads"], strict=True):
        optimizer.learning_rate = lr
        optimizer.apply([tf.constant(grads[k], tf.float32) for k in variables], list(variables.values()))
        got.append({k: v.numpy() for k, v in variables.items()})
    _assert_nnablas(case, got)


@pytest.mark.skipif(not NNABLA.exists(), reason=f"nnabla's Python not found at {NNABLA} (NNDSL_NNABLA_PYTHON)")
def test_fixtures_are_what_nnabla_computes_now(tmp_path):
    """Live: nnabla recomputes every fixture (tools/nnc_solver_fixtures.py --check)."""
    tool = ROOT / "tools" / "nnc_solver_fixtures.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [str(NNABLA), str(tool), "--check", str(FIXTURES)],
        cwd=tmp_path,  # not nnabla's package folder
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "differs" not in run.stdout


# --- one short training run per backend: each new solver trains its own network --------------------

TRAIN_SPEC = """network A {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> a: Affine(10) -> SoftmaxCrossEntropy(y)
}

network B {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> b: Affine(10) -> SoftmaxCrossEntropy(y)
}

network C {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> c: Affine(10) -> SoftmaxCrossEntropy(y)
}

dataset training = "digits/train.csv" { shuffle = true, image_normalization = true }
dataset validation = "digits/validation.csv" { shuffle = false, image_normalization = true }

config {
    max_epoch = 2
    batch_size = 64
    optimizer sgdw { network = A, dataset = training, solver = SgdW(lr=0.1, momentum=0.9, wd=0.001) }
    optimizer adabound { network = B, dataset = training, solver = AdaBound(lr=0.01, final_lr=0.1) }
    optimizer amsbound {
        network = C, dataset = training, solver = AMSBound(lr=0.01, final_lr=0.1, gamma=0.01), schedule = Cosine
    }
    monitor valid_error { network = A, dataset = validation }
}
"""
TRAIN_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def train_spec(tmp_path_factory) -> Path:
    pytest.importorskip("sklearn")
    from nndsl.examples.digits import build_digits_dataset

    folder = tmp_path_factory.mktemp("solvers")
    (folder / "solvers.nnd").write_text(TRAIN_SPEC)
    build_digits_dataset(folder / "digits")
    for name, rows in (("train.csv", 384), ("validation.csv", 128)):  # a short run: a few batches an epoch
        path = folder / "digits" / name
        path.write_text("".join(path.read_text().splitlines(keepends=True)[: rows + 1]))
    return folder / "solvers.nnd"


def _train_and_check(project: Path, extra: tuple[str, ...] = ()) -> None:
    import csv

    config = json.loads((project / "config.json").read_text())
    assert [o["solver"]["type"] for o in config["optimizers"]] == ["SgdW", "AdaBound", "AMSBound"]
    out = project / "runs"
    done = subprocess.run(
        [sys.executable, "train.py", "--seed", "1", "--output", str(out), *extra],
        cwd=project,
        env={**TRAIN_ENV, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = out / (out / "LATEST").read_text().strip()
    with open(run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    assert len(log) == 2
    for name in ("sgdw", "adabound", "amsbound"):
        first, last = (float(row[f"{name}_loss"]) for row in log)
        assert math.isfinite(first) and last < first, (name, first, last)  # each solver trains
    assert float(log[-1]["valid_error"]) < math.log(10)  # SgdW's network's cross-entropy: better than chance


def test_torch_project_trains_with_each_new_solver(train_spec, tmp_path):
    pytest.importorskip("torch")
    from nndsl.backends.torch import generate
    from nndsl.compiler import compile_file

    generate(compile_file(train_spec).project, tmp_path)
    _train_and_check(tmp_path, ("--workers", "0"))


def test_keras_project_trains_with_each_new_solver(train_spec, tmp_path):
    pytest.importorskip("keras")
    from nndsl.backends.keras import generate
    from nndsl.compiler import compile_file

    generate(compile_file(train_spec).project, tmp_path)
    _train_and_check(tmp_path)


# --- export: NNC's keys for the new solvers; what NNC cannot hold is an error --------------------

EXPORT_NETS = """network A {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    loss = x -> a: Affine(1) -> SquaredError(t)
}
network B {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    loss = x -> b: Affine(1) -> SquaredError(t)
}
network C {
    x = Input(2, dataset="x")
    t = Input(1, dataset="y")
    loss = x -> c: Affine(1) -> SquaredError(t)
}
dataset train = "t.csv" { num_data = 64 }
"""


def _export_project(solvers: tuple[str, str, str]):
    from nndsl.compiler import compile_file

    names = "ABC"
    lines = [
        f"    optimizer o{n} {{ network = {n}, dataset = train, solver = {s} }}"
        for n, s in zip(names, solvers, strict=True)
    ]
    result = compile_file("spec.nnd", text=EXPORT_NETS + "config {\n" + "\n".join(lines) + "\n}\n")
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


NEW_SOLVERS = (
    "SgdW(lr=0.02, momentum=0.8, wd=0.005)",
    "AdaBound(lr=0.002, beta1=0.8, final_lr=0.2, gamma=0.002)",
    "AMSBound(lr=0.003, epsilon=1e-06, final_lr=0.05, gamma=0.01)",
)


def test_sdcproj_and_nntxt_export_write_nncs_solver_parameters():
    from nndsl.nnc.config_nnd import config_to_nnc
    from nndsl.nnc.nntxt_write import project_to_message

    project = _export_project(NEW_SOLVERS)
    problems: list = []
    sections = config_to_nnc(project.config, project.datasets, problems)
    assert not problems
    written = []
    for o in sections["Optimizer"]:
        n = int(o.items["SolverParameterNum"])
        params = {o.items[f"SolverParameterName_{i}"]: o.items[f"SolverParameter_{i}"] for i in range(n)}
        written.append((o.items["SolverName"], params, o.items["WeightDecay"]))
    adabound = {"Alpha": "0.002", "Beta1": "0.8", "Beta2": "0.999", "Epsilon": "1e-08"}
    amsbound = {"Alpha": "0.003", "Beta1": "0.9", "Beta2": "0.999", "Epsilon": "1e-06"}
    assert written == [  # in NNC's order (solver_component.txt), defaults filled in
        ("SgdW", {"LearningRate": "0.02", "Momentum": "0.8", "Weight Decay": "0.005"}, "0"),
        ("AdaBound", {**adabound, "FinalLR": "0.2", "Gamma": "0.002"}, "0"),
        ("AMSBound", {**amsbound, "FinalLR": "0.05", "Gamma": "0.01"}, "0"),
    ]
    assert [list(p) for _, p, _ in written[1:]] == [["Alpha", "Beta1", "Beta2", "Epsilon", "FinalLR", "Gamma"]] * 2
    solvers = [o.messages("solver")[0] for o in project_to_message(project).messages("optimizer")]
    assert [s.scalar("type") for s in solvers] == ["SgdW", "AdaBound", "AMSBound"]
    assert solvers[0].messages("sgdw_param")[0].scalar("wd") == "0.005"  # the given wd, not NNC's 1e-4
    param = solvers[1].messages("adabound_param")[0]
    assert (param.scalar("alpha"), param.scalar("final_lr"), param.scalar("gamma")) == ("0.002", "0.2", "0.002")
    assert solvers[2].messages("amsbound_param")[0].scalar("eps") == "1e-06"


def test_bias_correction_nnc_cannot_hold_is_an_export_error():
    from nndsl.nnc.config_nnd import config_to_nnc
    from nndsl.nnc.nntxt_write import ExportError, project_to_message

    project = _export_project(("Sgd", "AMSGRAD(bias_correction=true)", "AMSBound(bias_correction=true)"))
    problems: list = []
    config_to_nnc(project.config, project.datasets, problems)
    assert [d.code for d in problems] == ["E0624", "E0624"]
    first = EXPORT_NETS.count("\n") + 2  # the line of optimizer oA, after "config {"
    assert [d.span.line for d in problems] == [first + 1, first + 2]  # the solvers of oB and oC
    assert "AMSBound's bias_correction" in problems[1].message
    with pytest.raises(ExportError, match="bias_correction"):
        project_to_message(project)


@pytest.mark.parametrize("suffix", [".sdcproj", ".nntxt"])
def test_nndsl_export_reports_bias_correction_at_the_solver(tmp_path, capsys, suffix):
    """Both formats: `nndsl export` exits 1 with E0624 at each solver (the .sdcproj writer used to drop it
    silently) and writes nothing."""
    from nndsl.cli import main

    spec = tmp_path / "spec.nnd"
    config = "\n".join(
        f"    optimizer o{n} {{ network = {n}, dataset = train, solver = {s} }}"
        for n, s in zip("ABC", ("Sgd", "AMSGRAD(bias_correction=true)", "Adam"), strict=True)
    )
    spec.write_text(EXPORT_NETS + "config {\n" + config + "\n}\n", encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    assert main(["export", str(spec), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    line = EXPORT_NETS.count("\n") + 3
    assert f"spec.nnd:{line}:" in err and "error[E0624]" in err and "bias_correction" in err
    assert not out.exists()
