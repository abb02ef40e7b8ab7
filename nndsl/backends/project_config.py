"""`config.json`: the spec's training configuration for generated projects, backend-neutral.

The generated training and inference scripts read it (their command-line options default
to its values), so both backends interpret the same data: roles, solvers, schedules,
datasets and which dataset column feeds which network input.

Schema (version 1):
    spec                 the spec's file name
    max_epoch, batch_size, save_best, monitor_interval
    datasets             {name: {"path": relative to the project, "shuffle", "cache",
                          "image_normalization"}}
    networks             {name: {"training": bool, "inputs": [{"name", "column", "shape"[, "classes"]}],
                          "outputs": [{"name", "shape", "kind"}]}}   kind: loss | error | output
    optimizers           [{"name", "network", "dataset", "solver": {"type", "params"},
                          "schedule": {"type", "params", "warmup"}, "update_interval"}]
    monitors             [{"name", "network", "dataset"}]
    executors            [{"name", "network", "dataset", "num_evaluations", "evaluation"}]
Durations are [value, "epoch" | "iteration"]. An input's "classes" is the number of classes when
it is the label of a categorical loss or error (SoftmaxCrossEntropy, CategoricalCrossEntropy,
TopNError): its values must be class indices 0 .. classes - 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..ir import Network, Project
from ..layers import REGISTRY
from ..passes.check_roles import value_kind

VERSION = 1


def _kind(net: Network, vid: int) -> str:
    kind = value_kind(net, vid)  # a weighted sum of losses is a loss
    return kind if kind in ("loss", "error") else "output"


def _classes(net: Network, vid: int) -> int | None:
    """The number of classes of the categorical layers that read value `vid` as their label."""
    counts = []
    for layer in net.layers:
        if REGISTRY[layer.type].class_label and len(layer.inputs) == 2 and layer.inputs[1] == vid:
            x = net.values[layer.inputs[0]].shape or ()
            axis = layer.params.get("axis")
            if x:
                counts.append(x[(len(x) - 1 if axis is None else int(axis)) % len(x)])
    return min(counts) if counts else None


def _duration(v):
    return list(v) if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], str) else v


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple) and v and isinstance(v[0], tuple):
            out[k] = [_duration(x) for x in v]
        else:
            out[k] = _duration(v) if isinstance(v, tuple) else v
    return out


def project_config(project: Project, out_dir: str | Path) -> dict:
    out_dir = Path(out_dir).resolve()
    cfg = project.config
    networks = {}
    for net in project.networks:
        inputs = []
        for vid in net.inputs:
            layer = net.layers[net.values[vid].producer]
            inputs.append({"name": net.values[vid].name, "column": layer.params.get("dataset") or net.values[vid].name,
                           "shape": list(net.values[vid].shape)})  # fmt: skip
            classes = _classes(net, vid)
            if classes is not None:
                inputs[-1]["classes"] = classes
        outputs = [
            {"name": net.values[v].name, "shape": list(net.values[v].shape), "kind": _kind(net, v)} for v in net.outputs
        ]
        networks[net.name] = {"training": net.training, "inputs": inputs, "outputs": outputs}
    return {
        "version": VERSION,
        "spec": Path(project.path).name,
        "max_epoch": cfg.max_epoch,
        "batch_size": cfg.batch_size,
        "save_best": cfg.save_best,
        "monitor_interval": cfg.monitor_interval,
        "precision": cfg.precision,
        "datasets": {
            d.name: {"path": os.path.relpath(Path(d.path).resolve(), out_dir), **d.settings} for d in project.datasets
        },
        "networks": networks,
        "optimizers": [
            {
                "name": o.name,
                "network": o.network,
                "dataset": o.dataset,
                "solver": {"type": o.solver.type, "params": _jsonable(o.solver.params)},
                "schedule": {
                    "type": o.schedule.type,
                    "params": _jsonable(o.schedule.params),
                    "warmup": _duration(o.schedule.warmup) if o.schedule.warmup else None,
                },
                "update_interval": o.update_interval,
                "start": _duration(o.start) if o.start else None,
                "end": _duration(o.end) if o.end else None,
            }
            for o in cfg.optimizers
        ],
        "monitors": [{"name": m.name, "network": m.network, "dataset": m.dataset} for m in cfg.monitors],
        "executors": [
            {
                "name": e.name,
                "network": e.network,
                "dataset": e.dataset,
                "num_evaluations": e.num_evaluations,
                "evaluation": e.evaluation,
                "back_propagation": e.back_propagation,
            }
            for e in cfg.executors
        ],  # fmt: skip
    }


def config_text(project: Project, out_dir: str | Path) -> str:
    return json.dumps(project_config(project, out_dir), indent=2) + "\n"


def write_project_config(project: Project, out_dir: str | Path) -> Path:
    path = Path(out_dir) / "config.json"
    path.write_text(config_text(project, out_dir), encoding="utf-8")
    return path
