"""The initial weights both backends draw have the distribution nnabla gives an NNC project's.

`fixtures/initializers/nnabla_initializers.json` (from `tools/nnc_initializer_fixtures.py`, nnabla
1.39): for the weights of Convolution, DepthwiseConvolution, Deconvolution and Affine in NNC's
layout, and each of NNC's Normal* / Uniform* initializers (some with a multiplier of 0.5), the sigma
or limit nnabla's reader of NNC's network files computes (`graph_def._create_initializer`). A spec
with one layer per case is compiled for each backend; the generated model's initial weights (saved in
NNC's layout by its `save_params`) have that sigma (normal: the sample's standard deviation) or limit
(uniform: every value within it, the standard deviation limit/sqrt(3)), within 10% (the samples have
1600 to 4608 values, so the statistical error is under 3%). A depthwise weight read with the fans
(kernel, C, kernel) instead of nnabla's (C, C, kh*kw) is 8 times off.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file
from nndsl.layers.base import nnabla_fans

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "fixtures" / "initializers" / "nnabla_initializers.json"
NNABLA_PYTHON = Path(os.environ.get("NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))

sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))

DATA = json.loads(FIXTURE.read_text())


def _label(case: dict) -> str:
    return f"{case['layer']}_{case['init']}_{str(case['multiplier']).replace('.', '_')}".lower()


def _spec() -> str:
    inputs = {tuple(v["input"]) for v in DATA["layers"].values()}
    names = {shape: f"x{i}" for i, shape in enumerate(sorted(inputs))}
    lines = ["network Main {"]
    for shape, name in names.items():
        lines.append(f'    {name} = Input({"x".join(map(str, shape))}, dataset="{name}")')
    for k, case in enumerate(DATA["cases"]):
        layer = DATA["layers"][case["layer"]]
        text = layer["layer"][:-1] + f', w_init="{case["init"]}", w_init_multiplier={case["multiplier"]})'
        lines.append(f"    y{k} = {names[tuple(layer['input'])]} -> {_label(case)}: {text}")
    return "\n".join(lines + ["}", ""])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    spec = tmp_path_factory.mktemp("inits") / "inits.nnd"
    spec.write_text(_spec())
    result = compile_file(spec)
    assert result.project is not None, [d.message for d in result.diagnostics]
    return result.project


def test_the_ir_carries_nnablas_shapes_and_fans(project):
    """Every case's W in the IR has the NNC shape nnabla's fixture used, and its initializer, multiplier
    and fans give nnabla's sigma or limit (the formulas of nnabla's initializer.py)."""
    (net,) = project.networks
    layers = {la.name: la for la in net.layers}
    for case in DATA["cases"]:
        (w,) = layers[_label(case)].parameters
        assert list(w.shape) == case["shape"]
        assert (w.init, w.init_multiplier) == (case["init"], case["multiplier"])
        n, m, k = w.fans
        if case["init"] in ("Normal", "Uniform"):
            scale = case["multiplier"]
        elif "HeForward" in case["init"]:
            scale = math.sqrt(2 / (k * n)) * case["multiplier"]
        elif "HeBackward" in case["init"]:
            scale = math.sqrt(2 / (k * m)) * case["multiplier"]
        elif case["init"].startswith("Normal"):
            scale = math.sqrt(2 / (k * (n + m))) * case["multiplier"]
        else:
            scale = math.sqrt(6 / (k * (n + m))) * case["multiplier"]
        assert scale == pytest.approx(case["scale"], rel=1e-6), case


def test_depthwise_fans_are_nnablas():
    """nnabla's reader takes a depthwise W (C*m, kh, kw) as N = M = C*m, K = kh*kw (with m = 1 also
    nnabla's Python API's PF.depthwise_convolution); a convolution's (out, in, kh, kw) as (in, out, kh*kw)."""
    assert nnabla_fans("NormalConvolutionHeForward", (64, 5, 5)) == (64, 64, 25)
    assert nnabla_fans("UniformConvolutionGlorot", (32, 16, 3, 3)) == (16, 32, 9)
    assert nnabla_fans("NormalAffineGlorot", (64, 6, 8)) == (64, 48, 1)
    assert nnabla_fans("Normal", (64, 5, 5)) == (1, 1, 1)
    pf = DATA["parametric_depthwise"]
    assert pf["max_abs"] <= pf["limit"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_initial_weights_have_nnablas_distribution(project, backend, tmp_path):
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    (torch_backend if backend == "torch" else keras_backend).generate(project, tmp_path)
    generated = import_generated(tmp_path)
    if backend == "torch":
        import torch

        torch.manual_seed(0)
    else:
        import keras

        keras.utils.set_random_seed(0)
    model = generated.create_model()
    model.save_params(tmp_path / "initial.npz")
    with np.load(tmp_path / "initial.npz", allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    bad = []
    for case in DATA["cases"]:
        w = weights[f"{_label(case)}/W"]
        assert list(w.shape) == case["shape"]
        std, scale = float(w.std()), case["scale"]
        if case["kind"] == "normal":
            ok = abs(std / scale - 1) <= 0.1
        else:
            ok = float(np.abs(w).max()) <= scale * (1 + 1e-6) and abs(std / (scale / math.sqrt(3)) - 1) <= 0.1
        if not ok:
            bad.append((_label(case), case["kind"], scale, std))
    assert not bad, bad


def test_nnablas_distributions_regenerate_live(tmp_path):
    """The fixture script run now with nnabla gives the stored sigmas and limits."""
    if not NNABLA_PYTHON.exists():
        pytest.skip(f"nnabla's Python is not at {NNABLA_PYTHON} (set NNABLA_PYTHON)")
    script = HERE.parent.parent / "tools" / "nnc_initializer_fixtures.py"
    run = subprocess.run([str(NNABLA_PYTHON), str(script), "--out", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads((tmp_path / "nnabla_initializers.json").read_text()) == DATA


# --- BatchNormalization and the new normalization layers: initializers the backends used to drop ----

BN_SPEC = """network Main {
    x = Input(64x4x4, dataset="x")
    y1 = x -> bn_default: BatchNormalization
    y2 = x -> bn_set: BatchNormalization(gamma_init="Uniform", gamma_init_multiplier=0.5, beta_init_multiplier=0.25,
                                         mean_init="Normal", mean_init_multiplier=0.1, var_init_multiplier=2.0)
    y3 = x -> gn: GroupNormalization(8, gamma_init="Uniform", beta_init="Normal", beta_init_multiplier=0.1)
}
"""


def _nnc_bn_initializers() -> dict[str, tuple[str, float]]:
    """The initializers of the first BatchNormalization (beta, gamma, mean, var) in the network file NNC's
    create_prototxt wrote of its ResNet-110 sample (fixtures/nntxt/, from tools/nnc_nntxt_fixtures.py)."""
    from nndsl.nnc.prototext import parse

    root = parse((HERE / "fixtures/nntxt/image_recognition_CIFAR10_resnet_resnet-110.nntxt").read_text())
    out: dict[str, tuple[str, float]] = {}
    for v in root.messages("network")[0].messages("variable"):
        name = v.scalar("name")
        if "/bn/" in name and name.rsplit("/", 1)[-1] not in out:
            init = v.messages("initializer")[0]
            out[name.rsplit("/", 1)[-1]] = (init.scalar("type"), float(init.scalar("multiplier")))
    return out


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_normalization_initializers_are_applied(backend, tmp_path):
    """BatchNormalization with NNC's defaults starts as NNC's network files say (beta 0, gamma 1,
    mean 0, var 0: create_prototxt's Constant initializers of a real sample); given initializers
    (gamma Uniform x0.5, beta Constant 0.25, mean Normal x0.1, var Constant 2) are applied, not dropped,
    and so are GroupNormalization's."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    nnc = _nnc_bn_initializers()
    assert set(nnc) == {"beta", "gamma", "mean", "var"} and all(kind == "Constant" for kind, _ in nnc.values())
    spec = tmp_path / "bn.nnd"
    spec.write_text(BN_SPEC)
    result = compile_file(spec)
    assert result.project is not None, [d.message for d in result.diagnostics]
    (torch_backend if backend == "torch" else keras_backend).generate(result.project, tmp_path / "out")
    model = import_generated(tmp_path / "out").create_model()
    model.save_params(tmp_path / "initial.npz")
    with np.load(tmp_path / "initial.npz", allow_pickle=False) as z:
        w = {k: z[k] for k in z.files}
    for name, (_, value) in nnc.items():
        np.testing.assert_array_equal(w[f"bn_default/{name}"], np.full((64, 1, 1), value, np.float32), name)
    gamma = w["bn_set/gamma"]
    assert np.abs(gamma).max() <= 0.5 and gamma.std() == pytest.approx(0.5 / math.sqrt(3), rel=0.3)
    np.testing.assert_array_equal(w["bn_set/beta"], np.full((64, 1, 1), 0.25, np.float32))
    assert w["bn_set/mean"].std() == pytest.approx(0.1, rel=0.3)
    np.testing.assert_array_equal(w["bn_set/var"], np.full((64, 1, 1), 2.0, np.float32))
    assert np.abs(w["gn/gamma"]).max() <= 1 and w["gn/gamma"].std() == pytest.approx(1 / math.sqrt(3), rel=0.3)
    assert w["gn/beta"].std() == pytest.approx(0.1, rel=0.3)
