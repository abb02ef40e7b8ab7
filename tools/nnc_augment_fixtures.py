"""Regenerate tests/nnc/fixtures/rules/image_augmentation.json: nnabla's own ImageAugmentation on the
configurations where it draws nothing that matters (MinScale = MaxScale and a scaled image exactly the
output's size, so the crop offset multiplies 0; no angle, aspect ratio, flip, distortion, colour or noise):
nnabla's geometry, padding and bilinear sampling, compared with `nndsl.runtime.nnc_augment` by
tests/test_runtime_rules_once.py. Each case stores its input (a formula's values), its NNC parameters and
nnabla 1.39's output. Run with a Python that has nnabla (numpy and the standard library besides):

    /work/nnabla-venv/bin/python tools/nnc_augment_fixtures.py [--out FILE]

(`--out` writes elsewhere: the live test of tests/test_runtime_rules_once.py compares a fresh run.)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "nnc" / "fixtures" / "rules" / "image_augmentation.json"

# name: (input shape, NNC parameters); every case has (in + 2 pad) * scale == out along H and W.
CASES = {
    "resize_0.8": ((2, 2, 10, 15), {"shape": (2, 8, 12), "min_scale": 0.8, "max_scale": 0.8}),
    "pad_0.8": ((1, 3, 8, 8), {"shape": (3, 8, 8), "pad": (1, 1), "min_scale": 0.8, "max_scale": 0.8}),
    "upscale_2": ((2, 1, 5, 6), {"shape": (1, 10, 12), "min_scale": 2.0, "max_scale": 2.0}),
    "hw_0.5": ((2, 12, 12), {"shape": (6, 6), "min_scale": 0.5, "max_scale": 0.5}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    out = parser.parse_args().out
    import nnabla as nn
    import nnabla.functions as F

    cases = {}
    for name, (shape, kw) in CASES.items():
        size = int(np.prod(shape))
        x = ((np.sin(np.arange(size) * 0.37) + 1.0) * 0.5).astype(np.float32).reshape(shape)
        y = F.image_augmentation(nn.Variable.from_numpy_array(x), **kw)
        y.forward()
        cases[name] = {"input": x.tolist(), "parameters": kw, "output": y.d.astype(float).tolist()}
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"nnabla": nn.__version__, "cases": cases}, f)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
