"""Math, trigonometric and logical layers at their edges, in both backends, against nnabla's functions.

tests/nnc/math_layer_cases.py gives each case (a layer with its parameters: trigonometric functions,
Sinc, Sign, TanhShrink, HardSigmoid, SoftPlus, CReLU, CELU, AddN, MulN, IsNaN, IsInf, ResetNaN,
ResetInf, Logical*Scalar, Norm, CumSum, CumProd) inputs with negative numbers, zeros, values past
+-1, infinities and NaN; nnabla 1.39's own function's outputs on them are stored in
tests/nnc/fixtures/math_layers/math_layers.npz (tools/nnc_math_layer_fixtures.py). One project of
one network per case is generated for each backend; every output equals nnabla's within 1e-4 of
its finite scale, with NaN and infinities in the same places, and the two backends agree with each
other the same way (where the frameworks could differ: NaN and out-of-domain inputs, float rounding);
so do the gradients nnabla computed on finite inputs (with zeros, where TensorFlow's cumprod and
sinc gradients are not nnabla's).
A live test reruns nnabla where it is installed.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "nnc"))

import math_layer_cases as M  # noqa: E402
import nntxt_export_cases as C  # noqa: E402
from conftest import import_generated  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402

TOLERANCE = 1e-4
FIXTURE = Path(__file__).resolve().parent / "nnc" / "fixtures" / "math_layers" / "math_layers.npz"
NNABLA = os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python")


@functools.cache
def _project():
    result = compile_file("math_layers.nnd", text=M.spec())
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


def _feed(name: str) -> dict[str, np.ndarray]:
    call, _, kind = M.CASES[name]
    x0, x1 = M.inputs(kind)
    return {"x0": x0, "x1": x1} if "x1" in call else {"x0": x0}


def _run(backend: str, out: Path) -> dict[str, np.ndarray]:
    """Every case's output in `backend`'s generated project (NNC's layout, batch first), and as
    `grad:<case>` x0's gradient on the "finite" inputs for the output gradient `M.dy`."""
    if backend == "torch":
        import torch

        from nndsl.backends.torch import generate
    else:
        import tensorflow as tf

        from nndsl.backends.keras import generate
    generate(_project(), out)
    module = import_generated(out)
    model = module.create_model()
    got = {}
    for name in M.CASES:
        feed = _feed(name)
        if backend == "torch":
            with torch.no_grad():
                y = model.run_network(M.network(name), **{k: torch.from_numpy(v) for k, v in feed.items()})["y"]
            got[name] = y.numpy()
        else:
            got[name] = model.run_network(M.network(name), **feed)["y"]
    for name in M.GRADIENT_CASES:
        x0, x1 = M.inputs("finite")
        feed = {"x0": x0, "x1": x1} if "x1" in M.CASES[name][0] else {"x0": x0}
        dy = M.dy(got[name].shape)
        if backend == "torch":
            xs = {k: torch.from_numpy(v).requires_grad_() for k, v in feed.items()}
            y = model.run_network(M.network(name), **xs)["y"]
            (y * torch.from_numpy(dy)).sum().backward()
            got[f"grad:{name}"] = xs["x0"].grad.numpy()
        else:
            xs = {k: tf.constant(module.nnc.to_channels_last(v)) for k, v in feed.items()}
            with tf.GradientTape() as tape:
                tape.watch(xs["x0"])
                y = model.networks[M.network(name)](xs, training=False)["y"]
                loss = tf.reduce_sum(y * module.nnc.to_channels_last(dy))
            got[f"grad:{name}"] = module.nnc.to_channels_first(tape.gradient(loss, xs["x0"]).numpy())
    return got


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    return {b: _run(b, tmp_path_factory.mktemp(b)) for b in ("torch", "keras")}


def _problems(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    out = []
    for name in M.CASES:
        diff, scale = C.max_difference(expected[name], got[name])
        if not diff <= TOLERANCE * scale:
            out.append(f"{name}: max abs difference {diff:.3g}, scale {scale:.3g}")
    return out


def test_the_fixture_holds_every_case():
    stored = np.load(FIXTURE, allow_pickle=False)
    grads = {f"{k}:{name}" for name in M.GRADIENT_CASES for k in ("grad", "finite")}
    assert set(stored.files) == set(M.CASES) | grads


# Cases whose gradient at x0 == 0 is not compared with nnabla's, and why: a kink, where any value
# between the one-sided derivatives is a gradient, or nnabla's formula failing there.
NOT_AT_ZERO = {
    "CReLU": "a kink: nnabla's gradient at 0 is that of the positive half, torch's and Keras's 0",
    "CReLU_axis2": "as CReLU",
    # (with alpha 1, CELU's default, the two agree)
    "CELU_alpha_axis1": "a kink: nnabla's ELU derivative at 0 is 1 on both halves, torch's and Keras's alpha",
    "Norm_p1_axes12_keep": "|x|'s kink: nnabla's gradient at 0 is dy, torch's and Keras's 0",
    "MulN": "nnabla divides the product by x0: NaN at 0; torch and Keras give the product of the others",
    "MulN3": "as MulN",
}


def _gradient_problems(expected: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> list[str]:
    """Gradients compared where the layer's output is finite (ACosh below 1 is NaN: its gradient there
    says nothing; nnabla's and torch's are 1/sqrt(x^2 - 1) for x < -1, Keras's NaN), and away from 0 for
    the cases of NOT_AT_ZERO."""
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    x0, _ = M.inputs("finite")
    out = []
    for name in M.GRADIENT_CASES:
        want, have = expected[f"grad:{name}"], got[f"grad:{name}"].reshape(expected[f"grad:{name}"].shape)
        y = stored[f"finite:{name}"]
        keep = np.isfinite(y) if y.shape == want.shape else np.ones(want.shape, dtype=bool)
        if name in NOT_AT_ZERO:
            keep &= x0 != 0
        want, have = want[keep], have[keep]
        diff, scale = C.max_difference(want, have)
        if not diff <= TOLERANCE * scale:
            out.append(f"grad:{name}: max abs difference {diff:.3g}, scale {scale:.3g}")
    return out


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_gradients_equal_nnablas(backend, outputs):
    """x0's gradient (zeros among the inputs: CumProd's and Sinc's gradients there are nnabla's, not
    TensorFlow's, which divides by x, nor ops.sinc's NaN at 0)."""
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    problems = _gradient_problems(stored, outputs[backend])
    assert not problems, "\n".join(problems)


def test_the_inputs_reach_the_edges():
    """The cases see what the zoo's [0, 1) inputs never give: NaN and infinities in and out."""
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    x0, _ = M.inputs("edge")
    assert np.isnan(x0).any() and np.isposinf(x0).any() and np.isneginf(x0).any() and (x0 == 0).any()
    assert (x0 < -1).any() and (x0 > 1).any()
    assert np.isfinite(stored["ACosh"]).any() and np.isnan(stored["ACosh"]).any()
    assert set(np.unique(stored["Sign"])) == {-1.0, 0.0, 1.0}
    assert stored["IsNaN"].any() and stored["IsInf"].any()
    assert np.isfinite(M.inputs("finite")[0]).all()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_nnablas_functions(backend, outputs):
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    problems = _problems(stored, outputs[backend])
    assert not problems, "\n".join(problems)


def test_torch_and_keras_agree_nan_and_infinities_included(outputs):
    problems = _problems(outputs["torch"], outputs["keras"])
    assert not problems, "\n".join(problems)


def test_torch_and_keras_gradients_agree_at_zero_too(outputs):
    """The backends agree with each other on every gradient, at the kinks of NOT_AT_ZERO included."""
    problems = []
    for name in M.GRADIENT_CASES:
        if name == "ACosh":  # NaN output below 1: torch's gradient is nnabla's formula, Keras's NaN
            continue
        diff, scale = C.max_difference(outputs["torch"][f"grad:{name}"], outputs["keras"][f"grad:{name}"])
        if not diff <= TOLERANCE * scale:
            problems.append(f"grad:{name}: max abs difference {diff:.3g}, scale {scale:.3g}")
    assert not problems, "\n".join(problems)


def test_the_gradients_left_out_at_zero_differ_there(outputs):
    """NOT_AT_ZERO is not wider than needed: in each of its cases nnabla's gradient at x0 == 0 is not
    torch's (which Keras's equals, by the test above)."""
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    zero = M.inputs("finite")[0] == 0
    assert zero.sum() >= 2
    for name in NOT_AT_ZERO:
        nnabla, torch_ = stored[f"grad:{name}"][zero], outputs["torch"][f"grad:{name}"][zero]
        assert not np.allclose(nnabla, torch_, equal_nan=True), name


def test_outputs_are_float_zero_or_one_for_logical_layers(outputs):
    """nnabla's logical layers and IsNaN/IsInf give floats 0/1: so do both backends."""
    for backend in ("torch", "keras"):
        for name in M.CASES:
            if name.startswith(("Logical", "Is")):
                y = outputs[backend][name]
                assert y.dtype == np.float32 and set(np.unique(y)) <= {0.0, 1.0}, (backend, name)


def test_sign_passes_the_gradient_straight_through(tmp_path):
    """nnabla's Sign backward is dy (`sign_backward`): in torch exactly; in Keras where x is finite."""
    import keras
    import tensorflow as tf
    import torch

    from nndsl.backends.keras import generate as keras_generate
    from nndsl.backends.torch import generate as torch_generate

    project = compile_file(
        "sign.nnd", text='network S {\n    x0 = Input(3x4x5, dataset="x0")\n    y = Sign(x0)\n}\n'
    ).project
    x0, _ = M.inputs("edge")
    torch_generate(project, tmp_path / "torch")
    nnc_layers_t = import_generated(tmp_path / "torch", "nndsl_runtime.torch.nnc_layers")
    x = torch.from_numpy(x0).requires_grad_()
    (nnc_layers_t.sign(x) * torch.arange(x.numel()).reshape(x.shape)).sum().backward()
    assert torch.equal(x.grad, torch.arange(x.numel(), dtype=torch.float32).reshape(x.shape))
    keras_generate(project, tmp_path / "keras")
    nnc_layers = import_generated(tmp_path / "keras", "nndsl_runtime.keras.nnc_layers")
    xt = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = nnc_layers.sign(xt, 0.5)
    grad = tape.gradient(y, xt).numpy()
    assert np.array_equal(grad, np.isfinite(x0).astype(np.float32))
    assert np.array_equal(keras.ops.convert_to_numpy(y)[np.isnan(x0)], np.full(np.isnan(x0).sum(), 0.5, np.float32))


def test_live_nnabla_computes_the_stored_outputs(tmp_path):
    """Rerun nnabla's functions (where nnabla is installed) and compare with the fixture."""
    if not Path(NNABLA).exists():
        pytest.skip(f"nnabla's Python {NNABLA} is not installed (set NNDSL_NNABLA_PYTHON)")
    root = Path(__file__).resolve().parent.parent
    tool = root / "tools" / "nnc_math_layer_fixtures.py"
    stored = dict(np.load(FIXTURE, allow_pickle=False))
    env = {**os.environ, "PYTHONPATH": str(root), "NNDSL_NNABLA_PYTHON": NNABLA}
    # The tool writes the fixture in place: run it on a copy of the repository's files it reads.
    work = tmp_path / "repo"
    (work / "tools").mkdir(parents=True)
    (work / "tests" / "nnc").mkdir(parents=True)
    (work / "tools" / tool.name).write_text(tool.read_text(encoding="utf-8"), encoding="utf-8")
    cases = root / "tests" / "nnc" / "math_layer_cases.py"
    (work / "tests" / "nnc" / cases.name).write_text(cases.read_text(encoding="utf-8"), encoding="utf-8")
    subprocess.run([sys.executable, str(work / "tools" / tool.name)], check=True, env=env, capture_output=True)
    fresh = dict(np.load(work / "tests" / "nnc" / "fixtures" / "math_layers" / "math_layers.npz"))
    assert set(fresh) == set(stored)
    for name in stored:
        np.testing.assert_array_equal(fresh[name], stored[name], err_msg=name)
