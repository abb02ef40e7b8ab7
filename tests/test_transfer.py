"""Transfer learning (issue 12): start from a parameter file that fits in part (`train.py --init`),
freeze what was pretrained (NNC's learning-rate multipliers, on a layer or a whole unit instance; a
frozen BatchNormalization keeps its running statistics), and end a network at an inner value of a
unit instance (`net: Backbone(x).pool`, Keras's include_top=False) to write features with infer.py.

The spec is tests/nnc/export_specs/transfer.nnd; its NNC export (NNC's verdict, what NNC's
conversion reads of the multipliers and batch statistics, nnabla's outputs of every network, the
frozen Training one included) is a fixture of tests/nnc/test_export.py and test_export_nnabla.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, import_generated

from nndsl.compiler import compile_file
from nndsl.diagnostics import render_text
from nndsl.layers import REGISTRY
from nndsl.runtime import nnc_params
from nndsl.runtime.nnc_runs import RunError

SPEC = ROOT / "tests" / "nnc" / "export_specs" / "transfer.nnd"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
BACKBONE = ("backbone/conv/W", "backbone/bn/beta", "backbone/bn/gamma", "backbone/bn/mean", "backbone/bn/var")


def _compile(text: str, lint: bool = False):
    return compile_file("t.nnd", text=textwrap.dedent(text), lint=lint)


def _rendered(result) -> str:
    return render_text(result.diagnostics, result.sources)


def _layers(result, network: str) -> dict:
    return {layer.name: layer for layer in result.project.network(network).layers}


# --- freezing: NNC's learning-rate multipliers ----------------------------------------------------


def test_a_unit_calls_lrate_multiplier_multiplies_every_multiplier_of_its_layers():
    r = compile_file(SPEC)
    assert r.ok, _rendered(r)
    training, validation = _layers(r, "Training"), _layers(r, "Validation")
    for name in ("backbone.conv", "backbone.bn"):
        assert {q.name: q.lrate_multiplier for q in training[name].parameters if q.trainable} == {
            q.name: 0.0 for q in training[name].parameters if q.trainable
        }
        assert all(q.lrate_multiplier == 1 for q in validation[name].parameters if q.trainable)
    # what the export writes: NNC's properties of the layer
    assert training["backbone.conv"].params["w_lrate_multiplier"] == 0
    assert training["head"].params["w_lrate_multiplier"] == training["head"].params["b_lrate_multiplier"] == 1
    # a frozen BatchNormalization normalizes with its running statistics when training too
    assert training["backbone.bn"].params["batch_stat"] is False
    assert validation["backbone.bn"].params["batch_stat"] is False


UNIT = """
unit Block {
    in x
    out x -> c: Convolution(2, kernel=3x3) -> bn: BatchNormalization(batch_stat=BATCH) -> ReLU
}
unit Outer {
    in x
    out x -> inner: repeat 2 { Block } -> fc: Affine(3, w_lrate_multiplier=0.5)
}
network Training {
    x = Input(1x6x6, dataset="x")
    y = Input(1, dataset="y")
    loss = x -> net: Outer(lrate_multiplier=RATE) -> SoftmaxCrossEntropy(y)
}
"""


def test_multipliers_multiply_through_nested_units_and_repeats():
    r = _compile(UNIT.replace("(batch_stat=BATCH)", "").replace("RATE", "2"))
    assert r.ok, _rendered(r)
    layers = _layers(r, "Training")
    assert layers["net.inner[1].c"].params["w_lrate_multiplier"] == 2
    assert layers["net.fc"].params["w_lrate_multiplier"] == 1.0  # 0.5 x 2
    assert layers["net.inner[0].bn"].params["batch_stat"] is True  # trained: batch statistics
    r = _compile(UNIT.replace("(batch_stat=BATCH)", "").replace("RATE", "0"))
    layers = _layers(r, "Training")
    assert all(q.lrate_multiplier == 0 for x in layers.values() for q in x.parameters if q.trainable)
    assert layers["net.inner[0].bn"].params["batch_stat"] is False


def test_a_frozen_batch_normalization_takes_batch_statistics_when_told_to():
    """NNC's own rule, written out: beta and gamma frozen, the running statistics moving with the
    batches (what nnabla does with BatchStat true, test_live_nnabla_on_frozen_batch_normalization)."""
    r = _compile(UNIT.replace("BATCH", "true").replace("RATE", "0"))
    assert r.ok, _rendered(r)
    assert _layers(r, "Training")["net.inner[0].bn"].params["batch_stat"] is True


@pytest.mark.parametrize(
    ("change", "code", "where"),
    [
        ("Outer(lrate_multiplier=-1)", "E0311", "-1"),
        ('Outer(lrate_multiplier="0")', "E0311", '"0"'),
        ("Outer(lrate_multiplier=0, lrate_multiplier=1)", "E0303", "lrate_multiplier=1"),
        ("Outer(lrate_multiplir=0)", "E0301", "lrate_multiplir"),
    ],
)
def test_a_bad_unit_lrate_multiplier_is_a_positioned_error(change, code, where):
    text = UNIT.replace("(batch_stat=BATCH)", "").replace("Outer(lrate_multiplier=RATE)", change)
    r = _compile(text)
    (error,) = [d for d in r.diagnostics if d.severity == "error"]
    line = textwrap.dedent(text).splitlines()[error.span.line - 1]
    assert error.code == code and line[error.span.col - 1 :].startswith(where.split("=")[0]), _rendered(r)
    if code == "E0301":
        assert "did you mean 'lrate_multiplier'?" in _rendered(r)


def test_a_unit_may_not_declare_the_keyword_and_lint_warns_of_a_partial_rate():
    r = _compile('unit U(lrate_multiplier: float = 1) {\n    in x\n    out x\n}\nnetwork N {\n    y = Input(3, dataset="x") -> U\n}\n')
    (error,) = [d for d in r.diagnostics if d.severity == "error"]
    assert error.code == "E0214" and "'lrate_multiplier'" in error.message and error.span.line == 1
    r = _compile(UNIT.replace("(batch_stat=BATCH)", "").replace("RATE", "0.5"), lint=True)
    warned = sorted((d.span.line, d.span.col) for d in r.diagnostics if d.code == "W111")
    # the layer's own 0.5 (line 8: 0.25 with the call's) and the unit call's (line 13), each once
    assert warned == [(8, 76), (13, 45)], _rendered(r)
    assert "w_lrate_multiplier=0.25" in _rendered(r) and "lrate_multiplier=0.5 is not" in _rendered(r)


def _frozen_everything() -> tuple[str, dict[str, list[str]]]:
    """A spec with one network per layer type of the registry that has trainable parameters, the
    layer inside a unit instance frozen with `lrate_multiplier=0`, and a Parameter given to a
    connector; the trainable parameters' names by layer type."""
    sys.path.insert(0, str(ROOT / "tests" / "nnc"))
    from nntxt_export_cases import all_layers_parts

    parts, _ = all_layers_parts()
    texts, trained = [], {}
    for ltype, text in parts.items():
        r = compile_file("t.nnd", text=text)
        if not any(q.trainable for x in r.project.networks[0].layers for q in x.parameters):
            continue
        inputs = re.findall(r"^    (x\d+) = Input", text, re.M)
        call = re.search(r"^    y = (.*)$", text, re.M).group(1)
        unit = f"unit Box{ltype} {{\n    in {', '.join(inputs)}\n    out {call}\n}}\n"
        network = text.replace(call, f"frozen_{ltype}: Box{ltype}({', '.join(inputs)}, lrate_multiplier=0)")
        texts += [unit, network]
        trained[ltype] = []
    texts.append(
        "unit BoxParameter {\n    in x\n    b = Parameter(5)\n    out x -> Affine(5, b=b)\n}\n"
        'network ParameterNet {\n    x0 = Input(4, dataset="x0")\n    y = frozen_Parameter: BoxParameter(x0, lrate_multiplier=0)\n}\n'
    )
    trained["Parameter"] = []
    return "\n".join(texts), trained


def test_every_trainable_parameter_of_every_layer_type_has_a_multiplier_a_unit_instance_freezes():
    text, trained = _frozen_everything()
    r = compile_file("frozen.nnd", text=text)
    assert r.ok, _rendered(r)
    frozen = set()
    for net in r.project.networks:
        for layer in net.layers:
            names = {p.name for p in REGISTRY[layer.type].params}
            for q in layer.parameters:
                if not q.trainable:
                    continue
                key = f"{q.name.lower()}_lrate_multiplier" if q.name else "lrate_multiplier"
                assert key in names, f"{layer.type}: no {key}"
                assert layer.params[key] == 0 and q.lrate_multiplier == 0, (layer.name, key)
                frozen.add(layer.parameter_name(q))
                trained.get(layer.type, []).append(q.name)
    assert all(trained.values()), trained  # every type's network has its layer in the instance
    assert len(trained) == len([t for t in trained if t in REGISTRY]) >= 16


def _types_of(backend: str, text: str) -> str:
    """The networks of `text` (one per layer type) that `backend` generates code for."""
    import importlib

    from nndsl.backends.builder import BackendUnsupported

    render = importlib.import_module(f"nndsl.backends.{backend}.render").render_model
    blocks = re.split(r"\n(?=unit Box)", text)
    kept = []
    for block in blocks:
        try:
            render(compile_file("t.nnd", text=block).project)
        except BackendUnsupported:
            continue
        kept.append(block)
    return "\n".join(kept)


def test_both_backends_freeze_every_parameter_of_a_frozen_instance(tmp_path):
    torch = pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    text, _ = _frozen_everything()
    for backend, generate in (("torch", torch_backend.generate), ("keras", keras_backend.generate)):
        spec = _types_of(backend, text)
        r = compile_file("frozen.nnd", text=spec)
        table = r.project.parameter_table()
        want = {name for name, q in table.items() if q.trainable}
        assert len(want) >= 20, backend
        generate(r.project, tmp_path / backend)
        model = import_generated(tmp_path / backend).create_model()
        assert set(model.FROZEN) == want
        if backend == "torch":
            assert isinstance(model, torch.nn.Module)
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            assert not trainable & {model.PARAMETERS[name][0] for name in want}
        else:
            found = model.layers_by_name()
            for name in want:
                layer, variable = model.PARAMETERS[name][:2]
                assert not getattr(found[layer], variable).trainable, name
            assert isinstance(model, keras.Model)


# --- train.py --init: a file that fits in part ----------------------------------------------------


def test_a_fitting_load_reports_what_it_leaves_and_refuses_a_file_sharing_nothing(tmp_path):
    expected = {"conv/W": (4, 1, 3, 3), "bn/mean": (4, 1, 1), "fc/W": (4, 3), "fc/b": (3,)}
    nnabla = {
        "conv/W": ("conv/conv/W", (4, 1, 3, 3)),
        "bn/mean": ("bn/bn/mean", (1, 4, 1, 1)),
        "fc/W": ("fc/affine/W", (4, 3)),
        "fc/b": ("fc/affine/b", (3,)),
    }
    rng = np.random.default_rng(0)
    arrays = {
        "conv/W": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "bn/mean": rng.standard_normal((4, 1, 1)).astype(np.float32),
        "fc/W": rng.standard_normal((4, 10)),  # a classifier of another size
        "old/W": rng.standard_normal((2, 2)),  # what the model no longer has
    }
    in_file = {name: nnabla.get(name, ("old/affine/W",))[0] for name in arrays}  # nnabla's names in .h5
    for ext in (".npz", ".h5"):
        path = tmp_path / f"p{ext}"
        names = {n: (in_file[n], (1, 4, 1, 1) if n == "bn/mean" else a.shape) for n, a in arrays.items()}
        nnc_params.save_params(path, arrays, names if ext == ".h5" else None)
        loaded, skipped = nnc_params.load_fitting_params(path, expected, nnabla)
        assert sorted(loaded) == ["bn/mean", "conv/W"]
        np.testing.assert_array_equal(loaded["bn/mean"], arrays["bn/mean"])
        old = "old/affine/W" if ext == ".h5" else "old/W"
        assert skipped == ["fc/W: file 4x10, model 4x3", "fc/b: file -, model 3", f"{old}: file 2x2, model -"]
        summary = nnc_params.describe_fitting(path, len(expected), skipped)
        assert summary.splitlines() == [
            f"--init {path}: 2 of the model's 4 parameters loaded; not loaded (the model's keep their initial values):",
            "  fc/W: file 4x10, model 4x3",
            "  fc/b: file -, model 3",
            f"  {old}: file 2x2, model -",
        ]
    nnc_params.save_params(tmp_path / "other.npz", {"x/W": np.zeros((4, 3))})
    with pytest.raises(RunError, match=r"other\.npz: shares no parameter with this model") as e:
        nnc_params.load_fitting_params(tmp_path / "other.npz", expected)
    assert "\n" not in str(e.value)
    (tmp_path / "text.npz").write_text("not a zip\n", encoding="utf-8")
    with pytest.raises(RunError, match=r"text\.npz: not a parameter file"):
        nnc_params.load_fitting_params(tmp_path / "text.npz", expected)
