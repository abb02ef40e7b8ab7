"""Regenerate tests/nnc/fixtures/complete/<stem>.json from NNC's own project tool.

For each sample in tests/nnc/samples/*.sdcproj (NNC's) and each case in
tests/nnc/fixtures/import_cases/*.sdcproj (small projects written for the importer's tests,
which NNC's error_check accepts) this runs NNC's `complete` (every layer's
`Output` shape and `CostParameter`) and `create_prototxt` (the parameter variables nnabla
gets), and stores, per network, {layer name: [output shape, parameter count]} and the sorted
parameter names:

    python tools/nnc_complete_fixtures.py [--tool /work/shared/nnc-tools/nncd_console]

The tool must run with its own folder as the working directory, on absolute paths.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.nnc.sdcproj import read_sdcproj  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="/work/shared/nnc-tools/nncd_console")
    args = ap.parse_args()
    tool = Path(args.tool).resolve()
    out_dir = ROOT / "tests/nnc/fixtures/complete"
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = sorted((ROOT / "tests/nnc/fixtures/import_cases").glob("*.sdcproj"))
    for sample in [*sorted((ROOT / "tests/nnc/samples").glob("*.sdcproj")), *cases]:
        with tempfile.TemporaryDirectory() as tmp:
            done = Path(tmp) / "complete.sdcproj"
            nntxt = Path(tmp) / "x.nntxt"
            run = [str(tool / "nncd_console_cli_util")]
            subprocess.run(
                [*run, "complete", "-i", str(sample), "-o", str(done)], cwd=tool, check=True, capture_output=True
            )
            subprocess.run(
                [*run, "create_prototxt", "-i", str(sample), "-o", str(nntxt), "-p", str(Path(tmp) / "p.csv")],
                cwd=tool,
                capture_output=True,
            )
            project = read_sdcproj(done)
            networks = {}
            for net in project.networks:
                layers = {}
                for layer in net.layers:
                    if "Output" in layer.props:
                        shape = [int(v) for v in layer.props["Output"].split(",") if v.strip()]
                        layers[layer.name] = [shape, int(layer.props.get("CostParameter", "0") or 0)]
                networks[net.name] = {"layers": layers}
            if nntxt.exists():
                text = nntxt.read_text()
                for block in re.split(r"\nnetwork \{\n", text)[1:]:
                    name = re.search(r'name: "([^"]+)"', block)[1]
                    body = block[: block.find("\n}\n")]
                    params = sorted(set(re.findall(r'variable \{\n\s+name: "([^"]+)"\n\s+type: "Parameter"', body)))
                    networks.setdefault(name, {"layers": {}})["parameters"] = params
                    networks[name]["functions"] = _function_counts(body)
        (out_dir / f"{sample.stem}.json").write_text(json.dumps(networks, indent=1, sort_keys=True) + "\n")
        print(sample.stem)
    unit_overrides(tool, out_dir)
    return 0


def _function_counts(body: str) -> dict[str, int]:
    """How many of each nnabla function a network of an .nntxt runs, its repeats expanded
    (a function with repeat_id R runs `times` of R times, nested repeats multiplying); the
    RepeatStart/RepeatEnd/RecurrentInput bookkeeping functions are left out."""
    times = dict(re.findall(r'repeat_info \{\n\s+id: "([^"]+)"\n\s+times: (\d+)', body))
    counts: dict[str, int] = {}
    for block in re.findall(r"\n  function \{\n(.*?)\n  \}", body, re.S):
        type_ = re.search(r'type: "([^"]+)"', block)[1]
        if type_ in ("RepeatStart", "RepeatEnd"):
            continue
        n = 1
        for rid in re.findall(r'repeat_id: "([^"]+)"', block):
            n *= int(times[rid])
        counts[type_] = counts.get(type_, 0) + n
    return counts


SQUEEZENET = "image_recognition_ILSVRC2012_squeezenet_squeezenet11.sdcproj"


def edited_squeezenet(case: str) -> str:
    """SqueezeNet with FireModule_2's Squeeze.W.InitializerMultiplier changed: "inner" in the
    SqueezeNet network's own FireModule_2 instance (2.0), "outer" in the nested property the
    Top5Error network's SqueezeNet instance sets (3.0). tests/nnc/test_import_sdcproj.py
    makes the same edits."""
    lines = (ROOT / "tests/nnc/samples" / SQUEEZENET).read_text().splitlines()
    if case == "inner":
        i = lines.index("[SqueezeNet_Layer_8]")
        j = next(k for k in range(i, len(lines)) if lines[k] == "Property_6_Name=Squeeze.W.InitializerMultiplier")
        lines[j + 1] = lines[j + 1].split("=")[0] + "=2.0"
    else:
        i = lines.index("[Top5Error_Layer_2]")
        j = next(
            k for k in range(i, len(lines)) if lines[k].endswith("_Name=FireModule_2.Squeeze.W.InitializerMultiplier")
        )
        lines[j + 1] = lines[j + 1].split("=")[0] + "=3.0"
    return "\n".join(lines) + "\n"


def unit_overrides(tool: Path, out_dir: Path) -> None:
    """unit_overrides.json: {case: {network: the initializer multiplier create_prototxt gives
    FireModule_2/Squeeze/conv/W}}."""
    found: dict[str, dict[str, float]] = {}
    for case in ("inner", "outer"):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "sq.sdcproj"
            src.write_text(edited_squeezenet(case))
            nntxt = Path(tmp) / "sq.nntxt"
            run = [str(tool / "nncd_console_cli_util"), "create_prototxt", "-i", str(src), "-o", str(nntxt)]
            subprocess.run([*run, "-p", str(Path(tmp) / "p.csv")], cwd=tool, check=True, capture_output=True)
            for block in re.split(r"\nnetwork \{\n", nntxt.read_text())[1:]:
                name = re.search(r'name: "([^"]+)"', block)[1]
                variable = r'name: "FireModule_2/Squeeze/conv/W"\n.*\n.*\n'
                m = re.search(variable + r'\s+initializer \{\n\s+type: "\w+"\n\s+multiplier: ([\d.e+-]+)', block)
                found.setdefault(case, {})[name] = float(m[1])
    (out_dir / "unit_overrides.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print("unit_overrides")


if __name__ == "__main__":
    sys.exit(main())
