"""Parameters NNC trained give the generated projects nnabla's validation predictions.

`fixtures/digits_results.nnp` is the `results.nnp` that `nnabla_cli train` wrote for NNC's digits
sample (5 epochs on scikit-learn's digits at 28x28, `benchmarks/nnc_training.py --write-fixture`);
`fixtures/digits_results.json` holds what nnabla's runtime network predicts with it for every
validation image, and the resulting validation error. Here the archive's `parameter.h5` (nnabla's
names and layouts) is mapped to nndsl's names by `nndsl.nnc.names.nnc_parameter_table`, loaded into
the PyTorch and Keras projects of the digits sample, and their runtime network must predict
exactly nnabla's classes on the same images (the same data, rebuilt by the benchmark's builder).

The spec is the hand-written stand-in `data/oracle_digits_standin.nnd` (whose outputs equal
nnabla's with the oracle's parameters, `test_samples_vs_nnabla.py`); once `nndsl import` of an
`.nnp` and `load_params` of NNC's parameter files exist, `test_imported_nnp_*` does the same through
them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import import_generated

from nndsl.compiler import compile_file
from nndsl.nnc.names import nnc_parameter_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NNP = HERE / "fixtures" / "digits_results.nnp"
RECORD = json.loads((HERE / "fixtures" / "digits_results.json").read_text(encoding="utf-8"))
STANDIN = HERE / "data" / "oracle_digits_standin.nnd"
BACKENDS = ("torch", "keras")


def _benchmark():
    spec = importlib.util.spec_from_file_location("nnc_training_benchmark", ROOT / "benchmarks" / "nnc_training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validation(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("PIL")
    bench = _benchmark()
    _, valid_csv = bench.build_dataset(tmp_path_factory.mktemp("digits28"))
    x, y = bench.read_validation(valid_csv)
    assert len(y) == len(RECORD["predictions"])
    return x, y


def nnp_parameters(path: Path) -> dict[str, np.ndarray]:
    """nnabla name -> array, from the archive's parameter.h5 (nn.save_parameters' layout)."""
    h5py = pytest.importorskip("h5py")
    with zipfile.ZipFile(path) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".h5")]
        data = archive.read(member)
    found: dict[str, np.ndarray] = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(
            lambda name, obj: found.__setitem__(name, np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None
        )
    return found


def predict(folder: Path, params: Path, x: np.ndarray, backend: str) -> np.ndarray:
    module = import_generated(folder)
    model = module.create_model()
    model.load_params(params)
    (image,) = module.Model.NETWORKS["MainRuntime"][1]
    if backend == "torch":
        import torch

        with torch.no_grad():
            (out,) = model.run_network("MainRuntime", **{image: torch.from_numpy(x)}).values()
        out = out.numpy()
    else:
        (out,) = model.run_network("MainRuntime", **{image: x}).values()
    return np.asarray(out).reshape(len(x), -1).argmax(axis=1)


def test_nnp_fixture_is_nncs_record():
    """The fixture's error is its predictions' error; nnabla's parameters are all there."""
    params = nnp_parameters(NNP)
    assert len(params) == 16 and params["Affine/affine/W"].shape == (640, 150)
    assert RECORD["network"] == "MainRuntime" and RECORD["epochs"] == 5
    assert 0.0 <= RECORD["validation_error"] < 0.05


@pytest.mark.parametrize("backend", BACKENDS)
def test_nnc_trained_parameters_give_nnablas_predictions(backend, validation, tmp_path):
    pytest.importorskip(backend)
    x, y = validation
    result = compile_file(STANDIN)
    assert result.ok
    params = nnp_parameters(NNP)
    table = nnc_parameter_table(result.project)
    shapes = {
        layer.parameter_name(p): p.shape
        for net in result.project.networks
        for layer in net.layers
        for p in layer.parameters
    }
    assert sorted(nnabla for nnabla, _ in table.values()) == sorted(params)
    arrays = {name: params[nnabla].reshape(shapes[name]) for name, (nnabla, _) in table.items()}
    np.savez(tmp_path / "nnc_trained.npz", **arrays)
    if backend == "torch":
        from nndsl.backends.torch import generate
    else:
        from nndsl.backends.keras import generate
    generate(result.project, tmp_path / backend)
    predictions = predict(tmp_path / backend, tmp_path / "nnc_trained.npz", x, backend)
    assert predictions.tolist() == RECORD["predictions"]
    assert float(np.mean(predictions != y)) == pytest.approx(RECORD["validation_error"])


HAS_NNP_IMPORT = importlib.util.find_spec("nndsl.nnc.nntxt") is not None


@pytest.mark.parametrize("backend", BACKENDS)
def test_imported_nnp_gives_nnablas_predictions(backend, validation, tmp_path):
    """`nndsl import results.nnp`, compiled, `load_params(results.nnp)`: nnabla's predictions."""
    if not HAS_NNP_IMPORT:
        pytest.skip("the .nnp reader (nnc-nntxt branch) is not on this branch yet")
    pytest.importorskip(backend)
    x, _ = validation
    spec = tmp_path / "digits.nnd"
    done = subprocess.run(
        [sys.executable, "-m", "nndsl", "import", str(NNP), "-o", str(spec)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "nndsl", "compile", str(spec), "--backend", backend, "-o", str(tmp_path / backend)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert predict(tmp_path / backend, NNP, x, backend).tolist() == RECORD["predictions"]
