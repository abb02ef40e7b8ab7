"""The names and shapes nnabla gives an nndsl layer's parameters.

nndsl names a parameter after its layer's qualified name (`stage3.block[2].conv1` -> the
parameter `stage3/block[2]/conv1/W`, see `ir.Layer.parameter_name`). NNC, whose projects nnabla
runs, names it after the same structure, written its own way:

- a unit instance (NNC's `Unit` layer) opens a scope: `FireModule/Squeeze/...`;
- a repeat (NNC's RepeatStart/RepeatEnd) has no scope of its own: every layer or unit instance
  directly inside it gets the copy's index, `Convolution_5[0]`, and nested repeats add their
  indices outer first, `Convolution_5[0][1]`;
- a repeat whose whole body is one unit call (`block: repeat 3 { Bottleneck(256) }`) is, in
  NNC, a Unit layer named after the repeat inside a RepeatStart/RepeatEnd: `block[2]/conv1/...`;
- a `parameter_scope="s"` (NNC's ParameterScope) on a layer or unit call puts `s` in place of
  its name, the enclosing scopes and repeat indices still applying: `s[0]/affine/W` in a repeat
  (checked with create_prototxt, tests/nnc/test_nnc_parameter_scope.py);
- the layer's parametric function adds its scope (`conv`, `affine`, `bn`, ...), then the
  parameter: `Convolution_5[0]/conv/W`.

nnabla stores some parameters with the batch axis that nndsl's per-sample shapes leave out
(BatchNormalization's are 1xCx1x1 where nndsl has Cx1x1); `nnc_shape` gives nnabla's shape.
The element order is the same, so converting is a reshape.

Checked against NNC's own `create_prototxt` and nnabla for every parametric layer type, nested
repeats, units, a unit in a repeat and a repeat in a unit (tests/nnc/test_nnc_names.py, fixtures
from tools/nnc_names_fixtures.py). Two things NNC does differently:

- NNC's BinaryWeightAffine/BinaryWeightConvolution have no `alpha` parameter: create_prototxt
  passes the layer's `b` where nnabla's function takes alpha (its 4th input), so nnabla writes
  mean |W| per output into `.../bwn_affine/b` at every forward and adds no bias. nndsl's layers
  have alpha and no bias (nndsl/layers/quantize.py), and nndsl's `alpha` is nnabla's `b`.
- A Unit layer whose ParameterScope is empty (the ILSVRC samples call their model that way) opens
  no scope: nndsl's scope-less call `_: Unit(...)`, whose layers are named in the caller's scope.
  Directly inside a repeat, NNC names its layers with the copy's index alone (`[2]/conv1/conv/W`,
  checked with create_prototxt, tests/nnc/test_scopeless_units.py).
"""

from __future__ import annotations

import re

from ..ir import Layer, Network, Project
from ..layers import REGISTRY
from ..layers.base import ParamShape, Shape
from .components import COMPONENTS

# The parametric function's scope nnabla (and NNC's create_prototxt) puts between the layer's
# name and the parameter's, by NNC layer type: NNC's component files' ParameterScope.
FUNCTION_SCOPES: dict[str, str] = {t: c["scope"] for t, c in COMPONENTS.items() if c["scope"] and t in REGISTRY}

# (NNC type, nndsl parameter) -> nnabla's parameter name, where they differ.
_RENAMED = {("BinaryWeightAffine", "alpha"): "b", ("BinaryWeightConvolution", "alpha"): "b"}
# (NNC type, nndsl parameter) with no counterpart in NNC's files: a WorkingMemory's buffer is a
# network variable of type Buffer in nnabla (shape (batch, *Size)), which its files do not hold.
_NOT_IN_NNC = frozenset({("WorkingMemory", "buf")})

_COPY = re.compile(r"^(?P<label>.+)\[(?P<index>\d+)\]$")


def nnc_layer_path(layer: Layer) -> str:
    """The layer's NNC scope path: unit instances joined by '/', repeat indices on what is
    directly inside each repeat (`stage3/conv1[2]`, `block[2]/conv1`)."""
    # Qualified names of the unit instances this layer was expanded through: a repeat copy
    # whose name is also a unit instance's is a repeat of one unit call (NNC: a Unit layer
    # named after the repeat, inside RepeatStart/RepeatEnd).
    units = {frame.name for frame in layer.origin.via if frame.kind == "unit"}
    # A scope-less instance (`_: Unit`) is named `{caller's prefix}{unit}`: one directly in a
    # repeat copy is, in NNC, a Unit layer of empty scope inside RepeatStart/RepeatEnd, whose
    # layers nnabla names with the copy's index alone: `[2]/conv1/conv/W`.
    scopeless = {frame.name for frame in layer.origin.via if frame.kind == "scopeless"}
    scopeless_units = {frame.unit for frame in layer.origin.via if frame.kind == "scopeless"}
    parts: list[str] = []
    pending = ""
    qualified = ""
    segments = layer.param_scope.split(".")  # a `parameter_scope` replaces the layer's own name
    for i, segment in enumerate(segments):
        qualified = f"{qualified}.{segment}" if qualified else segment
        copy = _COPY.match(segment)
        if copy is not None and i < len(segments) - 1:
            if qualified in units:
                parts.append(f"{copy['label']}{pending}[{copy['index']}]")
                pending = ""
            elif any(f"{qualified}.{unit}" in scopeless for unit in scopeless_units):
                parts.append(f"{pending}[{copy['index']}]")
                pending = ""
            else:
                pending += f"[{copy['index']}]"
            continue
        parts.append(segment + pending)
        pending = ""
    return "/".join(parts)


def nnc_parameter_name(layer: Layer, p: ParamShape) -> str:
    """nnabla's name of parameter `p` of `layer`: `Convolution_5[0]/conv/W`."""
    scope = FUNCTION_SCOPES.get(layer.type)
    path = nnc_layer_path(layer)
    if not p.name:  # a Parameter layer: nnabla's variable is named after the layer itself
        return path
    name = _RENAMED.get((layer.type, p.name), p.name)
    return f"{path}/{scope}/{name}" if scope else f"{path}/{name}"


def in_nnc_files(layer: Layer, p: ParamShape) -> bool:
    """Whether NNC's parameter files (and nnabla's networks) hold `p` (not a WorkingMemory's buffer)."""
    return (layer.type, p.name) not in _NOT_IN_NNC


def nnc_shape(layer: Layer, p: ParamShape) -> Shape:
    """The shape nnabla stores `p` in (same elements, same order as nndsl's)."""
    return (1, *p.shape) if REGISTRY[layer.type].batch_axis_parameters else tuple(p.shape)


def nnc_parameter_table(source: Project | Network) -> dict[str, tuple[str, Shape]]:
    """nndsl parameter name -> (nnabla name, nnabla shape), every parameter NNC's files hold once
    (not a WorkingMemory's buffer)."""
    networks = source.networks if isinstance(source, Project) else (source,)
    table: dict[str, tuple[str, Shape]] = {}
    for net in networks:
        for layer in net.layers:
            for p in layer.parameters:
                if in_nnc_files(layer, p):
                    table.setdefault(layer.parameter_name(p), (nnc_parameter_name(layer, p), nnc_shape(layer, p)))
    return table
