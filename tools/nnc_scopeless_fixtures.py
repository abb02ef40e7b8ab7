"""Regenerate tests/nnc/fixtures/scopeless/: what NNC's tool makes of scope-less unit calls.

    PYTHONPATH=. .venv/bin/python tools/nnc_scopeless_fixtures.py

needs NNC's project tool (`NNDSL_NNC_TOOLS`, else `shared/nnc-tools` beside the checkout).
Writes `nnc.json` with, for each case, NNC's `error_check` verdict, whether `create_prototxt`
converted it, the sha256 of the project it was given, and the parameter variables of each
network it wrote (nnabla's names, a repeat's copies as `{RepeatStart}`):

- "export": `nndsl export tests/nnc/fixtures/scopeless/scopeless.nnd` (scope-less calls at the top
  of networks, inside a unit, inside a repeat, beside a scoped call of the same unit);
- "two_calls": `two_calls_sdcproj()`, two Unit layers of empty ParameterScope calling one
  network inside one network (NNC gives both one set of parameters; the importer refuses it).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nndsl.nnc.export_check import find_nnc_tools, run_nnc  # noqa: E402

FIX = ROOT / "tests" / "nnc" / "fixtures" / "scopeless"

TWO_CALLS = """\
unit Body {
    in x
    out x -> conv1: Convolution(1, kernel=1x1) -> ReLU
}

network Training {
    x = Input(1x4x4, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> b1: Body -> b2: Body -> Affine(3) -> Softmax -> CategoricalCrossEntropy(y)
}
"""


def export_text(spec: Path) -> str:
    from nndsl.compiler import compile_file
    from nndsl.nnc.export import export_project
    from nndsl.nnc.sdcproj_write import sdcproj_text

    result = compile_file(spec)
    assert result.ok, [str(d) for d in result.diagnostics]
    return sdcproj_text(export_project(result))


def empty_scopes(text: str) -> str:
    """Every Unit layer's ParameterScope emptied (what NNC's editor does when a user clears it)."""
    lines = text.splitlines()
    unit = False
    for i, line in enumerate(lines):
        if line.startswith("Type="):
            unit = line == "Type=Unit"
        if unit and re.fullmatch(r"Property_\d+_Name=ParameterScope", line):
            lines[i + 1] = lines[i + 1].split("=", 1)[0] + "="
    return "\n".join(lines) + "\n"


def two_calls_sdcproj(work: Path) -> str:
    """TWO_CALLS exported, its two Unit layers' scopes emptied: tests/nnc/test_scopeless_units.py
    makes the same project with this function."""
    spec = work / "two_calls.nnd"
    spec.write_text(TWO_CALLS, encoding="utf-8")
    return empty_scopes(export_text(spec))


def parameters(nntxt: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for block in re.split(r"\nnetwork \{\n", nntxt)[1:]:
        name = re.search(r'name: "([^"]+)"', block)[1]
        found[name] = re.findall(r'name: "([^"]+)"\n    type: "Parameter"', block)
    return found


def main() -> None:
    tools = find_nnc_tools()
    if tools is None:
        raise SystemExit("NNC's project tool not found (set NNDSL_NNC_TOOLS)")
    record = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = {"export": export_text(FIX / "scopeless.nnd"), "two_calls": two_calls_sdcproj(work)}
        for case, text in cases.items():
            sdcproj = work / f"{case}.sdcproj"
            sdcproj.write_text(text, encoding="utf-8")
            verdict = run_nnc(tools, sdcproj)
            verdict["sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            nntxt = sdcproj.with_suffix(".nntxt")
            verdict["parameters"] = parameters(nntxt.read_text(encoding="utf-8")) if nntxt.exists() else {}
            record[case] = verdict
    (FIX / "nnc.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps({k: (v["error_check"], v["create_prototxt"]) for k, v in record.items()}))


if __name__ == "__main__":
    main()
