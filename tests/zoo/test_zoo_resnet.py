"""The ResNets are torchvision's: torchvision's weights (random, with batch statistics
as after training) mapped by `nndsl weights`'s structure matching give torchvision's outputs in both
backends; each spec's parameter total is torchvision's."""

import numpy as np
import pytest
import zoo_check as Z

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")


# Every ResNet in torch; ResNet-18 and ResNet-50 (BasicBlock and Bottleneck) in Keras too: the deeper
# ones are the same units with other block counts.
CASES = [(n, "torch") for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")]
CASES += [("resnet18", "keras"), ("resnet50", "keras")]


@pytest.mark.parametrize(("name", "backend"), CASES)
def test_outputs_equal_torchvision_with_its_weights(name, backend, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    project = Z.project_of(name)
    reference = getattr(models, name)(weights=None)
    for m in reference.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 1e-4  # the specs keep NNC's BatchNormalization epsilon (torchvision's is 1e-5)
    Z.trained_statistics(reference)
    assert project.total_params == sum(p.numel() for p in reference.parameters())
    arrays = Z.reference_params(project, Z.torch_layers(reference), "torch")
    module, model = Z.generated_model(project, backend, tmp_path / "project")
    Z.load(model, arrays, tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    reference.eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    (got,) = Z.outputs(module, model, backend, x, unit="resnet")
    diff, scale = Z.max_difference(expected, got)
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
