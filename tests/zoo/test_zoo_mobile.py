"""MobileNetV2, MobileNetV3-Large and EfficientNet-B0 are torchvision's: each spec's parameter total
and MACs are torchvision's (its `num_params` and torchinfo's mult-adds, which its `_ops` rounds), and
torchvision's weights (random, with batch-normalization statistics of a random batch, as after
training: `zoo_check.batch_statistics`) mapped by `nndsl weights`'s structure matching give
torchvision's outputs in eval mode in both backends. Their table-driven units
generate one class each (`merge.py`: indexing, `x.shape[0]`, the built-in functions, a body's
constants)."""

import ast
from pathlib import Path

import numpy as np
import pytest
import zoo_check as Z

torch = pytest.importorskip("torch")
models = pytest.importorskip("torchvision.models")

# spec -> (torchvision's builder, its weights enum); torchvision's BatchNormalization epsilons are the
# specs' own (1e-5; MobileNetV3 0.001), so the reference runs as torchvision builds it.
SPECS = {
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights"),
    "mobilenet_v3_large": ("mobilenet_v3_large", "MobileNet_V3_Large_Weights"),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights"),
}


@pytest.fixture(scope="module", params=list(SPECS))
def case(request):
    name = request.param
    builder, weights = SPECS[name]
    project = Z.project_of(name)
    torch.manual_seed(0)
    reference = getattr(models, builder)(weights=None)
    rng = np.random.default_rng(0)
    Z.batch_statistics(reference, rng.standard_normal((4, 3, 224, 224)).astype(np.float32))
    x = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    arrays = Z.reference_params(project, Z.torch_layers(reference), "torch")
    meta = getattr(models, weights).IMAGENET1K_V1.meta
    return {"name": name, "project": project, "reference": reference, "x": x, "expected": expected,
            "arrays": arrays, "meta": meta}  # fmt: skip


def test_parameters_and_macs_equal_torchvision(case):
    from torchinfo import summary as torchinfo_summary

    from nndsl.summary import to_json

    project, reference = case["project"], case["reference"]
    assert project.total_params == sum(p.numel() for p in reference.parameters()) == case["meta"]["num_params"]
    macs = {n["name"]: n["total_macs"] for n in to_json(project)["networks"]}
    stats = torchinfo_summary(reference, input_size=(1, 3, 224, 224), verbose=0)
    assert macs["Runtime"] == stats.total_mult_adds
    assert round(macs["Runtime"] / 1e9, 3) == case["meta"]["_ops"]
    assert set(macs.values()) == {macs["Runtime"]}  # every network computes the same model


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_outputs_equal_torchvision_with_its_weights(case, backend, tmp_path):
    if backend == "keras":
        pytest.importorskip("keras")
    module, model = Z.generated_model(case["project"], backend, tmp_path / "project")
    Z.load(model, case["arrays"], tmp_path)
    (got,) = Z.outputs(module, model, backend, case["x"], unit="net")
    expected = case["expected"]
    diff, _ = Z.max_difference(expected, got)
    # judged at the outputs' own scale (their largest magnitude, below 1 here), not at 1
    scale = float(np.abs(expected).max())
    print(f"{case['name']} {backend}: max difference {diff:.3g} at an output scale of {scale:.3g}")
    assert diff <= (1e-5 if backend == "torch" else 1e-4) * scale, (diff, scale)


def test_the_outputs_depend_on_the_input(case):
    # (so that the comparison above sees the input's path: two samples' logits differ by much more
    # than the tolerance; with random statistics they agreed to 1e-7, see zoo_check.batch_statistics)
    expected = case["expected"]
    assert np.abs(expected[0] - expected[1]).max() > 0.05 * np.abs(expected).max()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_one_class_per_unit(case, backend):
    if backend == "torch":
        from nndsl.backends.torch.render import render_model
    else:
        from nndsl.backends.keras.render import render_model
    project = case["project"]
    text = render_model(project)
    classes = [n.name for n in ast.parse(text).body if isinstance(n, ast.ClassDef)]
    assert sorted(classes) == sorted([*project.units, "Model"]), classes  # no `InvertedResidual2`


@pytest.mark.parametrize(("name", "unit", "binding"), [
    ("mobilenet_v3_large", "SqueezeExcitation", "squeeze"),
    ("efficientnet_b0", "MBConv", "expanded"),
])  # fmt: skip
def test_the_specs_make_divisible_is_torchvisions(name, unit, binding):
    # One expression in place of torchvision's `if new_v < 0.9 * v: new_v += 8` (so that the body's
    # constant is bound once and is the class's local): max(8, int(v + 4) // 8 * 8, ceil(0.9 * v / 8) * 8).
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nndsl.passes.values import eval_const
    from nndsl.syntax import ast as sast
    from nndsl.syntax.parser import parse

    utils = pytest.importorskip("torchvision.models._utils")
    module, _ = parse(Path(f"specs/{name}.nnd").read_text(encoding="utf-8"), f"{name}.nnd")
    (u,) = [i for i in module.items if isinstance(i, sast.Unit) and i.name == unit]
    (e,) = [s.value for s in u.body if isinstance(s, sast.Assign) and s.targets[0].id == binding]

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.one_of(st.integers(0, 10_000), st.floats(0, 10_000, allow_nan=False)))
    def same(v):
        assert eval_const(e, lambda n: v) == utils._make_divisible(v, 8), v

    same()
    for v in [c * w for c in (16, 18, 24, 30, 32, 64, 96, 160, 320, 1280) for w in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)]:
        assert eval_const(e, lambda n, v=v: v) == utils._make_divisible(v, 8), v
