"""SqueezeNet 1.1 and ShuffleNetV2 x1.0 are torchvision's: each spec's parameter total and MACs are
torchvision's, and torchvision's weights (random, with batch statistics as after training) mapped by
`nndsl weights`'s structure matching give torchvision's outputs in both backends (eval mode)."""

import math

import numpy as np
import pytest
import zoo_check as Z

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

# spec -> (torchvision builder, its weights enum, the unit instance the networks call)
ZOO = {
    "squeezenet1_1": ("squeezenet1_1", "SqueezeNet1_1_Weights", "squeezenet"),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", "ShuffleNet_V2_X1_0_Weights", "shufflenet"),
}


@pytest.fixture(scope="module", params=list(ZOO))
def zoo(request):
    """(spec name, compiled project, the torchvision reference with its statistics randomized)."""
    name = request.param
    torch.manual_seed(0)
    reference = getattr(models, ZOO[name][0])(weights=None)
    Z.trained_statistics(reference)
    reference.eval()
    return name, Z.project_of(name), reference


def test_parameters_equal_torchvision(zoo):
    _, project, reference = zoo
    assert project.total_params == sum(p.numel() for p in reference.parameters())


def test_macs_equal_torchvision(zoo):
    """nndsl counts torchinfo's mult-adds (a convolution's bias once per output position); torchvision's
    published figure (`_ops`, GMACs to 3 decimals) counts the weights' multiply-adds only."""
    torchinfo = pytest.importorskip("torchinfo")
    name, project, reference = zoo
    net = project.network("Runtime")
    stats = torchinfo.summary(reference, input_size=(1, 3, 224, 224), verbose=0)
    assert net.total_macs == stats.total_mult_adds
    biases = sum(
        math.prod(net.values[layer.outputs[0]].shape)
        for layer in net.layers
        if layer.type == "Convolution" and layer.params["bias"]
    )
    published = getattr(models, ZOO[name][1]).IMAGENET1K_V1.meta["_ops"]
    assert round((net.total_macs - biases) / 1e9, 3) == published


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_torchvision_with_its_weights(zoo, backend, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    name, project, reference = zoo
    arrays = Z.reference_params(project, Z.torch_layers(reference), "torch")
    module, model = Z.generated_model(project, backend, tmp_path / "project")
    Z.load(model, arrays, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    (got,) = Z.outputs(module, model, backend, x, unit=ZOO[name][2])
    diff, scale = Z.max_difference(expected, got)
    print(f"{name} {backend}: max abs difference {diff:.2e} at scale {scale:.3g}")
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
