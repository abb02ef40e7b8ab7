"""Time `nndsl import` (the CLI, as a user runs it) on the largest NNC sample, ResNet-18 (12k lines).

python benchmarks/nnc_import.py [SAMPLE.sdcproj]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "tests/nnc/samples/image_recognition_ILSVRC2012_residual_networks_resnet-18.sdcproj"


def main() -> int:
    sample = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    lines = len(sample.read_text().splitlines())
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.nnd"
        best = None
        for _ in range(3):
            out.unlink(missing_ok=True)
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "nndsl", "import", str(sample), "-o", str(out)], capture_output=True, text=True
            )
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                print(proc.stderr)
                return 1
            best = dt if best is None else min(best, dt)
        nnd_lines = len(out.read_text().splitlines())
        print(f"{sample.name}: {lines} lines -> {nnd_lines} lines of .nnd; nndsl import (CLI) best of 3: {best:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
