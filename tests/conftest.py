import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(p for p in (ROOT / "specs").glob("*.nnd"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    """Diagnostics show paths relative to the working directory: run every test from the root."""
    monkeypatch.chdir(ROOT)


def update_golden() -> bool:
    return os.environ.get("NNDSL_UPDATE_GOLDEN") == "1"
