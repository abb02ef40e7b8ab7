"""nndsl/runtime/keras/solvers.py: NNC's solvers and learning-rate schedules in Keras 3, checked against
nnabla's update rules (a numpy reference written from nnabla's solver .cpp sources, as in
tests/torch/test_nnc_runtime.py) and against the PyTorch runtime nndsl/runtime/torch/solvers.py.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if importlib.util.find_spec("triton") is not None:
    # triton, which torch imports lazily (e.g. when it makes its first optimizer), crashes the process
    # when it is loaded after TensorFlow: load it first, for this file and the torch tests in the same run.
    import triton  # noqa: F401

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")
from keras import ops  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


solvers = importlib.import_module("nndsl.runtime.keras.solvers")


@pytest.fixture(scope="module")
def torch_solvers():
    pytest.importorskip("torch")
    return importlib.import_module("nndsl.runtime.torch.solvers")


# ------------------------------------------------------------------------------------------------
# Solvers: every update against nnabla's rule, float64 parameters of several shapes.
# ------------------------------------------------------------------------------------------------

_rng = np.random.default_rng(7)
SHAPES = [(4,), (3, 1, 2)]
W0 = [_rng.normal(size=s) for s in SHAPES]
GRADS = [[_rng.normal(scale=0.5, size=s) for s in SHAPES] for _ in range(6)]
# A changing learning rate shows where a solver keeps it; float32 values, as Keras stores a learning rate.
LRS = [float(np.float32(x)) for x in (0.1, 0.05, 0.02, 0.02, 0.05, 0.01)]
KERAS_SGD = ("Momentum", "Nesterov")  # computed by Keras's SGD
KERAS_ADAM = ("Adam", "AdamW", "Adamax")  # computed by Keras's Adam and Adamax


def _f32(x: float) -> float:
    return float(np.float32(x))


def _nnabla(name, kw, wd, init_lr):
    """nnabla's update of one parameter (numpy), from the solver .cpp sources: step(w, g, lr, t) -> new w.

    Keras casts a few hyper-parameters with `ops.cast(value, dtype)`, which goes through float32 even for
    float64 parameters, as nnabla keeps them as C floats: SGD's momentum, and the betas that Adam and Adamax
    raise to the power t. Modelled here.
    """
    st = {}

    def step(w, g, lr, t):
        if name == "Lars":  # lars.cpp: the decay enters the local learning rate and the update
            g_norm, d_norm = np.linalg.norm(g), np.linalg.norm(w)
            x = g_norm + wd * d_norm
            x = x + kw["eps"] if x < kw["eps"] else x
            local_lr = lr if d_norm < kw["eps"] else lr * kw["coefficient"] * d_norm / x
            st["v"] = kw["momentum"] * st.get("v", 0) + local_lr * (g + wd * w)
            return w - st["v"]
        if name in ("AdamW", "SgdW"):
            # nnabla's solver.weight_decay(wd), which NNC's trainer calls when WeightDecay > 0, replaces their
            # decoupled rate and adds nothing to g (sgdw.cpp, adamw.cpp; run in nnabla 1.39)
            decay = lr / init_lr * (wd if wd > 0 else kw["wd"]) * w
        else:
            g = g + wd * w
        if name == "Sgd":
            return w - lr * g
        if name == "SgdW":
            st["v"] = kw["momentum"] * st.get("v", 0) + lr * g
            return w - st["v"] - decay
        if name == "Momentum":
            st["v"] = _f32(kw["momentum"]) * st.get("v", 0) + lr * g
            return w - st["v"]
        if name == "Nesterov":
            m, v_prev = _f32(kw["momentum"]), st.get("v", 0)
            st["v"] = m * v_prev - lr * g
            return w - m * v_prev + (1 + m) * st["v"]
        if name == "Adagrad":
            st["G"] = st.get("G", 0) + g * g
            return w - lr * g / (np.sqrt(st["G"]) + kw["eps"])
        if name == "Adadelta":
            d = kw["decay"]
            st["Eg"] = st.get("Eg", 0) * d + g * g * (1 - d)
            delta = np.sqrt((st.get("Ed", 0) + kw["eps"]) / (st["Eg"] + kw["eps"])) * g
            st["Ed"] = st.get("Ed", 0) * d + delta * delta * (1 - d)
            return w - lr * delta
        if name == "RMSprop":
            d = kw["decay"]
            st["v"] = st.get("v", 0) * d + g * g * (1 - d)
            return w - lr / (np.sqrt(st["v"]) + kw["eps"]) * g
        if name == "RMSpropGraves":
            d = kw["decay"]
            st["n"] = d * st.get("n", 0) + (1 - d) * g * g
            st["g"] = d * st.get("g", 0) + (1 - d) * g
            st["d"] = kw["momentum"] * st.get("d", 0) - lr * g / np.sqrt(st["n"] - st["g"] ** 2 + kw["eps"])
            return w + st["d"]
        b1, b2, eps = kw["beta1"], kw["beta2"], kw["eps"]
        p1, p2 = (_f32(b1) ** t, _f32(b2) ** t) if name in KERAS_ADAM else (b1**t, b2**t)
        st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
        if name == "AdaBelief":
            st["s"] = b2 * st.get("s", 0) + (1 - b2) * (g - st["m"]) ** 2
            r_t, rho_t = 1.0, 0.0
            if kw.get("rectify"):
                rho_inf = 2 / (1 - b2) - 1
                rho_t = rho_inf - 2 * t * p2 / (1 - p2)
                if rho_t > 4:
                    r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            sgd = kw.get("rectify") and rho_t <= 4
            a = lr if sgd else lr * r_t * math.sqrt(1 - p2) / (1 - p1)
            if kw.get("weight_decouple"):
                w = w - w * (kw["wd"] if kw.get("fixed_decay") else kw["wd"] * lr)
            s_t = st["s"]
            if kw.get("amsgrad"):
                st["smax"] = np.maximum(st.get("smax", 0), st["s"])
                s_t = st["smax"]
            return w - a * st["m"] if sgd else w - a * st["m"] / (np.sqrt(s_t + eps) + eps)
        if name == "Adamax":
            st["u"] = np.maximum(b2 * st.get("u", 0), np.abs(g))
            return w - lr / (1 - p1) * st["m"] / (st["u"] + eps)
        st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
        corr = math.sqrt(1 - p2) / (1 - p1)
        if name == "Adam":
            return w - lr * corr * st["m"] / (np.sqrt(st["v"]) + eps)
        if name == "AdamW":
            return w - lr * corr * st["m"] / (np.sqrt(st["v"]) + eps) - decay
        if name in ("AdaBound", "AMSBound"):  # adabound.cpp, amsbound.cpp; final_lr follows lr / initial lr
            final, gamma = kw["final_lr"] * lr / init_lr, kw["gamma"]
            low, high = final * (1 - 1 / (gamma * t + 1)), final * (1 + 1 / (gamma * t))
            v, a = st["v"], lr * corr
            if name == "AMSBound":  # v_hat; no bias correction by default; nnabla 1.39's upper bound
                st["vh"] = np.maximum(st.get("vh", 0), st["v"])
                v, a, high = st["vh"], (a if kw.get("bias_correction") else lr), final * (1 + t / gamma)
            return w - np.clip(a / (np.sqrt(v) + eps), low, high) * st["m"]
        if name == "AMSGRAD":
            st["vh"] = np.maximum(st.get("vh", 0), st["v"])
            a = lr * corr if kw.get("bias_correction") else lr
            return w - a * st["m"] / (np.sqrt(st["vh"]) + eps)
        raise AssertionError(name)

    return step


def _reference(name, kw, wd, lrs=LRS, grads=GRADS, init_lr=LRS[0]):
    """The parameters after each update, by `_nnabla`."""
    steps = [_nnabla(name, kw, wd, init_lr) for _ in SHAPES]
    ws, out = list(W0), []
    for t, (lr, gs) in enumerate(zip(lrs, grads, strict=True), start=1):
        ws = [step(w, g, lr, t) for step, w, g in zip(steps, ws, gs, strict=True)]
        out.append(ws)
    return out


def _run_keras(optimizer, lrs=LRS, grads=GRADS, compiled=False):
    """The parameters after each `optimizer.apply`, with the learning rate set before each call."""
    variables = [keras.Variable(w, dtype="float64") for w in W0]

    def apply(gs):
        optimizer.apply(gs, variables)

    apply = tf.function(apply) if compiled else apply
    out = []
    for lr, gs in zip(lrs, grads, strict=True):
        if lr is not None:
            optimizer.learning_rate = lr
        apply([tf.constant(g) for g in gs])
        out.append([v.numpy() for v in variables])
    return out


def _run_torch(optimizer_for, lrs=LRS, grads=GRADS):
    import torch

    params = [torch.nn.Parameter(torch.tensor(w)) for w in W0]
    optimizer = optimizer_for(params)
    out = []
    for lr, gs in zip(lrs, grads, strict=True):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for p, g in zip(params, gs, strict=True):
            p.grad = torch.tensor(g)
        optimizer.step()
        out.append([p.detach().numpy().copy() for p in params])
    return out


def _assert_close(got, expected, rtol=1e-9):
    for step, (g_step, e_step) in enumerate(zip(got, expected, strict=True)):
        for g, e in zip(g_step, e_step, strict=True):
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * 1e-3, err_msg=f"after update {step + 1}")


SOLVER_CASES = [
    ("Sgd", {}),
    ("Momentum", {"momentum": 0.9}),
    ("Momentum", {"momentum": 0.5}),
    ("Nesterov", {"momentum": 0.9}),
    ("Adagrad", {"eps": 1e-8}),
    ("Adagrad", {"eps": 0.1}),  # nnabla adds eps to sqrt(G); Keras's Adagrad adds it to G
    ("Adadelta", {"decay": 0.95, "eps": 1e-6}),
    ("RMSprop", {"decay": 0.9, "eps": 1e-8}),
    ("RMSprop", {"decay": 0.5, "eps": 0.1}),
    ("RMSpropGraves", {"decay": 0.95, "momentum": 0.9, "eps": 1e-4}),
    ("Adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("Adam", {"beta1": 0.5, "beta2": 0.9, "eps": 0.1}),
    ("AdamW", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1}),
    ("Adamax", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AMSGRAD", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AMSGRAD", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": True}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1, "weight_decouple": True, "amsgrad": True}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1, "weight_decouple": True, "fixed_decay": True}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.9, "eps": 1e-8, "rectify": True}),  # plain steps while rho_t <= 4
    ("Lars", {"momentum": 0.9, "coefficient": 0.01, "eps": 1e-6}),
    ("Lars", {"momentum": 0.9, "coefficient": 0.01, "eps": 10.0}),  # |w| < eps: the learning rate itself
    ("SgdW", {"momentum": 0.9, "wd": 0.1}),
    ("AdaBound", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "final_lr": 0.1, "gamma": 1e-3}),
    ("AdaBound", {"beta1": 0.8, "beta2": 0.99, "eps": 0.01, "final_lr": 0.05, "gamma": 0.5}),  # bounds clip
    ("AMSBound", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "final_lr": 0.1, "gamma": 1e-3}),
    ("AMSBound", {"beta1": 0.8, "beta2": 0.99, "eps": 0.3, "final_lr": 0.05, "gamma": 0.5, "bias_correction": True}),
]


def _ids(cases):
    return [f"{case[0]}-{i}" for i, case in enumerate(cases)]


@pytest.mark.parametrize("wd", [0.0, 0.01], ids=["no-decay", "decay"])
@pytest.mark.parametrize(("name", "kw"), SOLVER_CASES, ids=_ids(SOLVER_CASES))
def test_solver_is_nnablas_update(name, kw, wd):
    optimizer = solvers.make_solver(name, {"lr": LRS[0], "weight_decay": wd, **kw})
    _assert_close(_run_keras(optimizer), _reference(name, kw, wd))


# The rules written in solvers.py (the others run Keras's own update_step), each with its last case above.
GRAPH_CASES = {
    name: kw
    for name, kw in SOLVER_CASES
    if name in ("Adagrad", "RMSprop", "AdamW", "AMSGRAD", "AdaBelief", "Lars", "SgdW", "AdaBound", "AMSBound")
}


@pytest.mark.parametrize(("name", "kw"), GRAPH_CASES.items(), ids=list(GRAPH_CASES))
def test_solver_in_a_tf_function(name, kw):
    optimizer = solvers.make_solver(name, {"lr": LRS[0], "weight_decay": 0.01, **kw})
    _assert_close(_run_keras(optimizer, compiled=True), _reference(name, kw, 0.01))


# Momentum and betas exact in float32, so that Keras's SGD, Adam and Adamax compute in float64 what torch does.
TORCH_CASES = {
    "Momentum": {"momentum": 0.875},
    "Nesterov": {"momentum": 0.875},
    "Adam": {"beta1": 0.875, "beta2": 0.9990234375},
    "AdamW": {"beta1": 0.875, "beta2": 0.9990234375, "wd": 0.1},
    "Adamax": {"beta1": 0.875, "beta2": 0.9990234375},
    "AdaBelief": {"rectify": True, "amsgrad": True, "weight_decouple": True, "wd": 0.1, "beta2": 0.9},
    "Lars": {"coefficient": 0.01},
    "SgdW": {"momentum": 0.875, "wd": 0.1},
    "AdaBound": {"gamma": 0.5, "final_lr": 0.05},
    "AMSBound": {"gamma": 0.5, "final_lr": 0.05, "beta2": 0.9},
}


@pytest.mark.parametrize("name", list(solvers._SOLVERS))
def test_solver_matches_the_torch_runtime(name, torch_solvers):
    nnc_kwargs = {"lr": LRS[0], "weight_decay": 0.01, **TORCH_CASES.get(name, {})}
    expected = _run_torch(lambda params: torch_solvers.make_solver(name, params, nnc_kwargs))
    _assert_close(_run_keras(solvers.make_solver(name, nnc_kwargs)), expected)


def test_keras_weight_decay_is_not_nncs():
    """Keras's weight_decay (w -= lr wd w beside the update) is not NNC's coupled g += wd w, except for Sgd."""
    for name, same in [("Sgd", True), ("Adam", False)]:
        coupled = _run_keras(solvers.make_solver(name, {"lr": LRS[0], "weight_decay": 0.01}))
        decoupled = _run_keras(solvers.make_solver(name, {"lr": LRS[0]}, weight_decay=0.01))
        assert np.allclose(coupled[-1][0], decoupled[-1][0], rtol=1e-6) == same, name


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "Lars"])
def test_sparse_gradients_update_as_dense_ones(name):
    """An embedding's gradient (tf.IndexedSlices) updates every row, as nnabla's dense update does."""
    sparse = tf.IndexedSlices(tf.constant([[0.5, -1.0]], "float64"), tf.constant([1]), tf.constant([3, 2]))
    dense = tf.convert_to_tensor(sparse)
    results = []
    for gradient in (sparse, dense):
        variable = keras.Variable(np.ones((3, 2)), dtype="float64")
        optimizer = solvers.make_solver(name, {"lr": 0.1, "weight_decay": 0.01})
        for _ in range(2):
            optimizer.apply([gradient], [variable])
        results.append(variable.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
    assert np.all(results[0][0] < 1.0)  # the decay moves the rows without a gradient


class _Table(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate table[step]: shows the iteration the optimizer evaluates its schedule at."""

    def __init__(self, table):
        self.table = list(table)

    def __call__(self, step):
        return ops.take(ops.convert_to_tensor(self.table, "float32"), step)


ACCUMULATION_CASES = [
    ("Momentum", {}),
    ("Adam", {}),
    ("AdamW", {"wd": 0.1}),
    ("AdaBelief", {"rectify": True, "beta2": 0.9, "amsgrad": True}),
    ("Lars", {"coefficient": 0.01}),
    ("SgdW", {"wd": 0.1}),
    ("AMSBound", {"gamma": 0.5, "final_lr": 0.05}),
]


@pytest.mark.parametrize(("name", "kw"), ACCUMULATION_CASES, ids=[c[0] for c in ACCUMULATION_CASES])
def test_gradient_accumulation_updates_with_the_mean_gradient(name, kw):
    """Keras's gradient_accumulation_steps=k: one update every k mini-batches with the mean of their gradients
    (NNC's update_interval sums them: scale the loss by k), the schedule evaluated at the mini-batch iteration
    of the update (k - 1, 2k - 1, ...) as NNC's trainer does, and t counting updates."""
    k, grads = 3, GRADS  # two updates
    table = [float(np.float32(0.1 / (i + 1))) for i in range(len(grads))]
    optimizer = solvers.make_solver(
        name, {"lr": table[0], "weight_decay": 0.01, **kw}, learning_rate=_Table(table), gradient_accumulation_steps=k
    )
    got = _run_keras(optimizer, lrs=[None] * len(grads), grads=grads)
    assert int(optimizer.iterations) == len(grads) // k
    means = [[np.mean(g, axis=0) for g in zip(*grads[i : i + k], strict=True)] for i in range(0, len(grads), k)]
    lrs = [table[i + k - 1] for i in range(0, len(grads), k)]
    expected = _reference(name, {**solvers._SOLVERS[name][1], **kw}, 0.01, lrs=lrs, grads=means, init_lr=table[0])
    for step in range(k - 1):  # no update before the k-th mini-batch
        _assert_close([got[step]], [W0])
    _assert_close([got[k - 1], got[2 * k - 1]], expected, rtol=1e-8)


def _fit(strategy, optimizer_for):
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_initializer="ones")])
        model.compile(optimizer=optimizer_for(), loss="mse", jit_compile=False)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False)
    return model


def _without_modules(config):
    if isinstance(config, dict):
        return {k: _without_modules(v) for k, v in config.items() if k != "module"}
    return config


def test_fit_under_a_distribution_strategy_save_and_load(tmp_path):
    """model.fit (tf.function, XLA off) under a MirroredStrategy as without one; the saved model brings back
    the solver, its schedule and its state. (Keras's gradient_accumulation_steps fails under a
    MirroredStrategy, for Keras's optimizers too.)"""
    schedule = solvers.make_schedule("Cosine", {"warmup": 2}, total_iterations=4, base_lr=0.01)

    def optimizer_for():
        nnc_kwargs = {"weight_decay": 1e-2, "amsgrad": True, "rectify": True, "weight_decouple": True}
        return solvers.make_solver("AdaBelief", nnc_kwargs, learning_rate=schedule)

    mirrored = _fit(tf.distribute.MirroredStrategy(["/cpu:0"]), optimizer_for)
    model = _fit(tf.distribute.get_strategy(), optimizer_for)
    for a, b in zip(mirrored.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(model.get_weights()[0], 1.0)

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded.optimizer).__name__ == "AdaBelief"
    assert type(loaded.optimizer._learning_rate).__name__ == "CosineSchedule"
    # Classes are found by their registered name ("nnc>CosineSchedule"): where another test imported a
    # generated project's copy of solvers.py, that copy's class comes back, so compare without modules.
    assert _without_modules(loaded.optimizer.get_config()) == _without_modules(model.optimizer.get_config())
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 4
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(("name", "kw"), SOLVER_CASES, ids=_ids(SOLVER_CASES))
def test_solver_config_round_trip(name, kw):
    optimizer = solvers.make_solver(name, {"lr": 0.5, "weight_decay": 0.01, **kw}, gradient_accumulation_steps=2)
    config = keras.optimizers.serialize(optimizer)
    restored = keras.optimizers.deserialize(config)
    assert type(restored).__name__ == type(optimizer).__name__
    assert restored.get_config() == optimizer.get_config()
    coupled = 0.0 if name in ("AdamW", "SgdW") else 0.01  # theirs replaces wd (make_solver)
    assert restored.coupled_weight_decay == coupled and restored.gradient_accumulation_steps == 2
    assert type(optimizer).from_config(optimizer.get_config()).get_config() == optimizer.get_config()


def test_make_solver_names_defaults_and_keras_classes():
    adam = solvers.make_solver("adam", {"Alpha": 0.01, "Beta1": 0.8, "Epsilon": 1e-6})
    assert isinstance(adam, solvers.Adam) and isinstance(adam, keras.optimizers.Adam)
    config = adam.get_config()
    assert config["learning_rate"] == pytest.approx(0.01)
    assert (config["beta1"], config["beta2"], config["eps"], config["coupled_weight_decay"]) == (0.8, 0.999, 1e-6, 0)
    assert config["weight_decay"] is None  # Keras's decoupled decay stays off
    assert isinstance(solvers.make_solver("SGD", {"learning_rate": 1}), solvers.Sgd)  # an int rate is fine
    for name, keras_class in [
        ("Sgd", keras.optimizers.SGD),
        ("Momentum", keras.optimizers.SGD),
        ("Nesterov", keras.optimizers.SGD),
        ("Adadelta", keras.optimizers.Adadelta),
        ("RMSpropGraves", keras.optimizers.RMSprop),
        ("Adam", keras.optimizers.Adam),
        ("AdamW", keras.optimizers.Adam),
        ("Adamax", keras.optimizers.Adamax),
    ]:
        assert isinstance(solvers.make_solver(name), keras_class), name
    for name in ("Adagrad", "RMSprop", "AMSGRAD", "AdaBelief", "Lars"):
        assert not isinstance(solvers.make_solver(name), (keras.optimizers.Adagrad, keras.optimizers.RMSprop))
    assert solvers.make_solver("Nesterov").nesterov and not solvers.make_solver("Momentum").nesterov
    assert solvers.make_solver("rmsprop_graves").centered
    assert solvers.make_solver("Adamax").get_config()["learning_rate"] == pytest.approx(2e-3)  # nnabla's alpha
    assert solvers.make_solver("Adadelta").get_config()["learning_rate"] == 1.0
    assert solvers.make_solver("AMSGRAD").bias_correction is False
    assert solvers.make_solver("RMSprop", {"rho": 0.8}).decay == 0.8
    assert solvers.make_solver("Lars", {"weight_decay": 0.1}).get_config()["coupled_weight_decay"] == 0.1


def test_make_solver_adamw_decay_rates():
    # AdamW, SgdW: NNC's WeightDecay is the decoupled rate in place of wd, nothing is added to g (nnabla 1.39)
    for name in ("AdamW", "SgdW"):
        solver = solvers.make_solver(name, {"lr": 0.01, "weight_decay": 0.05})
        assert (solver.wd, solver.coupled_weight_decay, solver.initial_learning_rate) == (0.05, 0.0, 0.01)
        solver = solvers.make_solver(name, {"wd": 0.1, "weight_decay": 0.05})
        assert (solver.wd, solver.coupled_weight_decay) == (0.05, 0.0)
        assert solvers.make_solver(name, {"wd": 0.1}).wd == 0.1
        solver = solvers.make_solver(name)
        assert (solver.wd, solver.coupled_weight_decay, solver.initial_learning_rate) == (1e-4, 0.0, 1e-3)
    # a schedule replaces the learning rate; eta_t stays relative to the solver's own lr
    schedule = solvers.make_schedule("Constant", base_lr=0.2)
    adamw = solvers.make_solver("AdamW", {"lr": 0.01}, learning_rate=schedule)
    assert adamw.initial_learning_rate == 0.01 and adamw.get_config()["learning_rate"]["class_name"] == (
        "ConstantSchedule"
    )
    with pytest.raises(ValueError, match="initial_learning_rate"):
        solvers.AdamW(learning_rate=schedule)


def test_make_solver_learning_rate_and_keras_arguments():
    schedule = solvers.make_schedule("Step", {"steps": [2]}, base_lr=0.5)
    sgd = solvers.make_solver("Sgd", {"lr": 0.1}, learning_rate=schedule, name="nnc_sgd")
    assert sgd._learning_rate is schedule and sgd.name == "nnc_sgd"
    assert solvers.make_solver("Lars", clipnorm=1.0).clipnorm == 1.0
    assert solvers.make_solver("Sgd", {"lr": 0.1}, learning_rate=0.25).get_config()["learning_rate"] == 0.25
    # the optimizer evaluates the schedule at its step counter: 0.5, 0.5, then 0.05 from iteration 2
    got = _run_keras(sgd, lrs=[None] * 3, grads=[[np.ones(s) for s in SHAPES]] * 3)
    np.testing.assert_allclose(got[-1][0], W0[0] - 0.5 - 0.5 - 0.05, rtol=1e-6)


def test_make_solver_errors():
    with pytest.raises(ValueError, match=r"unknown solver 'Lion'; expected one of Sgd, Momentum, .*, Lars"):
        solvers.make_solver("Lion")
    with pytest.raises(ValueError, match=r"solver Adam has no parameter 'momentum'; expected lr, beta1, .*, weight_"):
        solvers.make_solver("Adam", {"momentum": 0.9})
    with pytest.raises(ValueError, match="solver Sgd has no parameter 'wd'"):
        solvers.make_solver("Sgd", {"wd": 0.1})
    with pytest.raises(ValueError, match="invalid learning rate -0.1"):
        solvers.make_solver("Adam", {"lr": -0.1})
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        solvers.make_solver("Adam", learning_rate=-1.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        solvers.make_solver("Adam", gradient_accumulation_steps=1)


# ------------------------------------------------------------------------------------------------
# Schedules: every iteration against the torch runtime's make_schedule (nnabla learning_rate_scheduler.py).
# ------------------------------------------------------------------------------------------------

SCHEDULE_CASES = [
    ("Constant", {}, 10, 100, 0.1),
    ("none", {"LearningRateWarmup": [3, "iteration"]}, 1, None, 1.0),
    ("Exponential", {"multiplier": 0.5, "interval": (3, "epoch")}, 10, None, 1.0),
    ("Exponential", {"gamma": 0.9, "interval": 1}, 10, None, 0.01),
    ("Exponential", {"multiplier": 0.5, "interval": None}, 1, None, 1.0),
    ("Exponential", {"multiplier": 0.5, "interval": 4, "warmup": (1, "epoch")}, 8, None, 0.2),
    ("Step", {"multiplier": 0.1, "steps": [(2, "epoch"), 35, (5, "epoch")]}, 10, None, 1.0),
    ("Step", {"multiplier": 0.5, "steps": (3, "epoch")}, 10, None, 0.1),
    ("Step", {"learning_rate_steps": 40, "warmup_iter": 20}, 10, None, 1.0),
    ("Step", {}, 10, None, 1.0),
    ("Cosine", {}, 10, 200, 1.0),
    ("Cosine", {"max_iter": (5, "epoch"), "warmup": 10}, 10, 1000, 0.05),
    ("Polynomial", {"power": 2.0}, 1, 100, 1.0),
    ("Polynomial", {"duration": [2, "epochs"], "power": 0.5, "warmup": 5}, 70, None, 0.3),
    ("Linear", {}, 1, 100, 1.0),
    ("linear", {"maxiter": 30}, 1, 100, 0.5),
]
SCHEDULE_IDS = [f"{c[0]}-{i}" for i, c in enumerate(SCHEDULE_CASES)]


@pytest.mark.parametrize(("name", "params", "per_epoch", "total", "base_lr"), SCHEDULE_CASES, ids=SCHEDULE_IDS)
def test_schedule_is_the_torch_runtimes_at_every_iteration(name, params, per_epoch, total, base_lr, torch_solvers):
    expected = torch_solvers.make_schedule(name, params, per_epoch, total, base_lr)
    schedule = solvers.make_schedule(name, params, per_epoch, total, base_lr)
    iterations = np.arange(250)
    want = [expected.lr(int(i)) for i in iterations]
    np.testing.assert_allclose(ops.convert_to_numpy(schedule(iterations)), want, rtol=1e-6, atol=1e-7 * base_lr)
    for i in (0, 1, 17, 249):
        assert schedule.value(i) == pytest.approx(expected.lr(i), rel=1e-6, abs=1e-7 * base_lr)
    # as an optimizer calls it: an int64 variable, in a tf.function
    step = tf.Variable(0, dtype="int64")
    at_step = tf.function(lambda: schedule(step))
    for i in (0, 9, 30, 120):
        step.assign(i)
        assert float(at_step()) == pytest.approx(expected.lr(i), rel=1e-6, abs=1e-7 * base_lr)


@pytest.mark.parametrize(("name", "params", "per_epoch", "total", "base_lr"), SCHEDULE_CASES, ids=SCHEDULE_IDS)
def test_schedule_config_round_trip(name, params, per_epoch, total, base_lr):
    schedule = solvers.make_schedule(name, params, per_epoch, total, base_lr)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert type(restored).__name__ == type(schedule).__name__
    assert restored.get_config() == schedule.get_config()
    same = type(schedule).from_config(schedule.get_config())
    iterations = np.arange(0, 250, 7)
    np.testing.assert_array_equal(ops.convert_to_numpy(same(iterations)), ops.convert_to_numpy(schedule(iterations)))
    assert repr(schedule).startswith(type(schedule).__name__ + "(base_lr=")


def test_schedule_classes_and_by_hand_values():
    assert isinstance(solvers.make_schedule("Linear", {}, total_iterations=10), solvers.PolynomialSchedule)
    assert isinstance(solvers.make_schedule(None), solvers.ConstantSchedule)
    s = solvers.make_schedule("Cosine", {}, total_iterations=200, base_lr=0.1)
    assert isinstance(s, keras.optimizers.schedules.LearningRateSchedule)
    assert s.value(100) == pytest.approx(0.05) and s.value(200) == 0.0 and s.value(10**6) == 0.0
    s = solvers.make_schedule("Exponential", {"multiplier": 0.5, "interval": 4, "warmup": 8})
    assert [s.value(i) for i in (0, 5, 7, 8)] == pytest.approx([1 / 8, 0.5 * 6 / 8, 0.5, 0.25])
    s = solvers.StepSchedule(base_lr=2.0, multiplier=0.5, steps=[1, 3])
    assert [s.value(i) for i in range(5)] == [2.0, 1.0, 1.0, 0.5, 0.5]


def test_schedule_errors():
    with pytest.raises(ValueError, match="unknown schedule 'Sawtooth'"):
        solvers.make_schedule("Sawtooth", {})
    with pytest.raises(ValueError, match="needs total_iterations"):
        solvers.make_schedule("Cosine", {})
    with pytest.raises(ValueError, match="schedule 'Step' has no parameter 'gamma2'"):
        solvers.make_schedule("Step", {"gamma2": 0.1})
    with pytest.raises(ValueError, match="duration"):
        solvers.make_schedule("Step", {"steps": [(3, "fortnight")]}, iterations_per_epoch=10)
    with pytest.raises(ValueError, match="max_iter is at least 1"):
        solvers.CosineSchedule(max_iter=0)
    assert solvers.to_iterations((1.5, "epochs"), 10) == 15 and solvers.to_iterations([7, "iter"], 10) == 7
    assert solvers.to_iterations(12, 10) == 12
