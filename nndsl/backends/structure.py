"""The structure of a network as the user wrote it: unit instances and repeat copies.

The IR is flat (every network a list of layers), which suits analyses. Generated code
reads better with the spec's structure back: one class per unit (a repeat copy is an
anonymous unit), instances as submodules, repeats as lists. `network_tree` rebuilds that
tree from the layers' qualified names and expansion frames, and `Block.signature` tells
which blocks are the same code (networks that share a block must share its structure).

Backend-neutral: both backends build their classes from these trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ir import Layer, Network

ROLE_PARAMS = frozenset({"batch_stat"})  # follow the network's role, not the code


def code_param(name: str) -> bool:
    """Whether a layer parameter shapes its code: not one that follows the network's role, nor a
    learning-rate multiplier (the model freezes parameters as a whole, see `builder`): networks
    may freeze a shared block where others train it."""
    return name not in ROLE_PARAMS and not name.endswith("lrate_multiplier")


@dataclass
class Block:
    """A unit instance, a repeat copy, or a whole network (the root)."""

    kind: str  # "network" | "unit" | "copy"
    path: str  # qualified name: "" for the root, "resnet.stage3", "resnet.stage3.block[2]"
    unit: str = ""  # unit name ("" for the root and for copies of a layer-bodied repeat)
    args: tuple[tuple[str, Any], ...] = ()
    repeat: str = ""  # for a copy: the repeat's qualified name; its index and count below
    index: int = 0
    count: int = 0
    items: list[Layer | Block] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)  # value ids produced outside, in order of use
    outputs: list[int] = field(default_factory=list)  # value ids used outside (or network outputs)

    @property
    def param_path(self) -> str:
        """What its layers' parameters are named under: `path`, or, in a unit call with
        `parameter_scope="s"`, the path with `s` in the instance's place (segment for segment)."""
        if not self.path:
            return ""
        n = self.path.count(".") + 1
        for layer in self.layers():
            if layer.scope:
                return ".".join(layer.scope.split(".")[:n])
        return self.path

    @property
    def local_name(self) -> str:
        """The name inside the parent: "stage3", "block[2]"."""
        return self.path.rsplit(".", 1)[-1]

    def layers(self):
        for item in self.items:
            if isinstance(item, Block):
                yield from item.layers()
            else:
                yield item

    def signature(self, net: Network) -> tuple:
        """Equal for blocks that are the same code: the same layers (names relative to the
        block, types, parameters except role-dependent ones), wired the same way, on inputs
        of the same shapes."""
        index = {}
        for k, vid in enumerate(self.inputs):
            index[vid] = ("in", k)
        cut = len(self.path) + 1 if self.path else 0
        depth = self.path.count(".") + 1 if self.path else 0
        parts: list[tuple] = [tuple(net.values[v].shape for v in self.inputs)]
        for k, layer in enumerate(self.layers()):
            for j, out in enumerate(layer.outputs):
                index[out] = ("layer", k, j)
            params = tuple(sorted((n, v) for n, v in layer.params.items() if code_param(n)))
            name = layer.name[cut:]
            scope = ".".join(layer.param_scope.split(".")[depth:])  # which layers share a module
            parts.append((name, scope, layer.type, params, tuple(index.get(v, ("?",)) for v in layer.inputs)))
        parts.append(tuple(index.get(v, ("?",)) for v in self.outputs))
        return tuple(parts)


def network_tree(net: Network) -> Block:
    """Rebuild the unit instances and repeat copies of `net` as a tree of blocks."""
    root = Block("network", "")
    blocks: dict[str, Block] = {"": root}
    for layer in net.layers:
        parent = root
        for path, make in _scopes(layer):
            block = blocks.get(path)
            if block is None:
                block = make()
                blocks[path] = block
                parent.items.append(block)
            parent = block
        parent.items.append(layer)
    _wire(root, net)
    return root


def _scopes(layer: Layer):
    """The blocks enclosing `layer`, outermost first, as (path, constructor) pairs.

    Unit frames give instances; each repeat the layer sits in gives its copy. A repeat
    whose body is one unit call names the copy and the instance alike (`block[2]`): then
    the copy is the instance.
    """
    repeats = {name: (index, count) for name, index, count in layer.repeats}
    scopes: dict[str, Any] = {}
    for frame in layer.origin.via:
        if frame.kind == "unit":
            path, unit, args = frame.name, frame.unit, frame.args
            copy = _copy_of(path, repeats)
            if copy is not None:
                name, index, count = copy
                scopes[path] = lambda p=path, u=unit, a=args, r=name, i=index, c=count: Block("unit", p, u, a, r, i, c)
            else:
                scopes[path] = lambda p=path, u=unit, a=args: Block("unit", p, u, a)
    for name, index, count in layer.repeats:
        path = f"{name}[{index}]"
        if path not in scopes:
            scopes[path] = lambda p=path, r=name, i=index, c=count: Block("copy", p, repeat=r, index=i, count=c)
    return sorted(scopes.items(), key=lambda kv: _depth(kv[0]))


def _copy_of(path: str, repeats: dict[str, tuple[int, int]]):
    if path.endswith("]"):
        name, _, index = path[:-1].rpartition("[")
        if name in repeats and repeats[name][0] == int(index):
            return name, repeats[name][0], repeats[name][1]
    return None


def _depth(path: str) -> int:
    return path.count(".") + path.count("[")


def _wire(root: Block, net: Network) -> None:
    """Fill every block's inputs and outputs: the values crossing its boundary.

    A value is an input of each block that encloses one of its consumers but not its
    producer, and an output of each block that encloses its producer but not one of its
    consumers (or that encloses the producer of a network output). Inputs are listed in
    order of first use, outputs in order of production.
    """
    enclosing: dict[int, tuple[Block, ...]] = {}  # layer id -> blocks around it, outermost first
    order: dict[int, int] = {}  # value id -> production order

    def visit(block: Block, around: tuple[Block, ...]) -> None:
        for item in block.items:
            if isinstance(item, Block):
                visit(item, (*around, item))
            else:
                enclosing[id(item)] = around
                for out in item.outputs:
                    order[out] = len(order)

    visit(root, ())
    producer: dict[int, tuple[Block, ...]] = {}
    for layer in root.layers():
        for out in layer.outputs:
            producer[out] = enclosing[id(layer)]
    outs: dict[int, set[int]] = {}
    for layer in root.layers():
        mine = enclosing[id(layer)]
        for vid in layer.inputs:
            theirs = producer.get(vid, ())
            for block in mine:
                if block not in theirs and vid not in block.inputs:
                    block.inputs.append(vid)
            for block in theirs:
                if block not in mine:
                    outs.setdefault(id(block), set()).add(vid)
    for vid in net.outputs:
        for block in producer.get(vid, ()):
            outs.setdefault(id(block), set()).add(vid)

    def assign(block: Block) -> None:
        block.outputs = sorted(outs.get(id(block), ()), key=order.__getitem__)
        for item in block.items:
            if isinstance(item, Block):
                assign(item)

    assign(root)
    root.inputs = list(net.inputs)
    root.outputs = list(net.outputs)
