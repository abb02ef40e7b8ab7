"""NNC's ParameterScope shared inside one network (`parameter_scope="enc"`): export, import, and
the outputs nnabla computed.

tests/nnc/data/parameter_scope/vat.nnd applies one model to x and to x + r in one network (NNC's
virtual adversarial training does) and has a shared scope inside a repeat; units.nnd has two unit
calls of one parameter_scope (NNC: two Unit layers of one ParameterScope). The fixtures
(tests/nnc/fixtures/parameter_scope/, made by tools/nnc_parameter_scope_fixtures.py) hold its
export as NNC's tool accepted it, the parameters create_prototxt and nnabla named, and nnabla's
outputs with seeded parameters. Here: the export is that project; NNC named the parameters as
nndsl does; the generated PyTorch and Keras models (of the spec, and of the spec imported back
from the NNC project) give nnabla's outputs. Where NNC's tool and nnabla are on this machine,
they are run again on the export made now.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file
from nndsl.nnc import export_check as ec
from nndsl.nnc.export import Exporter, export_parameter_table, nnabla_io
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.sdcproj_write import sdcproj_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SPECS = HERE / "data" / "parameter_scope"
FIX = HERE / "fixtures" / "parameter_scope"
CASES = ["units", "vat"]
SPEC = SPECS / "vat.nnd"
# What the import of each NNC project writes where layers share a ParameterScope.
SHARING = {
    "vat": ['fc1b: Affine(5, parameter_scope="enc")', 'headb: Affine(1, parameter_scope="out")'],
    "units": ['u1: Block(parameter_scope="enc")', 'u2: Block(parameter_scope="enc")', "u3: Block\n"],
}

sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))


def _record(case: str = "vat") -> dict:
    return json.loads((FIX / f"{case}.json").read_text(encoding="utf-8"))


def _nnabla_outputs(case: str = "vat") -> dict[str, np.ndarray]:
    with np.load(FIX / f"{case}.outputs.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _cli(*args: str, cwd: Path | None = None):
    import subprocess

    return subprocess.run([sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, cwd=cwd)


def _run_generated(project, backend: str, params: dict[str, np.ndarray], table, inputs, out: Path):
    """The generated model's outputs (network -> name -> array), parameters `params` (nnabla's
    names) loaded through its own `load_params` from an `.npz` of nndsl's names."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    (torch_backend if backend == "torch" else keras_backend).generate(project, out)
    module = import_generated(out)
    model = module.create_model()
    npz = {nndsl: params[nnabla].reshape(module.Model.PARAMETERS[nndsl][-3]) for nndsl, (nnabla, _) in table.items()}
    np.savez(out / "params.npz", **npz)
    model.load_params(out / "params.npz")
    results = {}
    for net, arrays in inputs.items():
        if backend == "torch":
            import torch

            with torch.no_grad():
                got = model.run_network(net, **{k: torch.from_numpy(v) for k, v in arrays.items()})
            results[net] = {k: v.numpy() for k, v in got.items()}
        else:
            results[net] = {k: np.asarray(v) for k, v in model.run_network(net, **arrays).items()}
    return results


def _compare(results, nnabla: dict[str, np.ndarray], io) -> float:
    worst, compared = 0.0, 0
    for net, outputs in results.items():
        for name, got in outputs.items():
            found = io[net]["outputs"].get(name)
            if found is None:  # a repeat's output: nnabla's RepeatEnd, the network's one output
                (key,) = [k for k in nnabla if k.startswith(f"{net}/")]
            else:
                key = f"{net}/{found[0]}"
            want = nnabla[key]
            diff = float(np.abs(got.reshape(want.shape) - want).max())
            scale = max(float(np.abs(want).max()), 1e-6)
            assert diff <= 1e-4 * scale, (net, name, diff, scale)
            worst = max(worst, diff / scale)
            compared += 1
    assert compared == len(nnabla) == 2
    return worst


def _setup(spec: Path):
    result = compile_file(spec)
    assert result.ok, [str(d) for d in result.diagnostics]
    exporter = Exporter(result)
    exporter.export()  # fills in the exporter's nnabla variable names (nnabla_io)
    table = export_parameter_table(exporter)
    batch = _record()["batch"]
    inputs = {net.name: ec.seeded_inputs(net, batch) for net in result.project.networks}
    return result, exporter, table, inputs


@pytest.mark.parametrize("case", CASES)
def test_the_export_is_the_project_nncs_tool_accepted(case):
    result, _, _, _ = _setup(SPECS / f"{case}.nnd")
    text = sdcproj_text(Exporter(result).export())
    record = _record(case)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == record["sdcproj_sha256"]
    assert text == (FIX / f"{case}.sdcproj").read_text(encoding="utf-8")
    assert record["error_check"] == "No errors were found." and record["create_prototxt"]
    # each shared scope is the ParameterScope of every layer that shares it
    scopes = re.findall(r"Property_\d+_Name=ParameterScope\nProperty_\d+_Value=(.*)", text)
    if case == "vat":
        assert scopes.count("enc") == 4 and scopes.count("out") == 4 and scopes.count("rs") == 2
    else:  # u1, u2 in both networks; fc2's own scope in the unit's network
        assert scopes.count("enc") == 4 and scopes.count("q") == 1


@pytest.mark.parametrize("case", CASES)
def test_nnabla_created_the_specs_parameters(case):
    """The parameters nnabla created from create_prototxt's `.nntxt` are nndsl's table, names and
    shapes: one set for the layers or unit calls of one parameter_scope."""
    result, _, _, _ = _setup(SPECS / f"{case}.nnd")
    created = {n: tuple(shape) for n, shape in _record(case)["nnabla_parameters"].items()}
    assert created == {n: tuple(shape) for n, shape in nnc_parameter_table(result.project).values()}
    if case == "units":
        assert "enc/fc/affine/W" in created and "enc/q/affine/W" in created and "enc/r[1]/affine/W" in created
        assert not any(n.startswith(("u1/", "u2/")) for n in created) and "u3/fc/affine/W" in created


def test_nnc_names_the_parameters_as_the_spec_does():
    """create_prototxt's Parameter variables (a repeat's copies as `{RepeatStart}`) and the
    parameters nnabla created are nndsl's table: one `enc/affine/W` for the two layers of a
    network that share it, and the repeat index on a scope inside a repeat (`rs[0]`, `rs[1]`)."""
    result, _, table, _ = _setup(SPEC)
    record = _record()
    mine = nnc_parameter_table(result.project)
    assert sorted(mine) == ["enc/W", "enc/b", "out/W", "out/b",
                            "steps[0]/rs/W", "steps[0]/rs/b", "steps[1]/rs/W", "steps[1]/rs/b"]  # fmt: skip
    folded = sorted({re.sub(r"\[\d+\]", "{RepeatStart}", nnabla) for nnabla, _ in mine.values()})
    for net, names in record["nntxt_parameters"].items():
        assert sorted(names) == folded, net
    # counted once per network: 4*5+5 + 5*1+1 + 2*(1+1)
    assert {net.name: net.total_params for net in result.project.networks} == {"Training": 35, "Runtime": 35}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_generated_models_give_nnablas_outputs(backend, case, tmp_path):
    result, exporter, table, inputs = _setup(SPECS / f"{case}.nnd")
    params = ec.seeded_parameters(table)
    results = _run_generated(result.project, backend, params, table, inputs, tmp_path / backend)
    _compare(results, _nnabla_outputs(case), nnabla_io(exporter))


@pytest.mark.parametrize("case", CASES)
def test_import_of_the_nnc_project_shares_and_gives_nnablas_outputs(case, tmp_path):
    """The NNC project (layers, or Unit layers, of one ParameterScope in each network) imports
    lint clean and fmt-canonical, as `parameter_scope=` on the layers' own labels; its parameters
    are the spec's, and the generated models of the imported spec give nnabla's outputs."""
    out = tmp_path / f"{case}.nnd"
    run = _cli("import", str(FIX / f"{case}.sdcproj"), "-o", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text(encoding="utf-8")
    assert all(snippet in text for snippet in SHARING[case]), text
    lint = _cli("lint", str(out))
    assert lint.returncode == 0 and "no problems" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    assert _cli("fmt", "--check", str(out)).returncode == 0
    spec, _, spec_table, _ = _setup(SPECS / f"{case}.nnd")
    imported, exporter, table, inputs = _setup(out)
    assert sorted(table.values()) == sorted(spec_table.values())
    params = ec.seeded_parameters(table)
    nnabla = _nnabla_outputs(case)
    for backend in ("torch", "keras"):
        results = _run_generated(imported.project, backend, params, table, inputs, tmp_path / backend)
        _compare(results, nnabla, nnabla_io(exporter))


@pytest.mark.parametrize("case", CASES)
def test_nncs_tool_and_nnabla_live(case, tmp_path):
    tools, python = ec.find_nnc_tools(), ec.find_nnabla_python()
    if tools is None or python is None:
        pytest.skip("NNC's tool or nnabla is not on this machine (NNDSL_NNC_TOOLS, NNDSL_NNABLA_PYTHON)")
    result, exporter, table, inputs = _setup(SPECS / f"{case}.nnd")
    path = tmp_path / f"{case}.sdcproj"
    path.write_text(sdcproj_text(Exporter(result).export()), encoding="utf-8")
    verdict = ec.run_nnc(tools, path)
    assert verdict["error_check"] == "No errors were found." and verdict["create_prototxt"]
    io = nnabla_io(exporter)
    feed = {f"{n}/{v}": a for n, arrays in inputs.items() for k, a in arrays.items() for v in io[n]["inputs"][k]}
    params = ec.seeded_parameters(table)
    nnabla, created = ec.run_nnabla(python, path.with_suffix(".nntxt"), params, feed, tmp_path / "out.npz")
    assert {n: tuple(s) for n, s in created.items()} == {n: tuple(s) for n, s in table.values()}
    results = _run_generated(result.project, "torch", params, table, inputs, tmp_path / "torch")
    _compare(results, nnabla, io)


def test_import_of_the_nntxt_nnc_wrote_shares_as_the_project(tmp_path):
    """The `.nntxt` create_prototxt made of the project (one `enc/affine/W` read by two Affine
    functions of a network) imports with the same sharing and the same parameters."""
    out = tmp_path / "vat.nnd"
    run = _cli("import", str(FIX / "vat.nntxt"), "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert 'fc1b: Affine(5, parameter_scope="enc")' in out.read_text(encoding="utf-8")
    _, _, spec_table, _ = _setup(SPEC)
    imported = compile_file(out)
    assert imported.ok, [str(d) for d in imported.diagnostics]
    assert sorted(nnc_parameter_table(imported.project).values()) == sorted(spec_table.values())


def test_unit_calls_sharing_a_scope_in_an_nntxt_are_a_positioned_error(tmp_path):
    """In a `.nntxt` the units are expanded: the functions of u1 and u2 share `enc/fc`, a scope a
    plain parameter_scope cannot name (the .sdcproj keeps the Unit layers and imports): E0981 at
    every such function, in the file, all in one run, and nothing is written."""
    out = tmp_path / "units.nnd"
    run = _cli("import", str(FIX / "units.nntxt"), "-o", str(out))
    assert run.returncode == 1 and not out.exists(), run.stderr
    found = re.findall(
        r'units\.nntxt:\d+:\d+: error\[E0981\]: \[network "(\w+)" / function "(u[12]/fc2?)"\]', run.stderr
    )
    assert sorted(found) == sorted((net, f"{u}/{fc}") for net in ("Training", "Runtime")
                                   for u in ("u1", "u2") for fc in ("fc", "fc2"))  # fmt: skip
    assert "shares the ParameterScope 'enc/fc'" in run.stderr and "Traceback" not in run.stderr
