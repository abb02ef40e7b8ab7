"""A compiled spec as an NNC project (`nndsl export`).

The IR holds every layer with its resolved parameters and shapes, and, in each layer's
`Origin`, the unit instances and repeat copies it was expanded through. From that the
exporter rebuilds the structure a person drew in NNC:

- a repeat whose copies are alike (same layers, same parameters, only the copy index in
  the names differs) is one body between RepeatStart(Times=n) and RepeatEnd, as NNC (and
  nnabla's expander) name the copies `conv[0]`, `conv[1]`; a repeat whose copies differ
  (`repeat i in 4 { Affine(16 * (i + 1)) }`) is written out copy by copy, each layer named
  as nnabla would name it inside a repeat (`Affine[2]`), so the parameter names stay;
- a unit instance is a `Unit` layer whose `Network` is the unit's network, with one
  `Argument` layer per unit parameter; a property that differs between instances and
  equals one argument in every instance is written as NNC's `*Argument` macro (not a
  parameter's setting, such as `W.InitializerMultiplier`, which NNC's tool refuses as a
  macro in a unit called three Units deep). Instances
  whose networks differ otherwise (an `if` on an argument, a repeat count from one) get one
  specialised network each (`BasicBlock`, `BasicBlock_2`, ...), which a Comment layer in
  the network says;
- a loss's or error's target that is an `Input` of the network is NNC's `T.Dataset`
  property (NNC reads the column itself), as NNC's samples write it; a computed target is
  linked to the layer's pin 1 (NNC's `T` pin);
- positions: a chain top to bottom, each branch in a column of its own.

`export_project(result)` gives the `NncProject`; `sdcproj_write.sdcproj_text` writes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..compiler import Result
from ..ir import Layer, Network, Project
from ..layers import REGISTRY
from ..layers.base import DERIVED, language_name
from ..syntax import ast
from .components import COMPONENTS
from .config_nnd import config_to_nnc
from .nndsl_layers import editor_disagreements, nnc_project
from .project import NncLayer, NncLink, NncNetwork, NncProject, NncSection, Where

_COPY = re.compile(r"\[\d+\]$")
_X0, _DX, _Y0, _DY, _WIDTH, _HEIGHT = 24, 312, 24, 48, 240, 48

# NNC types whose layers carry parameters (their names are their parameters' names), and Unit.
_PARAMETRIC = frozenset(
    t for t, entry in COMPONENTS.items() if any(c.kind == "Parameter" for c in entry["connectors"])
) | {"Unit"}

# Layer kinds whose second input is NNC's `T` pin (a dataset column, `T.Dataset`).
_TARGET_KINDS = frozenset({"loss", "error"})


class ExportError(Exception):
    """The spec has something an NNC project cannot hold; `where` is the layer's origin."""

    def __init__(self, message: str, layer: Layer | None = None):
        super().__init__(message)
        self.message = message
        self.layer = layer


def nnc_value(value: Any) -> str:
    """A resolved parameter value written as NNC writes property values."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (tuple, list)):
        return ",".join(nnc_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def layer_properties(layer: Layer) -> dict[str, str]:
    """Every NNC property a project holds for the layer's type, in NNC's order: the resolved
    parameters where the language has them, NNC's defaults (macros included) where it does not,
    and the layer's own `ParameterScope`."""
    spec = REGISTRY[layer.type]
    by_nnc = {p.nnc: p for p in spec.params}

    def value_of(nnc_name: str, default: str) -> str:
        p = by_nnc.get(nnc_name)
        if p is not None and p.name in layer.params and layer.params[p.name] is not DERIVED:
            return nnc_value(layer.params[p.name])
        key = language_name(nnc_name)
        if key in layer.params:
            return nnc_value(layer.params[key])
        return default

    props: dict[str, str] = {}
    for prop in COMPONENTS[layer.type]["properties"]:
        if not prop.editable:
            continue
        if prop.name == "ParameterScope":
            # `parameter_scope="enc"`: NNC's ParameterScope, the name (within the enclosing scopes)
            # its parameters take; layers with one ParameterScope share them.
            own = layer.scope.rsplit(".", 1)[-1]  # (in a unit call's parameter_scope, a layer's own may be its name)
            props[prop.name] = own if layer.scope and own != layer.name.rsplit(".", 1)[-1] else "*Name"
        else:
            props[prop.name] = value_of(prop.name, prop.default)
    return props


# --- the structure of a network, from its layers' expansion frames -----------------------------


@dataclass
class Scope:
    kind: str  # "network" | "unit" | "repeat" | "copy"
    name: str  # qualified name ("net.block", "net.block[1]")
    items: list[Layer | Scope] = field(default_factory=list)
    unit: str = ""
    args: tuple[tuple[str, Any], ...] = ()
    count: int = 0  # a repeat's number of copies
    index: int = 0  # a copy's index
    scoped: bool = True  # False for a scope-less unit call (`_: Unit(...)`): ParameterScope empty

    def layers(self) -> list[Layer]:
        out: list[Layer] = []
        for item in self.items:
            out.extend(item.layers() if isinstance(item, Scope) else [item])
        return out


def structure(net: Network) -> Scope:
    root = Scope("network", "")
    open_: dict[tuple, Scope] = {}
    for layer in net.layers:
        scope = root
        copies = {name: (copy, count) for name, copy, count in layer.repeats}
        path: tuple = ()
        for frame in layer.origin.via:
            if frame.kind == "repeat":
                copy, count = copies.get(frame.name, (0, 1))
                steps = [(("repeat", frame.name), dict(count=count)), (("copy", frame.name, copy), dict(index=copy))]
            else:
                scoped = frame.kind == "unit"  # else "scopeless"
                steps = [(("unit", frame.name), dict(unit=frame.unit, args=frame.args, scoped=scoped))]
            for key, extra in steps:
                path = (*path, key)
                child = open_.get(path)
                if child is None or (scope.items and scope.items[-1] is not child):
                    name = key[1] if key[0] != "copy" else f"{key[1]}[{key[2]}]"
                    child = Scope(key[0], name, **extra)
                    open_[path] = child
                    scope.items.append(child)
                scope = child
        scope.items.append(layer)
    return root


def local_name(qualified: str) -> str:
    """The name a layer or unit instance has in its NNC network: its last name part without
    the repeat index (nnabla adds that back)."""
    last = qualified.rsplit(".", 1)[-1]
    while _COPY.search(last):
        last = _COPY.sub("", last)
    return last


# --- building NNC networks --------------------------------------------------------------------


@dataclass
class _Builder:
    name: str
    net: Network
    layers: list[NncLayer] = field(default_factory=list)
    links: list[NncLink] = field(default_factory=list)
    source: dict[int, tuple[int, int]] = field(default_factory=dict)  # value id -> (layer id, pin)
    names: set[str] = field(default_factory=set)
    next: dict[str, int] = field(default_factory=dict)  # name -> the next `_k` to try
    comments: list[str] = field(default_factory=list)
    shapes: dict[int, tuple] = field(default_factory=dict)  # id(NncLayer) -> its shapes, for NNC's name check
    # For a spec's network: its inputs and outputs by .nnd name -> (NNC layer, suffix of the
    # nnabla variable's name: "" for the layer's output, "_T" for a loss's target).
    io: dict[str, dict[str, list[tuple[NncLayer, str]]]] | None = None

    def add(self, type_: str, props: dict[str, str]) -> NncLayer:
        layer = NncLayer(len(self.layers), type_, props, Where(self.name, f"{self.name}_Layer_{len(self.layers)}", 0))
        self.layers.append(layer)
        return layer

    def link(self, vid: int, dest: int, pin: int = 0) -> None:
        src = self.source.get(vid)
        if src is None:
            raise ExportError(f"value {self.net.value(vid).name!r} is not available in NNC network {self.name!r}")
        where = Where(self.name, f"{self.name}_Link_{len(self.links)}", 0)
        self.links.append(NncLink(src[0], src[1], dest, pin, where))

    def unique(self, name: str, parametric: bool) -> str:
        """NNC's layer names are unique in a network; a parameterless layer that repeats a
        name (two `ReLU`s, one inside a repeat) gets NNC's `_2` suffix; a parametric one keeps
        its name, which its parameters carry."""
        if name in self.names and parametric:
            # only a written-out repeat's `X0` beside a label `X0` can do this: NNC would
            # give both one set of parameters
            raise ExportError(f"two layers with parameters would both be {name!r} in NNC network {self.name!r}")
        if name in self.names and not parametric:
            n = self.next.get(name, 2)
            while f"{name}_{n}" in self.names:
                n += 1
            self.next[name] = n + 1
            name = f"{name}_{n}"
        self.names.add(name)
        return name

    def network(self) -> NncNetwork:
        for text in dict.fromkeys(self.comments):
            self.add("Comment", {"Name": self.unique("Comment", False), "Comment": text})
        layout(self.layers, self.links)
        return NncNetwork(self.name, self.layers, self.links, Where(self.name, f"{self.name}_Network_Global", 0))


@dataclass
class _Instance:
    scope: Scope
    network: NncNetwork  # the unit's body as it is for this instance
    unit_layer: NncLayer  # the Unit layer in the caller, whose Network is set once grouped
    callees: list[_Instance]


class Exporter:
    def __init__(self, result: Result):
        if result.project is None:
            raise ExportError("the spec has errors")
        project, problems = nnc_project(result.project)  # nndsl's own layers as NNC's (nndsl_layers)
        problems += editor_disagreements(project)
        if problems:
            raise ExportError(problems[0][1], problems[0][0])
        self.project: Project = project
        self.result = result
        self.instances: dict[str, list[_Instance]] = {}  # unit name -> instances, in order
        self.shapes: dict[int, tuple] = {}
        self.io: dict[str, dict[str, dict[str, list[tuple[NncLayer, str]]]]] = {}
        self.written_out: set[str] = set()  # qualified names of the repeats written out copy by copy
        self.notes = _comments(result)
        self._readers: dict[str, dict[int, list[int]]] = {}
        # The unit instances being written out in place around the layers now emitted (see
        # `emit_inline`), in their NNC network: their ParameterScope segments.
        self._inline: list[str] = []

    # One scope's items into a builder; `rename` maps a value id to the value it stands for.
    def emit(self, b: _Builder, scope: Scope, callees: list[_Instance], suffix: str = "") -> None:
        """`suffix`: the copy indices of the written-out repeats around (`[2]`), which the
        names of what they directly hold carry, as nnabla names repeat copies."""
        target_only = self._target_only_inputs(b.net, scope)
        for item in scope.items:
            if isinstance(item, Scope):
                if item.kind == "unit" and self._one_in_one_out(b, item):
                    self.emit_unit(b, item, callees, suffix)
                elif item.kind == "unit":
                    self.emit_inline(b, item, callees, suffix)
                elif item.kind == "repeat":
                    self.emit_repeat(b, item, callees, suffix)
                else:
                    self.emit(b, item, callees, suffix)
                continue
            if item.type == "Input" and item.outputs[0] in target_only:
                continue
            self.emit_layer(b, item, suffix)

    def _target_only_inputs(self, net: Network, scope: Scope) -> set[int]:
        """Input values used only as a loss's or error's target (NNC's `T.Dataset`)."""
        if scope.kind != "network":
            return set()
        uses: dict[int, list[tuple[Layer, int]]] = {}
        for layer in net.layers:
            for k, vid in enumerate(layer.inputs):
                uses.setdefault(vid, []).append((layer, k))
        out = set()
        for layer in net.layers:
            if layer.type != "Input":
                continue
            vid = layer.outputs[0]
            users = uses.get(vid, [])
            if users and all(REGISTRY[u.type].kind in _TARGET_KINDS and k == 1 for u, k in users):
                out.add(vid)
        return out

    def emit_layer(self, b: _Builder, layer: Layer, suffix: str = "") -> None:
        if layer.params.get("skip_at_test") is True and not b.net.training and len(layer.inputs) == 1:
            # A random layer that runs only where an optimizer trains: NNC leaves it out of the
            # networks it derives (MainValidation), but runs it in a network written out in full,
            # so it is not written here at all; its output is its input.
            vid = layer.outputs[0]
            b.source[vid] = b.source[layer.inputs[0]]
            if b.io is not None and vid in b.net.outputs:  # the network's output is then its input's
                b.io["outputs"][b.net.value(vid).name] = [(b.layers[b.source[vid][0]], "")]
            return
        props = layer_properties(layer)
        parametric = bool(layer.parameters)
        if self._inline and "ParameterScope" in props:  # inside a unit written out in place
            own = props["ParameterScope"]
            props["ParameterScope"] = "/".join([*self._inline, local_name(layer.name) if own == "*Name" else own])
        try:
            name = "_".join([*self._inline, local_name(layer.name) + _copy_suffix(suffix)])
            props = {"Name": b.unique(name, parametric), **props}
        except ExportError as e:
            raise ExportError(e.message, layer) from None
        if layer.type == "Input" and not props.get("Dataset"):
            props["Dataset"] = b.net.value(layer.outputs[0]).name
        spec = REGISTRY[layer.type]
        inputs = list(layer.inputs)
        target_name = ""
        if spec.kind in _TARGET_KINDS and len(inputs) == 2 and "T.Dataset" in props:
            target = b.net.value(inputs[1])
            producer = b.net.layers[target.producer] if target.producer is not None else None
            if producer is not None and producer.type == "Input":
                props["T.Dataset"] = producer.params.get("dataset") or target.name
                inputs = inputs[:1]
                target_name = target.name
        nl = b.add(layer.type, props)
        b.shapes[id(nl)] = tuple(b.net.value(v).shape for v in (*inputs, *layer.outputs))
        data = len(inputs) - len(layer.connectors)
        for k, vid in enumerate(inputs):
            if k >= data:  # a Parameter layer given to a connector: NNC's pin of that connector (W = 1, b = 2)
                b.link(vid, nl.id, _connector_pin(layer.type, layer.connectors[k - data]))
            else:
                b.link(vid, nl.id, _input_pin(layer.type, k))
        for pin, vid in enumerate(layer.outputs):
            b.source[vid] = (nl.id, pin)
        if b.io is not None:
            if target_name:
                b.io["inputs"].setdefault(target_name, []).append((nl, "_T"))
            if layer.type == "Input":
                b.io["inputs"].setdefault(b.net.value(layer.outputs[0]).name, []).append((nl, ""))
            for vid in layer.outputs:
                if vid in b.net.outputs:
                    b.io["outputs"][b.net.value(vid).name] = [(nl, "")]

    def _boundary(self, b: _Builder, scope: Scope) -> tuple[list[int], list[int]]:
        """The values a scope reads from outside (in first-use order) and the values it
        gives to the rest of the network."""
        inside = scope.layers()
        produced = {vid for layer in inside for vid in layer.outputs}
        ins: list[int] = []
        for layer in inside:
            for vid in layer.inputs:
                if vid not in produced and vid not in ins:
                    ins.append(vid)
        ids = {id(layer) for layer in inside}
        consumers = self._consumers(b.net)
        outputs = set(b.net.outputs)
        outs = [
            vid for vid in sorted(produced) if vid in outputs or any(user not in ids for user in consumers.get(vid, ()))
        ]
        return ins, outs

    def _consumers(self, net: Network) -> dict[int, list[int]]:
        """value id -> id() of the layers that read it, once per network."""
        found = self._readers.get(net.name)
        if found is None:
            found = {}
            for layer in net.layers:
                for vid in layer.inputs:
                    found.setdefault(vid, []).append(id(layer))
            self._readers[net.name] = found
        return found

    def _one_in_one_out(self, b: _Builder, scope: Scope) -> bool:
        ins, outs = self._boundary(b, scope)
        return len(ins) == 1 and len(outs) == 1

    def emit_inline(self, b: _Builder, scope: Scope, callees: list[_Instance], suffix: str = "") -> None:
        """A unit instance of several inputs or outputs (a trunk with auxiliary heads), which an NNC
        Unit layer cannot be (one input pin, one output): its layers written out in the caller's
        network, each named after its path (`net_aux1_fc`) with the instance's path in its
        ParameterScope (`net/aux1/fc`), so that create_prototxt names the parameters as nndsl does."""
        segment = (_unit_scope(scope) or local_name(scope.name) + _copy_suffix(suffix)) if scope.scoped else ""
        b.comments.append(
            f"{local_name(scope.name)}: an instance of unit {scope.unit} written out in place (it has several inputs "
            "or outputs; an NNC Unit layer has one of each), its layers named after their paths"
        )
        if segment:
            self._inline.append(segment)
        try:
            self.emit(b, scope, callees, suffix)
        finally:
            if segment:
                self._inline.pop()

    def emit_unit(self, b: _Builder, scope: Scope, callees: list[_Instance], suffix: str = "") -> None:
        ins, outs = self._boundary(b, scope)
        if len(outs) != 1 or len(ins) != 1:
            # NNC's Unit layer has one input pin (a second Input of the unit network becomes a
            # dataset variable; linked to pin 1, create_prototxt fails) and one output.
            count, what = (len(outs), "outputs") if len(outs) != 1 else (len(ins), "inputs")
            raise ExportError(
                f"unit instance {scope.name!r} has {count} {what}; an NNC Unit layer has one input and one output",
                scope.layers()[0],
            )
        # A scope-less call's parameters are named in the caller's scope (NNC: an empty
        # ParameterScope), so its Unit layer's own name names nothing: numbered like a
        # parameterless layer where it repeats one.
        props = {
            "Name": b.unique("_".join([*self._inline, local_name(scope.name) + _copy_suffix(suffix)]), scope.scoped),
            "Network": "",
            "ParameterScope": _unit_scope(scope) or ("*Name" if scope.scoped else ""),
        }
        if self._inline:  # inside a unit written out in place: its path, then the call's own scope
            own = _unit_scope(scope) or (local_name(scope.name) if scope.scoped else "")
            props["ParameterScope"] = "/".join([*self._inline, own] if own else self._inline)
        props.update({arg: nnc_value(value) for arg, value in scope.args})
        unit_layer = b.add("Unit", props)
        b.shapes[id(unit_layer)] = tuple(b.net.value(v).shape for v in (*ins, *outs))
        for vid in ins:
            b.link(vid, unit_layer.id)
        b.source[outs[0]] = (unit_layer.id, 0)
        if b.io is not None and outs[0] in b.net.outputs:
            b.io["outputs"][b.net.value(outs[0]).name] = [(unit_layer, "/")]
        # The unit's own network, as this instance has it.
        ub = _Builder(scope.unit, b.net, shapes=self.shapes)
        for k, vid in enumerate(ins):
            value = b.net.value(vid)
            name = "Input" if k == 0 else f"Input_{k + 1}"
            layer = ub.add(
                "Input",
                {
                    "Name": ub.unique(name, False),
                    "Size": nnc_value(value.shape),
                    "Dataset": "x" if k == 0 else f"x{k + 1}",
                    "Generator": "None",
                    "GeneratorMultiplier": "1.0",
                    "Order": "-1",
                },
            )
            ub.source[vid] = (layer.id, 0)
            ub.shapes[id(layer)] = (value.shape,)
        for arg, value in scope.args:
            ub.add("Argument", {"Name": arg, "Value": nnc_value(value), "Type": _arg_type(value), "Search": "False"})
        inner: list[_Instance] = []
        outer, self._inline = self._inline, []  # the unit's own network: its scopes start anew
        try:
            self.emit(ub, scope, inner)
        finally:
            self._inline = outer
        consumers = [k for k in ub.links if (k.source, k.source_pin) == ub.source[outs[0]]]
        if consumers:  # the output is also used inside: NNC's output is a layer nothing reads
            ident = ub.add("Identity", {"Name": ub.unique("Identity", False)})
            ub.link(outs[0], ident.id)
        instance = _Instance(scope, ub.network(), unit_layer, inner)
        self.instances.setdefault(scope.unit, []).append(instance)
        callees.append(instance)

    def emit_repeat(self, b: _Builder, scope: Scope, callees: list[_Instance], suffix: str = "") -> None:
        copies = [item for item in scope.items if isinstance(item, Scope)]
        if not copies:
            return
        ins, outs = self._boundary(b, copies[0])
        same_shape = len(ins) == 1 and len(outs) == 1 and b.net.value(ins[0]).shape == b.net.value(outs[0]).shape
        if same_shape and self._alike(b, copies):
            start = b.add("RepeatStart", {"Name": b.unique("RepeatStart", False), "Times": str(len(copies))})
            b.link(ins[0], start.id)
            outside = b.source[ins[0]]
            b.source[ins[0]] = (start.id, 0)  # inside the body only: the input is RepeatStart's
            self.emit(b, copies[0], callees, suffix)
            b.source[ins[0]] = outside
            end = b.add("RepeatEnd", {"Name": b.unique("RepeatEnd", False)})
            b.link(outs[0], end.id)
            _, last_outs = self._boundary(b, copies[-1])
            b.source[last_outs[0]] = (end.id, 0)
            return
        # Copies that differ, or change the shape (NNC's RepeatEnd must give RepeatStart's
        # shape): written out one by one, named as nnabla names repeat copies.
        b.comments.append(
            f"{local_name(scope.name)}: a repeat written out copy by copy (its copies differ or change the shape), "
            f"so its layers are named {local_name(scope.name)}0, 1, ... where nnabla would say [0], [1]"
        )
        self.written_out.add(scope.name)
        for copy in copies:
            self.emit(b, copy, callees, f"{suffix}[{copy.index}]")

    def _alike(self, b: _Builder, copies: list[Scope]) -> bool:
        first = _signature(copies[0])
        return all(_signature(c) == first for c in copies[1:])

    # --- units: one network per unit, or one per distinct instance --------------------------

    def resolve_units(self) -> list[NncNetwork]:
        taken = {net.name for net in self.project.networks}
        done: dict[int, str] = {}  # id(instance) -> its network's name
        out: list[NncNetwork] = []
        pending = dict(self.instances)
        while pending:
            ready = [u for u, insts in pending.items() if all(id(c) in done for i in insts for c in i.callees)]
            if not ready:  # cannot happen: units do not call themselves
                raise ExportError("units call each other in a cycle")
            for unit in ready:
                insts = pending.pop(unit)
                for inst in insts:
                    for callee in inst.callees:
                        callee.unit_layer.props["Network"] = done[id(callee)]
                groups = _group(insts)
                for network, members in groups:
                    if network is not members[0].network:
                        _carry_shapes(network, members[0].network, self.shapes)
                for k, (network, members) in enumerate(groups):
                    name = unit if k == 0 and unit not in taken else _fresh(unit, taken)
                    taken.add(name)
                    network.name = name
                    _rename_where(network)
                    if len(groups) > 1:
                        note = (
                            f"unit {unit}: its instances differ in more than argument values (an if or a "
                            "repeat count on an argument, an argument passed on to another unit, batch "
                            "statistics in a trained network), so NNC has one network for each kind; "
                            f"this one is for {_args_text(members[0])}"
                            + (" in a trained network" if _trained(network) else "")
                        )
                        _add_comment(network, note)
                    for text in self.notes.get(unit, ()):
                        _add_comment(network, text)
                    for inst in members:
                        done[id(inst)] = name
                        inst.unit_layer.props["Network"] = name
                    out.append(network)
        return out

    def export(self, *, every_network: bool = False) -> NncProject:
        """The project `nndsl export` writes. NNC's create_prototxt converts only the networks
        an optimizer, monitor or executor uses; `every_network` adds an executor for each
        network no role uses (`export_<network>`), so that the checks (the fixture scripts and
        the live tests) have nnabla run every network. The user's export has none of them."""
        networks: list[NncNetwork] = []
        for net in self.project.networks:
            b = _Builder(net.name, net, shapes=self.shapes, io={"inputs": {}, "outputs": {}})
            self.io[net.name] = b.io
            b.comments.extend(self.notes.get(net.name, ()))
            self.emit(b, structure(net), [])
            networks.append(b.network())
        # NNC's error_check finds a nested Unit's output only when the caller's network comes
        # before the callee's (as in NNC's SqueezeNet sample): units first, outermost first.
        networks = self.resolve_units()[::-1] + networks
        disambiguate(networks, self.shapes)
        project = NncProject(self.project.path, networks)
        project.sections = config_sections(self.project)
        if every_network:
            _an_executor_per_unused_network(project.sections, self.project)
        return project


def nnabla_io(exporter: Exporter) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per network, its inputs and outputs by .nnd name -> nnabla's variable names in the
    converted project: the Input layer's name, and `<loss>_T` for each loss that reads the
    input as its target itself (`T.Dataset`); an output a Unit layer gives is `<unit name>/`
    followed by its last layer's name."""
    return {
        net: {
            kind: {name: [layer.name + suffix for layer, suffix in found] for name, found in names.items()}
            for kind, names in io.items()
        }
        for net, io in exporter.io.items()
    }


def _connector_pin(layer_type: str, connector: str) -> int:
    """The NNC pin of a parameter connector: pin 0 is the data, then the connectors in NNC's order."""
    return 1 + [c.name for c in COMPONENTS[layer_type]["connectors"]].index(connector)


def _input_pin(layer_type: str, k: int) -> int:
    """The NNC pin of a layer's k-th input. NNC links a layer's main input, and every input of
    a variadic one (Add2, Mul2, Concatenate), to pin 0; an input NNC names (Sub2's and
    BatchMatmul's `R`, a loss's `T`: a Data connector) has pin 1, 2, ... in NNC's order."""
    if k == 0:
        return 0
    named = [c for c in COMPONENTS[layer_type]["connectors"] if c.kind == "Data"]
    return k if k <= len(named) else 0


def _copy_suffix(suffix: str) -> str:
    """`[0][2]` as NNC keeps it in a name: NNC drops brackets from layer names (`X[0]` is
    `X0` in its nntxt), so a written-out copy is `X0`, nested `X0_2`."""
    return "_".join(re.findall(r"\[(\d+)\]", suffix))


def export_parameter_table(exporter: Exporter) -> dict[str, tuple[str, tuple[int, ...]]]:
    """nndsl parameter name -> (nnabla name, nnabla shape) in the exported project: the
    table of `names.nnc_parameter_table`, except inside repeats written out copy by copy,
    whose copies NNC names `X0`, `X1` (it keeps no brackets in a layer's name)."""
    from .names import nnc_layer_path, nnc_parameter_name, nnc_parameter_table, nnc_shape

    table = nnc_parameter_table(exporter.project)
    if not exporter.written_out:
        return table
    for net in exporter.project.networks:
        for layer in net.layers:
            names = {q for q, _, _ in layer.repeats}
            if not names & exporter.written_out:
                continue
            path = _written_out_path(layer, exporter.written_out) or nnc_layer_path(layer)
            for p in layer.parameters:
                tail = nnc_parameter_name(layer, p)[len(nnc_layer_path(layer)) :]  # /conv/W
                table[layer.parameter_name(p)] = (path + tail, nnc_shape(layer, p))
    return table


def _written_out_path(layer: Layer, written_out: set[str]) -> str:
    """`nnc_layer_path` with the indices of written-out repeats as NNC's name suffix."""
    units = {frame.name for frame in layer.origin.via if frame.kind == "unit"}
    parts: list[str] = []
    pending = ""
    flat: list[str] = []
    qualified = ""
    segments = layer.name.split(".")
    for i, segment in enumerate(segments):
        qualified = f"{qualified}.{segment}" if qualified else segment
        copy = re.match(r"^(?P<label>.+)\[(?P<index>\d+)\]$", segment)
        if copy is not None and i < len(segments) - 1:
            repeat = qualified[: -len(f"[{copy['index']}]")]
            if repeat in written_out:
                flat.append(copy["index"])
                index = ""
            else:
                index = f"[{copy['index']}]"
            if qualified in units:
                parts.append(f"{copy['label']}{'_'.join(flat)}{pending}{index}")
                pending, flat = "", []
            else:
                pending += index
            continue
        parts.append(segment + "_".join(flat) + pending)
        pending, flat = "", []
    return "/".join(parts)


def _trained(network: NncNetwork) -> bool:
    return any(layer.props.get("BatchStat") == "True" for layer in network.layers)


def _comments(result: Result) -> dict[str, list[str]]:
    """The `#` comments inside each network's and unit's body, by its name: one text per run
    of consecutive comment lines, lines joined by NNC's `\\n` (as in its Description)."""
    out: dict[str, list[str]] = {}
    for module in result.modules:
        bodies = [
            (item.name, item.span.line, item.span.end_line)
            for item in module.items
            if isinstance(item, (ast.Unit, ast.Network))
        ]
        runs: list[tuple[str, int, list[str]]] = []  # (owner, last line, lines)
        for comment in module.comments:
            owner = next((name for name, lo, hi in bodies if lo < comment.line <= hi), None)
            if owner is None:
                continue
            text = comment.text[1:].strip()
            if runs and runs[-1][0] == owner and runs[-1][1] == comment.line - 1:
                runs[-1][2].append(text)
                runs[-1] = (owner, comment.line, runs[-1][2])
            else:
                runs.append((owner, comment.line, [text]))
        for owner, _, lines in runs:
            out.setdefault(owner, []).append("\\n".join(lines))
    return out


def _arg_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Text"
    if isinstance(value, int):
        return "Text"
    if isinstance(value, float):
        return "Float"
    return "Text"


def _args_text(inst: _Instance) -> str:
    return ", ".join(f"{k}={nnc_value(v)}" for k, v in inst.scope.args) or "no arguments"


def _fresh(name: str, taken: set[str]) -> str:
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def _rename_where(network: NncNetwork) -> None:
    for k, layer in enumerate(network.layers):
        layer.where = Where(network.name, f"{network.name}_Layer_{k}", 0)


def _add_comment(network: NncNetwork, text: str) -> None:
    """A Comment layer to the right of the network's layers, below the comments there."""
    xs = [layer.position[0] + layer.position[2] for layer in network.layers if layer.type != "Comment"]
    notes = [layer for layer in network.layers if layer.type == "Comment"]
    names = {layer.name for layer in network.layers}
    name, n = "Comment", 2
    while name in names:
        name, n = f"Comment_{n}", n + 1
    layer = NncLayer(len(network.layers), "Comment", {"Name": name, "Comment": text}, network.where)
    x = max((layer.position[0] for layer in notes), default=max(xs, default=0) + _DX - _WIDTH)
    y = max((layer.position[1] + layer.position[3] for layer in notes), default=0) + _Y0
    layer.position = (x, y, _WIDTH * 2, _HEIGHT * 2)
    network.layers.append(layer)


def disambiguate(networks: list[NncNetwork], shapes: dict[int, tuple]) -> None:
    """NNC takes layers of one name in different networks to be one layer and refuses them
    when their properties or shapes differ ("Differs between network ..."). A layer without
    parameters that shares its name with a different one elsewhere gets the next free
    `_k` name; layers with parameters keep theirs (the name is their parameters')."""
    first: dict[str, tuple] = {}
    used: dict[str, set[str]] = {net.name: {layer.name for layer in net.layers} for net in networks}
    every = {layer.name for net in networks for layer in net.layers}
    tried: dict[tuple, int] = {}  # (network, base name, layer) -> the next `_k` to try
    for net in networks:
        for layer in net.layers:
            if layer.type in ("Comment", "Argument") or (layer.type in _PARAMETRIC and layer.type != "Input"):
                continue
            sig = (
                layer.type,
                tuple((k, v) for k, v in layer.props.items() if k != "Name"),
                shapes.get(id(layer)),
            )
            name = layer.name
            if first.setdefault(name, sig) == sig:
                continue
            base = re.sub(r"_\d+$", "", name)
            n = tried.get((net.name, base, sig), 2)
            # free in this network, and elsewhere either unused or the same layer
            while f"{base}_{n}" in used[net.name] or (f"{base}_{n}" in every and first.get(f"{base}_{n}") != sig):
                n += 1
            tried[(net.name, base, sig)] = n + 1
            new = f"{base}_{n}"
            every.add(new)
            first.setdefault(new, sig)
            used[net.name].add(new)
            layer.props["Name"] = new


def _unit_scope(scope: Scope) -> str:
    """The `parameter_scope` of a unit call (its layers' parameters are named after it, not
    after the instance), or ""."""
    n = scope.name.count(".") + 1
    for layer in scope.layers():
        if layer.scope:
            segment = layer.scope.split(".")[n - 1]
            return segment if segment != local_name(scope.name) else ""
    return ""


def _signature(scope: Scope) -> tuple:
    """What must be equal for two repeat copies to be one NNC repeat body."""
    items: list[tuple] = []
    for item in scope.items:
        if isinstance(item, Scope):
            items.append((item.kind, local_name(item.name), item.unit, item.args, item.count, _signature(item)))
        else:
            params = tuple(sorted((k, repr(v)) for k, v in item.params.items()))
            items.append(("layer", item.type, local_name(item.name), params, len(item.inputs)))
    return tuple(items)


def _group(insts: list[_Instance]) -> list[tuple[NncNetwork, list[_Instance]]]:
    """Instances whose networks are the same up to properties that follow an argument share
    one network (those properties become `*Argument`); the others get one network each.
    Each instance is compared once with each group of its structure: linear in the instances
    of a unit when they fall into a bounded number of groups."""
    by_structure: dict[tuple, list[_Group]] = {}
    groups: list[_Group] = []
    for inst in insts:
        key = _structure_key(inst.network)
        candidates = by_structure.setdefault(key, [])
        if not any(group.add(inst) for group in candidates):
            group = _Group(inst)
            candidates.append(group)
            groups.append(group)
    return [(group.network(), group.members) for group in groups]


def _structure_key(network: NncNetwork) -> tuple:
    """Layers (types, property names) and links: what instances sharing a network share."""
    layers = tuple(
        (layer.type, tuple(layer.props)) for layer in network.layers if layer.type not in ("Argument", "Comment")
    )
    links = tuple((k.source, k.source_pin, k.dest, k.dest_pin) for k in network.links)
    return layers, links


class _Group:
    """Instances of one unit sharing one network: the first instance's network, and for each
    property that differs between them the arguments it still follows in every one."""

    def __init__(self, inst: _Instance):
        self.members = [inst]
        self.first = inst.network
        self.varying: dict[tuple[int, str], list[str]] = {}  # (layer id, property) -> arguments
        # argument -> its value (NNC text) while the same in every member, else None
        self.constant: dict[str, str | None] = {a: nnc_value(v) for a, v in inst.scope.args}

    def add(self, inst: _Instance) -> bool:
        args = {a: nnc_value(v) for a, v in inst.scope.args}
        varying = dict(self.varying)
        for base, layer in zip(self.first.layers, inst.network.layers, strict=True):
            if base.type in ("Argument", "Comment", "Input"):
                continue
            for key, value in layer.props.items():
                where = (base.id, key)
                if where in varying:
                    follows = [a for a in varying[where] if args.get(a) == value]
                elif value != base.props[key]:
                    # NNC leaves an argument macro in a Unit's argument empty, and its tool refuses one
                    # in a parameter's setting (`W.InitializerMultiplier=*std`) in a unit called three
                    # Units deep ("An error occurred inside network"): those differ by network
                    if base.type == "Unit" or "." in key:
                        return False
                    old = base.props[key]
                    follows = [a for a, v in self.constant.items() if v == old and args.get(a) == value]
                else:
                    continue
                if not follows:
                    return False
                varying[where] = follows
        self.varying = varying
        for a, v in args.items():
            if self.constant.get(a) != v:
                self.constant[a] = None
        self.members.append(inst)
        return True

    def network(self) -> NncNetwork:
        """The first instance's network, with `*argument` where a property follows one."""
        if not self.varying:
            return self.first
        out = NncNetwork(self.first.name, [], list(self.first.links), self.first.where)
        for layer in self.first.layers:
            props = {
                k: f"*{self.varying[(layer.id, k)][0]}" if (layer.id, k) in self.varying else v
                for k, v in layer.props.items()
            }
            out.layers.append(NncLayer(layer.id, layer.type, props, layer.where, position=layer.position))
        return out


def _carry_shapes(merged: NncNetwork, first: NncNetwork, shapes: dict[int, tuple]) -> None:
    for new, old in zip(merged.layers, first.layers, strict=True):
        if id(old) in shapes:
            shapes[id(new)] = shapes[id(old)]


# --- layout -----------------------------------------------------------------------------------


def layout(layers: list[NncLayer], links: list[NncLink]) -> None:
    """Positions as NNC's samples have them: a chain top to bottom (one row each), a second
    consumer of a value opens a column to the right; Arguments and Comments to the side."""
    inputs: dict[int, list[int]] = {}
    for link in links:
        inputs.setdefault(link.dest, []).append(link.source)
    continued: set[int] = set()
    where: dict[int, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    columns = 0
    for layer in layers:
        if layer.type in ("Argument", "Comment"):
            continue
        srcs = [s for s in inputs.get(layer.id, []) if s in where]
        if srcs:
            row = max(where[s][1] for s in srcs) + 1
            first = srcs[0]
            if first not in continued:
                col = where[first][0]
                continued.add(first)
            else:
                col = columns
                columns += 1
        else:
            row, col = 0, columns
            columns += 1
        while (col, row) in taken:
            row += 1
        taken.add((col, row))
        where[layer.id] = (col, row)
    side = columns
    k = notes = 0
    for layer in layers:
        if layer.id in where:
            col, row = where[layer.id]
            layer.position = (_X0 + col * _DX, _Y0 + row * _DY, _WIDTH, _HEIGHT)
        elif layer.type == "Argument":
            layer.position = (_X0 + side * _DX, _Y0 + k * _DY, _WIDTH, _HEIGHT)
            k += 1
        else:
            layer.position = (_X0 + (side + 1) * _DX, _Y0 + notes * (_HEIGHT * 2 + _Y0), _WIDTH * 2, _HEIGHT * 2)
            notes += 1


# --- config -----------------------------------------------------------------------------------


def config_sections(project: Project) -> dict[str, list[NncSection]]:
    """The config as NNC's sections (`config_nnd.config_to_nnc`), with the datasets NNC needs
    (`_datasets_for_nnc`)."""
    sections = config_to_nnc(project.config, project.datasets, root=Path(project.path).parent)
    _datasets_for_nnc(sections, project)
    return sections


_PLACEHOLDER_DATASET = "dataset"


def _dataset_names(sections: dict[str, list[NncSection]]) -> list[str]:
    return [sec.items.get("Name", "") for sec in sections.get("Dataset", [])]


def _datasets_for_nnc(sections: dict[str, list[NncSection]], project: Project) -> None:
    """NNC's create_prototxt aborts without a dataset, and every role needs one: a spec
    without datasets gets an empty placeholder dataset; a role without a dataset gets the first."""
    where = Where(project.path, "", 0)
    header = sections.setdefault("Datasets", [NncSection("Dataset", {"Num": "0", "MainIndex": "0"}, where)])
    ds = sections.setdefault("Dataset", [])
    if not ds:
        header[0].items["Num"] = "1"
        items = {"Name": _PLACEHOLDER_DATASET, "URI": "", "Shuffle": "0", "EnableCache": "1"}
        ds.append(NncSection("Dataset_0", {**items, "ImageNormalization": "0", "NumData": "0"}, where))
    first = _dataset_names(sections)[0]
    for kind, prefix in (("Optimizer", "Optimizer_"), ("Monitor", "Monitor_"), ("Executor", "Executor_")):
        for sec in sections.get(kind, []):
            if not sec.items.get(f"{prefix}DatasetName"):
                sec.items[f"{prefix}DatasetName"] = first


def _an_executor_per_unused_network(sections: dict[str, list[NncSection]], project: Project) -> None:
    """An executor (one evaluation, no back propagation) for each network no role uses."""
    where = Where(project.path, "", 0)
    used = {
        sec.items.get(f"{prefix}NetworkName", "")
        for kind, prefix in (("Optimizer", "Optimizer_"), ("Monitor", "Monitor_"), ("Executor", "Executor_"))
        for sec in sections.get(kind, [])
    }
    executors = sections.setdefault("Executor", [])
    for net in project.networks:
        if net.name in used:
            continue
        items = {
            "Executor_Name": f"export_{net.name}",
            "Executor_NetworkName": net.name,
            "Executor_DatasetName": _dataset_names(sections)[0],
            "NumEvaluations": "1",
            "RepeatEvaluationType": "0",
            "NeedBackPropagation": "0",
        }
        executors.append(NncSection(f"Executor_{len(executors)}", items, where))
    config = sections.get("Config")
    if config:
        config[0].items["NumExecutor"] = str(len(executors))


def export_project(result: Result) -> NncProject:
    return Exporter(result).export()
