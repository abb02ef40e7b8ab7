"""NNC's parameter files (.h5, .protobuf, .nnp) in the generated projects of both backends.

tests/nnc/fixtures/params/ (tools/nnc_params_fixtures.py) holds a small net NNC's create_prototxt
converted (block.nntxt: a Convolution, a repeat of a unit with Convolution and BatchNormalization,
an Affine), the random parameters nnabla saved for it (block.h5, block.protobuf, block.nnp), an
input and nnabla's output for it, and the same net in nndsl (block.nnd). Without nnabla:

- nnabla's files load into the generated PyTorch and Keras models, which then give nnabla's output;
- the models save files that hold what nnabla's do (the .protobuf byte for byte; the .h5 the same
  datasets and attributes), so nnabla reads them as its own;
- hostile files (truncated or forged protobuf, .h5 with wrong shapes, objects or links, .nnp bombs)
  are refused with one line naming the file.

With nnabla installed ($NNDSL_NNABLA_PYTHON or /work/nnabla-venv/bin/python) the live tests also
run nnabla on the files the generated models wrote and compare its outputs with theirs.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures" / "params"
REPO = HERE.parent.parent  # nndsl.runtime.nnc_params: the parameter files of every generated project
NNABLA = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
FORMATS = ("block.h5", "block.protobuf", "block.nnp")

sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))


def _scale_tolerance(reference: np.ndarray) -> float:
    return 1e-4 * max(1.0, float(np.abs(reference).max()))


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """The generated models of block.nnd, both backends: {backend: model module}."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    result = compile_file(FIX / "block.nnd")
    assert result.ok, [str(d) for d in result.diagnostics]
    modules = {}
    for name, backend in (("torch", torch_backend), ("keras", keras_backend)):
        out = tmp_path_factory.mktemp(f"block_{name}")
        backend.generate(result.project, out)
        modules[name] = import_generated(out)
    return modules


def _run(backend: str, model, x: np.ndarray) -> np.ndarray:
    if backend == "torch":
        import torch

        with torch.no_grad():
            return model.run_network("Main", x=torch.from_numpy(x))["y"].numpy()
    return model.run_network("Main", x=x)["y"]


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("fixture", FORMATS)
def test_nnabla_files_give_nnablas_outputs(projects, backend: str, fixture: str) -> None:
    """nnabla's .h5 / .protobuf / .nnp, loaded by the generated model, give nnabla's output."""
    model = projects[backend].create_model()
    model.load_params(FIX / fixture)
    x, expected = np.load(FIX / "x.npy"), np.load(FIX / "y.npy")
    got = _run(backend, model, x)
    assert np.abs(got - expected).max() <= _scale_tolerance(expected)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_saved_protobuf_is_nnablas(projects, backend: str, tmp_path: Path) -> None:
    """Loaded from nnabla's .protobuf and saved again, the file is nnabla's byte for byte; the
    .npz and .h5 round trips keep every value."""
    model = projects[backend].create_model()
    model.load_params(FIX / "block.protobuf")
    model.save_params(tmp_path / "again.protobuf")
    assert (tmp_path / "again.protobuf").read_bytes() == (FIX / "block.protobuf").read_bytes()
    for ext in (".npz", ".h5"):
        model.save_params(tmp_path / f"again{ext}")
        other = projects[backend].create_model()
        other.load_params(tmp_path / f"again{ext}")
        x = np.load(FIX / "x.npy")
        assert np.array_equal(_run(backend, other, x), _run(backend, model, x))


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_saved_h5_is_nnablas(projects, backend: str, tmp_path: Path) -> None:
    """The .h5 a model saves holds nnabla's datasets (names, shapes, values) and attributes
    (need_grad, index) as nnabla's own file does."""
    h5py = pytest.importorskip("h5py")
    model = projects[backend].create_model()
    model.load_params(FIX / "block.h5")
    model.save_params(tmp_path / "again.h5")

    def contents(path: Path) -> dict:
        found = {}
        with h5py.File(path, "r") as f:
            f.visititems(
                lambda name, obj: (
                    found.__setitem__(
                        name, (obj[()].tolist(), obj.dtype.str, bool(obj.attrs["need_grad"]), int(obj.attrs["index"]))
                    )
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            )
        return found

    ours, theirs = contents(tmp_path / "again.h5"), contents(FIX / "block.h5")
    assert ours == theirs


def test_nnabla_names_table(projects) -> None:
    """Model.nnabla_names() of both backends: nnabla's names and shapes, those of block.nntxt."""
    import re

    text = (FIX / "block.nntxt").read_text(encoding="utf-8")
    main = text[: text.index('name: "MainValidation"')]
    variables = re.findall(
        r'name: "([^"]+)"\n    type: "Parameter"\n(?:    repeat_id: "[^"]*"\n)*    shape: \{([^}]*)\}', main
    )
    expected = set()
    for name, dims in variables:
        shape = tuple(int(d) for d in re.findall(r"-?\d+", dims))
        copies = 2 if "{RepeatStart}" in name else 1
        expected |= {(name.replace("{RepeatStart}", f"[{i}]"), shape) for i in range(copies)}
    for module in projects.values():
        assert set(module.Model.nnabla_names().values()) == expected


# --- hostile files ----------------------------------------------------------------------------


@pytest.fixture
def nnc_params(projects):
    from nndsl.runtime import nnc_params as module

    return module


def _refused(model, path: Path, *words: str) -> str:
    """The generated project's RunError (its own nnc_runs module's; a ValueError) in one line naming
    `path` and `words`."""
    with pytest.raises(ValueError) as info:
        model.load_params(path)
    assert type(info.value).__name__ == "RunError", info.value
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("cut", [1, 7, 100, 2000, -1])
def test_truncated_protobuf(projects, tmp_path: Path, cut: int) -> None:
    data = (FIX / "block.protobuf").read_bytes()
    bad = tmp_path / "cut.protobuf"
    bad.write_bytes(data[:cut])
    _refused(projects["torch"].create_model(), bad)


def test_forged_protobuf(projects, nnc_params, tmp_path: Path) -> None:
    """Lengths past the end, a huge varint, a forged shape (more values claimed than held, or a
    shape far bigger than the model's) and a wrong wire type are each one line."""
    model = projects["torch"].create_model()
    bad = tmp_path / "bad.protobuf"
    # a parameter message claiming 2**40 bytes
    bad.write_bytes(nnc_params._field(200, 2) + nnc_params._varint(1 << 40) + b"\x0a\x01a")
    _refused(model, bad, "truncated")
    bad.write_bytes(b"\xff" * 20)
    _refused(model, bad, "10 bytes")
    # every name right, one shape forged to 10**12 elements: refused before any data is read
    entries = []
    for name, shape in model.nnabla_names().values():
        entries.append((name, np.zeros(shape, np.float32), True))
    forged = nnc_params.encode_protobuf(entries[:-1])
    name, shape = list(model.nnabla_names().values())[-1]
    dims = b"".join(nnc_params._varint(d) for d in (10**6, 10**6))
    message = nnc_params._len_field(1, name.encode()) + nnc_params._len_field(20, nnc_params._len_field(1, dims))
    bad.write_bytes(forged + nnc_params._len_field(200, message))
    _refused(model, bad, name, "1000000x1000000")
    # the right shape, but fewer values than it needs
    short = nnc_params._len_field(1, name.encode()) + nnc_params._len_field(
        20, nnc_params._len_field(1, b"".join(nnc_params._varint(d) for d in shape))
    )
    short += nnc_params._len_field(100, b"\0\0\0\0")
    bad.write_bytes(forged + nnc_params._len_field(200, short))
    _refused(model, bad, name, "values for its shape")
    # a group (wire type 3)
    bad.write_bytes(nnc_params._field(200, 3))
    _refused(model, bad, "wire type 3")


def test_h5_wrong_shapes_objects_links(projects, tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    model = projects["keras"].create_model()
    good = FIX / "block.h5"

    def variant(edit) -> Path:
        path = tmp_path / f"v{len(list(tmp_path.iterdir()))}.h5"
        shutil.copy(good, path)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path

    def reshape(f):
        del f["Affine/affine/W"]
        f["Affine/affine/W"] = np.zeros((5, 5), np.float32)
        f["Affine/affine/W"].attrs["need_grad"] = True

    _refused(model, variant(reshape), "Affine/affine/W", "5x5")

    def strings(f):
        del f["Affine/affine/b"]
        f["Affine/affine/b"] = np.array([b"abcd"] * 4)

    _refused(model, variant(strings), "Affine/affine/b", "not numbers")

    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["w"] = np.zeros(4, np.float32)

    def external(f):
        del f["Affine/affine/b"]
        f["Affine/affine/b"] = h5py.ExternalLink(str(outside), "w")

    _refused(model, variant(external), "Affine/affine/b", "ExternalLink")

    def soft(f):
        del f["Affine/affine/b"]
        f["Affine/affine/b"] = h5py.SoftLink("/Convolution/conv/b")

    _refused(model, variant(soft), "SoftLink")

    def cycle(f):
        f["Affine/loop"] = f["Affine"]

    _refused(model, variant(cycle), "twice")

    def extra(f):
        f["stray/W"] = np.zeros(3, np.float32)

    _refused(model, variant(extra), "stray/W", "does not have")
    not_h5 = tmp_path / "text.h5"
    not_h5.write_text("hello")
    _refused(model, not_h5, "not a readable .h5")


def test_nnp_bombs_and_oddities(projects, tmp_path: Path) -> None:
    model = projects["torch"].create_model()
    data = (FIX / "block.protobuf").read_bytes()
    bomb = tmp_path / "bomb.nnp"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("parameter.protobuf", b"\0" * (64 << 20))  # 64 MiB of zeros, about 64 KiB packed
    assert bomb.stat().st_size < 1 << 20
    _refused(model, bomb, "unpacks to", "refused")
    two = tmp_path / "two.nnp"
    with zipfile.ZipFile(two, "w") as z:
        z.writestr("parameter.protobuf", data)
        z.writestr("parameter.h5", (FIX / "block.h5").read_bytes())
    _refused(model, two, "2 parameter files")
    none = tmp_path / "none.nnp"
    with zipfile.ZipFile(none, "w") as z:
        z.writestr("../parameter.protobuf", data)  # a traversal name is not the member read
        z.writestr("network.nntxt", "")
    _refused(model, none, "no parameter.protobuf")
    not_zip = tmp_path / "not.nnp"
    not_zip.write_bytes(data)
    _refused(model, not_zip, "not a readable .nnp")


def test_unknown_extension_and_nnp_save(projects, tmp_path: Path) -> None:
    model = projects["torch"].create_model()
    _refused(model, tmp_path / "x.pkl", "expected a .npz, .h5, .protobuf, .nnp file")
    with pytest.raises(ValueError, match="saving an .nnp is not supported"):
        model.save_params(tmp_path / "x.nnp")
    assert not (tmp_path / "x.nnp").exists()


def test_h5_needs_h5py_named(projects, tmp_path: Path) -> None:
    """Without h5py, a .h5 is refused in one line naming the package; other formats work."""
    code = (
        "import sys; sys.modules['h5py'] = None; sys.path.insert(0, sys.argv[1])\n"
        "from nndsl.runtime import nnc_params; import numpy as np\n"
        "try:\n    nnc_params.save_params(sys.argv[2] + '/a.h5', {'w': np.zeros(2)})\n"
        "except nnc_params.RunError as e:\n    print(e)\n"
        "nnc_params.save_params(sys.argv[2] + '/a.protobuf', {'w': np.zeros(2)})\n"
        "print(nnc_params.load_params(sys.argv[2] + '/a.protobuf')['w'].shape)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(REPO), str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert run.stdout.splitlines() == [
        "reading or writing .h5 parameter files needs the h5py package: pip install h5py",
        "(2,)",
    ]


# --- live: nnabla reads what the generated models wrote -------------------------------------------

_NNABLA_FORWARD = """
import json, sys
import numpy as np
import nnabla as nn
from nnabla.utils.nnp_graph import NnpLoader
nntxt, params, x_path = sys.argv[1:4]
net = NnpLoader(nntxt).get_network("MainRuntime", batch_size=2)
nn.load_parameters(params)
x = next(iter(net.inputs.values()))
x.d = np.load(x_path)
y = next(iter(net.outputs.values()))
y.forward()
print(json.dumps(y.d.tolist()))
"""


@pytest.mark.skipif(not NNABLA.exists(), reason=f"nnabla's Python not found at {NNABLA} (NNDSL_NNABLA_PYTHON)")
@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_live_nnabla_loads_generated_files(projects, backend: str, tmp_path: Path) -> None:
    """Parameters of a generated model (other values than nnabla's: scaled), saved as .h5 and
    .protobuf, load into nnabla, which then gives the model's output."""
    model = projects[backend].create_model()
    model.load_params(FIX / "block.npz" if (FIX / "block.npz").exists() else FIX / "block.h5")
    model.save_params(tmp_path / "base.npz")
    arrays = dict(np.load(tmp_path / "base.npz"))
    rng = np.random.default_rng(3)
    for name in arrays:
        arrays[name] = arrays[name] * rng.uniform(0.5, 1.5, arrays[name].shape).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (tmp_path / "scaled.npz").write_bytes(buffer.getvalue())
    model.load_params(tmp_path / "scaled.npz")
    x = np.load(FIX / "x.npy")
    ours = _run(backend, model, x)
    for ext in (".h5", ".protobuf"):
        path = tmp_path / f"mine{ext}"
        model.save_params(path)
        run = subprocess.run(
            [str(NNABLA), "-c", _NNABLA_FORWARD, str(FIX / "block.nntxt"), str(path), str(FIX / "x.npy")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        theirs = np.array(json.loads(run.stdout.strip().splitlines()[-1]), dtype=np.float32)
        assert np.abs(theirs - ours).max() <= _scale_tolerance(theirs), ext


# --- train.py --init: training starts from an NNC parameter file ----------------------------------


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_train_init_from_nnc_h5(backend: str, tmp_path: Path) -> None:
    """`train.py --init x.h5` (nnabla's names) starts from those parameters: after one epoch at a
    vanishing learning rate the convolution and affine weights are still the file's; a file that
    does not fit is refused in one line, exit status 1 (torch)."""
    pytest.importorskip("sklearn")
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend
    from nndsl.examples.digits import build_digits_dataset

    train_csv, validation_csv = build_digits_dataset(tmp_path / "digits")
    project = compile_file(HERE.parent.parent / "specs" / "digits.nnd").project
    out = tmp_path / backend
    (torch_backend if backend == "torch" else keras_backend).generate(project, out)
    model = import_generated(out).create_model()
    model.save_params(tmp_path / "init.npz")
    rng = np.random.default_rng(5)
    arrays = {n: a + rng.normal(0, 0.1, a.shape).astype(np.float32) for n, a in np.load(tmp_path / "init.npz").items()}
    model.load_params(_npz(tmp_path / "moved.npz", arrays))
    model.save_params(tmp_path / "init.h5")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    base = [sys.executable, str(out / "train.py"), "--dataset", f"training={train_csv}"]
    base += ["--dataset", f"validation={validation_csv}", "--epochs", "1", "--seed", "0", "--output", str(out / "runs")]
    base += ["--batch-size", "128"]
    run = subprocess.run(
        [*base, "--init", str(tmp_path / "init.h5"), "--lr", "1e-20"], cwd=out, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    trained = np.load(out / "runs" / (out / "runs" / "LATEST").read_text().strip() / "params.npz")
    weights = [n for n in arrays if n.endswith("/W") and "bn" not in n]
    assert weights and all(np.abs(trained[n] - arrays[n]).max() < 1e-5 for n in weights)
    if backend == "keras":
        return  # the same load_params as above; the failing start is shown once (TensorFlow starts slowly)
    bad = tmp_path / "bad.protobuf"
    bad.write_bytes((FIX / "block.protobuf").read_bytes())
    run = subprocess.run([*base, "--init", str(bad)], cwd=out, env=env, capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.strip().count("\n") == 0 and str(bad) in run.stderr, run.stderr


def _npz(path: Path, arrays: dict) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())
    return path
