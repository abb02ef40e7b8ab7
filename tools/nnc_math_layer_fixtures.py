"""Regenerate tests/nnc/fixtures/math_layers/math_layers.npz: nnabla's own functions on edge values.

For every case of tests/nnc/math_layer_cases.py (a math, trigonometric or logical layer with its
parameters), nnabla 1.39's function (`nnabla.functions`, the expression the case names) is run
on the case's inputs (regenerated from a formula by the test, not stored) and its output stored
as `<case>`; for the cases of GRADIENT_CASES, on the "finite" inputs, the output (`finite:<case>`)
and x0's gradient for the output gradient `dy` (`grad:<case>`). Run from the repository root:

    PYTHONPATH=$PWD python tools/nnc_math_layer_fixtures.py [--nnabla /work/nnabla-venv/bin/python]

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

import math_layer_cases as M  # noqa: E402

OUT = ROOT / "tests" / "nnc" / "fixtures" / "math_layers" / "math_layers.npz"

# Run by nnabla's Python: reads in.npz and cases.json, writes out.npz.
RUNNER = """
import json, sys
import numpy as np
import nnabla as nn
import nnabla.functions as F

work = sys.argv[1]
feeds = np.load(work + "/in.npz", allow_pickle=False)
cases, grads = json.load(open(work + "/cases.json"))
out = {}
for name, (expr, kind) in cases.items():
    x0 = nn.Variable.from_numpy_array(feeds[kind + ":x0"])
    x1 = nn.Variable.from_numpy_array(feeds[kind + ":x1"])
    y = eval(expr, {"F": F, "x0": x0, "x1": x1})
    y.forward()
    out[name] = np.array(y.d, dtype=np.float32)
for name, expr in grads.items():  # on the finite inputs: x0's gradient for the output gradient dy
    x0 = nn.Variable.from_numpy_array(feeds["finite:x0"], need_grad=True)
    x1 = nn.Variable.from_numpy_array(feeds["finite:x1"])
    y = eval(expr, {"F": F, "x0": x0, "x1": x1})
    y.forward()
    x0.grad.zero()
    y.backward(feeds["dy:" + name])
    out["grad:" + name] = np.array(x0.g, dtype=np.float32)
    out["finite:" + name] = np.array(y.d, dtype=np.float32)
np.savez(work + "/out.npz", **out)
"""


def _finite_output_shapes() -> dict[str, tuple[int, ...]]:
    """Each case's output shape (batch first), from the compiled spec of the cases."""
    from nndsl.compiler import compile_file

    project = compile_file("math_layers.nnd", text=M.spec()).project
    out = {}
    for name in M.CASES:
        net = project.network(M.network(name))
        out[name] = (M.BATCH, *net.value(net.outputs[0]).shape)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nnabla", default=os.environ.get("NNDSL_NNABLA_PYTHON", "/work/nnabla-venv/bin/python"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        feeds = {}
        for kind in ("edge", "finite"):
            feeds[f"{kind}:x0"], feeds[f"{kind}:x1"] = M.inputs(kind)
        cases = {name: (expr, kind) for name, (_, expr, kind) in M.CASES.items()}
        grads = {name: M.CASES[name][1] for name in M.GRADIENT_CASES}
        shapes = _finite_output_shapes()
        feeds.update({f"dy:{name}": M.dy(shapes[name]) for name in grads})
        np.savez(work / "in.npz", **feeds)
        (work / "cases.json").write_text(json.dumps([cases, grads]), encoding="utf-8")
        (work / "run.py").write_text(RUNNER, encoding="utf-8")
        # nnabla's package shadows numpy's `random` when run from a folder holding one: run it in `work`.
        subprocess.run([args.nnabla, str(work / "run.py"), str(work)], check=True, cwd=work)
        outputs = dict(np.load(work / "out.npz", allow_pickle=False))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = OUT.with_suffix(".tmp.npz")
    np.savez_compressed(tmp_out, **outputs)
    os.replace(tmp_out, OUT)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(outputs)} arrays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
