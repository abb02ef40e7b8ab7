"""The shipped specs: lint-clean, and the reference architectures' parameter totals equal
torchvision's (the figures in ../shared/reference/nnc-semantics.md)."""

import pytest
from conftest import SPECS

from nndsl.compiler import compile_file

TORCHVISION_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "alexnet": 61_100_840,
}
REQUIRED = {*TORCHVISION_PARAMS, "lenet", "digits", "cifar10_resnet"}


def test_the_required_specs_exist():
    assert {p.stem for p in SPECS} >= REQUIRED


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_spec_is_lint_clean(spec):
    r = compile_file(spec.relative_to(spec.parents[1]), lint=True)
    assert [f"{d.code} {d.span}: {d.message}" for d in r.diagnostics] == []


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_unique_parameter_total_equals_torchvision(name):
    p = compile_file(f"specs/{name}.nnd").project
    assert p.total_params == TORCHVISION_PARAMS[name]
    assert p.network("Training").total_params == TORCHVISION_PARAMS[name]


@pytest.mark.parametrize("name", [n for n in sorted(TORCHVISION_PARAMS) if n.startswith("resnet")])
def test_resnet_samples_follow_nnc(name):
    """Four networks sharing every parameter; NNC's preprocessing; a deterministic runtime."""
    from nndsl.layers import REGISTRY

    p = compile_file(f"specs/{name}.nnd").project
    assert [n.name for n in p.networks] == ["Training", "Validation", "Validation5", "Runtime"]
    tables = [set(n.parameter_table()) for n in p.networks]
    assert all(t == tables[0] for t in tables)
    runtime = p.network("Runtime")
    ins = [tuple(runtime.values[v].shape for v in layer.inputs) for layer in runtime.layers]
    assert not any(
        REGISTRY[layer.type].is_random(layer.params, i) for layer, i in zip(runtime.layers, ins, strict=True)
    )
    train_in = p.network("Training").values[p.network("Training").layers[-1].inputs[0]].shape
    assert train_in == (1000,)
    aug = next(layer for layer in p.network("Training").layers if layer.type == "ImageAugmentation")
    assert aug.params["shape"] == (3, 224, 224) and aug.params["flip_lr"] is True
    cfg = p.config
    (opt,) = cfg.optimizers
    assert opt.solver.type == "Nesterov" and opt.solver.params["lr"] == 0.1
    assert opt.solver.params["weight_decay"] == 1e-4 and opt.update_interval * cfg.batch_size == 256
    top = {n.name: next(layer for layer in n.layers if layer.type == "TopNError") for n in p.networks[1:3]}
    assert top["Validation"].params["n"] == 1 and top["Validation5"].params["n"] == 5


def test_cifar_mini_resnet_follows_the_recipe():
    p = compile_file("specs/cifar10_resnet.nnd").project
    net = p.network("Training")
    first = next(layer for layer in net.layers if layer.type == "Convolution")
    assert first.params["kernel"] == (3, 3) and first.params["stride"] == (1, 1)
    widths = sorted({layer.params["out_maps"] for layer in net.layers if layer.type == "Convolution"})
    assert widths == [16, 32, 64, 128]  # ResNet-18's 64..512 divided by 4
    assert not any(layer.type == "MaxPooling" for layer in net.layers)


def test_digits_spec_fits_8x8_digits():
    p = compile_file("specs/digits.nnd").project
    net = p.network("Training")
    assert [net.values[v].shape for v in net.inputs] == [(1, 8, 8), (1,)]
    assert any(layer.type == "Add2" for layer in net.layers)  # residual
    fc = next(layer for layer in net.layers if layer.type == "Affine")
    assert fc.params["out_shape"] == (10,)
