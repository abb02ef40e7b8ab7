"""Regenerate tests/nnc/fixtures/export/: what NNC's own tool and nnabla made of `nndsl export`.

    PYTHONPATH=. .venv/bin/python tools/nnc_export_fixtures.py [NAME...]

needs NNC's project tool (`NNDSL_NNC_TOOLS`, else `shared/nnc-tools` beside the checkout) and a
Python with nnabla 1.39 (`NNDSL_NNABLA_PYTHON`, else `nnabla-venv/bin/python` beside it). For
every spec in specs/ and tests/nnc/export_specs/ (or the NAMEs given) it:

1. exports the spec (`nndsl.nnc.export`) and keeps the text: `NAME.sdcproj` (or, for exports
   over 120 kB, only `NAME.sdcproj.sha256`, so the big ResNets stay out of the repository);
2. runs NNC's `error_check` and `create_prototxt` on it;
3. converts the same export with an executor for each network no role uses
   (`Exporter.export(every_network=True)`; NNC converts only the networks the config uses) and
   has nnabla build every network of that `.nntxt` and list the parameters it creates (names
   after nnabla's repeat expansion, and shapes);
4. for the small specs (`NUMERIC`), sets seeded parameters (`export_check.seeded_parameters`)
   and inputs in nnabla and runs every network without random layers: `NAME.outputs.npz`;
5. reads from NNC's conversion each optimizer's learning-rate multipliers and each network's
   BatchNormalization batch_stat flags (`nnc_reading`).

`NAME.json` holds the verdicts, nnabla's parameters and the sha256 of the export. It refuses
to write a fixture for an export that NNC's tool does not accept.
"""

from __future__ import annotations

import hashlib
import json
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

sys.path.insert(0, str(ROOT / "tests" / "nnc"))
from nntxt_export_cases import NOT_NNC  # noqa: E402  (specs NNC cannot hold: no fixture)

FIXTURES = ROOT / "tests" / "nnc" / "fixtures" / "export"
SPECS = [p for p in sorted((ROOT / "specs").glob("*.nnd")) if p.stem not in NOT_NNC]
SPECS += sorted((ROOT / "tests" / "nnc" / "export_specs").glob("*.nnd"))
# Specs small enough to run in nnabla (and in the tests, in PyTorch) at batch 2.
NUMERIC = (
    "lenet",
    "digits",
    "cifar10_resnet",
    "units",
    "repeats",
    "if_units",
    "derived",
    "targets",
    "pins",
    "layers",
    "aux_heads",
    "mobile_blocks",
    "transfer",
    "slices",
)
FULL_TEXT_LIMIT = 120_000
BATCH = 2


def export(spec: Path) -> tuple[str, str, Exporter]:
    """The export `nndsl export` writes, the same with every network converted, and the exporter."""
    result = compile_file(spec)
    if not result.ok:
        raise SystemExit(f"{spec}: does not compile")
    text = sdcproj_text(Exporter(result).export())
    exporter = Exporter(result)
    return text, sdcproj_text(exporter.export(every_network=True)), exporter


def nnabla_inputs(exporter: Exporter) -> dict[str, np.ndarray]:
    """Seeded inputs of every network without random layers, by nnabla's `NETWORK/VARIABLE`."""
    io = nnabla_io(exporter)
    out = {}
    for net in exporter.project.networks:
        if ec.deterministic(net):
            for name, array in ec.seeded_inputs(net, BATCH).items():
                for variable in io[net.name]["inputs"][name]:
                    out[f"{net.name}/{variable}"] = array
    return out


def nnc_reading(nntxt: Path) -> dict:
    """What NNC's conversion says about training: each optimizer's learning-rate multiplier of every
    parameter (nnabla's names) and each network's BatchNormalization batch_stat flags, by function."""
    from nndsl.nnc.prototext import parse

    root = parse(nntxt.read_text(encoding="utf-8"))
    return {
        "learning_rate_multipliers": {
            opt.scalar("name"): {
                pv.scalar("variable_name"): float(pv.scalar("learning_rate_multiplier", "1"))
                for pv in opt.messages("parameter_variable")
            }
            for opt in root.messages("optimizer")
        },
        "batch_stat": {
            net.scalar("name"): {
                fn.scalar("name"): fn.messages("batch_normalization_param")[0].scalar("batch_stat")
                for fn in net.messages("function")
                if fn.scalar("type") == "BatchNormalization"
            }
            for net in root.messages("network")
        },
    }


def main(names: list[str]) -> int:
    tools, python = ec.find_nnc_tools(), ec.find_nnabla_python()
    if tools is None or python is None:
        print("needs NNC's tool and nnabla (see the docstring)", file=sys.stderr)
        return 2
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        name = spec.stem
        if names and name not in names:
            continue
        text, whole, exporter = export(spec)
        with tempfile.TemporaryDirectory() as tmp:
            for kind, content in (("export", text), ("export with every network", whole)):
                path = Path(tmp) / f"{name}.sdcproj"
                path.write_text(content, encoding="utf-8")
                verdict = ec.run_nnc(tools, path)
                if verdict["error_check"] != "No errors were found." or not verdict["create_prototxt"]:
                    print(f"{name}: NNC's tool refuses the {kind}:\n{verdict['error_check']}", file=sys.stderr)
                    return 1
            read = nnc_reading(path.with_suffix(".nntxt"))
            numeric = name in NUMERIC
            table = export_parameter_table(exporter)
            params = ec.seeded_parameters(table) if numeric else None
            inputs = nnabla_inputs(exporter) if numeric else {}
            outputs, created = ec.run_nnabla(python, path.with_suffix(".nntxt"), params, inputs, Path(tmp) / "out.npz")
        record = {
            "spec": str(spec.relative_to(ROOT)),
            "sdcproj_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "error_check": verdict["error_check"],
            "create_prototxt": verdict["create_prototxt"],
            "nnabla_parameters": created,
            **read,
            "batch": BATCH,
            "outputs": sorted(outputs),
        }
        (FIXTURES / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        if len(text) <= FULL_TEXT_LIMIT:
            (FIXTURES / f"{name}.sdcproj").write_text(text, encoding="utf-8")
        if numeric:
            np.savez(FIXTURES / f"{name}.outputs.npz", **outputs)
        print(f"{name}: accepted by NNC, {len(created)} parameters in nnabla, {len(outputs)} outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
