"""`nndsl summary`: per network, one row per layer with output shape, parameters and MACs.

Parameters count trainable values (BatchNormalization's running mean and variance are
state, as in PyTorch's `parameters()`); MACs follow torchinfo's mult-adds convention (see
docs/language.md). A network's totals count its own layers; the project's
`total_params` counts each shared parameter once.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from .ir import Layer, Network, Project
from .layers.base import fmt_shape


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    type: str
    shape: tuple[int, ...] | None
    params: int
    macs: int
    file: str
    line: int
    copies: int = 0  # > 0: a folded repeat


def rows(net: Network, folded: bool) -> list[Row]:
    out: list[Row] = []
    group: list[Layer] = []

    def flush() -> None:
        if not group:
            return
        qname, _, count = group[0].repeats[0]
        frame = next(f for f in group[0].origin.via if f.kind == "repeat")
        last = group[-1]
        out.append(
            Row(
                f"{qname}[0..{count - 1}]" if count > 1 else f"{qname}[0]",
                f"repeat x{count}",
                net.values[last.outputs[0]].shape,
                sum(layer.param_count for layer in group),
                sum(layer.macs for layer in group),
                frame.span.path,
                frame.span.line,
                count,
            )
        )
        group.clear()

    for layer in net.layers:
        if folded and layer.repeats:
            if group and group[0].repeats[0][0] != layer.repeats[0][0]:
                flush()
            group.append(layer)
            continue
        flush()
        span = layer.origin.span
        out.append(
            Row(
                layer.name,
                layer.type,
                net.values[layer.outputs[0]].shape,
                layer.param_count,
                layer.macs,
                span.path,
                span.line,
            )
        )
    flush()
    return out


def _io(net: Network, vids: tuple[int, ...]) -> list[dict]:
    return [{"name": net.values[v].name, "shape": list(net.values[v].shape or ())} for v in vids]


def _inputs(net: Network) -> list[dict]:
    """The network's inputs, each with the dataset column its Input layer reads (NNC's
    `data_variable`; null for an Input bound to none)."""
    out = _io(net, net.inputs)
    for entry, vid in zip(out, net.inputs, strict=True):
        producer = net.values[vid].producer
        column = net.layers[producer].params.get("dataset") if producer is not None else None
        entry["dataset"] = column or None
    return out


def to_json(project: Project, network: str | None = None, folded: bool = False) -> dict:
    nets = [n for n in project.networks if network is None or n.name == network]
    out = []
    for net in nets:
        layers = []
        for r in rows(net, folded):
            row = {
                "name": r.name,
                "type": r.type,
                "output_shape": list(r.shape or ()),
                "params": r.params,
                "macs": r.macs,
                "file": r.file,
                "line": r.line,
            }
            if r.copies:
                row["copies"] = r.copies
            layers.append(row)
        out.append(
            {
                "name": net.name,
                "training": net.training,
                "inputs": _inputs(net),
                "outputs": _io(net, net.outputs),
                "layers": layers,
                "total_params": net.total_params,
                "total_macs": net.total_macs,
            }
        )
    return {"networks": out, "total_params": project.total_params}


def render(project: Project, fmt: str, network: str | None = None, folded: bool = True) -> str:
    if fmt == "json":
        return json.dumps(to_json(project, network, folded), indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["network", "name", "type", "output_shape", "params", "macs", "file", "line"])
        for net in project.networks:
            if network is None or net.name == network:
                for r in rows(net, folded):
                    w.writerow([net.name, r.name, r.type, fmt_shape(r.shape or ()), r.params, r.macs, r.file, r.line])
        return buf.getvalue()
    return _text(project, network, folded)


def _text(project: Project, network: str | None, folded: bool) -> str:
    lines: list[str] = []
    for net in project.networks:
        if network is not None and net.name != network:
            continue
        table = rows(net, folded)
        role = _role(project, net.name)
        lines.append(f"network {net.name}" + (f" ({role})" if role else ""))
        ins = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape or ())}" for v in net.inputs)
        outs = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape or ())}" for v in net.outputs)
        lines.append(f"  inputs: {ins or '-'}")
        lines.append(f"  outputs: {outs or '-'}")
        header = ("name", "type", "output", "params", "MACs", "line")
        body = [
            (r.name, r.type, fmt_shape(r.shape or ()), f"{r.params:,}", f"{r.macs:,}", _where(r, project.path))
            for r in table
        ]
        total = ("total", "", "", f"{net.total_params:,}", f"{net.total_macs:,}", "")
        widths = [max(len(row[i]) for row in [header, *body, total]) for i in range(6)]
        align = "<<<>>>"

        rule = "  " + "  ".join("-" * w for w in widths)
        lines.append(_row(header, align, widths))
        lines.append(rule)
        lines.extend(_row(r, align, widths) for r in body)
        lines.append(rule)
        lines.append(_row(total, align, widths))
        lines.append("")
    if network is None:
        lines.append(f"project: {project.total_params:,} parameters (shared parameters counted once)")
    return "\n".join(lines).rstrip("\n") + "\n"


def _row(cells, align: str, widths: list[int]) -> str:
    return "  " + "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True)).rstrip()


def _where(r: Row, main: str) -> str:
    """The source line; `file:line` when the layer was written in an included file."""
    return str(r.line) if r.file == main else f"{Path(r.file).name}:{r.line}"


def _role(project: Project, name: str) -> str:
    roles = []
    cfg = project.config
    if any(o.network == name for o in cfg.optimizers):
        roles.append("trained")
    if any(m.network == name for m in cfg.monitors):
        roles.append("monitored")
    if any(e.network == name for e in cfg.executors):
        roles.append("runtime")
    return ", ".join(roles)
