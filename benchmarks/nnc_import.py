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


def synthetic_sdcproj(blocks: int) -> str:
    """A single-network NNC project: Input, `blocks` residual blocks (Convolution,
    BatchNormalization, ReLU, Add2 with the block's input), one RepeatStart/RepeatEnd around a
    block every 10 blocks, then Affine and SoftmaxCrossEntropy."""
    out = []
    layers = []
    links = []

    def layer(type_, name, **props):
        lid = len(layers)
        layers.append((lid, type_, {"Name": name, **props}))
        return lid

    def link(a, b, pin=0):
        links.append((a, b, pin))

    prev = layer("Input", "Input", Size="4,8,8", Dataset="x")
    for k in range(blocks):
        rep = k % 10 == 9
        if rep:
            start = layer("RepeatStart", f"RepeatStart_{k}", Times="2")
            link(prev, start)
            prev = start
        c = layer("Convolution", f"Convolution_{k}", OutMaps="4", KernelShape="3,3")
        b = layer("BatchNormalization", f"BatchNormalization_{k}")
        r = layer("ReLU", f"ReLU_{k}")
        a = layer("Add2", f"Add2_{k}")
        link(prev, c)
        link(c, b)
        link(b, r)
        link(r, a)
        link(prev, a)
        prev = a
        if rep:
            end = layer("RepeatEnd", f"RepeatEnd_{k}")
            link(prev, end)
            prev = end
    f = layer("Affine", "Affine", OutShape="10")
    loss = layer("SoftmaxCrossEntropy", "SoftmaxCrossEntropy")
    link(prev, f)
    link(f, loss)
    out.append(f"[Network_Global]\nNumLayer={len(layers)}\nNumLink={len(links)}")
    for i, (lid, type_, props) in enumerate(layers):
        out.append(f"[Layer_{i}]\nID={lid}\nType={type_}")
        for j, (k, v) in enumerate(props.items()):
            out.append(f"Property_{j}_Name={k}\nProperty_{j}_Value={v}")
        out.append(f"NumProperty={len(props)}")
    for i, (a, b, pin) in enumerate(links):
        out.append(f"[Link_{i}]\nSourceLayerID={a}\nSourcePinIndex=0\nDestLayerID={b}\nDestPinIndex={pin}")
    return "\n".join(out) + "\n"


def scaling() -> None:
    sys.path.insert(0, str(ROOT))
    from nndsl.nnc.sdcproj import parse_sdcproj
    from nndsl.nnc.to_nnd import translate

    for blocks in (250, 500, 1000, 2000):
        data = synthetic_sdcproj(blocks).encode()
        t0 = time.perf_counter()
        project = parse_sdcproj(data, "synthetic.sdcproj")
        t1 = time.perf_counter()
        result = translate(project)
        t2 = time.perf_counter()
        assert result.ok, [str(p) for p in result.problems]
        layers = 4 * blocks + 3 + 2 * (blocks // 10)
        print(f"{layers:6} layers ({len(data) // 1024} KiB): read {t1 - t0:.2f} s, translate {t2 - t1:.2f} s")


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--scaling"]
    if "--scaling" in sys.argv:
        scaling()
    sample = Path(args[0]) if args else DEFAULT
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
