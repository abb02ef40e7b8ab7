"""Pooling as the frameworks compute it: `ceil_mode=true` on MaxPooling and AveragePooling, and
AdaptiveAveragePooling / AdaptiveMaxPooling to a fixed size (nndsl's own: NNC has neither).

The ground truth is PyTorch itself: the shape rule gives `F.max_pool2d(ceil_mode=True)`'s,
`F.avg_pool2d(ceil_mode=True)`'s and `F.adaptive_*_pool2d`'s output shapes on every small case
Hypothesis draws, and the generated PyTorch and Keras models (one project per backend of many
configurations drawn by a seeded generator) give those functions' outputs on random inputs.
`nndsl export` writes an adaptive pooling whose windows tile the input as NNC's pooling (which
the export check compiles back to the same outputs) and refuses the others, with the position.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import import_generated  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.layers import REGISTRY  # noqa: E402
from nndsl.layers.base import ShapeError  # noqa: E402

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True)


def rule(layer: str, x: tuple, params: dict):
    """The registry's output shape for an input of shape `x`, or None where the rule refuses it."""
    ins = (x,)
    spec = REGISTRY[layer]
    p = {q.name: q.default for q in spec.params}
    p.update(params)
    try:
        if spec.resolve is not None:
            spec.resolve(ins, p, True)
        return spec.shape(ins, p)
    except ShapeError:
        return None


def torch_shape(fn, x: torch.Tensor, **kwargs):
    try:
        return tuple(fn(x, **kwargs).shape[1:])
    except RuntimeError:
        return None


@st.composite
def ceil_cases(draw):
    size = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    pad = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return size, kernel, stride, pad


@SETTINGS
@given(ceil_cases())
def test_ceil_mode_shape_rule_is_torchs(case):
    size, kernel, stride, pad = case
    x = torch.zeros(1, 2, *size)
    params = {"kernel": kernel, "stride": stride, "pad": pad, "ceil_mode": True}
    for layer, fn in (("MaxPooling", F.max_pool2d), ("AveragePooling", F.avg_pool2d)):
        want = torch_shape(fn, x, kernel_size=kernel, stride=stride, padding=pad, ceil_mode=True)
        got = rule(layer, (2, *size), params)
        if want is None or min(want) < 1:
            assert got is None, (layer, case, got)
        else:
            assert got == want, (layer, case)


@SETTINGS
@given(st.integers(1, 3), st.data())
def test_adaptive_shape_rule_is_torchs(nd, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    target = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    x = torch.zeros(1, 3, *size)
    for layer, kind in (("AdaptiveAveragePooling", "avg"), ("AdaptiveMaxPooling", "max")):
        fn = getattr(F, f"adaptive_{kind}_pool{nd}d")
        assert rule(layer, (3, *size), {"size": target}) == tuple(fn(x, target).shape[1:])


def test_rule_refusals_name_the_parameter():
    def refusal(layer, ins, params):
        spec = REGISTRY[layer]
        p = {q.name: q.default for q in spec.params} | params
        with pytest.raises(ShapeError) as e:
            spec.resolve((ins,), p, True)
            spec.shape((ins,), p)
        return e.value

    assert refusal("MaxPooling", (2, 8, 8), {"kernel": (3, 3), "ceil_mode": True, "ignore_border": False}).param == (
        "ceil_mode"
    )
    assert refusal("MaxPooling", (2, 4, 8, 8), {"kernel": (2, 2), "ceil_mode": True}).param == "ceil_mode"
    assert refusal("AveragePooling", (2, 8, 8), {"kernel": (3, 3), "pad": (2, 2), "ceil_mode": True}).param == "pad"
    assert refusal("AdaptiveAveragePooling", (2, 8, 8), {"size": (0, 3)}).param == "size"
    assert refusal("AdaptiveMaxPooling", (2, 8, 8), {"size": (2, 2, 2)}).param == "size"


# --- the generated models against torch's functions -------------------------------------------


def _cases(seed: int = 12, count: int = 24):
    """(network name, input shape, the .nnd layer call, the torch function of a batch)."""
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        nd = rng.choice((1, 2, 2, 2, 3))
        size = tuple(rng.randint(2, 9 if nd < 3 else 5) for _ in range(nd))
        k = len(out)
        if k % 3 == 2:  # adaptive
            target = tuple(rng.randint(1, 6) for _ in range(nd))
            kind = rng.choice(("Average", "Max"))
            call = f"Adaptive{kind}Pooling({'x'.join(map(str, target))})"
            fn = getattr(F, f"adaptive_{'avg' if kind == 'Average' else 'max'}_pool{nd}d")
            out.append((f"N{k}", (2, *size), call, lambda x, fn=fn, t=target: fn(x, t)))
            continue
        kernel = tuple(rng.randint(1, min(4, n)) for n in size)
        stride = tuple(rng.randint(1, 3) for _ in size)
        pad = tuple(rng.randint(0, q // 2) for q in kernel)
        include = rng.random() < 0.5
        kind = rng.choice(("Average", "Max"))
        shape = rule(f"{kind}Pooling", (2, *size), {"kernel": kernel, "stride": stride, "pad": pad, "ceil_mode": True})
        if shape is None:
            continue
        args = (
            f"kernel={'x'.join(map(str, kernel))}, stride={'x'.join(map(str, stride))}, pad={'x'.join(map(str, pad))}"
        )
        if kind == "Average":
            call = f"AveragePooling({args}, including_pad={str(include).lower()}, ceil_mode=true)"
            fn = getattr(F, f"avg_pool{nd}d")
            kw = dict(kernel_size=kernel, stride=stride, padding=pad, ceil_mode=True, count_include_pad=include)
        else:
            call = f"MaxPooling({args}, ceil_mode=true)"
            fn = getattr(F, f"max_pool{nd}d")
            kw = dict(kernel_size=kernel, stride=stride, padding=pad, ceil_mode=True)
        out.append((f"N{k}", (2, *size), call, lambda x, fn=fn, kw=kw: fn(x, **kw)))
    return out


CASES = _cases()


def _spec() -> str:
    nets = []
    for name, shape, call, _ in CASES:
        nets.append(f"network {name} {{\n    x = Input({'x'.join(map(str, shape))})\n    y = x -> {call}\n}}\n")
    return "\n".join(nets)


@pytest.fixture(scope="module")
def project():
    result = compile_file("pools.nnd", text=_spec())
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


def _inputs():
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal((3, *shape)).astype(np.float32) for name, shape, _, _ in CASES}


def _torch_reference(name: str, x: np.ndarray) -> np.ndarray:
    fn = next(f for n, _, _, f in CASES if n == name)
    return fn(torch.from_numpy(x)).numpy()


def test_cases_cover_both_rules_and_every_option():
    calls = " ".join(c for _, _, c, _ in CASES)
    for word in ("AdaptiveAveragePooling", "AdaptiveMaxPooling", "MaxPooling(kernel", "including_pad=true"):
        assert word in calls
    assert "including_pad=false" in calls
    # and some cases where ceil_mode gives more windows than the floor rule
    more = [
        n
        for n, shape, call, _ in CASES
        if "ceil_mode" in call
        and rule("MaxPooling", shape, {**_params(call), "ceil_mode": True})
        != rule("MaxPooling", shape, {**_params(call), "ceil_mode": False})
    ]
    assert len(more) >= 4, more


def _params(call: str) -> dict:
    out = {}
    for part in call[call.index("(") + 1 : -1].split(", "):
        key, value = part.split("=")
        if key in ("kernel", "stride", "pad"):
            out[key] = tuple(int(v) for v in value.split("x"))
    return out


def test_torch_model_gives_torchs_outputs(project, tmp_path):
    from nndsl.backends import torch as torch_backend

    torch_backend.generate(project, tmp_path)
    model = import_generated(tmp_path).create_model()
    for name, x in _inputs().items():
        got = model.run_network(name, x=torch.from_numpy(x))["y"].detach().numpy()
        np.testing.assert_allclose(got, _torch_reference(name, x), rtol=1e-6, atol=1e-6, err_msg=name)


def test_keras_model_gives_torchs_outputs(project, tmp_path):
    from nndsl.backends import keras as keras_backend

    keras_backend.generate(project, tmp_path)
    model = import_generated(tmp_path).create_model()
    for name, x in _inputs().items():
        got = np.asarray(model.run_network(name, x=x)["y"])
        np.testing.assert_allclose(got, _torch_reference(name, x), rtol=1e-5, atol=1e-5, err_msg=name)


# --- nndsl export: NNC's pooling where it computes the same, a positioned refusal elsewhere ------

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import nnc_framework_pooling_fixtures as FX  # noqa: E402

NNABLA = Path(os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))


def _torch_of(call: str):
    """The torch function of one of the fixture script's pooling calls."""
    kind = call[: call.index("(")]
    if kind.startswith("Adaptive"):
        size = tuple(int(v) for v in call[call.index("(") + 1 : -1].split("x"))
        fn = F.adaptive_avg_pool2d if "Average" in kind else F.adaptive_max_pool2d
        return lambda x: fn(x, size)
    p = _params(call)
    fn = F.avg_pool2d if kind == "AveragePooling" else F.max_pool2d
    return lambda x: fn(x, p["kernel"], p.get("stride", p["kernel"]), p.get("pad", (0, 0)), ceil_mode=True)


def _exported_layers():
    from nndsl.nnc.nndsl_layers import nnc_project

    result = compile_file("framework_pooling.nnd", text=FX.spec())
    assert result.ok
    lowered, problems = nnc_project(result.project)
    assert not problems
    return {net.name: net.layers[-1] for net in lowered.networks}


def test_export_writes_nncs_pooling_layers():
    layers = _exported_layers()
    assert {n: (lay.type, lay.params["ignore_border"]) for n, lay in layers.items()} == {
        "CeilMaxAsNoIgnoreBorder": ("MaxPooling", False),
        "CeilMaxPadded": ("MaxPooling", True),
        "CeilAverageAsFloor": ("AveragePooling", True),
        "AdaptiveAverage": ("AveragePooling", True),
        "AdaptiveMax": ("MaxPooling", True),
    }
    assert layers["AdaptiveAverage"].params["kernel"] == layers["AdaptiveAverage"].params["stride"] == (3, 4)
    assert all("ceil_mode" not in lay.params for lay in layers.values())


def _check_nnabla_outputs(outputs: dict) -> None:
    for name, x in FX.inputs().items():
        want = _torch_of(FX.CASES[name][1])(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(
            np.asarray(outputs[name], dtype=np.float32), want, rtol=1e-6, atol=1e-6, err_msg=name
        )


def test_nnablas_outputs_on_the_export_are_torchs():
    """nnabla 1.39 ran the exported .nntxt (tools/nnc_framework_pooling_fixtures.py)."""
    data = json.loads((Path(__file__).parent / "nnc/fixtures/framework_pooling/outputs.json").read_text())
    assert set(data["outputs"]) == set(FX.CASES)
    _check_nnabla_outputs(data["outputs"])


def test_nnablas_outputs_on_the_export_are_torchs_live(tmp_path):
    if not NNABLA.exists():
        pytest.skip(f"nnabla's Python {NNABLA} is not installed (set NNDSL_NNABLA_PYTHON)")
    out = tmp_path / "outputs.json"
    root = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            sys.executable,
            str(root / "tools" / "nnc_framework_pooling_fixtures.py"),
            "--nnabla",
            str(NNABLA),
            "--out",
            str(out),
        ],
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
    )
    _check_nnabla_outputs(json.loads(out.read_text())["outputs"])


@pytest.mark.parametrize("suffix, code", [(".sdcproj", "E0960"), (".nntxt", "E0801")])
def test_export_refuses_what_nnc_cannot_compute_with_the_position(tmp_path, suffix, code):
    # 12 -> 6 windows by ceil_mode, 5 by the floor rule, 6 by nnabla's ignore_border=false: a maximum
    # exports (nnabla's clipped windows), an average does not; 12 -> 5 adaptive windows differ in size
    spec = tmp_path / "p.nnd"
    for line, pool in ((4, "MaxPooling"), (3, "AveragePooling")):
        spec.write_text(
            "network Main {\n"
            "    x = Input(3x12x12)\n"
            f"    y = x -> {pool}(kernel=3x3, stride=2x2, ceil_mode=true)\n"
            + ("    z = x -> AdaptiveAveragePooling(5x5)\n" if pool == "MaxPooling" else "")
            + "}\n"
        )
        run = subprocess.run(
            [sys.executable, "-m", "nndsl", "export", str(spec), "-o", str(tmp_path / f"p{suffix}")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 1, run.stderr
        assert f"p.nnd:{line}:14: error[{code}]" in run.stderr, run.stderr
        assert "ceil_mode" in run.stderr if line == 3 else "12x12 to 5x5" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
        assert not (tmp_path / f"p{suffix}").exists()


# --- shapes holding 0: a unit's `shape` argument may be a pad -----------------------------------


def test_a_unit_shape_argument_may_hold_zero_and_a_kernel_refuses_it_at_the_layer():
    spec = (
        "unit Factorized(pad: shape = 0x3, k: shape = 1x7) {\n"
        "    in x\n"
        "    out x -> Convolution(4, kernel=k, pad=pad)\n"
        "}\n"
        "network Main {\n"
        "    x = Input(3x8x8)\n"
        "    a = x -> Factorized\n"
        "    b = x -> Factorized(pad=3x0, k=7x1)\n"
        "    c = x -> Factorized(pad=0x0, k=3x3)\n"
        "}\n"
    )
    result = compile_file("zero.nnd", text=spec)
    assert result.ok, [d.message for d in result.diagnostics]
    net = result.project.network("Main")
    convs = [lay for lay in net.layers if lay.type == "Convolution"]
    assert [(lay.params["kernel"], lay.params["pad"]) for lay in convs] == [
        ((1, 7), (0, 3)),
        ((7, 1), (3, 0)),
        ((3, 3), (0, 0)),
    ]
    # torch's Conv2d gives the same sizes (Inception's 1x7 / 7x1 factorized convolutions)
    x = torch.zeros(1, 3, 8, 8)
    for lay in convs:
        conv = torch.nn.Conv2d(3, 4, lay.params["kernel"], padding=lay.params["pad"])
        assert tuple(conv(x).shape[1:]) == net.value(lay.outputs[0]).shape

    bad = compile_file("zero.nnd", text=spec.replace("k=3x3", "k=0x3"))
    (d,) = [d for d in bad.diagnostics if d.severity == "error"]
    assert d.code == "E0403" and "'kernel' of Convolution 0x3" in d.message and "at least 1" in d.message
    assert (d.span.line, d.span.col) == (3, 36)  # the kernel in the unit's body
    negative = compile_file("zero.nnd", text=spec.replace("pad=3x0", "pad=-1"))
    assert any(d.code == "E0403" and "at least 0" in d.message for d in negative.diagnostics), [
        d.message for d in negative.diagnostics
    ]
