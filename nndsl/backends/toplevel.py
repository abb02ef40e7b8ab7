"""The generated top-level `Model`'s interface, the same in both backends: which network calling
the model runs, and the parameter table it reads from `parameters.json`.

`model(x)` runs the model's network (`main_network`): the first executor's network, else the
first network no optimizer trains (trained networks end in their loss), else the first network.

`parameters.json`, written beside `model.py`, is the NNC-name table of `ModelRender.params`
(NNC name -> the framework's address, layout, NNC shape, nnabla's name, nnabla's shape where it
differs): data the runtime reads with the json module (`nnc_params.read_parameter_table`),
so that model.py holds code, not a table of hundreds of entries. One row per line, in nnabla's
order, so that a change of the model shows as a diff of the rows it changes.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..ir import Project
from ..runtime.nnc_layouts import layout
from .builder import ModelRender, NetworkModel

PARAMETERS_FILE = "parameters.json"
TABLE_FORMAT = "nndsl parameter table"
TABLE_VERSION = 1

# The columns of a row, per backend: the torch model addresses a parameter by state_dict key,
# the Keras model by layer name and variable.
COLUMNS = {
    "torch": ("key", "layout", "shape", "nnabla", "nnabla_shape"),
    "keras": ("layer", "variable", "layout", "shape", "nnabla", "nnabla_shape"),
}


def main_network(project: Project) -> str:
    """The network `model(x)` runs (see the module docstring)."""
    cfg = project.config
    if cfg.executors:
        return cfg.executors[0].network
    trained = cfg.trained
    untrained = [n.name for n in project.networks if n.name not in trained]
    return (untrained or [project.networks[0].name])[0]


def main_reason(project: Project) -> str:
    """Why `main_network` chose its network, in words for the generated docs."""
    cfg = project.config
    if cfg.executors:
        return "the executor's"
    if any(n.name not in cfg.trained for n in project.networks):
        return "the first one no optimizer trains"
    return "the first"


def main_model(project: Project, m: ModelRender) -> NetworkModel:
    """The `NetworkModel` of `main_network`."""
    name = main_network(project)
    return next(n for n in m.networks if n.name == name)


def parameter_rows(m: ModelRender, backend: str) -> dict[str, list]:
    """NNC name -> the row of `COLUMNS[backend]`; nnabla's shape is null where it is NNC's."""
    rows = {}
    for p in m.params:
        layout(p.layout, backend)  # one of the runtime's closed set (ValueError otherwise): no typo reaches a project
        own = list(p.nnabla_shape) if tuple(p.nnabla_shape) != tuple(p.shape) else None
        if backend == "keras":
            layer, _, variable = p.attr.rpartition("/")
            address = [layer, variable]
        else:
            address = [p.attr]
        rows[p.nnc] = [*address, p.layout, list(p.shape), p.nnabla, own]
    return rows


def parameters_json(m: ModelRender, backend: str) -> str:
    """The text of `parameters.json`: a header, then one parameter per line."""
    head = {
        "format": TABLE_FORMAT,
        "version": TABLE_VERSION,
        "spec": Path(m.spec).name,
        "columns": list(COLUMNS[backend]),
    }
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    rows = parameter_rows(m, backend)
    if not rows:
        return "\n".join([*lines, '  "parameters": {}', "}"]) + "\n"
    body = [f"    {json.dumps(name)}: {json.dumps(row)}" for name, row in rows.items()]
    return "\n".join([*lines, '  "parameters": {', ",\n".join(body), "  }", "}"]) + "\n"
