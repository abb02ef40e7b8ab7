"""Generated PyTorch models, run: they import without nndsl, every value's runtime shape
equals the shape the IR inferred (each forward statement's shape comment is checked by a
line tracer while the network runs), and parameter totals equal `nndsl summary`.

The zoo's models run here on PyTorch's meta device: every operator computes its output's shape (its
meta kernel is the shape rule the CPU kernel uses) and no value, so VGG's 138M parameters are neither
initialized nor multiplied. Their values are compared with their references' in tests/zoo; the other
specs run on the CPU, values and all."""

import math
import re
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_projects_import_alone, import_generated
from zoo_check import ZOO

from nndsl.backends.torch import generate
from nndsl.compiler import compile_file

ROOT = Path(__file__).resolve().parents[2]

# Every spec, every network, at the spec's own input sizes (batch 2).
RUN = [p.stem for p in sorted((Path(__file__).resolve().parents[2] / "specs").glob("*.nnd"))]
SHAPE_COMMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*) = .*#\s*([0-9x]+)$")


@pytest.fixture(scope="module", params=RUN)
def generated(request, tmp_path_factory):
    project = compile_file(f"specs/{request.param}.nnd").project
    out = tmp_path_factory.mktemp(request.param)
    generate(project, out)
    module = import_generated(out)  # the project's own model and nndsl_runtime, not another project's
    yield project, module, out


def test_projects_import_without_nndsl(tmp_path):
    """Every project but the zoo's (built and compared with their references in tests/zoo) imports and
    builds its model with nndsl unimportable, each in turn in one process (one torch import)."""
    folders = []
    for name in (n for n in RUN if n not in ZOO):
        generate(compile_file(f"specs/{name}.nnd").project, tmp_path / name)
        folders.append(str(tmp_path / name))
    assert_projects_import_alone(folders)


def _expected_shapes(path: Path) -> dict[int, tuple[str, tuple[int, ...]]]:
    shapes = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = SHAPE_COMMENT.match(line)
        if m:
            shapes[number] = (m.group(1), tuple(int(d) for d in m.group(2).split("x")))
    return shapes


def device_of(project) -> str:
    """The device a spec runs on: meta for the zoo's (their values are tested against references), else the CPU."""
    return "meta" if Path(project.path).stem in ZOO else "cpu"


def test_runtime_shapes_equal_the_ir(generated):
    project, module, out = generated
    path = Path(module.__file__)
    target = str(path)  # (the tracer runs at every call: compared, not built, there)
    expected = _expected_shapes(path)
    checked: set[int] = set()
    pending: list[tuple[object, int]] = []
    mismatches = []

    def tracer(frame, event, arg):
        if frame.f_code.co_filename != target:
            return None

        def local(frame, event, arg):
            while pending and pending[-1][0] is frame:
                _, line = pending.pop()
                name, shape = expected[line]
                value = frame.f_locals.get(name)
                if isinstance(value, torch.Tensor):
                    checked.add(line)
                    if tuple(value.shape[1:]) != shape:
                        mismatches.append((line, name, shape, tuple(value.shape[1:])))
            if event == "line" and frame.f_lineno in expected:
                pending.append((frame, frame.f_lineno))
            return local

        return local

    torch.manual_seed(0)
    with torch.device(device_of(project)):
        model = module.create_model()
        sys.settrace(tracer)
        try:
            for net in project.networks:
                inputs = {}
                for vid in net.inputs:
                    value = net.values[vid]
                    shape = (2, *value.shape)
                    inputs[value.name] = torch.randint(0, 2, shape).float() if value.name == "y" else torch.rand(shape)
                outputs = model.run_network(net.name, **inputs)
                assert [tuple(t.shape[1:]) for t in outputs.values()] == [net.values[v].shape for v in net.outputs]
                assert all(t.device.type == device_of(project) for t in outputs.values())
        finally:
            sys.settrace(None)
    assert not mismatches, mismatches[:5]
    assert len(checked) >= len(expected) * 0.9  # (a loop body line is checked once per run)


def test_parameter_totals_equal_summary(generated):
    project, module, _ = generated
    with torch.device("meta"):  # sizes only
        model = module.create_model()
    total = sum(p.numel() for p in model.parameters())
    assert total == project.total_params
    arrays = {name: math.prod(shape) for name, (_, _, shape, *_) in model.PARAMETERS.items()}
    assert set(arrays) == set(project.parameter_table())


@pytest.mark.parametrize("name", [n for n in RUN if n not in ZOO])  # the zoo's: load_params in tests/zoo
def test_save_and_load_params_round_trip(name, tmp_path):
    generate(compile_file(f"specs/{name}.nnd").project, tmp_path / "torch")
    module = import_generated(tmp_path / "torch")
    torch.manual_seed(1)
    a = module.create_model()
    a.save_params(tmp_path / "p.npz")
    b = module.create_model()
    b.load_params(tmp_path / "p.npz")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb), ka


def test_generated_files_are_written_into_the_project(tmp_path):
    project = compile_file(ROOT / "specs" / "digits.nnd").project
    written = {p.name for p in generate(project, tmp_path)}
    assert {"model.py", "nnc.py", "data.py"} <= written


def test_nnc_initializers_and_pooling_without_ignore_border(tmp_path):
    text = (
        "network Runtime {\n"
        '    x = Input(4x7x7, dataset="x")\n'
        '    y = x -> conv: Convolution(256, kernel=3x3, w_init="NormalConvolutionHeBackward", w_init_multiplier=2.0)\n'
        "        -> MaxPooling(kernel=2x2, ignore_border=false) -> fc: Affine(300)\n"
        "}\n"
    )
    project = compile_file("init.nnd", text=text).project
    generate(project, tmp_path)
    module = import_generated(tmp_path)
    torch.manual_seed(0)
    model = module.create_model()
    out = model.run_network("Runtime", x=torch.rand(2, 4, 7, 7))["y"]
    assert tuple(out.shape) == (2, 300)
    # NormalConvolutionHeBackward: sigma = sqrt(2 / (M K)) times the multiplier (M outputs, K kernel area).
    assert model.conv.weight.std().item() == pytest.approx(2.0 * math.sqrt(2 / (256 * 9)), rel=0.05)
    assert torch.count_nonzero(model.conv.bias) == 0  # b: Constant 0
    # NormalAffineGlorot: sigma = sqrt(2 / (N + M)), N = 256*4*4 inputs (pooled 7 -> 4 without ignore_border).
    assert model.fc.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 16 + 300)), rel=0.05)


def test_binary_network_trains_and_saves_nnc_names(tmp_path):
    text = (
        "network Training {\n"
        '    x = Input(1x12x12, dataset="x")\n'
        '    y = Input(1, dataset="y")\n'
        "    h = x -> BinaryConnectConvolution(8, kernel=3x3) -> BinaryTanh -> MaxPooling(kernel=2x2)\n"
        "        -> BinaryWeightConvolution(8, kernel=3x3) -> BinarySigmoid\n"
        "        -> BinaryWeightAffine(20) -> BinaryTanh -> BinaryConnectAffine(10)\n"
        "    loss = h -> SoftmaxCrossEntropy(y)\n"
        "}\n"
    )
    project = compile_file("binary.nnd", text=text).project
    generate(project, tmp_path)
    module = import_generated(tmp_path)
    model = module.create_model()
    out = model.run_network("Training", x=torch.rand(2, 1, 12, 12), y=torch.randint(0, 10, (2, 1)).float())
    out["loss"].mean().backward()
    model.save_params(tmp_path / "p.npz")
    model.load_params(tmp_path / "p.npz")
    assert model.binary_connect_affine.W.grad is not None
    assert sum(p.numel() for p in model.parameters()) == project.total_params
    import numpy as np

    with np.load(tmp_path / "p.npz") as arrays:
        assert arrays["BinaryWeightAffine/W"].shape == (72, 20)  # NNC's Affine layout (in, out)
        assert set(arrays.files) == set(project.parameter_table())
