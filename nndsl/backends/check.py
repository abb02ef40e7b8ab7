"""What a backend cannot express, found before any code is generated: every such layer at once.

`nndsl lint --backend torch|keras` and `nndsl compile` run this over every layer of every
network: each layer's emitter is asked for its code, and a layer type without an emitter or a
configuration the emitter refuses (`Unsupported`) is an E0801 at the layer. The emitters are
plain functions over the IR, so neither PyTorch nor TensorFlow is imported.
"""

from __future__ import annotations

import importlib

from ..diagnostics import Diagnostic
from ..ir import Project
from .builder import BackendUnsupported, lower


def emitters(backend: str) -> dict:
    """The emitter table of `backend` (`nndsl.backends.<backend>.emit.EMITTERS`)."""
    return importlib.import_module(f"{__package__}.{backend}.emit").EMITTERS


def backend_diagnostics(project: Project, backend: str) -> list[Diagnostic]:
    """An E0801 for each layer of `project` that `backend` cannot express, in network and layer
    order; a layer that several networks share (a derived network's copy) is reported once."""
    table = emitters(backend)
    found: list[Diagnostic] = []
    seen: set[tuple] = set()
    for net in project.networks:
        for layer in net.layers:
            try:
                lower(backend, table, layer, net)
            except BackendUnsupported as e:
                key = (layer.origin.span, layer.name, str(e))
                if key not in seen:
                    seen.add(key)
                    found.append(e.diagnostic)
    return found
