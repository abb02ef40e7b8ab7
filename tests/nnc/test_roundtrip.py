"""`export(import(sample))` converts, in NNC, to the same network as the sample: for every NNC
sample but the recurrent one, NNC's `create_prototxt` makes of the round trip the functions and
parameters it makes of the sample itself (`nndsl.nnc.roundtrip.network_signature`), and its
`error_check` finds no errors. The fixtures (tools/nnc_roundtrip_fixtures.py, which runs NNC's
tool and refuses to record a round trip NNC converts differently) hold the export's sha256 and
the signature; the signature is checked here against NNC's own conversion of the sample
(tests/nnc/fixtures/nntxt/, written by NNC's tool), and the round trip is run live where the tool
is there."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from nndsl.compiler import compile_file
from nndsl.nnc.export import export_project
from nndsl.nnc.export_check import find_nnc_tools, run_nnc
from nndsl.nnc.importer import import_project
from nndsl.nnc.roundtrip import network_signature
from nndsl.nnc.sdcproj_write import sdcproj_text

HERE = Path(__file__).resolve().parent
SAMPLES = HERE / "samples"
FIXTURES = HERE / "fixtures" / "roundtrip"
NNTXT = HERE / "fixtures" / "nntxt"
STEMS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_sample_but_the_recurrent_one_has_a_round_trip():
    stems = {p.stem for p in SAMPLES.glob("*.sdcproj")} - {"tutorial_recurrent_neural_networks_elman_net"}
    assert set(STEMS) == stems


def _round_trip(stem: str, folder: Path) -> Path:
    sample = folder / f"{stem}.sdcproj"
    shutil.copyfile(SAMPLES / f"{stem}.sdcproj", sample)
    spec = folder / f"{stem}.nnd"
    text, diagnostics = import_project(sample, str(spec))
    assert text is not None, [d.message for d in diagnostics]
    spec.write_text(text, encoding="utf-8")
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    export = folder / f"{stem}.export.sdcproj"
    export.write_text(sdcproj_text(export_project(result)), encoding="utf-8")
    return export


@pytest.mark.parametrize("stem", STEMS)
def test_round_trip_is_the_one_nnc_converted_to_the_samples_networks(stem, tmp_path):
    record = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    export = _round_trip(stem, tmp_path)
    assert hashlib.sha256(export.read_bytes()).hexdigest() == record["sha256"]
    assert record["error_check"] == "No errors were found."
    nnc = network_signature((NNTXT / f"{stem}.nntxt").read_text(encoding="utf-8"))
    assert record["networks"] == nnc  # what NNC made of the round trip is what it makes of the sample


@pytest.mark.skipif(find_nnc_tools() is None, reason="NNC's project tool is not beside the checkout")
@pytest.mark.parametrize("stem", ["tutorial_image_classification_digits", "image_recognition_ILSVRC2012_vgg_vgg-11"])
def test_round_trip_converts_to_the_samples_networks_live(stem, tmp_path):
    tools = find_nnc_tools()
    export = _round_trip(stem, tmp_path)
    verdict = run_nnc(tools, export)
    assert verdict["create_prototxt"] and verdict["error_check"] == "No errors were found."
    sample = tmp_path / f"{stem}.sdcproj"
    assert run_nnc(tools, sample)["create_prototxt"]
    ours = network_signature(export.with_suffix(".nntxt").read_text(encoding="utf-8"))
    theirs = network_signature(sample.with_suffix(".nntxt").read_text(encoding="utf-8"))
    assert {name: ours.get(name) for name in theirs} == theirs
