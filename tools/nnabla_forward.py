"""Run every network of an `.nntxt` in nnabla, with given parameters and inputs.

Runs under a Python with nnabla (not nndsl's): the live tests and the fixture script of
`nndsl export ... -o X.nntxt` call it as a program.

    python tools/nnabla_forward.py X.nntxt IN.npz OUT.npz

`IN.npz` holds the parameters, keyed `param:<nnabla name>` (set into every network that has
them, after nnabla created them from the initializers), and the inputs, keyed
`<network>:<variable>` (every network with an input there runs, at the inputs' batch size).
`OUT.npz` gets, per network run, every output nnabla's graph has (`<network>:<variable>`) and
the names of its parameters (`params:<network>`, a string array). Nothing is unpickled.
"""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str]) -> int:
    nntxt, inputs_path, out_path = argv
    import nnabla as nn
    from nnabla.utils.nnp_graph import NnpLoader

    data = dict(np.load(inputs_path, allow_pickle=False))
    params = {k[len("param:") :]: v for k, v in data.items() if k.startswith("param:")}
    feeds: dict[str, dict[str, np.ndarray]] = {}
    for key, value in data.items():
        if not key.startswith("param:"):
            net, var = key.split(":", 1)
            feeds.setdefault(net, {})[var] = value
    nnp = NnpLoader(nntxt)
    out: dict[str, np.ndarray] = {}
    for name in nnp.get_network_names():
        if name not in feeds:
            continue
        batch = next(iter(feeds[name].values())).shape[0]
        nn.clear_parameters()
        net = nnp.get_network(name, batch_size=batch)
        names = sorted(k for k in net.variables if k in nnp.g.networks[name].parameters)
        for k in names:
            if k in params:
                net.variables[k].d = params[k].reshape(net.variables[k].shape)
        for var, v in net.inputs.items():
            if var not in feeds[name]:
                raise SystemExit(f"network {name}: no input given for '{var}'")
            v.d = feeds[name][var].reshape(v.shape)
        outputs = list(net.outputs.items())
        sink = outputs[0][1] if len(outputs) == 1 else None
        if sink is None:
            import nnabla.functions as F

            sink = F.sink(*(v for _, v in outputs))
        sink.forward(clear_no_need_grad=True)
        for var, v in outputs:
            out[f"{name}:{var}"] = np.array(v.d)
        out[f"params:{name}"] = np.array(names, dtype=str)
    np.savez(out_path, **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
