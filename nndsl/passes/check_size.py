"""Models that cannot fit in memory are refused, at documented and overridable limits.

A spec can describe a model of 10^24 parameters in one line (`Affine(1000000000000)` on
a large input); generating and starting it would only fail later, out of memory. Two
limits (nndsl/limits.py) catch that at compile time, each at the layer that crosses it:

- the parameters of the project (every parameter element once, shared ones once, state
  such as BatchNormalization's running statistics included): E0410, `--max-parameters`;
- the activations of one network for one sample (the elements of every value it
  computes): E0411, `--max-activations`.
"""

from __future__ import annotations

import math

from ..diagnostics import Note, Reporter
from ..ir import Network
from ..limits import MAX_ACTIVATIONS, MAX_PARAMETERS


def check_size(
    networks: list[Network],
    reporter: Reporter,
    max_parameters: int = MAX_PARAMETERS,
    max_activations: int = MAX_ACTIVATIONS,
) -> None:
    seen: set[str] = set()
    parameters = 0
    over = False
    for net in networks:
        for layer in net.layers:
            if over:
                break
            for p in layer.parameters:
                name = layer.parameter_name(p)
                if name in seen:
                    continue
                seen.add(name)
                parameters += math.prod(p.shape)
                if parameters > max_parameters:
                    notes = (Note(f"in network '{net.name}'"), *layer.origin.notes())
                    reporter.error("E0410", layer.origin.span, notes, limit=f"{max_parameters:,}")
                    over = True
                    break
        activations = 0
        for value in net.values:
            if value.shape is None:
                break  # an error was reported already
            activations += math.prod(value.shape)
            if activations > max_activations:
                layer = net.layers[value.producer] if value.producer is not None else None
                origin = layer.origin if layer is not None else value.origin
                notes = (Note(f"in network '{net.name}'"), *origin.notes())
                reporter.error("E0411", origin.span, notes, limit=f"{max_activations:,}")
                break
