"""AlexNet and the eight VGGs are torchvision's: each spec's parameter total is torchvision's, its MACs
are what torchinfo counts for torchvision's model (and, without the biases and batch normalizations,
torchvision's published figure), and torchvision's weights (random, with batch statistics as after
training) mapped by `nndsl weights`'s structure matching give torchvision's outputs in both backends.

These are big models (VGG-19: 144M parameters): parameters and MACs are read from torchvision's model
built on the meta device (shapes, no values), and each output comparison is one forward at batch 1.
PyTorch compares all nine specs; Keras, whose project takes longest to build and load, a
representative three: vgg11_bn (batch normalization), vgg19 (the deepest configuration) and alexnet
(the other network). The comparisons run spec by spec, each reference built once for both backends."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import zoo_check as Z

from nndsl.cli import main

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

SPECS = ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]
KERAS = {"alexnet", "vgg11_bn", "vgg19"}
CASES = [(name, backend) for name in SPECS for backend in ("torch", "keras") if backend == "torch" or name in KERAS]


def unit_of(name: str) -> str:
    """The spec's unit instance that computes what torchvision's model does."""
    return "alexnet" if name == "alexnet" else "vgg"


class MacCounter:
    """torchinfo's mult-adds at batch 1, counted by forward hooks: a convolution's weights and bias once
    per output position, a linear or batch normalization layer's parameters once. `weights` holds the
    weights' share (torchvision's published figure), `others` the biases' and batch normalizations'."""

    def __init__(self, module) -> None:
        self.weights = self.others = 0
        self.hooks = [m.register_forward_hook(self.count) for m in module.modules()]

    def count(self, module, inputs, output) -> None:
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            positions = math.prod(output.shape[2:])  # 1 for a Linear's (N, features)
            self.weights += module.weight.numel() * positions
            self.others += module.bias.numel() * positions
        elif isinstance(module, torch.nn.BatchNorm2d):
            self.others += module.weight.numel() + module.bias.numel()

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()


def published_gmacs(name: str) -> float:
    """torchvision's figure (GMACs to 3 decimals, weights only), from the weights' metadata: no download."""
    enum = "AlexNet" if name == "alexnet" else name.upper()
    return getattr(models, f"{enum}_Weights").IMAGENET1K_V1.meta["_ops"]


@pytest.mark.parametrize("name", SPECS)
def test_parameters_and_macs_are_torchvisions(name, capsys):
    with torch.device("meta"):  # the architecture without values: shapes and counts only
        reference = getattr(models, name)(weights=None).eval()
        counter = MacCounter(reference)
        reference(torch.empty(1, 3, 224, 224))
    counter.remove()
    assert main(["summary", f"specs/{name}.nnd", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    runtime = next(n for n in summary["networks"] if n["name"] == "Runtime")
    assert summary["total_params"] == runtime["total_params"] == sum(p.numel() for p in reference.parameters())
    assert runtime["total_macs"] == counter.weights + counter.others
    assert round(counter.weights / 1e9, 3) == published_gmacs(name)


class Reference:
    """torchvision's model with seeded weights and batch statistics as after training, its output on one
    seeded image, and its weights as the spec's NNC parameters in a file both backends load."""

    def __init__(self, name: str, folder) -> None:
        torch.manual_seed(0)
        module = getattr(models, name)(weights=None).eval()
        Z.trained_statistics(module)
        self.project = Z.project_of(name)
        self.x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        with torch.no_grad():
            self.expected = module(torch.from_numpy(self.x)).numpy()
        arrays = Z.reference_params(self.project, Z.torch_layers(module), "torch")
        self.params = folder / f"{name}.npz"
        np.savez(self.params, **{n: np.asarray(a, dtype=np.float32) for n, a in arrays.items()})


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """name -> Reference, keeping only the latest (CASES runs each spec's backends one after the other)."""
    cache: dict[str, Reference] = {}

    def get(name: str) -> Reference:
        if name not in cache:
            cache.clear()
            cache[name] = Reference(name, tmp_path_factory.mktemp(name))
        return cache[name]

    yield get
    cache.clear()


@pytest.mark.parametrize(("name", "backend"), CASES)
def test_outputs_equal_torchvision_with_its_weights(name, backend, references, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    reference = references(name)
    module, model = Z.generated_model(reference.project, backend, tmp_path / "project")
    model.load_params(reference.params)
    (got,) = Z.outputs(module, model, backend, reference.x, unit=unit_of(name))
    diff, scale = Z.max_difference(reference.expected, got)
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
