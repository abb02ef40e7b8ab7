"""SE-ResNet-50 and U-Net against hand-written PyTorch references, written as torchvision writes
its models: the reference's weights (random, with batch statistics as after training) mapped by
`nndsl weights`'s structure matching give its outputs in both backends; each spec's parameter total
is the reference's, and its MACs are what torchinfo counts on the reference (batch 1)."""

import numpy as np
import pytest
import zoo_check as Z

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torchvision.models.resnet import Bottleneck, ResNet  # noqa: E402
from torchvision.ops import SqueezeExcitation  # noqa: E402

# --- SE-ResNet-50 (Hu et al., 2018) ------------------------------------------------------------


class SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with squeeze and excitation on the residual branch, after its last
    batch normalization and before the shortcut is added."""

    def __init__(self, inplanes: int, planes: int, *args, reduction: int = 16, **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        channels = planes * self.expansion
        self.se = SqueezeExcitation(channels, channels // reduction)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


def se_resnet50() -> nn.Module:
    return ResNet(SEBottleneck, [3, 4, 6, 3])


# --- U-Net (Ronneberger et al., 2015), the common padded variant -------------------------------


class DoubleConv(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 2, base: int = 64) -> None:
        super().__init__()
        self.inc = DoubleConv(in_channels, base)
        self.down1 = Down(base, 2 * base)
        self.down2 = Down(2 * base, 4 * base)
        self.down3 = Down(4 * base, 8 * base)
        self.down4 = Down(8 * base, 16 * base)
        self.up1 = Up(16 * base, 8 * base)
        self.up2 = Up(8 * base, 4 * base)
        self.up3 = Up(4 * base, 2 * base)
        self.up4 = Up(2 * base, base)
        self.outc = nn.Conv2d(base, num_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        h = self.up1(x5, x4)
        h = self.up2(h, x3)
        h = self.up3(h, x2)
        h = self.up4(h, x1)
        return self.outc(h)


# spec -> (the reference's builder, its input's per-sample shape, the unit instance that is the reference)
SPECS = {
    "se_resnet50": (se_resnet50, (3, 224, 224), "senet"),
    "unet": (UNet, (1, 64, 64), "unet"),
}


@pytest.fixture(scope="module", params=list(SPECS))
def case(request):
    """(spec name, its project, the reference in eval mode, the mapped parameters), built once."""
    name = request.param
    project = Z.project_of(name)
    torch.manual_seed(0)
    reference = SPECS[name][0]()
    Z.trained_statistics(reference)
    reference.eval()
    return name, project, reference, Z.reference_params(project, Z.torch_layers(reference), "torch")


def test_parameters_and_macs_are_the_references(case):
    torchinfo = pytest.importorskip("torchinfo")
    name, project, reference, _ = case
    assert project.total_params == sum(p.numel() for p in reference.parameters())
    stats = torchinfo.summary(reference, input_size=(1, *SPECS[name][1]), verbose=0)
    assert project.network("Runtime").total_macs == stats.total_mult_adds


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_the_reference_with_its_weights(case, backend, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    name, project, reference, arrays = case
    module, model = Z.generated_model(project, backend, tmp_path / "project")
    Z.load(model, arrays, tmp_path)
    x = np.random.default_rng(0).standard_normal((1, *SPECS[name][1])).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    (got,) = Z.outputs(module, model, backend, x, unit=SPECS[name][2])
    diff, scale = Z.max_difference(expected, got)
    print(f"{name} {backend}: max abs difference {diff:.2e} at scale {scale:.3g}")
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
