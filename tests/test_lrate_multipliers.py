"""NNC's per-parameter learning-rate multipliers (`w_lrate_multiplier=...`): 0 freezes a parameter
in both backends' training, any positive value trains it at the solver's rate (nnabla's rule:
its optimizer only asks whether a multiplier is above 0), and lint says so (W111)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import import_generated

from nndsl.backends import keras as keras_backend
from nndsl.backends import torch as torch_backend
from nndsl.compiler import compile_file

SPEC = """
network Training {
    x = Input(1x4x4, dataset="x")
    y = Input(1, dataset="y")
    loss = x
        -> conv: Convolution(2, kernel=3x3, w_lrate_multiplier=0, b_lrate_multiplier=0)
        -> bn: BatchNormalization(gamma_lrate_multiplier=0)
        -> fc: Affine(3, w_lrate_multiplier=2)
        -> SoftmaxCrossEntropy(y)
}

dataset training = "data.csv"

config {
    max_epoch = 1
    batch_size = 8
    optimizer { network = Training, dataset = training, solver = Sgd(lr=0.5, weight_decay=0.1) }
}
"""
FROZEN = {"conv/W", "conv/b", "bn/gamma"}
SEED = 11


def _project(tmp_path: Path):
    rng = np.random.default_rng(0)
    rows = ["x__" + ",x__".join(str(i) for i in range(16)) + ",y"]
    for _ in range(32):
        rows.append(",".join([*(f"{v:.4f}" for v in rng.standard_normal(16)), str(rng.integers(0, 3))]))
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "frozen.nnd").write_text(SPEC, encoding="utf-8")
    result = compile_file(tmp_path / "frozen.nnd", lint=True)
    assert result.ok, [d.message for d in result.diagnostics]
    return result


def test_lint_warns_about_a_multiplier_nnabla_does_not_honour(tmp_path):
    result = _project(tmp_path)
    warnings = [d for d in result.diagnostics if d.code == "W111"]
    assert [(d.span.line, "w_lrate_multiplier=2" in d.message) for d in warnings] == [(8, True)]


def _train(project: Path, *extra: str) -> dict[str, np.ndarray]:
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run(
        [sys.executable, "train.py", "--seed", str(SEED), *extra],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    (params,) = (project / "runs").glob("*/params.npz")
    with np.load(params) as data:
        return {name: data[name] for name in data.files}


def _check(initial: dict[str, np.ndarray], final: dict[str, np.ndarray]) -> None:
    assert set(initial) == set(final)
    for name in initial:
        if name in FROZEN:
            np.testing.assert_array_equal(final[name], initial[name], err_msg=name)
        elif name not in ("bn/mean", "bn/var"):  # state, not trained (it moves with the batches)
            assert not np.array_equal(final[name], initial[name]), f"{name} was not trained"


def test_torch_training_leaves_frozen_parameters_alone(tmp_path):
    torch = pytest.importorskip("torch")
    result = _project(tmp_path)
    torch_backend.generate(result.project, tmp_path / "torch")
    train = import_generated(tmp_path / "torch", "train")
    train.seed_everything(SEED, False)
    model = train.create_model()
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == {
        model.PARAMETERS[name][0] for name in FROZEN
    }
    model.save_params(tmp_path / "initial.npz")
    with np.load(tmp_path / "initial.npz") as data:
        initial = {name: data[name] for name in data.files}
    del torch
    _check(initial, _train(tmp_path / "torch", "--device", "cpu"))


def test_keras_training_leaves_frozen_parameters_alone(tmp_path):
    keras = pytest.importorskip("keras")
    result = _project(tmp_path)
    keras_backend.generate(result.project, tmp_path / "keras")
    train = import_generated(tmp_path / "keras", "train")
    keras.utils.set_random_seed(train.keras_seed(SEED))
    model = train.create_model()
    found = model.layers_by_name()
    trainable = {v.path for layer in found.values() for v in layer.trainable_weights}
    for name, (layer, variable, _, _) in model.PARAMETERS.items():
        path = getattr(found[layer], variable).path
        assert (path in trainable) == (name not in FROZEN | {"bn/mean", "bn/var"}), name
    model.save_params(tmp_path / "initial.npz")
    with np.load(tmp_path / "initial.npz") as data:
        initial = {name: data[name] for name in data.files}
    _check(initial, _train(tmp_path / "keras"))
