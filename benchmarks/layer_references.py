"""Every registered layer type against nnabla, in both backends: the per-layer reference table.

    python benchmarks/layer_references.py [--markdown]

The layer zoo (tests/nnc/fixtures/nntxt_export/specs/all_layers.nnd: one network per NNC layer
type of the registry, each layer at its defaults on small inputs) and the hand-written cases with
non-default parameters (misc_layers.nnd, bn.nnd) were run by nnabla 1.39 on deterministic
parameters and inputs; their outputs are stored beside the specs (tools/nnc_nntxt_export_fixtures.py).
This compiles each to a PyTorch and a Keras project, loads the same parameters through the
NNC-named `.npz`, feeds the same inputs and prints, per network, the worst difference of each
backend from nnabla and of the two backends from each other, relative to the output's scale
(`max |a - b| / max(1, max |nnabla|)`), then a summary. Networks with active random layers are
not compared (they are shape-checked by the tests). A measurement, not a test: exit status 0.
The tests that hold these figures under their tolerances (1e-4 of the scale) are
tests/nnc/test_nntxt_export.py and tests/keras/test_keras_layer_zoo.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "nnc"))

import nntxt_export_cases as C  # noqa: E402
import numpy as np  # noqa: E402

from nndsl.compiler import compile_file  # noqa: E402


def _keras_zoo_module():
    """tests/keras/test_keras_layer_zoo.py (its folder's name is the framework's, so by path)."""
    path = ROOT / "tests" / "keras" / "test_keras_layer_zoo.py"
    spec = importlib.util.spec_from_file_location("keras_layer_zoo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ZOO = _keras_zoo_module()
CASES = {"hand_all_layers": "all_layers.nnd", "hand_misc_layers": "misc_layers.nnd", "hand_bn": "bn.nnd"}


def relative(reference: np.ndarray, value: np.ndarray) -> float:
    diff, scale = C.max_difference(reference, value)
    return diff / scale


def compare(case: str, spec: str, work: Path) -> list[tuple[str, str, float, float, float]]:
    """(case, network: variable, torch vs nnabla, Keras vs nnabla, torch vs Keras) per compared output."""
    path = C.HAND / spec
    whole = compile_file(path).project
    if case == "hand_all_layers":
        parts, _ = C.all_layers_parts()
        torch_project = compile_file(path, text=C.all_layers_spec(set(C.torch_types(parts)))).project
        keras_project = compile_file(path, text=C.all_layers_spec(set(ZOO.keras_types(parts)))).project
    else:
        torch_project = keras_project = whole
    nnabla = dict(np.load(C.FIXTURES / f"{case}.npz", allow_pickle=False))
    names = [n.name for n in whole.networks if C.deterministic(n) and n.name in C.networks_run(case, whole)]
    params, _ = C.parameters(whole)
    feeds = {n: C.inputs(whole.network(n), 2) for n in names}
    torch_names = [n for n in names if torch_project.network(n) is not None]
    keras_names = [n for n in names if keras_project.network(n) is not None]
    got_torch = C.torch_outputs(torch_project, work / f"{case}.torch", params, feeds, torch_names)
    if case == "hand_all_layers":  # no network of the zoo is trained: one project runs them all
        got_keras = ZOO.keras_outputs(keras_project, work / f"{case}.keras", params, {n: feeds[n] for n in keras_names})
    else:  # the parameters loaded before each network, as for torch (training moves BN's statistics)
        got_keras = {}
        for n in keras_names:
            got_keras |= ZOO.keras_outputs(keras_project, work / f"{case}.keras.{n}", params, {n: feeds[n]})
    rows = []
    for net in names:
        for var in sorted(set(got_torch.get(net, {})) | set(got_keras.get(net, {}))):
            key = f"{net}:{var}"
            if f"{case}:{key}" in C.NNABLA_NOT_MEANINGFUL:
                continue
            t, k = got_torch.get(net, {}).get(var), got_keras.get(net, {}).get(var)
            rows.append(
                (
                    case,
                    key,
                    relative(nnabla[key], t) if t is not None else float("nan"),
                    relative(nnabla[key], k) if k is not None else float("nan"),
                    relative(t, k) if t is not None and k is not None else float("nan"),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for case, spec in CASES.items() for row in compare(case, spec, Path(tmp))]
    if args.markdown:
        print("| case | output | torch vs nnabla | Keras vs nnabla | torch vs Keras |")
        print("|---|---|---|---|---|")
        for case, key, t, k, tk in rows:
            print(f"| {case} | {key} | {t:.2g} | {k:.2g} | {tk:.2g} |")
    else:
        width = max(len(r[1]) for r in rows)
        print(f"{'case':<18} {'output':<{width}}  torch      Keras      torch-Keras")
        for case, key, t, k, tk in rows:
            print(f"{case:<18} {key:<{width}}  {t:<9.2g}  {k:<9.2g}  {tk:.2g}")
    for column, label in ((2, "torch vs nnabla"), (3, "Keras vs nnabla"), (4, "torch vs Keras")):
        values = np.array([r[column] for r in rows], dtype=np.float64)
        ran = values[~np.isnan(values)]
        worst = max(range(len(rows)), key=lambda i: -1 if np.isnan(values[i]) else values[i])
        print(
            f"{label}: {ran.size} outputs, {int((ran == 0).sum())} exactly equal, "
            f"worst {ran.max():.2g} ({rows[worst][0]} {rows[worst][1]})"
        )


if __name__ == "__main__":
    main()
