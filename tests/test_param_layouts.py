"""One parameter-layout type for both backends and the compiler (`nndsl.runtime.nnc_layouts`).

- Every layout of the closed set: `to_nnc` then `from_nnc` is the identity on random framework
  shapes it reads, `nnc_shape` is the shape of `to_nnc`'s array and `from_nnc_steps` are
  `from_nnc`'s (Hypothesis).
- What the layouts mean, against the frameworks themselves: an NNC array computed from a module's
  forward (unit vectors through nn.Linear), or one with which torch's functional op reproduces a
  Keras layer's output, equals the layout's conversion of the framework's variable.
- Every layout any emitter of either backend writes (over the layer zoo and the specs) is in the
  closed set, and a name outside it never reaches a project's parameters.json.
"""

from __future__ import annotations

import importlib
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.runtime.nnc_layouts import LAYOUT_NAMES, Layout, layout

sys.path.insert(0, str(Path(__file__).resolve().parent / "nnc"))

ROOT = Path(__file__).resolve().parents[1]
dims = st.integers(1, 4)


@st.composite
def _framework_case(draw) -> tuple[Layout, tuple[int, ...]]:
    """A layout of the closed set and a framework shape it reads."""
    framework = draw(st.sampled_from(sorted(LAYOUT_NAMES)))
    kind = draw(st.sampled_from(LAYOUT_NAMES[framework]))
    kernel = tuple(draw(st.lists(dims, min_size=1, max_size=3)))
    if kind in ("same", "bn", "affine_bias", "channels_last") or (framework, kind) == ("keras", "affine"):
        return layout(kind, framework), tuple(draw(st.lists(dims, min_size=1, max_size=4)))
    if kind == "affine":  # torch nn.Linear (out, in)
        return layout(kind, framework), (draw(dims), draw(dims))
    if kind == "depthwise" and framework == "torch":  # (C * multiplier, 1, *kernel)
        return layout(kind, framework), (draw(dims) * draw(dims), 1, *kernel)
    if kind in ("conv", "depthwise"):  # Keras (*kernel, in, out) / (*kernel, C, multiplier)
        return layout(kind, framework), (*kernel, draw(dims), draw(dims))
    assert kind == "affine_cl", kind
    chw = tuple(draw(st.lists(dims, min_size=1, max_size=3)))
    name = "affine_cl:" + "x".join(map(str, chw))
    return layout(name, framework), (math.prod(chw), *draw(st.lists(dims, min_size=1, max_size=2)))


@settings(max_examples=300, deadline=None)
@given(_framework_case(), st.randoms(use_true_random=False))
def test_every_layout_round_trips_and_nnc_shape_is_to_nncs_shape(case, rnd):
    lay, shape = case
    value = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    nnc_shape = lay.nnc_shape(shape)
    assert math.prod(nnc_shape) == value.size
    nnc = lay.to_nnc(value, nnc_shape)
    assert nnc.shape == nnc_shape and nnc.flags.c_contiguous
    back = lay.from_nnc(nnc, shape)
    assert back.shape == shape and back.flags.c_contiguous
    np.testing.assert_array_equal(back, value)
    steps_shape, axes = lay.from_nnc_steps(shape)  # the same steps as a graph's reshape and transpose
    np.testing.assert_array_equal(nnc.reshape(steps_shape).transpose(axes).reshape(shape), value)
    # Any other NNC shape of the same size (NNC's (1, C, 1, 1) for a bn's (C,)) holds the same order.
    other = list(nnc_shape)
    rnd.shuffle(other)
    regrouped = (1, *other) if rnd.random() < 0.5 else (math.prod(other),)
    np.testing.assert_array_equal(lay.to_nnc(value, regrouped).reshape(-1), nnc.reshape(-1))
    np.testing.assert_array_equal(lay.from_nnc(nnc.reshape(regrouped), shape), value)
    # The numbers are moved, never changed: a permutation of the framework's elements.
    np.testing.assert_array_equal(np.sort(nnc.reshape(-1)), value.reshape(-1))


def test_names_outside_the_closed_set_and_shapes_that_do_not_fit_are_clear_errors():
    for name, framework in (("afine", "torch"), ("conv", "torch"), ("bn", "keras"), ("affine_cl", "keras")):
        with pytest.raises(ValueError, match=f"unknown {framework} parameter layout '{name}'"):
            layout(name, framework)
    with pytest.raises(ValueError, match="positive sizes"):
        layout("affine_cl:3x0x2", "keras")
    with pytest.raises(ValueError, match="unknown framework"):
        layout("same", "jax")
    with pytest.raises(ValueError, match=r"needs an nn.Linear weight \(out, in\), not an array of shape \(3,\)"):
        layout("affine", "torch").nnc_shape((3,))
    with pytest.raises(ValueError, match=r"grouped Conv weight"):
        layout("depthwise", "torch").to_nnc(np.zeros((4, 2, 3, 3)), (4, 3, 3))
    with pytest.raises(ValueError, match=r"Dense kernel \(12, out\)"):
        layout("affine_cl:3x2x2", "keras").from_nnc(np.zeros((10, 4)), (10, 4))
    with pytest.raises(ValueError, match=r"cannot be NNC's \(5, 4\)"):
        layout("affine", "torch").to_nnc(np.zeros((4, 6)), (5, 4))
    with pytest.raises(ValueError, match=r"cannot fill a keras array of shape \(3, 3, 2, 4\)"):
        layout("conv", "keras").from_nnc(np.zeros((4, 2, 3)), (3, 3, 2, 4))


# --- what the layouts mean in torch -----------------------------------------------------------------


def test_torch_affine_is_the_linear_weight_read_by_hand_from_its_forward():
    """NNC's Affine W (in, *out): row i is the layer's output for the unit vector e_i (no bias)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for n_in, out in ((6, (4,)), (5, (2, 3))):
        linear = torch.nn.Linear(n_in, math.prod(out), bias=False)
        with torch.no_grad():
            by_hand = linear(torch.eye(n_in)).numpy().reshape(n_in, *out)
        w = layout("affine", "torch").to_nnc(linear.weight.detach().numpy(), (n_in, *out))
        np.testing.assert_array_equal(w, by_hand)
        back = layout("affine", "torch").from_nnc(by_hand, tuple(linear.weight.shape))
        np.testing.assert_array_equal(back, linear.weight.detach().numpy())


def test_torch_runtime_converts_tensors_at_the_boundary():
    """The torch runtime's to_nnc/from_nnc (save_params/load_params): tensors in, float32 arrays out,
    a CPU tensor back in the array's dtype."""
    torch = pytest.importorskip("torch")
    from nndsl.runtime.torch import nnc

    linear = torch.nn.Linear(3, 2)
    w = nnc.to_nnc(linear.weight, "affine", (3, 2))
    assert isinstance(w, np.ndarray) and w.dtype == np.float32
    back = nnc.from_nnc(w, "affine", (2, 3))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32
    torch.testing.assert_close(back, linear.weight.detach())
    assert nnc.nnc_shape("depthwise", (6, 1, 3, 3)) == (6, 3, 3)
    assert nnc.to_nnc(torch.arange(4.0), "bn", (1, 4, 1, 1)).shape == (1, 4, 1, 1)


def test_torch_depthwise_weight_is_nncs_per_channel_kernel():
    """NNC's DepthwiseConvolution: output channel j correlates input channel j // multiplier with
    W[j] (C * multiplier, kh, kw); the grouped Conv2d's weight through "depthwise" is that W."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    c, m = 3, 2
    conv = torch.nn.Conv2d(c, c * m, 3, groups=c, bias=False)
    x = torch.randn(1, c, 5, 5)
    w = layout("depthwise", "torch").to_nnc(conv.weight.detach().numpy(), (c * m, 3, 3))
    xs = x.numpy()[0]
    by_hand = np.stack(
        [
            np.array([[np.sum(xs[j // m, i : i + 3, k : k + 3] * w[j]) for k in range(3)] for i in range(3)])
            for j in range(c * m)
        ]
    )
    with torch.no_grad():
        np.testing.assert_allclose(conv(x).numpy()[0], by_hand, rtol=1e-5, atol=1e-5)


def test_torch_bn_parameters_broadcast_as_nncs_1c11_arrays():
    """BatchNormalization's beta, gamma, mean, var are NNC's (1, C, 1, 1): with them NNC's formula on a
    (N, C, H, W) batch is nn.BatchNorm2d's output in evaluation."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    bn = torch.nn.BatchNorm2d(4, eps=1e-4).eval()
    with torch.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.copy_(torch.randn(4))
        bn.running_var.copy_(torch.rand(4) + 0.5)
    x = torch.randn(2, 4, 3, 3)
    nnc = {
        n: layout("bn", "torch").to_nnc(getattr(bn, attr).detach().numpy(), (1, 4, 1, 1))
        for n, attr in (("beta", "bias"), ("gamma", "weight"), ("mean", "running_mean"), ("var", "running_var"))
    }
    by_nnc = (x.numpy() - nnc["mean"]) / np.sqrt(nnc["var"] + 1e-4) * nnc["gamma"] + nnc["beta"]
    with torch.no_grad():
        np.testing.assert_allclose(bn(x).numpy(), by_nnc, rtol=1e-5, atol=1e-5)


# --- what the layouts mean in Keras, against torch's functional ops on NNC's arrays ------------------


@pytest.fixture(scope="module")
def keras_and_torch():
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(3)
    return keras, torch


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def _nchw(y) -> np.ndarray:
    return np.moveaxis(np.asarray(y), -1, 1)


def test_keras_conv_kernel_is_the_w_torchs_conv2d_computes_keras_output_with(keras_and_torch):
    keras, torch = keras_and_torch
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(np.float32)
    conv = keras.layers.Conv2D(4, (3, 2), use_bias=False)
    y = _nchw(conv(_nhwc(x)))
    kernel = conv.kernel.numpy()
    w = layout("conv", "keras").to_nnc(kernel, (4, 3, 3, 2))  # NNC's Convolution W (out, in, kh, kw)
    np.testing.assert_allclose(torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w)), y, atol=1e-5)
    np.testing.assert_array_equal(layout("conv", "keras").from_nnc(w, kernel.shape), kernel)


def test_keras_conv_transpose_kernel_is_nncs_deconvolution_w(keras_and_torch):
    """NNC's Deconvolution W (in, out, kh, kw), torch's ConvTranspose2d weight, from Conv2DTranspose's."""
    keras, torch = keras_and_torch
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    deconv = keras.layers.Conv2DTranspose(5, (2, 3), use_bias=False)
    y = _nchw(deconv(_nhwc(x)))
    w = layout("conv", "keras").to_nnc(deconv.kernel.numpy(), (3, 5, 2, 3))
    got = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w))
    np.testing.assert_allclose(got, y, atol=1e-5)


def test_keras_depthwise_kernel_is_nncs_depthwise_w(keras_and_torch):
    keras, torch = keras_and_torch
    c, m = 3, 2
    x = np.random.default_rng(2).standard_normal((2, c, 5, 5)).astype(np.float32)
    dw = keras.layers.DepthwiseConv2D(3, depth_multiplier=m, use_bias=False)
    y = _nchw(dw(_nhwc(x)))
    kernel = dw.kernel.numpy()
    w = layout("depthwise", "keras").to_nnc(kernel, (c * m, 3, 3))  # NNC's (C * multiplier, kh, kw)
    got = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w).reshape(c * m, 1, 3, 3), groups=c)
    np.testing.assert_allclose(got, y, atol=1e-5)
    # the torch backend's grouped Conv2d holds the same NNC W
    torch_weight = layout("depthwise", "torch").from_nnc(w, (c * m, 1, 3, 3))
    np.testing.assert_array_equal(layout("depthwise", "torch").to_nnc(torch_weight, (c * m, 3, 3)), w)
    np.testing.assert_array_equal(layout("depthwise", "keras").from_nnc(w, kernel.shape), kernel)


def test_keras_dense_after_a_spatial_input_is_nncs_affine_w(keras_and_torch):
    """affine_cl:CxHxW: the Dense kernel's rows follow the channels-last flattening; NNC's W (C*H*W, out)
    multiplies the channels-first flattening of the same input. Plain "affine" is the kernel itself."""
    keras, torch = keras_and_torch
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 4)).astype(np.float32)
    dense = keras.layers.Dense(5, use_bias=False)
    y = np.asarray(dense(_nhwc(x).reshape(2, -1)))
    w = layout("affine_cl:3x2x4", "keras").to_nnc(dense.kernel.numpy(), (24, 5))
    np.testing.assert_allclose(x.reshape(2, -1) @ w, y, rtol=1e-5, atol=1e-5)
    flat = np.random.default_rng(4).standard_normal((2, 24)).astype(np.float32)
    w = layout("affine", "keras").to_nnc(dense.kernel.numpy(), (24, 5))
    np.testing.assert_allclose(flat @ w, np.asarray(dense(flat)), rtol=1e-5, atol=1e-5)
    # the torch backend's nn.Linear holds the same NNC W
    linear = torch.nn.Linear(24, 5, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(layout("affine", "torch").from_nnc(w, (5, 24))))
        np.testing.assert_allclose(linear(torch.from_numpy(flat)).numpy(), np.asarray(dense(flat)), atol=1e-5)


def test_keras_layer_normalization_parameters_are_nncs_channels_first(keras_and_torch):
    """channels_last: LayerNormalization's beta and gamma (H, W, C) are NNC's (C, H, W) (after its batch
    axis of 1): with them NNC's formula on the channels-first sample is Keras's output."""
    keras, _ = keras_and_torch
    x = np.random.default_rng(5).standard_normal((2, 3, 2, 4)).astype(np.float32)
    ln = keras.layers.LayerNormalization(axis=(1, 2, 3), epsilon=1e-5)
    ln.build((None, 2, 4, 3))
    rng = np.random.default_rng(6)
    ln.gamma.assign(rng.standard_normal((2, 4, 3)).astype(np.float32))
    ln.beta.assign(rng.standard_normal((2, 4, 3)).astype(np.float32))
    y = _nchw(ln(_nhwc(x)))
    gamma = layout("channels_last", "keras").to_nnc(ln.gamma.numpy(), (1, 3, 2, 4))
    beta = layout("channels_last", "keras").to_nnc(ln.beta.numpy(), (1, 3, 2, 4))
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose((x - mean) / np.sqrt(var + 1e-5) * gamma + beta, y, rtol=1e-4, atol=1e-4)


# --- the closed set over every emitter --------------------------------------------------------------


def _rendered_layouts(backend: str) -> dict[str, set[str]]:
    """Layout -> the layer types whose emitters wrote it, over the layer zoo (one network per registry
    type) and the repository's specs, for `backend`."""
    import nntxt_export_cases as C

    from nndsl.backends.builder import BackendUnsupported
    from nndsl.compiler import compile_file

    build = importlib.import_module(f"nndsl.backends.{backend}.render").build
    parts, _ = C.all_layers_parts()
    cases = [(ltype, compile_file("all_layers.nnd", text=text)) for ltype, text in parts.items()]
    cases += [(spec.stem, compile_file(spec)) for spec in sorted((ROOT / "specs").glob("*.nnd"))]
    found: dict[str, set[str]] = {}
    for what, result in cases:
        assert result.ok, (what, [d.message for d in result.diagnostics])
        try:
            m = build(result.project)
        except BackendUnsupported:
            continue
        for p in m.params:
            found.setdefault(p.layout, set()).add(what)
    return found


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_every_layout_an_emitter_writes_is_in_the_closed_set(backend):
    found = _rendered_layouts(backend)
    for name, where in sorted(found.items()):
        assert layout(name, backend).name == name, where
    kinds = {name.partition(":")[0] for name in found}
    # the zoo and the specs exercise every layout of the backend's set: none is dead
    assert kinds == set(LAYOUT_NAMES[backend]), kinds ^ set(LAYOUT_NAMES[backend])


def test_a_layout_outside_the_closed_set_never_reaches_parameters_json():
    from nndsl.backends import toplevel
    from nndsl.backends.torch.render import build
    from nndsl.compiler import compile_file

    spec = "network M {\n    x = Input(3)\n    y = Affine(x, 2)\n}\n"
    m = build(compile_file("m.nnd", text=spec).project)
    assert {p.layout for p in m.params} == {"affine", "affine_bias"}
    toplevel.parameter_rows(m, "torch")  # the layouts as emitted: accepted
    broken = next(p for p in m.params if p.layout == "affine")
    broken.layout = "afine"  # a typo in an emitter
    with pytest.raises(ValueError, match="unknown torch parameter layout 'afine'"):
        toplevel.parameter_rows(m, "torch")


def test_the_compiler_reads_layouts_without_numpy():
    """The compiler (lark and jinja2 only) checks names and reads shapes with the same module."""
    code = (
        "import sys; import nndsl.backends.toplevel; from nndsl.runtime.nnc_layouts import layout\n"
        "lay = layout('conv', 'keras'); print(lay.nnc_shape((3, 3, 2, 4)), lay.from_nnc_steps((3, 3, 2, 4)))\n"
        "print(sorted({'numpy', 'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    lines = r.stdout.strip().splitlines()
    assert lines == ["(4, 2, 3, 3) ((4, 2, 3, 3), (2, 3, 1, 0))", "[]"], r.stderr
