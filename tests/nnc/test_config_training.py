"""The NNC config features the language gained, honoured by both generated projects' train.py:
an optimizer runs only within its start..end range (NNC's RangeFrom/RangeTo, nnabla's
start_iter/end_iter), and config precision (NNC's TypeConfig) reaches config.json.

Two optimizers train two networks with separate parameters: `first` in epoch 1 only, `second` in
epoch 2 only. In both backends the log has no loss for an optimizer in an epoch outside its
range. With PyTorch, trained for 1 and for 3 epochs with one seed, `first`'s parameters are the
same after both runs (it stops after epoch 1) and `second`'s differ.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.examples.digits import build_digits_dataset  # noqa: E402

SPEC = """network A {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> a: Affine(10) -> SoftmaxCrossEntropy(y)
}

network B {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> b: Affine(10) -> SoftmaxCrossEntropy(y)
}

network V {
    x = Input(1x8x8, dataset="x")
    y = Input(1, dataset="y")
    error = x -> a: Affine(10) -> TopNError(y, n=1)
}

dataset training = "digits/train.csv" { shuffle = true, image_normalization = true }
dataset validation = "digits/validation.csv" { shuffle = false, image_normalization = true }

config {
    max_epoch = 3
    batch_size = 64
    precision = half
    optimizer first { network = A, dataset = training, solver = Sgd(lr=0.1), end = 1 epoch }
    optimizer second { network = B, dataset = training, solver = Sgd(lr=0.1), start = 2 epochs, end = 2 epochs }
    monitor valid_error { network = V, dataset = validation }
}
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
ENV.pop("CUDA_VISIBLE_DEVICES", None)


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ranges")
    (folder / "ranges.nnd").write_text(SPEC)
    build_digits_dataset(folder / "digits")
    return folder / "ranges.nnd"


def _train(project: Path, epochs: int, extra: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    out = project / f"runs{epochs}"
    done = subprocess.run(
        [sys.executable, "train.py", "--epochs", str(epochs), "--seed", "3", "--output", str(out), *extra],
        cwd=project,
        env={**ENV, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = out / (out / "LATEST").read_text().strip()
    with np.load(run / "params.npz", allow_pickle=False) as f:
        params = {k: f[k].copy() for k in f.files}
    with open(run / "log.csv", newline="") as f:
        return params, list(csv.DictReader(f))


def _check(project: Path, extra: tuple[str, ...] = (), params: bool = True) -> None:
    config = json.loads((project / "config.json").read_text())
    assert config["precision"] == "half"
    assert [(o["start"], o["end"]) for o in config["optimizers"]] == [
        (None, [1, "epoch"]),
        ([2, "epoch"], [2, "epoch"]),
    ]
    three, log = _train(project, 3, extra)
    if params:
        one, _ = _train(project, 1, extra)
        a = [k for k in three if k.startswith("a/")]
        b = [k for k in three if k.startswith("b/")]
        assert a and b
        for k in a:
            np.testing.assert_array_equal(one[k], three[k])  # `first` trains in epoch 1 only
        assert any(not np.array_equal(one[k], three[k]) for k in b)  # `second` trains in epoch 2
    losses = [(row["first_loss"], row["second_loss"]) for row in log]
    assert [(math.isnan(float(f)), math.isnan(float(s))) for f, s in losses] == [
        (False, True),
        (True, False),
        (True, True),
    ]


def test_torch_optimizer_ranges(spec, tmp_path):
    pytest.importorskip("torch")
    from nndsl.backends.torch import generate

    generate(compile_file(spec).project, tmp_path)
    _check(tmp_path, ("--workers", "0"))


def test_keras_optimizer_ranges(spec, tmp_path):
    pytest.importorskip("keras")
    from nndsl.backends.keras import generate

    generate(compile_file(spec).project, tmp_path)
    _check(tmp_path, params=False)  # TensorFlow starts slowly: one run, the log's evidence
