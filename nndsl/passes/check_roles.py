"""Roles must fit their networks: an optimizer needs a network with a loss to minimise."""

from __future__ import annotations

from ..diagnostics import Note, Reporter
from ..ir import Network, Project
from ..layers import REGISTRY

DEFAULTS_PATH = "<config defaults>"


def output_kinds(net: Network) -> set[str]:
    """The registry kinds ("loss", "error", "layer"...) of the layers producing the outputs."""
    kinds = set()
    for vid in net.outputs:
        producer = net.values[vid].producer
        if producer is not None:
            kinds.add(REGISTRY[net.layers[producer].type].kind)
    return kinds


def check_roles(project: Project, reporter: Reporter) -> None:
    for net in project.networks if not reporter.has_errors else ():  # no cascades after errors
        if not net.layers:
            reporter.error("E0503", net.span, name=net.name)
        elif not net.outputs and all(v.shape is not None for v in net.values):
            reporter.error("E0504", net.span, name=net.name)
    for opt in project.config.optimizers:
        net = project.network(opt.network)
        if net is None:
            continue
        # A default role (the config names no optimizer) is not something the user asked
        # for: lint warns about it (W110) instead.
        if "loss" not in output_kinds(net) and not is_default(opt):
            note = [Note(f"network '{net.name}' is declared here", net.span)]
            reporter.error("E0605", opt.span, note, name=opt.name, network=opt.network)


def is_default(role) -> bool:
    """True for a role the config did not write (NNC's default network names)."""
    return role.span.path == DEFAULTS_PATH
