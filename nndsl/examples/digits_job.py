"""The main job: scikit-learn's digits, end to end through one of nndsl's backends.

    python -m nndsl.examples.digits_job [--backend torch|keras] [--epochs 5] [--out out/digits]

1. builds an NNC-format dataset (PNG images, train.csv, validation.csv) from the digits
   scikit-learn ships, where specs/digits.nnd reads it (specs/digits/);
2. compiles specs/digits.nnd into a PyTorch or Keras project (`nndsl compile --backend ...`);
3. trains it for a few epochs on the CPU with the project's own train.py;
4. prints the validation error of the last epoch and where the run's files are: each
   train.py run writes into a folder of its own, <out>/runs/<YYYYmmdd-HHMMSS>/, which
   <out>/runs/LATEST names.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "digits.nnd"))
    parser.add_argument("--out", default="out/digits", help="where the generated project goes")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backend", choices=("torch", "keras"), default="torch")
    args = parser.parse_args(argv)

    import importlib

    from ..compiler import compile_file
    from ..diagnostics import render_text
    from .digits import build_digits_dataset

    spec = Path(args.spec)
    print(f"1. dataset: scikit-learn digits -> {spec.parent / 'digits'}", flush=True)
    build_digits_dataset(spec.parent / "digits")

    label = {"torch": "PyTorch", "keras": "Keras"}[args.backend]
    print(f"2. compile: {spec} -> {args.out} ({label})", flush=True)
    result = compile_file(spec)
    if not result.ok:
        sys.stderr.write(render_text(result.diagnostics, result.sources))
        return 1
    importlib.import_module(f"..backends.{args.backend}", __package__).generate(result.project, args.out, force=True)

    print(f"3. train: {args.epochs} epochs on the CPU", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    command = [sys.executable, "train.py", "--epochs", str(args.epochs), "--seed", "0"]
    if args.backend == "torch":
        command += ["--device", "cpu"]
    code = subprocess.call(command, cwd=args.out, env=env)
    if code != 0:
        return code

    run = latest_run(Path(args.out) / "runs")
    with open(run / "log.csv", newline="", encoding="utf-8") as f:
        last = list(csv.DictReader(f))[-1]
    monitor = next(k for k in last if k.startswith("valid"))
    print(f"4. validation error after {last['epoch']} epochs: {float(last[monitor]):.2%} ({monitor})")
    print(f"   run folder: {run}")
    print(f"   learning curve: {run / 'learning_curve.png'}")
    print(f"   parameters (NNC names): {run / 'params.npz'}")
    return 0


def latest_run(runs: Path) -> Path:
    """The folder of train.py's latest run: the one runs/LATEST names (a project whose train.py
    writes straight into runs/ has no LATEST: runs/ itself)."""
    latest = runs / "LATEST"
    return runs / latest.read_text(encoding="utf-8").strip() if latest.is_file() else runs


if __name__ == "__main__":
    sys.exit(main())
