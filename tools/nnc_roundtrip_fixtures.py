"""Regenerate tests/nnc/fixtures/roundtrip/: NNC's verdict on `export(import(sample))`.

    PYTHONPATH=. .venv/bin/python tools/nnc_roundtrip_fixtures.py [STEM ...]

needs NNC's project tool (`NNDSL_NNC_TOOLS`, else `shared/nnc-tools` beside the checkout). For
every sample in tests/nnc/samples/ but the recurrent one (or the STEMs given): imports it
(`nndsl import`), exports the import (`nndsl export`), has NNC's `error_check` and
`create_prototxt` run on the export and `create_prototxt` on the sample, and compares the two
conversions network by network (`nndsl.nnc.roundtrip.network_signature`: the functions each
network runs and the parameters it creates). `STEM.json` holds the export's sha256, NNC's
verdicts and the signature; the script refuses to write a fixture for a round trip that NNC
does not convert to the sample's networks.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nndsl.nnc.export_check import find_nnc_tools, run_nnc  # noqa: E402
from nndsl.nnc.roundtrip import network_signature  # noqa: E402

SAMPLES = ROOT / "tests" / "nnc" / "samples"
OUT = ROOT / "tests" / "nnc" / "fixtures" / "roundtrip"
RECURRENT = "tutorial_recurrent_neural_networks_elman_net"


def nndsl(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "nndsl", *args], check=True, capture_output=True, text=True, cwd=ROOT)


def round_trip(stem: str, tools: Path, work: Path) -> dict:
    sample = work / f"{stem}.sdcproj"
    shutil.copyfile(SAMPLES / f"{stem}.sdcproj", sample)
    spec, export = work / f"{stem}.nnd", work / f"{stem}.export.sdcproj"
    nndsl("import", str(sample), "-o", str(spec))
    nndsl("export", str(spec), "-o", str(export))
    verdict = run_nnc(tools, export)
    original = run_nnc(tools, sample)
    if not (verdict["create_prototxt"] and original["create_prototxt"]):
        raise SystemExit(f"{stem}: NNC did not convert {'the export' if original['create_prototxt'] else 'the sample'}")
    ours = network_signature(export.with_suffix(".nntxt").read_text(encoding="utf-8"))
    theirs = network_signature(sample.with_suffix(".nntxt").read_text(encoding="utf-8"))
    for name, want in theirs.items():
        if ours.get(name) != want:
            raise SystemExit(f"{stem}: network {name} converts differently after the round trip")
    return {
        "sha256": hashlib.sha256(export.read_bytes()).hexdigest(),
        "error_check": verdict["error_check"],
        "networks": theirs,
    }


def main(stems: list[str]) -> None:
    tools = find_nnc_tools()
    if tools is None:
        raise SystemExit("NNC's project tool not found (set NNDSL_NNC_TOOLS)")
    OUT.mkdir(parents=True, exist_ok=True)
    stems = stems or sorted(p.stem for p in SAMPLES.glob("*.sdcproj") if p.stem != RECURRENT)
    for stem in stems:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                record = round_trip(stem, tools, Path(tmp))
            except SystemExit as e:
                print(e)
                continue
        (OUT / f"{stem}.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"{stem}: NNC converts the round trip to the sample's {len(record['networks'])} networks")


if __name__ == "__main__":
    main(sys.argv[1:])
