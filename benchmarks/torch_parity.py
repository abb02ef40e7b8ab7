"""Training-step speed of the generated ResNet-50 against torchvision's resnet50.

    python benchmarks/torch_parity.py [--batch 8] [--rounds 5] [--device cuda] [--amp bf16] [--channels-last]

Both models train on the same batch with the same loss (cross-entropy) and optimizer (SGD with
momentum) in one process, steps alternating between them so that both see the same machine
state; the generated model is the `resnet` unit of specs/resnet50.nnd as `nndsl compile
--backend torch` writes it. Prints the median step time of each, the ratio (target: at most
1.02 on the CPU) and images/s. A measurement, not a test: the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.backends.torch import generate  # noqa: E402
from nndsl.compiler import compile_file  # noqa: E402

TARGET = 1.02


def generated_resnet50(out: str) -> torch.nn.Module:
    generate(compile_file(ROOT / "specs" / "resnet50.nnd").project, out)
    sys.path.insert(0, out)
    try:
        return importlib.import_module("model").create_model().resnet
    finally:
        sys.path.remove(out)


def step_fn(model, optimizer, x, y, amp):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with amp():
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def timed(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per model (after one warm-up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=("bf16", "fp16"), default=None)
    parser.add_argument("--channels-last", action="store_true")
    args = parser.parse_args()

    from torchvision.models import resnet50

    device = torch.device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        ours = generated_resnet50(out)
    theirs = resnet50(weights=None)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    x = torch.randn(args.batch, 3, 224, 224, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (args.batch,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)

    def amp():
        return torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()

    steps = {}
    for name, model in (("generated", ours), ("torchvision", theirs)):
        model.to(device=device, memory_format=fmt).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[name] = step_fn(model, optimizer, x, y, amp)
        steps[name]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(timed(step, device))
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["generated"] / med["torchvision"]
    settings = f"batch {args.batch}, {device}, amp {args.amp or 'off'}, channels-last {args.channels_last}"
    print(f"ResNet-50 training step ({settings}; median of {args.rounds})")
    for name in steps:
        print(f"  {name:<12} {med[name] * 1000:9.1f} ms   {args.batch / med[name]:8.1f} images/s")
    verdict = "ok" if ratio <= TARGET or device.type != "cpu" else "MISSED"
    print(f"  ratio generated/torchvision {ratio:.3f} (target <= {TARGET} on the CPU) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
