"""Regenerate tests/nnc/fixtures/rules/pooling_windows.json: nnabla's own pooling windows, for the
shared rules `pooled_size`, `pool_right_pads` and `pool_window_lengths` of nndsl/runtime/nnc_shapes.py.

On an input of ones, nnabla 1.39's SumPooling counts the input elements of each window and its
AveragePooling divides that count by the window's length (including_pad: before clipping to the
input; otherwise after), so SumPooling / AveragePooling is nnabla's divisor. Each case is one axis
(a (1, 1, 1, size) input, kernel (1, k)). Run with a Python that has nnabla:

    /work/nnabla-venv/bin/python tools/nnc_pooling_window_fixtures.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "nnc" / "fixtures" / "rules" / "pooling_windows.json"

# (size, kernel, stride, pad, ignore_border)
CASES = [
    (5, 3, 1, 0, True),
    (5, 3, 1, 0, False),
    (5, 3, 2, 1, True),
    (5, 3, 2, 1, False),
    (7, 2, 3, 0, False),
    (7, 4, 2, 2, True),
    (7, 4, 2, 2, False),
    (6, 3, 3, 1, False),
    (4, 5, 1, 2, True),
    (3, 2, 2, 1, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    import nnabla as nn
    import nnabla.functions as F

    rows = []
    for size, k, s, p, ignore_border in CASES:
        x = nn.Variable.from_numpy_array(np.ones((1, 1, 1, size), np.float32))
        kw = dict(kernel=(1, k), stride=(1, s), pad=(0, p), ignore_border=ignore_border)
        row = {"size": size, "kernel": k, "stride": s, "pad": p, "ignore_border": ignore_border}
        total = F.sum_pooling(x, **kw)
        total.forward()
        row["sum"] = total.d.ravel().astype(float).tolist()
        for including_pad in (True, False):
            mean = F.average_pooling(x, including_pad=including_pad, **kw)
            mean.forward()
            row[f"average_including_pad_{including_pad}"] = mean.d.ravel().astype(float).tolist()
        rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"nnabla": nn.__version__, "cases": rows}, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
