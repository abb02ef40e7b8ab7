"""Regenerate tests/nnc/fixtures/normalization/ from NNC's own project tool and nnabla 1.39.

`norms.nnd` (in that folder) holds NNC's LayerNormalization, InstanceNormalization and
GroupNormalization in several configurations: per-sample inputs of 1, 2 and 3 axes (6, 4x5,
6x3x3), groups 1, 2, 3, 4 and one per channel, epsilons from 1e-5 to 0.5, non-default initializers.
This script

- exports it with nndsl (`nndsl export norms.nnd -o norms.sdcproj`, nndsl run in `--nndsl-python`
  with this repository first on its path) and hands the export to NNC's tool: `norms.complete.json`
  holds `complete`'s Output and CostParameter of every layer and `error_check`'s lines,
  `norms.nntxt` `create_prototxt`'s network file and `norms.nntxt.json` its variables (name, type,
  shape, initializer) and functions (type, inputs, parameters);
- runs NNC's network file in nnabla (batch 3): every parameter gets a seeded random value (gamma
  around 1, beta around 0), the inputs seeded random values, and network Runtime's forward gives
  each layer's output: `norms_nnabla.npz` (the inputs by dataset column, `out:<layer>` the outputs)
  and `norms_nnabla.h5` (nnabla's own parameter file of the values it ran with, `nn.save_parameters`).

Run with nnabla's Python (numpy, nnabla; nndsl only as a subprocess):

    /work/nnabla-venv/bin/python tools/nnc_normalization_fixtures.py \
        [--tool /work/shared/nnc-tools/nncd_console] [--nndsl-python /work/main/.venv/bin/python]

The tool runs with its own folder as the working directory, on absolute paths.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nnc_extra_layers_fixtures import run_tool  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/nnc/fixtures/normalization"
SPEC = OUT / "norms.nnd"
BATCH = 3
FUNCTIONS = ("LayerNormalization", "InstanceNormalization", "GroupNormalization")


def nntxt_summary(nntxt: Path) -> dict:
    """Per network: the variables (name -> type, shape, initializer) and the normalization
    functions (name -> type, inputs, outputs, their parameter message as a dict)."""
    from google.protobuf import json_format, text_format
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
            if f.type not in FUNCTIONS:
                continue
            field = {"LayerNormalization": "layer", "InstanceNormalization": "instance", "GroupNormalization": "group"}
            param = getattr(f, f"{field[f.type]}_normalization_param")
            functions[f.name] = {
                "type": f.type,
                "inputs": list(f.input),
                "outputs": list(f.output),
                "param": json_format.MessageToDict(param, preserving_proto_field_name=True),
            }
        out[net.name] = {"variables": variables, "functions": functions}
    return out


def nnabla_run(nntxt: Path, out_dir: Path) -> dict:
    """nnabla's forward of `nntxt`'s network Runtime (batch 3) with seeded random parameters and inputs."""
    import nnabla as nn
    import numpy as np
    from google.protobuf import text_format
    from nnabla.utils import load, nnabla_pb2

    proto = nnabla_pb2.NNablaProtoBuf()
    text_format.Merge(nntxt.read_text(), proto)
    (executor,) = proto.executor
    columns = {d.variable_name: d.data_name for d in executor.data_variable}
    outputs = {o.variable_name: o.data_name for o in executor.output_variable}

    nn.clear_parameters()
    info = load.load([str(nntxt)], prepare_data_iterator=False, batch_size=BATCH)
    net = info.networks[executor.network_name]
    rng = np.random.RandomState(11)
    out: dict = {}
    for name, v in sorted(net.parameters.items()):
        shape = v.variable_instance.shape
        base = 1.0 if name.endswith("/gamma") else 0.0
        v.variable_instance.d = (base + 0.5 * rng.randn(*shape)).astype(np.float32)
    for var, column in sorted(columns.items()):
        shape = net.variables[var].variable_instance.shape
        # An offset and a scale per sample, so that the statistics differ from sample to sample.
        per_sample = (shape[0],) + (1,) * (len(shape) - 1)
        x = rng.randn(*shape) * rng.uniform(0.5, 3.0, per_sample) + rng.randn(*per_sample)
        out[column] = x.astype(np.float32)
        net.variables[var].variable_instance.d = out[column]
    for f in proto.network[[n.name for n in proto.network].index(executor.network_name)].function:
        if f.type in FUNCTIONS:
            y = net.variables[f.output[0]].variable_instance
            y.forward()
            out[f"out:{f.name}"] = y.d.copy()
    out["outputs"] = np.array(sorted(outputs.values()))
    nn.save_parameters(str(out_dir / "norms_nnabla.h5"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="/work/shared/nnc-tools/nncd_console")
    ap.add_argument("--nndsl-python", default="/work/main/.venv/bin/python", help="a Python nndsl runs in")
    ap.add_argument("--out", default=str(OUT), help="the folder to write (default: the fixtures' own)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tool = Path(args.tool).resolve()
    project = out / "norms.sdcproj"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [args.nndsl_python, "-m", "nndsl", "export", str(SPEC), "-o", str(project), "--force"]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    with tempfile.TemporaryDirectory() as tmp:
        layers, errors, nntxt = run_tool(tool, project, Path(tmp))
        complete = {"networks": layers, "error_check": errors}
        (out / "norms.complete.json").write_text(json.dumps(complete, indent=1, sort_keys=True) + "\n")
        assert nntxt is not None, "create_prototxt wrote no network file"
        (out / "norms.nntxt").write_text(nntxt.read_text())
    summary = nntxt_summary(out / "norms.nntxt")
    (out / "norms.nntxt.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    import numpy as np

    np.savez(out / "norms_nnabla.npz", **nnabla_run(out / "norms.nntxt", out))
    print("error_check:", errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
