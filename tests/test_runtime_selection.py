"""A generated project ships only the runtime modules it uses: those its model, scripts and the
runtime's own modules import (`templating.runtime_files`, read with `ast`), never the other
backend's; what it ships is enough to import and run every file of the project without nndsl.
Each backend's runtime is in modules by family (nnc, augment, metrics, nnc_layers, solvers), so a
model ships the families its layers use."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from nndsl.backends.templating import RUNTIME, runtime_dir, runtime_files
from nndsl.compiler import compile_file

BACKENDS = ("torch", "keras")

# Affine, ReLU and a squared error: layers the frameworks have, nothing of nndsl's own layers.
PLAIN = """\
network Training {
    x = Input(4, dataset="x")
    t = Input(2, dataset="y")
    loss = x -> fc: Affine(2) -> ReLU -> SquaredError(t)
}
"""


def _files(spec_text: str, backend: str, tmp_path):
    import importlib

    if spec_text.endswith(".nnd"):  # a spec of specs/
        result = compile_file(ROOT / "specs" / spec_text)
    else:
        result = compile_file(tmp_path / "plain.nnd", text=spec_text)
    assert result.ok, [str(d) for d in result.diagnostics]
    return importlib.import_module(f"nndsl.backends.{backend}").project_files(result.project, tmp_path / "out")


def test_a_model_without_nndsls_layers_ships_without_them(tmp_path):
    files = _files(PLAIN, "keras", tmp_path)
    assert f"{RUNTIME}/keras/nnc.py" in files and f"{RUNTIME}/keras/nnc_layers.py" not in files
    assert "nnc_layers" not in files["model.py"]
    # and the README lists what it ships, no more
    assert "`keras/nnc.py`" in files["README.md"] and "`keras/nnc_layers.py` (" not in files["README.md"]


def test_a_model_using_them_ships_them_and_the_modules_they_import(tmp_path):
    files = _files(PLAIN.replace("-> ReLU", "-> ReLU -> BinaryTanh"), "keras", tmp_path)
    assert f"{RUNTIME}/keras/nnc_layers.py" in files
    # nnc_layers imports nnc_params and nnc_shapes relatively: both are there
    assert {f"{RUNTIME}/nnc_params.py", f"{RUNTIME}/nnc_shapes.py"} <= set(files)


@pytest.mark.parametrize("backend", BACKENDS)
def test_never_the_other_backends_modules(backend, tmp_path):
    other = {"torch": "keras", "keras": "torch"}[backend]
    files = _files(PLAIN, backend, tmp_path)
    shipped = [name for name in files if name.startswith(f"{RUNTIME}/")]
    assert shipped and not [n for n in shipped if n.startswith(f"{RUNTIME}/{other}/")]
    # every package on the way has its __init__.py, copied as it is
    assert f"{RUNTIME}/__init__.py" in files and f"{RUNTIME}/{backend}/__init__.py" in files
    for name in shipped:
        assert files[name] == (runtime_dir() / name.removeprefix(f"{RUNTIME}/")).read_text(encoding="utf-8")


def test_imports_inside_functions_and_of_submodules_count():
    lazy = "def load():\n    from nndsl_runtime.keras import nnc_layers\n    return nnc_layers\n"
    assert f"{RUNTIME}/keras/nnc_layers.py" in runtime_files("keras", [lazy])
    plain = "import nndsl_runtime.nnc_runs\n"
    assert set(runtime_files("torch", [plain])) == {f"{RUNTIME}/__init__.py", f"{RUNTIME}/nnc_runs.py"}
    # a module of the other backend is never shipped, whoever names it
    assert not [n for n in runtime_files("torch", [lazy]) if "/keras/" in n]


def _runtime(files) -> set[str]:
    """The runtime modules among a project's files, as `torch/nnc.py`, `nnc_augment.py`."""
    return {n.removeprefix(f"{RUNTIME}/") for n in files if n.startswith(f"{RUNTIME}/") and "__init__" not in n}


@pytest.mark.parametrize("backend", BACKENDS)
def test_lenet_ships_no_augmentation_and_none_of_nndsls_layers(backend, tmp_path):
    """LeNet's layers are the framework's, plus TopNError (metrics); train.py's solvers."""
    shipped = _runtime(_files("lenet.nnd", backend, tmp_path))
    assert {f"{backend}/nnc.py", f"{backend}/metrics.py", f"{backend}/solvers.py", f"{backend}/data.py"} <= shipped
    assert not shipped & {f"{backend}/augment.py", f"{backend}/nnc_layers.py", "nnc_augment.py", "keras/tensors.py"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_resnet18_ships_augmentation_and_metrics_but_not_the_other_layers(backend, tmp_path):
    files = _files("resnet18.nnd", backend, tmp_path)
    shipped = _runtime(files)
    assert {f"{backend}/augment.py", "nnc_augment.py", f"{backend}/metrics.py", f"{backend}/nnc.py"} <= shipped
    assert f"{backend}/nnc_layers.py" not in shipped
    # what its model.py imports of the runtime, no more
    assert f"from nndsl_runtime.{backend} import augment, metrics, nnc\n" in files["model.py"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_binary_layer_ships_nnc_layers(backend, tmp_path):
    files = _files(PLAIN.replace("-> ReLU", "-> ReLU -> BinaryTanh"), backend, tmp_path)
    shipped = _runtime(files)
    assert f"{backend}/nnc_layers.py" in shipped and f"{backend}/augment.py" not in shipped
    assert f"from nndsl_runtime.{backend} import nnc, nnc_layers\n" in files["model.py"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_models_nnc_module_brings_no_other_family(backend):
    """`nnc.py`, which every model imports, and `metrics.py` import no augmentation, layer or solver module;
    `solvers.py` (train.py's) no model module."""

    def closure(module):
        names = runtime_files(backend, [f"from nndsl_runtime.{backend} import {module}\n"])
        return {n.removeprefix(f"{RUNTIME}/") for n in names if "__init__" not in n}

    families = {f"{backend}/{m}.py" for m in ("augment", "metrics", "nnc_layers", "solvers")}
    for module, others in (("nnc", families), ("metrics", families - {f"{backend}/metrics.py"})):
        got = closure(module)
        assert not got & (others | {"nnc_augment.py", "nnc_solvers.py", "keras/tensors.py"}), (module, got)
    assert not closure("solvers") & (families - {f"{backend}/solvers.py"} | {f"{backend}/nnc.py"})
    assert "nnc_augment.py" in closure("augment") and "nnc_augment.py" not in closure("nnc_layers")


@pytest.mark.parametrize("spec", ["binary", "resnet18.nnd"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_what_ships_is_enough_to_import_every_file_of_the_project(backend, spec, tmp_path):
    """The project's files and every shipped runtime module import from the project folder alone
    (`-I`: no nndsl, no user site, no PYTHONPATH)."""
    text = PLAIN.replace("-> ReLU", "-> ReLU -> BinaryTanh") if spec == "binary" else spec
    files = _files(text, backend, tmp_path)
    out = tmp_path / "project"
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    modules = ["model", "train", "infer"] + [
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in files
        if name.startswith(f"{RUNTIME}/") and name.endswith(".py")
    ]
    code = "import sys; sys.path.insert(0, '.'); import importlib\n" + "".join(
        f"importlib.import_module({m!r})\n" for m in modules
    )
    env = {"OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=out, capture_output=True, text=True, timeout=300, env=env
    )
    assert r.returncode == 0, r.stderr[-2000:]
