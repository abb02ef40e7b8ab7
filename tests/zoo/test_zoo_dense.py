"""DenseNet-121, DenseNet-161 and ResNeXt-50 32x4d are torchvision's: torchvision's weights (random,
with batch statistics as after training) mapped by `nndsl weights`'s structure matching give
torchvision's outputs in both backends; each spec's parameter total and MACs are torchvision's."""

import numpy as np
import pytest
import zoo_check as Z

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

# spec -> (torchvision's builder, its weights enum, the unit instance that is torchvision's model)
SPECS = {
    "densenet121": ("densenet121", "DenseNet121_Weights", "densenet"),
    "densenet161": ("densenet161", "DenseNet161_Weights", "densenet"),
    "resnext50_32x4d": ("resnext50_32x4d", "ResNeXt50_32X4D_Weights", "resnext"),
}


@pytest.fixture(scope="module", params=list(SPECS))
def case(request):
    """(spec name, its project, torchvision's model in eval mode, the mapped parameters), built once."""
    name = request.param
    builder, _, _ = SPECS[name]
    project = Z.project_of(name)
    reference = getattr(models, builder)(weights=None)
    Z.trained_statistics(reference)
    reference.eval()
    return name, project, reference, Z.reference_params(project, Z.torch_layers(reference), "torch")


def test_parameters_and_macs_are_torchvisions(case):
    """The totals torchvision gives (`num_params`; `_ops`, its GMACs, cut to 3 decimals), and the MACs
    torchinfo counts on torchvision's model (`nndsl summary`'s convention: batch 1)."""
    torchinfo = pytest.importorskip("torchinfo")
    name, project, reference, _ = case
    meta = getattr(models, SPECS[name][1]).IMAGENET1K_V1.meta
    assert project.total_params == sum(p.numel() for p in reference.parameters()) == meta["num_params"]
    macs = project.network("Runtime").total_macs
    assert macs == torchinfo.summary(reference, input_size=(1, 3, 224, 224), verbose=0).total_mult_adds
    assert 0 <= macs / 1e9 - meta["_ops"] < 1e-3, macs


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_torchvision_with_its_weights(case, backend, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    name, project, reference, arrays = case
    module, model = Z.generated_model(project, backend, tmp_path / "project")
    Z.load(model, arrays, tmp_path)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    (got,) = Z.outputs(module, model, backend, x, unit=SPECS[name][2])
    diff, scale = Z.max_difference(expected, got)
    print(f"{name} {backend}: max abs difference {diff:.2e} at scale {scale:.3g}")
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, diff
