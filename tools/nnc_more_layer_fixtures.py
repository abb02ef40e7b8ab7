"""Regenerate tests/nnc/fixtures/more_layers/more_layers.npz: nnabla's own functions on the layer
configurations a backend once refused (tests/nnc/more_layer_cases.py).

For every case, nnabla 1.39's function (the expression the case names) runs on the case's input and
parameters (regenerated from a formula by the test, not stored; the parameters in nnabla's shapes)
and its output is stored as `y:<case>`; for the cases of GRADIENT_CASES, the gradients for the output
gradient `dy` of the input (`grad:<case>:x`) and of every trained parameter (`grad:<case>:<spec
name>`, in NNC's shape). For the cases of TRAINING (batch statistics), the same as `train:y:<case>`,
`train:grad:<case>:...`, and the running statistics after that step, `train:<case>:<spec name>`. For
the configurations of REFUSED, the last line of the error nnabla raises, in
`refused.json` beside it. Run from the repository root:

    PYTHONPATH=$PWD python tools/nnc_more_layer_fixtures.py [--nnabla /work/nnabla-venv/bin/python] [--out FILE]

(`--nnabla` defaults to $NNDSL_NNABLA_PYTHON or /work/nnabla-venv/bin/python: a Python with nnabla.)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "nnc"))

import more_layer_cases as M  # noqa: E402

OUT = ROOT / "tests" / "nnc" / "fixtures" / "more_layers" / "more_layers.npz"

# Run by nnabla's Python: reads in.npz and cases.json, writes out.npz.
RUNNER = """
import json, sys
import numpy as np
import nnabla as nn
import nnabla.functions as F

work = sys.argv[1]
feeds = np.load(work + "/in.npz", allow_pickle=False)
cases = json.load(open(work + "/cases.json"))
out = {}
for name, (expr, kind, params, trained, grad) in cases.items():
    x = feeds["x:" + name]
    x = nn.Variable.from_numpy_array(x.astype(np.int32) if kind != "data" else x, need_grad=grad)
    P = {}
    for spec_name, shape in params.items():
        value = feeds["p:" + spec_name].reshape(shape)
        P[spec_name] = nn.Variable.from_numpy_array(value, need_grad=grad and spec_name in trained)
    y = eval(expr, {"F": F, "x": x, "P": P})
    y.forward()
    out["y:" + name] = np.array(y.d, dtype=np.float32)
    if grad:
        x.grad.zero()
        for v in P.values():
            v.grad.zero()
        y.backward(feeds["dy:" + name])
        out["grad:" + name + ":x"] = np.array(x.g, dtype=np.float32)
        for spec_name in trained:
            out["grad:" + name + ":" + spec_name] = np.array(P[spec_name].g, dtype=np.float32)
for name, (expr, params, trained) in json.load(open(work + "/training.json")).items():
    x = nn.Variable.from_numpy_array(feeds["x:" + name], need_grad=True)
    P = {}
    for n, shape in params.items():
        P[n] = nn.Variable.from_numpy_array(feeds["p:" + n].reshape(shape), need_grad=n in trained)
    y = eval(expr, {"F": F, "x": x, "P": P})
    y.forward()
    out["train:y:" + name] = np.array(y.d, dtype=np.float32)
    for n in params:
        if n not in trained:  # the running statistics after the step
            out["train:" + name + ":" + n] = np.array(P[n].d, dtype=np.float32)
    x.grad.zero()
    for n in trained:
        P[n].grad.zero()
    y.backward(feeds["dy:" + name])
    out["train:grad:" + name + ":x"] = np.array(x.g, dtype=np.float32)
    for n in trained:
        out["train:grad:" + name + ":" + n] = np.array(P[n].g, dtype=np.float32)
np.savez(work + "/out.npz", **out)
refused = {}
import nnabla.function_bases as FB
for name, (shape, expr, params) in json.load(open(work + "/refused.json")).items():
    x = nn.Variable.from_numpy_array(np.zeros(shape, np.float32))
    P = {k: nn.Variable.from_numpy_array(np.ones(v, np.float32)) for k, v in params.items()}
    try:
        eval(expr, {"F": F, "FB": FB, "x": x, "P": P}).forward()
        refused[name] = None
    except RuntimeError as e:  # nnabla's message: its last line names the check that failed
        refused[name] = [line for line in str(e).splitlines() if line.strip()][-1]
json.dump(refused, open(work + "/refused_out.json", "w"), indent=1, sort_keys=True)
"""


def parameters() -> dict[str, dict[str, tuple[tuple[int, ...], tuple[int, ...]]]]:
    """Per case, its parameters: spec name -> (NNC shape, nnabla shape, trainable), from the compiled spec
    (BatchNormalization's mean and var are state, not trained: no gradient of theirs is stored)."""
    from nndsl.compiler import compile_file
    from nndsl.nnc.names import nnc_parameter_table

    project = compile_file("more_layers.nnd", text=M.spec()).project
    table = nnc_parameter_table(project)
    out = {}
    for name in M.CASES:
        params = M.case_parameters(project, name)
        out[name] = {n: (q.shape, tuple(table[n][1]), q.trainable) for n, q in params.items()}
    return out


def output_shapes() -> dict[str, tuple[int, ...]]:
    """Each case's output shape (batch first), from the compiled spec."""
    from nndsl.compiler import compile_file

    project = compile_file("more_layers.nnd", text=M.spec()).project
    out = {}
    for name in M.CASES:
        net = project.network(M.network(name))
        out[name] = (M.BATCH, *net.value(net.outputs[0]).shape)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnabla", default=os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    params, shapes = parameters(), output_shapes()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        feeds, cases = {}, {}
        for name, (_, _, expr, kind) in M.CASES.items():
            feeds[f"x:{name}"] = M.input_of(name)
            for spec_name, (shape, _, _) in params[name].items():
                feeds[f"p:{spec_name}"] = M.parameter_value(spec_name, shape)
            grad = name in M.GRADIENT_CASES
            if grad:
                feeds[f"dy:{name}"] = M.dy(shapes[name])
            trained = [n for n, (_, _, t) in params[name].items() if t]
            cases[name] = (expr, kind, {n: nb for n, (_, nb, _) in params[name].items()}, trained, grad)
        np.savez(work / "in.npz", **feeds)
        (work / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
        refused = {}
        for name, (shape, _, expr, param_shapes) in M.REFUSED.items():
            refused[name] = ([M.BATCH, *shape], expr, param_shapes)
        training = {}
        for name, expr in M.TRAINING.items():
            trained = [n for n, (_, _, t) in params[name].items() if t]
            training[name] = (expr, {n: nb for n, (_, nb, _) in params[name].items()}, trained)
        (work / "training.json").write_text(json.dumps(training), encoding="utf-8")
        (work / "refused.json").write_text(json.dumps(refused), encoding="utf-8")
        (work / "run.py").write_text(RUNNER, encoding="utf-8")
        # nnabla's package shadows numpy's `random` when run from a folder holding one: run it in `work`.
        subprocess.run([args.nnabla, str(work / "run.py"), str(work)], check=True, cwd=work)
        outputs = dict(np.load(work / "out.npz", allow_pickle=False))
        refused_text = (work / "refused_out.json").read_text(encoding="utf-8")
    for name in M.GRADIENT_CASES:  # parameters and their gradients in NNC's shapes
        for spec_name, (shape, _, _) in params[name].items():
            for key in (f"grad:{name}:{spec_name}", f"train:grad:{name}:{spec_name}", f"train:{name}:{spec_name}"):
                if key in outputs:
                    outputs[key] = outputs[key].reshape(shape)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp_out, **outputs)
    os.replace(tmp_out, args.out)
    refused_path = args.out.with_name("refused.json")
    refused_path.with_suffix(".tmp").write_text(refused_text, encoding="utf-8")
    os.replace(refused_path.with_suffix(".tmp"), refused_path)
    print(f"wrote {args.out} ({len(outputs)} arrays) and {refused_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
