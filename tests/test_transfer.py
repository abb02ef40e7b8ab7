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
    unit = "unit U(lrate_multiplier: float = 1) {\n    in x\n    out x\n}\n"
    r = _compile(unit + 'network N {\n    y = Input(3, dataset="x") -> U\n}\n')
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
        'network ParameterNet {\n    x0 = Input(4, dataset="x0")\n'
        "    y = frozen_Parameter: BoxParameter(x0, lrate_multiplier=0)\n}\n"
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


# --- fine-tuning a frozen backbone from a pretrained file, and writing its features ----------------


def _transfer_project(tmp_path: Path, backend: str):
    """transfer.nnd's project for `backend` in tmp_path, with a small dataset of inline values
    (64 training and 16 validation samples of 1x8x8, 5 classes)."""
    from nndsl.backends import keras as keras_backend
    from nndsl.backends import torch as torch_backend

    rng = np.random.default_rng(3)
    (tmp_path / "digits").mkdir(exist_ok=True)
    for split, n in (("train", 64), ("validation", 16)):
        rows = [",".join([*(f"x__{i}" for i in range(64)), "y"])]
        for _ in range(n):
            rows.append(",".join([*(f"{v:.4f}" for v in rng.random(64)), str(rng.integers(0, 5))]))
        (tmp_path / "digits" / f"{split}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = SPEC.read_text(encoding="utf-8").replace("image_normalization = true", "image_normalization = false")
    (tmp_path / "transfer.nnd").write_text(text, encoding="utf-8")
    result = compile_file(tmp_path / "transfer.nnd")
    assert result.ok, _rendered(result)
    generate = {"torch": torch_backend.generate, "keras": keras_backend.generate}[backend]
    generate(result.project, tmp_path / backend)
    return tmp_path / backend


def _pretrained(model) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, tuple[int, ...]]]]:
    """A pretrained network's file for the transfer model: the backbone's parameters (random,
    variances positive) and its own classifier `backbone/fc` (which the model leaves out), a head
    for 7 classes where the model has 5 and no head/b; with nnabla's names and shapes."""
    rng = np.random.default_rng(5)
    names = dict(model.nnabla_names())
    arrays = {}
    for name in BACKBONE:
        shape = model.PARAMETERS[name][-3]  # NNC's shape
        arrays[name] = rng.standard_normal(shape).astype(np.float32) * np.float32(0.5)
    arrays["backbone/bn/var"] = np.abs(arrays["backbone/bn/var"]) + np.float32(0.5)
    arrays["backbone/fc/W"] = rng.standard_normal((8, 10)).astype(np.float32)
    arrays["backbone/fc/b"] = rng.standard_normal(10).astype(np.float32)
    arrays["head/W"] = rng.standard_normal((8, 7)).astype(np.float32)
    names.update({
        "backbone/fc/W": ("backbone/fc/affine/W", (8, 10)),
        "backbone/fc/b": ("backbone/fc/affine/b", (10,)),
        "head/W": ("head/affine/W", (8, 7)),
    })  # fmt: skip
    return arrays, names


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=ENV, capture_output=True, text=True, timeout=600, check=False
    )


def _features(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The backbone's pool value, by torch's functional ops (the reference, not generated code)."""
    import torch
    from torch.nn import functional as F

    t = {k: torch.from_numpy(v) for k, v in arrays.items()}
    h = F.conv2d(torch.from_numpy(x), t["backbone/conv/W"], padding=1)
    h = F.batch_norm(
        h, t["backbone/bn/mean"].reshape(-1), t["backbone/bn/var"].reshape(-1), t["backbone/bn/gamma"].reshape(-1),
        t["backbone/bn/beta"].reshape(-1), training=False, eps=1e-5,
    )  # fmt: skip
    return F.relu(h).mean(dim=(2, 3)).numpy()


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_fine_tuning_from_a_pretrained_file_keeps_the_frozen_backbone_and_writes_features(tmp_path, backend):
    """train.py --init loads the backbone from a file made for another head (the model's classifier
    has another shape, the file's own classifier is no parameter of the model: each reported on a
    line of its own), trains the new head with the backbone frozen (weight decay and the frozen
    BatchNormalization's running statistics included: bit for bit as loaded), and infer.py writes
    the Features network's values, which are the backbone's pool on the loaded parameters. A file
    sharing no parameter with the model is refused in one line, exit status 1 (torch)."""
    pytest.importorskip(backend)
    pytest.importorskip("torch")  # the reference features
    project = _transfer_project(tmp_path, backend)
    model = import_generated(project).create_model()
    arrays, names = _pretrained(model)
    init = tmp_path / ("pretrained.npz" if backend == "torch" else "pretrained.h5")
    nnc_params.save_params(init, arrays, None if backend == "torch" else names)
    device = ["--device", "cpu"] if backend == "torch" else []
    run = _run(project, "train.py", "--init", str(init), "--epochs", "1", "--seed", "0", *device)
    assert run.returncode == 0, run.stderr[-3000:]
    fc = "backbone/fc/affine" if backend == "keras" else "backbone/fc"  # the file's names (nnabla's in .h5)
    assert [line for line in run.stdout.splitlines() if line.startswith(("--init", "  "))] == [
        f"--init {init}: 5 of the model's 7 parameters loaded; not loaded (the model's keep their initial values):",
        "  head/W: file 8x7, model 8x5",
        "  head/b: file -, model 5",
        f"  {fc}/W: file 8x10, model -",
        f"  {fc}/b: file 10, model -",
    ]
    (params,) = project.glob("runs/*/params.npz")
    with np.load(params) as data:
        trained = {name: data[name] for name in data.files}
    for name in BACKBONE:
        np.testing.assert_array_equal(trained[name], arrays[name], err_msg=name)
    assert trained["head/W"].shape == (8, 5) and np.abs(trained["head/W"]).max() > 0

    out = tmp_path / "features.csv"
    run = _run(project, "infer.py", str(params), "--network", "Features", "--output", str(out), *device)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = out.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    assert header[-8:] == [f"features__{i}" for i in range(8)] and len(lines) == 17
    got = np.array([[float(v) for v in line.split(",")[-8:]] for line in lines[1:]], dtype=np.float32)
    with open(tmp_path / "digits" / "validation.csv", encoding="utf-8") as f:
        x = np.array([[float(v) for v in row.split(",")[:64]] for row in f.read().splitlines()[1:]], np.float32)
    np.testing.assert_allclose(got, _features(trained, x.reshape(-1, 1, 8, 8)), rtol=1e-4, atol=1e-5)

    if backend == "keras":
        return  # the refusal is the runtime's, shown once (TensorFlow starts slowly), as in test_nnc_param_files
    nnc_params.save_params(tmp_path / "other.npz", {"conv/W": np.zeros((8, 1, 3, 3), np.float32)})
    run = _run(project, "train.py", "--init", str(tmp_path / "other.npz"), "--epochs", "1", *device)
    assert run.returncode == 1 and run.stderr.strip().count("\n") == 0, run.stderr
    assert "other.npz: shares no parameter with this model" in run.stderr


# --- NNC: what its tool and nnabla make of the freezing -------------------------------------------


def _nnc_reading(root) -> dict:
    """An .nntxt's learning-rate multipliers per optimizer and batch_stat flags per network (the
    fixture tool's `nnc_reading`, on a parsed message)."""
    return {
        "learning_rate_multipliers": {
            opt.scalar("name"): {
                pv.scalar("variable_name"): float(pv.scalar("learning_rate_multiplier", "1"))
                for pv in opt.messages("parameter_variable")
            }
            for opt in root.messages("optimizer")
        },
        "batch_stat": {
            net.scalar("name"): {
                fn.scalar("name"): fn.messages("batch_normalization_param")[0].scalar("batch_stat").lower()
                for fn in net.messages("function")
                if fn.scalar("type") == "BatchNormalization"
            }
            for net in root.messages("network")
        },
    }


def test_the_export_freezes_what_nncs_conversion_freezes():
    """NNC's create_prototxt of the .sdcproj export (the fixture, tests/nnc/fixtures/export/transfer.json)
    gives the frozen backbone's parameters (and the running statistics) learning-rate multiplier 0, the
    head 1, and the frozen BatchNormalization batch_stat false in every network; nndsl's own .nntxt
    export and the generated model say the same."""
    import json

    from nndsl.backends.builder import build
    from nndsl.backends.torch.render import TorchDialect
    from nndsl.nnc.nntxt_write import project_to_nntxt
    from nndsl.nnc.prototext import parse

    fixture = json.loads((ROOT / "tests/nnc/fixtures/export/transfer.json").read_text(encoding="utf-8"))
    nnc = {"learning_rate_multipliers": fixture["learning_rate_multipliers"], "batch_stat": fixture["batch_stat"]}
    nnc["batch_stat"] = {n: {f: v.lower() for f, v in fs.items()} for n, fs in nnc["batch_stat"].items()}
    assert nnc["learning_rate_multipliers"]["optimizer"] == {
        "backbone/conv/conv/W": 0.0,
        "backbone/bn/bn/beta": 0.0,
        "backbone/bn/bn/gamma": 0.0,
        "backbone/bn/bn/mean": 0.0,
        "backbone/bn/bn/var": 0.0,
        "head/affine/W": 1.0,
        "head/affine/b": 1.0,
    }
    assert set(nnc["batch_stat"]) == {"Training", "Validation", "Features"}
    assert all(flags == {"backbone/bn": "false"} for flags in nnc["batch_stat"].values())
    result = compile_file(SPEC)
    ours = _nnc_reading(parse(project_to_nntxt(result.project)))
    assert ours["learning_rate_multipliers"] == nnc["learning_rate_multipliers"]
    assert ours["batch_stat"] == nnc["batch_stat"]
    m = build(result.project, TorchDialect())
    assert set(m.frozen) == {"backbone/conv/W", "backbone/bn/beta", "backbone/bn/gamma"}
    assert m.fixed_statistics == ["backbone/bn/beta"]


def test_the_import_keeps_nncs_batch_statistics_on_a_frozen_layer(tmp_path):
    """NNC's BatchStat true on a BatchNormalization whose beta and gamma are frozen (NNC's own rule:
    the statistics move) comes back as `batch_stat=true`, which nndsl does not derive there; a
    frozen one without it keeps its statistics (batch_stat false, written by the export)."""
    from nndsl.nnc.export import export_project
    from nndsl.nnc.importer import import_project
    from nndsl.nnc.sdcproj_write import sdcproj_text

    text = UNIT.replace("RATE", "0")
    for batch, want in (("true", True), ("false", False)):
        spec = tmp_path / f"bn_{batch}.nnd"
        spec.write_text(textwrap.dedent(text.replace("BATCH", batch)), encoding="utf-8")
        result = compile_file(spec)
        assert result.ok, _rendered(result)
        project = tmp_path / f"bn_{batch}.sdcproj"
        project.write_text(sdcproj_text(export_project(result)), encoding="utf-8")
        imported, diagnostics = import_project(project, str(tmp_path / f"back_{batch}.nnd"))
        assert imported is not None, [d.message for d in diagnostics]
        assert f"batch_stat={batch}" in imported
        (tmp_path / f"back_{batch}.nnd").write_text(imported, encoding="utf-8")
        back = compile_file(tmp_path / f"back_{batch}.nnd")
        assert back.ok, _rendered(back)
        layers = back.project.network("Training").layers
        assert {x.params["batch_stat"] for x in layers if x.type == "BatchNormalization"} == {want}
        rates = {q.lrate_multiplier for x in layers for q in x.parameters if q.trainable}
        assert rates == {0.0}


def test_live_nnabla_on_frozen_batch_normalization(tmp_path):
    """What NNC does with a frozen BatchNormalization (beta and gamma multipliers 0): with NNC's
    BatchStat true, `nnabla_cli train` of NNC's conversion moves the running mean and variance (the
    batches' statistics) though nothing is trained; with batch_stat false (nndsl's default for a
    frozen layer, which the export writes) they stay as initialized. Beta and gamma stay in both."""
    from nndsl.nnc import export_check as ec
    from nndsl.nnc.export import export_project
    from nndsl.nnc.sdcproj_write import sdcproj_text

    tools, python = ec.find_nnc_tools(), ec.find_nnabla_python()
    if tools is None or python is None:
        pytest.skip("needs NNC's tool and nnabla (NNDSL_NNC_TOOLS, NNDSL_NNABLA_PYTHON); the export fixture covers it")
    rng = np.random.default_rng(0)
    rows = ["x__0,x__1,x__2,x__3,y"]
    for _ in range(64):
        v = rng.random(4)
        rows.append(",".join(f"{a:.4f}" for a in v) + f",{int(v[0] + v[1] > 1)}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    statistics = {}
    for batch in ("true", None):
        args = "beta_lrate_multiplier=0, gamma_lrate_multiplier=0" + (f", batch_stat={batch}" if batch else "")
        spec = tmp_path / f"bn_{batch}.nnd"
        spec.write_text(
            'network Training {\n    x = Input(4, dataset="x")\n    y = Input(1, dataset="y")\n'
            f"    loss = x -> fc1: Affine(8) -> bn: BatchNormalization({args})\n"
            "        -> fc2: Affine(2) -> SoftmaxCrossEntropy(y)\n"
            '}\n\ndataset training = "train.csv" { shuffle = true }\n\n'
            "config {\n    max_epoch = 2\n    batch_size = 16\n"
            "    optimizer { network = Training, dataset = training, solver = Sgd(lr=0.1, weight_decay=0.01) }\n}\n",
            encoding="utf-8",
        )
        result = compile_file(spec)
        assert result.ok, _rendered(result)
        project = tmp_path / f"bn_{batch}.sdcproj"
        project.write_text(sdcproj_text(export_project(result)), encoding="utf-8")
        assert ec.run_nnc(tools, project) == {"error_check": "No errors were found.", "create_prototxt": True}
        out = tmp_path / f"out_{batch}"
        out.mkdir()
        cli = Path(python).with_name("nnabla_cli")
        run = subprocess.run(
            [str(cli), "train", "-c", str(project.with_suffix(".nntxt")), "-o", str(out)],
            cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=600, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        statistics[batch] = nnc_params.load_params(out / "results.nnp")
    moved, kept = statistics["true"], statistics[None]
    assert np.abs(moved["bn/bn/mean"]).max() > 0.01 and np.abs(moved["bn/bn/var"]).max() > 0.001
    assert not kept["bn/bn/mean"].any() and not kept["bn/bn/var"].any()  # as initialized: 0 (NNC's)
    for params in (moved, kept):
        assert not params["bn/bn/beta"].any() and (params["bn/bn/gamma"] == 1).all()


# --- feature extraction: a network ending at an inner value of a unit instance --------------------

TAPS = """
unit Stage(maps: int) {
    in x
    out x -> first: Convolution(maps, kernel=3x3, pad=1x1) -> ReLU -> block: repeat 2 { Convolution(maps, kernel=1x1) }
}
unit Net {
    in x
    h = x -> stage1: Stage(4) -> stage2: Stage(6)
    out h -> pool: GlobalAveragePooling -> fc: Affine(3)
}
network Runtime {
    x = Input(2x6x6, dataset="x")
    y' = x -> net: Net -> Softmax
}
network Features {
    x = Input(2x6x6, dataset="x")
    FEATURES
}
"""


@pytest.mark.parametrize(
    ("statement", "layers", "shape"),
    [
        ("f = x -> net: Net.pool", "net.pool", (6, 1, 1)),
        ("f = net: Net(x).stage2", "net.stage2.block[1].Convolution", (6, 6, 6)),
        ("f = net: Net(x).stage1.block[0]", "net.stage1.block[0].Convolution", (4, 6, 6)),
        ("f = x -> net: Net.stage2.first -> ReLU", "ReLU", (6, 6, 6)),
    ],
)
def test_an_inner_value_ends_a_network_that_shares_the_instances_parameters(statement, layers, shape):
    r = _compile(TAPS.replace("FEATURES", statement))
    assert r.ok, _rendered(r)
    net = r.project.network("Features")
    (out,) = net.outputs
    assert net.values[out].shape == shape and net.layers[-1].name == layers
    # the layers after it are left out; the ones before it are the Runtime network's, by name
    runtime = {x.name for x in r.project.network("Runtime").layers}
    assert {x.name for x in net.layers if x.type != "Input"} - {"ReLU"} <= runtime
    assert "net.fc" not in {x.name for x in net.layers}


def test_inner_values_are_written_canonically():
    text = TAPS.replace("FEATURES", "f = net: Net(x).stage1.block[1]\n    g = x -> net2: Net.pool")
    r = compile_file("t.nnd", text=textwrap.dedent(text))
    assert r.ok, _rendered(r)
    from nndsl.fmt import format_module
    from nndsl.syntax.parser import parse

    formatted = format_module(parse(textwrap.dedent(text), "t.nnd")[0])
    assert "    f = net: Net(x).stage1.block[1]\n    g = x -> net2: Net.pool\n" in formatted
    assert format_module(parse(formatted, "t.nnd")[0]) == formatted


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "f = x -> net: Net.pol",
            "t.nnd:17:14: error[E0322]: instance 'net' of unit 'Net' has no layer, unit instance or repeat 'pol'\n"
            "  17 |     f = x -> net: Net.pol\n"
            "     |              ^^^^^^^^^^^^\n"
            "  = help: did you mean 'pool'?\n",
        ),
        (
            "f = x -> Affine(3).W",
            "t.nnd:17:14: error[E0323]: '.W' reads an inner value of a unit instance, and Affine is a layer\n"
            "  17 |     f = x -> Affine(3).W\n"
            "     |              ^^^^^^^^^^^\n",
        ),
    ],
)
def test_an_inner_value_that_is_not_there_is_a_positioned_error(statement, expected):
    r = _compile(TAPS.replace("FEATURES", statement))
    assert _rendered(r).startswith(expected), _rendered(r)


def test_an_inner_value_of_several_outputs_is_refused():
    text = """
    unit Two {
        in x
        out x -> a: Affine(2), x -> b: Affine(3)
    }
    unit Net {
        in x
        out x -> two: Two -> ReLU
    }
    network N {
        x = Input(4, dataset="x")
        f = net: Net(x).two
    }
    """
    r = _compile(text.replace("out x -> two: Two -> ReLU", "a, b = two: Two(x)\n        out Add2(a, Affine(a, 2))"))
    (error,) = [d for d in r.diagnostics if d.severity == "error"]
    assert error.code == "E0323" and "is 2 values" in error.message, _rendered(r)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_network_ending_inside_an_instance_computes_that_value_in_both_backends(backend, tmp_path):
    """The Features network's value is the value inside the Runtime network's instance (one
    class for both: it returns the inner value too), deep inside it as well."""
    pytest.importorskip(backend)
    import importlib

    # two networks read two values of one instance: the deep one, and the pool
    pool = 'network Pool {\n    x = Input(2x6x6, dataset="x")\n    g = x -> net: Net.pool'
    statement = "f = net: Net(x).stage2.first\n}\n" + pool
    r = _compile(TAPS.replace("FEATURES", statement))
    assert r.ok, _rendered(r)
    importlib.import_module(f"nndsl.backends.{backend}").generate(r.project, tmp_path)
    model = import_generated(tmp_path).create_model()
    x = np.random.default_rng(1).random((2, 2, 6, 6), dtype=np.float32)
    params = tmp_path / "p.npz"
    model.save_params(params)
    with np.load(params) as data:
        p = {k: data[k] for k in data.files}
    if backend == "torch":
        import torch

        with torch.no_grad():
            runs = [model.run_network(n, x=torch.from_numpy(x)) for n in ("Features", "Pool")]
            got = {k: v.numpy() for outputs in runs for k, v in outputs.items()}
            probs = model.run_network("Runtime", x=torch.from_numpy(x))["y'"].numpy()
    else:
        got = {**model.run_network("Features", x=x), **model.run_network("Pool", x=x)}
        probs = model.run_network("Runtime", x=x)["y'"]
    import torch
    from torch.nn import functional as F

    t = {k: torch.from_numpy(v) for k, v in p.items()}
    h = torch.from_numpy(x)
    for stage in ("stage1", "stage2"):
        first = F.conv2d(h, t[f"net/{stage}/first/W"], t[f"net/{stage}/first/b"], padding=1)  # `first` is the layer
        h = F.relu(first)
        for k in range(2):
            h = F.conv2d(h, t[f"net/{stage}/block[{k}]/Convolution/W"], t[f"net/{stage}/block[{k}]/Convolution/b"])
    pool = h.mean(dim=(2, 3), keepdim=True)
    logits = pool.flatten(1) @ t["net/fc/W"] + t["net/fc/b"]
    np.testing.assert_allclose(got["f"], first.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["g"], pool.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), rtol=1e-5, atol=1e-6)


# --- the README's transfer job ---------------------------------------------------------------------


def test_the_transfer_job_prints_real_figures_from_a_pretrained_start(tmp_path):
    """`python -m nndsl.examples.transfer_job` with a tiny budget: the printed errors are numbers
    (percentages), the fine-tuning loaded the pretraining's backbone (its --init report) and kept it
    frozen (its parameters are the pretraining's, bit for bit), and the features were written."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = tmp_path / "job"
    run = subprocess.run(
        [sys.executable, "-m", "nndsl.examples.transfer_job", "--epochs", "1", "--pretrain-epochs", "1", "--out", out],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = re.search(
        r"^5\. validation error on digits 5-9 after 1 epochs: fine-tuned ([\d.]+)% \(([\d,]+) parameters trained\), "
        r"from scratch ([\d.]+)% \(([\d,]+) parameters trained\)$",
        run.stdout,
        re.M,
    )
    assert figures, run.stdout
    tuned, tuned_params, scratch, scratch_params = figures.groups()
    assert 0 <= float(tuned) <= 100 and 0 <= float(scratch) <= 100
    assert int(tuned_params.replace(",", "")) == 1024 * 5 + 5 < int(scratch_params.replace(",", ""))
    assert re.search(r"^--init .*params\.npz: 15 of the model's 17 parameters loaded;", run.stdout, re.M)
    assert "  head/W: file -, model 1024x5\n" in run.stdout and "  backbone/fc/W: file 64x5, model -\n" in run.stdout
    (pretrained,) = (out / "pretrain" / "runs").glob("*/params.npz")
    (tuned_params_file,) = (out / "finetune" / "runs").glob("*/params.npz")
    with np.load(pretrained) as before, np.load(tuned_params_file) as after:
        backbone = [name for name in after.files if name.startswith("backbone/")]
        assert len(backbone) == 15
        for name in backbone:
            np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    features = (out / "finetune" / "features.csv").read_text(encoding="utf-8").splitlines()
    assert features[0].split(",")[-1] == "features__1023" and len(features) > 100


@pytest.mark.parametrize("name", ["pretrain", "finetune", "scratch"])
def test_the_transfer_jobs_specs_are_canonical_and_lint_clean(name):
    from nndsl.fmt import format_module
    from nndsl.syntax.parser import parse

    folder = ROOT / "nndsl" / "examples" / "transfer"
    for spec in folder.glob("*.nnd"):
        text = spec.read_text(encoding="utf-8")
        assert format_module(parse(text, str(spec))[0]) == text, spec.name
    r = compile_file(folder / f"{name}.nnd", lint=True)
    assert r.ok and not r.diagnostics, _rendered(r)
