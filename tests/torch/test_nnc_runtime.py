"""The PyTorch runtime, nndsl/runtime/torch/ (nnc.py, augment.py, metrics.py, nnc_layers.py, solvers.py):
NNC's semantics in PyTorch, checked against nnabla's formulas.

The references here are written from nnabla's sources (initializer.py, image_augmentation.cpp,
random_shift.cpp, random_flip.cpp, random_crop.cpp, top_n_error.cpp, binary_error.cpp, the pooling
.cpp files, binary_*.cpp / .hpp, the solver .cpp files, learning_rate_scheduler.py), not from the
implementation under test.
"""

from __future__ import annotations

import importlib
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

nnc = importlib.import_module("nndsl.runtime.torch.nnc")
augment = importlib.import_module("nndsl.runtime.torch.augment")
metrics = importlib.import_module("nndsl.runtime.torch.metrics")
nnc_layers = importlib.import_module("nndsl.runtime.torch.nnc_layers")
solvers = importlib.import_module("nndsl.runtime.torch.solvers")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(1234)
    yield


# ------------------------------------------------------------------------------------------------
# Initializers: nnabla initializer.py; N inmaps, M outmaps, K kernel area.
# ------------------------------------------------------------------------------------------------

AFFINE = (300, 200)  # N = 300, M = 200
CONV = (64, 32, 3, 3)  # M = 64, N = 32, K = 9
CL_CONV = (64, 3, 3, 32)  # channel-last: M = 64, K = 9, N = 32


@pytest.mark.parametrize(
    ("name", "shape", "sigma"),
    [
        ("NormalAffineHeForward", AFFINE, math.sqrt(2 / 300)),
        ("NormalAffineHeBackward", AFFINE, math.sqrt(2 / 200)),
        ("NormalAffineGlorot", AFFINE, math.sqrt(2 / (300 + 200))),
        ("NormalConvolutionHeForward", CONV, math.sqrt(2 / (32 * 9))),
        ("NormalConvolutionHeBackward", CONV, math.sqrt(2 / (64 * 9))),
        ("NormalConvolutionGlorot", CONV, math.sqrt(2 / (9 * (32 + 64)))),
        ("NormalCLConvHeForward", CL_CONV, math.sqrt(2 / (32 * 9))),
        ("NormalCLConvGlorot", CL_CONV, math.sqrt(2 / (9 * (32 + 64)))),
        ("Normal", AFFINE, 1.0),
    ],
)
@pytest.mark.parametrize("multiplier", [1.0, 2.5])
def test_normal_initializers_have_nnablas_sigma(name, shape, sigma, multiplier):
    w = nnc.init_parameter(torch.empty(shape), name, multiplier)
    expected = sigma * multiplier
    assert abs(w.std().item() / expected - 1) < 0.03
    assert abs(w.mean().item()) < 0.05 * expected


@pytest.mark.parametrize(
    ("name", "shape", "limit"),
    [
        ("UniformAffineGlorot", AFFINE, math.sqrt(6 / (300 + 200))),
        ("UniformConvolutionGlorot", CONV, math.sqrt(6 / (9 * (32 + 64)))),
        ("UniformCLConvGlorot", CL_CONV, math.sqrt(6 / (9 * (32 + 64)))),
        ("Uniform", AFFINE, 1.0),
    ],
)
@pytest.mark.parametrize("multiplier", [1.0, 0.5])
def test_uniform_initializers_have_nnablas_limits(name, shape, limit, multiplier):
    w = nnc.init_parameter(torch.empty(shape), name, multiplier)
    lim = limit * multiplier
    assert w.abs().max().item() <= lim
    assert w.abs().max().item() > 0.99 * lim
    assert abs(w.std().item() / (lim / math.sqrt(3)) - 1) < 0.03


def test_negative_multiplier_gives_the_same_distribution():
    w = nnc.init_parameter(torch.empty(300, 200), "UniformAffineGlorot", -2.0)
    assert w.min() < 0 < w.max() and w.abs().max() <= 2 * math.sqrt(6 / 500)


def test_constant_initializer_is_the_multiplier():
    w = nnc.init_parameter(torch.empty(5, 7), "Constant", 0.25)
    assert torch.equal(w, torch.full((5, 7), 0.25))


def test_explicit_fans_override_the_shape():
    w = nnc.init_parameter(torch.empty(400, 300), "NormalAffineHeForward", 1.0, fan_in=50, fan_out=1)
    assert abs(w.std().item() / math.sqrt(2 / 50) - 1) < 0.03
    k = nnc.init_parameter(torch.empty(400, 300), "NormalConvolutionHeForward", 1.0, fan_in=8, kernel_area=2)
    assert abs(k.std().item() / math.sqrt(2 / 16) - 1) < 0.03


def test_fans_given_for_any_tensor_shape():
    b = nnc.init_parameter(torch.empty(20000), "NormalConvolutionGlorot", 1.0, 16, 8, 9)
    assert abs(b.std().item() / math.sqrt(2 / (9 * 24)) - 1) < 0.03
    torch.testing.assert_close(  # a Linear weight (out, in) given NNC's Affine fans
        nnc.init_parameter(torch.empty(200, 300), "UniformAffineGlorot", 1.0, 300, 200, 1).abs().max(),
        torch.tensor(math.sqrt(6 / 500)),
        atol=1e-3,
        rtol=0,
    )


def test_unknown_initializer_is_refused():
    with pytest.raises(ValueError, match="unknown initializer"):
        nnc.init_parameter(torch.empty(3), "Xavier", 1.0)


def test_formulas_match_nnabla_docstrings():
    assert nnc.calc_normal_std_glorot(3, 5, 9) == pytest.approx(math.sqrt(2 / (9 * 8)))
    assert nnc.calc_uniform_lim_glorot(3, 5, 9) == pytest.approx(math.sqrt(6 / (9 * 8)))
    assert nnc.calc_normal_std_he_forward(3, 5, 9) == pytest.approx(math.sqrt(2 / 27))
    assert nnc.calc_normal_std_he_backward(3, 5, 9) == pytest.approx(math.sqrt(2 / 45))


# ------------------------------------------------------------------------------------------------
# Solvers: nnabla's update rules (src/nbla/solver/generic/*.cpp), weight decay g += wd * w first.
# ------------------------------------------------------------------------------------------------

W0 = np.array([0.5, -1.0, 2.0, 0.0])
GRADS = [
    np.array([0.1, 0.2, -0.3, 0.4]),
    np.array([-0.5, 0.1, 0.0, 0.2]),
    np.array([0.3, -0.2, 0.6, -0.1]),
    np.array([0.2, 0.2, -0.1, 0.0]),
    np.array([-0.1, 0.4, 0.3, -0.2]),
    np.array([0.05, -0.3, 0.2, 0.1]),
]
LRS = [0.1, 0.05, 0.02, 0.02, 0.05, 0.01]  # a changing learning rate shows where nnabla keeps it


def _run_torch_solver(make, lrs=LRS, grads=GRADS):
    w = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    opt = make([w])
    out = []
    for lr, g in zip(lrs, grads, strict=True):
        for group in opt.param_groups:
            group["lr"] = lr
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append(w.detach().numpy().copy())
    return out


def test_momentum_keeps_the_learning_rate_in_the_velocity():
    wd, m = 0.01, 0.9
    # by hand: v = m v + lr (g + wd w); w -= v
    w, v, expected = W0.copy(), np.zeros(4), []
    for lr, g in zip(LRS, GRADS, strict=True):
        v = m * v + lr * (g + wd * w)
        w = w - v
        expected.append(w.copy())
    got = _run_torch_solver(lambda p: solvers.Momentum(p, lr=0.1, momentum=m, weight_decay=wd))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    # and it is not torch's SGD with momentum once the learning rate changes
    sgd = _run_torch_solver(lambda p: torch.optim.SGD(p, lr=0.1, momentum=m, weight_decay=wd))
    assert not np.allclose(sgd[-1], expected[-1])


def test_momentum_first_steps_by_hand():
    # w = 1, g = 1 each step, lr 0.1, m 0.9, wd 0: v1 = 0.1, w = 0.9; v2 = 0.09 + 0.1 = 0.19, w = 0.71
    got = _run_torch_solver(
        lambda p: solvers.Momentum(p, lr=0.1, momentum=0.9), lrs=[0.1, 0.1], grads=[np.ones(4), np.ones(4)]
    )
    np.testing.assert_allclose(got[0], W0 - 0.1)
    np.testing.assert_allclose(got[1], W0 - 0.29)


def test_nesterov_is_nnablas_update():
    wd, m = 1e-4 * 100, 0.9
    # nesterov.cpp: v' = m v - lr g; w += -m v + (1 + m) v'
    w, v, expected = W0.copy(), np.zeros(4), []
    for lr, g in zip(LRS, GRADS, strict=True):
        g = g + wd * w
        v_prev = v
        v = m * v - lr * g
        w = w - m * v_prev + (1 + m) * v
        expected.append(w.copy())
    got = _run_torch_solver(lambda p: solvers.Nesterov(p, lr=0.1, momentum=m, weight_decay=wd))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_nesterov_first_step_by_hand():
    # one step from v = 0: v' = -lr g, w += (1 + m) v' = -(1 + m) lr g
    got = _run_torch_solver(lambda p: solvers.Nesterov(p, lr=0.1, momentum=0.9), lrs=[0.1], grads=[np.ones(4)])
    np.testing.assert_allclose(got[0], W0 - 0.19)


def _reference(name, kw, wd):
    """nnabla's update rules, one numpy function per solver (from the .cpp sources)."""
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
            decay = lr / LRS[0] * (wd if wd > 0 else kw["wd"]) * w
        else:
            g = g + wd * w
        if name == "Sgd":
            return w - lr * g
        if name == "SgdW":
            st["v"] = kw["momentum"] * st.get("v", 0) + lr * g
            return w - st["v"] - decay
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
        st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
        if name == "AdaBelief":
            st["s"] = b2 * st.get("s", 0) + (1 - b2) * (g - st["m"]) ** 2
            r_t, rho_t = 1.0, 0.0
            if kw.get("rectify"):
                rho_inf = 2 / (1 - b2) - 1
                rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
                if rho_t > 4:
                    r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            sgd = kw.get("rectify") and rho_t <= 4
            a = lr if sgd else lr * r_t * math.sqrt(1 - b2**t) / (1 - b1**t)
            if kw.get("weight_decouple"):
                w = w - w * kw["wd"] * lr
            s_t = st["s"]
            if kw.get("amsgrad"):
                st["smax"] = np.maximum(st.get("smax", 0), st["s"])
                s_t = st["smax"]
            return w - a * st["m"] if sgd else w - a * st["m"] / (np.sqrt(s_t + eps) + eps)
        if name == "Adamax":
            st["u"] = np.maximum(b2 * st.get("u", 0), np.abs(g))
            return w - lr / (1 - b1**t) * st["m"] / (st["u"] + eps)
        st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
        corr = math.sqrt(1 - b2**t) / (1 - b1**t)
        if name == "Adam":
            return w - lr * corr * st["m"] / (np.sqrt(st["v"]) + eps)
        if name == "AdamW":
            return w - lr * corr * st["m"] / (np.sqrt(st["v"]) + eps) - decay
        if name in ("AdaBound", "AMSBound"):  # adabound.cpp, amsbound.cpp; final_lr follows lr / initial lr
            final, gamma = kw["final_lr"] * lr / LRS[0], kw["gamma"]
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


SOLVER_CASES = [
    ("Sgd", {}),
    ("Adagrad", {"eps": 1e-8}),
    ("Adadelta", {"decay": 0.95, "eps": 1e-6}),
    ("RMSprop", {"decay": 0.9, "eps": 1e-8}),
    ("Adam", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AdamW", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1}),
    ("Adamax", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AMSGRAD", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AMSGRAD", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "bias_correction": True}),
    ("RMSpropGraves", {"decay": 0.95, "momentum": 0.9, "eps": 1e-4}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "wd": 0.1, "weight_decouple": True, "amsgrad": True}),
    ("AdaBelief", {"beta1": 0.9, "beta2": 0.9, "eps": 1e-8, "rectify": True}),  # steps 5, 6 rectified
    ("Lars", {"momentum": 0.9, "coefficient": 0.01, "eps": 1e-6}),
    ("SgdW", {"momentum": 0.9, "wd": 0.1}),
    ("AdaBound", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "final_lr": 0.1, "gamma": 1e-3}),
    ("AdaBound", {"beta1": 0.8, "beta2": 0.99, "eps": 0.01, "final_lr": 0.05, "gamma": 0.5}),  # bounds clip
    ("AMSBound", {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "final_lr": 0.1, "gamma": 1e-3}),
    ("AMSBound", {"beta1": 0.8, "beta2": 0.99, "eps": 0.3, "final_lr": 0.05, "gamma": 0.5, "bias_correction": True}),
]


@pytest.mark.parametrize(("name", "kw"), SOLVER_CASES, ids=lambda c: c if isinstance(c, str) else "-")
def test_make_solver_matches_nnablas_update(name, kw):
    wd = 0.01
    step = _reference(name, kw, wd)
    w, expected = W0.copy(), []
    for t, (lr, g) in enumerate(zip(LRS, GRADS, strict=True), start=1):
        w = step(w, g, lr, t)
        expected.append(w.copy())
    got = _run_torch_solver(lambda p: solvers.make_solver(name, p, {"lr": LRS[0], "weight_decay": wd, **kw}))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_make_solver_names_and_defaults():
    p = [torch.nn.Parameter(torch.zeros(2))]
    adam = solvers.make_solver("adam", p, {"Alpha": 0.01, "Beta1": 0.8, "Epsilon": 1e-6})
    assert isinstance(adam, solvers.Adam)
    assert adam.defaults["lr"] == 0.01 and adam.defaults["beta1"] == 0.8 and adam.defaults["eps"] == 1e-6
    assert adam.defaults["beta2"] == 0.999 and adam.defaults["weight_decay"] == 0.0
    assert isinstance(solvers.make_solver("SGD", p, {"learning_rate": 0.1}), torch.optim.SGD)
    assert isinstance(solvers.make_solver("Momentum", p), solvers.Momentum)
    assert solvers.make_solver("Adamax", p).defaults["lr"] == 2e-3  # nnabla's default alpha
    assert solvers.make_solver("AMSGRAD", p).defaults["bias_correction"] is False
    assert solvers.make_solver("RMSprop", p, {"decay": 0.8}).defaults["alpha"] == 0.8
    # AdamW, SgdW: NNC's WeightDecay is the decoupled rate, nothing is added to g (nnabla's weight_decay)
    for name in ("AdamW", "SgdW"):
        solver = solvers.make_solver(name, p, {"weight_decay": 0.05, "wd": 0.5})
        assert solver.defaults["wd"] == 0.05 and solver.defaults["weight_decay"] == 0.0
        assert solvers.make_solver(name, p).defaults["wd"] == 1e-4  # nnabla's default
        assert solvers.make_solver(name, p, {"wd": 0.5}).defaults["wd"] == 0.5
    ams = solvers.make_solver("amsbound", p, {"Alpha": 0.01, "FinalLR": 0.2})
    assert isinstance(ams, solvers.AMSBound) and ams.defaults["final_lr"] == 0.2 and ams.defaults["gamma"] == 1e-3
    assert ams.defaults["bias_correction"] is False and ams.defaults["lr"] == 0.01
    with pytest.raises(ValueError, match="unknown solver"):
        solvers.make_solver("Lion", p)
    with pytest.raises(ValueError, match="no parameter 'momentum'"):
        solvers.make_solver("Adam", p, {"momentum": 0.9})


# ------------------------------------------------------------------------------------------------
# Schedules: nnabla learning_rate_scheduler.py, counted in iterations from 0.
# ------------------------------------------------------------------------------------------------


def test_constant_schedule():
    s = solvers.make_schedule("Constant", {}, iterations_per_epoch=10, total_iterations=100, base_lr=0.1)
    assert [s(i) for i in (0, 50, 99)] == [1.0, 1.0, 1.0]
    assert s.lr(7) == pytest.approx(0.1)


def test_exponential_schedule_in_epochs():
    s = solvers.make_schedule("Exponential", {"multiplier": 0.5, "interval": (3, "epoch")}, iterations_per_epoch=10)
    # lr * gamma ** (it // 30)
    assert [s(i) for i in (0, 29, 30, 59, 60, 95)] == [1, 1, 0.5, 0.5, 0.25, 0.125]


def test_exponential_schedule_in_iterations():
    s = solvers.make_schedule("Exponential", {"gamma": 0.9, "interval": 1}, iterations_per_epoch=10)
    assert s(3) == pytest.approx(0.9**3)


def test_step_schedule():
    s = solvers.make_schedule(
        "Step", {"multiplier": 0.1, "steps": [(2, "epoch"), 35, (5, "epoch")]}, iterations_per_epoch=10
    )
    # steps at iterations 20, 35, 50: one factor 0.1 per step passed (it >= step)
    assert [s(i) for i in (0, 19, 20, 34)] == pytest.approx([1, 1, 0.1, 0.1])
    assert [s(i) for i in (35, 49, 50, 1000)] == pytest.approx([0.01, 0.01, 0.001, 0.001])


def test_cosine_schedule_over_the_training():
    s = solvers.make_schedule("Cosine", {}, iterations_per_epoch=10, total_iterations=200)
    assert s(0) == 1.0
    assert s(100) == pytest.approx(0.5)
    assert s(50) == pytest.approx((math.cos(math.pi / 4) + 1) / 2)
    assert s(199) == pytest.approx((math.cos(math.pi * 199 / 200) + 1) / 2)


def test_polynomial_and_linear_schedules():
    s = solvers.make_schedule("Polynomial", {"power": 2.0}, iterations_per_epoch=1, total_iterations=100)
    assert s(0) == 1.0 and s(50) == pytest.approx(0.25) and s(90) == pytest.approx(0.01)
    lin = solvers.make_schedule("Linear", {}, iterations_per_epoch=1, total_iterations=100)
    assert lin(25) == pytest.approx(0.75) and lin(100) == 0.0


def test_linear_warmup_multiplies_any_schedule():
    s = solvers.make_schedule(
        "Exponential",
        {"multiplier": 0.5, "interval": 4, "warmup": (1, "epoch")},
        iterations_per_epoch=8,
        base_lr=0.2,
    )
    # LinearWarmupScheduler: lr * (it + 1) / warmup while it < warmup
    assert s(0) == pytest.approx(1 / 8)
    assert s(5) == pytest.approx(0.5 * 6 / 8)
    assert s(7) == pytest.approx(0.5 * 8 / 8)
    assert s(8) == pytest.approx(0.25)
    assert s.lr(5) == pytest.approx(0.2 * 0.5 * 6 / 8)
    c = solvers.make_schedule("Cosine", {"warmup": 10}, total_iterations=100)
    assert c(4) == pytest.approx((math.cos(math.pi * 4 / 100) + 1) / 2 * 0.5)


def test_schedule_errors():
    with pytest.raises(ValueError, match="unknown schedule"):
        solvers.make_schedule("Sawtooth", {})
    with pytest.raises(ValueError, match="total_iterations"):
        solvers.make_schedule("Cosine", {})
    with pytest.raises(ValueError, match="duration"):
        solvers.to_iterations((3, "fortnight"), 10)


def test_single_step_and_default_interval():
    s = solvers.make_schedule("Step", {"multiplier": 0.5, "steps": (3, "epoch")}, iterations_per_epoch=10)
    assert s(29) == 1.0 and s(30) == 0.5
    assert solvers.make_schedule("Exponential", {"multiplier": 0.5, "interval": None})(2) == 0.25


# ------------------------------------------------------------------------------------------------
# ImageAugmentation: nnabla image_augmentation.cpp
# ------------------------------------------------------------------------------------------------


def _bilinear_clamped(img, xs, ys):
    """nnabla's sampling: clamp the coordinates to the image, then bilinear (numpy, one channel)."""
    h, w = img.shape
    out = np.empty((len(ys), len(xs)))
    for a, y in enumerate(ys):
        for b, x in enumerate(xs):
            x = min(max(x, 0.0), w - 1.0)
            y = min(max(y, 0.0), h - 1.0)
            ix, iy = int(x), int(y)
            fx, fy = x - ix, y - iy
            ix1, iy1 = min(ix + 1, w - 1), min(iy + 1, h - 1)
            out[a, b] = (
                img[iy, ix] * (1 - fx) * (1 - fy)
                + img[iy, ix1] * fx * (1 - fy)
                + img[iy1, ix] * (1 - fx) * fy
                + img[iy1, ix1] * fx * fy
            )
    return out


def _nnabla_image_augmentation(x, p, shape, pad, center):
    """image_augmentation.cpp's per-image, per-pixel loop transcribed to numpy, given the random draws."""
    n, channels, h_in, w_in = x.shape
    h_out, w_out = shape
    w_in_pad, h_in_pad = w_in + pad[1] * 2, h_in + pad[0] * 2
    w_out_half, h_out_half = w_out * 0.5, h_out * 0.5
    y = np.zeros((n, channels, h_out, w_out))
    for i in range(n):
        scale, scale_x = p["scale"][i], p["scale_x"][i]
        scale_y = 1.0 / scale_x
        i_scale_x, i_scale_y = 1.0 / (scale * scale_x), 1.0 / (scale * scale_y)
        w_scaled, h_scaled = w_in_pad * scale * scale_x, h_in_pad * scale * scale_y
        cx, cy = (w_out - 1) * 0.5, (h_out - 1) * 0.5
        cx_scaled = p["offset_x"][i] * (w_scaled - w_out) + cx
        cy_scaled = p["offset_y"][i] * (h_scaled - h_out) + cy
        flip_lr, flip_ud = p["flip_lr"][i], p["flip_ud"][i]
        bright = [p["brightness"][i, c % p["brightness"].shape[1]] - center for c in range(channels)]
        contrast = [p["contrast"][i, c % p["contrast"].shape[1]] for c in range(channels)]
        distortion = p["distortion"][i]
        cos, sin = math.cos(p["angle"][i]), math.sin(p["angle"][i])
        x_ax = (-cos if flip_lr else cos) * i_scale_x
        y_ax = (sin if flip_lr else -sin) * i_scale_y
        x_ay = (-sin if flip_ud else sin) * i_scale_x
        y_ay = (-cos if flip_ud else cos) * i_scale_y
        x0_in = (cx_scaled * i_scale_x) - (x_ax * cx + y_ax * cy) - pad[1]
        y0_in = (cy_scaled * i_scale_y) - (x_ay * cx + y_ay * cy) - pad[0]
        for iy in range(h_out):
            xl_in, yl_in = x0_in, y0_in
            for ix in range(w_out):
                x_in, y_in = xl_in, yl_in
                if distortion != 0.0:
                    dist_x = (ix - w_out_half) / w_out_half
                    dist_y = (iy - h_out_half) / h_out_half
                    r2 = dist_x * dist_x + dist_y * dist_y
                    dist_scale = 1.0 / (1.0 + distortion)
                    dist_x = (dist_x + dist_x * distortion * r2) * w_out_half * dist_scale + w_out_half
                    dist_y = (dist_y + dist_y * distortion * r2) * h_out_half * dist_scale + h_out_half
                    x_in = x0_in + dist_x * x_ax + dist_y * y_ax
                    y_in = y0_in + dist_x * x_ay + dist_y * y_ay
                for c in range(channels):
                    v = _bilinear_clamped(x[i, c], [x_in], [y_in])[0, 0]
                    y[i, c, iy, ix] = (v + bright[c]) * contrast[c] + center
                xl_in += x_ax
                yl_in += x_ay
            if distortion == 0.0:
                x0_in += y_ax
                y0_in += y_ay
    return y


def test_image_augmentation_is_nnablas_per_pixel_loop():
    """Rotation, aspect ratio, both flips, padding, crop offsets, distortion and per-channel colour at once."""
    aug = augment.ImageAugmentation(
        (3, 9, 11),
        pad=(2, 1),
        distortion=0.3,
        brightness=0.1,
        brightness_each=True,
        contrast=1.5,
        contrast_each=True,
        contrast_center=0.4,
    ).train()
    params = {
        "scale": [0.7, 1.3, 1.0, 0.9],
        "scale_x": [1.2, 0.8, 1.0, 1.1],
        "angle": [0.3, -0.2, 0.0, 0.7],
        "offset_x": [0.1, 0.9, 0.5, 0.0],
        "offset_y": [0.8, 0.2, 0.5, 1.0],
        "flip_lr": [True, False, True, False],
        "flip_ud": [False, True, True, False],
        "brightness": [[0.05, -0.1, 0.0], [0.1, 0.02, -0.03], [0.0, 0.0, 0.0], [-0.05, 0.05, 0.01]],
        "contrast": [[1.2, 0.8, 1.0], [1.5, 0.7, 1.1], [1.0, 1.0, 1.0], [0.9, 1.3, 1.0]],
        "distortion": [0.2, -0.1, 0.0, 0.05],
    }
    x = torch.rand(4, 3, 12, 14, dtype=torch.float64)
    as_tensors = {
        k: torch.tensor(v, dtype=torch.bool if k.startswith("flip") else torch.float32) for k, v in params.items()
    }
    got = aug.apply(x, as_tensors)
    expected = _nnabla_image_augmentation(x.numpy(), {k: np.array(v) for k, v in params.items()}, (9, 11), (2, 1), 0.4)
    np.testing.assert_allclose(got.numpy(), expected, atol=2e-4)


def test_sampled_parameters_follow_nnablas_distributions():
    aug = augment.ImageAugmentation(
        (8, 8), min_scale=0.5, max_scale=2.0, aspect_ratio=1.5, angle=0.4, brightness=0.2, contrast=2.0, noise=0.3
    )
    p = aug.sample_params(4000, 3, torch.device("cpu"))
    u_scale = torch.log(p["scale"] / 0.5) / math.log(4.0)  # u = 0, 0.001, ..., 1
    torch.testing.assert_close(u_scale * 1000, (u_scale * 1000).round(), atol=2e-3, rtol=0)
    assert u_scale.min() >= -1e-6 and u_scale.max() <= 1 + 1e-6 and abs(u_scale.mean().item() - 0.5) < 0.02
    assert p["scale_x"].min() >= 1.5**-0.5 - 1e-6 and p["scale_x"].max() <= 1.5**0.5 + 1e-6
    assert p["angle"].abs().max() <= 0.4 + 1e-6 and abs(p["angle"].mean().item()) < 0.02
    assert p["brightness"].shape == (4000, 1) and p["brightness"].abs().max() <= 0.2 + 1e-6
    assert p["contrast"].min() >= 0.5 - 1e-6 and p["contrast"].max() <= 2.0 + 1e-6
    assert p["noise"].min() >= 0 and p["noise"].max() <= 0.3 + 1e-6 and abs(p["noise"].mean().item() - 0.15) < 0.01
    assert not p["flip_lr"].any()  # flips off
    centre = aug.sample_params(5, 3, torch.device("cpu"), random=False)
    torch.testing.assert_close(centre["scale"], torch.ones(5))  # sqrt(0.5 * 2)
    assert torch.equal(centre["offset_x"], torch.full((5,), 0.5)) and not centre["flip_ud"].any()


def test_image_augmentation_output_shapes():
    aug = augment.ImageAugmentation((3, 24, 20), min_scale=0.5, max_scale=2.0, flip_lr=True)
    assert aug(torch.rand(4, 3, 40, 30)).shape == (4, 3, 24, 20)
    assert augment.ImageAugmentation((24, 20))(torch.rand(4, 40, 30)).shape == (4, 24, 20)
    with pytest.raises(ValueError, match="channels"):
        aug(torch.rand(4, 1, 40, 30))


def test_validation_resize_280_to_224_is_deterministic_and_nnablas_geometry():
    """NNC's ResNet Validation: ImageAugmentation 3,224,224 with MinScale = MaxScale = 0.8 on 280."""
    aug = augment.ImageAugmentation(
        (3, 224, 224), min_scale=0.8, max_scale=0.8, contrast_center=0.0, skip_at_test=False
    )
    aug.eval()
    x = torch.rand(2, 3, 280, 280, dtype=torch.float64)
    y1, y2 = aug(x), aug(x)
    assert y1.shape == (2, 3, 224, 224)
    torch.testing.assert_close(y1, y2)
    # nnabla: x_in = ix / scale from the top-left corner, bilinear
    coords = np.arange(224) / 0.8
    expected = _bilinear_clamped(x[1, 2].numpy(), coords, coords)
    np.testing.assert_allclose(y1[1, 2].numpy(), expected, atol=1e-4)
    # skipped at test time, it still resizes (the shape changes), the same way
    skip = augment.ImageAugmentation((3, 224, 224), min_scale=0.8, max_scale=0.8).eval()
    torch.testing.assert_close(skip(x), y1, atol=1e-4, rtol=0)


def test_skipped_augmentation_with_unchanged_shape_is_identity():
    aug = augment.ImageAugmentation((3, 16, 16), min_scale=0.5, max_scale=2, angle=0.5, flip_lr=True, noise=0.3).eval()
    x = torch.rand(3, 3, 16, 16)
    assert aug(x) is x
    aug.train()
    assert not torch.equal(aug(x), x)


def test_flip_lr_mirrors_about_half_the_images():
    n = 400
    x = torch.rand(n, 2, 9, 13)
    y = augment.ImageAugmentation((2, 9, 13), flip_lr=True).train()(x)
    same = torch.isclose(y, x, atol=1e-5).flatten(1).all(1)
    mirrored = torch.isclose(y, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same ^ mirrored).all())
    assert 0.4 < mirrored.float().mean().item() < 0.6


def test_flip_ud_flips_rows():
    x = torch.rand(200, 1, 7, 5)
    y = augment.ImageAugmentation((1, 7, 5), flip_ud=True).train()(x)
    flipped = torch.isclose(y, x.flip(-2), atol=1e-5).flatten(1).all(1)
    same = torch.isclose(y, x, atol=1e-5).flatten(1).all(1)
    assert bool((same ^ flipped).all()) and 0.35 < flipped.float().mean().item() < 0.65


def _ramps(n, h, w):
    """Channel 0 holds the column index, channel 1 the row index: bilinear sampling returns coordinates."""
    xs = torch.arange(w, dtype=torch.float64).expand(h, w)
    ys = torch.arange(h, dtype=torch.float64).unsqueeze(1).expand(h, w)
    return torch.stack((xs, ys)).expand(n, 2, h, w).contiguous()


def test_scale_and_aspect_ratio_bounds():
    n, size = 300, 64
    aug = augment.ImageAugmentation((2, 16, 16), min_scale=0.5, max_scale=2.0, aspect_ratio=1.5).train()
    y = aug(_ramps(n, size, size))
    # x_in = x0 + ix / (scale sx): the column ramp's slope along ix is 1 / (scale sx)
    slope_x = (y[:, 0, 8, 1:] - y[:, 0, 8, :-1]).median(dim=1).values
    slope_y = (y[:, 1, 1:, 8] - y[:, 1, :-1, 8]).median(dim=1).values
    sx, sy = 1 / slope_x, 1 / slope_y
    scale = torch.sqrt(sx * sy)
    ratio = sx / sy
    eps = 1e-6
    assert scale.min() >= 0.5 - eps and scale.max() <= 2.0 + eps
    assert ratio.min() >= 1 / 1.5 - eps and ratio.max() <= 1.5 + eps
    # log-uniform: log scale spread evenly over [log 0.5, log 2]
    logs = torch.log(scale)
    assert abs(logs.mean().item()) < 0.1
    assert logs.min() < math.log(0.5) + 0.15 and logs.max() > math.log(2) - 0.15
    assert torch.log(ratio).abs().max() > math.log(1.5) - 0.1
    # the crop stays inside the scaled image: sampled coordinates stay in the input
    assert y.min() >= 0 and y.max() <= size - 1


def test_rotation_angle_bounds():
    aug = augment.ImageAugmentation((2, 15, 15), angle=0.3).train()
    y = aug(_ramps(300, 101, 101))
    # x_in = ... + ix cos(a) - iy sin(a): d(x_in)/d(ix) = cos a, d(x_in)/d(iy) = -sin a
    dx_dix = y[:, 0, 7, 8] - y[:, 0, 7, 7]
    dx_diy = y[:, 0, 8, 7] - y[:, 0, 7, 7]
    angle = torch.atan2(-dx_diy, dx_dix)
    assert angle.abs().max() <= 0.3 + 1e-6
    assert angle.max() > 0.25 and angle.min() < -0.25


def test_brightness_on_a_constant_image():
    x = torch.full((500, 3, 6, 6), 0.3)
    y = augment.ImageAugmentation((3, 6, 6), brightness=0.2).train()(x)
    shift = y - 0.3
    per_image = shift[:, 0, 0, 0]
    # one value per image (not each): y = v + b, b uniform in [-0.2, 0.2]
    assert torch.allclose(shift, per_image.view(-1, 1, 1, 1).expand_as(shift), atol=1e-6)
    assert per_image.abs().max() <= 0.2 + 1e-6 and per_image.max() > 0.18 and per_image.min() < -0.18
    assert abs(per_image.mean().item()) < 0.02
    each = augment.ImageAugmentation((3, 6, 6), brightness=0.2, brightness_each=True).train()(x)
    assert not torch.allclose(each[:, 0], each[:, 1])


def test_contrast_on_a_constant_image():
    x = torch.full((500, 3, 4, 4), 0.75)
    y = augment.ImageAugmentation((3, 4, 4), contrast=2.0, contrast_center=0.5).train()(x)
    # y = (v - center) * c + center, c log-uniform in [1/2, 2]
    c = (y[:, 0, 0, 0] - 0.5) / 0.25
    assert c.min() >= 0.5 - 1e-5 and c.max() <= 2.0 + 1e-5
    assert abs(torch.log(c).mean().item()) < 0.08
    assert torch.allclose(y[:, 0], y[:, 2])  # one factor for all channels unless contrast_each
    each = augment.ImageAugmentation((3, 4, 4), contrast=2.0, contrast_each=True).train()(x)
    assert not torch.allclose(each[:, 0], each[:, 2])


def test_noise_std_is_uniform_up_to_noise():
    x = torch.full((300, 1, 32, 32), 0.5)
    y = augment.ImageAugmentation((1, 32, 32), noise=0.1).train()(x)
    std = (y - 0.5).flatten(1).std(dim=1)
    # per image: sigma = u * noise, u uniform in [0, 1]
    assert std.max() < 0.11 and std.max() > 0.09 and std.min() < 0.01
    assert abs(std.mean().item() - 0.05) < 0.01


def test_distortion_keeps_the_centre_and_moves_the_corners():
    x = _ramps(50, 33, 33)
    y = augment.ImageAugmentation((2, 33, 33), distortion=0.5).train()(x)
    assert y.shape == x.shape
    # nnabla maps the pixel at (w/2, h/2) to itself and pushes the others along the radius
    centre = y[:, :, 16, 16]
    assert torch.allclose(centre, torch.full_like(centre, 16.0), atol=0.6)
    assert not torch.allclose(y, x)


def test_seeded_augmentation_is_reproducible():
    x = torch.rand(8, 3, 20, 20)
    kw = dict(min_scale=0.7, max_scale=1.3, angle=0.2, flip_lr=True, brightness=0.1, noise=0.05)
    a = augment.ImageAugmentation((3, 16, 16), seed=7, **kw).train()
    b = augment.ImageAugmentation((3, 16, 16), seed=7, **kw).train()
    torch.testing.assert_close(a(x), b(x))
    g = augment.ImageAugmentation((3, 16, 16), **kw).train()
    torch.manual_seed(3)
    first = g(x)
    torch.manual_seed(3)
    torch.testing.assert_close(g(x), first)


# ------------------------------------------------------------------------------------------------
# RandomFlip, RandomShift, RandomCrop: nnabla random_flip.cpp, random_shift.cpp, random_crop.cpp
# ------------------------------------------------------------------------------------------------


def test_random_flip_per_sample_axes():
    n = 800
    x = torch.rand(n, 2, 5, 6)
    y = augment.RandomFlip(axes=(1, 2)).train()(x)
    variants = [x, x.flip(2), x.flip(3), x.flip(2).flip(3)]
    which = torch.stack([(y == v).flatten(1).all(1) for v in variants], dim=1)
    assert bool((which.sum(1) == 1).all())
    freq = which.float().mean(0)
    assert bool(((freq > 0.18) & (freq < 0.32)).all())
    c = augment.RandomFlip(axes=(0,)).train()(x)
    flipped = (c == x.flip(1)).flatten(1).all(1)
    assert 0.4 < flipped.float().mean().item() < 0.6
    assert augment.RandomFlip(axes=(2,)).eval()(x) is x


def _shift_ref(row, s, mode):
    """random_shift.cpp: y[i] = x[table[i]], table from i - s (nearest clamps, reflect mirrors)."""
    size = len(row)
    out = []
    for i in range(size):
        if mode == "nearest":
            j = min(max(i - s, 0), size - 1)
        else:
            a = abs(i + size * 2 - s) % (size * 2)
            j = size * 2 - 1 - a if a >= size else a
        out.append(row[j])
    return np.array(out)


@pytest.mark.parametrize("mode", ["nearest", "reflect"])
def test_random_shift_matches_nnabla_tables(mode):
    n, w = 400, 7
    x = torch.arange(w, dtype=torch.float32).expand(n, 1, 3, w).contiguous() * 10 + torch.rand(n, 1, 3, 1)
    y = augment.RandomShift(shift=(0, 3), border_mode=mode).train()(x)
    seen = set()
    for k in range(n):
        row = x[k, 0, 0].numpy()
        matches = [s for s in range(-3, 4) if np.allclose(y[k, 0, 0].numpy(), _shift_ref(row, s, mode))]
        assert matches, (k, y[k, 0, 0])
        seen.add(matches[0])
        torch.testing.assert_close(y[k, 0, 1], y[k, 0, 0] - x[k, 0, 0, 0] + x[k, 0, 1, 0])  # same shift per row
    assert seen == set(range(-3, 4))


def test_random_shift_two_axes_and_test_mode():
    x = torch.rand(64, 3, 10, 10)
    y = augment.RandomShift(shift=(2, 2)).train()(x)
    assert y.shape == x.shape
    assert not torch.equal(y, x)
    # each sample is one integer translation of its input: compare with nnabla's nearest tables
    for k in range(8):
        found = False
        for sy in range(-2, 3):
            for sx in range(-2, 3):
                iy = np.clip(np.arange(10) - sy, 0, 9)
                ix = np.clip(np.arange(10) - sx, 0, 9)
                ref = x[k][:, iy][:, :, ix]
                found = found or torch.equal(y[k], ref)
        assert found
    assert augment.RandomShift(shift=(2, 2)).eval()(x) is x
    assert not torch.equal(augment.RandomShift(shift=(2, 2), skip_at_test=False).eval()(x), x)


def test_random_crop_offsets_and_centre_crop():
    n = 300
    x = torch.rand(n, 3, 12, 10)
    crop = augment.RandomCrop((3, 8, 5)).train()
    y = crop(x)
    assert y.shape == (n, 3, 8, 5)
    offsets = set()
    for k in range(n):
        hits = [(oy, ox) for oy in range(5) for ox in range(6) if torch.equal(y[k], x[k, :, oy : oy + 8, ox : ox + 5])]
        assert hits
        offsets.add(hits[0])
    assert len(offsets) == 30  # every valid offset occurs
    z = crop.eval()(x)
    torch.testing.assert_close(z, x[:, :, 2:10, 2:7])
    with pytest.raises(ValueError, match="larger"):
        augment.RandomCrop((3, 13, 5))(x)


# ------------------------------------------------------------------------------------------------
# TopNError, BinaryError
# ------------------------------------------------------------------------------------------------


def test_top_n_error_hand_cases():
    x = torch.tensor([[0.1, 0.5, 0.2, 0.9], [0.4, 0.3, 0.2, 0.1], [0.3, 0.3, 0.1, 0.0], [0.0, 0.1, 0.2, 0.3]])
    label = torch.tensor([[3], [0], [1], [0]])
    assert metrics.top_n_error(x, label, 1).tolist() == [[0.0], [0.0], [1.0], [1.0]]  # a tie counts against
    assert metrics.top_n_error(x, label, 2).tolist() == [[0.0], [0.0], [0.0], [1.0]]
    assert metrics.top_n_error(x, label, 4).tolist() == [[0.0], [0.0], [0.0], [0.0]]
    assert metrics.top_n_error(x, label.squeeze(1).float(), 1).shape == (4, 1)


def test_top_n_error_on_another_axis():
    x = torch.tensor([[[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]]])  # (1, 3, 2): classes on axis 1
    label = torch.tensor([[[1, 2]]])  # (1, 1, 2)
    assert metrics.top_n_error(x, label, 1, axis=1).tolist() == [[[0.0, 1.0]]]


def test_binary_error():
    x = torch.tensor([0.2, 0.5, 0.7, 0.49, 0.9])
    t = torch.tensor([0.0, 1.0, 0.0, 0.5, 1.0])
    assert metrics.binary_error(x, t).tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]


# ------------------------------------------------------------------------------------------------
# Pooling: nnabla max_pooling.cpp / average_pooling.cpp / sum_pooling.cpp, brute force
# ------------------------------------------------------------------------------------------------


def _pool_ref(x, mode, k, s, p, ignore_border, including_pad):
    """Loops of nnabla's .cpp over the last two axes."""
    h, w = x.shape[-2:]
    ho = (h + p[0] - ((k[0] - p[0]) if ignore_border else 1)) // s[0] + 1
    wo = (w + p[1] - ((k[1] - p[1]) if ignore_border else 1)) // s[1] + 1
    out = np.zeros(x.shape[:-2] + (ho, wo))
    for iy in range(ho):
        for jy in range(wo):
            hs, ws = iy * s[0] - p[0], jy * s[1] - p[1]
            he, we = min(hs + k[0], h + p[0]), min(ws + k[1], w + p[1])
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            if not including_pad:
                size = (he - hs) * (we - ws)
            win = x[..., hs:he, ws:we]
            if mode == "max":
                out[..., iy, jy] = win.max(axis=(-2, -1))
            elif mode == "sum":
                out[..., iy, jy] = win.sum(axis=(-2, -1))
            else:
                out[..., iy, jy] = win.sum(axis=(-2, -1)) / size
    return out


POOL_CASES = [
    ((2, 2), None, (0, 0), 7, 9),
    ((3, 3), (2, 2), (1, 1), 8, 7),
    ((3, 2), (2, 3), (1, 0), 10, 11),
    ((2, 2), (1, 1), (0, 0), 5, 5),
    ((3, 3), (3, 3), (0, 0), 4, 5),
    ((4, 4), (2, 2), (2, 1), 9, 6),
]


@pytest.mark.parametrize("mode", ["max", "average", "sum"])
@pytest.mark.parametrize("ignore_border", [True, False])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"k{c[0]}s{c[1]}p{c[2]}n{c[3]}x{c[4]}")
def test_pooling_matches_nnabla_loops(mode, ignore_border, case):
    k, s, p, h, w = case
    x = np.random.default_rng(0).normal(size=(2, 3, h, w))
    for including_pad in (True, False) if mode == "average" else (True,):
        got = nnc_layers.pooling(torch.tensor(x), mode, k, s, p, ignore_border, including_pad).numpy()
        ref = _pool_ref(x, mode, k, s if s else k, p, ignore_border, including_pad)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_pooling_sizes_follow_nnabla():
    assert nnc_layers.pooled_size(7, 2, 2, 0, ignore_border=False) == 4  # (7 + 0 - 1) // 2 + 1: ceil
    assert nnc_layers.pooled_size(7, 2, 2, 0, ignore_border=True) == 3
    assert nnc_layers.pooled_size(8, 3, 2, 1, ignore_border=False) == 5  # (8 + 1 - 1) // 2 + 1
    m = nnc_layers.MaxPooling((2, 2), ignore_border=False)
    assert m(torch.rand(1, 3, 7, 7)).shape == (1, 3, 4, 4)
    a = nnc_layers.AveragePooling((3, 3), (2, 2), pad=(1, 1), including_pad=False)
    assert a(torch.rand(2, 4, 8, 8)).shape == (2, 4, 4, 4)
    assert nnc_layers.SumPooling((2, 2))(torch.ones(1, 1, 4, 4)).flatten().tolist() == [4.0] * 4


def test_pooling_3d_against_loops():
    x = np.random.default_rng(1).normal(size=(1, 2, 5, 4, 3))
    got = nnc_layers.pooling(torch.tensor(x), "max", (2, 2, 2), (2, 2, 2), (0, 0, 0), ignore_border=False).numpy()
    ref = np.zeros((1, 2, 3, 2, 2))
    for a in range(3):
        for b in range(2):
            for c in range(2):
                window = x[..., 2 * a : 2 * a + 2, 2 * b : 2 * b + 2, 2 * c : 2 * c + 2]
                ref[..., a, b, c] = window.max(axis=(-3, -2, -1))
    np.testing.assert_allclose(got, ref)


# ------------------------------------------------------------------------------------------------
# Binary layers: binary_tanh.hpp, binary_sigmoid.hpp, binary_connect_*.cpp, binary_weight_*.cpp
# ------------------------------------------------------------------------------------------------


def test_binary_tanh_and_sigmoid_forward_and_straight_through():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.3, 1.0, 1.5], requires_grad=True)
    y = nnc_layers.binary_tanh(x)
    assert y.tolist() == [-1, -1, -1, -1, 1, 1, 1]
    y.backward(torch.full_like(x, 3.0))
    assert x.grad.tolist() == [0, 0, 3, 3, 3, 0, 0]  # dy where |x| < 1
    x.grad = None
    z = nnc_layers.binary_sigmoid(x)
    assert z.tolist() == [0, 0, 0, 0, 1, 1, 1]
    z.backward(torch.full_like(x, 3.0))
    assert x.grad.tolist() == [0, 0, 1.5, 1.5, 1.5, 0, 0]  # dy / 2 where |x| < 1


def test_binary_connect_affine():
    layer = nnc_layers.BinaryConnectAffine(6, 4)
    assert layer.W.shape == (6, 4) and layer.Wb.shape == (6, 4) and layer.b.shape == (4,)
    assert not any(name == "Wb" for name, _ in layer.named_parameters())
    with torch.no_grad():
        layer.b.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    x = torch.randn(5, 2, 3)
    y = layer(x)
    sign = torch.where(layer.W < 0, -1.0, 1.0)
    torch.testing.assert_close(y, x.reshape(5, 6) @ sign + layer.b)
    assert torch.equal(layer.Wb, sign)
    dy = torch.randn(5, 4)
    y.backward(dy)
    # straight through: dL/dW = dL/dsign(W) = x^T dy
    torch.testing.assert_close(layer.W.grad, x.reshape(5, 6).T @ dy)


def test_binary_weight_affine_scales_by_mean_abs_w():
    layer = nnc_layers.BinaryWeightAffine(6, (2, 3))  # NNC's BinaryWeight* have no bias
    assert layer.W.shape == (6, 2, 3) and layer.alpha.shape == (2, 3) and layer.b is None
    x = torch.randn(5, 6)
    y = layer(x)
    w = layer.W.detach().reshape(6, 6)
    alpha = w.abs().mean(0)
    torch.testing.assert_close(y, (x @ (torch.where(w < 0, -1.0, 1.0) * alpha)).reshape(5, 2, 3))
    torch.testing.assert_close(layer.alpha, alpha.reshape(2, 3))
    dy = torch.randn(5, 2, 3)
    y.backward(dy)
    torch.testing.assert_close(layer.W.grad, (x.T @ dy.reshape(5, 6)).reshape(6, 2, 3))  # no factor alpha


@pytest.mark.parametrize("cls", ["BinaryConnectConvolution", "BinaryWeightConvolution"])
def test_binary_convolutions(cls):
    layer = getattr(nnc_layers, cls)(3, 4, (3, 3), stride=(2, 2), pad=(1, 1))
    assert layer.W.shape == (4, 3, 3, 3) and layer.Wb.shape == (4, 3, 3, 3)
    x = torch.randn(2, 3, 9, 9)
    y = layer(x)
    w = torch.where(layer.W.detach() < 0, -1.0, 1.0)
    if cls == "BinaryWeightConvolution":
        alpha = layer.W.detach().abs().mean(dim=(1, 2, 3))
        torch.testing.assert_close(layer.alpha, alpha)
        w = w * alpha.view(4, 1, 1, 1)
    torch.testing.assert_close(y, F.conv2d(x, w, layer.b, (2, 2), (1, 1)))
    dy = torch.randn_like(y)
    y.backward(dy)
    wq = w.clone().requires_grad_(True)
    assert (layer.b is None) == (cls == "BinaryWeightConvolution")  # NNC's BinaryWeight* have no bias
    F.conv2d(x, wq, None if layer.b is None else layer.b.detach(), (2, 2), (1, 1)).backward(dy)
    torch.testing.assert_close(layer.W.grad, wq.grad)


def test_binary_layer_default_initializer_is_uniform_glorot():
    layer = nnc_layers.BinaryConnectAffine(300, 200)
    lim = math.sqrt(6 / 500)
    assert layer.W.abs().max() <= lim and layer.W.abs().max() > 0.99 * lim
    assert torch.equal(layer.b, torch.zeros(200))


# ------------------------------------------------------------------------------------------------
# Parameter files and layouts
# ------------------------------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    params = {
        "conv1/W": torch.randn(4, 3, 3, 3),
        "affine/W": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bn/mean": torch.zeros(1, 4, 1, 1),
        "file": np.float64(3.5),  # names np.savez would take as its own arguments
        "allow_pickle": np.array([1, 2], dtype=np.int64),
    }
    path = tmp_path / "sub" / "params.npz"
    nnc.save_params(path, params)
    loaded = nnc.load_params(path)
    assert set(loaded) == set(params)
    for name, value in params.items():
        np.testing.assert_array_equal(loaded[name], np.asarray(value))
    assert os.listdir(path.parent) == ["params.npz"]


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "params.npz"
    nnc.save_params(path, {"a/W": np.ones(3)})
    nnc.save_params(path, {"a/W": np.full(3, 2.0)})  # replaces the file
    np.testing.assert_array_equal(nnc.load_params(path)["a/W"], np.full(3, 2.0))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(nnc.np.lib.format, "write_array", broken)
    with pytest.raises(OSError, match="disk full"):
        nnc.save_params(path, {"a/W": np.zeros(3)})
    np.testing.assert_array_equal(nnc.load_params(path)["a/W"], np.full(3, 2.0))
    assert os.listdir(tmp_path) == ["params.npz"]  # no temporary file left behind


def test_batch_norm_mapping():
    bn = nnc.batch_norm(16, decay_rate=0.9, epsilon=1e-4)
    assert isinstance(bn, torch.nn.BatchNorm2d)
    assert bn.momentum == pytest.approx(0.1) and bn.eps == 1e-4
    assert isinstance(nnc.batch_norm(8, 0.5, 1e-5, spatial_dims=0), torch.nn.BatchNorm1d)
    assert isinstance(nnc.batch_norm(8, spatial_dims=3), torch.nn.BatchNorm3d)
    # nnabla: running = decay * running + (1 - decay) * batch statistic
    bn1 = nnc.batch_norm(1, decay_rate=0.75, spatial_dims=0)
    bn1(torch.tensor([[1.0], [3.0]]))
    assert bn1.running_mean.item() == pytest.approx(0.25 * 2.0)


def test_adamw_decay_follows_the_schedule_and_new_groups():
    """adamw.cpp: the decoupled term is (lr / initial lr) * wd * w, also for groups added later."""
    a = torch.nn.Parameter(torch.ones(1))
    b = torch.nn.Parameter(torch.ones(1))
    opt = solvers.AdamW([a], lr=0.1, wd=0.5)
    opt.add_param_group({"params": [b], "lr": 0.2})
    for group in opt.param_groups:
        group["lr"] /= 2  # a schedule halves both
    a.grad, b.grad = torch.zeros(1), torch.zeros(1)
    opt.step()
    # with g = 0 Adam's step is 0: w = 1 - 0.5 * 0.5 * 1
    assert a.item() == pytest.approx(0.75) and b.item() == pytest.approx(0.75)
