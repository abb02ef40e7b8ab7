"""Infer the shape of every value, resolve derived parameters, count parameters and MACs.

Runs each layer's pure shape rule from the registry in graph order. A rule's `ShapeError`
becomes a diagnostic pointing at the parameter or input it names (or the call), with
the expansion chain as notes; a `MergeError` (Add2, Concatenate...) names both operands,
their shapes, and where each was defined. A layer whose input shape is unknown (an
earlier error) is skipped silently, so one mistake gives one message.
"""

from __future__ import annotations

import math

from ..diagnostics import Note, Reporter, Span, make
from ..ir import Layer, Network, Origin, Value
from ..layers import REGISTRY
from ..layers.base import DERIVED, MergeError, ShapeError, fmt_shape
from .expand import Graph
from .values import MAX_ELEMENTS


def infer_shapes(graph: Graph, training: bool, reporter: Reporter) -> Network:
    shapes: list[tuple[int, ...] | None] = [None] * len(graph.values)
    layers: list[Layer] = []
    for pl in graph.layers:
        spec = REGISTRY[pl.type]
        ins = tuple(shapes[v] for v in pl.inputs)
        params = dict(pl.params)
        if any(s is None for s in ins):
            layers.append(_layer(pl, params))
            continue
        try:
            if spec.resolve is not None:
                spec.resolve(ins, params, training)
            out = spec.shape(ins, params)
            _check_output(out)
            parameters = spec.parameters(ins, params, out)
            macs = spec.count_macs(ins, params, out, parameters)
        except MergeError as e:
            reporter.add(_merge_diagnostic(e, pl, graph, ins))
            layers.append(_layer(pl, params))
            continue
        except ShapeError as e:
            span = _blame(e, pl)
            reporter.add(
                make("E0401", span, pl.origin.notes(), layer=_display(pl.name), type=pl.type, message=e.message)
            )
            layers.append(_layer(pl, params))
            continue
        leftover = [k for k, v in params.items() if v is DERIVED]
        if leftover:  # a registry bug, not a user error: say so plainly
            raise RuntimeError(f"{pl.type}: resolve left {leftover} undetermined")
        shapes[pl.outputs[0]] = out
        layers.append(_layer(pl, params, parameters, macs))
    values = tuple(
        Value(i, v.name, shapes[i], v.producer, Origin(v.def_span, v.origin.via)) for i, v in enumerate(graph.values)
    )
    inputs = tuple(pl.outputs[0] for pl in graph.layers if REGISTRY[pl.type].kind == "input")
    return Network(graph.name, tuple(layers), values, inputs, tuple(graph.outputs), graph.span, training)


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
    )


def _check_output(out: tuple[int, ...]) -> None:
    if any(d < 1 for d in out):
        raise ShapeError(f"the output shape {fmt_shape(out)} has a size below 1")
    if math.prod(out) > MAX_ELEMENTS:
        raise ShapeError(f"the output shape {fmt_shape(out)} has more than {MAX_ELEMENTS:,} elements per sample")


def _display(name: str) -> str:
    return f"'{name}'"


def _blame(e: ShapeError, pl) -> Span:
    """Point at the parameter or input the rule complained about, if the user wrote it."""
    if e.param is not None and e.param in pl.param_spans:
        return pl.param_spans[e.param]
    if e.input is not None and e.input < len(pl.input_spans) and (e.input > 0 or len(pl.input_spans) > 1):
        return pl.input_spans[e.input]
    return pl.origin.span


def _merge_diagnostic(e: MergeError, pl, graph: Graph, ins) -> object:
    a, b = graph.values[pl.inputs[e.a]], graph.values[pl.inputs[e.b]]
    notes = [
        Note(f"'{a.name}' is defined here, {fmt_shape(ins[e.a])}", a.def_span),
        Note(f"'{b.name}' is defined here, {fmt_shape(ins[e.b])}", b.def_span),
        *pl.origin.notes(),
    ]
    message = f"{fmt_shape(ins[e.a])} and {fmt_shape(ins[e.b])}: {e.message}"
    return make("E0402", pl.origin.span, notes, type=pl.type, a=a.name, b=b.name, message=message)
