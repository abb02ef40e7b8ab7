"""Hostile includes: a spec reads nothing outside its folder tree unless the user widens it,
opens only regular `.nnd` files, never hangs on a FIFO or a device, never prints a file it
refused, and stops deep include chains and symbolic-link loops with positioned errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NNDSL = shutil.which("nndsl", path=str(Path(sys.executable).parent)) or shutil.which("nndsl")
NET = 'network N {\n    x = Input(4, dataset="x")\n    y = x -> Affine(2)\n}\n'
SECRET = "nndsl-test-secret-7f3a9c"


def nndsl(*args, cwd, env=None):
    assert NNDSL, "the nndsl console script is not installed"
    r = subprocess.run(
        [NNDSL, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    return r


def spec(folder: Path, name: str, *includes: str, body: str = NET) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f'include "{i}"\n' for i in includes) + "\n" + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside.nnd", "/proc/self/environ"])
def test_an_include_outside_the_spec_folder_is_refused_unread(tmp_path, target):
    (tmp_path / "outside.nnd").write_text(f"network {SECRET} {{\n", encoding="utf-8")
    main = spec(tmp_path / "a" / "b", "main.nnd", target)
    for fmt in ("text", "json"):
        r = nndsl("lint", "--format", fmt, main, cwd=tmp_path, env={"NNDSL_TEST_SECRET": SECRET})
        assert r.returncode == 1
        assert SECRET not in r.stdout + r.stderr and "root:" not in r.stdout + r.stderr
    (d,) = json.loads(r.stdout)["diagnostics"]
    assert (d["code"], d["line"], d["column"]) == ("E0108", 1, 1)
    assert d["file"].endswith("main.nnd") and "--include-path" in d["help"]


def test_a_symbolic_link_out_of_the_tree_is_refused(tmp_path):
    (tmp_path / "lib.nnd").write_text(f"network {SECRET} {{\n", encoding="utf-8")
    main = spec(tmp_path / "proj", "main.nnd", "lib.nnd")
    (tmp_path / "proj" / "lib.nnd").symlink_to(tmp_path / "lib.nnd")
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 1 and "error[E0108]: cannot include 'lib.nnd'" in r.stderr
    assert SECRET not in r.stderr


def test_include_path_widens_what_includes_may_read(tmp_path):
    spec(tmp_path / "shared", "blocks.nnd", body="unit Head {\n    in x\n    out x -> Affine(2)\n}\n")
    main = spec(
        tmp_path / "proj",
        "main.nnd",
        "../shared/blocks.nnd",
        body='network N {\n    y = Input(4, dataset="x") -> Head\n}\n',
    )
    assert "E0108" in nndsl("lint", main, cwd=tmp_path).stderr
    ok = nndsl("lint", "--include-path", tmp_path / "shared", main, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    summary = nndsl("summary", "--include-path", tmp_path / "shared", main, cwd=tmp_path)
    assert summary.returncode == 0 and "Affine" in summary.stdout
    out = tmp_path / "out"
    built = nndsl("compile", main, "--backend", "torch", "-o", out, "--include-path", tmp_path / "shared", cwd=tmp_path)
    assert built.returncode == 0 and (out / "model.py").exists()
    usage = nndsl("lint", "--include-path", tmp_path / "nowhere", main, cwd=tmp_path)
    assert usage.returncode == 2 and "--include-path" in usage.stderr


def test_only_nnd_files_are_included_and_never_shown(tmp_path):
    (tmp_path / "notes.txt").write_text(f"{SECRET} = 1\n", encoding="utf-8")
    main = spec(tmp_path, "main.nnd", "notes.txt")
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 1 and "error[E0109]: cannot include 'notes.txt'" in r.stderr
    assert SECRET not in r.stderr


def test_a_binary_spec_is_named_but_not_printed(tmp_path):
    (tmp_path / "blob.nnd").write_bytes(f"network {SECRET}\x00 {{\n".encode())
    main = spec(tmp_path, "main.nnd", "blob.nnd")
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 1 and "blob.nnd:1:1: error[E0104]" in r.stderr
    assert SECRET not in r.stderr


def test_fifos_and_devices_are_refused_without_opening_them(tmp_path):
    os.mkfifo(tmp_path / "pipe.nnd")  # opening it for reading would block until a writer comes
    (tmp_path / "zero.nnd").symlink_to("/dev/zero")
    main = spec(tmp_path, "main.nnd", "pipe.nnd")
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 1 and "cannot read 'pipe.nnd': it is not a regular file" in r.stderr
    for top in ("pipe.nnd", "zero.nnd", "/dev/zero", "/dev/urandom"):
        r = nndsl("lint", top, cwd=tmp_path)
        assert r.returncode == 1 and "E0105" in r.stderr and "not a regular file" in r.stderr
    r = nndsl("fmt", "pipe.nnd", cwd=tmp_path)
    assert r.returncode == 1 and "not a regular file" in r.stderr


def test_an_include_chain_3000_deep_stops_at_the_documented_limit(tmp_path):
    for k in range(3000):
        (tmp_path / f"f{k}.nnd").write_text(f'include "f{k + 1}.nnd"\n', encoding="utf-8")
    (tmp_path / "f3000.nnd").write_text(NET, encoding="utf-8")
    r = nndsl("lint", "f0.nnd", cwd=tmp_path)
    assert r.returncode == 1
    # f0 .. f99 are 100 files: the include in the 100th is the one too deep
    assert "f99.nnd:1:1: error[E0110]: includes nest deeper than 100 files" in r.stderr
    assert r.stderr.count("error[") == 1


def test_symbolic_link_loops_are_read_errors(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "a.nnd").symlink_to("b.nnd")
    (tmp_path / "b.nnd").symlink_to("a.nnd")
    main = spec(tmp_path, "main.nnd", "loop/x.nnd", "a.nnd")
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 1
    assert "main.nnd:1:1: error[E0105]: cannot read" in r.stderr and "main.nnd:2:1: error[E0105]" in r.stderr
    assert "symbolic links" in r.stderr
    top = nndsl("lint", "a.nnd", cwd=tmp_path)
    assert top.returncode == 1 and "E0105" in top.stderr


def test_includes_inside_the_tree_still_work(tmp_path):
    spec(tmp_path / "lib", "head.nnd", body="unit Head {\n    in x\n    out x -> Affine(2)\n}\n")
    main = spec(tmp_path, "main.nnd", "lib/head.nnd", body='network N {\n    y = Input(4, dataset="x") -> Head\n}\n')
    r = nndsl("lint", main, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
