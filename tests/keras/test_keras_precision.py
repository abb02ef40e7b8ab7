"""The generated Keras project's train.py under mixed precision and XLA, in a file of its own so that
pytest-xdist runs it beside the rest of the Keras training tests.

float16 runs train tests/data/digits_mlp.nnd (an MLP with batch normalization) rather than the
digits CNN: TensorFlow has no float16 convolution kernels for CPUs, and the CNN took 300-500 s
under float16 against 20 s under bfloat16."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from test_keras_train import latest, log_rows, mlp_project, project, train  # noqa: E402, F401 (fixtures)


@pytest.mark.parametrize(
    "flags",
    [("--amp", "bf16"), ("--amp", "fp16"), ("--jit",)],
    ids=["mixed_bfloat16", "mixed_float16-loss-scaled", "xla"],
)
def test_mixed_precision_and_xla_train(project, mlp_project, tmp_path, flags):  # noqa: F811 (the imported fixtures)
    """Three epochs under a mixed-precision policy (fp16 through a LossScaleOptimizer) or with the
    step compiled by XLA: the loss falls and the validation error ends as low as float32's (about
    2% with this seed, for the CNN and the MLP alike), and the parameters written stay float32."""
    out = tmp_path / "runs"
    fp16 = flags == ("--amp", "fp16")
    r = train(mlp_project if fp16 else project, "--epochs", "3", "--seed", "3", *flags, "--output", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    if flags[0] == "--amp":
        policy = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}[flags[1]]
        assert f"precision {policy}" in r.stdout
    else:
        assert "XLA" in r.stdout
    rows = log_rows(out)
    losses = [float(row["optimizer_loss"]) for row in rows]
    assert all(np.isfinite(losses)) and losses[2] < losses[1] < losses[0], rows
    assert float(rows[-1]["valid_error"]) <= 0.1, rows
    with np.load(latest(out) / "params.npz") as params:
        assert {params[name].dtype for name in params.files} == {np.dtype(np.float32)}
