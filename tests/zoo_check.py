"""The model zoo's checks, shared by tests/zoo/test_zoo_*.py.

A zoo spec is checked against its reference (a torchvision or keras.applications model built with
`weights=None`, or a hand-written module in the test) by what a user does with it: its weights go
through `nndsl weights`'s mapping (by structure: layer order, tensor roles and shapes) into the
spec's NNC-named parameters, the generated project of each backend loads them with `load_params`,
and both give the reference's outputs on the same input, in eval mode.

- `reference_params(project, layers, framework)`: the mapping (`nndsl.weights.match` / `convert`); every
  spec layer and every framework layer must pair;
- `torch_layers(module)` / `keras_layers(model, tmp)`: a reference's layers as `nndsl weights` reads
  them from a state dict or a `.weights.h5` file;
- `generated_model(project, backend, out)`: the generated project's `create_model()`, loaded from `out`;
- `outputs(module, model, backend, x, unit)`: the main network's outputs, or a unit instance's (the
  network without its preprocessing and softmax), for `x` in NNC's layout (N, C, H, W);
- `trained_statistics(module)` / `keras_trained_statistics(model)`: batch-normalization statistics
  and affine terms as after training (not the initial 0 / 1, which would hide a swapped mean and
  variance), of a torch module or a Keras model; `batch_statistics(module, x)`: a torch module's
  statistics those of each layer's input over `x`, for networks whose signal random statistics lose;
- `max_difference(expected, got)`: the worst absolute difference and the scale it is judged at; a NaN
  or an infinity on one side only is an infinite difference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import import_generated

from nndsl import weights
from nndsl.backends.toplevel import main_network
from nndsl.compiler import compile_file

# The specs tests/zoo compares with their references in both backends (reference weights loaded by
# each generated project, outputs compared): proof that each one's projects build, load NNC-named
# parameters and compute what the reference does. The spec-parametrized tests that only re-check
# that on random parameters (the Keras project against the torch one; a subprocess import without
# nndsl, which building these big models makes the suite's slowest tests) leave these out. (tests/zoo
# runs Keras on ResNet-18 and -50 of the ResNets, and on vgg11_bn and vgg19 of the VGGs: the others are
# the same units with other block counts or table rows, and torch compares them all.)
ZOO = {
    "alexnet",
    "densenet121",
    "densenet161",
    "efficientnet_b0",
    "googlenet",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "resnet101",
    "resnet152",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext50_32x4d",
    "se_resnet50",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "unet",
    "xception",
}
ZOO |= {f"vgg{depth}{bn}" for depth in (11, 13, 16, 19) for bn in ("", "_bn")}

# Zoo specs that are another spec's units with other block counts or table rows, so the same
# generated classes and code paths: the Keras tests that re-check every spec's shapes and totals
# (tests/keras/test_keras_model.py; building each of these models in Keras takes 5-15 s) check the
# one named instead. PyTorch checks them all; tests/zoo compares the Keras outputs of its own
# selection with their references.
KERAS_COVERED_BY = {
    **{name: "vgg19" for name in ("vgg11", "vgg13", "vgg16")},
    **{name: "vgg11_bn" for name in ("vgg13_bn", "vgg16_bn", "vgg19_bn")},
    "resnet101": "resnet50",
    "resnet152": "resnet50",
    "densenet161": "densenet121",
}


def project_of(name: str):
    """specs/NAME.nnd compiled (it must be free of errors)."""
    result = compile_file(f"specs/{name}.nnd")
    assert result.ok, [str(d) for d in result.diagnostics]
    return result.project


def torch_layers(module) -> list[weights.FrameworkLayer]:
    return weights.torch_layers(module.state_dict())


def keras_layers(model, tmp_path: Path) -> list[weights.FrameworkLayer]:
    path = tmp_path / "reference.weights.h5"
    model.save_weights(str(path))
    layers, _ = weights.read_keras(str(path), weights.budget_bytes(model.count_params()))
    return layers


def reference_params(project, layers: list[weights.FrameworkLayer], framework: str, network: str | None = None) -> dict:
    """The reference's weights (`framework` "torch" or "keras", the one that saved them) as the spec's NNC
    parameters, every layer on both sides paired: a file either backend's project loads."""
    net = project.network(network or main_network(project))
    spec, _ = weights.spec_layers(project, net, framework)
    m = weights.match(spec, layers, framework)
    assert not m.spec_left and not m.framework_left, (
        [s.name for s in m.spec_left],
        [str(f) for f in m.framework_left],
    )
    return weights.convert(m, framework)


def generated_model(project, backend: str, out: Path):
    if backend == "torch":
        from nndsl.backends.torch import generate
    else:
        from nndsl.backends.keras import generate
    generate(project, out)
    module = import_generated(out)
    return module, module.create_model()


def load(model, arrays: dict, tmp_path: Path) -> None:
    """`arrays` (NNC names -> NNC layouts) into `model` through a parameter file, as `train.py --init` reads one."""
    path = tmp_path / "reference_params.npz"
    np.savez(path, **{name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()})
    model.load_params(path)


def outputs(module, model, backend: str, x: np.ndarray, unit: str | None = None) -> list[np.ndarray]:
    """The outputs, in NNC's layout, for `x` in NNC's layout (eval mode) of the model (its main network)
    or, given `unit`, of the model's unit instance of that attribute name (the network without the
    spec's preprocessing and softmax, as the reference computes)."""
    if backend == "torch":
        import torch

        model.eval()
        call = getattr(model, unit) if unit else model
        with torch.no_grad():
            got = call(torch.from_numpy(x))
        got = got if isinstance(got, (tuple, list)) else (got,)
        return [g.numpy() for g in got]
    import keras

    call = getattr(model, unit) if unit else model
    got = call(keras.ops.convert_to_tensor(module.nnc.to_channels_last(x)))
    got = got if isinstance(got, (tuple, list)) else (got,)
    return [module.nnc.to_channels_first(keras.ops.convert_to_numpy(g)) for g in got]


def trained_statistics(module, seed: int = 0) -> None:
    """Give every torch batch normalization of `module` statistics and affine terms as after training."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def batch_statistics(module, x: np.ndarray, seed: int = 0) -> None:
    """Give every torch batch normalization of `module` a random gamma and beta and, as its running
    mean and variance, those of its input over `x` (N, C, H, W), as training leaves them; `module` is
    left in eval mode. Random statistics (`trained_statistics`) do not do for torchvision's MobileNets
    and EfficientNet: its He initialization reads a depthwise kernel's fan as a full convolution's and
    shrinks the signal layer by layer, so that with made-up variances the outputs no longer depend on
    the input (two samples' logits equal to 1e-7; a one-pixel padding error unseen)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    module.eval()
    with torch.no_grad():
        momenta = []
        for m in norms:
            n = m.num_features
            if m.affine:
                m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)
            m.reset_running_stats()
            momenta.append(m.momentum)
            m.momentum = 1.0  # the running statistics become this batch's
            m.train()  # (only these: dropout and stochastic depth stay off)
        module(torch.from_numpy(x))
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
            m.eval()


def keras_trained_statistics(model, x: np.ndarray, seed: int = 0) -> None:
    """Give every Keras BatchNormalization of `model` affine terms and statistics as after training: a
    random gamma and beta, and as moving mean and variance those of the layer's input over `x` (a batch
    in Keras's layout), as training leaves them. Random statistics would not do: keras.applications'
    Glorot-initialized depthwise kernels shrink the signal layer by layer, and normalized by made-up
    variances the deep maps become nearly constant, blind to a pooling window one pixel off."""
    import keras

    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        n = layer.moving_mean.shape[0]
        if layer.scale:
            layer.gamma.assign((rng.random(n) + 0.5).astype(np.float32))
        if layer.center:
            layer.beta.assign((rng.standard_normal(n) * 0.1).astype(np.float32))
    # In training mode every BatchNormalization normalizes with its input's batch statistics: one call
    # gives every input as the layers before it, so set, give it.
    inputs = keras.Model(model.input, [layer.input for layer in norms])(x, training=True)
    for layer, h in zip(norms, inputs, strict=True):
        h = keras.ops.convert_to_numpy(h).astype(np.float64)
        axes = tuple(range(h.ndim - 1))
        layer.moving_mean.assign(h.mean(axis=axes).astype(np.float32))
        layer.moving_variance.assign(h.var(axis=axes).astype(np.float32))


def max_difference(expected: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert expected.shape == got.shape, (expected.shape, got.shape)
    if not np.array_equal(np.isfinite(expected), np.isfinite(got)):
        return float("inf"), 1.0
    finite = np.isfinite(expected)
    diff = float(np.max(np.abs(expected[finite] - got[finite]), initial=0.0))
    return diff, max(1.0, float(np.max(np.abs(expected[finite]), initial=0.0)))
