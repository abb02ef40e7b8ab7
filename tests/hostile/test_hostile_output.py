"""Hostile output folders: `-o` onto a file, under a file, into a read-only folder, with a
broken or unreadable manifest, or with a non-UTF-8 name gives a clear error (exit 1), never
an internal one; concurrent compiles into one folder never mix their files; `--format json`
prints exactly one JSON document whatever happens."""

import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT

NNDSL = shutil.which("nndsl", path=str(Path(sys.executable).parent)) or shutil.which("nndsl")
SPEC = ROOT / "specs" / "digits.nnd"


def nndsl(*args, cwd=ROOT, **kwargs):
    assert NNDSL, "the nndsl console script is not installed"
    argv = [NNDSL, *(a if isinstance(a, bytes) else str(a) for a in args)]
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, errors="replace", **kwargs)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    return r


def compile_json(out, *extra, spec=SPEC, backend="torch"):
    r = nndsl("compile", spec, "--backend", backend, "-o", out, "--format", "json", *extra)
    return r, json.loads(r.stdout)  # json.loads refuses an empty stdout and a second document


def test_output_onto_a_file_or_under_a_file(tmp_path):
    (tmp_path / "file").write_text("mine")
    for out, reason in [(tmp_path / "file", "it is a file, not a folder"), (tmp_path / "file" / "sub", "is a file")]:
        r = nndsl("compile", SPEC, "--backend", "torch", "-o", out)
        assert r.returncode == 1 and f"error[E0901]: cannot write '{out}'" in r.stderr and reason in r.stderr
        r, doc = compile_json(out)
        assert r.returncode == 1 and doc["errors"] == 1 and doc["diagnostics"][0]["code"] == "E0901"
    assert (tmp_path / "file").read_text() == "mine"


def test_a_folder_where_a_generated_file_goes(tmp_path):
    (tmp_path / "model.py").mkdir()
    r = nndsl("compile", SPEC, "--backend", "keras", "-o", tmp_path)
    assert r.returncode == 1 and "E0901" in r.stderr and "model.py" in r.stderr


def _without_root_override() -> None:
    """In the child, before exec: drop the capabilities that let root write anywhere
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so folder permissions apply to it as to a user."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_folder(tmp_path):
    as_user = {"preexec_fn": _without_root_override} if os.geteuid() == 0 else {}
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for out in (ro, ro / "sub"):
            r = nndsl("compile", SPEC, "--backend", "torch", "-o", out, **as_user)
            assert r.returncode == 1, r.stderr
            assert "error[E0901]: cannot write" in r.stderr and "Permission denied" in r.stderr
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("manifest", [b"{not json", b"[1, 2]", b'{"model.py": 3}', b"\xff\xfe"])
def test_a_broken_manifest_stops_the_write_unless_forced(tmp_path, manifest):
    assert nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path).returncode == 0
    (tmp_path / "model.py").write_text("# my edit\n")
    (tmp_path / ".nndsl-manifest.json").write_bytes(manifest)
    r, doc = compile_json(tmp_path)
    assert r.returncode == 1 and [d["code"] for d in doc["diagnostics"]] == ["E0904"]
    assert ".nndsl-manifest.json" in doc["diagnostics"][0]["message"]
    assert (tmp_path / "model.py").read_text() == "# my edit\n"
    forced = nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert isinstance(json.loads((tmp_path / ".nndsl-manifest.json").read_text()), dict)


def test_an_unreadable_manifest(tmp_path):
    (tmp_path / ".nndsl-manifest.json").mkdir()
    r = nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path)
    assert r.returncode == 1 and "error[E0904]: cannot use the manifest" in r.stderr
    forced = nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path, "--force")
    assert forced.returncode == 1 and "error[E0901]" in forced.stderr


def test_a_non_utf8_output_folder(tmp_path):
    out = os.fsencode(tmp_path) + b"/out-\xff\xfe"
    r = nndsl("compile", SPEC, "--backend", "torch", "-o", out)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(out + b"/model.py")


def test_json_is_one_document_for_an_unsupported_layer(tmp_path, monkeypatch, capsys):
    """An emitter made to refuse stands for a configuration a backend cannot express (every layer type
    lowers in both backends now)."""
    from nndsl import cli
    from nndsl.backends.builder import Unsupported
    from nndsl.backends.check import emitters

    def refuse(layer, ins, out):
        raise Unsupported("a configuration this test's emitter refuses")

    monkeypatch.setitem(emitters("torch"), "BatchNormalization", refuse)
    spec = tmp_path / "bn_axes.nnd"
    spec.write_text(
        "network Runtime {\n    x = Input(3x4x4)\n    y = x -> BatchNormalization(axes=1) -> Affine(2)\n}\n"
    )
    code = cli.main(["compile", str(spec), "--backend", "torch", "-o", str(tmp_path / "out"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)  # json.loads refuses an empty stdout and a second document
    assert code == 1 and doc["errors"] == 1 and doc["diagnostics"][0]["code"] == "E0801"


def test_json_counts_a_refused_overwrite_as_an_error(tmp_path):
    assert nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path).returncode == 0
    (tmp_path / "model.py").write_text("# my edit\n")
    r, doc = compile_json(tmp_path)
    assert r.returncode == 1 and doc["errors"] == 1
    (d,) = doc["diagnostics"]
    assert d["code"] == "E0902" and "model.py" in d["message"] and "--force" in d["help"]
    text = nndsl("compile", SPEC, "--backend", "torch", "-o", tmp_path)
    assert "changed since nndsl generated it" in text.stderr


def test_json_reports_an_internal_error_as_one_document(monkeypatch, capsys, tmp_path):
    from nndsl import cli
    from nndsl.backends import torch as torch_backend

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(torch_backend, "generate", boom)
    monkeypatch.delenv("NNDSL_DEBUG", raising=False)
    args = ["compile", str(SPEC), "--backend", "torch", "-o", str(tmp_path), "--format", "json"]
    assert cli.main(args) == 3
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == 1 and doc["diagnostics"][0]["code"] == "E0919"
    assert "simulated bug" in doc["diagnostics"][0]["message"]


def test_summary_json_with_errors_is_one_document():
    r = nndsl("summary", "--format", "json", "tests/golden/unknown_layer.nnd")
    assert r.returncode == 1 and json.loads(r.stdout)["diagnostics"][0]["code"] == "E0201"
    r = nndsl("summary", "--format", "json", "--network", "Trainin", SPEC)
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and doc["diagnostics"][0]["code"] == "E0204"
    assert doc["diagnostics"][0]["help"] == "did you mean 'Training'?"


def test_a_compile_holding_the_folder_makes_another_fail_at_once(tmp_path):
    tmp_path.joinpath(".nndsl-lock").touch()
    with open(tmp_path / ".nndsl-lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = nndsl("compile", SPEC, "--backend", "keras", "-o", tmp_path)
        r2, doc = compile_json(tmp_path)
    assert r.returncode == 1
    assert f"error[E0903]: another nndsl compile is writing into '{tmp_path}'; nothing was written" in r.stderr
    assert r2.returncode == 1 and doc["diagnostics"][0]["code"] == "E0903"
    assert not (tmp_path / "model.py").exists()
    assert nndsl("compile", SPEC, "--backend", "keras", "-o", tmp_path).returncode == 0  # the lock is gone


def _consistent(out: Path) -> str:
    """The backend whose project `out` holds; fails if files of both are mixed."""
    manifest = json.loads((out / ".nndsl-manifest.json").read_text())
    for name, digest in manifest.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    kinds = {
        name: "torch" if "import torch" in (out / name).read_text() else "keras" for name in ("model.py", "train.py")
    }
    kinds["README.md"] = "torch" if "a PyTorch project" in (out / "README.md").read_text() else "keras"
    assert len(set(kinds.values())) == 1, kinds
    return kinds["model.py"]


def _compile_into(backend: str, out: Path):
    return nndsl("compile", SPEC, "--backend", backend, "-o", out)


def test_concurrent_compiles_never_mix_their_files(tmp_path):
    for trial in range(6):
        out = tmp_path / f"t{trial}"
        with ThreadPoolExecutor(2) as pool:
            backends = ["torch", "keras"]
            runs = list(zip(backends, pool.map(_compile_into, backends, [out] * 2), strict=True))
        winners = [b for b, r in runs if r.returncode == 0]
        for _, r in runs:
            assert r.returncode == 0 or (r.returncode == 1 and "E0903" in r.stderr and str(out) in r.stderr), r.stderr
        assert winners
        backend = _consistent(out)
        if len(winners) == 1:
            assert backend == winners[0]


def test_compiling_the_other_backend_leaves_no_files_of_the_first(tmp_path):
    """keras then torch in one folder: keras's own generated files go when unchanged and stay when the
    user edited them; a manifest naming a file outside the folder removes nothing there."""
    out, spec = tmp_path / "p", ROOT / "specs" / "lenet.nnd"
    assert nndsl("compile", spec, "--backend", "keras", "-o", out).returncode == 0
    keras_files = {p.relative_to(out).as_posix() for p in out.rglob("*.py")}
    assert {"nndsl_runtime/keras/solvers.py", "nndsl_runtime/keras/metrics.py"} <= keras_files
    (out / "nndsl_runtime" / "keras" / "metrics.py").write_text("# the user's own version\n")
    outside = tmp_path / "keep.txt"
    outside.write_text("mine\n")
    manifest = json.loads((out / ".nndsl-manifest.json").read_text())
    manifest["../keep.txt"] = hashlib.sha256(b"mine\n").hexdigest()
    (out / ".nndsl-manifest.json").write_text(json.dumps(manifest))
    r = nndsl("compile", spec, "--backend", "torch", "-o", out)
    assert r.returncode == 0, r.stderr
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert "nndsl_runtime/keras/solvers.py" not in files  # generated by the keras compile, unchanged: removed
    # the user's change stays
    assert (out / "nndsl_runtime" / "keras" / "metrics.py").read_text() == "# the user's own version\n"
    assert outside.read_text() == "mine\n"
    assert "import torch" in (out / "model.py").read_text()
    assert set(json.loads((out / ".nndsl-manifest.json").read_text())) <= files | {"../keep.txt"}
