"""The front end against hostile input: deep nesting, long runs, many errors, exponential
units, many derived networks, long chains, models too large for memory.

    python benchmarks/frontend_limits.py [--quick] [--full]

Each input is generated at two or three sizes and run through the real `nndsl` command
(a new process, as a user runs it: start-up included). One line per size: the command,
its exit code, the wall time, and the time of the front end in this process
(`compile_file`, with the torch backend's code generation for compile) and of
`nndsl fmt` (parse and print back, where the file parses); for each size after the first, the
ratio of front-end times against the ratio of sizes (linear: about equal). The last lines
count runs, tracebacks, internal errors (exit 3) and hangs (past 120 s): all must be zero.
Targets from issue 9 are printed beside their rows. The exit status is 0 whether or not
the targets are met (this is a measurement, not a test; tests/hostile/ holds the tests).

`--quick` runs the smallest sizes only; `--full` adds 30,000 chained Add2 (about 10 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.compiler import compile_file  # noqa: E402
from nndsl.fmt import format_module  # noqa: E402
from nndsl.syntax.parser import parse  # noqa: E402

HANG_S = 120


def network(name: str, body: str) -> str:
    return f'network {name} {{\n    x = Input(4, dataset="x")\n{body}\n}}\n'


def expr(e: str) -> str:
    return network("Main", f"    y = x -> MulScalar({e})")


def sum_terms(n: int) -> str:
    return expr(" + ".join(["1"] * n))


def unary_minus(n: int) -> str:
    return expr("-" * n + "1")


def lists(n: int) -> str:
    return expr("[" * n + "1" + "]" * n)


def parens(n: int) -> str:
    return expr("(" * n + "1" + ")" * n)


def nested_ifs(n: int) -> str:
    return network("Main", "    " + "if true { " * n + "y = x -> ReLU" + " }" * n)


def else_ifs(n: int) -> str:
    branches = "".join(f" else if {i} == 0 {{\n        y = x -> ReLU\n    }}" for i in range(1, n + 1))
    return network(
        "Main", "    if false {\n        y = x -> ReLU\n    }" + branches + " else {\n        y = x -> Tanh\n    }"
    )


def nested_repeats(n: int) -> str:
    return network("Main", "    y = x -> " + "repeat 1 { " * n + "ReLU" + " }" * n)


def bad_lines(n: int) -> str:
    return "".join(f"network N{i} {{ x = = }}\n" for i in range(n))


def unit_tree(levels: int) -> str:
    """Each unit calls the one below twice: 2^levels layers."""
    text = "unit U0 {\n    in x\n    out x -> ReLU\n}\n"
    for k in range(1, levels + 1):
        text += f"unit U{k} {{\n    in x\n    out x -> a: U{k - 1} -> b: U{k - 1}\n}}\n"
    return text + network("Main", f"    y = x -> U{levels}")


def unit_tower(units: int) -> str:
    """Units each calling the next inside two if blocks: deeper than the expansion limit."""
    text = f"unit U{units} {{\n    in x\n    out x -> ReLU\n}}\n"
    for k in range(units - 1, -1, -1):
        text += f"unit U{k} {{\n    in x\n" + "if true {\n" * 2 + f"out x -> U{k + 1}\n" + "}\n" * 2 + "}\n"
    return text + network("Main", "    y = x -> U0")


def derived(n: int) -> str:
    chain = "".join(" -> Affine(2) -> ReLU" for _ in range(20))
    text = network("Main", f"    y = x -> Affine(2) -> ReLU -> m: MulScalar(2.0){chain}")
    return text + "".join(f"network D{i} = Main with {{ m.value = {i + 1}.5 }}\n" for i in range(n))


def chained_add2(n: int) -> str:
    """Each Add2 of the two before it: n values, each with its own variable."""
    return network(
        "Main", "    h0 = x\n    h1 = x -> ReLU\n" + "".join(f"    h{i + 2} = Add2(h{i + 1}, h{i})\n" for i in range(n))
    )


def huge_model(_: int) -> str:
    return network("Main", "    y = x -> Affine(1000000000000) -> Affine(1000000000000)")


def derived_cycle(n: int) -> str:
    text = network("Main", "    y = x -> m: MulScalar(2.0)")
    return text + "".join(f"network D{i} = D{(i + 1) % n} with {{ m.value = 1.0 }}\n" for i in range(n))


# (name, generator, sizes, quick sizes, command, target)
CASES: list[tuple[str, Callable[[int], str], tuple[int, ...], tuple[int, ...], str, str]] = [
    ("sum of N terms", sum_terms, (985, 4_000, 16_000), (985,), "lint", "any N, exit 0"),
    ("unary minus N deep", unary_minus, (984, 4_000), (984,), "lint", "E0210"),
    ("lists N deep", lists, (493, 4_000), (493,), "lint", "E0210"),
    ("parentheses N deep", parens, (1_000, 8_000), (1_000,), "lint", "any N, exit 0"),
    ("if N deep", nested_ifs, (492, 4_000), (492,), "lint", "E0210"),
    ("N else-if branches", else_ifs, (495, 2_000, 8_000), (495,), "lint", "any N, exit 0"),
    ("repeats N deep (lint)", nested_repeats, (492, 4_000), (492,), "lint", "E0210"),
    ("repeats N deep (compile)", nested_repeats, (247, 4_000), (247,), "torch", "E0210"),
    ("units N deep in ifs", unit_tower, (60, 120), (60,), "lint", "E0211"),
    ("N bad lines", bad_lines, (1_000, 2_000, 4_000), (1_000,), "lint", "4,000 under 1 s"),
    ("unit tree N levels", unit_tree, (20, 30, 60), (20,), "lint", "refused under 1 s"),
    ("N derived networks", derived, (200, 400, 800), (200,), "lint", "linear"),
    ("N chained Add2", chained_add2, (2_500, 5_000, 10_000), (2_500,), "torch", "linear"),
    ("10^24 parameters", huge_model, (1,), (1,), "lint", "E0410"),
    ("derived cycle of N", derived_cycle, (2, 50), (2,), "lint", "E0212"),
]

COMMANDS = {
    "lint": ["lint"],
    "torch": ["compile", "--backend", "torch", "-o", "{out}", "--force"],
}


def nndsl() -> list[str]:
    return [sys.executable, "-m", "nndsl"]


def front_end(path: Path, command: str) -> float:
    start = time.perf_counter()
    result = compile_file(path, lint=command == "lint")
    if command == "torch" and result.ok:  # and the model's code, where names are chosen
        from nndsl.backends.torch import project_files

        project_files(result.project, path.parent / "out")
    return time.perf_counter() - start


def formatting(path: Path) -> float | None:
    """`nndsl fmt`'s work: parse and print back (None: the file does not parse clean)."""
    start = time.perf_counter()
    module, diags = parse(path.read_text(encoding="utf-8"), str(path))
    if diags:
        return None
    format_module(module)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the smallest sizes only")
    ap.add_argument("--full", action="store_true", help="also 30,000 chained Add2")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    runs = tracebacks = internal = hangs = 0
    columns = ("input", "size", "command", "exit", "wall", "front end", "fmt", "ratio", "target")
    header = "{:<26} {:>7}  {:<7} {:<12} {:>8} {:>10} {:>7}  {:<22} {}".format(*columns)
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, sizes, quick, command, target in CASES:
            sizes = quick if args.quick else sizes
            if args.full and make is chained_add2:
                sizes = (*sizes, 30_000)
            previous = None
            for size in sizes:
                path = Path(tmp) / f"{make.__name__}_{size}.nnd"
                path.write_text(make(size), encoding="utf-8")
                argv = [a.format(out=Path(tmp) / "out") for a in COMMANDS[command]]
                start = time.perf_counter()
                try:
                    r = subprocess.run(
                        [*nndsl(), *argv, str(path)], capture_output=True, text=True, timeout=HANG_S, env=env
                    )
                    code, output = r.returncode, r.stdout + r.stderr
                except subprocess.TimeoutExpired:
                    code, output = "hang", ""
                    hangs += 1
                wall = time.perf_counter() - start
                runs += 1
                tracebacks += "Traceback" in output
                internal += code == 3
                inner = front_end(path, command) if code != "hang" else float("nan")
                fmt = formatting(path)
                ratio = ""
                if previous is not None:
                    ratio = f"x{inner / previous[1]:.1f} for x{size / previous[0]:.1f}"
                codes = sorted({line.split("[")[1][:5] for line in output.splitlines() if "error[" in line})
                shown = f"{code}" + (f" {','.join(codes[:2])}" if codes else "")
                fmt_shown = "-" if fmt is None else f"{fmt:.3f}s"
                row = f"{name:<26} {size:>7,}  {command:<7} {shown:<12} {wall:>7.2f}s {inner:>9.3f}s {fmt_shown:>7}"
                print(f"{row}  {ratio:<22} " + (target if previous is None else ""))
                previous = (size, inner)
    print()
    print(f"runs {runs}, tracebacks {tracebacks}, internal errors {internal}, hangs {hangs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
