"""Regenerate tests/nnc/fixtures/parameter_scope/: what NNC's tool and nnabla make of layers that
share one ParameterScope inside a network (`parameter_scope="enc"` in nndsl).

    PYTHONPATH=. .venv/bin/python tools/nnc_parameter_scope_fixtures.py

needs NNC's project tool (`NNDSL_NNC_TOOLS`, else `shared/nnc-tools` beside the checkout) and a
Python with nnabla 1.39 (`NNDSL_NNABLA_PYTHON`, else `nnabla-venv/bin/python` beside it). For
each spec NAME in tests/nnc/data/parameter_scope/ (`vat.nnd`: one model applied to x and to x + r
in one network, as NNC's virtual adversarial training does, and a shared scope inside a repeat;
`units.nnd`: two unit calls of one parameter_scope, a repeat inside the unit) it:

1. exports the spec (`nndsl.nnc.export`) and keeps it: `NAME.sdcproj` (the NNC project the import
   tests read: layers, or Unit layers, of one ParameterScope in each network);
2. runs NNC's `error_check` and `create_prototxt` on it and records the parameter variables of
   each network create_prototxt wrote (nnabla's names, a repeat's copies as `{RepeatStart}`),
   and keeps that `.nntxt`: `NAME.nntxt` (the import tests read it too);
3. has nnabla build every network of that `.nntxt`, with seeded parameters
   (`export_check.seeded_parameters`) and inputs, and records the parameters nnabla created
   (names and shapes) and every output: `NAME.outputs.npz`.

`NAME.json` holds the verdicts, the parameters and the sha256 of the export. It refuses to write
a fixture for an export that NNC's tool does not accept.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.nnc import export_check as ec  # noqa: E402
from nndsl.nnc.export import Exporter, export_parameter_table, nnabla_io  # noqa: E402
from nndsl.nnc.sdcproj_write import sdcproj_text  # noqa: E402

SPECS = sorted((ROOT / "tests" / "nnc" / "data" / "parameter_scope").glob("*.nnd"))
FIXTURES = ROOT / "tests" / "nnc" / "fixtures" / "parameter_scope"
BATCH = 2  # the batch size tools/nnc_nnabla_run.py builds networks with


def nntxt_parameters(nntxt: str) -> dict[str, list[str]]:
    """Per network of a `.nntxt`, its Parameter variables in file order."""
    found: dict[str, list[str]] = {}
    for block in re.split(r"\nnetwork \{\n", nntxt)[1:]:
        name = re.search(r'name: "([^"]+)"', block)[1]
        found[name] = re.findall(r'name: "([^"]+)"\n    type: "Parameter"', block)
    return found


def main() -> int:
    tools, python = ec.find_nnc_tools(), ec.find_nnabla_python()
    if tools is None or python is None:
        print("needs NNC's tool and nnabla (see the docstring)", file=sys.stderr)
        return 2
    for spec in SPECS:
        status = fixture(spec, tools, python)
        if status:
            return status
    return 0


def fixture(spec: Path, tools: Path, python: Path) -> int:
    name = spec.stem
    result = compile_file(spec)
    if not result.ok:
        print(f"{spec}: does not compile", file=sys.stderr)
        return 1
    exporter = Exporter(result)
    text = sdcproj_text(exporter.export())
    table = export_parameter_table(exporter)
    params = ec.seeded_parameters(table)
    io = nnabla_io(exporter)
    inputs = {}
    for net in result.project.networks:
        for key, array in ec.seeded_inputs(net, BATCH).items():
            for variable in io[net.name]["inputs"][key]:
                inputs[f"{net.name}/{variable}"] = array
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.sdcproj"
        path.write_text(text, encoding="utf-8")
        verdict = ec.run_nnc(tools, path)
        if verdict["error_check"] != "No errors were found." or not verdict["create_prototxt"]:
            print(f"NNC's tool refuses the export:\n{verdict['error_check']}", file=sys.stderr)
            return 1
        nntxt = path.with_suffix(".nntxt").read_text(encoding="utf-8")
        outputs, created = ec.run_nnabla(python, path.with_suffix(".nntxt"), params, inputs, Path(tmp) / "out.npz")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    record = {
        "spec": str(spec.relative_to(ROOT)),
        "sdcproj_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "error_check": verdict["error_check"],
        "create_prototxt": verdict["create_prototxt"],
        "nntxt_parameters": nntxt_parameters(nntxt),
        "nnabla_parameters": created,
        "batch": BATCH,
        "outputs": sorted(outputs),
    }
    (FIXTURES / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    (FIXTURES / f"{name}.sdcproj").write_text(text, encoding="utf-8")
    (FIXTURES / f"{name}.nntxt").write_text(nntxt, encoding="utf-8")
    np.savez(FIXTURES / f"{name}.outputs.npz", **outputs)
    print(f"{name}: accepted by NNC, {len(created)} parameters in nnabla, {len(outputs)} outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
