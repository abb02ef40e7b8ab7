"""Regenerate tests/nnc/fixtures/extra_layers/ from NNC's own project tool and nnabla 1.39.

NNC's Parameter, WorkingMemory, VATNoise and Unlink layers, in two small projects this script
writes (in NNC's multi-network layout) and then hands to NNC's tool and to nnabla:

- `vat_layers.sdcproj`: networks `Labeled` (x -> fc -> SoftmaxCrossEntropy), `Vat` (a VAT step:
  WorkingMemory `r` -> VATNoise(r, Buf=r) added to x -> fc -> Softmax -> KLMultinomial against
  an Unlink'ed clean prediction) and `Use` (x + the same `r` -> fc -> Softmax: a second network
  reading the buffer). `r`'s LRateMultiplier is 1.0, so that nnabla runs VATNoise's backward;
  `r0` (a second WorkingMemory in `Vat`, NNC's default LRateMultiplier 0.0) shows that it does
  not run it then.
- `parameter_layers.sdcproj`: NNC's Parameter layer linked into an Affine's `b` connector
  (NNC accepts it) and into an Add2 with the data (NNC's own `complete` gives no shape).

Outputs:
- `<project>.complete.json`: per network {layer: [Output, CostParameter]} from NNC's `complete`,
  and `error_check`'s lines;
- `vat_layers.nntxt` (create_prototxt's network file of it) and `vat_layers.nntxt.json`: the
  variables (name, type, shape, initializer) and functions (type, inputs, parameters) of that
  file, per network;
- `vat_nnabla.npz`: nnabla's run of that network file (batch 2): the parameters, `x`, `r` and
  `r0` as created, network Vat's `kl` after a forward, the buffers and the parameters' gradients
  after its backward, network Use's `pred` after that; plus nnabla's own functions on fixed
  arrays (`vat_noise` with base_axis 1 and 2, `unlink`): outputs, the buffer written and the
  input gradient; `vat_nnabla_params.h5`, nnabla's own parameter file of that run (after the
  backward, before any update: the initial values), and the names it holds;
- `vat_layers.export.sdcproj` / `.nntxt`: `nndsl export` of `nndsl import vat_layers.sdcproj`
  (nndsl runs in `--nndsl-python`, this repository first on its path), with NNC's verdict on
  the exported project (`vat_layers.export.complete.json`, `vat_layers.export.nntxt.json`) and
  nnabla's run of the exported .nntxt from the first run's values (`vat_export_nnabla.npz`).

Run with nnabla's Python (numpy and nnabla; nndsl only as a subprocess):

    /work/nnabla-venv/bin/python tools/nnc_extra_layers_fixtures.py \
        [--tool /work/shared/nnc-tools/nncd_console] [--nndsl-python /work/main/.venv/bin/python]

The tool runs with its own folder as the working directory, on absolute paths.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/nnc/fixtures/extra_layers"


# --- the projects ------------------------------------------------------------------------------


def _layer(net: str, k: int, lid: int, typ: str, props: dict[str, str]) -> list[str]:
    out = [f"[{net}_Layer_{k}]", f"ID={lid}", f"Type={typ}"]
    out += [f"Position_0={24 + 312 * (lid % 2)}", f"Position_1={24 + 48 * lid}", "Position_2=240", "Position_3=48"]
    for j, (n, v) in enumerate(props.items()):
        out += [f"Property_{j}_Name={n}", f"Property_{j}_Value={v}"]
    out.append(f"NumProperty={len(props)}")
    return out


def _project(networks: dict, optimizers: list[str], monitors: list[str], executor: str) -> str:
    out = ["[Engine]", "SDeepEngineType=NNabla", "[Global]", f"NumNetwork={len(networks)}"]
    out += [f"Network_{i}={n}" for i, n in enumerate(networks)]
    for name, (layers, links) in networks.items():
        out += [f"[{name}_Network_Global]", f"NumLayer={len(layers)}", f"NumLink={len(links)}"]
        for k, (lid, typ, props) in enumerate(layers):
            out += _layer(name, k, lid, typ, props)
        for k, (s, sp, d, dp) in enumerate(links):
            out += [f"[{name}_Link_{k}]", f"ID={k}", f"SourceLayerID={s}", f"SourcePinIndex={sp}"]
            out += [f"DestLayerID={d}", f"DestPinIndex={dp}"]
    out += ["[Dataset]", "Num=1", "MainIndex=0", "[Dataset_0]", "Name=Training", "URI=data.csv", "Shuffle=1"]
    out += ["EnableCache=0", "ImageNormalization=1", "NumData=0"]
    out += ["[Config]", "MaxEpoch=1", "SaveBest=1", "BatchSize=2", f"NumOptimizer={len(optimizers)}"]
    out += [f"NumMonitor={len(monitors)}", "NumExecutor=1"]
    for i, net in enumerate(optimizers):
        out += [f"[Optimizer_{i}]", f"Optimizer_Name=Opt{net}", f"Optimizer_NetworkName={net}"]
        out += ["Optimizer_DatasetName=Training", "UpdateInterval=1", "SolverName=Sgd", "SolverParameterNum=1"]
        out += ["SolverParameterName_0=LearningRate", "SolverParameter_0=0.1", "WeightDecay=0"]
        out += ["LearningRateMultiplier=1", "LearningRateUpdateInterval=1"]
    for i, net in enumerate(monitors):
        out += [f"[Monitor_{i}]", f"Monitor_Name=monitor_{net}", f"Monitor_NetworkName={net}"]
        out += ["Monitor_DatasetName=Training"]
    out += ["[Executor_0]", "Executor_Name=Executor", f"Executor_NetworkName={executor}"]
    out += ["Executor_DatasetName=Training", "NumEvaluations=1", "RepeatEvaluationType=0", "NeedBackPropagation=0"]
    return "\n".join(out) + "\n"


X = {"Name": "x", "Size": "1,4,4", "Dataset": "x"}


def vat_project() -> str:
    main = (
        [
            (0, "Input", X),
            (1, "Affine", {"Name": "fc", "OutShape": "3"}),
            (2, "SoftmaxCrossEntropy", {"Name": "loss", "T.Dataset": "y"}),
        ],
        [(0, 0, 1, 0), (1, 0, 2, 0)],
    )
    vat = (
        [
            (0, "Input", X),
            (1, "Affine", {"Name": "fc_clean", "OutShape": "3"}),
            (2, "Softmax", {"Name": "p"}),
            (3, "Unlink", {"Name": "Unlink"}),
            (4, "WorkingMemory", {"Name": "r", "Size": "1,4,4", "LRateMultiplier": "1.0"}),
            (5, "VATNoise", {"Name": "VATNoise", "Epsilon": "0.5"}),
            (
                6,
                "WorkingMemory",
                {"Name": "r0", "Size": "1,4,4", "Initializer": "Uniform", "InitializerMultiplier": "2.0"},
            ),
            (7, "VATNoise", {"Name": "VATNoise_2", "Epsilon": "0.25"}),
            (8, "Add2", {"Name": "Add2"}),
            (9, "Add2", {"Name": "Add2_2"}),
            (10, "Affine", {"Name": "fc_2", "OutShape": "3", "ParameterScope": "fc"}),
            (11, "Softmax", {"Name": "q"}),
            (12, "KLMultinomial", {"Name": "kl"}),
        ],
        [
            (0, 0, 1, 0),
            (1, 0, 2, 0),
            (2, 0, 3, 0),
            (4, 0, 5, 0),
            (4, 0, 5, 1),
            (6, 0, 7, 0),
            (6, 0, 7, 1),
            (0, 0, 8, 0),
            (5, 0, 8, 0),
            (8, 0, 9, 0),
            (7, 0, 9, 0),
            (9, 0, 10, 0),
            (10, 0, 11, 0),
            (11, 0, 12, 0),
            (3, 0, 12, 1),
        ],
    )
    use = (
        [
            (0, "Input", X),
            (1, "WorkingMemory", {"Name": "r", "Size": "1,4,4", "LRateMultiplier": "1.0"}),
            (2, "Add2", {"Name": "Add2_3"}),
            (3, "Affine", {"Name": "fc_3", "OutShape": "3", "ParameterScope": "fc"}),
            (4, "Softmax", {"Name": "pred"}),
        ],
        [(0, 0, 2, 0), (1, 0, 2, 0), (2, 0, 3, 0), (3, 0, 4, 0)],
    )
    return _project({"Labeled": main, "Vat": vat, "Use": use}, ["Labeled", "Vat"], ["Labeled"], "Use")


def parameter_project() -> str:
    into_bias = (
        [
            (0, "Input", X),
            (1, "Parameter", {"Name": "bias_p"}),
            (2, "Affine", {"Name": "fc_p", "OutShape": "3"}),
            (3, "SquaredError", {"Name": "se", "T.Dataset": "t"}),
        ],
        [(0, 0, 2, 0), (1, 0, 2, 2), (2, 0, 3, 0)],
    )
    into_data = (
        [
            (0, "Input", X),
            (1, "Parameter", {"Name": "offset", "Size": "1,4,4"}),
            (2, "Add2", {"Name": "Add2_p"}),
            (3, "Affine", {"Name": "fc_q", "OutShape": "3"}),
            (4, "SquaredError", {"Name": "se_2", "T.Dataset": "t"}),
        ],
        [(0, 0, 2, 0), (1, 0, 2, 0), (2, 0, 3, 0), (3, 0, 4, 0)],
    )
    return _project({"IntoBias": into_bias, "IntoData": into_data}, ["IntoBias", "IntoData"], [], "IntoBias")


# --- NNC's tool -----------------------------------------------------------------------------------

_PROP = re.compile(r"Property_(\d+)_(Name|Value)=(.*)")


def completed_layers(text: str) -> dict[str, dict[str, list]]:
    """{network: {layer name: [Output shape, CostParameter]}} of a `complete`d project."""
    out: dict[str, dict[str, list]] = {}
    for section in re.split(r"\n(?=\[)", text):
        head = re.match(r"\[(\w+?)_Layer_\d+\]", section)
        if not head:
            continue
        props: dict[str, dict[str, str]] = {}
        for line in section.splitlines():
            m = _PROP.match(line)
            if m:
                props.setdefault(m[1], {})[m[2]] = m[3]
        named = {p.get("Name"): p.get("Value", "") for p in props.values()}
        shape = [int(v) for v in named.get("Output", "").split(",") if v.strip()]
        cost = named.get("CostParameter", "")
        out.setdefault(head[1], {})[named["Name"]] = [shape, int(cost) if cost else None]
    return out


def run_tool(tool: Path, project: Path, tmp: Path) -> tuple[dict, list[str], Path | None]:
    cli = str(tool / "nncd_console_cli_util")
    done, errors, nntxt = tmp / "complete.sdcproj", tmp / "errors.txt", tmp / f"{project.stem}.nntxt"
    subprocess.run([cli, "complete", "-i", str(project), "-o", str(done)], cwd=tool, check=True, capture_output=True)
    subprocess.run(
        [cli, "error_check", "-i", str(project), "-o", str(errors)], cwd=tool, check=True, capture_output=True
    )
    subprocess.run(
        [cli, "create_prototxt", "-i", str(project), "-o", str(nntxt), "-p", str(tmp / "p.csv")],
        cwd=tool,
        capture_output=True,
    )
    lines = [line for line in errors.read_text().splitlines() if line.strip()] if errors.exists() else []
    return completed_layers(done.read_text()), lines, nntxt if nntxt.exists() else None


def nntxt_summary(nntxt: Path) -> dict:
    from google.protobuf import text_format
    from nnabla.utils import nnabla_pb2

    proto = nnabla_pb2.NNablaProtoBuf()
    text_format.Merge(nntxt.read_text(), proto)
    out: dict = {}
    for net in proto.network:
        variables = {
            v.name: {
                "type": v.type,
                "shape": list(v.shape.dim),
                "initializer": [v.initializer.type, round(v.initializer.multiplier, 6)] if v.initializer.type else None,
            }
            for v in net.variable
        }
        functions = {}
        for f in net.function:
            entry = {"type": f.type, "inputs": list(f.input), "outputs": list(f.output)}
            if f.type == "VATNoise":
                entry["base_axis"] = f.vat_noise_param.base_axis
                entry["eps"] = round(f.vat_noise_param.eps, 6)
            functions[f.name] = entry
        out[net.name] = {"variables": variables, "functions": functions}
    out["optimizers"] = {
        o.name: {p.variable_name: p.learning_rate_multiplier for p in o.parameter_variable} for o in proto.optimizer
    }
    return out


# --- nnabla ------------------------------------------------------------------------------------------


def nnabla_run(nntxt: Path, kl_name: str = "kl", pred_name: str = "pred", start: dict | None = None) -> dict:
    """nnabla's run of `nntxt`'s networks Vat and Use (batch 2); with `start` (a first run's results)
    the parameters, buffers and inputs are that run's instead of nnabla's own initial values."""
    import nnabla as nn
    import nnabla.functions as F
    import numpy as np
    from nnabla.utils import load

    nn.clear_parameters()
    info = load.load([str(nntxt)], prepare_data_iterator=False, batch_size=2)
    vat, use = info.networks["Vat"], info.networks["Use"]
    out: dict = {}
    # Parameters as nnabla created them (lr multiplier 0 buffers lose need_grad in the optimizer).
    for name, v in vat.parameters.items():
        if start is not None:
            v.variable_instance.d = start[f"param:{name}"]
        out[f"param:{name}"] = v.variable_instance.d.copy()
    r = vat.variables["r"].variable_instance
    r0 = vat.variables["r0"].variable_instance
    assert r is use.variables["r"].variable_instance, "nnabla no longer shares WorkingMemory between networks"
    out["r_need_grad"] = np.array(r.need_grad)
    out["r0_need_grad"] = np.array(r0.need_grad)
    rng = np.random.RandomState(7)
    x = rng.randn(2, 1, 4, 4).astype(np.float32)
    if start is not None:
        x = start["x"]
        r.d, r0.d = start["r_before"], start["r0_before"]
    out["x"] = x
    out["r_before"], out["r0_before"] = r.d.copy(), r0.d.copy()
    vat.variables["x"].variable_instance.d = x
    kl = vat.variables[kl_name].variable_instance
    for v in vat.parameters.values():
        v.variable_instance.grad.zero()
    kl.forward()
    out["vat_kl"] = kl.d.copy()
    kl.backward(1.0)  # dloss/dkl = 1 per sample: the sum of the losses
    out["r_after"], out["r0_after"] = r.d.copy(), r0.d.copy()
    for name, v in vat.parameters.items():
        out[f"grad:{name}"] = v.variable_instance.g.copy()
    use.variables["x"].variable_instance.d = x
    pred = use.variables[pred_name].variable_instance
    pred.forward()
    out["use_pred"] = pred.d.copy()
    if start is not None:
        return out
    # What nnabla's parameter files hold (nn.save_parameters): the parameters, not the WorkingMemory buffers.
    out["nnabla_saved"] = np.array(sorted(nn.get_parameters(grad_only=False)))
    nn.save_parameters(str(OUT / "vat_nnabla_params.h5"))

    # nnabla's functions on fixed arrays.
    a = rng.randn(2, 3, 4).astype(np.float32)
    dy = rng.randn(2, 3, 4).astype(np.float32)
    out["fn:x"], out["fn:dy"] = a, dy
    for base_axis in (1, 2):
        xv = nn.Variable.from_numpy_array(a, need_grad=True)
        wv = nn.Variable.from_numpy_array(np.zeros_like(a), need_grad=True)
        yv = F.vat_noise(xv, wv, base_axis=base_axis, eps=0.3)
        yv.forward()
        xv.grad.fill(5.0)  # nnabla's dx = 0 overwrites (accum=False) what was there
        yv.backward(dy)
        out[f"fn:vat{base_axis}:y"], out[f"fn:vat{base_axis}:w"] = yv.d.copy(), wv.d.copy()
        out[f"fn:vat{base_axis}:dx"] = xv.g.copy()
    # The buffer is written only where an input needs a gradient.
    xv = nn.Variable.from_numpy_array(a, need_grad=False)
    yv = F.vat_noise(xv, xv, base_axis=1, eps=0.3)
    yv.forward()
    yv.backward(dy)
    out["fn:vat_no_grad:w"] = xv.d.copy()
    xv = nn.Variable.from_numpy_array(a, need_grad=True)
    xv.grad.zero()
    z = F.unlink(xv)
    s = F.sum(z * 3.0 + xv * 2.0)
    s.forward()
    s.backward()
    out["fn:unlink:y"], out["fn:unlink:dx"] = z.d.copy(), xv.g.copy()
    return out


def export_fixtures(tool: Path, project: Path, python: Path, first: dict) -> None:
    """`nndsl import` of the project, `nndsl export` of the spec to .sdcproj and .nntxt (kept as
    fixtures), NNC's verdict on the exported project, and nnabla's run of the exported .nntxt from
    the first run's parameters, buffers and inputs."""
    import os

    import numpy as np

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "vat_layers.nnd"
        nndsl = [str(python), "-m", "nndsl"]
        subprocess.run([*nndsl, "import", str(project), "-o", str(spec)], check=True, env=env, capture_output=True)
        for suffix in (".sdcproj", ".nntxt"):
            target = OUT / f"vat_layers.export{suffix}"
            subprocess.run(
                [*nndsl, "export", str(spec), "-o", str(target), "--force"], check=True, env=env, capture_output=True
            )
        layers, errors, nntxt = run_tool(tool, OUT / "vat_layers.export.sdcproj", Path(tmp))
        complete = {"networks": layers, "error_check": errors}
        (OUT / "vat_layers.export.complete.json").write_text(json.dumps(complete, indent=1, sort_keys=True) + "\n")
        assert nntxt is not None, "create_prototxt did not convert the exported project"
        summary = nntxt_summary(nntxt)
        (OUT / "vat_layers.export.nntxt.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    exported = OUT / "vat_layers.export.nntxt"
    np.savez(OUT / "vat_export_nnabla.npz", **nnabla_run(exported, "KLMultinomial", "Softmax", first))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="/work/shared/nnc-tools/nncd_console")
    ap.add_argument("--nndsl-python", default="/work/main/.venv/bin/python", help="a Python nndsl runs in")
    args = ap.parse_args()
    tool = Path(args.tool).resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    for stem, text in (("vat_layers", vat_project()), ("parameter_layers", parameter_project())):
        project = OUT / f"{stem}.sdcproj"
        project.write_text(text)
        with tempfile.TemporaryDirectory() as tmp:
            layers, errors, nntxt = run_tool(tool, project, Path(tmp))
            complete = {"networks": layers, "error_check": errors}
            (OUT / f"{stem}.complete.json").write_text(json.dumps(complete, indent=1, sort_keys=True) + "\n")
            if stem == "vat_layers":
                assert nntxt is not None, "create_prototxt wrote no network file"
                summary = nntxt_summary(nntxt)
                (OUT / f"{stem}.nntxt").write_text(nntxt.read_text())
                (OUT / f"{stem}.nntxt.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
                import numpy as np

                first = nnabla_run(nntxt)
                np.savez(OUT / "vat_nnabla.npz", **first)
                export_fixtures(tool, project, Path(args.nndsl_python), first)
        print(stem, "errors:", errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
