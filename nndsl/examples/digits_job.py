"""The main job: scikit-learn's digits, end to end through one of nndsl's backends.

    python -m nndsl.examples.digits_job [--backend torch|keras] [--epochs 5] [--out out/digits]

1. builds an NNC-format dataset (PNG images, train.csv, validation.csv) from the digits
   scikit-learn ships, where the spec reads it: the spec shipped with nndsl (specs/digits.nnd
   in the repository, nndsl/examples/digits.nnd in the wheel) is copied to OUT/data/digits.nnd
   and its dataset built under OUT/data/digits/, so the job writes nothing outside OUT; with
   --spec, the dataset goes where that spec reads it (SPEC's folder/digits/);
2. compiles the spec into a PyTorch or Keras project in OUT (`nndsl compile --backend ...`);
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

HERE = Path(__file__).resolve().parent


def shipped_spec() -> Path:
    """specs/digits.nnd: inside the package in a wheel, at the top of a source checkout."""
    for candidate in (HERE / "digits.nnd", HERE.parents[1] / "specs" / "digits.nnd"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("digits.nnd not found next to nndsl.examples")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=None, help="a digits spec (default: the one nndsl ships)")
    parser.add_argument("--out", default="out/digits", help="where the generated project goes")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--backend", choices=("torch", "keras"), default="torch")
    args = parser.parse_args(argv)

    import importlib

    from ..compiler import compile_file
    from ..diagnostics import render_text
    from .digits import build_digits_dataset

    if args.spec is None:
        spec = Path(args.out) / "data" / "digits.nnd"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_bytes(shipped_spec().read_bytes())
    else:
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
