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
        try:
            out.update(run(nnp, name, feeds[name], params))
        except Exception as e:  # one network's failure is reported; the others still run
            out[f"error:{name}"] = np.array(f"{type(e).__name__}: {e}")
    np.savez(out_path, **out)
    return 0


def run(nnp, name: str, feeds: dict[str, np.ndarray], params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import nnabla as nn
    import nnabla.functions as F

    batch = next(iter(feeds.values())).shape[0]
    nn.clear_parameters()
    net = nnp.get_network(name, batch_size=batch)
    names = sorted(k for k in net.variables if k in nnp.g.networks[name].parameters)
    for k in names:
        if k in params:
            net.variables[k].d = params[k].reshape(net.variables[k].shape)
    proto_variables = nnp.g.networks[name].variables
    for var, v in net.inputs.items():
        if var not in feeds:
            if getattr(proto_variables.get(var), "initializer", None) is not None:
                continue  # a WorkingMemory's buffer: nnabla filled it from its initializer
            raise ValueError(f"no input given for '{var}'")
        v.d = feeds[var].reshape(v.shape)
    outputs = list(net.outputs.items())
    if not outputs:
        raise ValueError("the network has no outputs")
    sink = outputs[0][1] if len(outputs) == 1 else F.sink(*(v for _, v in outputs))
    sink.forward(clear_no_need_grad=True)
    out = {f"{name}:{var}": np.array(v.d) for var, v in outputs}
    out[f"params:{name}"] = np.array(names, dtype=str)
    return out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
