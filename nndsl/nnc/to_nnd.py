"""NNC networks as `.nnd` text, written as a person would write them.

`project_to_nnd(project)` turns the networks of an `NncProject` (read from a `.sdcproj`,
`.nntxt` or `.nnp`) into `.nnd` text that `nndsl fmt` leaves unchanged and the compiler
accepts; the config (datasets, optimizers, monitors, executors) comes from
`nndsl.nnc.config_nnd.config_to_nnd` when that module is present. What cannot be expressed
is reported as diagnostics positioned in the NNC file (file, section, line).

How NNC's graph becomes text:

- links become chains (`x -> A -> B`); a value used more than once, or at another input
  than the first, is bound to a name; merges are calls (`Add2(h, s)`); a value no layer
  consumes is an output (`loss`, `error`, `y'`, as NNC names its outputs);
- layer properties become the registry's parameters (`Param.nnc` is the NNC property
  name); only values other than nndsl's default are written; NNC's `*` macros
  (`*Name`, `*KernelShape`, `*ConvolutionPaddingSize`, `*Input`, `*AutoInPlaceOnce`...) are
  what nndsl derives itself, and `*Arg` names a unit argument;
- a loss's target pin that no link feeds reads a dataset column (`T.Dataset`): it becomes an
  `Input` of the shape the loss needs (found by compiling the network without it);
- RepeatStart/RepeatEnd become `repeat n { ... }`, nested as NNC nests them;
- Unit layers become unit calls, and the networks they name `unit`s with typed arguments
  (NNC's Argument layers); a Unit whose ParameterScope is empty puts its parameters in the
  caller's scope: a scope-less call, `_: VGG11`, whose unit's layers are named in the caller's
  scope (a caller's layer whose default name one of them takes is labelled with another);
  per-instance properties of a unit's layers (`Squeeze.W.LRateMultiplier`) that differ from
  the unit's own become unit arguments;
- layers keep NNC's names as labels where they carry parameters (their parameters then
  have NNC's names) or where a derived network refers to them; other layers take nndsl's
  default names; a layer whose ParameterScope is another name is labelled with it, and layers
  (or Unit layers) of one network that share a ParameterScope keep their own names and carry
  `parameter_scope="..."`;
- Comment layers become `#` comments before the statement of the nearest layer;
- a network equal to an earlier one but for some parameters is `network B = A with {...}`;
- NNC derives `MainValidation` (without SkipAtTest layers, batch statistics off) and
  `MainRuntime` (also without losses) from a network `Main` when the project does not define
  them: so does the importer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..layers import REGISTRY
from ..layers.base import BOOL, CHOICE, DERIVED, FLOAT, FLOATS, INT, INTS, SHAPE, STR, LayerSpec, Param, snake
from ..layers.parameter import CONNECTORS
from .components import COMPONENTS
from .idents import ident
from .project import NncLayer, NncLink, NncNetwork, NncProject, Where

# Properties of the editor and of NNC's engine that say nothing about the network.
EDITOR_ONLY = frozenset({"Name", "InPlace", "SkipAtInspection", "Position", "IsParam", "Order"})
# Properties NNC's `complete` writes: computed, never the user's.
COMPUTED = frozenset(
    {"Input", "Output", "CostParameter", "CostAdd", "CostMultiply", "CostMultiplyAdd", "CostDivision", "CostExp"}
    | {"CostIf", "IsLossFunction", "BaseAxis"}
)
RECURRENT = frozenset({"RecurrentInput", "RecurrentOutput", "Delay", "LSTM"})
STRUCTURAL = frozenset({"RepeatStart", "RepeatEnd", "Unit", "Argument", "Comment"})
# NNC Argument types -> .nnd unit parameter types ("" : inferred from where it is used).
ARG_TYPES = {
    "Boolean": "bool",
    "Bool": "bool",
    "Int": "int",
    "PInt": "int",
    "UInt": "int",
    "IntArray": "shape",
    "PIntArray": "shape",
    "UIntArray": "shape",
    "Float": "float",
    "File": "string",
    "Text": "",
}
_PARAM_TO_ARG = {INT: "int", FLOAT: "float", BOOL: "bool", STR: "string", CHOICE: "string", SHAPE: "shape"}
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\Z")
_ARITH = re.compile(r"[0-9eE.+\-*/() ]+\Z")


@dataclass(slots=True)
class Problem:
    """A diagnostic about the NNC source: `severity` "error" (nothing is written) or
    "warning" (written, with something lost)."""

    where: Where
    message: str
    severity: str = "error"
    code: str = "E0981"

    def __str__(self) -> str:
        return f"{self.where} {self.severity}: {self.message}"


class _Skip(Exception):
    """A network that cannot be translated; its problems are already recorded."""


# --- values ------------------------------------------------------------------------------------


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


@dataclass(slots=True)
class _Ctx:
    """Where a layer is being written: the unit's arguments in scope (NNC name -> .nnd name)."""

    args: dict[str, str] = field(default_factory=dict)
    arg_uses: dict[str, set[str]] = field(default_factory=dict)  # NNC arg -> param types it is used as


def _scalar(text: str, type_: str, ctx: _Ctx) -> str | None:
    """One NNC value of a scalar type as .nnd text; None when it cannot be read."""
    t = text.strip()
    if t.startswith("*") and t[1:] in ctx.args:
        ctx.arg_uses.setdefault(t[1:], set()).add(type_)
        return ctx.args[t[1:]]
    if type_ == BOOL:
        return {"true": "true", "false": "false"}.get(t.lower())
    if type_ == INT:
        return t if re.fullmatch(r"[+-]?\d+", t) else None
    if type_ == FLOAT:
        if _NUMBER.match(t):
            return t.lstrip("+")
        if _ARITH.match(t) and re.search(r"\d", t):  # NNC accepts arithmetic: Brightness=10/255
            try:
                value = _arith(t)
            except (ValueError, ZeroDivisionError, OverflowError):
                return None
            return (
                " ".join(re.findall(r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+|[-+*/()]", t)) if math.isfinite(value) else None
            )
        return None
    if type_ in (STR, CHOICE):
        return _string(t)
    return None


def _arith(text: str) -> float:
    """Evaluate + - * / and parentheses over numbers (no names, no calls): a small parser."""
    tokens = re.findall(r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+|[-+*/()]", text)
    if "".join(tokens) != text.replace(" ", ""):
        raise ValueError(text)
    pos = 0

    def atom() -> float:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(text)
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            v = expr()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError(text)
            pos += 1
            return v
        if tok in "+-":
            return -atom() if tok == "-" else atom()
        return float(tok)

    def term() -> float:
        nonlocal pos
        v = atom()
        while pos < len(tokens) and tokens[pos] in "*/":
            op = tokens[pos]
            pos += 1
            v = v * atom() if op == "*" else v / atom()
        return v

    def expr() -> float:
        nonlocal pos
        v = term()
        while pos < len(tokens) and tokens[pos] in "+-":
            op = tokens[pos]
            pos += 1
            v = v + term() if op == "+" else v - term()
        return v

    if len(tokens) > 200:
        raise ValueError(text)
    v = expr()
    if pos != len(tokens):
        raise ValueError(text)
    return v


def _value(text: str, p: Param, ctx: _Ctx) -> str | None:
    """An NNC property value as .nnd text for parameter `p`."""
    t = text.strip()
    if p.type in (SHAPE, INTS, FLOATS):
        if t.startswith("*") and t[1:] in ctx.args:
            ctx.arg_uses.setdefault(t[1:], set()).add(SHAPE if p.type != FLOATS else FLOATS)
            return ctx.args[t[1:]]
        parts = [s.strip() for s in t.rstrip(",").split(",")] if t else []
        item = FLOAT if p.type == FLOATS else INT
        out = [_scalar(s, item, ctx) for s in parts]
        if not parts or any(v is None for v in out):
            return None
        if len(out) == 1:
            return out[0]
        if p.type in (SHAPE, INTS) and all(re.fullmatch(r"\d+", v) for v in out):
            return "x".join(out)
        return "[" + ", ".join(out) + "]"
    return _scalar(t, p.type, ctx)


def _parsed(text: str, p: Param):
    """The Python value of a literal NNC value (to compare with the default), or None."""
    t = text.strip()
    try:
        if p.type == INT:
            return int(t)
        if p.type == FLOAT:
            return float(t) if _NUMBER.match(t) else _arith(t)
        if p.type == BOOL:
            return {"true": True, "false": False}[t.lower()]
        if p.type in (STR, CHOICE):
            return t
        if p.type in (SHAPE, INTS):
            return tuple(int(v) for v in t.rstrip(",").split(",")) if t else ()
        if p.type == FLOATS:
            return tuple(float(v) for v in t.rstrip(",").split(",")) if t else ()
    except (ValueError, KeyError, ZeroDivisionError, OverflowError):
        return None
    return None


def _same(a, b) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        if len(a) != len(b) and len(set(a)) == 1 and len(set(b)) == 1 and a and b:
            return a[0] == b[0]  # NNC's uniform default 1,1 equals nndsl's on any rank
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return a == b


# --- the graph of one network ------------------------------------------------------------------

Pin = tuple[int, int]  # (layer ID, pin)


@dataclass(slots=True)
class _Graph:
    """One network's layers and links by ID (Comment and Argument layers aside)."""

    name: str
    where: Where
    layers: dict[int, NncLayer]
    order: list[int]  # file order
    ins: dict[int, dict[int, Pin]]  # layer -> dest pin -> source (layer, pin)
    outs: dict[Pin, list[Pin]]  # (layer, source pin) -> [(dest layer, dest pin)]
    comments: list[NncLayer] = field(default_factory=list)
    args: list[NncLayer] = field(default_factory=list)
    pins: dict[int, set[int]] = field(default_factory=dict)  # layer -> its output pins that are linked

    def consumers(self, v: Pin) -> list[Pin]:
        return self.outs.get(v, [])

    def out_pins(self, lid: int) -> list[int]:
        return sorted(self.pins.get(lid, ())) or [0]

    def link(self, src: Pin, dst: Pin) -> None:
        self.ins.setdefault(dst[0], {})[dst[1]] = src
        self.outs.setdefault(src, []).append(dst)
        self.pins.setdefault(src[0], set()).add(src[1])

    def remove(self, lid: int) -> None:
        for pin, src in self.ins.pop(lid, {}).items():
            self.outs[src] = [d for d in self.outs.get(src, []) if d != (lid, pin)]
        for pin in self.pins.pop(lid, ()):
            for dst in self.outs.pop((lid, pin), []):
                self.ins.get(dst[0], {}).pop(dst[1], None)
        del self.layers[lid]
        self.order.remove(lid)

    def bypass(self, lid: int) -> None:
        """Remove a one-input layer, its consumers reading its input instead."""
        src = self.ins.get(lid, {}).get(0)
        consumers = list(self.consumers((lid, 0)))
        self.remove(lid)
        if src is not None:
            for dst in consumers:
                self.link(src, dst)

    def copy(self, name: str) -> _Graph:
        return _Graph(
            name,
            self.where,
            dict(self.layers),
            list(self.order),
            {k: dict(v) for k, v in self.ins.items()},
            {k: list(v) for k, v in self.outs.items()},
            list(self.comments),
            list(self.args),
            {k: set(v) for k, v in self.pins.items()},
        )


def _graph(net: NncNetwork, problems: list[Problem]) -> _Graph:
    g = _Graph(net.name, net.where, {}, [], {}, {})
    for layer in net.layers:
        if layer.type == "Comment":
            g.comments.append(layer)
        elif layer.type == "Argument":
            g.args.append(layer)
        else:
            g.layers[layer.id] = layer
            g.order.append(layer.id)
    # NNC links every input of a merge (Add2, Concatenate...) to pin 0, in link order: inputs
    # are taken in the order of their pin, then of their link.
    incoming: dict[int, list[NncLink]] = {}
    for link in net.links:
        if link.source not in g.layers or link.dest not in g.layers:
            problems.append(Problem(link.where, "links a Comment or Argument layer, which have no pins"))
            continue
        incoming.setdefault(link.dest, []).append(link)
    for dest, links in incoming.items():
        pins = [k.dest_pin for k in links]
        renumber = len(set(pins)) != len(pins)
        for k, link in enumerate(sorted(links, key=lambda x: x.dest_pin)):
            g.link((link.source, link.source_pin), (dest, k if renumber else link.dest_pin))
    return g


def _topo(g: _Graph) -> list[int]:
    """Layers in dependency order, ties broken by file order (the reader refused cycles;
    links into Delay layers are left out, as there)."""
    import heapq

    rank = {lid: k for k, lid in enumerate(g.order)}
    indeg = {lid: 0 for lid in g.order}
    for lid in g.order:
        if g.layers[lid].type == "Delay":
            continue
        indeg[lid] = sum(1 for src in g.ins.get(lid, {}).values() if src[0] in indeg)
    heap = [(rank[i], i) for i in g.order if indeg[i] == 0]
    heapq.heapify(heap)
    out: list[int] = []
    seen: set[int] = set()
    while heap:
        _, lid = heapq.heappop(heap)
        if lid in seen:
            continue
        seen.add(lid)
        out.append(lid)
        for pin in g.out_pins(lid):
            for dst, _ in g.consumers((lid, pin)):
                if dst in indeg and g.layers[dst].type != "Delay":
                    indeg[dst] -= 1
                    if indeg[dst] == 0:
                        heapq.heappush(heap, (rank[dst], dst))
    out.extend(i for i in g.order if i not in seen)
    return out


def _unit_inputs(g: _Graph) -> list[int]:
    return [lid for lid in g.order if g.layers[lid].type == "Input"]


def _unit_outputs(g: _Graph) -> list[int]:
    return [lid for lid in g.order if not any(g.consumers((lid, p)) for p in g.out_pins(lid))]


def _scope(layer: NncLayer) -> str:
    """A layer's ParameterScope: '*Name' (its own name, NNC's default), '' or a name."""
    return layer.props.get("ParameterScope", "*Name").strip()


# --- the translator ----------------------------------------------------------------------------


@dataclass
class Translation:
    """What `translate` made: the text (None when errors stop it), every problem, and for
    each network's own layers (not those of unit networks) the nndsl name of the layer NNC
    calls `name` (its first copy inside repeats): {network: {NNC name: nndsl name}}."""

    text: str | None
    problems: list[Problem]
    layer_names: dict[str, dict[str, str]] = field(default_factory=dict)
    # what the config translation (nndsl.nnc.config_nnd) reported: nndsl Diagnostics
    config_diagnostics: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.text is not None and not any(p.severity == "error" for p in self.problems)


_CLASS_LOSSES = ("SoftmaxCrossEntropy", "CategoricalCrossEntropy", "TopNError")
MAX_UNIT_DEPTH = 64
SCOPELESS = "_"  # the label of a scope-less unit call (nndsl.passes.expand)


class _Names:
    """Unique value names in one unit or network body."""

    def __init__(self, taken: set[str] | None = None):
        self.taken = set(taken or ())
        self.counters: dict[str, int] = {}

    def new(self, base: str) -> str:
        base = ident(base)
        name, n = base, self.counters.get(base, 1)
        if name in self.taken:
            while name in self.taken:
                n += 1
                name = f"{base}_{n}" if not base.endswith("'") else f"{base[:-1]}_{n}'"
        self.counters[base] = n
        self.taken.add(name)
        return name


def _value_base(name: str) -> str:
    """A value's name after the layer computing it: `BatchNormalization_2` -> `batch_normalization_2`."""
    for word in ("PReLU", "ReLU", "ELU", "CReLU"):  # acronyms stay one word
        name = name.replace(word, word.capitalize())
    return snake(re.sub(r"[^A-Za-z0-9_]", "_", name)) or "h"


class Translator:
    def __init__(self, project: NncProject):
        self.project = project
        self.problems: list[Problem] = []
        self.graphs: dict[str, _Graph] = {}
        self.nets = {n.name: n for n in project.networks}
        self.unit_text: dict[str, str] = {}
        self.unit_args: dict[str, list[tuple[str, str, str, str]]] = {}  # net -> [(nnc, nnd, type, default nnc text)]
        self.unit_outs: dict[str, int] = {}
        self.unit_layer_names: dict[str, set[str]] = {}  # unit -> the layer names its body takes
        self.extra: dict[str, dict[tuple[str, str], str]] = {}  # unit -> (layer, prop) -> arg name
        self.layer_names: dict[str, dict[str, str]] = {}
        self.targets: dict[str, dict[int, tuple[int, ...]]] = {}  # network -> loss ID -> target shape
        self.probe = False
        trained = {sec.items.get("Optimizer_NetworkName", "").strip() for sec in project.section("Optimizer")} - {""}
        self.trained = trained or {"Training", "Main"}
        self.main_derived: set[str] = set()  # MainValidation / MainRuntime, derived as NNC derives them
        self.in_shapes: dict[tuple[str, int], tuple[int, ...]] = {}
        # (network, Parameter layer ID) -> the shape of the connector it feeds (NNC's *GraphOutput),
        # read from a probe compile; see _parameter_sizes.
        self.param_sizes: dict[tuple[str, int], tuple[int, ...]] = {}
        self._probed = None  # the last probe compile's project
        self.unit_nets: set[str] = set()  # the networks Unit layers call
        self.callers: dict[str, set[str]] = {}  # unit -> the networks that call it (see _callers)

    def error(self, where: Where, message: str) -> None:
        self.problems.append(Problem(where, message))

    def warn(self, where: Where, message: str) -> None:
        self.problems.append(Problem(where, message, "warning", "W120"))

    # -- the project ------------------------------------------------------------------------

    def translate(self) -> Translation:
        unit_names = set()
        scoped_units: list[str] = []
        for net in self.project.networks:
            for layer in net.layers:
                if layer.type == "Unit":
                    target = layer.props.get("Network", "").strip()
                    if target not in self.nets:
                        where = Where(
                            layer.where.file, layer.where.section, layer.prop_lines.get("Network", layer.where.line)
                        )
                        self.error(
                            where, f"Unit '{layer.name}' names network '{target}', which the project does not define"
                        )
                        continue
                    unit_names.add(target)
                    if target not in scoped_units:
                        scoped_units.append(target)
        for net in self.project.networks:
            g = _graph(net, self.problems)
            self.graphs[net.name] = g
        self._check_unit_cycles()
        self._unit_overrides(
            [n.name for n in self.project.networks if n.name not in unit_names or n.name in scoped_units]
        )
        networks = [n.name for n in self.project.networks if n.name not in unit_names]
        self.unit_nets = unit_names
        graphs = {name: self.graphs[name] for name in networks}
        self._derive_main(networks, graphs)
        checked: set[int] = set()
        for g in [*graphs.values(), *self.graphs.values()]:
            for layer in g.layers.values():
                if id(layer) not in checked:
                    checked.add(id(layer))
                    self._check_layer(layer, g)
        if any(p.severity == "error" for p in self.problems):
            return Translation(None, _unique(self.problems))
        derived = self._derivations(networks, graphs)
        self.callers = self._callers(networks, graphs)
        # Units first (in file order, a unit before the units that call it), then networks.
        ordered_units = self._unit_order([n for n in (x.name for x in self.project.networks) if n in scoped_units])
        # Probe compiles: each round learns the input shapes of the layers left out (losses
        # that read a target column, layers whose sizes NNC computes from their input's,
        # `Input[k]`, in a unit too when all its instances agree); a layer of the second kind
        # after another needs one more round.
        self.probe = True
        from_inputs = sum(
            1
            for g in (*graphs.values(), *(self.graphs[u] for u in ordered_units))
            for x in g.layers.values()
            if any("Input[" in v for v in x.props.values())
        )
        for _ in range(1 + from_inputs):
            text_units = [self._unit(name) for name in ordered_units]
            probe_nets = [self._network(name, graphs[name], derived) for name in networks]
            if any(p.severity == "error" for p in self.problems):
                return Translation(None, _unique(self.problems))
            found = self._probe(text_units, probe_nets, networks, graphs)
            self._parameter_sizes(networks, graphs)
            new = {(n, lid): shape for n, shapes in found.items() for lid, shape in shapes.items()}
            if all(self.in_shapes.get(k) == v for k, v in new.items()):
                break
            self.in_shapes.update(new)
        self.targets = {}
        for (n, lid), shape in self.in_shapes.items():
            self.targets.setdefault(n, {})[lid] = shape
        self.probe = False
        self.layer_names = {}
        text_units = [self._unit(name) for name in ordered_units]
        text_nets = [self._network(name, graphs[name], derived) for name in networks]
        if any(p.severity == "error" for p in self.problems):
            return Translation(None, _unique(self.problems))
        text = "\n\n".join(t for t in (*text_units, *text_nets) if t) + "\n"
        return Translation(text, _unique(self.problems), self.layer_names)

    def _unit_order(self, units: list[str]) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()

        def visit(name: str, depth: int) -> None:
            if name in seen or depth > MAX_UNIT_DEPTH:
                return
            seen.add(name)
            for layer in self.graphs[name].layers.values():
                if layer.type == "Unit":
                    target = layer.props.get("Network", "").strip()
                    if target in units:
                        visit(target, depth + 1)
            out.append(name)

        for name in units:
            visit(name, 0)
        return out

    def _check_unit_cycles(self) -> None:
        """A network that instantiates itself, directly or through other units, is an error at
        the Unit layer that closes the cycle (NNC's own tools refuse it too)."""
        state: dict[str, int] = {}  # 1: being visited, 2: done

        def visit(name: str, depth: int) -> None:
            state[name] = 1
            for layer in self.graphs[name].layers.values():
                target = layer.props.get("Network", "").strip() if layer.type == "Unit" else ""
                if target not in self.graphs:
                    continue
                if state.get(target) == 1 or depth >= MAX_UNIT_DEPTH:
                    self.error(layer.where, f"Unit '{layer.name}' instantiates network '{target}' inside itself")
                elif target not in state:
                    visit(target, depth + 1)
            state[name] = 2

        for name in self.graphs:
            if name not in state:
                visit(name, 0)

    # -- per-instance properties of unit layers ---------------------------------------------

    def _unit_overrides(self, written: list[str]) -> None:
        """(layer, property) of a unit's layers that some instance sets to another value
        than the unit's own: each becomes an argument of the unit. Only instances in what is
        written count (networks and units)."""
        for g in (self.graphs[name] for name in written):
            for layer in g.layers.values():
                if layer.type != "Unit":
                    continue
                target = layer.props.get("Network", "").strip()
                sub = self.graphs.get(target)
                if sub is None:
                    continue
                inner_by_name = {x.name: x for x in sub.layers.values()}
                for key, value in layer.props.items():
                    head, _, prop = key.partition(".")
                    if not prop or head not in inner_by_name:
                        continue
                    if _text_equal(self._own(target, key), value):
                        continue
                    if self._extra_arg(target, key) is None:
                        self.warn(
                            _at(layer, key),
                            f"Unit '{layer.name}' sets {key}={value!r}, which nndsl cannot pass to the unit's layer: "
                            "lost",
                        )

    def _inner(self, unit: str, key: str) -> tuple[NncLayer, str] | None:
        """The layer of `unit`'s network that a per-instance property `Layer.Prop` sets, and Prop."""
        head, _, prop = key.partition(".")
        sub = self.graphs.get(unit)
        inner = next((x for x in sub.layers.values() if x.name == head), None) if sub and prop else None
        return (inner, prop) if inner is not None else None

    def _own(self, unit: str, key: str, depth: int = 0) -> str:
        """The value `unit`'s own network gives the per-instance property `key`: a nested one
        (`FireModule_2.Squeeze.W.InitializerMultiplier`) through the inner Unit layer's, then
        its unit's own."""
        found = self._inner(unit, key)
        if found is None:
            return ""
        inner, prop = found
        if prop in inner.props or inner.type != "Unit" or depth > MAX_UNIT_DEPTH:
            return inner.props.get(prop, _nnc_default(inner.type, prop))
        return self._own(inner.props.get("Network", "").strip(), prop, depth + 1)

    def _extra_param(self, unit: str, key: str, depth: int = 0) -> Param | None:
        """The nndsl parameter a per-instance property of `unit`'s layers sets, through inner
        units; None when nndsl cannot pass it as a unit argument."""
        found = self._inner(unit, key)
        if found is None or depth > MAX_UNIT_DEPTH:
            return None
        inner, prop = found
        if inner.type == "Unit":
            return self._extra_param(inner.props.get("Network", "").strip(), prop, depth + 1)
        spec = REGISTRY.get(inner.type)
        p = next((q for q in spec.params if q.nnc == prop), None) if spec else None
        return p if p is not None and p.type in _PARAM_TO_ARG else None

    def _extra_arg(self, unit: str, key: str, depth: int = 0) -> str | None:
        """The argument of `unit` that passes the per-instance property `key` (made on first
        need): a property of a layer inside an inner unit is passed on to that unit's call,
        whose own argument it needs in turn."""
        p = self._extra_param(unit, key)
        found = self._inner(unit, key)
        if p is None or found is None or depth > MAX_UNIT_DEPTH:
            return None
        inner, prop = found
        head = inner.name
        names = self.extra.setdefault(unit, {})
        if (head, prop) in names:
            return names[(head, prop)]
        if inner.type == "Unit":
            inner_arg = self._extra_arg(inner.props.get("Network", "").strip(), prop, depth + 1)
            if inner_arg is None:
                return None
            names[(head, prop)] = ident(snake(head) + "_" + inner_arg)
        else:
            names[(head, prop)] = ident(snake(head) + "_" + p.name)
        return names[(head, prop)]

    # -- Main's derived networks ------------------------------------------------------------

    def _derive_main(self, networks: list[str], graphs: dict[str, _Graph]) -> None:
        main = graphs.get("Main")
        if main is None:
            return
        at = networks.index("Main") + 1
        if "MainValidation" not in graphs and "MainValidation" not in self.nets:
            self.main_derived.add("MainValidation")
            graphs["MainValidation"] = main.copy("MainValidation")
            networks.insert(at, "MainValidation")
            at += 1
        if "MainRuntime" not in graphs and "MainRuntime" not in self.nets:
            self.main_derived.add("MainRuntime")
            rt = main.copy("MainRuntime")
            rt.comments = []  # Main's comments are written once, in Main
            for lid in list(rt.order):
                layer = rt.layers[lid]
                spec = REGISTRY.get(layer.type)
                if spec is None:
                    continue
                if spec.kind in ("loss", "error"):
                    rt.remove(lid)
                elif _skip_at_test(layer, spec):
                    rt.bypass(lid)
            graphs["MainRuntime"] = rt
            networks.insert(at, "MainRuntime")

    # -- what cannot be expressed -----------------------------------------------------------

    def _check_layer(self, layer: NncLayer, g: _Graph) -> None:
        t = layer.type
        connectors = COMPONENTS.get(t, {}).get("connectors", ())
        for pin, (src, _) in sorted(g.ins.get(layer.id, {}).items()):
            source = g.layers.get(src)
            into_parameter = 1 <= pin <= len(connectors) and connectors[pin - 1].kind == "Parameter"
            # A Parameter layer is reported once, by _check_parameter.
            if into_parameter and source is not None and source.type != "Parameter":
                self.error(
                    layer.where,
                    f"{source.type} '{source.name}' is linked into the {connectors[pin - 1].name} connector of "
                    f"{t} '{layer.name}': nndsl cannot give a layer's parameter from another layer",
                )
        if t == "Parameter":
            self._check_parameter(layer, g)
        elif t == "VATNoise" and 1 not in g.ins.get(layer.id, {}):
            buf = layer.props.get("Buf.Dataset", "buf")
            self.error(
                layer.where,
                f"VATNoise '{layer.name}' reads its Buf from the dataset column '{buf}': nndsl's VATNoise writes "
                "its gradient into a WorkingMemory linked to Buf",
            )
        elif t in RECURRENT:
            self.error(
                layer.where,
                f"'{layer.name}' is a {t} layer: recurrent networks cannot be expressed in nndsl yet",
            )
        elif t not in REGISTRY and t not in STRUCTURAL:
            known = "an NNC layer type nndsl has no equivalent for yet" if t in COMPONENTS else "not an NNC layer type"
            self.error(layer.where, f"'{layer.name}' is a {t} layer: {known}")

    def _check_parameter(self, layer: NncLayer, g: _Graph) -> None:
        """NNC's Parameter layer: a parameter without a batch axis, which NNC links into another layer's
        parameter connector. nndsl takes it in the W and b connectors of Affine and Convolution (`b=p`);
        other connectors, and a Parameter linked as data (NNC itself gives that no shape: its `complete`
        leaves the consumer's Output empty), are refused."""
        uses = []
        for dest, pin in (d for p in g.out_pins(layer.id) for d in g.consumers((layer.id, p))):
            consumer = g.layers.get(dest)
            if consumer is None:
                continue
            connectors = COMPONENTS.get(consumer.type, {}).get("connectors", ())
            if 1 <= pin <= len(connectors) and connectors[pin - 1].kind == "Parameter":
                if connectors[pin - 1].name in CONNECTORS.get(consumer.type, ()) and g.name not in self.unit_nets:
                    continue
                uses.append(f"the {connectors[pin - 1].name} connector of {consumer.type} '{consumer.name}'")
            else:
                uses.append(f"the data input of {consumer.type} '{consumer.name}' (NNC gives that no shape either)")
        if not uses:
            return
        self.error(
            layer.where,
            f"'{layer.name}' is a Parameter layer linked into {', '.join(uses)}: nndsl takes a Parameter layer only "
            "in the W and b connectors of Affine and Convolution, outside Units",
        )

    def _parameter_sizes(self, networks: list[str], graphs: dict[str, _Graph]) -> None:
        """The size of every Parameter layer (NNC's *GraphOutput: the shape of the parameter it gives), read
        from the probe compile, where each consumer holds that parameter itself."""
        if self._probed is None:
            return
        for name in networks:
            g = graphs[name]
            names = self.layer_names.get(name, {})
            try:
                net = self._probed.network(ident(name))
            except KeyError:
                continue
            by_name = {x.name: x for x in net.layers}
            for lid, layer in g.layers.items():
                if layer.type != "Parameter":
                    continue
                for dest, pin in g.consumers((lid, 0)):
                    consumer = g.layers[dest]
                    connector = COMPONENTS[consumer.type]["connectors"][pin - 1].name
                    ir = by_name.get(names.get(consumer.name, ""))
                    shapes = {q.name: q.shape for q in ir.parameters} if ir is not None else {}
                    if connector in shapes:
                        self.param_sizes[(name, lid)] = tuple(shapes[connector])
                        break

    # -- derived networks -------------------------------------------------------------------

    def _derivations(
        self, networks: list[str], graphs: dict[str, _Graph]
    ) -> dict[str, tuple[str, list[tuple[str, str]]]]:
        """network -> (base, [(layer name, 'param = value')]) for networks equal to an
        earlier one but for parameters of registry layers outside repeats. Layers are
        matched by structure (type, inputs, and the name where it names parameters), so a
        renamed layer without parameters (NNC's `Top1rror`) still matches."""
        out: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        table: dict[tuple, int] = {}
        keys = {name: _structure(graphs[name], table) for name in networks}
        sigs: list[tuple[str, tuple]] = []
        for name in networks:
            sig = tuple(sorted(keys[name].values()))
            for base, base_sig in sigs:
                if base_sig != sig:
                    continue
                diffs = self._diffs(graphs[base], keys[base], graphs[name], keys[name])
                if diffs is not None:
                    out[name] = (base, diffs)
                    break
            else:
                sigs.append((name, sig))
        if "MainValidation" in graphs and "MainValidation" not in self.nets and "MainValidation" not in out:
            out["MainValidation"] = ("Main", [])
        return out

    def _diffs(self, a: _Graph, ka: dict[int, int], b: _Graph, kb: dict[int, int]) -> list[tuple[str, str]] | None:
        if len(set(ka.values())) != len(ka):
            return None  # two layers of the same structure: which is which is a guess
        by_key = {k: a.layers[lid] for lid, k in ka.items()}
        stack = _Body(self, a, _Ctx(), _Names(), unit=False).stack
        diffs: list[tuple[str, str]] = []
        for lid, key in kb.items():
            lb, la = b.layers[lid], by_key[key]
            spec = REGISTRY.get(lb.type)
            names = set(la.props) | set(lb.props)
            changed = sorted(
                k
                for k in names
                if k not in EDITOR_ONLY
                and k not in COMPUTED
                and not _text_equal(
                    la.props.get(k, _nnc_default(la.type, k)), lb.props.get(k, _nnc_default(lb.type, k))
                )
            )
            settings = []
            for k in changed:
                p = next((q for q in spec.params if q.nnc == k), None) if spec else None
                v = _value(lb.props.get(k, _nnc_default(lb.type, k)), p, _Ctx()) if p else None
                if v is None:
                    return None
                settings.append(f"{p.name} = {v}")
            if spec is not None and self.runs_random(a.name) != self.runs_random(b.name) and _skip_at_test(lb, spec):
                settings.append(f"skip_at_test = {'false' if self.runs_random(b.name) else 'true'}")
            if settings and stack.get(la.id):
                return None  # inside a repeat: `with` names top-level layers here
            diffs.extend((la.name, setting) for setting in settings)
        return diffs

    def runs_random(self, network: str) -> bool:
        """Whether NNC runs the SkipAtTest layers of an explicit network that no optimizer
        trains: it does (create_prototxt keeps them), while nndsl skips them there unless
        told `skip_at_test=false`."""
        return network not in self.trained and network not in self.main_derived

    def unit_runs_random(self, unit: str) -> bool:
        """`runs_random` for a unit's body: NNC runs its SkipAtTest layers where some network
        calling it (through other units too) runs them, and none is a network NNC derives
        without them (MainValidation, MainRuntime). Only in a network no optimizer trains does
        `skip_at_test=false` change what nndsl runs, so the trained callers do not matter."""
        callers = self.callers.get(unit, set())
        return any(self.runs_random(n) for n in callers) and not callers & self.main_derived

    def _callers(self, networks: list[str], graphs: dict[str, _Graph]) -> dict[str, set[str]]:
        """unit -> the networks that instantiate it, directly or through other units."""
        out: dict[str, set[str]] = {}
        for net in networks:
            stack, seen = [graphs[net]], set()
            while stack:
                g = stack.pop()
                for layer in g.layers.values():
                    target = layer.props.get("Network", "").strip() if layer.type == "Unit" else ""
                    if target in self.graphs and target not in seen:
                        seen.add(target)
                        out.setdefault(target, set()).add(net)
                        stack.append(self.graphs[target])
        return out

    # -- units and networks -----------------------------------------------------------------

    def _unit(self, name: str) -> str:
        g = self.graphs[name]
        ctx = _Ctx()
        names = _Names()
        params: list[tuple[str, str, NncLayer | None, Param | None]] = []  # (nnc arg, nnd name, argument layer, param)
        for a in g.args:
            nnd = names.new(snake(a.name) if a.name else "arg")
            ctx.args[a.name] = nnd
            params.append((a.name, nnd, a, None))
        extra = self.extra.get(name, {})
        inner = {x.name: x for x in g.layers.values()}
        overrides: dict[int, dict[str, str]] = {}
        for (layer_name, prop), arg in extra.items():
            key = f"__{layer_name}.{prop}"
            nnd = names.new(arg)
            ctx.args[key] = nnd
            layer = inner[layer_name]
            p = self._extra_param(name, f"{layer_name}.{prop}")
            assert p is not None  # _extra_arg made this argument only then
            params.append((key, nnd, layer, p))
            overrides.setdefault(layer.id, {})[prop] = "*" + key
        body = _Body(self, g, ctx, names, unit=True, overrides=overrides)
        body.run_random = self.unit_runs_random(name)
        lines = body.emit()
        self.unit_outs[name] = body.n_outputs
        self.unit_layer_names[name] = body.root.names
        header = []
        sig = []
        for nnc, nnd, layer, p in params:
            if p is None:
                type_, default = self._arg_type(layer, ctx)
            else:
                type_ = _PARAM_TO_ARG[p.type]
                default = _value(self._own(name, nnc[2:]), p, _Ctx())
            sig.append((nnc, nnd, type_, default))
            header.append(f"{nnd}: {type_}" + (f" = {default}" if default is not None else ""))
        self.unit_args[name] = sig
        text = [f"unit {ident(name)}({', '.join(header)}) {{"]
        text.extend("    " + line for line in lines)
        text.append("}")
        return "\n".join(text)

    def _arg_type(self, a: NncLayer, ctx: _Ctx) -> tuple[str, str | None]:
        """An Argument's .nnd type and default value."""
        declared = a.props.get("Type", "Text").strip()
        value = a.props.get("Value", "")
        type_ = ARG_TYPES.get(declared)
        if type_ is None:
            self.warn(
                _at(a, "Type"),
                f"Argument '{a.name}' has type {declared}, which nndsl has no type for: read as a string",
            )
            type_ = "string"
        if type_ == "":
            uses = ctx.arg_uses.get(a.name, set())
            if uses and uses <= {INT}:
                type_ = "int"
            elif uses and uses <= {INT, FLOAT}:
                type_ = "int" if re.fullmatch(r"[+-]?\d+", value.strip()) and FLOAT not in uses else "float"
            elif uses and uses <= {SHAPE}:
                type_ = "shape"
            elif uses and uses <= {BOOL}:
                type_ = "bool"
            elif uses and uses <= {STR, CHOICE}:
                type_ = "string"
            elif re.fullmatch(r"[+-]?\d+", value.strip()):
                type_ = "int"
            elif _NUMBER.match(value.strip()):
                type_ = "float"
            else:
                type_ = "string"
        p = Param(
            "value", {"int": INT, "float": FLOAT, "bool": BOOL, "string": STR, "shape": SHAPE}[type_], None, "Value"
        )
        default = _value(value, p, _Ctx())
        if default is None:
            self.error(_at(a, "Value"), f"Argument '{a.name}': {value!r} is not a {type_}")
        return type_, default

    def _network(self, name: str, g: _Graph, derived: dict[str, tuple[str, list[tuple[str, str]]]]) -> str:
        if name in derived:
            base, diffs = derived[name]
            body = ", ".join(f"{ident(layer)}.{setting}" for layer, setting in diffs)
            return (
                f"network {ident(name)} = {ident(base)} with {{ {body} }}"
                if body
                else f"network {ident(name)} = {ident(base)} with {{}}"
            )
        referenced = {layer for d in derived.values() if d[0] == name for layer, _ in d[1]}
        body = _Body(self, g, _Ctx(), _Names(), unit=False, referenced=referenced)
        body.run_random = self.runs_random(name)
        lines = body.emit()
        self.layer_names[name] = body.layer_names  # reset before the final round
        text = [f"network {ident(name)} {{"]
        text.extend("    " + line for line in lines)
        text.append("}")
        return "\n".join(text)

    def _probe(self, units: list[str], nets: list[str], networks: list[str], graphs: dict[str, _Graph]):
        """Compile the networks with every dataset-fed loss target left out (the loss
        replaced by an Identity labelled after it), to learn the shape each target needs."""
        from ..compiler import compile_file

        text = "\n\n".join((*units, *nets)) + "\n"
        result = compile_file("probe.nnd", text=text)
        self._probed = result.project
        found: dict[str, dict[int, tuple[int, ...]]] = {}
        if result.project is None:
            return found
        for net in result.project.networks:
            for layer in net.layers:
                m = re.search(r"__probe_(\d+)$", layer.name)
                if m and layer.inputs:
                    # a unit's layer: its unit's, if every instance gives it one shape (None if not)
                    unit = next((f.unit for f in reversed(layer.origin.via) if f.unit), net.name)
                    shapes = found.setdefault(unit, {})
                    shape = net.value(layer.inputs[0]).shape
                    lid = int(m[1])
                    shapes[lid] = shape if shapes.get(lid, shape) == shape else None
        return found


def _input_refs(value: str, shape: tuple[int, ...]) -> str:
    """NNC's `Input[k]` (size k of the layer's input), per comma-separated item."""

    def one(m: re.Match) -> str:
        k = int(m[1])
        return str(shape[k]) if k < len(shape) else m[0]

    items = []
    for item in value.split(","):
        text = re.sub(r"Input\[(\d+)\]", one, item.strip())
        try:
            v = _arith(text)
            text = str(int(v)) if v == int(v) else text
        except (ValueError, ZeroDivisionError, OverflowError):
            pass
        items.append(text)
    return ",".join(items)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple] = set()
    out = []
    for p in problems:
        key = (p.where, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


_DEFAULTS = {t: {p.name: p.default for p in entry["properties"]} for t, entry in COMPONENTS.items()}


def _nnc_default(layer_type: str, prop: str) -> str:
    """NNC's default for a property, '' when NNC's table has none."""
    return _DEFAULTS.get(layer_type, {}).get(prop, "")


def _frozen_stat(p: Param, props: dict[str, str]) -> bool:
    """Whether `p` is BatchStat (True) on a BatchNormalization whose beta and gamma are frozen: nndsl
    derives false there (the layer keeps its running statistics), so NNC's true is written out."""
    if p.nnc != "BatchStat":
        return False

    def rate(name: str) -> float:
        try:
            return float(props.get(name, "1").strip())
        except ValueError:
            return 1.0

    return rate("beta.LRateMultiplier") <= 0 and rate("gamma.LRateMultiplier") <= 0


def _text_equal(a: str, b: str) -> bool:
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    try:
        return math.isclose(_arith(a), _arith(b), rel_tol=1e-12)
    except (ValueError, ZeroDivisionError, OverflowError):
        return a.lower() == b.lower() and a.lower() in ("true", "false")


def _at(layer: NncLayer, prop: str) -> Where:
    return Where(layer.where.file, layer.where.section, layer.prop_lines.get(prop, layer.where.line))


def _skip_at_test(layer: NncLayer, spec: LayerSpec) -> bool:
    if not any(p.nnc == "SkipAtTest" for p in spec.params):
        return False
    return layer.props.get("SkipAtTest", _nnc_default(layer.type, "SkipAtTest")).strip().lower() == "true"


def _structure(g: _Graph, table: dict[tuple, int]) -> dict[int, int]:
    """Each layer's structural identity, interned in `table` (shared by the networks compared):
    its type, its inputs' identities, its name where the name names parameters (or the layer
    is an Input, a Unit or a repeat, whose properties count too)."""
    out: dict[int, int] = {}
    for lid in _topo(g):
        layer = g.layers[lid]
        spec = REGISTRY.get(layer.type)
        named = layer.type in ("Unit", "Input", "RepeatStart", "RepeatEnd") or spec is None or _has_parameters(spec)
        fixed = (
            tuple(sorted((k, v) for k, v in layer.props.items() if k != "Name"))
            if spec is None or layer.type == "Input"
            else ()
        )
        ins = tuple(sorted((pin, out.get(src, -1), spin) for pin, (src, spin) in g.ins.get(lid, {}).items()))
        key = (layer.type, layer.name if named else None, ins, fixed)
        out[lid] = table.setdefault(key, len(table))
    return out


def _has_parameters(spec: LayerSpec) -> bool:
    from ..layers.base import no_parameters

    return spec.parameters is not no_parameters


class _Body:
    """The statements of one network or unit body (and, inside, of its repeats)."""

    def __init__(
        self,
        tr: Translator,
        g: _Graph,
        ctx: _Ctx,
        names: _Names,
        *,
        unit: bool,
        referenced: set[str] | None = None,
        overrides: dict[int, dict[str, str]] | None = None,
    ):
        self.tr, self.g, self.ctx, self.names, self.unit = tr, g, ctx, names, unit
        self.referenced = referenced or set()
        self.overrides = overrides or {}
        self.topo = _topo(g)
        self.index = {lid: k for k, lid in enumerate(self.topo)}
        self.vname: dict[Pin, str] = {}
        self.layer_names: dict[str, str] = {}
        self.shared_scope: dict[int, str] = {}  # layer -> the ParameterScope it shares (`parameter_scope=`)
        self.n_outputs = 0
        self.stack: dict[int, tuple[int, ...]] = {}
        self.end_of: dict[int, int] = {}  # RepeatStart -> RepeatEnd
        self.start_of: dict[int, int] = {}  # RepeatEnd -> RepeatStart
        self.target_names: dict[int, dict[int, str]] = {}  # loss -> pin -> name
        self.target_lines_by_name: dict[str, str] = {}
        self._items: dict[int | None, list[int]] | None = None
        self.run_random = False  # an explicit network no optimizer trains: NNC runs its SkipAtTest layers
        self._needs: dict[int, set[Pin]] = {}
        self._nest()

    # -- repeats ----------------------------------------------------------------------------

    def _type(self, lid: int) -> str:
        return self.g.layers[lid].type

    def val_stack(self, v: Pin) -> tuple[int, ...]:
        src = v[0]
        st = self.stack.get(src, ())
        t = self._type(src)
        if t == "RepeatStart":
            return (*st, src)
        if t == "RepeatEnd":
            return st[:-1]
        return st

    def _nest(self) -> None:
        for lid in self.topo:
            layer = self.g.layers[lid]
            stacks = [self.val_stack(v) for v in self.g.ins.get(lid, {}).values() if v[0] in self.stack]
            st: tuple[int, ...] = max(stacks, key=len) if stacks else ()
            if any(s != st[: len(s)] for s in stacks):
                self.tr.error(
                    layer.where,
                    f"'{layer.name}' reads values from two different repeats (RepeatStart/RepeatEnd do not nest)",
                )
            self.stack[lid] = st
            if layer.type == "RepeatEnd":
                if not st:
                    self.tr.error(layer.where, f"RepeatEnd '{layer.name}' has no RepeatStart before it")
                    self.stack[lid] = (lid,)  # keep going
                    continue
                if st[-1] in self.end_of:
                    self.tr.error(layer.where, f"a second RepeatEnd for RepeatStart '{self.g.layers[st[-1]].name}'")
                self.end_of[st[-1]] = lid
                self.start_of[lid] = st[-1]
        for lid in self.topo:
            if self._type(lid) == "RepeatStart" and lid not in self.end_of:
                self.tr.error(self.g.layers[lid].where, f"RepeatStart '{self.g.layers[lid].name}' has no RepeatEnd")

    def region(self, item: int) -> int | None:
        st = self.stack.get(item, ())
        return st[-1] if st else None

    def items(self, r: int | None) -> list[int]:
        """The items of region `r` (None: the body itself; a RepeatStart: its repeat's body)
        in dependency order: layers, and RepeatStarts standing for their whole repeat."""
        if self._items is None:
            self._items = {}
            for lid in self.topo:
                t = self._type(lid)
                if t == "RepeatEnd" or (self.unit and t == "Input"):
                    continue
                self._items.setdefault(self.region(lid), []).append(lid)
        return self._items.get(r, [])

    def out_values(self, item: int) -> list[Pin]:
        if self._type(item) == "RepeatStart":
            end = self.end_of.get(item)
            return [(end, 0)] if end is not None else []
        return [(item, p) for p in self.g.out_pins(item)]

    def producer(self, v: Pin) -> int | None:
        """The item whose value `v` is (None for a body's or a unit's input)."""
        t = self._type(v[0])
        if t == "RepeatEnd":
            return self.start_of.get(v[0])
        if t == "RepeatStart" or (self.unit and t == "Input"):
            return None
        return v[0]

    def multi_out(self, item: int) -> bool:
        layer = self.g.layers[item]
        if layer.type == "Unit":
            return self.tr.unit_outs.get(layer.props.get("Network", "").strip(), 1) > 1
        return False

    def item_inputs(self, item: int) -> dict[int, Pin]:
        ins = self.g.ins.get(item, {})
        if self._type(item) == "RepeatStart":
            return {0: ins[0]} if 0 in ins else {}
        return ins

    def inlined(self, v: Pin) -> str | None:
        """'next' when `v` flows straight into the next stage of a chain, 'out' when it is
        the body's output written as `out <chain>`, None when it needs a name."""
        p = self.producer(v)
        if p is None or v[1] != 0 or self.multi_out(p) or len(self.out_values(p)) != 1 or self._type(p) == "Input":
            return None
        cons = self.g.consumers(v)
        if not cons and self.unit and self.region(p) is None and self.n_sinks == 1:
            return "out"
        if len(cons) != 1 or cons[0][1] != 0:
            return None
        c = cons[0][0]
        if self._type(c) == "RepeatEnd":
            return "out" if self.start_of.get(c) == self.region(p) else None
        if self.region(c) != self.region(p) or self.multi_out(c):
            return None
        return "next"

    def needs(self, item: int) -> set[Pin]:
        """The named values `item`'s statement reads (for a repeat, also those its body reads
        from outside it)."""
        if item in self._needs:
            return self._needs[item]
        out = {v for pin, v in self.item_inputs(item).items() if not (pin == 0 and self.inlined(v) == "next")}
        if self._type(item) == "RepeatStart":
            for inner in self.items(item):
                out |= {v for v in self.needs(inner) if item not in self.val_stack(v)}
        self._needs[item] = out
        return out

    # -- statements -------------------------------------------------------------------------

    def emit(self) -> list[str]:
        g = self.g
        self.sinks = (
            [
                v
                for lid in self.topo
                for v in self.out_values(lid)
                if self.region(lid) is None and not g.consumers(v) and self._type(lid) not in ("RepeatEnd",)
            ]
            if self.unit
            else []
        )
        self.sinks = [v for v in self.sinks if self.producer(v) is not None or self._type(v[0]) == "Input"]
        self.n_sinks = len(self.sinks)
        lines: list[str] = []
        if self.unit:
            ins = _unit_inputs(g)
            for lid in ins:
                self.vname[(lid, 0)] = self.names.new(_value_base(g.layers[lid].name or "x"))
            if ins:
                lines.append("in " + ", ".join(self.vname[(lid, 0)] for lid in ins))
        else:
            self._targets()
        self._place_comments()
        scope = self.root = _Scope("")
        body = self.region_lines(None, scope)
        lines.extend(body)
        if self.unit:
            self.n_outputs = max(1, self.n_sinks)
            named = [self.vname[v] for v in self.sinks if v in self.vname]
            if named and not (self.n_sinks == 1 and self.inlined(self.sinks[0]) == "out"):
                lines.append("out " + ", ".join(named))
        return self._comments(lines)

    def _comments(self, lines: list[str]) -> list[str]:
        """Comments not placed before a statement (no layer near them) open the body."""
        return [row for rows in self.loose_comments for row in rows] + lines

    def _place_comments(self) -> None:
        """Each Comment layer goes before the statement of the layer nearest to it in the
        editor (by the top-left corners of their boxes); without positions, at the top."""
        self.comment_at: dict[int, list[str]] = {}
        self.loose_comments: list[list[str]] = []
        placed = [lid for lid in self.topo if len(self.g.layers[lid].position) >= 2]
        for c in self.g.comments:
            text = c.props.get("Comment", "").replace("\\n", "\n")
            rows = [("# " + row.strip()).rstrip() for row in text.splitlines()] or ["#"]
            if len(c.position) < 2 or not placed:
                self.loose_comments.append(rows)
                continue
            cx, cy = c.position[0], c.position[1]
            near = min(
                placed,
                key=lambda lid: (self.g.layers[lid].position[0] - cx) ** 2 + (self.g.layers[lid].position[1] - cy) ** 2,
            )
            st = self.stack.get(near, ())
            item = st[0] if st else near
            if self.unit and self._type(item) == "Input":
                self.loose_comments.append(rows)
                continue
            self.comment_at.setdefault(item, []).extend(rows)

    def _targets(self) -> None:
        """Inputs for the targets of losses that read a dataset column (T.Dataset)."""
        shapes = self.tr.targets.get(ident(self.g.name), {})
        made: dict[tuple[str, tuple], str] = {}
        for lid in self.topo:
            layer = self.g.layers[lid]
            spec = REGISTRY.get(layer.type)
            if spec is None or spec.kind not in ("loss", "error"):
                continue
            for pin, pin_name in enumerate(spec.inputs):
                if pin == 0 or pin in self.g.ins.get(lid, {}):
                    continue
                column = layer.props.get(f"{pin_name}.Dataset", _nnc_default(layer.type, f"{pin_name}.Dataset") or "y")
                gen = layer.props.get(f"{pin_name}.Generator", "None").strip()
                if gen not in ("None", ""):
                    self.tr.warn(
                        _at(layer, f"{pin_name}.Generator"),
                        f"'{layer.name}': {pin_name}.Generator={gen} is not expressible in nndsl: lost",
                    )
                if self.tr.probe:
                    continue
                x = shapes.get(lid)
                if x is None:
                    self.tr.error(
                        layer.where, f"cannot tell the shape of the target '{layer.name}' reads from column '{column}'"
                    )
                    continue
                shape = _target_shape(layer, spec, x)
                key = (column, shape)
                same = self._input_reading(column, shape)
                if same is not None:  # an Input already reads that column (an autoencoder's target)
                    self.target_names.setdefault(lid, {})[pin] = self.bind((same, 0))
                    continue
                if key not in made:
                    made[key] = self.names.new(column if ident(column) == column else _value_base(column))
                    dims = "x".join(str(d) for d in shape) if shape else "1"
                    self.target_lines_by_name[made[key]] = f"{made[key]} = Input({dims}, dataset={_string(column)})"
                self.target_names.setdefault(lid, {})[pin] = made[key]

    def _input_reading(self, column: str, shape: tuple[int, ...]) -> int | None:
        """The network's Input layer that reads dataset column `column` in `shape`, if any."""
        if self.unit:
            return None
        for lid in self.topo:
            layer = self.g.layers[lid]
            if layer.type != "Input":
                continue
            col = layer.props.get("Dataset", _nnc_default("Input", "Dataset")).strip()
            try:
                size = tuple(int(d) for d in layer.props.get("Size", "").split(","))
            except ValueError:
                continue
            if col == column and size == tuple(shape):
                return lid
        return None

    def chains(self, r: int | None) -> list[list[int]]:
        """Region `r`'s items as chains: each item flows into the next as its first input."""
        items = self.items(r)
        pred: dict[int, int] = {}
        succ: dict[int, int] = {}
        for c in items:
            v = self.item_inputs(c).get(0)
            if v is not None and self.inlined(v) == "next":
                p = self.producer(v)
                pred[c], succ[p] = p, c
        chains = []
        for it in items:
            if it in pred:
                continue
            chain = [it]
            while chain[-1] in succ:
                chain.append(succ[chain[-1]])
            chains.append(chain)
        return chains

    def region_lines(self, r: int | None, scope: _Scope) -> list[str]:
        items = self.items(r)
        chains = self.chains(r)
        labels = self._labels(items, r)
        self._reserve(items, scope)
        # Kahn's algorithm over the chains: a chain waits for the chains whose values it reads;
        # among those ready, the one whose first layer comes first in the network.
        import heapq

        chain_of = {it: k for k, ch in enumerate(chains) for it in ch}
        waiting = [0] * len(chains)
        readers: list[list[int]] = [[] for _ in chains]
        for k, ch in enumerate(chains):
            deps = set()
            for it in ch:
                for v in self.needs(it):
                    p = self.producer(v)
                    if p in chain_of and chain_of[p] != k:
                        deps.add(chain_of[p])
            waiting[k] = len(deps)
            for d in deps:
                readers[d].append(k)
        heap = [(self.index[ch[0]], k) for k, ch in enumerate(chains) if waiting[k] == 0]
        heapq.heapify(heap)
        lines: list[str] = []
        done = 0
        while heap:
            _, k = heapq.heappop(heap)
            chain = chains[k]
            done += 1
            for reader in readers[k]:
                waiting[reader] -= 1
                if waiting[reader] == 0:
                    heapq.heappush(heap, (self.index[chains[reader][0]], reader))
            for it in chain:
                for target in self.target_names.get(it, {}).values():
                    if target in self.target_lines_by_name:
                        lines.append(self.target_lines_by_name.pop(target))
            for it in chain:
                lines.extend(self.comment_at.pop(it, ()))
            lines.append(self.statement(chain, r, scope, labels))
        if done < len(chains):
            stuck = next(ch for k, ch in enumerate(chains) if waiting[k] > 0)
            self.tr.error(
                self.g.layers[stuck[0]].where, "cannot order this layer's statement: its inputs are never computed"
            )
        return lines

    def _labels(self, items: list[int], r: int | None) -> dict[int, str]:
        labels: dict[int, str] = {}
        for it in items:
            layer = self.g.layers[it]
            if layer.type in ("RepeatStart", "Input"):
                continue
            spec = REGISTRY.get(layer.type)
            scope = _scope(layer)
            want = (
                layer.type == "Unit"
                or (spec is not None and _has_parameters(spec))
                or (r is None and layer.name in self.referenced)
            )
            if want:
                name = scope if scope not in ("*Name", "") else layer.name
                labels[it] = ident(name) if layer.type != "Unit" or scope != "" else SCOPELESS
                if "/" in scope:  # a path (nndsl's export of a unit written out in place: `net/c1`)
                    self.tr.warn(
                        layer.where,
                        f"'{layer.name}': the ParameterScope '{scope}' is a path, which nndsl's parameter_scope "
                        f"cannot be: the parameters are named after '{labels[it]}', so layers of other networks "
                        "no longer share them",
                    )
        used = set(labels.values()) - {SCOPELESS}
        counts: dict[str, int] = {}
        for lab in labels.values():
            if lab != SCOPELESS:
                counts[lab] = counts.get(lab, 0) + 1
        dup = {v for v, n in counts.items() if n > 1}
        # the default names a label could take from a layer without one: `ReLU`, `ReLU_3` -> ReLU
        bases = {re.sub(r"_\d+\Z", "", lab) for lab in used}
        for it, lab in list(labels.items()):
            if lab not in dup:
                continue
            layer = self.g.layers[it]
            shared = _scope(layer)
            if any(c in shared for c in "./[]"):
                self.tr.error(
                    layer.where,
                    f"'{layer.name}' shares the ParameterScope '{shared}' with another layer of network "
                    f"'{self.g.name}': nndsl's parameter_scope is a plain name (a unit call's names the scope of its "
                    "layers), so this cannot be written yet",
                )
            elif ident(layer.name) != lab:
                # Layers (and Unit layers) sharing one ParameterScope keep their own names as
                # labels and name the scope: `fc1b: Affine(5, parameter_scope="enc")`.
                labels[it] = ident(layer.name)
                self.shared_scope[it] = _scope(layer)
        used = set(labels.values()) - {SCOPELESS}
        for it in items:
            t = self._type(it)
            if it in labels or t in ("RepeatStart",):
                continue
            if t in bases:
                labels[it] = ident(self.g.layers[it].name)
        return labels

    def statement(self, chain: list[int], r: int | None, scope: _Scope, labels: dict[int, str]) -> str:
        parts = []
        for k, it in enumerate(chain):
            parts.append(self.call(it, k > 0, scope, labels))
        expr = " -> ".join(parts)
        tail = chain[-1]
        outs = self.out_values(tail)
        if len(outs) == 1 and self.inlined(outs[0]) == "out":
            return f"out {expr}"
        if len(outs) > 1 or self.multi_out(tail):
            return ", ".join(self.bind(v) for v in outs) + " = " + expr
        if not outs:
            return expr
        return f"{self.bind(outs[0])} = {expr}"

    def bind(self, v: Pin) -> str:
        if v in self.vname:
            return self.vname[v]
        layer = self.g.layers[v[0]]
        base = "h" if self._type(v[0]) == "RepeatEnd" else _value_base(layer.name)
        if not self.g.consumers(v) and not self.unit:
            spec = REGISTRY.get(layer.type)
            kind = spec.kind if spec else "layer"
            base = {"loss": "loss", "error": "error"}.get(kind, "y'")
        elif layer.type == "Input" and not self.unit:
            col = layer.props.get("Dataset", _nnc_default("Input", "Dataset")).strip()
            if col and ident(col) == col and col not in self.names.taken:
                base = col
        self.vname[v] = self.names.new(base)
        return self.vname[v]

    def ref(self, v: Pin, where: NncLayer) -> str:
        name = self.vname.get(v)
        if name is None:
            self.tr.error(where.where, f"'{where.name}' reads a value that is computed after it")
            return "_"
        return name

    def call(self, it: int, chained: bool, scope: _Scope, labels: dict[int, str]) -> str:
        layer = self.g.layers[it]
        if layer.type == "RepeatStart":
            return self.repeat(it, chained, scope)
        if layer.type == "Unit":
            return self.unit_call(it, chained, scope, labels)
        spec = REGISTRY[layer.type]
        ins = self.g.ins.get(it, {})
        shape_of_input = None
        if any("Input[" in v for v in layer.props.values()):
            shape_of_input = self.tr.in_shapes.get((ident(self.g.name), it))
            if shape_of_input is None:
                if self.tr.probe and (ident(self.g.name), it) not in self.tr.in_shapes:
                    return self._probe_call(it, chained, scope)
                self.tr.error(
                    layer.where,
                    f"'{layer.name}' computes a property from its input's shape, which nndsl can do in a unit "
                    "only when every instance gives it one input shape",
                )
        pins = sorted(ins) if spec.variadic else list(range(len(spec.inputs)))
        tensors: list[str] = []
        for pin in pins:
            if pin in ins:
                tensors.append("" if (pin == 0 and chained) else self.ref(ins[pin], layer))
            elif spec.kind in ("loss", "error") and pin > 0:
                if self.tr.probe:
                    return self._probe_call(it, chained, scope)
                tensors.append(self.target_names.get(it, {}).get(pin, "_"))
            else:
                self.tr.error(layer.where, f"input {pin} ({spec.inputs[pin]}) of '{layer.name}' is not linked")
                tensors.append("_")
        size = None
        if layer.type == "Parameter":
            size = (1,) if self.tr.probe else self.tr.param_sizes.get((self.g.name, it))
            if size is None and layer.props.get("Size", "*GraphOutput").strip().startswith("*"):
                self.tr.error(layer.where, f"Parameter '{layer.name}': the size of the parameter it gives is unknown")
                size = (1,)
        params = self.params(layer, spec, shape_of_input, {"Size": ",".join(map(str, size))} if size else None)
        if not self.tr.probe:  # the probe compile gives the consumer its own parameters: their shapes
            connectors = COMPONENTS.get(layer.type, {}).get("connectors", ())
            for pin in sorted(ins):
                if 1 <= pin <= len(connectors) and connectors[pin - 1].name in CONNECTORS.get(layer.type, ()):
                    params.append(f"{connectors[pin - 1].name.lower()}={self.ref(ins[pin], layer)}")
        if it in self.shared_scope:
            params.append(f"parameter_scope={_string(self.shared_scope[it])}")
        if chained:
            return self._named(labels.get(it), layer.type, [*tensors[1:], *params], scope, it)
        if len(tensors) >= 1 and (len(tensors) == 1 or spec.kind in ("loss", "error")):
            head = tensors[0]
            return head + " -> " + self._named(labels.get(it), layer.type, [*tensors[1:], *params], scope, it)
        return self._named(labels.get(it), layer.type, [*tensors, *params], scope, it)

    def _reserve(self, items: list[int], scope: _Scope) -> None:
        """The layer names the scope-less calls among `items` take in `scope` (their units'
        own names), which no other layer of the scope may take: two such calls whose units
        name a layer alike are an error (NNC would give both one set of parameters)."""
        for it in items:
            layer = self.g.layers[it]
            if layer.type != "Unit" or _scope(layer) != "":
                continue
            target = layer.props.get("Network", "").strip()
            names = self.tr.unit_layer_names.get(target, set())
            clash = sorted(names & scope.reserved)
            if clash:
                scope.refused.add(it)
                self.tr.error(
                    layer.where,
                    f"Unit '{layer.name}' (empty ParameterScope) names a layer '{clash[0]}' that another Unit of "
                    f"empty scope in network '{self.g.name}' also names: NNC gives both one set of parameters, "
                    "which nndsl cannot express inside one network",
                )
            scope.reserved |= names
            scope.scopeless[it] = names

    def _named(self, label: str | None, callee: str, args: list[str], scope: _Scope, it: int) -> str:
        layer = self.g.layers[it]
        if label == SCOPELESS:
            clash = scope.merge(scope.scopeless.get(it, set()))
            if clash and it not in scope.refused:
                self.tr.error(
                    layer.where,
                    f"Unit '{layer.name}' (empty ParameterScope) names a layer '{clash}' in the scope of "
                    f"network '{self.g.name}', where another layer has that name",
                )
        else:
            name, must_label = scope.take(label or callee, label is not None)
            if must_label:
                label = name  # its default name is a scope-less call's: labelled with the next one
            if not self.unit and layer.type != "RepeatStart":
                self.layer_names.setdefault(layer.name, scope.prefix + name)
        text = callee + (f"({', '.join(args)})" if args else "")
        return f"{label}: {text}" if label else text

    def _probe_call(self, it: int, chained: bool, scope: _Scope) -> str:
        ins = self.g.ins.get(it, {})
        head = "" if chained or 0 not in ins else self.ref(ins[0], self.g.layers[it]) + " -> "
        return head + self._named(f"__probe_{it}", "Identity", [], scope, it)

    def params(
        self,
        layer: NncLayer,
        spec: LayerSpec,
        shape_of_input: tuple[int, ...] | None = None,
        computed: dict[str, str] | None = None,
    ) -> list[str]:
        """The call's parameters from the layer's properties; `computed` replaces properties NNC computes
        (a Parameter's *GraphOutput Size)."""
        props = dict(layer.props)
        if shape_of_input is not None:
            for key, value in props.items():
                if "Input[" in value:
                    props[key] = _input_refs(value, shape_of_input)
        props.update(self.overrides.get(layer.id, {}))
        props.update(computed or {})
        known = {p.nnc for p in spec.params}
        out: list[str] = []
        kw: list[str] = []
        for k, p in enumerate(spec.params):
            text = props.get(p.nnc)
            if p.nnc == "SkipAtTest" and self.run_random:
                text = "False"  # NNC runs the layer in this network (create_prototxt keeps it)
            if text is None:
                text = _nnc_default(layer.type, p.nnc)
                if text == "" and p.default is not None:
                    continue
            t = text.strip()
            if t.startswith("*") and t[1:] not in self.ctx.args:
                if p.default is DERIVED or t in ("*Name",):
                    continue
                self.tr.warn(
                    _at(layer, p.nnc),
                    f"'{layer.name}': {p.nnc}={t} is computed by NNC in a way nndsl does not know: "
                    "left to nndsl's default",
                )
                continue
            if p.default is DERIVED and not t.startswith("*") and self._derived_equal(layer, spec, p, props):
                continue
            if p.default is DERIVED and _text_equal(t, _nnc_default(layer.type, p.nnc)) and not _frozen_stat(p, props):
                continue  # NNC's default (BatchStat=True: batch statistics where the network trains)
            if not t.startswith("*") and p.default is not None and p.default is not DERIVED:
                parsed = _parsed(t, p)
                if parsed is not None and _same(parsed, p.default):
                    continue
            v = _value(t, p, self.ctx)
            if v is None:
                self.tr.error(_at(layer, p.nnc), f"'{layer.name}': {p.nnc}={t!r} is not a valid {p.type}")
                continue
            if (
                k == 0
                and p.name in spec.positional
                and (p.name in ("shape", "out_maps", "out_shape", "value") or spec.type == "Parameter")
            ):
                out.append(v)
            else:
                kw.append(f"{p.name}={v}")
        for name, value in props.items():
            if name in known or name in EDITOR_ONLY or name in COMPUTED or name == "ParameterScope":
                continue
            if any(name.startswith(pin + ".") for pin in spec.inputs):
                continue  # a target's dataset column: an Input of its own
            if _text_equal(value, _nnc_default(layer.type, name)):
                continue
            if name == "ChannelLast" and value.strip() == "False":
                continue
            self.tr.warn(_at(layer, name), f"'{layer.name}': {name}={value.strip()!r} has no nndsl equivalent: lost")
        scope = _scope(layer)
        if scope not in ("*Name", "", layer.name) and not _has_parameters(spec):
            pass
        return out + kw

    def _derived_equal(self, layer: NncLayer, spec: LayerSpec, p: Param, props: dict[str, str]) -> bool:
        """Whether an explicit value equals what nndsl derives (padding of a border mode,
        pooling strides equal to the kernel), so it need not be written."""

        def get(nnc: str):
            q = next((x for x in spec.params if x.nnc == nnc), None)
            if q is None:
                return None
            t = props.get(nnc, _nnc_default(layer.type, nnc))
            return _parsed(t, q) if not t.strip().startswith("*") else None

        value = _parsed(props.get(p.nnc, ""), p)
        if value is None:
            return False
        if p.nnc == "Padding":
            from ..layers.core import border_padding

            kernel, dilation = get("KernelShape"), get("Dilation") or (1,) * len(value)
            mode = get("BorderMode") or "valid"
            if kernel is None or len(dilation) != len(kernel):
                return False
            return _same(tuple(value), border_padding(mode, tuple(kernel), tuple(dilation)))
        if p.nnc == "Strides":
            kernel = get("KernelShape")
            return kernel is not None and _same(tuple(value), tuple(kernel))
        return False

    def repeat(self, it: int, chained: bool, scope: _Scope) -> str:
        layer = self.g.layers[it]
        times = _scalar(layer.props.get("Times", _nnc_default("RepeatStart", "Times")), INT, self.ctx)
        if times is None:
            self.tr.error(
                _at(layer, "Times"), f"RepeatStart '{layer.name}': Times={layer.props.get('Times')!r} is not an integer"
            )
            times = "1"
        ins = self.item_inputs(it)
        head = "" if chained or 0 not in ins else self.ref(ins[0], layer) + " -> "
        body_items = self.items(it)
        chains = self.chains(it)
        cons = self.g.consumers((it, 0))
        tail = chains[0][-1] if len(chains) == 1 else None
        # A plain chain as the body: the body's input flows only into its first layer, and
        # its last layer's value is the body's output.
        chain_form = (
            tail is not None
            and cons == [(chains[0][0], 0)]
            and len(self.out_values(tail)) == 1
            and self.inlined(self.out_values(tail)[0]) == "out"
            and not any(self.target_names.get(x) for x in chains[0])
        )
        one_unit = (
            chain_form
            and len(body_items) == 1
            and self._type(body_items[0]) == "Unit"
            and _scope(self.g.layers[body_items[0]]) != ""
            and not self.multi_out(body_items[0])
        )
        label = ident(self.g.layers[body_items[0]].name) if one_unit else None
        name, must_label = scope.take(label or "repeat", label is not None)
        if must_label:
            label = name
        inner = _Scope(scope.prefix + name + "[0].")
        lead = f"{label}: " if label else ""
        if chain_form:
            labels = {} if one_unit else self._labels(body_items, it)
            stages = [self.call(x, True, inner, labels) for x in chains[0]]
            return f"{head}{lead}repeat {times} {{ {' -> '.join(stages)} }}"
        self.vname[(it, 0)] = self.names.new("h")
        lines = [f"in {self.vname[(it, 0)]}", *self.region_lines(it, inner)]
        body = "\n".join("    " + row for line in lines for row in line.split("\n"))
        return f"{head}{lead}repeat {times} {{\n{body}\n}}"

    def unit_call(self, it: int, chained: bool, scope: _Scope, labels: dict[int, str]) -> str:
        layer = self.g.layers[it]
        if it in self.overrides:  # per-instance properties its caller passes on (Translator._extra_arg)
            layer = NncLayer(layer.id, layer.type, {**layer.props, **self.overrides[it]}, layer.where, layer.prop_lines)
        target = layer.props.get("Network", "").strip()
        sig = self.tr.unit_args.get(target, [])
        ins = self.g.ins.get(it, {})
        tensors = ["" if (pin == 0 and chained) else self.ref(ins[pin], layer) for pin in sorted(ins)]
        args = []
        known = {"Name", "Network", "ParameterScope"}
        for nnc, nnd, type_, default in sig:
            key = nnc[2:] if nnc.startswith("__") else nnc
            known.add(key)
            if key not in layer.props:
                continue
            p = Param(nnd, {"int": INT, "float": FLOAT, "bool": BOOL, "string": STR, "shape": SHAPE}[type_], None, key)
            v = _value(layer.props[key], p, self.ctx)
            if v is None:
                self.tr.error(_at(layer, key), f"Unit '{layer.name}': {key}={layer.props[key]!r} is not a {type_}")
                continue
            if default is not None and (v == default or _text_equal(v, default)):
                continue
            args.append(f"{nnd}={v}")
        for key, value in layer.props.items():
            if key in known or key in EDITOR_ONLY or "." in key:
                continue
            self.tr.warn(
                _at(layer, key),
                f"Unit '{layer.name}': {key}={value.strip()!r} is not an argument of unit '{target}': lost",
            )
        if it in self.shared_scope:
            args.append(f"parameter_scope={_string(self.shared_scope[it])}")
        if chained:
            tensors = tensors[1:]
        elif len(tensors) == 1:
            head = tensors[0]
            in_repeat_whole = False
            return (
                head + " -> " + self._named(None if in_repeat_whole else labels.get(it), ident(target), args, scope, it)
            )
        return self._named(labels.get(it), ident(target), [*tensors, *args], scope, it)


class _Scope:
    """nndsl's naming of layers in one scope (a network, unit or repeat body): a label is
    taken as it is, a layer without one is named after its type, numbered from the second."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.names: set[str] = set()
        self.counters: dict[str, int] = {}
        # Names the scope-less calls in this scope will take (`Translator.unit_layer_names`),
        # and each call's (Unit layer ID -> its names).
        self.reserved: set[str] = set()
        self.scopeless: dict[int, set[str]] = {}
        self.refused: set[int] = set()  # those already reported for taking another one's names

    def take(self, base: str, explicit: bool) -> tuple[str, bool]:
        """The layer's name, and whether it must be written as a label: nndsl would name it
        `base` (or `base_2`...), but a scope-less call after it takes that name."""
        if explicit:
            self.names.add(base)
            return base, False
        n = self.counters.get(base, 0)
        must_label = False
        while True:
            n += 1
            candidate = base if n == 1 else f"{base}_{n}"
            if candidate in self.names:
                continue
            if candidate not in self.reserved:
                break
            must_label = True
        self.counters[base] = n
        self.names.add(candidate)
        return candidate, must_label

    def merge(self, names: set[str]) -> str | None:
        """A scope-less call takes `names` here; the first one already taken, if any."""
        clash = sorted(names & self.names)
        self.names |= names
        self.reserved -= names
        return clash[0] if clash else None


def _target_shape(layer: NncLayer, spec: LayerSpec, x: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a loss's target: the first of (x with the class axis 1, x) the loss accepts."""
    from ..layers.base import ShapeError

    axis_param = next((p for p in spec.params if p.nnc == "Axis"), None)
    candidates = []
    if axis_param is not None and x:
        text = layer.props.get("Axis", _nnc_default(layer.type, "Axis")) or "0"
        try:
            a = int(text) % len(x)
            candidates.append((*x[:a], 1, *x[a + 1 :]))
        except ValueError:
            pass
    candidates.append(tuple(x))
    params = {p.name: p.default for p in spec.params}
    for p in spec.params:
        if p.nnc in layer.props:
            parsed = _parsed(layer.props[p.nnc], p)
            if parsed is not None:
                params[p.name] = parsed
    for shape in candidates:
        try:
            spec.shape((tuple(x), shape), params)
            return shape
        except (ShapeError, KeyError, TypeError, ValueError):
            continue
    return candidates[0]


def translate(project: NncProject) -> Translation:
    """The networks of `project` as .nnd text (see the module's docstring), fmt-canonical;
    the config too when `nndsl.nnc.config_nnd` is there."""
    tr = Translator(project)
    result = tr.translate()
    if result.text is None:
        return result
    try:
        from .config_nnd import config_to_nnd  # the config translation (nnc-config)
    except ImportError:
        config = ""
    else:
        config = config_to_nnd(project, result.config_diagnostics)
    text = result.text + ("\n" + config if config.strip() else "")
    result.text = canonical(text)
    return result


def canonical(text: str) -> str:
    """`text` as `nndsl fmt` writes it (unchanged when it does not parse: the compile
    that follows reports why)."""
    from ..fmt import format_module
    from ..syntax.parser import parse

    module, diags = parse(text, "import.nnd")
    if diags:
        return text
    return format_module(module)
