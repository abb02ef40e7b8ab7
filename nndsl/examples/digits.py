"""Build scikit-learn's bundled 8x8 handwritten digits as an NNC-format dataset.

    python -m nndsl.examples.digits OUT_DIR [--validation-fraction 0.2] [--seed 0]

writes OUT_DIR/images/<split>/<index>_<label>.png (8-bit grayscale, pixel = round(value *
255 / 16): the digits' values run from 0 to 16) and OUT_DIR/train.csv and
OUT_DIR/validation.csv in NNC's dataset CSV format: the header ``x:image,y:label``, then one
row per image, its path relative to the CSV's folder and its class index. The split is
stratified by class and fixed by the seed; running again rewrites the same files (and
removes images a different split left behind). ``specs/digits.nnd`` reads
``python -m nndsl.examples.digits specs/digits``.

scikit-learn and Pillow are imported only when the dataset is built: nndsl itself does not
need them.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

HEADER = ("x:image", "y:label")
SPLITS = ("train", "validation")
_IMAGE_NAME = re.compile(r"\d+_\d\.png")


def build_digits_dataset(out_dir: str | Path, validation_fraction: float = 0.2, seed: int = 0) -> tuple[Path, Path]:
    """Write the digits dataset under ``out_dir``; returns the paths of train.csv and validation.csv."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be between 0 and 1 (exclusive), got {validation_fraction}")

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target
    train, validation = train_test_split(
        np.arange(len(labels)), test_size=validation_fraction, stratify=labels, random_state=seed
    )

    out = Path(out_dir)
    csv_paths = []
    for split, indices in zip(SPLITS, (train, validation), strict=True):
        folder = out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        rows, written = [], set()
        for index in sorted(int(i) for i in indices):
            name = f"{index}_{labels[index]}.png"
            Image.fromarray(pixels[index]).save(folder / name)  # uint8 and 2-D: 8-bit grayscale
            rows.append((f"images/{split}/{name}", int(labels[index])))
            written.add(name)
        for stale in folder.iterdir():  # images of an earlier, different split
            if _IMAGE_NAME.fullmatch(stale.name) and stale.name not in written:
                stale.unlink()
        csv_path = out / f"{split}.csv"
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
        csv_paths.append(csv_path)
    return csv_paths[0], csv_paths[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nndsl.examples.digits",
        description="Build scikit-learn's 8x8 digits as an NNC-format dataset (CSV files and PNG images).",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write train.csv, validation.csv and images/ to")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of validation samples (0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stratified split (0)")
    args = parser.parse_args(argv)
    try:
        train_csv, validation_csv = build_digits_dataset(args.out_dir, args.validation_fraction, args.seed)
    except ValueError as e:
        parser.error(str(e))
    except ImportError as e:
        print(f"error: {e}; install nndsl[torch] (scikit-learn, Pillow) to build the digits dataset", file=sys.stderr)
        return 1
    counts = [p.read_text(encoding="utf-8").count("\n") - 1 for p in (train_csv, validation_csv)]  # minus the header
    print(f"wrote {train_csv} ({counts[0]} samples)")
    print(f"wrote {validation_csv} ({counts[1]} samples)")
    print(f"images under {Path(args.out_dir) / 'images'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
