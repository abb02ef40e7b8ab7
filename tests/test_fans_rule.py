"""One rule reads NNC initializer fans from a parameter's shape, nnabla's, for the compiler and both runtimes.

nnabla's reader of NNC's network files (`graph_def._create_initializer`) computes an initializer's
N (input maps), M (output maps) and K (kernel area) from the parameter's NNC shape alone. nndsl has
that rule once, `nndsl.runtime.nnc_shapes.nnabla_fans`: the compiler's `ParamShape.fans` and the
runtimes' `initial_distribution` use it. Generated initializer calls carry no fans: the runtime reads
the NNC shape from the framework's tensor shape and the parameter's layout (`nnc_shape`: torch's
Linear (out, in), Keras's Conv kernel (*kernel, in, out), ...).

The distributions nnabla gives (sigma or limit) are `tests/nnc/fixtures/initializers/
nnabla_initializers.json`, written by nnabla 1.39 through `tools/nnc_initializer_fixtures.py`, for
1-D, 2-D (3x3 and 1x1) and 3-D Convolution, Deconvolution, DepthwiseConvolution and Affine weights. Here a real
generated torch and Keras model is built from a spec of those layers and the distribution its runtime
computes for each weight, at initialization, is compared with nnabla's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import import_generated

from nndsl.compiler import compile_file
from nndsl.layers import base
from nndsl.runtime import nnc_params, nnc_shapes

FIXTURE = Path(__file__).resolve().parent / "nnc" / "fixtures" / "initializers" / "nnabla_initializers.json"
DATA = json.loads(FIXTURE.read_text())
# The cases whose value depends on the fans (not Normal/Uniform), at multiplier 1: one layer each.
CASES = [c for c in DATA["cases"] if c["init"] not in ("Normal", "Uniform") and c["multiplier"] == 1.0]


def test_the_compiler_and_the_runtime_use_one_rule():
    """The compiler's fans are the runtime's function, and the runtime has no other."""
    assert base.nnabla_fans is nnc_shapes.nnabla_fans
    assert nnc_params.nnabla_fans is nnc_shapes.nnabla_fans
    assert not hasattr(nnc_params, "fans_from_shape")
    for case in CASES:
        q = base.ParamShape("W", tuple(case["shape"]), init=case["init"])
        assert q.fans == nnc_shapes.nnabla_fans(case["init"], case["shape"])
        kind, scale = nnc_params.initial_distribution(case["init"], 1.0, case["shape"])
        assert (kind, scale) == (case["kind"], pytest.approx(case["scale"], rel=1e-6)), case


def test_the_fixture_covers_every_kind_of_weight():
    assert {c["layer"] for c in CASES} == {"conv", "conv1d", "conv3d", "conv1x1", "deconv", "dwconv", "affine"}
    assert {len(c["shape"]) for c in CASES if c["layer"].startswith("conv")} == {3, 4, 5}


def _spec() -> str:
    inputs = sorted({tuple(v["input"]) for v in DATA["layers"].values()})
    names = {shape: f"x{i}" for i, shape in enumerate(inputs)}
    lines = ["network Main {"]
    lines += [f'    {n} = Input({"x".join(map(str, s))}, dataset="{n}")' for s, n in names.items()]
    for k, case in enumerate(CASES):
        layer = DATA["layers"][case["layer"]]
        text = layer["layer"][:-1] + f', w_init="{case["init"]}")'
        lines.append(f"    y{k} = {names[tuple(layer['input'])]} -> {case['layer']}_{k}: {text}")
    return "\n".join([*lines, "}", ""])


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_generated_models_fans_are_nnablas(backend, tmp_path, monkeypatch):
    """Each weight of a generated model is initialized with the distribution nnabla gives it: the
    runtime's NNC shape of the framework tensor is NNC's (so its fans are nnabla's), and the sigma or
    limit it computes is nnabla's."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    spec = tmp_path / "fans.nnd"
    spec.write_text(_spec())
    result = compile_file(spec)
    assert result.project is not None, [d.message for d in result.diagnostics]
    (torch_backend if backend == "torch" else keras_backend).generate(result.project, tmp_path / "out")
    model_py = (tmp_path / "out" / "model.py").read_text()
    assert "fan_in" not in model_py and "kernel_area" not in model_py
    generated = import_generated(tmp_path / "out")

    seen: dict[tuple[str, tuple[int, ...]], tuple[str, float]] = {}
    real = generated.nnc.initial_distribution

    def recording(name, multiplier, shape, *fans):
        assert not any(f is not None for f in fans), fans  # the generated calls pass no fans
        seen[(name, tuple(shape))] = out = real(name, multiplier, shape, *fans)
        return out

    monkeypatch.setattr(generated.nnc, "initial_distribution", recording)
    generated.create_model()
    expected = {(c["init"], tuple(c["shape"])): (c["kind"], c["scale"]) for c in CASES}
    assert set(seen) == set(expected)  # every weight read as its NNC shape, no other
    for key, (kind, scale) in expected.items():
        assert seen[key] == (kind, pytest.approx(scale, rel=1e-6)), key
