"""Transfer learning on scikit-learn's digits, end to end through one of nndsl's backends.

    python -m nndsl.examples.transfer_job [--backend torch|keras] [--epochs 3] [--pretrain-epochs 8]
                                          [--out out/transfer]

1. builds the digits dataset (as the main job does, nndsl.examples.digits) under OUT/data/digits/
   and splits it: the digits 0 to 4 (old_train.csv, old_validation.csv) and the digits 5 to 9,
   labelled 0 to 4 (new_train.csv, new_validation.csv);
2. pretrains the backbone and its classifier on the digits 0 to 4 (pretrain.nnd);
3. fine-tunes: the pretrained backbone, frozen, under a new classifier trained on the digits 5 to 9
   (finetune.nnd; `train.py --init` loads the pretraining's parameters and lists those it leaves);
4. trains the same network from scratch on the digits 5 to 9 with the same budget (scratch.nnd);
5. prints both validation errors, and writes the fine-tuned backbone's features of the validation
   digits (`infer.py --network Features`).

The specs are nndsl/examples/transfer/ (backbone.nnd holds the network); each project is compiled
into OUT/<pretrain|finetune|scratch>, and nothing is written outside OUT.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPECS = HERE / "transfer"
SPLITS = {"old": range(0, 5), "new": range(5, 10)}  # the digits each part sees; labels from 0


def split_digits(folder: Path) -> None:
    """old_{train,validation}.csv (digits 0-4) and new_{train,validation}.csv (digits 5-9, labelled
    0-4) beside the digits' train.csv and validation.csv, the same images."""
    for part in ("train", "validation"):
        with open(folder / f"{part}.csv", newline="", encoding="utf-8") as f:
            header, *rows = list(csv.reader(f))
        for name, digits in SPLITS.items():
            with open(folder / f"{name}_{part}.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(header)
                writer.writerows([x, int(y) - digits.start] for x, y in rows if int(y) in digits)


def last_error(run: Path) -> tuple[int, float]:
    """The last epoch of a train.py run and its validation error (log.csv's first monitor)."""
    with open(run / "log.csv", newline="", encoding="utf-8") as f:
        last = list(csv.DictReader(f))[-1]
    monitor = next(k for k in last if k.startswith("valid"))
    return int(last["epoch"]), float(last[monitor])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/transfer", help="where the data and the three projects go")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of fine-tuning, and of training from scratch")
    parser.add_argument("--pretrain-epochs", type=int, default=8)
    parser.add_argument("--backend", choices=("torch", "keras"), default="torch")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.pretrain_epochs < 1:
        parser.error("--epochs and --pretrain-epochs must be at least 1")

    import importlib

    from ..compiler import compile_file
    from ..diagnostics import render_text
    from .digits import build_digits_dataset
    from .digits_job import latest_run

    out = Path(args.out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for spec in SPECS.glob("*.nnd"):
        shutil.copyfile(spec, data / spec.name)
    print(f"1. dataset: scikit-learn digits -> {data / 'digits'}: 0-4 to pretrain, 5-9 to fine-tune", flush=True)
    build_digits_dataset(data / "digits")
    split_digits(data / "digits")

    generate = importlib.import_module(f"..backends.{args.backend}", __package__).generate
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    device = ["--device", "cpu"] if args.backend == "torch" else []

    trained: dict[str, int] = {}  # the parameters each project's optimizer trains (the frozen ones not)

    def train(name: str, epochs: int, *extra: str) -> Path | None:
        result = compile_file(data / f"{name}.nnd")
        if not result.ok:
            sys.stderr.write(render_text(result.diagnostics, result.sources))
            return None
        net = result.project.network(result.project.config.optimizers[0].network)
        table = net.parameter_table().values()
        trained[name] = sum(math.prod(q.shape) for q in table if q.trainable and q.lrate_multiplier > 0)
        generate(result.project, out / name, force=True)
        command = [sys.executable, "train.py", "--epochs", str(epochs), "--seed", "0", *device, *extra]
        if subprocess.call(command, cwd=out / name, env=env) != 0:
            return None
        return latest_run(out / name / "runs")

    label = {"torch": "PyTorch", "keras": "Keras"}[args.backend]
    print(f"2. pretrain on digits 0-4: {args.pretrain_epochs} epochs ({label}, CPU)", flush=True)
    pretrained = train("pretrain", args.pretrain_epochs)
    if pretrained is None:
        return 1
    epoch, error = last_error(pretrained)
    print(f"   validation error on digits 0-4: {error:.2%}", flush=True)
    print(f"3. fine-tune on digits 5-9: {args.epochs} epochs, the pretrained backbone frozen, a new head", flush=True)
    tuned = train("finetune", args.epochs, "--init", str((pretrained / "params.npz").resolve()))
    print(f"4. from scratch on digits 5-9: {args.epochs} epochs, the same network from its initializers", flush=True)
    scratch = train("scratch", args.epochs)
    if tuned is None or scratch is None:
        return 1
    features = (out / "finetune" / "features.csv").resolve()
    command = [sys.executable, "infer.py", str((tuned / "params.npz").resolve()), "--output", str(features), *device]
    if subprocess.call(command, cwd=out / "finetune", env=env, stdout=subprocess.DEVNULL) != 0:
        return 1
    (epoch, tuned_error), (_, scratch_error) = last_error(tuned), last_error(scratch)
    print(
        f"5. validation error on digits 5-9 after {epoch} epochs: fine-tuned {tuned_error:.2%} "
        f"({trained['finetune']:,} parameters trained), from scratch {scratch_error:.2%} "
        f"({trained['scratch']:,} parameters trained)"
    )
    print(f"   runs: {tuned}, {scratch}")
    print(f"   the fine-tuned backbone's features of the validation digits: {features}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
