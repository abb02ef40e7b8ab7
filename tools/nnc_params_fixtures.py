"""Regenerate tests/nnc/fixtures/params/: NNC's parameter files and nnabla's outputs for a small net.

The net (Convolution, then a repeat of a unit holding a Convolution and a BatchNormalization, then
Affine) is written as an .sdcproj (tools/nnc_names_fixtures.py's writer), converted by NNC's
`create_prototxt` (block.nntxt), and run by nnabla: its MainRuntime network with every parameter set
to seeded random values (BatchNormalization's variance positive), on a seeded input. nnabla saves the
parameters with `nn.save_parameters` as block.h5 and block.protobuf, packs block.protobuf into
block.nnp as nnabla's archives hold it, and the input and output go to x.npy and y.npy. block.nnd is
the same net in nndsl; tests/nnc/test_nnc_param_files.py loads the files into both backends' models.

    python tools/nnc_params_fixtures.py [--nnc ../shared/nnc-tools/nncd_console] \
        [--nnabla-python /work/nnabla-venv/bin/python]

(or $NNDSL_NNC_TOOLS and $NNDSL_NNABLA_PYTHON).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import nnc_names_fixtures as names  # noqa: E402

OUT = ROOT / "tests" / "nnc" / "fixtures" / "params"

_SAME3 = {"OutMaps": "3", "BorderMode": "same"}
NETWORKS = {
    "Main": [
        ("Input", {"Size": "3,8,8"}),
        ("Convolution", {"Name": "Convolution", **_SAME3}),
        ("RepeatStart", {"Name": "RepeatStart", "Times": "2"}),
        ("Unit", {"Name": "block", "Network": "Block"}),
        ("RepeatEnd", {"Name": "RepeatEnd"}),
        ("Affine", {"Name": "Affine", "OutShape": "4"}),
    ],
    "Block": [
        ("Input", {"Size": "3,8,8"}),
        ("Convolution", {"Name": "conv1", **_SAME3}),
        ("BatchNormalization", {"Name": "bn"}),
        ("ReLU", {"Name": "ReLU"}),
    ],
}
SPEC = """# tools/nnc_params_fixtures.py's net: what block.nntxt (NNC's create_prototxt) holds.

unit Block {
    in x
    out x -> conv1: Convolution(3, kernel=3x3, border_mode="same") -> bn: BatchNormalization -> ReLU
}

network Main {
    x = Input(3x8x8)
    y = x -> Convolution(3, kernel=3x3, border_mode="same") -> block: repeat 2 { Block } -> Affine(4)
}
"""

NNABLA_SCRIPT = """
import sys, zipfile
import numpy as np
import nnabla as nn
from nnabla.utils.nnp_graph import NnpLoader
out = sys.argv[1]
net = NnpLoader(out + "/block.nntxt").get_network("MainRuntime", batch_size=2)
rng = np.random.default_rng(10)
for name, p in nn.get_parameters(grad_only=False).items():
    if name.endswith("/var"):
        p.d = rng.uniform(0.5, 1.5, p.shape).astype(np.float32)
    else:
        p.d = rng.normal(0.0, 0.5, p.shape).astype(np.float32)
x = next(iter(net.inputs.values()))
x.d = rng.normal(0.0, 1.0, x.shape).astype(np.float32)
y = next(iter(net.outputs.values()))
y.forward()
np.save(out + "/x.npy", x.d.astype(np.float32))
np.save(out + "/y.npy", y.d.astype(np.float32))
nn.save_parameters(out + "/block.h5")
nn.save_parameters(out + "/block.protobuf")
with zipfile.ZipFile(out + "/block.nnp", "w", zipfile.ZIP_DEFLATED) as nnp:
    nnp.writestr("nnp_version.txt", "0.1\\n")
    nnp.write(out + "/block.nntxt", "network.nntxt")
    nnp.write(out + "/block.protobuf", "parameter.protobuf")
print(sorted(nn.get_parameters(grad_only=False)))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnc", type=Path, default=Path(os.environ.get("NNDSL_NNC_TOOLS", names.DEFAULT_NNC)))
    ap.add_argument("--nnabla-python", default=os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
    args = ap.parse_args()
    tool = args.nnc.resolve() / "nncd_console_cli_util"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "block.sdcproj"
        src.write_text(names.sdcproj(NETWORKS), encoding="utf-8")
        subprocess.run(
            [
                str(tool),
                "create_prototxt",
                "-i",
                str(src),
                "-o",
                str(OUT / "block.nntxt"),
                "-p",
                str(Path(tmp) / "p.csv"),
            ],
            cwd=tool.parent,
            check=True,
            capture_output=True,
        )
    (OUT / "block.nnd").write_text(SPEC, encoding="utf-8")
    run = subprocess.run([args.nnabla_python, "-c", NNABLA_SCRIPT, str(OUT)], capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-3000:], file=sys.stderr)
        return 1
    print(run.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
