"""The message table, the code and docs/diagnostics.md agree on the set of codes."""

import re

from conftest import ROOT

from nndsl.diagnostics import MESSAGES

DOC = (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")
SOURCE = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "nndsl").rglob("*.py"))


def test_every_code_is_documented():
    documented = set(re.findall(r"^\| ([EW]\d+) \|", DOC, re.M))
    assert documented == set(MESSAGES)


def test_every_code_used_in_the_source_exists_and_every_code_is_used():
    used = set(re.findall(r"""["']([EW]\d{3,4})["']""", SOURCE.replace('"E0000"', "")))
    assert used == set(MESSAGES), (used - set(MESSAGES), set(MESSAGES) - used)


def test_codes_are_well_formed_and_severities_match():
    for code, (severity, template) in MESSAGES.items():
        assert re.fullmatch(r"E0\d{3}|W1\d{2}", code)
        assert severity == ("error" if code.startswith("E") else "warning")
        assert template
