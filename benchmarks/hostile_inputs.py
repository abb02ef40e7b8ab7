"""Tries nndsl as a hostile user would, and counts what went wrong.

    python benchmarks/hostile_inputs.py [--only frontend|projects|dataloss] [--seed 0] [--mutations 6]

Three groups of trials, each a real process run with a time limit:

* frontend: every bad spec the script can think of (mutations of every shipped and golden spec;
  deep nesting past every limit; hostile includes: system files, `..`, /proc/self/environ, devices, a
  FIFO, symlink loops, chains thousands deep; super-linear shapes: thousands of bad lines, exponential
  unit trees, many derived networks, long Add2 chains; hostile file names; labels named like framework
  attributes; bad output folders) through `nndsl lint`, `lint --format json`, `summary`, `fmt --check`
  and `compile`.
* projects: a generated digits project of each backend given bad command lines, bad datasets, bad
  images, corrupt, truncated, stale and malicious checkpoints and parameter files.
* dataloss: a second training run beside the first, kills at random moments then --resume (compared
  with an uninterrupted run bit for bit), non-finite training, partial parameter files, concurrent
  compiles into one folder, fmt through a symlink and on a read-only file.

A trial counts as a traceback if a Python traceback reaches the user's terminal, an internal error if
nndsl says so (or exits 3), a hang if it outlives its limit, a leak if the output shows the content of
a file the spec had no right to read (a planted secret), and a data-loss case if a file a user wrote or
trained changed or vanished, or a resumed run differs from the straight one. `--format json` runs must
print exactly one JSON document. The figures are printed as a table; the exit status is 0 whether or
not they are zero (this is a measurement, not a test: tests/hostile/ holds the tests).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SECRET = "NNDSL-HOSTILE-SECRET-7f3a9c"
TIMEOUT_S = 20.0


@dataclass
class Outcome:
    group: str
    name: str
    code: int | None
    seconds: float
    problems: list[str] = field(default_factory=list)


def run(
    argv: list[str], cwd: Path, timeout: float = TIMEOUT_S, env: dict | None = None
) -> tuple[int | None, str, str, float]:
    """(exit code or None on a hang, stdout, stderr, seconds)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "NNDSL_SECRET_ENV": SECRET, **(env or {})}
    full_env.pop("NNDSL_DEBUG", None)
    started = time.perf_counter()
    try:
        r = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, "", "", time.perf_counter() - started
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    return r.returncode, out, err, time.perf_counter() - started


def judge(group: str, name: str, result, ok_codes=(0, 1, 2), json_doc: bool = False) -> Outcome:
    code, out, err, seconds = result
    o = Outcome(group, name, code, seconds)
    text = out + err
    if code is None:
        o.problems.append("hang")
        return o
    if "Traceback (most recent call last)" in text:
        o.problems.append("traceback")
    if code == 3 or "internal error" in text:
        o.problems.append("internal")
    if SECRET in text:
        o.problems.append("leak")
    if code not in ok_codes and code != 3:
        o.problems.append(f"exit {code}")
    if json_doc:
        try:
            json.loads(out)
        except ValueError:
            o.problems.append("json")
    return o


def nndsl(*args: str) -> list[str]:
    return [PYTHON, "-m", "nndsl", *args]


# ---------------------------------------------------------------------------------------------------
# Front end
# ---------------------------------------------------------------------------------------------------

TOKENS = [
    "(", ")", "{", "}", "[", "]", "->", "=", ",", ":", "x", "-1", "0", "1e400", "99999999999999999999",
    "repeat", "unit", "network", "in", "out", "if", "else", "with", "include", "Add2(", "Convolution(",
    "\"", "'", "#", "\n", "\t", "\x00", "\u202e", "Input(", "TopNError", "true", "3x3", "/", "%", "**",
]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    """One random edit of a real spec: what a typo, a bad merge or a truncated save makes."""
    lines = text.splitlines(keepends=True) or [""]
    kind = rng.randrange(7)
    at = rng.randrange(len(text) + 1)
    if kind == 0:  # delete a span
        return text[:at] + text[at + rng.randrange(1, 40) :]
    if kind == 1:  # insert a token
        return text[:at] + rng.choice(TOKENS) + text[at:]
    if kind == 2:  # duplicate a line
        i = rng.randrange(len(lines))
        return "".join(lines[: i + 1] + [lines[i]] + lines[i + 1 :])
    if kind == 3:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "".join(lines)
    if kind == 4:  # truncate
        return text[:at]
    if kind == 5:  # a number becomes extreme
        numbers = list(re.finditer(r"\b\d+\b", text))
        if numbers:
            m = rng.choice(numbers)
            return text[: m.start()] + rng.choice(["0", "-1", "100000000", "9" * 30, "1e30"]) + text[m.end() :]
        return text + "\n}"
    words = list(re.finditer(r"\b[a-z_][a-z_0-9]*\b", text))  # a name becomes a framework attribute
    if words:
        m = rng.choice(words)
        return (
            text[: m.start()]
            + rng.choice(["forward", "train", "state_dict", "to", "__init__", "self"])
            + text[m.end() :]
        )
    return text


def deep_inputs() -> dict[str, str]:
    """Nesting and sizes past every documented limit, and a little under them."""
    net = 'network Main {{\n    x = Input(1x4x4, dataset="x")\n{body}\n}}\n'
    out: dict[str, str] = {}
    for n in (300, 1000, 5000):
        out[f"sum of {n} terms"] = net.format(body=f"    y = x -> Affine({' + '.join(['1'] * n)})")
        out[f"unary minus {n} deep"] = net.format(body=f"    y = x -> Affine({'-' * n}1)")
        out[f"list {n} deep"] = net.format(body=f"    y = x -> Reshape(shape={'[' * n}1{']' * n})")
        out[f"parentheses {n} deep"] = net.format(body=f"    y = x -> Affine({'(' * n}1{')' * n})")
    for n in (200, 500, 2000):
        ifs = "".join("    " + "if true {\n" for _ in range(n)) + "    y = x -> ReLU\n" + "}\n" * n
        out[f"{n} nested ifs"] = "unit U() {\n    in x\n" + ifs + "    out y\n}\n" + net.format(body="    y = x -> U")
        elifs = (
            "    if false { y = x -> ReLU }\n"
            + "".join("    else if false { y = x -> ReLU }\n" for _ in range(n))
            + "    else { y = x -> ReLU }\n"
        )
        out[f"{n} else-if branches"] = (
            "unit U() {\n    in x\n" + elifs + "    out y\n}\n" + net.format(body="    y = x -> U")
        )
        reps = "    y = x -> " + "repeat 1 { " * n + "ReLU" + " }" * n
        out[f"repeats {n} deep"] = net.format(body=reps)
    return out


def costly_inputs() -> dict[str, str]:
    """Inputs whose cost a quadratic or exponential stage would blow up."""
    out: dict[str, str] = {}
    for n in (1000, 4000):
        out[f"{n} bad lines"] = "".join(f"network N{i} {{ x = = Input( }}\n" for i in range(n))
    for depth in (12, 20, 40):
        units = "unit U0() {\n    in x\n    out x -> ReLU\n}\n" + "".join(
            f"unit U{d}() {{\n    in x\n    out x -> U{d - 1} -> U{d - 1}\n}}\n" for d in range(1, depth + 1)
        )
        out[f"unit tree 2^{depth}"] = units + (
            f'network Main {{\n    x = Input(1x4x4, dataset="x")\n    y = x -> U{depth}\n}}\n'
        )
    for n in (100, 800):
        base = 'network N0 {\n    x = Input(1x4x4, dataset="x")\n    y = x -> a: Affine(3) -> TopNError(x, n=1)\n}\n'
        derived = "".join(f"network N{i} = N{i - 1} with {{ a.n_outmaps = 3 }}\n" for i in range(1, n))
        out[f"{n} derived networks"] = base + derived
    for n in (10_000, 30_000):
        body = "    h0 = x -> ReLU\n" + "".join(f"    h{i} = Add2(h{i - 1}, x)\n" for i in range(1, n))
        out[f"{n} chained Add2"] = 'network Main {\n    x = Input(4, dataset="x")\n' + body + "}\n"
    out["derived network cycle"] = "network A = B with { a.n_outmaps = 3 }\nnetwork B = A with { a.n_outmaps = 3 }\n"
    out["10^24 parameters"] = (
        'network Main {\n    x = Input(1000000000000, dataset="x")\n    y = x -> Affine(1000000000000)\n}\n'
    )
    return out


def frontend(tmp: Path, rng: random.Random, mutations: int) -> list[Outcome]:
    """Every front-end trial, run two at a time."""
    jobs: list[tuple[str, list[str], Path, float, bool]] = []  # name, argv, cwd, timeout, json
    work = tmp / "specs"
    work.mkdir(parents=True)
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.nnd").write_text(f"# {SECRET}\nnetwork {SECRET.replace('-', '_')} {{ x = }}\n")
    (outside / "secret.txt").write_text(f"{SECRET}\n")

    def spec(name: str, text: str | bytes, commands=("lint",)) -> None:
        path = work / f"{len(jobs):04d}.nnd"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        for command in commands:
            if command == "lint":
                jobs.append((f"lint: {name}", nndsl("lint", path.name), work, TIMEOUT_S, False))
            elif command == "json":
                jobs.append((f"lint json: {name}", nndsl("lint", "--format", "json", path.name), work, TIMEOUT_S, True))
            elif command == "summary":
                jobs.append((f"summary: {name}", nndsl("summary", path.name), work, TIMEOUT_S, False))
            elif command == "fmt":
                jobs.append((f"fmt: {name}", nndsl("fmt", "--check", path.name), work, TIMEOUT_S, False))
            elif command == "compile":
                out = tmp / "compiled" / path.stem
                argv = nndsl("compile", path.name, "--backend", rng.choice(["torch", "keras"]), "-o", str(out))
                jobs.append((f"compile: {name}", argv, work, TIMEOUT_S, False))

    all_commands = ("lint", "json", "summary", "fmt", "compile")
    sources = sorted((ROOT / "specs").glob("*.nnd")) + sorted((ROOT / "tests" / "golden").glob("*.nnd"))
    for source in sources:
        text = source.read_text(encoding="utf-8", errors="replace")
        if "include" in text:
            continue  # mutations of specs that include others would read files beside the copy
        for k in range(mutations):
            spec(f"mutated {source.name} #{k}", mutate(text, rng), (rng.choice(all_commands),))
    for name, text in {**deep_inputs(), **costly_inputs()}.items():
        spec(name, text, ("lint", "json", "compile"))
    includes = {
        "include /etc/passwd": "/etc/passwd",
        "include ../outside/secret.nnd": "../outside/secret.nnd",
        "include ../outside/secret.txt": "../outside/secret.txt",
        "include absolute secret": str(outside / "secret.nnd"),
        "include /proc/self/environ": "/proc/self/environ",
        "include /dev/zero": "/dev/zero",
        "include /dev/urandom": "/dev/urandom",
        "include a folder": ".",
        "include a missing file": "missing.nnd",
        "include a FIFO": "fifo.nnd",
        "include a symlink loop": "loop_a.nnd",
        "include a symlink outside": "escape.nnd",
        "include binary": "binary.nnd",
    }
    os.mkfifo(work / "fifo.nnd")
    os.symlink("loop_b.nnd", work / "loop_a.nnd")
    os.symlink("loop_a.nnd", work / "loop_b.nnd")
    os.symlink(outside / "secret.nnd", work / "escape.nnd")
    (work / "binary.nnd").write_bytes(bytes(range(256)) * 4)
    for name, target in includes.items():
        spec(name, f'include "{target}"\nnetwork Main {{\n    x = Input(4, dataset="x")\n}}\n', ("lint", "json"))
    chain = work / "chain"
    chain.mkdir()
    for i in range(3000):
        (chain / f"c{i}.nnd").write_text(f'include "c{i + 1}.nnd"\n' if i < 2999 else "network Main { x = Input(4) }\n")
    jobs.append(("lint: include chain 3000 deep", nndsl("lint", "chain/c0.nnd"), work, TIMEOUT_S, False))
    for name in HOSTILE_NAMES:
        path = work / name
        path.write_text((ROOT / "specs" / "lenet.nnd").read_text(encoding="utf-8"), encoding="utf-8")
        for backend in ("torch", "keras"):
            out = tmp / "named" / f"{backend}-{len(jobs)}"
            jobs.append(
                (
                    f"compile: file name {name!r} ({backend})",
                    nndsl("compile", name, "--backend", backend, "-o", str(out)),
                    work,
                    TIMEOUT_S,
                    False,
                )
            )
    (tmp / "a-file").write_text("user's file\n")
    lenet = str(ROOT / "specs" / "lenet.nnd")
    for name, out in {
        "-o onto a file": tmp / "a-file",
        "-o under a file": tmp / "a-file" / "x",
        "-o in /proc": Path("/proc/nndsl-x"),
    }.items():
        for fmt in ("text", "json"):
            argv = nndsl("compile", lenet, "--backend", "torch", "-o", str(out), "--format", fmt)
            jobs.append((f"compile {fmt}: {name}", argv, tmp, TIMEOUT_S, fmt == "json"))
    broken = tmp / "broken-manifest"
    run(nndsl("compile", lenet, "--backend", "torch", "-o", str(broken)), tmp, timeout=60)
    for manifest in broken.glob(".nndsl*"):
        if manifest.is_file():
            manifest.write_text("{ not json")
    jobs.append(
        (
            "compile: broken manifest",
            nndsl("compile", lenet, "--backend", "torch", "-o", str(broken)),
            tmp,
            TIMEOUT_S,
            False,
        )
    )

    def one(job):
        name, argv, cwd, timeout, json_doc = job
        return judge("frontend", name, run(argv, cwd, timeout), json_doc=json_doc)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(one, jobs))
    outcomes += generated_models(tmp, work)
    return outcomes


HOSTILE_NAMES = [
    'a"""b.nnd',
    'x""";__import__("os").system("touch PWNED-name")#.nnd',
    "x';__import__('os').system('touch PWNED-name')#.nnd",
    "a\nb.nnd",
    "a\\b.nnd",
    "{{ x }}{% raw %}.nnd",
    "ü€\u202e.nnd",
]
RESERVED_LABELS = [
    "train", "eval", "to", "cuda", "cpu", "parameters", "modules", "children", "forward", "state_dict",
    "load_state_dict", "named_parameters", "buffers", "apply", "register_buffer", "training", "zero_grad",
    "half", "float", "type", "add_module", "get_submodule", "networks", "run_network", "save_params",
    "load_params", "NETWORKS", "PARAMETERS", "build", "call", "compile", "fit", "predict", "layers",
    "weights", "variables", "trainable", "name", "inputs", "outputs", "summary", "get_config", "dtype",
    "x", "y", "loss", "self", "super", "__init__", "__class__", "__dict__",
]  # fmt: skip


def generated_models(tmp: Path, work: Path) -> list[Outcome]:
    """Projects whose spec file has a hostile name, or whose labels are named like framework attributes,
    must import, build and run; and a name must never run code when model.py is imported."""
    projects: list[tuple[str, str, Path]] = []
    for folder in sorted((tmp / "named").glob("*")):
        projects.append((f"model of a hostile file name ({folder.name})", folder.name.split("-")[0], folder))
    for i, label in enumerate(RESERVED_LABELS):
        spec = work / f"label_{i}.nnd"
        spec.write_text(
            "network Training {\n"
            '    x = Input(1x4x4, dataset="x")\n'
            '    y = Input(1, dataset="y")\n'
            f"    loss = x -> {label}: Affine(3) -> {label}_2: BatchNormalization -> SoftmaxCrossEntropy(y)\n"
            "}\n",
            encoding="utf-8",
        )
        for backend in ("torch", "keras"):
            out = tmp / "labels" / f"{backend}-{i}"
            code, _, err, _ = run(nndsl("compile", spec.name, "--backend", backend, "-o", str(out)), work)
            if code == 0:
                projects.append((f"model with label {label!r} ({backend})", backend, out))
    check = (
        "import importlib, json, sys\n"
        "import numpy as np\n"
        "failed = []\n"
        "for folder in sys.argv[1:]:\n"
        "    sys.path.insert(0, folder)\n"
        "    for m in [m for m in sys.modules if m.split('.')[0] in ('model', 'nndsl_runtime')]:\n"
        "        sys.modules.pop(m, None)\n"
        "    try:\n"
        "        model = importlib.import_module('model').create_model()\n"
        "        config = json.load(open(folder + '/config.json'))\n"
        "        for name, network in config['networks'].items():\n"
        "            inputs = {i['name']: np.zeros((2, *i['shape']), 'float32') for i in network['inputs']}\n"
        "            if 'torch' in sys.modules:\n"
        "                import torch\n"
        "                inputs = {k: torch.from_numpy(v) for k, v in inputs.items()}\n"
        "            model.run_network(name, **inputs)\n"
        "    except Exception as e:\n"
        "        failed.append(folder)\n"
        "        print(folder, type(e).__name__, str(e)[:200], file=sys.stderr)\n"
        "    sys.path.remove(folder)\n"
        "print(json.dumps(failed))\n"
    )
    outcomes = []
    for backend in ("torch", "keras"):
        mine = [(n, f) for n, b, f in projects if b == backend]
        code, out, err, seconds = run([PYTHON, "-c", check, *(str(f) for _, f in mine)], tmp, 600)
        try:
            failed = set(json.loads(out.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            failed = {str(f) for _, f in mine}
        for name, folder in mine:
            outcomes.append(
                Outcome(
                    "frontend",
                    name,
                    code,
                    seconds / max(len(mine), 1),
                    ["model fails"] if str(folder) in failed else [],
                )
            )
    if list(work.glob("PWNED*")) or list(tmp.glob("PWNED*")):
        outcomes.append(Outcome("frontend", "a file name ran code", 0, 0.0, ["code executed"]))
    return outcomes


# ---------------------------------------------------------------------------------------------------
# Generated projects
# ---------------------------------------------------------------------------------------------------

EVIL = "import os\nclass Evil:\n    def __reduce__(self):\n        return (os.system, ({command!r},))\n"


def make_project(tmp: Path, backend: str) -> Path:
    """The digits spec compiled for `backend` into tmp/<backend>, its dataset beside the spec."""
    sys.path.insert(0, str(ROOT))
    from nndsl.examples.digits import build_digits_dataset

    spec_dir = tmp / "spec"
    if not (spec_dir / "digits" / "train.csv").exists():
        spec_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "specs" / "digits.nnd", spec_dir / "digits.nnd")
        build_digits_dataset(spec_dir / "digits")
    project = tmp / backend
    code, out, err, _ = run(
        nndsl("compile", str(spec_dir / "digits.nnd"), "--backend", backend, "-o", str(project)), tmp, 120
    )
    if code != 0:
        raise SystemExit(f"cannot compile the digits project for {backend}: {err}")
    return project


def csv_with(tmp: Path, name: str, rows: list[str], header: str = "x:image,y:label") -> Path:
    path = tmp / "data" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def bad_datasets(tmp: Path) -> dict[str, Path]:
    """Bad dataset files: labels that are no class, broken images, files that are not CSVs."""
    train = (tmp / "spec" / "digits" / "train.csv").read_text(encoding="utf-8").splitlines()
    image = str((tmp / "spec" / "digits" / train[1].split(",")[0]).resolve())
    good = [f"{image},{i % 10}" for i in range(64)]
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    bomb = data / "bomb.png"
    Image.new("1", (40_000, 40_000)).save(bomb)  # 1.6 gigapixels, a few hundred kilobytes
    (data / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    (data / "binary.csv").write_bytes(os.urandom(4096))
    out = {
        f"label {label}": csv_with(tmp, f"label{i}", [*good[:-1], f"{image},{label}"])
        for i, label in enumerate(("10", "-1", "1e30", "2.5", "abc", "nan", ""))
    }
    out["decompression bomb"] = csv_with(tmp, "bomb", [*good[:-1], f"{bomb},1"])
    out["corrupt PNG"] = csv_with(tmp, "corrupt", [*good[:-1], f"{data / 'corrupt.png'},1"])
    out["missing image"] = csv_with(tmp, "missing", [*good[:-1], f"{data / 'nope.png'},1"])
    out["an image, not a CSV"] = Path(image)
    out["binary CSV"] = data / "binary.csv"
    out["header only"] = csv_with(tmp, "empty", [])
    out["wrong columns"] = csv_with(tmp, "columns", good, header="a:image,b:label")
    out["ragged rows"] = csv_with(tmp, "ragged", [*good[:-1], f"{image}"])
    return out


def trained_run(project: Path, name: str, extra: list[str] = ()) -> Path | None:
    """One short training run in project/<name>; the run folder it made."""
    code, out, err, _ = run(
        [PYTHON, "train.py", "--epochs", "1", "--seed", "1", "--output", name, *extra], project, 300
    )
    latest = project / name / "LATEST"
    if code != 0 or not latest.exists():
        print(f"  a short training run failed ({project.name}): {err[-500:]}", file=sys.stderr)
        return None
    return project / name / latest.read_text().strip()


def projects(tmp: Path, backends: list[str]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    datasets = None
    for backend in backends:
        project = make_project(tmp, backend)
        datasets = datasets or bad_datasets(tmp)
        good = trained_run(project, "runs")
        jobs: list[tuple[str, list[str]]] = []
        train = [PYTHON, "train.py", "--epochs", "1", "--output", "bad-runs"]
        for name, args in {
            "--device foo": ["--device", "foo"],
            "--workers -1": ["--workers", "-1"],
            "--seed 2**70": ["--seed", str(2**70)],
            "--seed -1": ["--seed", "-1"],
            "--lr nan": ["--lr", "nan"],
            "--lr inf": ["--lr", "inf"],
            "--batch-size 0": ["--batch-size", "0"],
            "--batch-size 10**9": ["--batch-size", str(10**9)],
            "--epochs 0": ["--epochs", "0"],
            "--output onto a file": ["--output", "config.json"],
            "--output under a file": ["--output", "config.json/runs"],
            "--output in /proc": ["--output", "/proc/nndsl-runs"],
            "--resume with no run": ["--resume", "--output", "no-runs-here"],
            "--resume of an unknown run": ["--resume", "19990101-000000"],
            "--dataset unknown name": ["--dataset", "nothing=x.csv"],
            "--dataset missing file": ["--dataset", "training=/nonexistent.csv"],
        }.items():
            jobs.append((f"train {name}", train + args))
        for name, path in datasets.items():
            jobs.append((f"train dataset: {name}", train + ["--dataset", f"training={path}"]))
            if name.startswith("label"):
                continue  # the executor's network reads no label: infer.py rightly ignores that column
            jobs.append(
                (f"infer dataset: {name}", [PYTHON, "infer.py", "--dataset", str(path), "--output", str(tmp / "o.csv")])
            )
        if good is not None:
            files = {
                "corrupt checkpoint": lambda p: p.write_bytes(
                    p.read_bytes()[:64] + os.urandom(256) + p.read_bytes()[320:]
                ),
                "truncated checkpoint": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
            }
            for name, damage in files.items():
                copy = tmp / f"{backend}-{name.replace(' ', '-')}"
                shutil.copytree(project / "runs", copy)
                run_dir = copy / good.name
                targets = [  # checkpoints (Keras keeps them in checkpoint/), best and final parameters
                    f
                    for f in run_dir.rglob("*")
                    if f.is_file() and (f.suffix in (".pt", ".npz", ".index") or f.name.startswith("ckpt-"))
                ]
                for f in targets:
                    if not f.name.endswith(".sha256"):
                        damage(f)
                jobs.append(
                    (
                        f"train --resume: {name}",
                        [PYTHON, "train.py", "--epochs", "2", "--output", str(copy), "--resume"],
                    )
                )
                jobs.append(
                    (
                        f"infer: {name} (best)",
                        [
                            PYTHON,
                            "infer.py",
                            str(run_dir / ("best.pt" if backend == "torch" else "best.npz")),
                            "--output",
                            str(tmp / "o.csv"),
                        ],
                    )
                )
                jobs.append(
                    (
                        f"infer: {name} (params)",
                        [PYTHON, "infer.py", str(run_dir / "params.npz"), "--output", str(tmp / "o.csv")],
                    )
                )
            import numpy as np

            params = dict(np.load(good / "params.npz"))
            partial = tmp / f"{backend}-partial.npz"
            np.savez(partial, **dict(list(params.items())[: len(params) // 2]))
            stale = tmp / f"{backend}-stale.npz"
            np.savez(stale, **{k: np.zeros((*v.shape[:-1], v.shape[-1] + 1), v.dtype) for k, v in params.items()})
            evil_npz = tmp / f"{backend}-evil.npz"
            np.savez(evil_npz, **{k: np.array([None], dtype=object) for k in params})
            jobs.append(
                (
                    "infer: parameter file missing layers",
                    [PYTHON, "infer.py", str(partial), "--output", str(tmp / "o.csv")],
                )
            )
            jobs.append(
                ("infer: stale parameter file", [PYTHON, "infer.py", str(stale), "--output", str(tmp / "o.csv")])
            )
            jobs.append(
                ("infer: object arrays in .npz", [PYTHON, "infer.py", str(evil_npz), "--output", str(tmp / "o.csv")])
            )
            jobs.append(
                (
                    "infer: a PNG as parameters",
                    [PYTHON, "infer.py", str(datasets["an image, not a CSV"]), "--output", str(tmp / "o.csv")],
                )
            )
            if backend == "torch":
                pwned = tmp / "PWNED-torch"
                evil = tmp / "evil-runs"
                shutil.copytree(project / "runs", evil)
                script = EVIL.format(command=f"touch {pwned}") + (
                    "import torch, sys\nfor name in sys.argv[1:]:\n    torch.save({'model': Evil()}, name)\n"
                )
                targets = [str(evil / good.name / "checkpoint.pt"), str(evil / good.name / "best.pt")]
                run([PYTHON, "-c", script, *targets], tmp, 120)
                for sha in (evil / good.name).glob("*.sha256"):
                    sha.unlink()  # a crafted file comes without (or with a matching) record
                jobs.append(
                    (
                        "train --resume: malicious checkpoint",
                        [PYTHON, "train.py", "--epochs", "2", "--output", str(evil), "--resume"],
                    )
                )
                jobs.append(
                    ("infer: malicious best.pt", [PYTHON, "infer.py", targets[1], "--output", str(tmp / "o.csv")])
                )
        started = time.perf_counter()
        for name, argv in jobs:
            o = judge("projects", f"{backend} {name}", run(argv, project, 180), ok_codes=(1, 2))
            outcomes.append(o)
        pwned = list(tmp.glob("PWNED*"))
        if pwned:
            outcomes.append(Outcome("projects", f"{backend}: a checkpoint ran code", 0, 0.0, ["code executed"]))
        print(f"projects ({backend}): {len(jobs)} trials in {time.perf_counter() - started:.0f}s", flush=True)
    return outcomes


# ---------------------------------------------------------------------------------------------------
# Data loss
# ---------------------------------------------------------------------------------------------------


def digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def final_params(runs: Path):
    import numpy as np

    latest = runs / "LATEST"
    if not latest.exists():
        return None
    path = runs / latest.read_text().strip() / "params.npz"
    return dict(np.load(path)) if path.exists() else None


def same_params(a, b) -> bool:
    import numpy as np

    return a is not None and b is not None and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def dataloss(tmp: Path, backends: list[str], rng: random.Random, kills: int) -> list[Outcome]:
    outcomes: list[Outcome] = []

    def case(name: str, lost: bool, detail: str = "", seconds: float = 0.0) -> None:
        outcomes.append(
            Outcome("dataloss", name + (f" ({detail})" if detail else ""), 0, seconds, ["data loss"] if lost else [])
        )

    for backend in backends:
        project = make_project(tmp, backend)
        # A second run beside the first.
        first = trained_run(project, "twice")
        before = digests(first) if first else {}
        second = trained_run(project, "twice")
        after = digests(first) if first and first.exists() else {}
        case(f"{backend}: a second run keeps the first", not before or before != after or second == first)
        # Kills at random moments, then --resume, against a straight run.
        epochs = 3
        common = ["--epochs", str(epochs), "--seed", "5", "--deterministic"]
        workers = [["--workers", "0"], ["--workers", "2"]] if backend == "torch" else [[]]
        for extra in workers:
            straight = project / f"straight{len(outcomes)}"
            code, _, err, seconds = run([PYTHON, "train.py", *common, *extra, "--output", str(straight)], project, 600)
            reference = final_params(straight)
            if reference is None:
                case(f"{backend} {' '.join(extra)}: the straight run failed", True, err[-200:])
                continue
            for k in range(kills):
                folder = project / f"killed{len(outcomes)}-{k}"
                delay = rng.uniform(0.15, 0.95) * seconds
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                p = subprocess.Popen(
                    [PYTHON, "train.py", *common, *extra, "--output", str(folder)],
                    cwd=project,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, 9)
                p.wait()
                args = [PYTHON, "train.py", *common, *extra, "--output", str(folder)]
                latest = folder / (folder / "LATEST").read_text().strip() if (folder / "LATEST").exists() else None
                if latest is not None and (
                    (latest / "checkpoint.pt").exists() or any((latest / "checkpoint").glob("ckpt-*.json"))
                ):
                    args.append("--resume")
                code, _, err, _ = run(args, project, 600)
                same = same_params(reference, final_params(folder))
                case(
                    f"{backend} {' '.join(extra) or 'defaults'}: SIGKILL at {delay:.1f}s then --resume",
                    code != 0 or not same,
                    "" if same else f"exit {code}, parameters differ {err[-200:]}",
                )
        # Non-finite training keeps what was good.
        nan_runs = project / "nan-runs"
        code, _, _, _ = run(
            [PYTHON, "train.py", "--epochs", "1", "--lr", "nan", "--output", str(nan_runs)], project, 300
        )
        saved = final_params(nan_runs)
        import numpy as np

        nan_saved = saved is not None and any(not np.isfinite(v).all() for v in saved.values())
        case(f"{backend}: --lr nan", code == 0 or nan_saved, f"exit {code}")
    # Concurrent compiles into one folder.
    spec = tmp / "spec" / "digits.nnd"
    for trial in range(5):
        out = tmp / f"concurrent-{trial}"
        procs = [
            subprocess.Popen(
                nndsl("compile", str(spec), "--backend", b, "-o", str(out)),
                cwd=tmp,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for b in ("torch", "keras")
        ]
        codes = [p.wait() for p in procs]
        mixed = (
            (out / "nnc_layers.py").exists()
            and not (out / "solvers.py").exists()
            or (
                (out / "model.py").exists()
                and ("import torch" in (out / "model.py").read_text()) == (out / "solvers.py").exists()
            )
        )
        # One after the other (both exit 0) or one refused (E0903): either way one backend's files only.
        case(f"concurrent compiles #{trial}", 0 not in codes or mixed, f"exits {codes}")
    # fmt through a symlink, and on a read-only file.
    target = tmp / "fmt-target.nnd"
    target.write_text("network  N {\n x = Input(4)\n}\n")
    link = tmp / "fmt-link.nnd"
    link.symlink_to(target)
    run(nndsl("fmt", str(link)), tmp)
    case("fmt through a symlink", not link.is_symlink() or target.read_text() == "network  N {\n x = Input(4)\n}\n")
    readonly = tmp / "fmt-readonly.nnd"
    readonly.write_text("network  N {\n x = Input(4)\n}\n")
    readonly.chmod(0o444)
    code, _, _, _ = run(nndsl("fmt", str(readonly)), tmp)
    case(
        "fmt on a read-only file",
        code == 0 or readonly.read_text() != "network  N {\n x = Input(4)\n}\n",
        f"exit {code}",
    )
    return outcomes


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------

KINDS = ("traceback", "internal", "hang", "leak", "json", "code executed", "data loss")


def report(outcomes: list[Outcome]) -> None:
    groups = sorted({o.group for o in outcomes}, key=["frontend", "projects", "dataloss"].index)
    print(f"\n{'group':<10} {'inputs':>7} " + " ".join(f"{k:>10}" for k in KINDS) + f" {'other':>7} {'slowest':>9}")
    for group in [*groups, "all"]:
        mine = [o for o in outcomes if group in ("all", o.group)]
        counts = Counter(p if p in KINDS else "other" for o in mine for p in set(o.problems))
        slowest = max((o.seconds for o in mine), default=0.0)
        print(
            f"{group:<10} {len(mine):>7} "
            + " ".join(f"{counts.get(k, 0):>10}" for k in KINDS)
            + f" {counts.get('other', 0):>7} {slowest:>8.1f}s"
        )
    bad = [o for o in outcomes if o.problems]
    if bad:
        print(f"\n{len(bad)} trials with problems:")
        for o in bad[:200]:
            print(f"  [{o.group}] {o.name}: {', '.join(o.problems)} (exit {o.code}, {o.seconds:.1f}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("frontend", "projects", "dataloss"), default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mutations", type=int, default=6, help="mutations of each shipped and golden spec")
    parser.add_argument("--backends", default="torch,keras", help="generated projects to try (default: torch,keras)")
    parser.add_argument("--kills", type=int, default=3, help="kill points per backend and worker count")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="nndsl-hostile-") as tmp:
        tmp_path = Path(tmp)
        if args.only in (None, "frontend"):
            started = time.perf_counter()
            outcomes += frontend(tmp_path / "fe", rng, args.mutations)
            count = sum(o.group == "frontend" for o in outcomes)
            print(f"frontend: {count} trials in {time.perf_counter() - started:.0f}s", flush=True)
        backends = [b for b in args.backends.split(",") if b]
        if args.only in (None, "projects"):
            outcomes += projects(tmp_path / "pr", backends)
        if args.only in (None, "dataloss"):
            started = time.perf_counter()
            outcomes += dataloss(tmp_path / "pr", backends, rng, args.kills)
            count = sum(o.group == "dataloss" for o in outcomes)
            print(f"dataloss: {count} trials in {time.perf_counter() - started:.0f}s", flush=True)
    report(outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
