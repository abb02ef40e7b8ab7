"""NNC's own training against nndsl's, on NNC's digits sample: same network, same data, same epochs.

    python benchmarks/nnc_training.py [--work DIR] [--epochs 5] [--nnabla-python PY] \
        [--nnc-tool DIR] [--spec X.nnd] [--backend torch] [--backend keras] [--write-fixture]

1. Data: scikit-learn's bundled digits (1,797 8x8 images), resized to 28x28 (bilinear, 8-bit
   grayscale PNGs) and split 80/20 stratified with seed 0, as NNC-format CSVs (`x:image,y:label`),
   the same split `nndsl.examples.digits` makes.
2. NNC: NNC's `create_prototxt` converts `tests/nnc/samples/tutorial_image_classification_digits
   .sdcproj` (1x28x28 input; Adam; its own augmentation) to an `.nntxt`, whose two dataset URIs
   `max_epoch` and `iter_per_epoch` are pointed at that data (NNC writes iter_per_epoch from the
   project's recorded dataset size, 10,361 images, so its 5 "epochs" would be 36 passes over these
   1,437); `nnabla_cli train` trains it (CPU) and writes `results.nnp`.
3. nndsl: `nndsl import` of the same `.sdcproj` (or `--spec`, a hand-written stand-in), compiled
   for each backend; its `train.py` trains it `--epochs` epochs on the same CSVs.
4. Both final models are evaluated the same way, by nnabla's runtime network semantics: the
   classification error (argmax of the runtime network's output against the label) on the
   validation CSV, and each trainer's own reported validation monitor. nnabla's number comes from
   `results.nnp` run in nnabla; nndsl's from its parameters run in its generated model.
5. NNC's `results.nnp` is imported (`nndsl import results.nnp`, needs the nntxt reader) and its
   parameters loaded into the generated projects (`load_params` of an `.nnp`, needs the NNC
   parameter-file support): their validation error must equal nnabla's.

Prints one JSON line per step and a summary: both errors, both wall times; exits 1 when a
backend ends more than 1.5 points of validation error from nnabla. `--write-fixture`
copies `results.nnp` to `tests/nnc/fixtures/digits_results.nnp` and writes
`tests/nnc/fixtures/digits_results.json` (nnabla's validation error and per-image predictions,
and how the data was made) for a CI test that needs neither nnabla nor the training run.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "nnc" / "samples" / "tutorial_image_classification_digits.sdcproj"
FIXTURES = ROOT / "tests" / "nnc" / "fixtures"
SIDE = 28
SEED = 0
VALIDATION_FRACTION = 0.2
MAX_POINTS = 1.5  # issue 10: both trainers end within 1.5 points of validation error

# Runs in nnabla's Python: the classification error of results.nnp's runtime network on a CSV.
NNABLA_EVALUATE = r"""
import csv, json, sys
import numpy as np
from PIL import Image
import nnabla as nn
from nnabla.utils.nnp_graph import NnpLoader
nnp_path, csv_path, network = sys.argv[1:4]
rows = list(csv.reader(open(csv_path, encoding="utf-8")))[1:]
base = csv_path.rsplit("/", 1)[0]
x = np.stack([np.asarray(Image.open(f"{base}/{r[0]}"), dtype=np.float32)[None] / 255.0 for r in rows])
y = np.array([int(r[1]) for r in rows])
nnp = NnpLoader(nnp_path)
net = nnp.get_network(network, batch_size=len(rows))
(inp,) = net.inputs.values()
(out,) = net.outputs.values()
inp.d = x
out.forward(clear_buffer=True)
pred = out.d.reshape(len(rows), -1).argmax(axis=1)
print(json.dumps({"error": float(np.mean(pred != y)), "predictions": pred.tolist()}))
"""


def step(name: str, **figures) -> None:
    print(json.dumps({"step": name, **figures}), flush=True)


def build_dataset(out: Path) -> tuple[Path, Path]:
    """The digits at 28x28 as NNC-format CSVs and PNGs under `out`."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target
    train, validation = train_test_split(
        np.arange(len(labels)), test_size=VALIDATION_FRACTION, stratify=labels, random_state=SEED
    )
    paths = []
    for split, indices in (("train", train), ("validation", validation)):
        folder = out / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for index in sorted(int(i) for i in indices):
            pixels = np.rint(digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
            image = Image.fromarray(pixels).resize((SIDE, SIDE), Image.BILINEAR)
            name = f"{index}_{labels[index]}.png"
            image.save(folder / name)
            rows.append((f"images/{split}/{name}", int(labels[index])))
        path = out / f"{split}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(("x:image", "y:label"))
            writer.writerows(rows)
        paths.append(path)
    return paths[0], paths[1]


def nnabla_nntxt(tool: Path, work: Path, train_csv: Path, valid_csv: Path, epochs: int) -> Path:
    """NNC's conversion of the sample, pointed at our data and epochs."""
    raw = work / "digits_nnc.nntxt"
    done = subprocess.run(
        [
            "./nncd_console_cli_util",
            "create_prototxt",
            "-i",
            str(SAMPLE),
            "-o",
            str(raw),
            "-p",
            str(work / "digits_nnc_params.csv"),
        ],
        cwd=tool,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"create_prototxt failed:\n{done.stdout}\n{done.stderr}")
    text = raw.read_text(encoding="utf-8")
    uris = {"Training": train_csv, "Validation": valid_csv}

    def dataset(m: re.Match) -> str:
        block = m.group(0)
        name = re.search(r'name: "([^"]*)"', block).group(1)
        block = re.sub(r'uri: "[^"]*"', f'uri: "{uris[name]}"', block)
        block = re.sub(r'cache_dir: "[^"]*"', f'cache_dir: "{work / ("cache_" + name)}"', block)
        return block.replace("create_cache_explicitly: true", "create_cache_explicitly: false")

    text, count = re.subn(r"(?ms)^dataset \{.*?^\}", dataset, text)
    assert count == 2, count
    text, count = re.subn(r"max_epoch: \d+", f"max_epoch: {epochs}", text)
    assert count == 1, count
    # NNC writes iter_per_epoch = the project's recorded NumData // BatchSize (10361 // 32 = 323 for
    # NNC's own digits data): an epoch is one pass over *our* training CSV instead.
    batch_size = int(re.search(r"(?ms)^dataset \{.*?batch_size: (\d+)", text).group(1))
    rows = len(train_csv.read_text(encoding="utf-8").splitlines()) - 1
    text, count = re.subn(r"iter_per_epoch: \d+", f"iter_per_epoch: {rows // batch_size}", text)
    assert count == 1, count
    nntxt = work / "digits.nntxt"
    nntxt.write_text(text, encoding="utf-8")
    return nntxt


def nnabla_monitor_error(out: Path) -> float | None:
    """The last `valid_error` nnabla_cli reported (monitoring_report.yml)."""
    report = out / "monitoring_report.yml"
    if not report.is_file():
        return None
    values = re.findall(r"valid_error:\s*([0-9.eE+-]+)", report.read_text(encoding="utf-8"))
    return float(values[-1]) if values else None


def nnabla_evaluate(python: str, nnp: Path, valid_csv: Path, network: str = "MainRuntime") -> dict:
    done = subprocess.run(
        [python, "-c", NNABLA_EVALUATE, str(nnp), str(valid_csv), network],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    if done.returncode != 0:
        raise SystemExit(f"nnabla evaluation failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_validation(valid_csv: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with open(valid_csv, encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    x = np.stack([np.asarray(Image.open(valid_csv.parent / r[0]), dtype=np.float32)[None] / 255.0 for r in rows])
    return x, np.array([int(r[1]) for r in rows])


def nndsl(*args: str, cwd: Path | None = None, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def generated_error(project: Path, params: Path, x: np.ndarray, y: np.ndarray, network: str) -> float:
    """Classification error of `network` of a generated project with the parameters in `params`."""
    code = (
        "import json, sys, numpy as np\nimport model\n"
        "m = model.create_model()\nm.load_params(sys.argv[1])\n"
        "x = np.load(sys.argv[2])\n"
        "try:\n    import torch\n    torch.set_grad_enabled(False)\n    arg = torch.from_numpy(x)\n"
        "except ImportError:\n    arg = x\n"
        "if model.__doc__ and 'Keras' in model.__doc__:\n    arg = x\n"
        "(out,) = m.run_network(sys.argv[3], **{sys.argv[4]: arg}).values()\n"
        "out = out.numpy() if hasattr(out, 'numpy') else np.asarray(out)\n"
        "print(json.dumps(out.reshape(len(x), -1).argmax(axis=1).tolist()))\n"
    )
    np.save(project / "validation_x.npy", x)
    config = json.loads((project / "config.json").read_text(encoding="utf-8"))
    (image,) = (i["name"] for i in config["networks"][network]["inputs"])
    done = nndsl("-c", code, str(params), str(project / "validation_x.npy"), network, image, cwd=project)
    if done.returncode != 0:
        raise SystemExit(f"evaluating {project}: {done.stderr[-3000:]}")
    predictions = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    return float(np.mean(predictions != y))


def train_nnabla(args: argparse.Namespace, nnc_work: Path, train_csv: Path, valid_csv: Path, summary: dict) -> dict:
    """`nnabla_cli train` on NNC's conversion of the sample; the evaluation of its results.nnp."""
    nnc_work.mkdir()
    nntxt = nnabla_nntxt(args.nnc_tool.resolve(), nnc_work, train_csv, valid_csv, args.epochs)
    cli = str(Path(args.nnabla_python).with_name("nnabla_cli"))
    (nnc_work / "out").mkdir()
    started = time.perf_counter()
    done = subprocess.run(
        [cli, "train", "-c", str(nntxt), "-o", str(nnc_work / "out")],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    nnabla_seconds = time.perf_counter() - started
    (nnc_work / "nnabla_cli.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise SystemExit(f"nnabla_cli train failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    results_nnp = nnc_work / "out" / "results.nnp"
    evaluated = nnabla_evaluate(args.nnabla_python, results_nnp, valid_csv)
    summary["nnabla"] = {
        "seconds": round(nnabla_seconds, 1),
        "monitor_valid_error": nnabla_monitor_error(nnc_work / "out"),
        "classification_error": evaluated["error"],
    }
    step("nnabla_cli train", **summary["nnabla"])
    (nnc_work / "summary.json").write_text(json.dumps(summary["nnabla"]), encoding="utf-8")
    return evaluated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "nndsl_nnc_training")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--nnabla-python", default="/work/nnabla-venv/bin/python")
    parser.add_argument("--nnc-tool", type=Path, default=Path("/work/shared/nnc-tools/nncd_console"))
    parser.add_argument("--spec", type=Path, default=None, help="a .nnd to train instead of `nndsl import`'s")
    parser.add_argument("--backend", action="append", default=None, choices=("torch", "keras"))
    parser.add_argument("--write-fixture", action="store_true")
    parser.add_argument("--skip-nndsl", action="store_true", help="only the NNC side (and the fixture)")
    parser.add_argument("--reuse-nnabla", action="store_true", help="keep an earlier run's nnabla_cli results in WORK")
    args = parser.parse_args(argv)
    backends = args.backend or ["torch"]
    work = args.work.resolve()
    reuse = args.reuse_nnabla and (work / "nnabla" / "summary.json").is_file()
    if work.exists() and not reuse:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if (work / "nndsl").exists():
        shutil.rmtree(work / "nndsl")
    summary: dict = {"epochs": args.epochs}

    train_csv, valid_csv = build_dataset(work / "data")
    step(
        "dataset",
        train=len(train_csv.read_text().splitlines()) - 1,
        validation=len(valid_csv.read_text().splitlines()) - 1,
    )

    # NNC: nnabla_cli train on NNC's own conversion of the sample.
    nnc_work = work / "nnabla"
    results_nnp = nnc_work / "out" / "results.nnp"
    if reuse:
        summary["nnabla"] = json.loads((nnc_work / "summary.json").read_text(encoding="utf-8"))
        evaluated = nnabla_evaluate(args.nnabla_python, results_nnp, valid_csv)
        step("nnabla_cli train (earlier run)", **summary["nnabla"])
    else:
        evaluated = train_nnabla(args, nnc_work, train_csv, valid_csv, summary)
    if args.write_fixture:
        shutil.copyfile(results_nnp, FIXTURES / "digits_results.nnp")
        record = {
            "made_by": "benchmarks/nnc_training.py --write-fixture (nnabla_cli train of NNC's conversion "
            "of tests/nnc/samples/tutorial_image_classification_digits.sdcproj)",
            "epochs": args.epochs,
            "data": "scikit-learn digits, 8x8 values * 255/16 rounded to uint8, resized to 28x28 by PIL "
            f"bilinear, stratified split test_size={VALIDATION_FRACTION} random_state={SEED}; pixels / 255",
            "network": "MainRuntime",
            "validation_error": evaluated["error"],
            "predictions": evaluated["predictions"],
            "monitor_valid_error": summary["nnabla"]["monitor_valid_error"],
        }
        (FIXTURES / "digits_results.json").write_text(json.dumps(record) + "\n", encoding="utf-8")
        step("fixture", nnp=str(FIXTURES / "digits_results.nnp"), bytes=results_nnp.stat().st_size)

    if not args.skip_nndsl:
        x, y = read_validation(valid_csv)
        nd_work = work / "nndsl"
        nd_work.mkdir()
        if args.spec is not None:
            spec = args.spec.resolve()
        else:
            spec = nd_work / "digits.nnd"
            done = nndsl("-m", "nndsl", "import", str(SAMPLE), "-o", str(spec))
            if done.returncode != 0:
                raise SystemExit(f"nndsl import failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        config = None
        for backend in backends:
            project = nd_work / backend
            done = nndsl("-m", "nndsl", "compile", str(spec), "--backend", backend, "-o", str(project))
            if done.returncode != 0:
                raise SystemExit(f"nndsl compile failed:\n{done.stdout}\n{done.stderr}")
            config = json.loads((project / "config.json").read_text(encoding="utf-8"))
            # NNC's sample calls its datasets Training and Validation.
            datasets = [f"{name}={valid_csv if 'valid' in name.lower() else train_csv}" for name in config["datasets"]]
            command = ["train.py", "--epochs", str(args.epochs), "--seed", "0", "--device", "cpu"]
            command = command if backend == "torch" else [c for c in command if c not in ("--device", "cpu")]
            for d in datasets:
                command += ["--dataset", d]
            started = time.perf_counter()
            done = nndsl(*command, "--output", str(project / "runs"), cwd=project, timeout=3600)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"{backend} train.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            (project / "train_stdout.txt").write_text(done.stdout, encoding="utf-8")
            params = sorted((project / "runs").glob("*/params.npz"))[-1]
            runtime = config["executors"][0]["network"] if config.get("executors") else "MainRuntime"
            error = generated_error(project, params, x, y, runtime)
            monitors = re.findall(r"valid_error ([0-9.eE+-]+)", done.stdout)
            summary[backend] = {
                "seconds": round(seconds, 1),
                "monitor_valid_error": float(monitors[-1]) if monitors else None,
                "classification_error": error,
            }
            step(f"{backend} train.py", **summary[backend])

        # NNC's trained parameters in the generated projects.
        if importlib.util.find_spec("nndsl.nnc.nntxt") is None:
            step("results.nnp import", skipped="nndsl.nnc.nntxt (the nnc-nntxt branch) is not on this branch")
        else:
            imported = nd_work / "results.nnd"
            done = nndsl("-m", "nndsl", "import", str(results_nnp), "-o", str(imported))
            if done.returncode != 0:
                raise SystemExit(f"nndsl import results.nnp failed:\n{done.stdout}\n{done.stderr}")
            for backend in backends:
                project = nd_work / f"results_{backend}"
                done = nndsl("-m", "nndsl", "compile", str(imported), "--backend", backend, "-o", str(project))
                if done.returncode != 0:
                    raise SystemExit(f"nndsl compile of the imported results.nnp failed:\n{done.stderr}")
                error = generated_error(project, results_nnp, x, y, "MainRuntime")
                summary[f"results.nnp in {backend}"] = {"classification_error": error}
                step(f"results.nnp in {backend}", classification_error=error, nnabla=evaluated["error"])

    for backend in backends:
        if backend in summary:
            gap = 100 * abs(summary[backend]["classification_error"] - summary["nnabla"]["classification_error"])
            summary[backend]["points_from_nnabla"] = round(gap, 2)
    print(json.dumps({"summary": summary}, indent=1))
    far = [b for b in backends if summary.get(b, {}).get("points_from_nnabla", 0.0) > MAX_POINTS]
    if far:
        print(f"FAIL: {', '.join(far)} more than {MAX_POINTS} points from nnabla's validation error", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
