"""Infer the shape of every value, resolve derived parameters, count parameters and MACs.

Runs each layer's pure shape rule from the registry in graph order. A rule's `ShapeError`
becomes a diagnostic pointing at the parameter or input it names (or the call), with
the expansion chain as notes; a `MergeError` (Add2, Concatenate...) names both operands,
their shapes, and where each was defined. A layer whose input shape is unknown (an
earlier error) is skipped silently, so one mistake gives one message.

Rules are pure, so their results are kept in a `ShapeCache` shared by the networks of
a project: the instances of a unit template share their parameter dicts, and a block
repeated 36 times is resolved once per distinct input shape.
"""

from __future__ import annotations

import math

from ..diagnostics import Note, Reporter, Span, make
from ..ir import Layer, Network, Origin, Value
from ..layers import REGISTRY
from ..layers.base import DERIVED, MergeError, Shape, ShapeError, fmt_shape
from .expand import Graph, PendingLayer
from .values import MAX_ELEMENTS


class ShapeCache:
    """Results of the pure rules, shared by the networks of a project.

    Keyed by identity: the layers stamped from one unit template share their parameter
    dict (see `expand`), so a block repeated 36 times is resolved once per input shape;
    and an instance stamped twice at the same place (in a derived network) shares its
    pending layers, which then make one `Layer`. Entries hold the objects whose ids
    they are keyed by, so that an id is not reused while its entry lives.
    """

    def __init__(self) -> None:
        # (id(pending params), input shapes, training) -> (out, resolved params, parameters, macs, pending params)
        self.by_params: dict[tuple, tuple] = {}
        # id(pending layer) -> (input shapes, training, Layer, out, pending layer)
        self.by_layer: dict[int, tuple] = {}


def infer_shapes(graph: Graph, training: bool, reporter: Reporter, cache: ShapeCache | None = None) -> Network:
    if cache is None:
        cache = ShapeCache()
    by_params, by_layer = cache.by_params, cache.by_layer
    input_types = {t for t, spec in REGISTRY.items() if spec.kind == "input"}
    shapes: list[Shape | None] = [None] * len(graph.values)
    layers: list[Layer] = []
    inputs: list[int] = []
    for pl in graph.layers:
        ins = tuple([shapes[v] for v in pl.inputs])
        seen = by_layer.get(id(pl))
        if seen is not None and seen[0] == ins and seen[1] == training:
            layer, out = seen[2], seen[3]
        else:
            known = by_params.get((id(pl.params), ins, training))
            if known is not None:
                out, resolved, parameters, macs, _ = known
                layer = _layer(pl, dict(resolved), parameters, macs)
            else:
                layer, out = _infer(pl, ins, training, graph, reporter)
                if out is not None:  # errors are not kept: each instance reports its own
                    resolved = dict(layer.params)
                    by_params[(id(pl.params), ins, training)] = (out, resolved, layer.parameters, layer.macs, pl.params)
            if out is not None:
                by_layer[id(pl)] = (ins, training, layer, out, pl)
        shapes[pl.outputs[0]] = out
        layers.append(layer)
        if pl.type in input_types:
            inputs.append(pl.outputs[0])
    # A value's origin is where the user named it; until named, its layer's origin.
    values = tuple(
        [
            Value(
                i,
                v.name,
                shapes[i],
                v.producer,
                v.origin if v.def_span is v.origin.span else Origin(v.def_span, v.origin.via),
            )
            for i, v in enumerate(graph.values)
        ]
    )
    return Network(graph.name, tuple(layers), values, tuple(inputs), tuple(graph.outputs), graph.span, training)


def _infer(
    pl: PendingLayer, ins: tuple, training: bool, graph: Graph, reporter: Reporter
) -> tuple[Layer, Shape | None]:
    """Run the rules of one layer: its `Layer` and output shape. The shape is None after an
    error (reported here, or earlier when an input shape is unknown)."""
    params = dict(pl.params)
    if any(s is None for s in ins):
        return _layer(pl, params), None
    spec = REGISTRY[pl.type]
    given = dict(zip(pl.connectors, ins[len(ins) - len(pl.connectors) :], strict=True))
    ins = ins[: len(ins) - len(pl.connectors)]
    try:
        if spec.resolve is not None:
            spec.resolve(ins, params, training)
        out = spec.shape(ins, params)
        _check_output(out)
        parameters = spec.parameters(ins, params, out)
        macs = spec.count_macs(ins, params, out, parameters)
        parameters = _connect(parameters, given, len(ins))
    except MergeError as e:
        reporter.add(_merge_diagnostic(e, pl, graph, ins))
        return _layer(pl, params), None
    except ShapeError as e:
        span = _blame(e, pl)
        reporter.add(make("E0401", span, pl.origin.notes(), layer=_display(pl.name, pl.type), message=e.message))
        return _layer(pl, params), None
    leftover = [k for k, v in params.items() if v is DERIVED]
    if leftover:  # a registry bug, not a user error: say so plainly
        raise RuntimeError(f"{pl.type}: resolve left {leftover} undetermined")
    return _layer(pl, params, parameters, macs), out


def _connect(parameters, given: dict, first: int) -> tuple:
    """The layer's parameters less those a Parameter layer gives (`b=p`), whose shapes must match."""
    names = [q.name for q in parameters]
    for k, (connector, shape) in enumerate(given.items()):
        if connector not in names:
            raise ShapeError(
                f"the {connector.lower()} connector is given but the layer has no parameter {connector} (bias=false?)",
                input=first + k,
            )
        want = parameters[names.index(connector)].shape
        if tuple(shape) != tuple(want):
            raise ShapeError(
                f"its {connector} is {fmt_shape(want)}, so the Parameter given to {connector.lower()}= must have "
                f"size {fmt_shape(want)}, got {fmt_shape(shape)}",
                input=first + k,
            )
    return tuple(q for q in parameters if q.name not in given)


def _layer(pl, params, parameters=(), macs=0) -> Layer:
    return Layer(
        pl.name,
        pl.type,
        params,
        pl.inputs,
        pl.outputs,
        pl.origin,
        pl.param_spans,
        pl.input_spans,
        pl.repeats,
        tuple(parameters),
        macs,
        pl.scope,
        pl.connectors,
    )


def _check_output(out: tuple[int, ...]) -> None:
    if any(d < 1 for d in out):
        raise ShapeError(f"the output shape {fmt_shape(out)} has a size below 1")
    if math.prod(out) > MAX_ELEMENTS:
        raise ShapeError(f"the output shape {fmt_shape(out)} has more than {MAX_ELEMENTS:,} elements per sample")


def _display(name: str, type_: str) -> str:
    """'conv1' (Convolution); a layer named after its type is just its name."""
    last = name.rsplit(".", 1)[-1]
    return f"'{name}'" if last == type_ else f"'{name}' ({type_})"


def _blame(e: ShapeError, pl) -> Span:
    """Point at the parameter or input the rule complained about, if the user wrote it."""
    if e.param is not None and e.param in pl.param_spans:
        return pl.param_spans[e.param]
    if e.input is not None and e.input < len(pl.input_spans) and (e.input > 0 or len(pl.input_spans) > 1):
        return pl.input_spans[e.input]
    return pl.origin.span


def _merge_diagnostic(e: MergeError, pl, graph: Graph, ins) -> object:
    def operand(i: int) -> tuple[str, Span]:
        """The operand as written at the merge (a name and its binding), else its value."""
        written = pl.input_names[i] if i < len(pl.input_names) else None
        if written is not None:
            return written
        v = graph.values[pl.inputs[i]]
        return v.name, v.def_span

    (a, a_span), (b, b_span) = operand(e.a), operand(e.b)
    notes = [
        Note(f"'{a}' is defined here, {fmt_shape(ins[e.a])}", a_span),
        Note(f"'{b}' is defined here, {fmt_shape(ins[e.b])}", b_span),
        *pl.origin.notes(),
    ]
    message = f"{fmt_shape(ins[e.a])} and {fmt_shape(ins[e.b])}: {e.message}"
    return make("E0402", pl.origin.span, notes, type=pl.type, a=a, b=b, message=message)
