"""NNC's LayerNormalization, InstanceNormalization and GroupNormalization: both backends against
nnabla, and NNC's tool on the export.

Fixtures in `fixtures/normalization/`, made by `tools/nnc_normalization_fixtures.py`: `norms.nnd`
(the layers in eleven configurations: per-sample inputs 6, 4x5 and 6x3x3; 1 to 6 groups; epsilons
1e-5 to 0.5; non-default initializers), its nndsl export `norms.sdcproj`, NNC's `complete` and
`error_check` of that export, `create_prototxt`'s network file of it (`norms.nntxt`, summarised in
`norms.nntxt.json`), and nnabla's forward of that network file (batch 3) with seeded random
parameters and inputs (`norms_nnabla.npz`, the parameters in nnabla's own `norms_nnabla.h5`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.compiler import compile_file
from nndsl.nnc.names import nnc_parameter_table
from nndsl.nnc.nntxt import read_nntxt_text
from nndsl.nnc.sdcproj import read_sdcproj
from nndsl.nnc.to_nnd import translate

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "normalization"
SPEC = FIXTURES / "norms.nnd"
# Network Runtime's outputs y1..y11, in order: the layers computing them.
LAYERS = (
    "ln_image", "ln_vector", "ln_sequence", "in_image", "in_sequence", "in_image_eps",
    "gn_image", "gn_image_per_channel", "gn_image_one", "gn_vector", "gn_sequence",
)  # fmt: skip
TYPES = ("LayerNormalization", "InstanceNormalization", "GroupNormalization")

sys.path.insert(0, str(HERE.parent))
from conftest import import_generated  # noqa: E402

sys.path.remove(str(HERE.parent))

NNC_TOOL = Path(os.environ.get("NNC_TOOL", "/work/shared/nnc-tools/nncd_console"))
NNABLA_PYTHON = Path(os.environ.get("NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))


def _json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def compiled():
    result = compile_file(SPEC, lint=True)
    assert result.project is not None, [d.message for d in result.diagnostics]
    return result.project


def _nnabla(path: Path = FIXTURES / "norms_nnabla.npz") -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _run(backend: str, project, out: Path, h5: Path, inputs: dict) -> dict[str, np.ndarray]:
    """Network Runtime of the generated `backend` project with nnabla's parameters (its .h5)."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    (torch_backend if backend == "torch" else keras_backend).generate(project, out)
    generated = import_generated(out)
    model = generated.create_model()
    model.load_params(h5)
    if backend == "torch":
        import torch

        model.eval()
        with torch.no_grad():
            got = model.run_network("Runtime", **{k: torch.from_numpy(v) for k, v in inputs.items()})
        got = {k: v.numpy() for k, v in got.items()}
    else:  # run_network takes and gives NNC's layout
        got = {k: np.asarray(v) for k, v in model.run_network("Runtime", **inputs).items()}
    assert len(got) == len(LAYERS)
    return dict(zip(LAYERS, got.values(), strict=True))


def _worst(got: dict[str, np.ndarray], nnabla: dict) -> dict[str, float]:
    """Per layer, the largest difference from nnabla's output, relative to the output's scale."""
    out = {}
    for name, array in got.items():
        want = nnabla[f"out:{name}"]
        assert array.shape == want.shape, (name, array.shape, want.shape)
        out[name] = float(np.abs(array - want).max()) / max(float(np.abs(want).max()), 1e-6)
    return out


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_both_backends_give_nnablas_outputs(compiled, backend, tmp_path):
    """nnabla's run of NNC's own network file of the export, with random parameters (loaded from
    nnabla's .h5 through the generated project's `load_params`) and inputs: every one of the eleven
    outputs equals nnabla's, at most 1e-5 of the output's scale (float32 rounding)."""
    nnabla = _nnabla()
    inputs = {k: nnabla[k] for k in ("x", "v", "s")}
    worst = _worst(_run(backend, compiled, tmp_path, FIXTURES / "norms_nnabla.h5", inputs), nnabla)
    assert max(worst.values()) <= 1e-5, worst


def test_torch_and_keras_agree(compiled, tmp_path):
    nnabla = _nnabla()
    inputs = {k: nnabla[k] for k in ("x", "v", "s")}
    h5 = FIXTURES / "norms_nnabla.h5"
    a = _run("torch", compiled, tmp_path / "torch", h5, inputs)
    b = _run("keras", compiled, tmp_path / "keras", h5, inputs)
    for name in LAYERS:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-5 * max(float(np.abs(a[name]).max()), 1.0))


def test_shapes_and_costs_equal_nnc_complete(compiled):
    """NNC's `complete` of the export: each layer's Output is the IR's shape and its CostParameter
    the IR's parameter count (beta and gamma)."""
    nnc = _json("norms.complete.json")
    assert nnc["error_check"] == []
    for net in compiled.networks:
        layers = [la for la in net.layers if la.type in TYPES]
        assert len(layers) == len(LAYERS)
        for layer in layers:
            shape, cost = nnc["networks"][net.name][layer.name]
            assert tuple(shape) == net.values[layer.outputs[0]].shape, layer.name
            assert cost == sum(math.prod(q.shape) for q in layer.parameters), layer.name


def test_parameter_names_shapes_and_initializers_equal_create_prototxt(compiled):
    """The names and shapes nndsl gives beta and gamma (nnabla's, `nnc_parameter_table`) and their
    initializers are those of NNC's network file of the export."""
    nntxt = _json("norms.nntxt.json")
    variables = {n: v for net in nntxt.values() for n, v in net["variables"].items() if v["type"] == "Parameter"}
    table = dict(nnc_parameter_table(compiled).values())  # nnabla name -> nnabla shape
    ours = {}
    for net in compiled.networks:
        for layer in net.layers:
            if layer.type in TYPES:
                for q in layer.parameters:
                    ours[dict(nnc_parameter_table(net))[layer.parameter_name(q)][0]] = q
    assert len(variables) == 2 * len(LAYERS)
    assert set(variables) == set(ours)
    for name, v in variables.items():
        q = ours[name]
        assert tuple(v["shape"]) == tuple(table[name]) == (1, *q.shape), name  # nnabla's: a batch axis of 1
        assert v["initializer"] == [q.init, round(q.init_multiplier, 6)], name


def test_functions_of_nndsls_nntxt_export_equal_nncs(compiled):
    """nndsl's own .nntxt export writes each function's inputs (x, beta, gamma) and parameters
    (nnabla's batch_axis 0, channel_axis 1, eps, num_groups) as NNC's create_prototxt does."""
    from nndsl.nnc.nntxt_write import project_to_nntxt
    from nndsl.nnc.prototext import parse

    root = parse(project_to_nntxt(compiled, iter_per_epoch=0), "norms.nntxt")
    nnc = _json("norms.nntxt.json")
    for net in root.messages("network"):
        name = net.scalar("name")
        functions = {f.scalar("name"): f for f in net.messages("function") if f.scalar("type") in TYPES}
        assert sorted(functions) == sorted(LAYERS)
        for fname, f in functions.items():
            want = nnc[name]["functions"][fname]
            assert f.scalar("type") == want["type"]
            assert f.scalars("input")[1:] == want["inputs"][1:], fname
            field = f"{f.scalar('type')[: -len('Normalization')].lower()}_normalization_param"
            (param,) = f.messages(field)
            got = {k: [float(x) for x in param.scalars(k)] for k in want["param"]}
            expected = {k: [float(x) for x in (v if isinstance(v, list) else [v])] for k, v in want["param"].items()}
            assert got.keys() == expected.keys()
            for key in got:
                assert got[key] == pytest.approx(expected[key], rel=1e-6), (fname, key)


@pytest.mark.parametrize("source", ["norms.sdcproj", "norms.nntxt"])
def test_import_gives_the_same_layers_and_parameters(compiled, source, tmp_path):
    """Importing the .sdcproj nndsl exported, or the network file NNC's tool wrote of it, gives a spec
    whose normalization layers have the same parameters (names, shapes, initializers)."""
    path = FIXTURES / source
    if source.endswith(".sdcproj"):
        tr = translate(read_sdcproj(path))
    else:
        tr = translate(read_nntxt_text(path.read_text(), path.name))
    assert tr.ok, [str(p) for p in tr.problems]
    spec = tmp_path / "imported.nnd"
    spec.write_text(tr.text)
    result = compile_file(spec, lint=True)
    assert result.project is not None, [d.message for d in result.diagnostics]

    def params(project):
        out = {}
        for net in project.networks:
            for layer in net.layers:
                if layer.type in TYPES:
                    out[layer.name] = (
                        layer.type,
                        tuple((q.name, q.shape, q.init, q.init_multiplier) for q in layer.parameters),
                        {k: layer.params[k] for k in ("epsilon", "num_groups", "channel_axis") if k in layer.params},
                    )
        return out

    assert params(result.project) == params(compiled)


# --- live: NNC's tool and nnabla, when they are here -----------------------------------------------


def test_fixtures_regenerate_live_and_backends_match(compiled, tmp_path):
    """The fixture script run now (NNC's tool on a fresh export, nnabla on NNC's network file) gives
    the stored shapes, names and parameters, and both backends nnabla's outputs of that run."""
    if not (NNC_TOOL / "nncd_console_cli_util").exists():
        pytest.skip(f"NNC's tool is not at {NNC_TOOL} (set NNC_TOOL)")
    if not NNABLA_PYTHON.exists():
        pytest.skip(f"nnabla's Python is not at {NNABLA_PYTHON} (set NNABLA_PYTHON)")
    root = HERE.parent.parent
    script = root / "tools" / "nnc_normalization_fixtures.py"
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [str(NNABLA_PYTHON), str(script), "--tool", str(NNC_TOOL), "--nndsl-python", sys.executable]
    run = subprocess.run([*cmd, "--out", str(tmp_path / "fresh")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    fresh = tmp_path / "fresh"
    for name in ("norms.complete.json", "norms.nntxt.json"):
        assert json.loads((fresh / name).read_text()) == _json(name), name
    nnabla = _nnabla(fresh / "norms_nnabla.npz")
    inputs = {k: nnabla[k] for k in ("x", "v", "s")}
    for backend in ("torch", "keras"):
        worst = _worst(_run(backend, compiled, tmp_path / backend, fresh / "norms_nnabla.h5", inputs), nnabla)
        assert max(worst.values()) <= 1e-5, (backend, worst)
