"""nnabla runs the exported networks, and with the same parameters gives the generated
PyTorch model's outputs.

For each small spec, tools/nnc_export_fixtures.py set seeded parameters
(`export_check.seeded_parameters`, nnabla's names from the export's parameter table) and
seeded inputs in nnabla, ran every network without random layers of the `.nntxt` NNC's
create_prototxt made from the export, and stored nnabla's outputs. Here the generated
PyTorch project loads the same parameters through its own `load_params` and runs the same
inputs: max abs difference at most 1e-4 of the output's scale. Where nnabla and NNC's tool
are on this machine, nnabla is run again on the export made now.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file
from nndsl.nnc import export_check as ec
from nndsl.nnc.export import Exporter, export_parameter_table, nnabla_io
from nndsl.nnc.sdcproj_write import sdcproj_text

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "nnc" / "fixtures" / "export"
NUMERIC = sorted(p.name.removesuffix(".outputs.npz") for p in FIXTURES.glob("*.outputs.npz"))


def _spec(name: str) -> Path:
    path = ROOT / "specs" / f"{name}.nnd"
    return path if path.exists() else ROOT / "tests" / "nnc" / "export_specs" / f"{name}.nnd"


def _setup(name: str):
    result = compile_file(_spec(name))
    assert result.ok
    exporter = Exporter(result)
    text = sdcproj_text(exporter.export(every_network=True))  # NNC converts every network of it
    table = export_parameter_table(exporter)
    params = ec.seeded_parameters(table)
    batch = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["batch"]
    inputs = {net.name: ec.seeded_inputs(net, batch) for net in result.project.networks if ec.deterministic(net)}
    return result.project, exporter, text, table, params, inputs


def _compare(project, exporter, nnabla: dict[str, np.ndarray], torch_out, inputs) -> float:
    """Every output of every network run: torch against nnabla; the worst relative difference.
    An output that is an input of the network in NNC (a random layer with skip_at_test, left out
    where no optimizer trains, between them) must be that input."""
    io = nnabla_io(exporter)
    worst = 0.0
    compared = 0
    for net, outputs in torch_out.items():
        fed = {variable: inputs[net][k] for k, variables in io[net]["inputs"].items() for variable in variables}
        for name, got in outputs.items():
            variable = io[net]["outputs"][name][0]
            if variable in fed:
                np.testing.assert_array_equal(got.reshape(fed[variable].shape), fed[variable])
                continue
            key = f"{net}/{variable}"
            if key not in nnabla:  # an output a Unit layer gives: nnabla names it inside the unit
                candidates = [k for k in nnabla if k.startswith(f"{net}/")]
                assert len(candidates) == len(outputs) == 1, (key, candidates)
                key = candidates[0]
            want = nnabla[key]
            assert got.size == want.size, key
            diff = float(np.abs(got.reshape(want.shape) - want).max())
            scale = max(float(np.abs(want).max()), 1e-6)
            assert diff <= 1e-4 * scale, (key, diff, scale)
            worst = max(worst, diff / scale)
            compared += 1
    assert compared == len(nnabla) > 0  # every output nnabla gave was compared
    return worst


@pytest.mark.parametrize("name", NUMERIC)
def test_torch_equals_nnabla_on_the_export(name, tmp_path):
    project, exporter, _, table, params, inputs = _setup(name)
    with np.load(FIXTURES / f"{name}.outputs.npz", allow_pickle=False) as z:
        nnabla = {k: z[k] for k in z.files}
    torch_out = ec.torch_outputs(project, params, table, inputs, tmp_path / "torch")
    _compare(project, exporter, nnabla, torch_out, inputs)


@pytest.mark.parametrize("name", NUMERIC)
def test_torch_equals_nnabla_live(name, tmp_path):
    tools, python = ec.find_nnc_tools(), ec.find_nnabla_python()
    if tools is None or python is None:
        pytest.skip("NNC's tool or nnabla is not on this machine (NNDSL_NNC_TOOLS, NNDSL_NNABLA_PYTHON)")
    project, exporter, text, table, params, inputs = _setup(name)
    path = tmp_path / f"{name}.sdcproj"
    path.write_text(text, encoding="utf-8")
    assert ec.run_nnc(tools, path)["create_prototxt"]
    io = nnabla_io(exporter)
    feed = {f"{n}/{v}": a for n, arrays in inputs.items() for k, a in arrays.items() for v in io[n]["inputs"][k]}
    nnabla, created = ec.run_nnabla(python, path.with_suffix(".nntxt"), params, feed, tmp_path / "out.npz")
    assert {n: tuple(s) for n, s in created.items()} == {n: tuple(s) for n, s in table.values()}
    torch_out = ec.torch_outputs(project, params, table, inputs, tmp_path / "torch")
    _compare(project, exporter, nnabla, torch_out, inputs)
