"""Generated projects are ruff-clean (lint and format) under the `ruff.toml` they ship: every
file of every spec's project in both backends, and the models of random specs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SPECS
from hypothesis import HealthCheck, given, settings
from random_specs import specs

from nndsl.backends import keras as keras_backend
from nndsl.backends import torch as torch_backend
from nndsl.compiler import compile_file

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
BACKENDS = {"torch": torch_backend, "keras": keras_backend}
pytestmark = pytest.mark.skipif(RUFF is None, reason="ruff is part of the dev extra")


def ruff_clean(project_dir: Path, path: str = ".") -> None:
    """`ruff check` and `ruff format --check` in the project, as its user would run them."""
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([RUFF, *command, path], cwd=project_dir, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"ruff {command[0]} in {project_dir}:\n{r.stdout}{r.stderr}"


GOLDEN = Path(__file__).resolve().parent / "generated"


def _runtime_files(spec: str, backend: str) -> set[str]:
    return set((GOLDEN / f"{spec}.{backend}" / "runtime-files.txt").read_text(encoding="utf-8").split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_generated_file_is_ruff_clean(backend, tmp_path):
    """Every spec's project, checked as its user would check it, with the project's ruff.toml. A
    project is the files every project shares (the scripts, ruff.toml, the runtime modules it needs,
    copied as they are) and its spec's own (model.py; README.md and the JSON files are not Python).
    So: one generated project that ships every runtime module any spec needs, with every spec's
    model.py beside its own, as the golden files hold them (tests/test_generated_golden.py holds them
    equal to what the compiler writes): one ruff run checks them all, as each project's would."""
    specs = [p.stem for p in SPECS]
    every = set().union(*(_runtime_files(spec, backend) for spec in specs))
    full = next(s for s in specs if _runtime_files(s, backend) == every)  # a project that ships them all
    result = compile_file(Path("specs") / f"{full}.nnd")
    assert result.ok
    BACKENDS[backend].generate(result.project, tmp_path)
    assert (tmp_path / "ruff.toml").is_file()
    for spec in specs:
        shutil.copy(GOLDEN / f"{spec}.{backend}" / "model.py", tmp_path / f"model_{spec}.py")
    ruff_clean(tmp_path)


FROZEN_SPEC = """network Training {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> fc: Affine(3, w_lrate_multiplier=FROZEN_W) -> SoftmaxCrossEntropy(y)
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("frozen", ["one", "two"])
def test_frozen_parameters_are_ruff_clean(backend, frozen, tmp_path):
    """FROZEN with one name is `("fc/b",)` on one line, as ruff writes a one-element tuple."""
    text = FROZEN_SPEC.replace("FROZEN_W", "1, b_lrate_multiplier=0" if frozen == "one" else "0, b_lrate_multiplier=0")
    result = compile_file("frozen.nnd", text=text)
    assert result.ok, [d.message for d in result.diagnostics]
    BACKENDS[backend].generate(result.project, tmp_path)
    model = (tmp_path / "model.py").read_text(encoding="utf-8")
    assert ('FROZEN = ("fc/b",)' if frozen == "one" else 'FROZEN = ("fc/W", "fc/b")') in model
    ruff_clean(tmp_path, "model.py")


@given(text=specs())
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_random_spec_models_are_ruff_clean(text, tmp_path_factory):
    result = compile_file("random.nnd", text=text)
    assert result.ok, (text, [d.message for d in result.diagnostics])
    out = tmp_path_factory.mktemp("random")
    for name, backend in BACKENDS.items():
        backend.generate(result.project, out / name)
        ruff_clean(out / name, "model.py")  # the static files are checked above
