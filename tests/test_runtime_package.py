"""The runtime is one package, `nndsl.runtime`, developed here and copied into every generated project
as `nndsl_runtime/` (its version, the shared framework-free modules and only that backend's
subpackage); the compiler takes its NNC rules (solver defaults, the pooled-size rule) from it."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, import_generated

import nndsl
from nndsl.backends.output import OutputError
from nndsl.compiler import compile_file

RUNTIME = ROOT / "nndsl" / "runtime"
SHARED = {p.name for p in RUNTIME.glob("*.py")}
BACKENDS = ("torch", "keras")


def _project(spec: str, backend: str, out: Path) -> dict[str, str]:
    result = compile_file(ROOT / "specs" / f"{spec}.nnd")
    assert result.ok, [d.message for d in result.diagnostics]
    module = importlib.import_module(f"nndsl.backends.{backend}")
    module.generate(result.project, out)
    return module.project_files(result.project, out)


def _on_disk(out: Path) -> set[str]:
    return {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".nndsl")
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_project_ships_one_runtime_package_of_its_backend_and_version(backend, tmp_path):
    files = _project("lenet", backend, tmp_path)
    assert _on_disk(tmp_path) == set(files)
    packages = {p.parent.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("__init__.py")}
    assert packages == {"nndsl_runtime", f"nndsl_runtime/{backend}"}
    # the top level holds the project's own modules only: nothing named nnc, data, solvers...
    assert {p.name for p in tmp_path.glob("*.py")} == {"model.py", "train.py", "infer.py"}
    runtime = {name.removeprefix("nndsl_runtime/") for name in files if name.startswith("nndsl_runtime/")}
    own = {p.name for p in (RUNTIME / backend).glob("*.py")}
    # a part of the package (what lenet uses: test_runtime_selection.py), every model's nnc.py among them
    assert {"__init__.py", f"{backend}/__init__.py", f"{backend}/nnc.py"} <= runtime
    assert runtime <= SHARED | {f"{backend}/{name}" for name in own}
    other = "keras" if backend == "torch" else "torch"
    assert not any(name.startswith(f"{other}/") for name in runtime)
    for name in runtime:  # copies, as they are, of the package the tests import
        assert (tmp_path / "nndsl_runtime" / name).read_text(encoding="utf-8") == (RUNTIME / name).read_text(
            encoding="utf-8"
        )
    init = ast.parse((tmp_path / "nndsl_runtime" / "__init__.py").read_text(encoding="utf-8"))
    (version,) = [n.value.value for n in init.body if isinstance(n, ast.Assign) and n.targets[0].id == "__version__"]
    assert version == nndsl.__version__
    model = (tmp_path / "model.py").read_text(encoding="utf-8")
    assert f"from nndsl_runtime.{backend} import metrics, nnc\n" in model  # lenet's TopNError: metrics


def test_the_runtime_imports_nothing_of_nndsl_outside_itself():
    for path in RUNTIME.rglob("*.py"):
        depth = len(path.relative_to(RUNTIME).parts) - 1  # 0: nndsl/runtime/x.py, 1: nndsl/runtime/torch/x.py
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= depth + 1, (path, node.lineno)  # never above nndsl/runtime
                assert node.level or node.module.split(".")[0] != "nndsl", (path, node.lineno)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] not in ("nndsl", "nndsl_runtime") for a in node.names), path


def test_the_runtime_modules_import_as_nndsl_runtime():
    torch_solvers = importlib.import_module("nndsl.runtime.torch.solvers")
    torch_data = importlib.import_module("nndsl.runtime.torch.data")
    solvers = importlib.import_module("nndsl.runtime.nnc_solvers")
    assert Path(torch_solvers.__file__).is_relative_to(RUNTIME) and Path(torch_data.__file__).is_relative_to(RUNTIME)
    assert torch_solvers.solver_arguments is solvers.solver_arguments  # one module, not a second copy
    assert importlib.import_module("nndsl.runtime").__version__ == nndsl.__version__


def test_the_compiler_and_the_runtime_share_one_table_of_solver_and_schedule_defaults():
    from nndsl.runtime.nnc_solvers import PLATEAU_DEFAULTS, SCHEDULE_DEFAULTS, SOLVER_DEFAULTS, solver_arguments
    from nndsl.solvers import OPTIONAL, SCHEDULES, SOLVERS

    assert list(SOLVERS) == list(SOLVER_DEFAULTS)
    for solver, params in SOLVERS.items():
        # the compiler's defaults, under the language's names (as config.json passes them), are the runtime's
        _, arguments = solver_arguments(solver, {p.name: p.default for p in params if p.default is not OPTIONAL})
        assert len(params) == len(SOLVER_DEFAULTS[solver]) + 1 and params[-1].nnc == "WeightDecay"
        for p, (key, default) in zip(params, SOLVER_DEFAULTS[solver].items(), strict=False):
            assert (OPTIONAL if default is None else default) == p.default, (solver, p.name)
            if default is not None:
                assert arguments[key] == default
    # and the schedules' numeric defaults (NNC's; Plateau's are Keras's ReduceLROnPlateau's, its own table)
    floats = {
        p.name: p.default
        for name, params in SCHEDULES.items()
        if name != "Plateau"
        for p in params
        if isinstance(p.default, float)
    }
    assert floats == SCHEDULE_DEFAULTS
    plateau = {p.name: p.default for p in SCHEDULES["Plateau"] if p.name not in ("monitor", "warmup")}
    assert plateau == PLATEAU_DEFAULTS and all(type(plateau[k]) is type(v) for k, v in PLATEAU_DEFAULTS.items())


def test_the_pooled_size_rule_is_written_once():
    from nndsl.layers import pooling
    from nndsl.runtime import nnc_shapes
    from nndsl.runtime.torch import nnc_layers

    assert pooling.pooled_size is nnc_shapes.pooled_size is nnc_layers.pooled_size
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "nndsl").rglob("*.py"))
    assert source.count("def pooled_size") == 1 and "def pool_out" not in source


def test_the_compiler_imports_no_numpy_or_framework_for_its_nnc_rules():
    code = (
        "import sys; import nndsl.solvers, nndsl.layers.pooling, nndsl.runtime.nnc_shapes\n"
        "print(sorted({'numpy', 'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stderr


def test_two_projects_in_one_process_do_not_collide(tmp_path):
    """A lenet and a digits project, imported in one process, each run with its own runtime."""
    torch = pytest.importorskip("torch")
    before = sys.modules.get("nndsl_runtime")  # another test's import, if any: left as it was
    outputs = {}
    for spec in ("lenet", "digits"):
        out = tmp_path / spec
        _project(spec, "torch", out)
        module = import_generated(out)
        assert Path(module.nnc.__file__).is_relative_to(out)  # its own copy of nndsl_runtime
        network = compile_file(ROOT / "specs" / f"{spec}.nnd").project.network("Runtime")
        (shape,) = [network.values[i].shape for i in network.inputs]
        torch.manual_seed(0)
        model = module.create_model()
        with torch.no_grad():
            (y,) = model.run_network("Runtime", x=torch.rand(2, *shape)).values()
        outputs[spec] = y.numpy()
    assert outputs["lenet"].shape[0] == outputs["digits"].shape[0] == 2
    assert np.isfinite(outputs["lenet"]).all() and np.isfinite(outputs["digits"]).all()
    assert sys.modules.get("nndsl_runtime") is before  # taken back after each import


def test_compiling_the_other_backend_over_a_project_replaces_its_runtime(tmp_path):
    _project("lenet", "torch", tmp_path)
    assert (tmp_path / "nndsl_runtime" / "torch" / "nnc.py").is_file()
    _project("lenet", "keras", tmp_path)
    assert not (tmp_path / "nndsl_runtime" / "torch").exists()  # removed with its files, left empty
    assert (tmp_path / "nndsl_runtime" / "keras" / "nnc.py").is_file()


def test_a_changed_runtime_file_is_not_overwritten(tmp_path):
    _project("lenet", "torch", tmp_path)
    mine = tmp_path / "nndsl_runtime" / "torch" / "nnc.py"
    mine.write_text(mine.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    with pytest.raises(OutputError) as e:
        _project("lenet", "torch", tmp_path)
    assert e.value.diagnostic.code == "E0902" and "nnc.py" in e.value.diagnostic.message
    assert mine.read_text(encoding="utf-8").endswith("# mine\n")


def test_a_link_in_place_of_the_runtime_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "project"
    out.mkdir()
    (out / "nndsl_runtime").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError) as e:
        _project("lenet", "torch", out)
    assert e.value.diagnostic.code == "E0901"
    assert list(elsewhere.iterdir()) == []


def test_a_manifest_naming_a_file_in_another_subfolder_removes_nothing(tmp_path):
    """Only the runtime's folder holds generated files below the project: a manifest entry elsewhere
    (crafted, or from another tool) is never followed, even with the file's own digest."""
    import hashlib
    import json

    _project("lenet", "torch", tmp_path)
    mine = tmp_path / "data" / "keep.txt"
    mine.parent.mkdir()
    mine.write_text("mine\n", encoding="utf-8")
    manifest_path = tmp_path / ".nndsl-manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["data/keep.txt"] = hashlib.sha256(b"mine\n").hexdigest()
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    _project("lenet", "torch", tmp_path)
    assert mine.read_text(encoding="utf-8") == "mine\n"


def test_compile_names_the_runtime_folder_once(tmp_path):
    cmd = [sys.executable, "-m", "nndsl", "compile", str(ROOT / "specs" / "lenet.nnd"), "--backend", "torch"]
    r = subprocess.run([*cmd, "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    count = len(_on_disk(tmp_path))
    expected = "model.py, parameters.json, config.json, README.md, nndsl_runtime/, ruff.toml, train.py, infer.py"
    assert r.stderr.strip().endswith(f"wrote {count} files to {tmp_path}: {expected}")
