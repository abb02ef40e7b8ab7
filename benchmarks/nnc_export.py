"""Time `nndsl export` against the size of the spec: a chain of N unit instances.

    python benchmarks/nnc_export.py [N ...]        (default: 250 500 1000 2000)

The exporter groups unit instances and bounds scopes in one pass each, so the time per
instance should stay flat as N grows (a quadratic pass would double it at each step). Prints,
for each N, the best of three CPU times of the export (compiled once; other processes on the
machine do not count) and the time per instance.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.nnc.export import Exporter  # noqa: E402
from nndsl.nnc.sdcproj_write import sdcproj_text  # noqa: E402


def spec_text(n: int) -> str:
    body = "".join(f"    x = x -> b{i}: B({8 + i % 3})\n" for i in range(n))
    return (
        "unit B(m: int) {\n    in x\n    out x -> c: Affine(m) -> ReLU\n}\n\n"
        f'network Runtime {{\n    x = Input(8, dataset="x")\n{body}    y\' = x -> Softmax\n}}\n'
    )


def export_seconds(n: int, folder: Path) -> float:
    spec = folder / f"chain{n}.nnd"
    spec.write_text(spec_text(n), encoding="utf-8")
    result = compile_file(spec)
    assert result.ok, [d.message for d in result.diagnostics]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        sdcproj_text(Exporter(result).export())
        best = min(best, time.process_time() - start)
    return best


def main(argv: list[str]) -> int:
    sizes = [int(a) for a in argv] or [250, 500, 1000, 2000]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            seconds = export_seconds(n, Path(tmp))
            print(f"{n:6} unit instances: export {seconds:.3f} s CPU, {1e3 * seconds / n:.3f} ms per instance")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
