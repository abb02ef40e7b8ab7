"""Run every network of an NNC `.nntxt` in nnabla, with given parameters and inputs.

Runs under the Python that has nnabla 1.39 (Python 3.10; nndsl itself is not imported):

    /work/nnabla-venv/bin/python tools/nnc_nnabla_run.py X.nntxt --params P.npz --inputs I.npz \
        --out O.npz [--batch 2] [--networks Training,Runtime]

- `--params`: a `.npz` of parameters by nnabla's names in nnabla's shapes; every parameter
  the networks create must be there (the run fails otherwise, so a name that differs is seen).
- `--inputs`: a `.npz` with `NETWORK/VARIABLE` keys (nnabla's variable names).
- `--out`: `NETWORK/VARIABLE` for every output of every network run, and `parameters.json`
  beside it: every parameter nnabla created (name -> shape), after its repeat expansion.
A network whose inputs are not all in `--inputs` is only built (its parameters listed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("nntxt")
    ap.add_argument("--params")
    ap.add_argument("--inputs")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--networks", default="")
    args = ap.parse_args(argv)

    import nnabla as nn
    import numpy as np
    from nnabla.utils.nnp_graph import NnpLoader

    params = dict(np.load(args.params, allow_pickle=False)) if args.params else {}
    inputs = dict(np.load(args.inputs, allow_pickle=False)) if args.inputs else {}
    loader = NnpLoader(args.nntxt)
    wanted = [n for n in args.networks.split(",") if n] or loader.get_network_names()
    outputs: dict[str, np.ndarray] = {}
    created: dict[str, list[int]] = {}
    missing: set[str] = set()
    for name in wanted:
        nn.clear_parameters()
        net = loader.get_network(name, batch_size=args.batch)
        for pname, var in nn.get_parameters(grad_only=False).items():
            created[pname] = list(var.shape)
            if params:
                if pname not in params:
                    missing.add(pname)
                    continue
                if tuple(params[pname].shape) != tuple(var.shape):
                    print(f"{pname}: nnabla's shape {var.shape}, given {params[pname].shape}", file=sys.stderr)
                    return 1
                var.d = params[pname]
        keys = {v: f"{name}/{v}" for v in net.inputs}
        if not all(k in inputs for k in keys.values()):
            continue
        for v, var in net.inputs.items():
            var.d = inputs[keys[v]]
        for v, var in net.outputs.items():
            var.forward(clear_buffer=False)
            outputs[f"{name}/{v}"] = np.array(var.d)
    if missing:
        print("parameters not given: " + ", ".join(sorted(missing)), file=sys.stderr)
        return 1
    np.savez(args.out, **outputs)
    with open(os.path.splitext(args.out)[0] + ".parameters.json", "w", encoding="utf-8") as f:
        json.dump(dict(sorted(created.items())), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
