"""The generated ResNet-18 and ResNet-50 are torchvision's architectures: the same parameter
shapes in the same order, and with torchvision's weights copied in, the same outputs (eval
mode, within 1e-5)."""

import pytest
import torch
from conftest import import_generated

from nndsl.backends.torch import generate
from nndsl.compiler import compile_file

models = pytest.importorskip("torchvision.models")


def generated_model(name: str, out):
    generate(compile_file(f"specs/{name}.nnd").project, out)
    return import_generated(out).create_model()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_outputs_equal_torchvision_with_its_weights(name, tmp_path):
    ours = generated_model(name, tmp_path).resnet
    theirs = getattr(models, name)(weights=None)
    a = [(k, v) for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")]
    b = [(k, v) for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")]
    assert [v.shape for _, v in a] == [v.shape for _, v in b]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    torch.manual_seed(0)
    with torch.no_grad():
        for module in theirs.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.eps = 1e-4  # NNC's BatchNormalization epsilon (torchvision uses 1e-5)
                module.running_mean.normal_(0, 0.1)  # statistics as after training, not the initial 0/1
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
        for (_, mine), (_, src) in zip(a, b, strict=True):
            mine.copy_(src)
    ours.eval()
    theirs.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = theirs(x)
        diff = (ours(x) - expected).abs().max().item()
    assert diff <= 1e-5 * max(1.0, expected.abs().max().item()), diff
