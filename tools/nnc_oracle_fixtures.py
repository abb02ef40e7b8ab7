"""Regenerate tests/nnc/fixtures/oracle/: what nnabla computes for every network of every NNC sample.

Run it with nnabla's Python (nnabla 1.39 needs Python 3.10; see tests/nnc/samples/README.md and
NNC's tools README for the venv) and NNC's project tool:

    /work/nnabla-venv/bin/python tools/nnc_oracle_fixtures.py \
        --nnc-tool /work/shared/nnc-tools/nncd_console [STEM ...]

For each `tests/nnc/samples/<STEM>.sdcproj` (all of them by default): NNC's `create_prototxt`
converts it to an `.nntxt`; nnabla's `NnpLoader` builds every network at batch size 2; every
parameter gets the value `tests/nnc/nnabla_oracle.py` gives it (seeded from its name, drawn from
its initializer as the `.nntxt` gives it) and every input a seeded array; each network runs
twice. A network whose random layers (Dropout, ImageAugmentation, RandomShift, ...) made the
two runs differ is marked random: only that it runs is kept. For the others nnabla's outputs
go to `<STEM>/outputs.npz` (float32, keyed `<network>/<variable>`); `<STEM>/meta.json` keeps the
networks (inputs with their kind, dataset column and digest; outputs with shape and scale; the
function types; whether nnabla used batch statistics) and every parameter (nnabla name, shape,
initializer, multiplier, digest). No weights are stored: the test rebuilds them.

A recurrent sample (RecurrentInput/Delay: nndsl cannot express it) is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "nnc"))

import nnabla_oracle as oracle  # noqa: E402

RANDOM_FUNCTIONS = frozenset(
    {
        "Dropout",
        "ImageAugmentation",
        "RandomShift",
        "RandomFlip",
        "RandomCrop",
        "RandomErase",
        "Rand",
        "Randn",
        "Randint",
        "RandomChoice",
        "VATNoise",
    }
)
RECURRENT_FUNCTIONS = frozenset({"RecurrentInput", "RecurrentOutput", "Delay"})
LABEL_AXIS_PARAM = {
    "CategoricalCrossEntropy": "categorical_cross_entropy_param",
    "SoftmaxCrossEntropy": "softmax_cross_entropy_param",
    "TopNError": "top_n_error_param",
}


def create_prototxt(tool: Path, sdcproj: Path, work: Path) -> Path:
    """NNC's own conversion of the project to nnabla's network file."""
    nntxt = work / (sdcproj.stem + ".nntxt")
    command = [
        "./nncd_console_cli_util",
        "create_prototxt",
        "-i",
        str(sdcproj.resolve()),
        "-o",
        str(nntxt),
        "-p",
        str(work / (sdcproj.stem + "_params.csv")),
    ]
    done = subprocess.run(command, cwd=tool, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not nntxt.is_file():
        raise SystemExit(f"create_prototxt failed on {sdcproj}:\n{done.stdout}\n{done.stderr}")
    return nntxt


def read_proto(nntxt: Path):
    from google.protobuf import text_format
    from nnabla.utils import nnabla_pb2

    proto = nnabla_pb2.NNablaProtoBuf()
    text_format.Merge(nntxt.read_text(encoding="utf-8"), proto)
    return proto


def _pattern(name: str) -> str:
    """A parameter name with repeat marks made uniform: `conv{RepeatStart}` and `conv[2]` both `conv[]`."""
    return re.sub(r"\{[^}]*\}|\[\d+\]", "[]", name)


def initializers(proto) -> dict[str, tuple[str, float]]:
    """Raw parameter name pattern -> (initializer type, multiplier), over every network."""
    found: dict[str, tuple[str, float]] = {}
    for network in proto.network:
        for v in network.variable:
            if v.type == "Parameter":
                found.setdefault(_pattern(v.name), (v.initializer.type, float(v.initializer.multiplier)))
    return found


def data_columns(proto) -> dict[str, dict[str, str]]:
    """Network name -> {input variable: dataset column}, from optimizers, monitors and executors."""
    columns: dict[str, dict[str, str]] = {}
    for item in (*proto.optimizer, *proto.monitor, *proto.executor):
        for dv in item.data_variable:
            columns.setdefault(item.network_name, {}).setdefault(dv.variable_name, dv.data_name)
    return columns


def input_kind(pn, net, name: str) -> tuple[str, int]:
    """('label', classes), ('binary', 0) or ('data', 0), from the functions that read `name`."""
    for f in pn.functions.values():
        if name not in f.inputs[1:]:
            continue
        if f.type in LABEL_AXIS_PARAM:
            x = net.variables[f.inputs[0]]
            param = getattr(f.proto, LABEL_AXIS_PARAM[f.type])
            axis = param.axis  # NNC's create_prototxt always writes it
            return "label", int(x.shape[axis])
        if f.type in oracle.BINARY_TARGET_FUNCTIONS:
            return "binary", 0
    return "data", 0


def run_sample(tool: Path, stem: str, out_root: Path) -> dict:
    import nnabla as nn
    from nnabla.utils.nnp_graph import NnpLoader

    sdcproj = oracle.SAMPLES / f"{stem}.sdcproj"
    with tempfile.TemporaryDirectory() as tmp:
        nntxt = create_prototxt(tool, sdcproj, Path(tmp))
        proto = read_proto(nntxt)
        types = {f.type for network in proto.network for f in network.function}
        if types & RECURRENT_FUNCTIONS:
            return {"stem": stem, "skipped": f"recurrent ({', '.join(sorted(types & RECURRENT_FUNCTIONS))})"}
        inits = initializers(proto)
        columns = data_columns(proto)
        nn.clear_parameters()
        loader = NnpLoader(str(nntxt))
        networks, outputs, parameters = [], {}, {}
        for name in loader.get_network_names():
            started = time.perf_counter()
            net = loader.get_network(name, batch_size=oracle.BATCH_SIZE)
            pn = net.proto_network
            for pname in pn.parameters:
                var = net.variables[pname]
                if pname not in parameters:
                    kind, multiplier = inits[_pattern(pname)]
                    value = oracle.oracle_parameter(pname, tuple(var.shape), kind, multiplier)
                    parameters[pname] = {
                        "name": pname,
                        "shape": list(var.shape),
                        "initializer": kind,
                        "multiplier": multiplier,
                        "digest": oracle.digest(value),
                        "_value": value,
                    }
                var.d = parameters[pname]["_value"]
            inputs = []
            for iname, var in net.inputs.items():
                kind, classes = input_kind(pn, net, iname)
                # Variables that read one dataset column (an autoencoder's input and its loss target)
                # get one array, as the dataset gives them.
                column = columns.get(name, {}).get(iname)
                seed = f"{stem}/{name}/column {column}" if column else f"{stem}/{name}/{iname}"
                value = oracle.oracle_input(seed, tuple(var.shape), kind, classes)
                var.d = value
                entry = {"name": iname, "shape": list(var.shape), "kind": kind, "seed": seed}
                if kind == "label":
                    entry["classes"] = classes
                entry["dataset"] = column
                entry["digest"] = oracle.digest(value)
                inputs.append(entry)
            function_types = Counter(f.type for f in pn.functions.values())
            random_outputs = [o for f in pn.functions.values() if f.type in RANDOM_FUNCTIONS for o in f.outputs]
            watched = {**{o: net.variables[o] for o in random_outputs}, **net.outputs}
            runs = []
            for _ in range(2):
                nn.forward_all(list(net.outputs.values()), clear_no_need_grad=False)
                runs.append({k: np.array(v.d, dtype=np.float32) for k, v in watched.items()})
            random = any(not np.array_equal(runs[0][k], runs[1][k]) for k in watched)
            batch_stat = any(
                f.type == "BatchNormalization" and f.proto.batch_normalization_param.batch_stat
                for f in pn.functions.values()
            )
            entry_outputs = []
            for oname in net.outputs:
                value = runs[0][oname]
                if not np.all(np.isfinite(value)):
                    raise SystemExit(f"{stem}/{name}/{oname}: nnabla's output is not finite")
                entry_outputs.append({"name": oname, "shape": list(value.shape), "scale": float(np.max(np.abs(value)))})
                if not random:
                    outputs[f"{name}/{oname}"] = value
            networks.append(
                {
                    "name": name,
                    "inputs": inputs,
                    "outputs": entry_outputs,
                    "random": random,
                    "random_functions": sorted({f.type for f in pn.functions.values() if f.type in RANDOM_FUNCTIONS}),
                    "batch_stat": batch_stat,
                    "parameters": sorted(pn.parameters),
                    "functions": dict(sorted(function_types.items())),
                    "nnabla_seconds": round(time.perf_counter() - started, 3),
                }
            )
        meta = {
            "stem": stem,
            "source": f"tests/nnc/samples/{stem}.sdcproj",
            "made_by": f"tools/nnc_oracle_fixtures.py (NNC create_prototxt, then nnabla {nn.__version__})",
            "batch_size": oracle.BATCH_SIZE,
            "networks": networks,
            "parameters": [{k: v for k, v in p.items() if k != "_value"} for p in parameters.values()],
        }
    folder = out_root / stem
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "meta.json", lambda f: f.write((json.dumps(meta, indent=1) + "\n").encode()))
    _write_atomic(folder / "outputs.npz", lambda f: np.savez_compressed(f, **outputs))
    return {"stem": stem, "networks": len(networks), "random": sum(n["random"] for n in networks)}


def _write_atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nnc-tool", type=Path, required=True, help="folder of nncd_console_cli_util")
    parser.add_argument("--out", type=Path, default=oracle.FIXTURES, help="fixture root (default: %(default)s)")
    parser.add_argument("stems", nargs="*", help="sample stems (default: every .sdcproj in tests/nnc/samples)")
    args = parser.parse_args(argv)
    stems = args.stems or sorted(p.stem for p in oracle.SAMPLES.glob("*.sdcproj"))
    for stem in stems:
        started = time.perf_counter()
        result = run_sample(args.nnc_tool.resolve(), stem, args.out)
        print(json.dumps({**result, "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
