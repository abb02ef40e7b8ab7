"""How fast the front end (parse -> expanded, shape-checked IR) is.

    python benchmarks/compile_speed.py [--quick]

Prints one table: the warm compile time of specs/resnet152.nnd (best of several runs in
one process, after warm-up compiles), the compile times of synthetic specs of about
1,000, 10,000 and 100,000 layers with the ratio of each to the previous (10x the layers
may cost at most 12x the time), and the wall time of a cold `nndsl lint` of resnet152 in
a new process. Targets are printed beside the figures; the exit status is 0 whether or
not they are met (this is a measurement, not a test).

The synthetic specs are written to a temporary folder. They look like real ones: units
with arguments (residual blocks, a two-branch block with Concatenate, stages that repeat
blocks), repeats in chain and block form, convolutions, BatchNormalization, ReLU,
pooling and a classifier, over three networks (a trained one, a derived one, a runtime
one). Widths and depths vary from stage to stage so that there are many distinct unit
instances, and the input is small (8x8) so that every shape stays valid.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.compiler import compile_file  # noqa: E402

RESNET = ROOT / "specs" / "resnet152.nnd"
WARM_TARGET_MS = 30.0
LINEAR_LIMIT = 12.0  # 10x the layers may cost at most this many times the time
COLD_TARGET_S = 0.4
SIZES = (1_000, 10_000, 100_000)

UNITS = """\
# Synthetic spec for benchmarks/compile_speed.py: {layers} layers or so.

# Two 3x3 convolutions and an identity shortcut (7 layers).
unit Residual(maps: int, dilation: int = 1) {{
    in x
    h = x
        -> conv1: Convolution(maps, kernel=3x3, pad=dilation, dilation=dilation, bias=false)
        -> bn1: BatchNormalization
        -> ReLU
        -> conv2: Convolution(maps, kernel=3x3, pad=1x1, bias=false)
        -> bn2: BatchNormalization
    out Add2(h, x) -> ReLU
}}

# Two branches joined by Concatenate, squeezed back to `maps` (9 layers).
unit Mixer(maps: int, wide: bool = false) {{
    in x
    a = x -> Convolution(maps, kernel=1x1) -> ReLU
    if wide {{
        b = x -> Convolution(2 * maps, kernel=3x3, pad=1x1) -> BatchNormalization -> ReLU
    }} else {{
        b = x -> Convolution(maps, kernel=3x3, pad=1x1) -> BatchNormalization -> ReLU
    }}
    out Concatenate(a, b, axis=0)
        -> squeeze: Convolution(maps, kernel=1x1)
        -> MaxPooling(kernel=3x3, stride=1x1, pad=1x1)
}}

# A stage: widen, `blocks` residual blocks, a mixer, and a small block-form repeat.
unit Stage(blocks: int, maps: int, wide: bool = false) {{
    in x
    h = x -> widen: Convolution(maps, kernel=1x1, bias=false) -> widen_bn: BatchNormalization
    out h
        -> block: repeat blocks {{ Residual(maps, dilation=1 + blocks % 2) }}
        -> mix: Mixer(maps, wide=wide)
        -> tail: repeat i in 2 {{
            in t
            u = t -> Convolution(maps, kernel=1x1) -> ReLU
            out Add2(u, t)
        }}
}}
"""

NETWORKS = """
network Training {{
    x = Input(3x8x8, dataset="x") -> RandomFlip(axes=2)
    y = Input(1, dataset="y")
    loss = x -> body: Body -> SoftmaxCrossEntropy(y)
}}

network Validation {{
    x = Input(3x8x8, dataset="x")
    y = Input(1, dataset="y")
    error = x -> body: Body -> TopNError(y, n=1)
}}

network Validation5 = Validation with {{ TopNError.n = 5 }}

dataset training = "train.csv"
dataset validation = "validation.csv"

config {{
    max_epoch = 10
    optimizer {{ network = Training, dataset = training, solver = Adam(lr=0.001) }}
    monitor valid_error {{ network = Validation, dataset = validation }}
    monitor valid_error5 {{ network = Validation5, dataset = validation }}
}}
"""

LAYERS_PER_BODY_OVERHEAD = 4  # stem convolution, BatchNormalization, ReLU; pooling and classifier


def synthetic_spec(layers: int) -> str:
    """A spec whose three networks have `layers` layers in all, give or take a stage."""
    per_network = layers / 3
    stages: list[str] = []
    total = LAYERS_PER_BODY_OVERHEAD + 3  # + the network's own layers
    i = 0
    while total < per_network:
        blocks = 2 + i % 5  # 2..6 residual blocks
        maps = (8, 12, 16)[i % 3]
        wide = "true" if i % 4 == 3 else "false"
        stages.append(f"        -> s{i}: Stage({blocks}, {maps}, wide={wide})")
        total += 2 + 7 * blocks + 9 + 2 * 3
        i += 1
    body = (
        "\n# The shared body: a stem, the stages, a classifier.\n"
        "unit Body(classes: int = 10) {\n"
        "    in x\n"
        "    out x\n"
        "        -> stem: Convolution(8, kernel=3x3, pad=1x1) -> stem_bn: BatchNormalization -> ReLU\n"
        + "\n".join(stages)
        + "\n        -> GlobalAveragePooling -> fc: Affine(classes)\n"
        "}\n"
    )
    return UNITS.format(layers=f"{layers:,}") + body + NETWORKS.format()


def layer_count(result) -> int:
    return sum(len(net.layers) for net in result.project.networks)


def best_time(path: Path, runs: int, warmup: int) -> tuple[float, object]:
    result = None
    for _ in range(warmup):
        result = compile_file(path)
    best = float("inf")
    for _ in range(runs):
        result = None  # free the previous result before the clock starts
        start = time.perf_counter()
        result = compile_file(path)
        best = min(best, time.perf_counter() - start)
    return best, result


def cold_lint(runs: int) -> float:
    """Wall time of `python -m nndsl.cli lint specs/resnet152.nnd` in a new process."""
    command = [sys.executable, "-m", "nndsl.cli", "lint", str(RESNET.relative_to(ROOT))]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)  # fills caches
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        best = min(best, time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"nndsl lint failed:\n{done.stderr}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs (a rough figure in a few seconds)")
    args = ap.parse_args()
    quick = args.quick

    rows: list[tuple[str, str, str, str]] = []  # what, measured, target, verdict

    warm, result = best_time(RESNET, runs=5 if quick else 30, warmup=3)
    if not result.ok:
        sys.exit("specs/resnet152.nnd does not compile")
    rows.append(
        (
            f"resnet152 warm compile ({layer_count(result):,} layers)",
            f"{warm * 1000:.1f} ms",
            f"< {WARM_TARGET_MS:.0f} ms",
            "ok" if warm * 1000 < WARM_TARGET_MS else "MISSED",
        )
    )

    with tempfile.TemporaryDirectory(prefix="nndsl-bench-") as tmp:
        previous: tuple[int, float] | None = None
        for size in SIZES:
            path = Path(tmp) / f"synthetic_{size}.nnd"
            path.write_text(synthetic_spec(size), encoding="utf-8")
            runs = 1 if quick or size >= 100_000 else 3
            seconds, result = best_time(path, runs=runs, warmup=0 if size >= 100_000 else 1)
            if not result.ok:
                sys.exit(f"synthetic spec of {size:,} layers does not compile:\n{result.diagnostics[:3]}")
            layers = layer_count(result)
            if previous is None:
                target, verdict = "", ""
            else:
                growth = layers / previous[0]
                ratio = seconds / previous[1]
                allowed = LINEAR_LIMIT * growth / 10
                target = f"x{ratio:.1f} for x{growth:.1f} layers (<= x{allowed:.1f})"
                verdict = "ok" if ratio <= allowed else "MISSED"
            rows.append((f"synthetic, {layers:,} layers", f"{seconds * 1000:,.0f} ms", target, verdict))
            previous = (layers, seconds)

    cold = cold_lint(runs=2 if quick else 5)
    rows.append(
        (
            "cold `nndsl lint specs/resnet152.nnd`",
            f"{cold:.2f} s",
            f"< {COLD_TARGET_S} s",
            "ok" if cold < COLD_TARGET_S else "MISSED",
        )
    )

    widths = [max(len(r[i]) for r in [("measure", "time", "target", ""), *rows]) for i in range(4)]
    print(f"{'measure':<{widths[0]}}  {'time':>{widths[1]}}  {'target':<{widths[2]}}  verdict")
    print("  ".join("-" * w for w in widths))
    for what, measured, target, verdict in rows:
        print(f"{what:<{widths[0]}}  {measured:>{widths[1]}}  {target:<{widths[2]}}  {verdict}")


if __name__ == "__main__":
    main()
