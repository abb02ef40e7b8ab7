"""Shared parameters must agree: a parameter used by several networks has one shape.

NNC shares parameters by name (ParameterScope): layer `conv1` in Training and layer
`conv1` in Validation use the same `conv1/W`. If the two layers would need different
shapes (say Affine(10) in one network and Affine(100) in another), training one network
would break the other: that is an error, reported where the second network defines it.
WorkingMemory layers of one name are one buffer too (nnabla's variable of that name), so their
other settings must agree as well (E0505).

A layer written with `parameter_scope="enc"` shares with every layer whose parameters are named
`enc` (in the same enclosing scope), in its own network too: such layers must also be of one
type (E0506), reported at the second with a note at the first.
"""

from __future__ import annotations

from ..diagnostics import Note, Reporter
from ..ir import Layer, Network
from ..layers.base import REGISTRY, fmt_shape


def check_parameters(networks: list[Network], reporter: Reporter) -> None:
    # Parameters are shared layer by layer (a layer's name is its parameters' scope), so the
    # check compares each layer's parameter shapes with those of the first layer of that name.
    first: dict[str, tuple[tuple, Network, Layer]] = {}
    checked: set[int] = set()  # ids of layers shared by networks (see ShapeCache): checked once
    for net in networks:
        for layer in net.layers:
            if not layer.parameters or id(layer) in checked:
                continue
            checked.add(id(layer))
            shapes = tuple((p.name, p.shape) for p in layer.parameters)
            seen = first.get(layer.param_scope)
            if seen is None:
                first[layer.param_scope] = (shapes, net, layer)
            elif (layer.scope or seen[2].scope) and layer.type != seen[2].type:
                _report_type(layer, net, seen, reporter)
            elif seen[0] != shapes:
                _report(layer, net, seen, reporter)
            elif layer.type == seen[2].type:
                _check_settings(layer, net, seen, reporter)


def _check_settings(layer: Layer, net: Network, seen: tuple, reporter: Reporter) -> None:
    """The settings beyond the parameters' shapes that layers of one name share (the registry's
    `shared_settings`: a WorkingMemory's, whose networks share the one buffer of that name)."""
    _, other, other_layer = seen
    for key in REGISTRY[layer.type].shared_settings:
        mine, theirs = layer.params[key], other_layer.params[key]
        if mine != theirs:
            reporter.error(
                "E0505",
                layer.origin.span,
                [Note(f"'{layer.name}' has {key}={theirs!r} in network '{other.name}'", other_layer.origin.span)],
                help="give them the same settings, or one of them another name if they should not share",
                name=layer.name,
                setting=f"{key}={mine!r}",
                other_setting=f"{key}={theirs!r}",
                other=other.name,
            )
            return


def _report_type(layer: Layer, net: Network, seen: tuple, reporter: Reporter) -> None:
    _, other, other_layer = seen
    where = f"'{other_layer.name}' ({other_layer.type}) in network '{other.name}' has them, here"
    first = Note(where, other_layer.origin.span)
    reporter.error(
        "E0506",
        layer.origin.span,
        [first, *layer.origin.notes()],
        help="layers that share parameters must be of one type; give this one another parameter_scope",
        name=layer.name,
        type=layer.type,
        scope=layer.param_scope.replace(".", "/"),
        other_type=other_layer.type,
    )


def _report(layer: Layer, net: Network, seen: tuple, reporter: Reporter) -> None:
    other_shapes, other, other_layer = seen
    before = dict(other_shapes)
    for p in layer.parameters:
        shape = before.get(p.name)
        if shape == p.shape:
            continue
        name = layer.parameter_name(p)
        reporter.error(
            "E0501",
            layer.origin.span,
            [
                Note(
                    f"'{name}' is {fmt_shape(shape) if shape else 'absent'} in network '{other.name}', defined here",
                    other_layer.origin.span,
                ),
                *layer.origin.notes(),
            ],
            help="give one of the layers another name (a label like `head2: Affine(...)`) if they should not share",
            name=name,
            shape=fmt_shape(p.shape),
            other_shape=fmt_shape(shape) if shape else "absent",
            other=other.name,
        )
