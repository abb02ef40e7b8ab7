"""The project's own code is ruff-clean (lint and format), as generated code will be."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
PATHS = ["nndsl", "tests", "tools", "benchmarks", "templates"]


@pytest.mark.skipif(RUFF is None, reason="ruff is part of the dev extra")
@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command):
    r = subprocess.run([RUFF, *command, *PATHS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
