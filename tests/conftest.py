import importlib.util
import os
from pathlib import Path

import pytest

# torch loads triton when it makes its first optimizer, and triton loaded after TensorFlow
# crashes the process (a segmentation fault, seen with tensorflow-cpu 2.21): load it first.
if importlib.util.find_spec("triton") is not None:
    import triton  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in (ROOT / "specs").glob("*.nnd"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    """Diagnostics show paths relative to the working directory: run every test from the root."""
    monkeypatch.chdir(ROOT)


# The layer types issue 2 requires of the registry, which every backend must emit.
REQUIRED_LAYERS = [
    "Input",
    "Convolution",
    "DepthwiseConvolution",
    "Deconvolution",
    "Affine",
    "BatchNormalization",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Sigmoid",
    "Tanh",
    "Swish",
    "Softmax",
    "MaxPooling",
    "AveragePooling",
    "GlobalAveragePooling",
    "SumPooling",
    "Unpooling",
    "Add2",
    "Sub2",
    "Mul2",
    "Div2",
    "Concatenate",
    "Sum",
    "Mean",
    "Max",
    "MulScalar",
    "AddScalar",
    "RSubScalar",
    "PowScalar",
    "MaximumScalar",
    "MinimumScalar",
    "Slice",
    "Pad",
    "Reshape",
    "Transpose",
    "Flip",
    "Broadcast",
    "Identity",
    "OneHot",
    "Dropout",
    "ImageAugmentation",
    "RandomFlip",
    "RandomShift",
    "RandomCrop",
    "BinaryConnectAffine",
    "BinaryConnectConvolution",
    "BinaryWeightAffine",
    "BinarySigmoid",
    "BinaryTanh",
    "SoftmaxCrossEntropy",
    "CategoricalCrossEntropy",
    "BinaryCrossEntropy",
    "SigmoidCrossEntropy",
    "SquaredError",
    "HuberLoss",
    "AbsoluteError",
    "KLMultinomial",
    "TopNError",
    "BinaryError",
    "Equal",
    "EqualScalar",
    "GreaterEqualScalar",
    "LessEqualScalar",
    "GreaterScalar",
    "LogicalAnd",
    "LogicalOr",
    "Abs",
    "Exp",
    "Round",
]


def update_golden() -> bool:
    return os.environ.get("NNDSL_UPDATE_GOLDEN") == "1"


def import_generated(out: Path, module: str = "model"):
    """Import `module` of the generated project in `out`, as a program in that folder would.

    Generated projects import their support modules by top-level names (`nnc`, `data`, ...)
    which differ between backends: they are taken out of `sys.modules` for the import and
    put back after, so that projects of both backends can be loaded side by side (each module
    keeps references to the modules it imported) and other tests keep theirs."""
    import importlib
    import sys

    names = {p.stem for p in Path(out).glob("*.py")}
    before = {name: sys.modules.pop(name) for name in names if name in sys.modules}
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(out))
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(before)  # what other tests had imported under these names


def load_template(name: str, path: Path, siblings: tuple[str, ...] = ()):
    """Load a support module of `templates/` by path, as module `name`, the way a generated project
    would import it: with `templates/common` (the modules every project ships next to it) importable,
    and the backend modules it imports by name (`siblings`, from its own folder) loaded for it under
    those names, which are taken back after (the two backends' `nnc` differ). Registered in
    `sys.modules`, so that objects of it pickle (data loader worker processes)."""
    import importlib.util
    import sys

    common = str(ROOT / "templates" / "common")
    if common not in sys.path:
        sys.path.insert(0, common)
    before = {s: sys.modules.pop(s) for s in siblings if s in sys.modules}
    try:
        for sibling in siblings:
            load_template(sibling, Path(path).parent / f"{sibling}.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        for sibling in siblings:
            sys.modules.pop(sibling, None)
        sys.modules.update(before)
    return module
