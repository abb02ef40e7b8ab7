"""Every layer type of the registry in the Keras backend, against nnabla.

The layer zoo (`tests/nnc/fixtures/nntxt_export/specs/all_layers.nnd`: one network per registry
type, each layer with its defaults on small inputs) was run by nnabla on deterministic parameters
and inputs (`tests/nnc/nntxt_export_cases.py`; stored by `tools/nnc_nntxt_export_fixtures.py`).
Here its networks of the types the Keras backend compiles are generated once as one Keras
project, given the same parameters through the NNC-named `.npz` (`load_params`) and the same
inputs, and every deterministic network's outputs equal nnabla's within 1e-4 of the output's
scale, NaN where nnabla gives NaN. The PyTorch side of the same claim is
`tests/nnc/test_nntxt_export.py::test_nnabla_outputs_equal_the_torch_model[hand_all_layers]`.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "nnc"))

import nntxt_export_cases as C  # noqa: E402
from conftest import import_generated  # noqa: E402

from nndsl.backends import keras as keras_backend  # noqa: E402
from nndsl.backends.builder import BackendUnsupported  # noqa: E402
from nndsl.backends.keras.render import render_model  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402
from nndsl.nnc.names import nnc_parameter_table  # noqa: E402
from nndsl.nnc.nntxt_write import variable_names  # noqa: E402

TOLERANCE = 1e-4
ZOO = C.HAND / "all_layers.nnd"


# Types whose generated Keras code compiles but does not build, each with its reason: left out of the
# zoo project here, and `test_known_broken_types_still_fail` fails once one of them builds (then drop it).
def keras_types(parts: dict[str, str]) -> list[str]:
    """The layer types of `parts` the Keras backend generates code for."""
    out = []
    for ltype, text in parts.items():
        try:
            render_model(compile_file("all_layers.nnd", text=text).project)
        except BackendUnsupported:
            continue
        out.append(ltype)
    return out


@functools.cache
def _zoo():
    """(the whole zoo's project, the project of its Keras-compiled networks, those types)."""
    whole = compile_file(ZOO)
    assert whole.ok, [d.message for d in whole.diagnostics]
    parts, _ = C.all_layers_parts()
    types = keras_types(parts)
    kept = compile_file(ZOO, text=C.all_layers_spec(set(types)))
    assert kept.ok, [d.message for d in kept.diagnostics]
    return whole.project, kept.project, types


def keras_outputs(project, out_dir: Path, nndsl_params, feeds) -> dict[str, dict[str, np.ndarray]]:
    """The generated Keras project of `project` in `out_dir`, its parameters loaded from an NNC-named
    `.npz`, run on `feeds` ({network: {input: array}}): {network: {.nntxt variable: output}}."""
    keras_backend.generate(project, out_dir)
    model = import_generated(out_dir).create_model()
    table = project.parameter_table()
    params = out_dir / "params.npz"
    np.savez(params, **{k: v for k, v in nndsl_params.items() if k in table})
    absent = set(table) - set(nnc_parameter_table(project))  # what NNC's files do not hold keeps its value
    model.load_params(params, partial=bool(absent))
    result = {}
    for name, feed in feeds.items():
        net = project.network(name)
        got = model.run_network(name, **feed)
        var = variable_names(net)
        result[name] = {var[vid]: got[net.value(vid).name] for vid in net.outputs}
    return result


@pytest.fixture(scope="module")
def worst(tmp_path_factory) -> dict[str, float]:
    """Every compared zoo output's worst difference relative to its scale, by 'network:variable'."""
    whole, project, _ = _zoo()
    nnabla = dict(np.load(C.FIXTURES / "hand_all_layers.npz", allow_pickle=False))
    names = [n.name for n in project.networks if C.deterministic(n)]
    nndsl_params, _ = C.parameters(whole)
    feeds = {n: C.inputs(whole.network(n), 2) for n in names}
    got = keras_outputs(project, tmp_path_factory.mktemp("keras_zoo"), nndsl_params, feeds)
    out = {}
    for net, outputs in got.items():
        for var, value in outputs.items():
            key = f"{net}:{var}"
            assert key in nnabla, f"nnabla has no output {key}"
            if f"hand_all_layers:{key}" in C.NNABLA_NOT_MEANINGFUL:
                continue
            diff, scale = C.max_difference(nnabla[key], value)
            out[key] = diff / scale
    return out


def test_keras_zoo_outputs_equal_nnablas(worst):
    problems = {k: v for k, v in worst.items() if not v <= TOLERANCE}
    assert not problems, "\n".join(f"{k}: {v:.3g} of the scale" for k, v in sorted(problems.items()))


def test_keras_compiles_every_type_torch_compiles():
    """Both backends cover the same layer types of the zoo: every type is checked against nnabla in both."""
    _, _, types = _zoo()
    parts, _ = C.all_layers_parts()
    assert set(C.torch_types(parts)) - set(types) == set()


def test_outputs_left_out_are_as_described():
    """What NNABLA_NOT_MEANINGFUL leaves out is still what it says (SoftPlus: nnabla's inf everywhere)."""
    nnabla = dict(np.load(C.FIXTURES / "hand_all_layers.npz", allow_pickle=False))
    assert set(C.NNABLA_NOT_MEANINGFUL) == {"hand_all_layers:SoftPlusNet:SoftPlus"}
    assert np.isposinf(nnabla["SoftPlusNet:SoftPlus"]).all()


def test_max_difference_sees_a_nan_or_an_infinity_in_one_array_only():
    a = np.array([1.0, np.nan, np.inf], dtype=np.float32)
    assert C.max_difference(a, a.copy()) == (0.0, 1.0)
    assert C.max_difference(a, np.array([1.0, 0.0, np.inf]))[0] == np.inf
    assert C.max_difference(a, np.array([1.0, np.nan, -np.inf]))[0] == np.inf
    assert C.max_difference(a, np.array([1.5, np.nan, np.inf]))[0] == 0.5
