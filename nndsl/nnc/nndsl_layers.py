"""nndsl's own layers and options as NNC layers, for both exporters (`.sdcproj` and `.nntxt`).

NNC has no adaptive pooling and no ceil_mode. A layer using them is written as the NNC layer that
computes the same outputs where there is one, and refused (with the layer's position) otherwise:

- AdaptiveAveragePooling / AdaptiveMaxPooling whose output size divides every input size: NNC's
  AveragePooling / MaxPooling with kernel = stride = n / o (the adaptive windows are then exactly
  those windows); other sizes make windows of different sizes, which no NNC layer has;
- MaxPooling / AveragePooling with ceil_mode=true: as it is (ignore_border) where the ceil rule
  gives the floor rule's sizes; a MaxPooling also as ignore_border=false where nnabla's windows
  are the ceil rule's (both clip the last windows at the right border, which a maximum ignores:
  GoogLeNet's 3x3, stride 2 pools); refused otherwise.
"""

from __future__ import annotations

import dataclasses
import math

from ..ir import Layer, Project
from ..layers.base import fmt_shape
from ..layers.pooling import framework_pooled_size
from ..runtime.nnc_shapes import pooled_size


class NotNnc(Exception):
    """The layer has no NNC equivalent; the message says why (the exporter adds the position)."""


def nnc_layer(layer: Layer, shape: tuple[int, ...]) -> Layer:
    """`layer` (whose input has the per-sample `shape`) as a layer NNC has; `layer` itself where it is one."""
    p = layer.params
    if layer.type in ("AdaptiveAveragePooling", "AdaptiveMaxPooling"):
        size = tuple(p["size"])
        if any(n % o for n, o in zip(shape[1:], size, strict=True)):
            raise NotNnc(
                f"{layer.type} '{layer.name}' pools {fmt_shape(shape[1:])} to {fmt_shape(size)}: windows of "
                "different sizes, which NNC's pooling layers cannot make (NNC has no adaptive pooling; it is "
                "exported as NNC's pooling only where every output size divides its input size)"
            )
        kernel = tuple(n // o for n, o in zip(shape[1:], size, strict=True))
        params = {"kernel": kernel, "stride": kernel, "ignore_border": True, "pad": (0,) * len(kernel)}
        if layer.type == "AdaptiveAveragePooling":
            return dataclasses.replace(layer, type="AveragePooling", params={**params, "including_pad": True})
        return dataclasses.replace(layer, type="MaxPooling", params=params)
    if layer.type in ("MaxPooling", "AveragePooling") and p.get("ceil_mode"):
        axes = tuple(zip(shape[1:], p["kernel"], p["stride"], p["pad"], strict=True))
        ceil = tuple(framework_pooled_size(*a) for a in axes)
        plain = {k: v for k, v in p.items() if k != "ceil_mode"}
        if ceil == tuple(pooled_size(*a, True) for a in axes):
            return dataclasses.replace(layer, params=plain)
        if layer.type == "MaxPooling" and ceil == tuple(pooled_size(*a, False) for a in axes):
            return dataclasses.replace(layer, params={**plain, "ignore_border": False})
        raise NotNnc(
            f"{layer.type} '{layer.name}' with ceil_mode=true gives {fmt_shape(ceil)} windows on "
            f"{fmt_shape(shape[1:])}, which neither of nnabla's rules (ignore_border true or false) gives: "
            "NNC has no ceil_mode"
        )
    return layer


def nnc_project(project: Project) -> tuple[Project, list[tuple[Layer, str]]]:
    """The project with every layer as `nnc_layer` writes it, and the layers that have no NNC
    equivalent with the reason of each (left as they are)."""
    problems: list[tuple[Layer, str]] = []
    networks = []
    for net in project.networks:
        layers = []
        for layer in net.layers:
            try:
                shape = net.value(layer.inputs[0]).shape if layer.inputs else ()
                layers.append(nnc_layer(layer, shape))
            except NotNnc as e:
                problems.append((layer, str(e)))
                layers.append(layer)
        networks.append(dataclasses.replace(net, layers=tuple(layers)))
    return dataclasses.replace(project, networks=tuple(networks)), problems


def editor_pooled_size(n: int, pad: int, stride: int) -> int:
    """The pooled size NNC's editor computes (and `error_check` checks the next layers against) for a
    pooling with ignore_border=false: ceil((n + 2 pad) / stride), whatever the kernel (read off NNC's
    `complete`). nnabla, which runs the project, computes (n + pad - 1) // stride + 1
    (`nnc_shapes.pooled_size`): the two agree where pad is 0, not always otherwise."""
    return math.ceil((n + 2 * pad) / stride)


def editor_disagreements(project: Project) -> list[tuple[Layer, str]]:
    """The poolings of `project` (as `nnc_project` writes it) whose output size NNC's editor computes
    otherwise than nnabla: a `.sdcproj` holding one shows NNC's users other shapes than nnabla runs, and
    `error_check` refuses the project where a later layer depends on the size."""
    found = []
    for net in project.networks:
        for layer in net.layers:
            p = layer.params
            if layer.type not in ("MaxPooling", "AveragePooling", "SumPooling") or p.get("ignore_border", True):
                continue
            shape = net.value(layer.inputs[0]).shape
            axes = tuple(zip(shape[1:], p["kernel"], p["stride"], p["pad"], strict=True))
            runs = tuple(pooled_size(*a, False) for a in axes)
            shown = tuple(editor_pooled_size(n, pad, s) for n, _, s, pad in axes)
            if runs != shown:
                found.append(
                    (
                        layer,
                        f"{layer.type} '{layer.name}' with ignore_border=false and pad {fmt_shape(p['pad'])} pools "
                        f"{fmt_shape(shape[1:])} to {fmt_shape(runs)} in nnabla, but NNC's editor computes "
                        f"{fmt_shape(shown)} (ceil((n + 2 pad) / stride)) and checks the next layers against that; "
                        "write pad=0 or ignore_border=true, or export to .nntxt",
                    )
                )
    return found
