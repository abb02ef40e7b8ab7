"""Invalid specs with the full text `nndsl lint` prints for each.

Each tests/golden/NAME.nnd has NAME.expected: the complete rendered diagnostics (stderr)
followed by the exit code. Regenerate after an intended change with
NNDSL_UPDATE_GOLDEN=1 pytest tests/test_golden_diagnostics.py and review the diff.
"""

from pathlib import Path

import pytest
from conftest import ROOT, update_golden

from nndsl.cli import main

GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.nnd"))


def run_lint(path: Path, capsys) -> str:
    rel = path.relative_to(ROOT).as_posix()
    code = main(["lint", rel])
    err = capsys.readouterr().err
    return f"{err}exit {code}\n"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path: Path, capsys):
    got = run_lint(path, capsys)
    expected_file = path.with_suffix(".expected")
    if update_golden() or not expected_file.exists():
        expected_file.write_text(got, encoding="utf-8")
    assert got == expected_file.read_text(encoding="utf-8")
    assert "internal error" not in got
    assert "Traceback" not in got


def test_there_are_at_least_40_invalid_specs():
    invalid = [p for p in GOLDEN if "exit 1" in p.with_suffix(".expected").read_text(encoding="utf-8")]
    assert len(invalid) >= 40
