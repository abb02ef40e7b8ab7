"""The gradients of the layers whose backward is not the derivative of their forward, against nnabla 1.39:
FixedPointQuantize and Pow2Quantize (straight-through estimators, fine-grained or not), Prune (straight
through), TopKData (the gradient of the kept values; unchanged without reduce), TopKGrad (only the k
largest gradients pass), ClipGradByNorm (the gradient rescaled to clip_norm) and MeanSubtraction (nnabla's
approximate gradient while it updates its running mean). Both runtimes' functions
(nndsl/runtime/torch/nnc_layers.py, nndsl/runtime/keras/nnc_layers.py) on nnabla's inputs and output gradients give
nnabla's outputs and input gradients. What nnabla computed is stored by tools/nnc_backward_fixtures.py;
the live test reruns it where nnabla is installed."""

from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "backward"
CASES = json.loads((FIXTURES / "backward_layers.json").read_text(encoding="utf-8"))
NNABLA = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
FUNCTIONS = {
    "FixedPointQuantize": "fixed_point_quantize",
    "Pow2Quantize": "pow2_quantize",
    "Prune": "prune",
    "ClipGradByNorm": "clip_grad_by_norm",
    "TopKData": "top_k_data",
    "TopKGrad": "top_k_grad",
}


@functools.cache
def _runtime(backend: str):
    if backend == "torch":
        return importlib.import_module("nndsl.runtime.torch.nnc_layers")
    return importlib.import_module("nndsl.runtime.keras.nnc_layers")


def _expected(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "backward_layers.npz", allow_pickle=False) as arrays:
        return {k.split(":", 1)[1]: arrays[k] for k in arrays.files if k.startswith(case + ":")}


def _torch_call(nnc, case: dict, x, expected):
    if case["layer"] != "MeanSubtraction":
        return getattr(nnc, FUNCTIONS[case["layer"]])(x, **_arguments({**case, "backend": "torch"}))
    import torch

    p = case["params"]
    layer = nnc.MeanSubtraction(expected["mean"].shape, p["base_axis"], p["update_running_mean"])
    layer.mean.copy_(torch.from_numpy(expected["mean"]))
    layer.t.fill_(p["t"])
    return layer(x)


def _keras_call(kl, case: dict, x, expected):
    if case["layer"] != "MeanSubtraction":
        return getattr(kl, FUNCTIONS[case["layer"]])(x, **_arguments({**case, "backend": "keras"}))
    p = case["params"]
    layer = kl.MeanSubtraction(
        shape=expected["mean"].shape, base_axis=p["base_axis"], update_running_mean=p["update_running_mean"]
    )
    layer.mean.assign(expected["mean"])
    layer.t.assign([p["t"]])
    return layer.compute(x)  # NNC's layout, as the fixture's (no channels-last conversion)


def _arguments(case: dict) -> dict:
    """The runtime function's arguments: NNC's parameters, ClipGradByNorm's axes as tensor axes."""
    params = dict(case["params"])
    if case["layer"] == "ClipGradByNorm":
        axes = [a + 1 for a in params.pop("axes")]
        params["dims" if case.get("backend") == "torch" else "axes"] = axes
    return params


def _check(case: dict, y: np.ndarray, dx: np.ndarray, expected: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(y, expected["y"], rtol=1e-6, atol=1e-6, err_msg=f"{case['case']}: output")
    np.testing.assert_allclose(dx, expected["dx"], rtol=1e-5, atol=1e-6, err_msg=f"{case['case']}: gradient")


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_torch_runtime_gradients_equal_nnablas(case):
    torch = pytest.importorskip("torch")
    nnc = _runtime("torch")
    expected = _expected(case["case"])
    x = torch.from_numpy(expected["x"]).requires_grad_(True)
    y = _torch_call(nnc, case, x, expected)
    y.backward(torch.from_numpy(expected["dy"]))
    _check(case, y.detach().numpy(), x.grad.numpy(), expected)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_keras_runtime_gradients_equal_nnablas(case):
    tf = pytest.importorskip("tensorflow")
    kl = _runtime("keras")
    expected = _expected(case["case"])
    x = tf.constant(expected["x"])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _keras_call(kl, case, x, expected)
    dx = tape.gradient(y, x, output_gradients=tf.constant(expected["dy"]))
    _check(case, y.numpy(), dx.numpy(), expected)


def test_the_stored_gradients_are_what_nnabla_computes(tmp_path):
    """Live: tools/nnc_backward_fixtures.py run again under nnabla writes the stored arrays."""
    if not NNABLA.exists():
        pytest.skip(f"nnabla's Python is not installed ({NNABLA}; set NNDSL_NNABLA_PYTHON)")
    tool = ROOT / "tools" / "nnc_backward_fixtures.py"
    subprocess.run([str(NNABLA), str(tool), "--out", str(tmp_path)], check=True, capture_output=True, timeout=300)
    assert json.loads((tmp_path / "backward_layers.json").read_text(encoding="utf-8")) == CASES
    with (
        np.load(tmp_path / "backward_layers.npz", allow_pickle=False) as fresh,
        np.load(FIXTURES / "backward_layers.npz", allow_pickle=False) as stored,
    ):
        assert sorted(fresh.files) == sorted(stored.files)
        for key in stored.files:
            np.testing.assert_array_equal(fresh[key], stored[key], err_msg=key)
