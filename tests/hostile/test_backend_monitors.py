"""Both backends' monitors score every sample: the same parameters (one params.npz loaded into the
PyTorch and the Keras project) on a dataset whose size is not a multiple of the batch size give
the same monitor value. Keras's monitors once dropped the last, smaller batch (128 of 160 samples
scored), so the two backends reported different errors for the same model."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

pytest.importorskip("keras")
torch = pytest.importorskip("torch")

from conftest import import_generated  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.backends import torch as torch_backend  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

SPEC = """
network Training {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc1: Affine(8) -> Tanh -> fc2: Affine(3) -> SoftmaxCrossEntropy(y)
}

network Validation {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc1: Affine(8) -> Tanh -> fc2: Affine(3) -> SoftmaxCrossEntropy(y)
}

dataset training = "data.csv" { shuffle = true }
dataset validation = "data.csv" { shuffle = false }

config {
    max_epoch = 1
    batch_size = 64
    optimizer { network = Training, dataset = training, solver = Sgd(lr=0.1) }
    monitor valid_loss { network = Validation, dataset = validation }
}
"""

SAMPLES, BATCH = 160, 64  # 2 full batches and one of 32


def test_both_backends_score_every_sample_and_agree(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SAMPLES, 4)).astype(np.float32)
    y = rng.integers(0, 3, SAMPLES)
    # The last 32 samples are far harder than the others: dropping them changes the mean a lot.
    x[-32:] *= 25.0
    rows = ["x__0,x__1,x__2,x__3,y"] + [",".join([*(f"{v:.6f}" for v in x[i]), str(y[i])]) for i in range(SAMPLES)]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "monitors.nnd").write_text(SPEC, encoding="utf-8")
    result = compile_file(tmp_path / "monitors.nnd")
    assert result.ok, [d.message for d in result.diagnostics]
    keras_backend.generate(result.project, tmp_path / "keras")
    torch_backend.generate(result.project, tmp_path / "torch")

    # The parameters: the PyTorch model's initial values, in one file both load.
    torch.manual_seed(0)
    torch_train = import_generated(tmp_path / "torch", "train")
    torch_model = torch_train.create_model()
    torch_model.save_params(tmp_path / "params.npz")
    torch_model.load_params(tmp_path / "params.npz")
    config = torch_train.load_config(tmp_path / "torch" / "config.json")
    spec = config["monitors"][0]
    dataset = torch_train.open_dataset(config, spec["network"], spec["dataset"], {})
    assert len(dataset) == SAMPLES
    loader = torch_train.make_loader(dataset, BATCH, workers=0)
    options = argparse.Namespace(amp=None, channels_last=False)
    device = torch.device("cpu")
    network = config["networks"][spec["network"]]
    ddp = torch_train.Dist()
    torch_value = torch_train.evaluate(torch_model, spec["network"], loader, network, device, options, ddp)

    keras_train = import_generated(tmp_path / "keras", "train")
    keras_model = keras_train.create_model()
    keras_model.load_params(tmp_path / "params.npz")
    strategy = keras_train.tf.distribute.get_strategy()
    args = argparse.Namespace(batch_size=BATCH, dataset={})
    _, pipeline, step = keras_train.open_monitor(config, spec, keras_model, args, strategy)
    keras_value = keras_train.evaluate(step, pipeline)

    # The mean over every sample, computed here from the same parameters.
    with torch.no_grad():
        logits = torch_model.outputs(
            "Validation", x=torch.from_numpy(x), y=torch.from_numpy(y[:, None].astype(np.float32))
        )
    expected = float(np.mean(next(iter(logits.values())).double().numpy()))
    assert torch_value == pytest.approx(expected, rel=1e-5)
    assert keras_value == pytest.approx(expected, rel=1e-5), (keras_value, torch_value)
