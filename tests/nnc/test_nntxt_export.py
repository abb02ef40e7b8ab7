"""`nndsl export SPEC -o OUT.nntxt`: nnabla's network file from a compiled spec.

Checked against nnabla and NNC's own tools: for every spec in specs/ and the hand specs in
fixtures/nntxt_export/specs/ (units, nested repeats, a repeat of one unit call, derived networks,
two optimizers, frozen parameters, schedules, one network per layer type of the registry),
nnabla loaded the exported file (`NnpLoader`) and ran its networks; with the same parameters
(deterministic, regenerated here) and inputs, nnabla's outputs equal the generated PyTorch
model's within 1e-4 of the output's scale for every network without active random layers; NNC's
`import_nntxt` read the file. What nnabla computed is stored by tools/nnc_nntxt_export_fixtures.py;
the live tests rerun nnabla and NNC's tool where they are installed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nntxt_export_cases as C  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.layers import REGISTRY  # noqa: E402
from nndsl.nnc.names import nnc_parameter_table  # noqa: E402
from nndsl.nnc.nntxt import read_nntxt_text  # noqa: E402
from nndsl.nnc.nntxt_write import project_to_nntxt, variable_names  # noqa: E402
from nndsl.nnc.prototext import parse, write  # noqa: E402

ROOT = C.ROOT
CASES = C.spec_paths()
NNABLA = os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python")
NNC_TOOL = ROOT.parent.parent / "shared" / "nnc-tools" / "nncd_console"
if not NNC_TOOL.exists():
    NNC_TOOL = Path("/work/shared/nnc-tools/nncd_console")
TOLERANCE = 1e-4


@functools.cache
def _project(case: str):  # the IR is immutable: compiled once per case
    result = compile_file(CASES[case])
    assert result.ok, [d.message for d in result.diagnostics]
    return result.project


def _fixture(case: str) -> tuple[str | None, dict[str, np.ndarray], dict]:
    """(the golden .nntxt, None for the large specs whose SHA-256 alone is stored; nnabla's
    outputs; the report)."""
    base = C.FIXTURES / case
    golden = base.with_suffix(".nntxt")
    text = golden.read_text(encoding="utf-8") if case not in C.LARGE else None
    arrays = dict(np.load(base.with_suffix(".npz"), allow_pickle=False))
    report = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
    return text, arrays, report


def _torch_project(case: str, project):
    """The project the PyTorch backend is run on: for the layer zoo, only its networks of layer
    types the backend generates code for (nnabla ran them all)."""
    if case != "hand_all_layers":
        return project
    parts, _ = C.all_layers_parts()
    text = C.all_layers_spec(set(C.torch_types(parts)))
    return compile_file(CASES[case], text=text).project


def _compared(case: str, project) -> list[str]:
    return [n for n in C.networks_run(case, project) if project.network(n) and C.deterministic(project.network(n))]


def _check_against(case, project, nnabla_outputs: dict[str, np.ndarray], tmp_path) -> dict[str, float]:
    tp = _torch_project(case, project)
    names = [n for n in _compared(case, project) if tp.network(n) is not None]
    assert names, f"{case}: no network to compare"
    nndsl_params, _ = C.parameters(project)
    batch = 1 if case in C.LARGE else 2
    feeds = {n: C.inputs(project.network(n), batch) for n in names}
    got = C.torch_outputs(tp, tmp_path / "torch", nndsl_params, feeds, names)
    worst: dict[str, float] = {}
    problems = []
    for net, outputs in got.items():
        for var, value in outputs.items():
            key = f"{net}:{var}"
            assert key in nnabla_outputs, f"nnabla has no output {key}: {sorted(nnabla_outputs)[:10]}"
            if f"{case}:{key}" in C.NNABLA_NOT_MEANINGFUL:
                continue
            diff, scale = C.max_difference(nnabla_outputs[key], value)
            worst[key] = diff / scale
            if diff > TOLERANCE * scale:
                problems.append(f"{key}: max abs difference {diff:.3g}, scale {scale:.3g}")
    assert not problems, "\n".join(problems)
    return worst


# --- the golden files: what the tools accepted ----------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_export_writes_the_file_nnabla_and_nnc_accepted(case):
    text, _, report = _fixture(case)
    written = _nntxt(case)
    if text is not None:
        assert written == text
    assert hashlib.sha256(written.encode()).hexdigest() == report["sha256"]
    assert report["import_nntxt"] == "The network was successfully imported from nnabla nntxt."
    failed = {n: r["nnabla"] for n, r in report["networks"].items() if r["nnabla"] != "ok"}
    assert not failed


@pytest.mark.parametrize("case", [c for c in CASES if c not in C.LARGE or c in ("resnet18", "resnet34", "resnet50")])
def test_nnabla_outputs_equal_the_torch_model(case, tmp_path):
    _, arrays, _ = _fixture(case)
    _check_against(case, _project(case), arrays, tmp_path)


@pytest.mark.parametrize("case", list(CASES))
def test_every_network_run_in_nnabla_has_the_ir_output_shapes(case):
    """Networks with active random layers are not compared but ran: their outputs have the
    shapes the IR inferred, as those of every other network."""
    project = _project(case)
    _, arrays, _ = _fixture(case)
    batch = 1 if case in C.LARGE else 2
    for name in C.networks_run(case, project):
        net = project.network(name)
        var = variable_names(net)
        for vid in net.outputs:
            assert arrays[f"{name}:{var[vid]}"].shape == (batch, *net.value(vid).shape), (name, var[vid])


@pytest.mark.parametrize("case", list(CASES))
def test_parameter_names_are_nnablas_own(case):
    """nnabla created exactly the parameters `nnc_parameter_table` names, in nnabla's shapes."""
    project = _project(case)
    _, arrays, _ = _fixture(case)
    table = nnc_parameter_table(project)
    root = parse(_nntxt(case))
    for name in C.networks_run(case, project):
        net = project.network(name)
        expected = {nnabla for nndsl, (nnabla, _) in nnc_parameter_table(net).items()}
        assert set(arrays[f"params:{name}"].tolist()) == expected, name
    shapes = {nnabla: tuple(shape) for nnabla, shape in table.values()}
    for msg in root.messages("network"):
        for v in msg.messages("variable"):
            if v.scalar("type") == "Parameter":
                assert tuple(int(d) for d in v.first("shape").message.scalars("dim")) == shapes[v.scalar("name")]


def test_the_layer_zoo_is_current_and_covers_the_registry():
    parts, skipped = C.all_layers_parts()
    assert (C.HAND / "all_layers.nnd").read_text(encoding="utf-8") == C.all_layers_spec()
    # Every other registry layer type is in the zoo. A Parameter's value can only go to another layer's
    # connector, never be a network's output: tests/nnc/test_nnc_parameter_layer.py covers it.
    assert skipped == ["Input", "Parameter"]
    nndsl_only = {t for t, spec in REGISTRY.items() if spec.nndsl_only}
    assert set(parts) == set(REGISTRY) - {"Input", "Parameter"} - nndsl_only
    report = json.loads((C.FIXTURES / "hand_all_layers.json").read_text(encoding="utf-8"))
    assert {f"{t}Net" for t in parts} == set(report["networks"])


# --- the structure NNC writes ---------------------------------------------------------------------


@functools.cache
def _nntxt(case: str) -> str:
    return project_to_nntxt(_project(case))


def _message(case: str):
    return parse(_nntxt(case))


def test_sections_in_nncs_order_and_names():
    root = _message("lenet")
    order = [f.name for f in root.fields]
    assert order[:2] == ["global_config", "training_config"]
    assert order[2:] == sorted(order[2:], key=["network", "dataset", "optimizer", "monitor", "executor"].index)
    opt = root.messages("optimizer")[0]
    assert opt.scalar("network_name") == "Training" and opt.scalar("dataset_name") == "training"
    assert [dv.scalar("variable_name") for dv in opt.messages("data_variable")] == ["x", "y"]
    assert [lv.scalar("variable_name") for lv in opt.messages("loss_variable")] == ["CategoricalCrossEntropy"]
    solver = opt.messages("solver")[0]
    assert solver.scalar("type") == "Adam" and solver.messages("adam_param")[0].scalar("alpha") == "0.001"
    ex = root.messages("executor")[0]
    assert [o.scalar("data_name") for o in ex.messages("output_variable")] == ["y'"]
    net = root.messages("network")[0]
    first = net.messages("variable")[0]
    assert first.scalar("name") == "x" and first.first("shape").message.scalars("dim") == ["-1", "1", "28", "28"]


NNC_NNTXT = C.FIXTURES.parent / "nntxt"  # what NNC's create_prototxt wrote for its samples


def _functions(network) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for f in network.messages("function"):
        params = [x for x in f.fields if x.kind == "message"]
        fields = (
            [(x.name, write(x.message) if x.kind == "message" else x.value) for x in params[0].message.fields]
            if params
            else []
        )
        out.append((f.scalar("type"), fields))
    return out


def test_functions_are_written_as_nncs_create_prototxt_writes_them():
    """specs/lenet.nnd is NNC's LeNet sample: its Training and Runtime networks, exported, have
    the functions create_prototxt wrote for the sample (types, argument fields in NNC's order,
    values) and parameter variables of the same shapes and initializers. The one difference:
    NNC resolves ReLU's `*AutoInPlaceOnce` to `inplace: True`; the export leaves it at nnabla's
    default (false), always correct, whatever else reads the input."""
    nnc = parse((NNC_NNTXT / "image_recognition_MNIST_LeNet.nntxt").read_text(encoding="utf-8"))
    ours = _message("lenet")
    pairs = [("Main", "Training"), ("MainRuntime", "Runtime")]
    for theirs_name, ours_name in pairs:
        a = next(n for n in nnc.messages("network") if n.scalar("name") == theirs_name)
        b = next(n for n in ours.messages("network") if n.scalar("name") == ours_name)
        fa = [(t, [(k, v) for k, v in fs if not (t == "ReLU" and k == "inplace")]) for t, fs in _functions(a)]
        assert fa == _functions(b), ours_name

        def params(n):
            return [
                (v.first("shape").message.scalars("dim"), v.messages("initializer")[0].scalar("type"))
                for v in n.messages("variable")
                if v.scalar("type") == "Parameter"
            ]

        assert params(a) == params(b), ours_name


def test_frozen_parameters_have_multiplier_zero_and_state_too():
    root = _message("hand_derived")
    opt = root.messages("optimizer")[0]
    mult = {p.scalar("variable_name"): p.scalar("learning_rate_multiplier") for p in opt.messages("parameter_variable")}
    assert mult == {"fc1/affine/W": "0", "fc1/affine/b": "0", "fc2/affine/W": "1", "fc2/affine/b": "1"}
    root = _message("hand_bn")
    mult = {
        p.scalar("variable_name"): p.scalar("learning_rate_multiplier")
        for p in root.messages("optimizer")[0].messages("parameter_variable")
    }
    assert mult["bn/bn/mean"] == mult["bn/bn/var"] == "0" and mult["bn/bn/gamma"] == "1"


def test_skip_at_test_layers_are_left_out_where_no_optimizer_trains():
    root = _message("hand_derived")
    types = {n.scalar("name"): [f.scalar("type") for f in n.messages("function")] for n in root.messages("network")}
    assert "Dropout" in types["Training"]
    assert "Dropout" not in types["Validation"] and "Dropout" not in types["Validation3"]
    v3 = next(n for n in root.messages("network") if n.scalar("name") == "Validation3")
    top = next(f for f in v3.messages("function") if f.scalar("type") == "TopNError")
    assert top.messages("top_n_error_param")[0].scalar("n") == "3"


def test_two_optimizers_solvers_and_schedules():
    root = _message("hand_optimizers")
    gen, dis = root.messages("optimizer")
    assert (gen.scalar("name"), gen.scalar("network_name")) == ("gen_opt", "Generator")
    assert (dis.scalar("name"), dis.scalar("network_name")) == ("dis_opt", "Discriminator")
    g, d = gen.messages("solver")[0], dis.messages("solver")[0]
    assert g.scalar("type") == "RMSprop" and g.messages("rmsprop_param")[0].scalar("decay") == "0.9"
    assert g.scalar("lr_scheduler_type") == "Exponential"
    assert g.messages("exponential_scheduler_param")[0].scalar("iter_interval") == "50"
    assert d.scalar("type") == "AdamW" and d.messages("adamw_param")[0].scalar("wd") == "0.01"
    assert d.scalar("weight_decay") == "0.01"
    assert d.scalar("lr_scheduler_type") == "Polynomial" and d.scalar("lr_warmup_scheduler_type") == "Linear"
    assert d.messages("linear_warmup_scheduler_param")[0].scalar("warmup_iter") == "20"
    # The shared discriminator's parameters are in both optimizers, once each.
    names = [p.scalar("variable_name") for p in dis.messages("parameter_variable")]
    assert names == ["dis/affine/W", "dis/affine/b"]


def test_repeat_copies_are_named_as_nnablas_expander_names_them():
    root = _message("hand_units_repeats")
    train = root.messages("network")[0]
    params = [v.scalar("name") for v in train.messages("variable") if v.scalar("type") == "Parameter"]
    assert "block[2]/conv1/conv/W" in params  # a repeat of one unit call: a Unit named after the repeat
    assert "stage/Convolution[1][0]/conv/W" in params  # nested repeats: indices outer first, no scope
    assert "Affine[1]/affine/W" in params  # a repeat has no scope of its own
    training = _project("hand_units_repeats").network("Training")
    assert set(params) == {n for n, _ in nnc_parameter_table(training).values()}


def test_iterations_per_epoch_from_the_csv(tmp_path):
    (tmp_path / "train.csv").write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(100)), encoding="utf-8")
    spec = tmp_path / "s.nnd"
    spec.write_text(
        "network Training {\n"
        '    x = Input(1, dataset="x")\n'
        '    y = Input(1, dataset="y")\n'
        "    loss = x -> Affine(1) -> SquaredError(y)\n"
        "}\n\n"
        'dataset training = "train.csv"\n\n'
        "config {\n"
        "    max_epoch = 5\n"
        "    batch_size = 16\n"
        "    optimizer {\n"
        "        network = Training\n"
        "        dataset = training\n"
        "        solver = Sgd(lr=0.1)\n"
        "        schedule = Step(multiplier=0.5, steps=[2 epochs, 3 epochs], warmup=1 epochs)\n"
        "    }\n"
        "}\n",
        encoding="utf-8",
    )
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    root = parse(project_to_nntxt(result.project))
    assert root.messages("training_config")[0].scalar("iter_per_epoch") == "6"  # 100 rows // 16
    solver = root.messages("optimizer")[0].messages("solver")[0]
    assert solver.messages("step_scheduler_param")[0].scalars("iter_steps") == ["12", "18"]
    assert solver.messages("linear_warmup_scheduler_param")[0].scalar("warmup_iter") == "6"


def test_a_csv_outside_the_specs_folder_is_not_read(tmp_path):
    (tmp_path / "train.csv").write_text("x,y\n" + "1,0\n" * 100, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    spec = tmp_path / "sub" / "s.nnd"
    spec.write_text(
        'network Training {\n    x = Input(1, dataset="x")\n    y = Input(1, dataset="y")\n'
        "    loss = x -> Affine(1) -> SquaredError(y)\n}\n\n"
        'dataset training = "../train.csv"\n\nconfig {\n    batch_size = 10\n'
        "    optimizer { network = Training, dataset = training, solver = Sgd(lr=0.1) }\n}\n",
        encoding="utf-8",
    )
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    root = parse(project_to_nntxt(result.project))
    assert root.messages("training_config")[0].scalar("iter_per_epoch") == "0"


@pytest.mark.parametrize("case", list(CASES))
def test_the_nntxt_reader_reads_the_export_back(case):
    """`read_nntxt` (nndsl's reader, NNC's mapping) reads every network with a layer per
    function of the layer's type, and the config."""
    project = _project(case)
    nnc = read_nntxt_text(_nntxt(case), f"{case}.nntxt")
    assert [n.name for n in nnc.networks] == [n.name for n in project.networks]
    for net, back in zip(project.networks, nnc.networks, strict=True):
        expected = sorted(
            layer.type
            for layer in net.layers
            if layer.type != "Input" and not (not net.training and layer.params.get("skip_at_test"))
        )
        # (An Input per data input; the reader also makes one of a parameter NNC's layer has no
        # pin for, BinaryWeightAffine's alpha: not compared.)
        assert sorted(layer.type for layer in back.layers if layer.type != "Input") == expected, net.name
        assert len([layer for layer in back.layers if layer.type == "Input"]) >= len(net.inputs)
    assert len(nnc.section("Optimizer")) == len(project.config.optimizers)
    assert len(nnc.section("Monitor")) == len(project.config.monitors)
    assert len(nnc.section("Executor")) == len(project.config.executors)
    for opt, section in zip(project.config.optimizers, nnc.section("Optimizer"), strict=True):
        assert section.items["SolverName"] == opt.solver.type
        assert section.items["Optimizer_NetworkName"] == opt.network


# --- the command ----------------------------------------------------------------------------------


def _nndsl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "nndsl", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_cli_writes_refuses_to_overwrite_and_forces(tmp_path):
    out = tmp_path / "lenet.nntxt"
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8") == project_to_nntxt(_project("lenet"))
    assert "iter_per_epoch is 0" in r.stderr  # the MNIST CSVs are not in the repository
    out.write_text("mine", encoding="utf-8")
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out), cwd=ROOT)
    assert r.returncode == 1 and "E0961" in r.stderr and "--force" in r.stderr
    assert out.read_text(encoding="utf-8") == "mine"
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(out), "--force", "--format", "json", cwd=ROOT)
    assert r.returncode == 0 and json.loads(r.stdout)["errors"] == 0
    assert out.read_text(encoding="utf-8").startswith("global_config {")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_cli_errors(tmp_path):
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(tmp_path / "x.onnx"), cwd=ROOT)
    assert r.returncode == 2 and ".nntxt" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.nnd"
    bad.write_text('network Training {\n    x = Input(4, dataset="x")\n    y = x -> Affine(oops)\n}\n', "utf-8")
    r = _nndsl("export", str(bad), "-o", str(tmp_path / "bad.nntxt"), cwd=ROOT)
    assert r.returncode == 1 and "bad.nnd:3:" in r.stderr and not (tmp_path / "bad.nntxt").exists()
    r = _nndsl("export", "specs/lenet.nnd", "-o", str(tmp_path / "no" / "x.nntxt"), cwd=ROOT)
    assert r.returncode == 1 and "E0901" in r.stderr and "Traceback" not in r.stderr


# --- live: nnabla and NNC's tool, where they are installed -----------------------------------------


def _need_nnabla() -> None:
    if not Path(NNABLA).exists():
        pytest.skip(f"nnabla's Python is not at {NNABLA} (set NNDSL_NNABLA_PYTHON); the fixtures cover this")


@pytest.mark.parametrize("case", ["lenet", "hand_units_repeats", "hand_derived", "hand_optimizers", "hand_bn"])
def test_live_nnabla_runs_the_export_with_the_torch_models_outputs(case, tmp_path):
    _need_nnabla()
    sys.path.insert(0, str(ROOT / "tools"))
    from nnc_nntxt_export_fixtures import feeds, run_nnabla

    project = _project(case)
    nntxt = tmp_path / "x.nntxt"
    nntxt.write_text(project_to_nntxt(project), encoding="utf-8")
    _, params = C.parameters(project)
    out = run_nnabla(NNABLA, nntxt, params, feeds(case, project), tmp_path)
    assert not [k for k in out if k.startswith("error:")], {k: str(v) for k, v in out.items() if k.startswith("error")}
    _check_against(case, project, out, tmp_path)


def test_live_nncs_import_nntxt_reads_the_export(tmp_path):
    if not (NNC_TOOL / "nncd_console_cli_util").exists():
        pytest.skip(f"NNC's tool is not at {NNC_TOOL}; the fixtures record what it said")
    for case in ("lenet", "hand_units_repeats", "hand_optimizers"):
        nntxt = tmp_path / f"{case}.nntxt"
        nntxt.write_text(project_to_nntxt(_project(case)), encoding="utf-8")
        out = tmp_path / f"{case}.sdcproj"
        r = subprocess.run(
            ["./nncd_console_cli_util", "import_nntxt", "-i", str(nntxt), "-o", str(out)],
            cwd=NNC_TOOL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0 and "successfully imported" in r.stdout, r.stdout + r.stderr
        assert out.exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


TRAINED = """network Training {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    loss = x
        -> fc1: Affine(8, w_init="Constant", w_init_multiplier=0.1, w_lrate_multiplier=0, b_lrate_multiplier=0)
        -> Tanh
        -> fc2: Affine(2)
        -> SoftmaxCrossEntropy(y)
}

network Validation {
    x = Input(4, dataset="x")
    y = Input(1, dataset="y")
    error = x -> fc1: Affine(8) -> Tanh -> fc2: Affine(2) -> TopNError(y, n=1)
}

network Runtime {
    x = Input(4, dataset="x")
    y' = x -> fc1: Affine(8) -> Tanh -> fc2: Affine(2) -> Softmax
}

dataset training = "train.csv" { shuffle = true }

config {
    max_epoch = 3
    batch_size = 16
    optimizer { network = Training, dataset = training, solver = Adam(lr=0.05), schedule = Cosine }
    monitor valid_error { network = Validation, dataset = training }
    executor { network = Runtime, dataset = training }
}
"""


def test_live_nnabla_cli_trains_and_runs_the_export(tmp_path):
    """`nnabla_cli train` trains the exported project (optimizer, schedule, monitor) and leaves
    the frozen layer as it was; `nnabla_cli forward` runs its executor on the dataset."""
    _need_nnabla()
    import zipfile

    import h5py

    cli = Path(NNABLA).with_name("nnabla_cli")
    rows = ["x__0,x__1,x__2,x__3,y"]
    for i in range(64):
        v = C._values(4, 7 + i)
        rows.append(",".join(f"{a:.4f}" for a in v) + f",{int(v[0] + v[1] > 1)}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "tiny.nnd").write_text(TRAINED, encoding="utf-8")
    r = _nndsl("export", "tiny.nnd", "-o", "tiny.nntxt", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "iter_per_epoch: 4" in (tmp_path / "tiny.nntxt").read_text(encoding="utf-8")  # 64 rows // 16
    (tmp_path / "out").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [str(cli), "train", "-c", "tiny.nntxt", "-o", "out"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = (tmp_path / "out" / "monitoring_report.yml").read_text(encoding="utf-8")
    assert report.count("valid_error") == 3  # monitored each epoch
    with zipfile.ZipFile(tmp_path / "out" / "results.nnp") as z:
        (tmp_path / "p.h5").write_bytes(z.read("parameter.h5"))
    with h5py.File(tmp_path / "p.h5", "r") as f:
        w1 = f["fc1/affine/W"][()]
        b1 = f["fc1/affine/b"][()]
        w2 = f["fc2/affine/W"][()]
    assert np.all(w1 == np.float32(0.1)) and np.all(b1 == 0)  # frozen: learning_rate_multiplier 0
    assert w2.shape == (8, 2) and np.std(w2) > 0
    (tmp_path / "fwd").mkdir()
    r = subprocess.run(
        [str(cli), "forward", "-c", "out/results.nnp", "-d", "train.csv", "-o", "fwd"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = (tmp_path / "fwd" / "output_result.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith("y'__0,y'__1") and len(lines) == 65
    probs = np.array([[float(v) for v in line.split(",")[-2:]] for line in lines[1:]])
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
