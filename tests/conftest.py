import importlib.util
import os
from pathlib import Path

import pytest

# One thread per test process: pytest-xdist runs a process per core already, and a framework's
# thread pool per process on top (torch's OpenMP, TensorFlow's two pools) oversubscribes the cores:
# spinning threads made single tests 10 times slower than alone. Subprocesses the tests start
# (training runs) inherit it. Set before any test module imports a framework.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):  # fmt: skip
    os.environ.setdefault(_var, "1")

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

    A generated project's top-level names are its own modules (`model`, `train`, `infer`) and its
    runtime package `nndsl_runtime`, which every project has (with its backend's subpackage): they
    and their submodules are taken out of `sys.modules` for the import and put back after, so that
    several projects (of either backend) can be loaded side by side (each module keeps references
    to the modules it imported) and other tests keep theirs."""
    import importlib
    import sys

    names = {p.stem for p in Path(out).glob("*.py")} | {p.parent.name for p in Path(out).glob("*/__init__.py")}

    def ours(name: str) -> bool:
        return name.split(".")[0] in names

    before = {name: sys.modules.pop(name) for name in [n for n in sys.modules if ours(n)]}
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if ours(n)]:
            sys.modules.pop(name, None)
        sys.modules.update(before)  # what other tests had imported under these names


def script_main(project: Path, name: str):
    """`main` of the generated project's script `name` (`train`, `infer`), imported in this process as
    `import_generated` imports; the project's folder, which the script puts first on `sys.path` as it
    loads, is taken off again so that other projects' modules stay reachable."""
    import sys

    module = import_generated(project, name)
    folders = {str(project), str(Path(project).resolve())}
    sys.path[:] = [p for p in sys.path if p not in folders]
    return module.main


_IMPORT_EACH = """
import importlib, sys
sys.modules["nndsl"] = None  # importing nndsl fails
forbidden = sys.argv[1]
for folder in sys.argv[2:]:
    sys.path.insert(0, folder)
    importlib.import_module("model").create_model()
    sys.path.remove(folder)
    for name in [n for n in sys.modules if n.split(".")[0] in ("model", "nndsl_runtime")]:
        del sys.modules[name]
    print("ok", folder, flush=True)
assert not forbidden or forbidden not in sys.modules, f"a project imported {forbidden}"
"""


def assert_projects_import_alone(folders: list, forbidden: str = "") -> None:
    """Each generated project in `folders` imports and builds its model with nndsl unimportable (and,
    given `forbidden`, without importing that package), in turn in one process (one framework import
    for all): `model` and the runtime package are forgotten between projects, as two programs would
    not share them."""
    import subprocess
    import sys

    args = [sys.executable, "-c", _IMPORT_EACH, forbidden, *map(str, folders)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=1200, cwd=Path(folders[0]).parent)
    assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-3000:]
    assert r.stdout.count("ok ") == len(folders)
