"""Regenerate tests/nnc/fixtures/parameter_layer/ from NNC's own project tool and nnabla 1.39.

NNC's Parameter layer linked into the W and b connectors of Affine and Convolution (pin 0 is the
data, then the connectors in order: W = pin 1, b = pin 2), in one small project this script writes
(`parameter_connectors.sdcproj`, NNC's multi-network layout): network `Main` takes x (2x4x4) to

- `fc1`: Affine(3) whose b is the Parameter `fc1_b` (W its own);
- `fc2`: Affine(2x2) whose W is the Parameter `fc2_w` (Uniform, x0.5) and b the Parameter `fc2_b`
  (Constant 0.25, LRateMultiplier 0: frozen);
- `c1`: Convolution(3, 3x3, pad 1) whose b is the Parameter `c1_b`;
- `c2`: Convolution(2, 2x2, stride 2) whose W is the Parameter `c2_w` (its b its own);

each ending in a SquaredError against a dataset column.

Outputs:
- `parameter_connectors.complete.json`: {layer: [Output, CostParameter]} from NNC's `complete`, and
  `error_check`'s lines (a monitor of MainValidation and the executor of MainRuntime, the networks NNC derives);
- `parameter_connectors.nntxt`: `create_prototxt`'s network file of it, and
  `parameter_connectors.nntxt.json`: the variables (name, type, shape, initializer) and functions
  (type, inputs) of `create_prototxt`'s network file, and the optimizer's learning-rate multipliers;
- `parameter_connectors_nnabla.npz`: nnabla's run of that network file (batch 2): every parameter
  as nnabla created it (by nnabla's name), `x`, and each layer's output (`out:<layer>`);
  `parameter_connectors_nnabla.h5`, nnabla's own parameter file of it (`nn.save_parameters`).

Run with nnabla's Python (numpy and nnabla):

    /work/nnabla-venv/bin/python tools/nnc_parameter_layer_fixtures.py \
        [--tool /work/shared/nnc-tools/nncd_console]

The tool runs with its own folder as the working directory, on absolute paths.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nnc_extra_layers_fixtures import _project, completed_layers, nntxt_summary, run_tool  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/nnc/fixtures/parameter_layer"
STEM = "parameter_connectors"
LAYERS = ("fc1", "fc2", "c1", "c2")


def project() -> str:
    x = {"Name": "x", "Size": "2,4,4", "Dataset": "x"}
    layers = [
        (0, "Input", x),
        (1, "Parameter", {"Name": "fc1_b"}),
        (2, "Affine", {"Name": "fc1", "OutShape": "3"}),
        (3, "SquaredError", {"Name": "se1", "T.Dataset": "t1"}),
        (4, "Parameter", {"Name": "fc2_w", "Initializer": "Uniform", "InitializerMultiplier": "0.5"}),
        (5, "Parameter", {"Name": "fc2_b", "Initializer": "Constant", "InitializerMultiplier": "0.25",
                          "LRateMultiplier": "0"}),
        (6, "Affine", {"Name": "fc2", "OutShape": "2,2"}),
        (7, "SquaredError", {"Name": "se2", "T.Dataset": "t2"}),
        (8, "Parameter", {"Name": "c1_b", "Initializer": "Normal", "InitializerMultiplier": "1"}),
        (9, "Convolution", {"Name": "c1", "OutMaps": "3", "KernelShape": "3,3", "BorderMode": "same"}),
        (10, "SquaredError", {"Name": "se3", "T.Dataset": "t3"}),
        (11, "Parameter", {"Name": "c2_w", "Initializer": "Normal", "InitializerMultiplier": "0.3"}),
        (12, "Convolution", {"Name": "c2", "OutMaps": "2", "KernelShape": "2,2", "Strides": "2,2",
                             "b.Initializer": "Normal", "b.InitializerMultiplier": "0.1"}),
        (13, "SquaredError", {"Name": "se4", "T.Dataset": "t4"}),
    ]  # fmt: skip
    links = [
        (0, 0, 2, 0), (1, 0, 2, 2), (2, 0, 3, 0),
        (0, 0, 6, 0), (4, 0, 6, 1), (5, 0, 6, 2), (6, 0, 7, 0),
        (0, 0, 9, 0), (8, 0, 9, 2), (9, 0, 10, 0),
        (0, 0, 12, 0), (11, 0, 12, 1), (12, 0, 13, 0),
    ]  # fmt: skip
    return _project({"Main": (layers, links)}, ["Main"], ["MainValidation"], "MainRuntime")


def nnabla_run(nntxt: Path) -> dict:
    """nnabla's forward of network Main on a fixed x (batch 2), from the parameters nnabla created."""
    import nnabla as nn
    from nnabla.utils import load

    nn.clear_parameters()
    info = load.load([str(nntxt)], prepare_data_iterator=False, batch_size=2)
    net = info.networks["Main"]
    x = np.random.default_rng(7).normal(size=(2, 2, 4, 4)).astype(np.float32)
    net.variables["x"].variable_instance.d = x
    outs = [net.variables[name].variable_instance for name in LAYERS]
    nn.forward_all(outs)
    out = {"x": x}
    out.update({f"out:{n}": v.d.copy() for n, v in zip(LAYERS, outs, strict=True)})
    out.update({f"param:{k}": v.d.copy() for k, v in nn.get_parameters(grad_only=False).items()})
    nn.save_parameters(str(OUT / f"{STEM}_nnabla.h5"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", type=Path, default=Path("/work/shared/nnc-tools/nncd_console"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    src = OUT / f"{STEM}.sdcproj"
    src.write_text(project())
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        layers, errors, nntxt = run_tool(args.tool.resolve(), src.resolve(), tmp)
        # NNC's `complete` writes a one-network project in the older layout ([Layer_0] ...).
        done = re.sub(r"^\[Layer_", "[Main_Layer_", (tmp / "complete.sdcproj").read_text(), flags=re.M)
        layers = layers or completed_layers(done)
        complete = {"networks": layers, "error_check": errors}
        (OUT / f"{STEM}.complete.json").write_text(json.dumps(complete, indent=1, sort_keys=True) + "\n")
        assert nntxt is not None, "create_prototxt wrote no network file"
        (OUT / f"{STEM}.nntxt").write_text(nntxt.read_text())
        (OUT / f"{STEM}.nntxt.json").write_text(json.dumps(nntxt_summary(nntxt), indent=1, sort_keys=True) + "\n")
        np.savez(OUT / f"{STEM}_nnabla.npz", **nnabla_run(nntxt))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
