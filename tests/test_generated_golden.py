"""Golden files of the generated projects: for every spec in specs/ and each backend, the files the
compiler writes for that spec (model.py, README.md, config.json; the runtime package nndsl_runtime/
and the scripts are copies of nndsl/runtime/ and templates/ and reviewed there) are stored under
tests/generated/<spec>.<backend>/, so that a change to code generation is reviewed as a diff of
generated code.

After an intended change, refresh them with

    NNDSL_UPDATE_GOLDEN=1 python -m pytest tests/test_generated_golden.py

and review `git diff tests/generated/`.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

from nndsl.backends.templating import RUNTIME, runtime_dir, static_files
from nndsl.compiler import compile_file

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "generated"
SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.nnd"))
BACKENDS = ("torch", "keras")
UPDATE = os.environ.get("NNDSL_UPDATE_GOLDEN") == "1"
# The runtime modules a project ships (`templating.runtime_files`), one per line: a project that gains
# or loses one shows in the diff.
RUNTIME_LIST = "runtime-files.txt"


def _generated(spec: str, backend: str) -> dict[str, str]:
    result = compile_file(ROOT / "specs" / f"{spec}.nnd")
    assert result.ok, [d.message for d in result.diagnostics]
    module = importlib.import_module(f"nndsl.backends.{backend}")
    # The golden folder is where the project is generated, so that config.json's dataset paths
    # (relative to the project) are the same in every checkout.
    files = module.project_files(result.project, GOLDEN / f"{spec}.{backend}")
    copies = static_files(backend, module.STATIC)
    runtime = {name for name in files if name.startswith(f"{RUNTIME}/")}
    for name in runtime:  # the runtime's modules, copied as they are: the golden files list which
        assert files[name] == (runtime_dir() / name.removeprefix(f"{RUNTIME}/")).read_text(encoding="utf-8")
    kept = {name: text for name, text in files.items() if copies.get(name) != text and name not in runtime}
    kept[RUNTIME_LIST] = "".join(f"{name}\n" for name in sorted(runtime))
    return kept


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("spec", SPECS)
def test_generated_files_equal_the_golden_ones(spec, backend):
    folder = GOLDEN / f"{spec}.{backend}"
    files = _generated(spec, backend)
    assert {"model.py", "README.md", "config.json"} <= set(files)
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in set(p.name for p in folder.iterdir()) - set(files):
            (folder / stale).unlink()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    stored = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()} if folder.is_dir() else {}
    assert sorted(stored) == sorted(files), f"refresh with NNDSL_UPDATE_GOLDEN=1 ({folder})"
    changed = [name for name in files if stored[name] != files[name]]
    assert not changed, (
        f"{spec}.{backend}: {changed} differ from the golden files; review, then refresh with NNDSL_UPDATE_GOLDEN=1"
    )


def test_every_golden_folder_belongs_to_a_spec():
    expected = {f"{s}.{b}" for s in SPECS for b in BACKENDS}
    assert {p.name for p in GOLDEN.iterdir()} == expected
