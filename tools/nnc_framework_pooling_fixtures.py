"""Regenerate tests/nnc/fixtures/framework_pooling/outputs.json: nnabla's outputs on the `.nntxt`
`nndsl export` writes for ceil_mode and adaptive pooling that NNC's pooling layers can compute
(`nndsl.nnc.nndsl_layers`: ceil_mode as ignore_border true or false, adaptive pooling whose sizes
divide as kernel = stride = n / o). The inputs are seeded (`inputs()`), so only the outputs are stored.
Run from the repository root with nndsl importable and a Python that has nnabla 1.39:

    PYTHONPATH=. /work/main/.venv/bin/python tools/nnc_framework_pooling_fixtures.py \
        --nnabla /work/nnabla-venv/bin/python [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "nnc" / "fixtures" / "framework_pooling" / "outputs.json"

# network -> (input shape, the pooling): each one NNC can compute
CASES = {
    "CeilMaxAsNoIgnoreBorder": ((2, 8, 8), "MaxPooling(kernel=3x3, stride=2x2, ceil_mode=true)"),
    "CeilMaxPadded": ((2, 7, 7), "MaxPooling(kernel=3x3, stride=2x2, pad=1x1, ceil_mode=true)"),
    "CeilAverageAsFloor": ((2, 8, 8), "AveragePooling(kernel=2x2, ceil_mode=true)"),
    "AdaptiveAverage": ((2, 12, 8), "AdaptiveAveragePooling(4x2)"),
    "AdaptiveMax": ((3, 12, 8), "AdaptiveMaxPooling(3x4)"),
}


def spec() -> str:
    return "\n".join(
        f"network {name} {{\n    x = Input({'x'.join(map(str, shape))})\n    y = x -> {call}\n}}\n"
        for name, (shape, call) in CASES.items()
    )


def inputs(batch: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal((batch, *shape)).astype(np.float32) for name, (shape, _) in CASES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nnabla", required=True, help="a Python with nnabla")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from nndsl.compiler import compile_file
    from nndsl.nnc.nntxt_write import project_to_nntxt

    result = compile_file("framework_pooling.nnd", text=spec())
    assert result.ok, [d.message for d in result.diagnostics]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "x.nntxt").write_text(project_to_nntxt(result.project, iter_per_epoch=0), encoding="utf-8")
        np.savez(work / "in.npz", **{f"{name}:x": x for name, x in inputs().items()})
        subprocess.run(
            [args.nnabla, str(ROOT / "tools" / "nnabla_forward.py"), "x.nntxt", "in.npz", "out.npz"],
            cwd=work,
            check=True,
        )
        out = dict(np.load(work / "out.npz", allow_pickle=False))
    errors = {k: str(v) for k, v in out.items() if k.startswith("error:")}
    assert not errors, errors
    outputs = {k.split(":")[0]: v.tolist() for k, v in out.items() if not k.startswith("params:")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"nnabla": "1.39", "outputs": outputs}, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
