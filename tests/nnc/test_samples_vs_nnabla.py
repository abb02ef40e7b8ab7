"""Imported NNC samples compute what nnabla (NNC's runtime) computes, in both backends.

For each sample with oracle results (`fixtures/oracle/<stem>/`, made by
`tools/nnc_oracle_fixtures.py` from NNC's `create_prototxt` and nnabla): `nndsl import` the
`.sdcproj`, compile the spec for PyTorch and for Keras, give every parameter the value nnabla ran
with (rebuilt by `nnabla_oracle.py`, checked against nnabla's digest; nnabla's names mapped to
nndsl's by `nndsl.nnc.names.nnc_parameter_table`), `load_params`, and run every network on the
inputs nnabla ran on. A network without random layers gives nnabla's outputs within 1e-4 of the
output's scale (max |nnabla's output|); one with random layers (nnabla's two runs differed) runs
and gives outputs of nnabla's shapes. Networks an optimizer trains use batch statistics in both
(nnabla's `batch_stat`), the others the running statistics: `run_network` picks the mode.

`test_standin_*` runs the same check on hand-written `.nnd` files of the LeNet and digits
samples (`data/oracle_*_standin.nnd`), so that the oracle's plumbing is proven whatever the importer
does.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import import_generated  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nnabla_oracle as oracle  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.nnc.idents import ident  # noqa: E402
from nndsl.nnc.names import nnc_parameter_table  # noqa: E402

HERE = Path(__file__).resolve().parent
# Hand-written .nnd files of two samples (sample stem -> spec), checked whatever the importer does.
STANDINS = {
    "image_recognition_MNIST_LeNet": HERE / "data" / "oracle_lenet_standin.nnd",
    "tutorial_image_classification_digits": HERE / "data" / "oracle_digits_standin.nnd",
}
TOLERANCE = 1e-4  # of the output's scale
HAS_IMPORT = importlib.util.find_spec("nndsl.nnc.sdcproj") is not None
STEMS = oracle.oracle_stems()
BACKENDS = ("torch", "keras")
# Samples every network of which is random in nnabla: SqueezeNet's evaluation networks keep
# ImageAugmentation and Dropout(P=6e-05), which nnabla runs in every network.
ALL_RANDOM = frozenset({"image_recognition_ILSVRC2012_squeezenet_squeezenet11"})


def nndsl_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def import_sample(stem: str, out: Path) -> Path:
    spec = out / f"{stem}.nnd"
    done = nndsl_cli("import", str(oracle.SAMPLES / f"{stem}.sdcproj"), "-o", str(spec))
    assert done.returncode == 0, f"nndsl import {stem}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return spec


def match_by_name_or_dataset(nnabla: list[dict], nndsl: list[dict], what: str) -> dict[str, str]:
    """nnabla variable name -> nndsl name: by dataset column where both have one (several nnabla
    variables may read one column, as an autoencoder's input and its loss target do, which one
    nndsl Input serves), else by the .nnd form of nnabla's name, else the only one left."""
    pairs: dict[str, str] = {}
    by_name = {v["name"]: v for v in nndsl}
    used: set[str] = set()
    for v in nnabla:
        found = [n for n, w in by_name.items() if v.get("dataset") and w.get("dataset") == v["dataset"]]
        left = [n for n in by_name if n not in used]
        found = found or [n for n in left if n == ident(v["name"])]
        if not found and len(nnabla) - len(pairs) == 1 and len(left) == 1:
            found = left
        assert len(found) == 1, f"{what}: no single nndsl counterpart of nnabla's {v['name']!r} among {sorted(left)}"
        pairs[v["name"]] = found[0]
        used.add(found[0])
    assert used == set(by_name), f"{what}: nndsl has {sorted(set(by_name) - used)} that nnabla's network lacks"
    return pairs


class Prepared:
    """A spec compiled for both backends with the oracle's parameters in nndsl's parameter file."""

    def __init__(self, spec: Path, case: oracle.OracleCase, out: Path) -> None:
        result = compile_file(spec)
        assert result.ok, [str(d) for d in result.diagnostics]
        self.project = result.project
        self.case = case
        self.out = out
        self.networks = {net.name: net for net in self.project.networks}
        table = nnc_parameter_table(self.project)
        by_nnabla = {nnabla_name: (name, shape) for name, (nnabla_name, shape) in table.items()}
        expected = {p["name"]: tuple(p["shape"]) for p in case.meta["parameters"]}
        assert sorted(by_nnabla) == sorted(expected), (
            f"parameter names differ from nnabla's: nnabla only {sorted(set(expected) - set(by_nnabla))[:10]}, "
            f"nndsl only {sorted(set(by_nnabla) - set(expected))[:10]}"
        )
        for nnabla_name, (name, shape) in by_nnabla.items():
            assert tuple(shape) == expected[nnabla_name], f"{name}: nnabla shape {expected[nnabla_name]}, nndsl {shape}"
        self.by_nnabla = by_nnabla
        self.projects: dict[str, Path] = {}

    def params_file(self) -> Path:
        """The oracle's values keyed by nndsl's names in the generated model's shapes."""
        path = self.out / "oracle_params.npz"
        if not path.exists():
            values = self.case.parameters()
            shapes = {name: p.shape for name, p in self.project.parameter_table().items()}
            arrays = {}
            for nnabla_name, (name, _) in self.by_nnabla.items():
                arrays[name] = values.pop(nnabla_name).reshape(shapes[name])
            np.savez(path, **arrays)
        return path

    def generated(self, backend: str) -> Path:
        if backend not in self.projects:
            if backend == "torch":
                from nndsl.backends.torch import generate
            else:
                from nndsl.backends.keras import generate
            folder = self.out / backend
            generate(self.project, folder)
            self.projects[backend] = folder
        return self.projects[backend]

    def nndsl_ports(self, network: str) -> tuple[list[dict], list[str]]:
        net = self.networks[network]
        by_value = {layer.outputs[0]: layer for layer in net.layers if layer.type == "Input"}
        inputs = [
            {"name": net.values[v].name, "dataset": by_value[v].params.get("dataset"), "shape": net.values[v].shape}
            for v in net.inputs
        ]
        return inputs, [net.values[v].name for v in net.outputs]


def check_backend(prepared: Prepared, backend: str) -> dict[str, float]:
    """Run every network of the sample in `backend`; the worst relative difference per network."""
    if backend == "torch":
        torch = pytest.importorskip("torch")
    else:
        pytest.importorskip("keras")
    folder = prepared.generated(backend)
    module = import_generated(folder)
    model = module.create_model()
    model.load_params(prepared.params_file())
    case = prepared.case
    worst: dict[str, float] = {}
    for name in (ident(n["name"]) for n in case.networks):
        assert name in prepared.networks, f"nnabla network {name!r} missing from the spec"
    # Networks an optimizer trains update the running statistics as they run (in nnabla too, which
    # the oracle undid before each network): they run after the others, whose outputs read them.
    for network in sorted(case.networks, key=lambda n: prepared.networks[ident(n["name"])].training):
        name = ident(network["name"])
        nd_inputs, nd_outputs = prepared.nndsl_ports(name)
        in_pairs = match_by_name_or_dataset(network["inputs"], nd_inputs, f"{name} inputs")
        out_pairs = match_by_name_or_dataset(network["outputs"], [{"name": n} for n in nd_outputs], f"{name} outputs")
        arrays: dict[str, np.ndarray] = {}
        for k, v in case.inputs(network).items():
            same = arrays.setdefault(in_pairs[k], v)  # variables reading one column got one array
            np.testing.assert_array_equal(same, v, err_msg=f"{name}: {k} and the other reader of its column differ")
        if backend == "torch":
            with torch.no_grad():
                results = model.run_network(name, **{k: torch.from_numpy(v) for k, v in arrays.items()})
            results = {k: v.detach().numpy() for k, v in results.items()}
        else:
            results = model.run_network(name, **arrays)
        for out in network["outputs"]:
            got = np.asarray(results[out_pairs[out["name"]]], dtype=np.float32)
            assert got.shape == tuple(out["shape"]), f"{name}/{out['name']}: shape {got.shape}, nnabla {out['shape']}"
            assert np.all(np.isfinite(got)), f"{name}/{out['name']}: not finite"
            if network["random"]:
                continue
            expected = case.output(network, out["name"])
            scale = float(np.max(np.abs(expected)))
            diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
            worst[name] = max(worst.get(name, 0.0), diff / scale if scale else diff)
            assert diff <= TOLERANCE * scale, (
                f"{backend} {name}/{out['name']}: max |nndsl - nnabla| = {diff:.3g}, "
                f"over {TOLERANCE:g} of the output's scale {scale:.3g}"
            )
    return worst


@pytest.fixture(scope="module", params=sorted(STANDINS))
def standin(request, tmp_path_factory):
    stem = request.param
    return Prepared(STANDINS[stem], oracle.load_case(stem), tmp_path_factory.mktemp(stem))


@pytest.mark.parametrize("backend", BACKENDS)
def test_standin_equals_nnabla(standin, backend):
    """A hand-written sample: every network without random layers equals nnabla's outputs (the
    digits' Main, with ImageAugmentation and RandomShift, runs)."""
    worst = check_backend(standin, backend)
    assert sorted(worst) == sorted(n["name"] for n in standin.case.networks if not n["random"])
    assert worst


def test_oracle_fixtures_are_not_vacuous():
    """Every sample but the recurrent one has oracle results; the oracle's constant parameters
    (biases, batch-norm statistics) are not their constants, every input is rebuilt exactly, and
    every deterministic network's outputs are stored and not all equal."""
    stems = {p.stem for p in oracle.SAMPLES.glob("*.sdcproj")} - {"tutorial_recurrent_neural_networks_elman_net"}
    assert sorted(stems) == STEMS
    for stem in STEMS:
        case = oracle.load_case(stem)
        for p in case.meta["parameters"]:
            if p["initializer"] == "Constant":
                value = oracle.oracle_parameter(p["name"], tuple(p["shape"]), "Constant", p["multiplier"])
                assert np.ptp(value) > 0 or value.size == 1, p["name"]
                if p["name"].endswith("/var"):
                    assert value.min() > 0, p["name"]
        for network in case.networks:
            case.inputs(network)
            for out in network["outputs"]:
                if not network["random"]:
                    assert case.output(network, out["name"]).shape == tuple(out["shape"])
        assert any(not n["random"] for n in case.networks) or stem in ALL_RANDOM


@pytest.fixture(scope="module", params=STEMS)
def imported(request, tmp_path_factory):
    if not HAS_IMPORT:
        pytest.skip("`nndsl import` (the nnc-import branch) is not on this branch yet")
    out = tmp_path_factory.mktemp(request.param)
    started = time.perf_counter()
    spec = import_sample(request.param, out)
    prepared = Prepared(spec, oracle.load_case(request.param), out)
    prepared.seconds = time.perf_counter() - started
    return prepared


@pytest.mark.parametrize("backend", BACKENDS)
def test_imported_sample_equals_nnabla(imported, backend):
    """Every network of the imported sample gives nnabla's outputs (random ones run)."""
    check_backend(imported, backend)


@pytest.mark.parametrize(
    "mistake",
    [
        "swap BatchNormalization/mean BatchNormalization/beta",
        "halve BatchNormalization/var",
        "zero BatchNormalization_2/beta",
        "zero Affine/b",
    ],
)
def test_a_misplaced_parameter_is_caught(mistake, tmp_path):
    """The oracle's values make every parameter count: with one batch-norm statistic or one bias
    misplaced, the digits' validation network no longer equals nnabla's."""
    torch = pytest.importorskip("torch")
    stem = "tutorial_image_classification_digits"
    prepared = Prepared(STANDINS[stem], oracle.load_case(stem), tmp_path)
    module = import_generated(prepared.generated("torch"))
    with np.load(prepared.params_file(), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    verb, name, *other = mistake.split()
    if verb == "swap":
        arrays[name], arrays[other[0]] = arrays[other[0]], arrays[name]
    else:
        arrays[name] = arrays[name] * (0.5 if verb == "halve" else 0.0)
    np.savez(tmp_path / "wrong.npz", **arrays)
    model = module.create_model()
    model.load_params(tmp_path / "wrong.npz")
    (network,) = [n for n in prepared.case.networks if n["name"] == "MainValidation"]
    inputs = prepared.case.inputs(network)
    names = match_by_name_or_dataset(network["inputs"], prepared.nndsl_ports("MainValidation")[0], "inputs")
    with torch.no_grad():
        (got,) = model.run_network(
            "MainValidation", **{names[k]: torch.from_numpy(v) for k, v in inputs.items()}
        ).values()
    expected = prepared.case.output(network, "CategoricalCrossEntropy")
    assert np.max(np.abs(got.numpy() - expected)) > 10 * TOLERANCE * np.max(np.abs(expected))
