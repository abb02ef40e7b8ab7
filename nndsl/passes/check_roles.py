"""Roles must fit their networks: an optimizer needs a network with a loss to minimise."""

from __future__ import annotations

from collections.abc import Collection

from ..diagnostics import Note, Reporter
from ..ir import Network, Project
from ..layers import REGISTRY

DEFAULTS_PATH = "<config defaults>"


def value_kind(net: Network, vid: int, memo: dict[int, str] | None = None) -> str | None:
    """The registry kind ("loss", "error", "layer"...) of the layer computing `vid`, with a
    weighted sum of losses a "loss" (None for a value no layer computes). Iterative: a sum of
    many losses does not deepen the recursion."""
    memo = {} if memo is None else memo
    todo = [vid]
    while todo:
        v = todo[-1]
        if v in memo:
            todo.pop()
            continue
        producer = net.values[v].producer
        if producer is None:
            memo[v] = None
            todo.pop()
            continue
        layer = net.layers[producer]
        spec = REGISTRY[layer.type]
        kind = spec.kind
        if not spec.keeps_loss:  # (a sum of losses times constants, Add2 and MulScalar, is a loss)
            memo[v] = kind
            todo.pop()
            continue
        pending = [u for u in layer.inputs if u not in memo]
        if pending:
            todo += pending
            continue
        memo[v] = "loss" if all(memo[u] == "loss" for u in layer.inputs) else kind
        todo.pop()
    return memo[vid]


def output_kinds(net: Network) -> set[str]:
    """The kinds (see `value_kind`) of the network's outputs."""
    memo: dict[int, str] = {}
    return {k for k in (value_kind(net, vid, memo) for vid in net.outputs) if k is not None}


def check_roles(project: Project, reporter: Reporter, failed: Collection[str] = ()) -> None:
    """The roles' checks. A network in `failed` had an error of its own, so what it lacks (no
    layers, no outputs, no loss) follows from that error and is not reported."""
    for net in project.networks:
        if net.name in failed:
            continue
        if not net.layers:
            reporter.error("E0503", net.span, name=net.name)
        elif not net.outputs and all(v.shape is not None for v in net.values):
            reporter.error("E0504", net.span, name=net.name)
    for opt in project.config.optimizers:
        net = project.network(opt.network)
        if net is None or net.name in failed:
            continue
        # A default role (the config names no optimizer) is not something the user asked
        # for: lint warns about it (W110) instead.
        if "loss" not in output_kinds(net) and not is_default(opt):
            note = [Note(f"network '{net.name}' is declared here", net.span)]
            help_ = "end it in a loss layer, or a sum of losses times constants: 'loss = main + 0.3 * aux'"
            reporter.error("E0605", opt.span, note, help=help_, name=opt.name, network=opt.network)


def is_default(role) -> bool:
    """True for a role the config did not write (NNC's default network names)."""
    return role.span.path == DEFAULTS_PATH
