"""From the IR to a render model shared by the backends: one class per unit.

Generated models follow the spec's structure: one class per unit (a layer-bodied repeat's
copy is an anonymous unit), whose constructor takes the unit's arguments, with its layers as
attributes named after the spec's layers and its forward code in the spec's order; a
top-level `Model` owns every block and layer of every network once (networks that share
parameters share the attribute) and has one method per network, each statement commented
with the shape the IR inferred.

Each block instance's code is generated concretely first (what the emitters give for its
layers), then the instances of one unit are merged into one class (`merge`); where they
cannot be, the unit is split into as few classes as it needs. Parameter names are
registered by walking the instances, never the classes.

What differs between frameworks (how a layer or a list of blocks is constructed, how
parameters are addressed, initial values) is a `Dialect`; the rest is here.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..diagnostics import make
from ..ir import Layer, Network, Project
from ..layers.base import REGISTRY, ParamShape, fmt_shape
from ..nnc.names import nnc_parameter_table
from . import merge
from .expr import Expr, Printer
from .naming import Namer, camel, literal, snake
from .pyformat import fitted_lines, split_top_level
from .structure import Block, network_tree


@dataclass(frozen=True, slots=True)
class Emit:
    """One layer in generated code.

    `call` is the forward expression (an `expr` tree), with `expr.MODULE` standing for the layer's
    attribute and `expr.inp(k)` for input k (and `expr.BATCH` for a tensor of the current batch, which
    a layer without inputs sizes its output by); `module` is constructor code for a layer with
    parameters or state (None for a stateless one). `params` maps the layer's NNC parameters to the
    framework's: (NNC name, attribute under the module, layout), which `save_params` uses.
    """

    call: Expr
    module: Expr | None = None
    params: tuple[tuple[str, str, str], ...] = ()
    initialized: bool = False  # the module applies NNC's initializers itself
    # (NNC name, NNC initializer, multiplier) the framework's constructor already gives a parameter
    # (PyTorch's BatchNorm: gamma Constant 1): `initializers` leaves those alone.
    initial: tuple[tuple[str, str, float], ...] = ()
    # (NNC name, constructor argument) where the framework takes a parameter's initializer under
    # another name than the backend's convention (Keras: `<attribute>_initializer`).
    init_args: tuple[tuple[str, str], ...] = ()
    # The value is a parameter in NNC's layout (a Parameter layer's), not a batch of data in the
    # backend's: its shape comment is NNC's.
    nnc_value: bool = False


Emitter = Callable[[Layer, tuple[tuple[int, ...], ...], tuple[int, ...]], Emit]


class Emitters(dict[str, Emitter]):
    """A backend's lowerings: one emitter per layer type, which `lower` calls with the IR layer, the
    per-sample input shapes and the output shape. `emitter` registers them."""

    def __init__(self, backend: str):
        super().__init__()
        self.backend = backend

    def emitter(self, *types: str, **bound: Mapping[str, Any]) -> Callable[[Emitter], Emitter]:
        """A decorator: the function lowers each of `types`, and each type given as a keyword with that
        type's own arguments (`@emitter(Softmax=dict(fn="softmax"), LogSoftmax=dict(fn="log_softmax"))`
        calls it with `fn="softmax"` for a Softmax): what sets one type apart from the others an
        emitter lowers is bound here, so no emitter asks for the type's name."""

        def register(fn: Emitter) -> Emitter:
            lowerings = [(t, fn) for t in types] + [(t, functools.partial(fn, **kw)) for t, kw in bound.items()]
            for t, lowering in lowerings:
                if t not in REGISTRY:
                    raise ValueError(f"{self.backend} emitter for {t}, which is no layer type")
                if t in self:
                    raise ValueError(f"{self.backend} emitter for {t} registered twice")
                self[t] = lowering
            return fn

        return register


class Unsupported(Exception):
    """A layer configuration a backend cannot express (reported as a compile error)."""


class BackendUnsupported(Exception):
    """A layer a backend cannot express; `diagnostic` (E0801) points at it."""

    def __init__(self, backend: str, layer: Layer, reason: str):
        super().__init__(f"{layer.type} '{layer.name}': {reason}")
        self.layer = layer
        self.diagnostic = make(
            "E0801", layer.origin.span, layer.origin.notes(), backend=backend, layer=f"'{layer.name}'",
            type=layer.type, reason=reason,
        )  # fmt: skip


def lower(backend: str, emitters: dict, layer: Layer, net: Network) -> Emit | None:
    """`layer`'s code from `backend`'s emitter (None for a network input, an argument rather than a
    computation); a layer type without an emitter, or a configuration the emitter refuses, is a
    `BackendUnsupported` at the layer."""
    if REGISTRY[layer.type].kind == "input":
        return None
    emit = emitters.get(layer.type)
    if emit is None:
        raise BackendUnsupported(backend, layer, "this backend has no emitter for the layer type yet")
    try:
        return emit(layer, tuple(net.values[v].shape for v in layer.inputs), net.values[layer.outputs[0]].shape)
    except Unsupported as e:
        raise BackendUnsupported(backend, layer, str(e)) from None


class Dialect:
    """How one framework spells what the builder needs. Code that names an imported module is built
    as an `expr` tree: `construct` and `inits` return trees the builder prints, `child` and the
    `copies_*` print theirs with the dialect's `printer`, which records the model's imports."""

    backend = ""
    init_self = "self"  # a unit class's constructor's first parameters
    # The argument of a unit class's forward (true by default) under which it computes an auxiliary
    # head that only some networks use, and that a network leaving the head out calls it with false
    # ("heads" in PyTorch: `self.net(x, heads=False)`; "" where the framework leaves out by itself
    # what a network's outputs do not need, as Keras' functional models do).
    heads_flag = ""
    reserved: frozenset[str] = frozenset()  # module-level names of the generated file
    # Attribute names of the generated classes' bases and of the template's own classes
    # (`train`, `to`, `state_dict`; `run_network`, `networks`): a layer never takes one.
    attributes: frozenset[str] = frozenset()
    emitters: dict[str, Callable[[Layer, tuple, tuple], Emit]] = {}

    def __init__(self) -> None:
        self.printer = Printer()  # one per model: its `imports` are the model's

    def code(self, e: Expr) -> str:
        return self.printer(e)

    def construct(self, ctor: Expr, rel: str, top: bool, layer: Layer, emit: Emit) -> Expr:
        """Constructor code of `layer`'s module, named `rel` inside its block."""
        return ctor

    def child(self, cls: str, rel: str, top: bool, args: list[str]) -> str:
        """Constructor code of a block instance (its class's constructor arguments `args`)."""
        return f"{cls}({', '.join(args)})"

    def copies_loop(
        self, cls: str, rels: list[str], top: bool, args: list[str], count: str, uses_k: bool
    ) -> str | None:
        """Constructor code of a repeat's `count` copies of class `cls` built in a loop over `k`
        (None where the dialect cannot name them in a loop)."""
        raise NotImplementedError

    def copies_list(self, parts: list[tuple[str, str, list[str]]], top: bool) -> str:
        """Constructor code of a repeat's copies one by one: (class, relative path, arguments)."""
        raise NotImplementedError

    def element(self, attr: str, k: int) -> str:
        """The attribute path of copy `k` of the list `attr`."""
        return f"{attr}.{k}"

    def param_key(self, layer_path: str, attr_path: str, attr: str) -> str:
        """How generated code addresses a parameter: layer path in the spec, the attribute path of its module."""
        raise NotImplementedError

    def shape(self, shape: tuple[int, ...]) -> str:
        """A value's per-sample shape as the generated code holds it (for comments)."""
        return fmt_shape(shape)

    def inits(self, layer: Layer, attr: str, emit: Emit) -> list[Expr]:
        """Statements after the constructors that give `layer` NNC's initial values."""
        return []


@dataclass
class ClassModel:
    name: str
    doc: str
    modules: list[tuple[str, str]] = field(default_factory=list)  # (attribute, constructor)
    args: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    returns: str = ""
    # For parameter names: this class's layers with parameters, (relative layer name,
    # attribute, ((NNC name, framework attribute, layout, NNC shape), ...)), and its child blocks,
    # (relative block path, attribute path, class name).
    layers: list[tuple[str, str, tuple]] = field(default_factory=list)
    children: list[tuple[str, str, str]] = field(default_factory=list)
    inits: list[str] = field(default_factory=list)  # NNC's initializers, after the constructors
    # A unit's class: its constructor's parameters (", maps: int, stride: int = 1"), and its
    # constructor's and forward's statements as (indentation level, statement).
    signature: str = ""
    header: str = ""  # its `def __init__(...) -> None:`
    init: list[tuple[int, str]] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class NetworkModel:
    name: str  # the spec's network name
    method: str
    doc: str
    args: list[str]
    body: list[str]
    outputs: list[tuple[str, str]]  # (output name, variable)
    inputs: list[tuple[str, str, tuple[int, ...]]]  # (input name, argument, shape)
    training: bool


@dataclass
class ParamModel:
    nnc: str  # NNC-style name: "resnet/stage3/block[2]/conv1/W"
    attr: str  # the framework's address (Dialect.param_key): "resnet.stage3.block.2.conv1.weight"
    layout: str  # how NNC's layout relates to the framework's (see the runtime's save_params)
    shape: tuple[int, ...]  # NNC's shape
    nnabla: str | None = None  # nnabla's name (nndsl.nnc.names): "resnet/stage3/block[2]/conv1/conv/W"
    nnabla_shape: tuple[int, ...] = ()  # nnabla's shape (BatchNormalization's have the batch axis)


@dataclass
class ModelRender:
    spec: str
    classes: list[ClassModel]
    model: ClassModel
    networks: list[NetworkModel]
    params: list[ParamModel]
    # Parameters NNC's LRateMultiplier freezes (0 or below, as nnabla reads it): their names in `params`.
    frozen: list[str] = field(default_factory=list)
    # The import statements the generated code needs, by the name each brings (what the printer recorded).
    imports: dict[str, str] = field(default_factory=dict)
    # Some class's shape comments are expressions of its sizes (`merge.ShapeNotes`): the module
    # docstring says how to read them.
    symbolic_shapes: bool = False
    # Layers that normalize with their running statistics when training too (`batch_stat` false in the
    # trained networks: a frozen BatchNormalization), by their first parameter's name in `params`.
    fixed_statistics: list[str] = field(default_factory=list)


def build(project: Project, dialect: Dialect) -> ModelRender:
    return _Builder(project, dialect).build()


class _Builder:
    def __init__(self, project: Project, dialect: Dialect):
        self.project = project
        self.dialect = dialect
        self.class_names = Namer(dialect.reserved | {"Model"})
        self.classes: list[ClassModel] = []
        self.params: dict[str, ParamModel] = {}
        self.instances: list[merge.Inst] = []
        self.index = _spec_index(getattr(project, "units", {}) or {})
        self.symbolic_shapes = False  # some class's shape comments are expressions (merge.ShapeNotes)

    def build(self) -> ModelRender:
        model = ClassModel("Model", "Every parameter of every network; networks that share parameters share modules.")
        # Layers, blocks and the networks' methods are all attributes of the one Model: one namespace.
        attrs = methods = Namer(self.dialect.reserved | self.dialect.attributes)
        owned: dict[str, tuple[str, tuple]] = {}  # block or layer path -> (attribute, signature)
        top = merge.Inst(("top",), "Model", "", [], {}, {}, [])
        bodies = []
        roots = [(net, network_tree(net)) for net in self.project.networks]
        self._heads(roots)
        for net, root in roots:
            run = merge.Inst(("top",), "Model", "", [], {}, {}, [])
            args = self._forward(root, net, top, attrs, owned, run)
            bodies.append((net, root, run, args))
        self._classes()
        networks = []
        cx = merge.Context([top])
        for attr, ctor in (
            merge.mod_line([m], [top], cx, self.dialect, self.kid_classes, literal, top=True) for m in top.mods
        ):
            model.modules.append((attr, ctor))
        model.inits = [x.text for x in top.inits]
        for net, _root, run, args in bodies:
            lines, returns = merge.render_body([run], merge.Context([run]), args, self.dialect.reserved, {})
            outputs = [(net.values[v].name, var) for v, var in zip(net.outputs, returns.split(", "), strict=False)]
            inputs = [(net.values[v].name, a, net.values[v].shape) for v, a in zip(net.inputs, args, strict=True)]
            networks.append(
                NetworkModel(
                    net.name,
                    methods.take(snake(net.name) + "_network"),
                    _network_doc(self.project, net),
                    args,
                    [line for _, line in lines],
                    outputs,
                    inputs,
                    net.training,
                )
            )
        self.nnabla = nnc_parameter_table(self.project)
        self._register(top, "", "")
        frozen = {
            layer.parameter_name(p): None
            for net in self.project.networks
            for layer in net.layers
            for p in layer.parameters
            if p.trainable and p.lrate_multiplier <= 0
        }
        fixed = self._fixed_statistics()
        # In the networks' layer order, which is the order nnabla creates (and saves) them in.
        order = {name: k for k, name in enumerate(self.nnabla)}
        params = sorted(self.params.values(), key=lambda p: order.get(p.nnc, len(order)))
        return ModelRender(
            self.project.path, self.classes, model, networks, params, list(frozen),
            dict(self.dialect.printer.imports), self.symbolic_shapes, fixed,
        )  # fmt: skip

    def _fixed_statistics(self) -> list[str]:
        """The layers that normalize with their running statistics in the networks an optimizer trains
        too (`batch_stat` false there: a frozen BatchNormalization), by their first parameter's name.
        Both backends run a layer in one mode for every trained network: one that takes batch
        statistics in one trained network and not in another is refused."""
        modes: dict[str, tuple[bool, Layer]] = {}
        for net in self.project.networks:
            if not net.training:
                continue
            for layer in net.layers:
                stat = layer.params.get("batch_stat")
                if not isinstance(stat, bool) or not layer.parameters:
                    continue
                name = layer.parameter_name(layer.parameters[0])
                if modes.setdefault(name, (stat, layer))[0] != stat:
                    raise BackendUnsupported(
                        self.dialect.backend, layer,
                        f"it takes batch statistics (batch_stat) in one trained network and not in another, as "
                        f"'{modes[name][1].name}' does; the backends run it one way when training",
                    )  # fmt: skip
        return [name for name, (stat, _) in modes.items() if not stat]

    def _register(self, inst: merge.Inst, scope: str, attr_path: str) -> None:
        """Name every parameter under the instance `inst` (placed at `attr_path`, spec scope `scope`)."""
        for rel, attr, params in inst.layers:
            for nnc_name, torch_attr, layout, shape in params:
                full = f"{scope}{rel}".replace(".", "/") + (f"/{nnc_name}" if nnc_name else "")
                key = self.dialect.param_key(f"{scope}{rel}", f"{attr_path}{attr}", torch_attr)
                nnabla, nnabla_shape = self.nnabla.get(full, (None, shape))
                self.params.setdefault(full, ParamModel(full, key, layout, shape, nnabla, tuple(nnabla_shape)))
        for rel, attr, child in inst.children:
            self._register(child, f"{scope}{rel}.", f"{attr_path}{attr}.")

    # --- classes ---------------------------------------------------------------------------

    def _instance(self, block: Block, net: Network) -> merge.Inst:
        """The concrete code of one block instance, as records to merge."""
        frames = _frames(block)
        if block.unit:
            unit = self.index.units.get(block.unit)
            group, base = ("unit", block.unit), block.unit
            env = dict(block.args)
            declared = [(q.name, _default(q), _ANNOTATIONS.get(q.type, "object")) for q in unit.params] if unit else []
            exprs = self.index.exprs.get(block.unit, [])
        else:
            rep = frames.get("repeat")
            outer = frames.get("outer")
            group = ("repeat", rep.span if rep else block.repeat)
            base = camel(block.repeat.rsplit(".", 1)[-1]) + "Step"
            env = dict(outer.args) if outer else {}
            unit = self.index.units.get(outer.unit) if outer else None
            declared = [(q.name, None, _ANNOTATIONS.get(q.type, "object")) for q in unit.params] if unit else []
            node = self.index.nodes.get(rep.span) if rep else None
            exprs = _exprs(node[0]) if node else []
            var = getattr(node[0], "var", None) if node else None
            if var and var not in env:
                # `repeat i in n { ... }`: the copy's index is an argument of the copy's class
                env[var] = block.index
                declared.append((var, None, "int"))
        names = Namer(self.dialect.reserved | {"prefix", "k", "self", "in_channels", "in_features"})
        spec_params = [(name, names.take(snake(name)), default, ann) for name, default, ann in declared]
        derived = {}
        if block.inputs and net.values[block.inputs[0]].shape:
            derived["in_channels"] = net.values[block.inputs[0]].shape[0]
            if len(net.values[block.inputs[0]].shape) > 1:
                # what an affine layer on the flattened input takes (torch's nn.Linear(in_features, ...))
                derived["in_features"] = math.prod(net.values[block.inputs[0]].shape)
        inst = merge.Inst(group, base, _block_doc(block, net), spec_params, env, derived, exprs)
        if block.unit and unit:
            inst.input_name, bindings = _body_constants(unit)
            inst.locals = [(name, names.take(snake(name)), e) for name, e in bindings]
        inst.shapes_in = ", ".join(fmt_shape(net.values[v].shape) for v in block.inputs)
        inst.in_shape = tuple(net.values[block.inputs[0]].shape) if block.inputs else ()
        inst.shapes_out = ", ".join(fmt_shape(net.values[v].shape) for v in block.outputs)
        attrs = Namer(self.dialect.reserved | self.dialect.attributes)
        inst.args = list(block.inputs)
        self._forward(block, net, inst, attrs, {}, inst)
        inst.outputs = list(block.outputs)
        self.instances.append(inst)
        return inst

    def _classes(self) -> None:
        """Merge every unit's instances into classes, children first."""
        groups: dict[tuple, list[merge.Inst]] = {}
        for inst in self.instances:
            groups.setdefault(inst.group, []).append(inst)
        order: list[tuple] = []
        seen: set = set()

        def visit(g: tuple) -> None:
            if g in seen:
                return
            seen.add(g)
            for inst in groups[g]:
                for m in inst.mods:
                    for kid in m.kids:
                        visit(kid.group)
            order.append(g)

        for g in groups:
            visit(g)
        self.kid_classes: dict[str, merge.KidClass] = {}
        for g in order:
            self._split(groups[g])

    def _split(self, insts: list[merge.Inst]) -> None:
        """As few classes as the instances merge into (one, where the spec's arguments and
        conditions explain every difference)."""
        subgroups: list[tuple[list[merge.Inst], merge.ClassCode]] = []
        # Instances of the same code and arguments (most of a deep network's) merge as one.
        same: dict[tuple, list[merge.Inst]] = {}
        for inst in insts:
            same.setdefault(merge.fingerprint(inst) if MERGE_UNITS else (id(inst),), []).append(inst)
        for twins in same.values():
            inst = twins[0]
            for k, (members, _) in enumerate(subgroups if MERGE_UNITS else ()):
                try:
                    code = self._merge([*members, inst])
                except merge.NoMerge:
                    continue
                subgroups[k] = ([*members, inst], code)
                break
            else:
                subgroups.append(([inst], self._merge([inst])))
        for members, code in subgroups:
            members = [
                twin for inst in members for twin in same[merge.fingerprint(inst) if MERGE_UNITS else (id(inst),)]
            ]
            first = members[0]
            name = self.class_names.take(camel(first.base), sep="")
            spec_of = {py: spec for spec, py, *_ in first.spec_params}
            for inst in members:
                inst.cls = name
                inst.values = {
                    py: (inst.derived[py] if py in inst.derived else inst.env.get(spec_of[py]))
                    for py, _, _ in code.params
                }
            self.kid_classes[name] = merge.KidClass(
                name, code.params, {py: spec_of.get(py) for py, _, _ in code.params}, [s for s, *_ in first.spec_params]
            )
            sig = "".join(f", {py}: {ann}" + (f" = {d}" if d is not None else "") for py, ann, d in code.params)
            doc = _class_doc(members, len(insts), self.index)
            args = code.args
            if first.flag:  # it computes auxiliary heads (or calls a class that does) only with the flag
                flag = self.dialect.heads_flag
                args = [*args, f"{flag}: bool = True"]
                doc += f"\n\n    `{flag}=False` leaves out its auxiliary heads (None in their places).\n    "
            cls = ClassModel(name, doc, args=args, returns=code.returns)
            cls.signature = sig
            cls.header = _init_header(self.dialect.init_self + sig)
            cls.init = code.init
            cls.lines = code.body
            self.classes.append(cls)
            self.symbolic_shapes |= code.symbolic
            if code.math:  # (`math.floor` of a spec's `floor`)
                self.dialect.printer.imports["math"] = "import math"

    def _merge(self, insts: list[merge.Inst]) -> merge.ClassCode:
        return merge.merge_class(insts, self.dialect, self.kid_classes, literal, self.dialect.attributes, None)

    def _loop_shapes(self, net: Network, copies: list) -> str:
        """The comment of a loop over a repeat's copies, on the line each step runs: the shape every step
        gives; where the steps change it (a repeat over a configuration table), each step's in order,
        left out where they do not fit in a short comment."""
        shapes = [self.dialect.shape(net.values[c.outputs[0]].shape) for c in copies]
        if len(set(shapes)) == 1:
            return shapes[0]
        listed = ", ".join(shapes)
        return listed if len(listed) <= _LOOP_COMMENT else ""

    def _forward(self, block: Block, net: Network, owner: merge.Inst, attrs: Namer, owned: dict, run: merge.Inst):
        """Records of `block`'s code: its modules and initializers on `owner`, its forward
        statements on `run` (the owner itself, or one network of the top-level model)."""
        top = owner.group == ("top",)
        args = []
        if top:
            local = Namer(self.dialect.reserved | {"self"})
            args = [local.take(snake(net.values[v].name)) for v in block.inputs]
            run.args = list(block.inputs)
            run.outputs = list(block.outputs)
        # Modules are named (and shared) after their parameters' names, which a `parameter_scope`
        # can set apart from the layers' own.
        pcut = len(block.param_path) + 1 if block.path else 0
        depth = _depth_of(block)
        items = list(block.items)
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, Block) and item.repeat and item.index == 0 and _loopable(items, i, item, net):
                copies = [b for b in items[i : i + item.count]]
                attr_name = copies[0].param_path[pcut:].rsplit("[", 1)[0]
                attr = self._attr(owner, attrs, owned, attr_name, net, copies, top)
                out_vid = copies[-1].outputs[0]
                step = snake(attr_name.rsplit(".", 1)[-1]) + "_step"
                run.body.append(
                    merge.Stmt(_unique(run, ("R", attr_name)), "loop", step, (copies[0].inputs[0],), (out_vid,),
                               self._loop_shapes(net, copies), attr)
                )  # fmt: skip
                i += item.count
                continue
            before = len(run.body)
            if isinstance(item, Block):
                rel = item.param_path[pcut:]
                if top and rel in self.fullest:
                    attr, outputs, shapes = self._head_call(owner, attrs, owned, rel, item, net)
                else:
                    attr = self._attr(owner, attrs, owned, rel, net, [item], top)
                    outputs = tuple(item.outputs)
                    shapes = ", ".join(self.dialect.shape(net.values[v].shape) for v in item.outputs)
                stmt = merge.Stmt(_unique(run, ("B", rel)), "child", "", tuple(item.inputs), outputs, shapes, attr)
                stmt.flag = self._flag_argument(owner, attr, item, top)
                run.flag |= bool(stmt.flag) and not top
                run.body.append(stmt)
            else:
                self._layer(item, net, owner, attrs, owned, run, pcut, depth, block)
            if not top and self.guarded and self._guarded(item) and not self._guarded(block):
                for stmt in run.body[before:]:
                    stmt.guard = self.dialect.heads_flag
                run.flag = True
            i += 1
        return args

    def _flag_argument(self, owner: merge.Inst, attr: str, item: Block, top: bool) -> str:
        """The heads argument of the call of the child `attr` (a block): passed on from a unit
        class (`heads=heads`), false from a network that has none of the child's auxiliary heads,
        none where the child's class takes no flag or the network computes its heads."""
        flag = self.dialect.heads_flag
        if not flag or not any(kid.flag for m in owner.mods if m.attr == attr for kid in m.kids):
            return ""
        if not top:
            return f"{flag}={flag}"
        return "" if any(x.name in self.guarded for x in item.layers()) else f"{flag}=False"

    # --- auxiliary heads: a block that networks use with different parts ----------------------------

    def _heads(self, roots: list[tuple[Network, Block]]) -> None:
        """Blocks of the networks' top level that differ between networks (a unit instance whose
        auxiliary head only Training uses): the fullest one, whose class every network calls
        (`fullest`: path -> (block, network)), and the layers only trained networks have there
        (`guarded`, their names), which the class computes under the dialect's `heads_flag`.
        Same-named layers have the same type and parameters everywhere (a block is shared by its
        layers' names); a block whose layers are not all in one network's is refused."""
        self.fullest: dict[str, tuple[Block, Network]] = {}
        self.guarded: set[str] = set()
        self.tapped: set[int] = set()  # values of the fullest blocks that only other networks read
        self._holes = 0
        found: dict[str, list[tuple[Block, Network]]] = {}
        for net, root in roots:
            for item in root.items:
                if isinstance(item, Block) and not item.repeat:
                    found.setdefault(item.param_path, []).append((item, net))
        for rel, uses in found.items():
            sigs = {b.signature(n) for b, n in uses}
            if len(sigs) == 1:
                continue
            contents = [({(x.name, x.type, _layer_sig(x)) for x in b.layers()}, b, n) for b, n in uses]
            full = max(contents, key=lambda c: len(c[0]))
            for have, b, _ in contents:
                missing = have - full[0]
                if missing:
                    layer = next(x for x in b.layers() if (x.name, x.type, _layer_sig(x)) in missing)
                    raise BackendUnsupported(
                        self.dialect.backend, layer,
                        f"networks use '{rel}' with different structures, and no network's has all the layers "
                        "of the others (a head only one network uses is fine); give one of them another label",
                    )  # fmt: skip
            self.fullest[rel] = (full[1], full[2])
            self._taps(full[1], full[2], [b for _, b, _ in contents if b is not full[1]])
            where: dict[str, list[bool]] = {}
            for _, b, n in contents:
                for x in b.layers():
                    where.setdefault(x.name, []).append(n.training)
            if self.dialect.heads_flag:
                self.guarded |= {name for name, trained in where.items() if len(trained) < len(uses) and all(trained)}

    def _taps(self, full: Block, net: Network, others: list[Block]) -> None:
        """Values other networks read from inside the fullest block `full` (`net: ResNet18.pool`, a
        network ending at an inner layer) become outputs of it, and of every block inside it around
        their layer, so that its class returns them too; `tapped` records them (the networks that do
        not use one leave it out: `_`)."""
        have = {net.layers[net.values[v].producer].name for v in full.outputs}
        wanted = {
            b_net_layer
            for b in others
            for b_net_layer in (layer.name for layer in b.layers() for v in layer.outputs if v in b.outputs)
        }
        by_name = {layer.name: layer.outputs[0] for layer in full.layers()}
        for name in sorted(wanted - have):
            if name not in by_name:
                continue  # not a layer of the fullest block: `_head_call` refuses it
            vid = by_name[name]
            self.tapped.add(vid)
            for block in _around(full, name):
                if vid not in block.outputs:
                    block.outputs = sorted([*block.outputs, vid])

    def _guarded(self, item) -> bool:
        """Whether every layer of `item` (a layer or a block) is one only trained networks have."""
        if isinstance(item, Block):
            layers = list(item.layers())
            return bool(layers) and all(x.name in self.guarded for x in layers)
        return item.name in self.guarded

    def _head_call(self, owner, attrs: Namer, owned: dict, rel: str, item: Block, net: Network) -> tuple:
        """The call of the fullest block `rel` from network `net`, whose block `item` has only some of
        its parts: (attribute, the outputs in the fullest block's order with a placeholder for each
        that `net` leaves out, their shapes)."""
        full, full_net = self.fullest[rel]
        attr = self._attr(owner, attrs, owned, rel, full_net, [full], True)
        own = [v for v in item.outputs if item is not full or v not in self.tapped]  # (a tap of others: a hole)
        mine = {net.layers[net.values[v].producer].name: v for v in own}
        outputs = []
        for v in full.outputs:
            name = full_net.layers[full_net.values[v].producer].name
            if name in mine:
                outputs.append(mine.pop(name))
            else:
                self._holes -= 1
                outputs.append(self._holes)  # no value of the network: a name the body never uses
        if mine or len(item.inputs) != len(full.inputs):
            raise BackendUnsupported(
                self.dialect.backend, next(item.layers()),
                f"networks use '{rel}' with different inputs or outputs; give one of them another label",
            )  # fmt: skip
        shapes = ", ".join(self.dialect.shape(full_net.values[v].shape) for v in full.outputs)
        return attr, tuple(outputs), shapes

    def _attr(self, owner, attrs: Namer, owned: dict, rel: str, net: Network, copies: list[Block], top: bool) -> str:
        """The submodule for a block (or the list of a repeat's copies)."""
        key = rel
        sig = tuple(c.signature(net) for c in copies) if top else ()
        if key in owned:
            attr, known = owned[key]
            if known != sig:
                raise BackendUnsupported(
                    self.dialect.backend,
                    next(copies[0].layers()),
                    f"networks use '{rel}' with different structures; give one of them another label",
                )
            return attr
        attr = attrs.take(snake(rel.rsplit(".", 1)[-1].split("[")[0]))
        owned[key] = (attr, sig)
        kids = [self._instance(c, net) for c in copies]
        frames = [_frames(c) for c in copies]
        if len(copies) == 1 and not copies[0].repeat:
            call = self.index.nodes.get(frames[0]["unit"].span) if "unit" in frames[0] else None
            mod = merge.Mod(("B", rel, 1), attr, kids=kids, rels=[rel], spec=call[0] if call else None,
                            ctx=call[1] if call else ())  # fmt: skip
            owner.children.append((rel, attr, kids[0]))
        else:
            base = rel[: len(rel) - len(copies[0].repeat.rsplit(".", 1)[-1])] if "." in rel else ""
            rels = [base + c.path.rsplit(".", 1)[-1] for c in copies]
            rep = self.index.nodes.get(frames[0]["repeat"].span) if "repeat" in frames[0] else None
            call = self.index.nodes.get(frames[0]["unit"].span) if "unit" in frames[0] else None
            mod = merge.Mod(("R", rel, 1), attr, kids=kids, rels=rels, copies=True,
                            spec=(rep[0] if rep else None, call[0] if call else None),
                            ctx=rep[1] if rep else ())  # fmt: skip
            for k, (r, kid) in enumerate(zip(rels, kids, strict=True)):
                owner.children.append((r, self.dialect.element(attr, k), kid))
        owner.mods.append(mod)
        return attr

    def _layer(self, layer: Layer, net: Network, owner, attrs: Namer, owned: dict, run, cut, depth, block):
        emit = lower(self.dialect.backend, self.dialect.emitters, layer, net)
        if emit is None:
            return
        # The code to merge: every option kept with its marks (see `expr.Printer`).
        full = Printer(full=True)
        full.imports = self.dialect.printer.imports
        emit_fn = self.dialect.emitters[layer.type]
        ins = tuple(net.values[v].shape for v in layer.inputs)
        out_vid = layer.outputs[0]
        top = owner.group == ("top",)
        key = ("L", layer.name) if top else ("L", *(f.span for f in layer.origin.via[depth:]), layer.origin.span)
        # One spec statement may give a block several layers (a scopeless unit called twice): keys stay unique.
        key = _unique(run, key)
        node = self.index.nodes.get(layer.origin.span)
        spec, ctx = node if node else (None, ())
        # Layers share parameters by name (their own, or their `parameter_scope`'s): one module,
        # called once per layer; a module without parameters (augmentation) is shared only where
        # its configuration is the same too.
        rel = layer.param_scope[cut:]
        call = full(emit.call)
        marks = {} if top else _provenance(self.dialect, emit_fn, layer, ins, net.values[out_vid].shape, spec, rel)
        call = _mark(call, marks.get("call"))
        if emit.module is not None:
            mkey = rel if emit.params else (rel, merge.concrete(full(emit.module)))
            if mkey in owned:
                attr = owned[mkey][0]
            else:
                attr = attrs.take(snake(rel))
                owned[mkey] = (attr, ())
                ctor = _mark(full(self.dialect.construct(emit.module, rel, top, layer, emit)), marks.get("ctor"))
                owner.mods.append(merge.Mod(key, attr, text=ctor, spec=spec, ctx=ctx))
                if emit.params:
                    shapes = {q.name: q.shape for q in layer.parameters}
                    params = tuple((n, t, lay, tuple(shapes.get(n, ()))) for n, t, lay in emit.params)
                    owner.layers.append((rel, attr, params))
                    owner.inits.extend(
                        merge.Init((*key, j), _mark(full(e), marks.get(("init", j))), ctx, spec)
                        for j, e in enumerate(self.dialect.inits(layer, attr, emit))
                    )
            call = call.replace("{m}", f"self.{attr}")
        else:
            attr = None
        inputs = tuple(layer.inputs)
        if "{batch_ref}" in call:
            # An emitter's `{batch_ref}`: a tensor of the batch being computed (the first input of the
            # network or block), for layers without inputs of their own.
            if not block.inputs:
                raise BackendUnsupported(self.dialect.backend, layer, "it needs a block with at least one input")
            call = call.replace("{batch_ref}", "{" + str(len(inputs)) + "}")
            inputs = (*inputs, block.inputs[0])
        shape = net.values[out_vid].shape
        # A Parameter's value is a parameter in NNC's layout, not a batch of data in the backend's.
        shown = "x".join(map(str, shape)) if emit.nnc_value else self.dialect.shape(shape)
        run.body.append(merge.Stmt(key, "layer", call, inputs, (out_vid,), shown, attr, spec, ctx))


def _provenance(dialect, emit_fn, layer: Layer, ins: tuple, out: tuple, spec, rel: str) -> dict:
    """Which constants of a layer's code are functions of which of its spec call's arguments:
    {text's name: {token index: provenance mark (`merge.follows`)}}.

    The layer is emitted again with one argument's value changed (to the first two of a few
    nearby values that the registry's rules and the emitter accept, with the output shape and
    parameters the rules give for it; a bool flipped, once); a constant is that argument's value
    where it is the value and changes with it to exactly the changed value every time, and a
    function of it (`1 - decay`, `2 * maps + 1`, `not bias`) where one small affine function (or
    the negation) gives it at all three values. Constants that only happen to equal the value
    (another size, a fan computed from the shapes) stay what they are. An argument no changed
    value is accepted for marks nothing."""
    own = merge.own_exprs(spec)
    if not own or layer.connectors:
        return {}
    by_span = {span: name for name, span in layer.param_spans.items()}
    reg = REGISTRY[layer.type]
    base = _texts(dialect, emit_fn, layer, ins, out, rel)
    if base is None:
        return {}
    found: dict = {}
    for k, e in enumerate(own):
        name = by_span.get(e.span)
        if name is None or merge.literal_expr(e):
            continue
        value = layer.params[name]
        changes = _changes(value)
        accepted: list = []  # (changed value, its texts)
        for changed in changes:
            params = {**layer.params, name: changed}
            try:
                out2 = tuple(reg.shape(ins, params))
                other = Layer(layer.name, layer.type, params, layer.inputs, layer.outputs, layer.origin,
                              layer.param_spans, layer.input_spans, layer.repeats, reg.parameters(ins, params, out2),
                              layer.macs, layer.scope, layer.connectors)  # fmt: skip
            except Exception:  # noqa: BLE001 - a value the rules refuse: try the next one
                continue
            texts = _texts(dialect, emit_fn, other, ins, out2, rel)
            if texts is None:
                continue  # (one with(out) a bias has more (fewer) initializers: the texts both have are compared)
            accepted.append((changed, texts))
            if len(accepted) == min(2, len(changes)):
                break
        if not changes or len(accepted) < min(2, len(changes)):
            continue
        values = [c for c, _ in accepted]
        for t in [t for t in base if all(t in x for _, x in accepted)]:
            for j, mark in merge.follows(base[t], [x[t] for _, x in accepted], value, values, k).items():
                found.setdefault(t, {})[j] = mark
    return found


def _texts(dialect, emit_fn, layer: Layer, ins: tuple, out: tuple, rel: str) -> dict | None:
    full = Printer(full=True)  # its imports are not the model's: this code is only compared
    try:
        emit = emit_fn(layer, ins, out)
        texts = {"call": full(emit.call)}
        if emit.module is not None:
            texts["ctor"] = full(dialect.construct(emit.module, rel, False, layer, emit))
            if emit.params:
                # "a": one name, as the real attribute is, so that the constants' positions agree.
                for j, e in enumerate(dialect.inits(layer, "a", emit)):
                    texts[("init", j)] = full(e)
        return texts
    except Exception:  # noqa: BLE001 - an emitter refusing a changed value: no provenance
        return None


def _changes(value) -> list:
    """The values an argument is changed to, to see which constants follow it (nearest first; the
    rules refuse some: an odd number of maps for two groups, a rate past 1)."""
    if isinstance(value, bool):
        return [not value]
    steps = (1, 2, 3, 4, -1, -2, 6, 8)
    if isinstance(value, int):
        return [value + d for d in steps]
    if isinstance(value, float):
        return [value + d / 16 for d in steps]
    if isinstance(value, (tuple, list)) and value and not any(isinstance(x, bool) for x in value):
        per_axis = [_changes(x) for x in value]  # (every axis changed by the same step)
        return [type(value)(xs) for xs in zip(*per_axis, strict=True)] if all(per_axis) else []
    return []


def _mark(text: str, marks: dict | None) -> str:
    return merge.with_marks(text, marks) if marks else text


# The longest list of step shapes a loop's comment holds (`_loop_shapes`): five ImageNet stages.
_LOOP_COMMENT = 64

# Tests set this False to get one class per instance (each instance's concrete code), the
# reference the merged classes are compared with.
MERGE_UNITS = True

_ANNOTATIONS = {"int": "int", "float": "float", "bool": "bool", "string": "str", "str": "str", "list": "tuple",
                "shape": "tuple[int, ...]"}  # fmt: skip


def _default(q) -> str | None:
    if q.default is None:
        return None
    value = merge.spec_value(q.default, {})
    if value is merge.NOTHING:
        return None
    try:
        return literal(tuple(value) if isinstance(value, list) else value)
    except (TypeError, ValueError):
        return None


def _frames(block: Block) -> dict:
    """The expansion frames of `block`: its unit instance ("unit"), its repeat ("repeat") and,
    for a repeat's copy, the unit instance around the repeat ("outer")."""
    first = next(block.layers(), None)
    out: dict = {}
    if first is None:
        return out
    via = first.origin.via
    for k, f in enumerate(via):
        if block.unit and f.kind == "unit" and f.name == block.path:
            out["unit"] = f
        if block.repeat and f.kind == "repeat" and f.name == block.repeat:
            out["repeat"] = f
            outer = [g for g in via[:k] if g.kind in ("unit", "scopeless") and g.unit]
            if outer:
                out["outer"] = outer[-1]
    return out


def _init_header(params: str, width: int = 120) -> str:
    """A class's `def __init__(...)` line as ruff format writes it (at class indentation)."""
    line = f"    def __init__({params}) -> None:"
    if len(line) <= width:
        return line
    if len(params) + 8 <= width:
        return f"    def __init__(\n        {params}\n    ) -> None:"
    lines = [line for p in split_top_level(params) for line in fitted_lines(p + ",", 8, width)]
    return "    def __init__(\n" + "".join(f"{line}\n" for line in lines) + "    ) -> None:"


def _around(block: Block, name: str) -> list[Block]:
    """`block` and the blocks inside it that hold the layer called `name`, outermost first."""
    chain = [block]
    while True:
        blocks = (b for b in chain[-1].items if isinstance(b, Block))
        inner = next((b for b in blocks if any(x.name == name for x in b.layers())), None)
        if inner is None:
            return chain
        chain.append(inner)


def _layer_sig(layer: Layer) -> tuple:
    """What a layer shared by name must agree on between networks: its parameters' shapes."""
    return tuple((q.name, tuple(q.shape)) for q in layer.parameters)


def _unique(run: merge.Inst, key: tuple) -> tuple:
    """`key` numbered by its occurrence in `run`: one spec statement may give a block several
    statements (a scopeless unit called twice, a shared block called twice)."""
    run.counts[key] = run.counts.get(key, 0) + 1
    return (*key, run.counts[key])


def _depth_of(block: Block) -> int:
    """How many expansion frames lead into `block` (the frames of its layers past these are its own)."""
    first = next(block.layers(), None)
    if first is None or not block.path:
        return 0
    for k, f in enumerate(first.origin.via):
        if (block.unit and f.kind == "unit" and f.name == block.path) or (
            not block.unit and f.kind == "repeat" and f.name == block.repeat
        ):
            return k + 1
    return len(first.origin.via)


@dataclass
class _SpecIndex:
    units: dict
    nodes: dict  # span -> (ast node, the conditions around it: ((cond, polarity), ...))
    exprs: dict  # unit name -> its body's expressions


def _spec_index(units: dict) -> _SpecIndex:
    """Where each call and repeat of the units' bodies is, and under which conditions."""
    from ..syntax import ast as sast

    nodes: dict = {}
    exprs: dict = {}

    def walk(node, ctx: tuple, found: list | None) -> None:
        """`found` collects the candidate expressions (None inside an operator's operands)."""
        if isinstance(node, sast.If):
            walk(node.cond, ctx, found)
            for s in node.then:
                walk(s, (*ctx, (node.cond, True)), found)
            for s in node.orelse or ():
                walk(s, (*ctx, (node.cond, False)), found)
            return
        if isinstance(node, (sast.Call, sast.Repeat, sast.Binary, sast.Unary, sast.Slicing)):
            # (a Binary or Unary: also the tensor arithmetic layer it may be; an Index, the slice layer)
            nodes[node.span] = (node, ctx)
        if found is not None and _candidate(node):
            found.append(node)
            if isinstance(node, (sast.Binary, sast.Name, sast.Unary)):
                found = None  # (its operands are no candidates of their own; calls in them are indexed)
        if isinstance(node, tuple):
            for x in node:
                walk(x, ctx, found)
            return
        if hasattr(node, "__dataclass_fields__"):
            for name in node.__dataclass_fields__:
                value = getattr(node, name)
                if isinstance(value, (tuple, list)) or hasattr(value, "__dataclass_fields__"):
                    walk(value, ctx, found)

    for name, unit in units.items():
        found: list = []
        walk(unit.body, (), found)
        exprs[name] = found
    return _SpecIndex(units, nodes, exprs)


def _candidate(node) -> bool:
    """An expression of the spec that may be a constant of the generated code (`merge.Context`)."""
    from ..syntax import ast as sast

    return isinstance(node, (sast.Binary, sast.Name, sast.Unary, sast.Index)) or merge.builtin_call(node)


def _body_constants(unit) -> tuple[str | None, list]:
    """A unit's first input where its body never rebinds it (what `x.shape` reads), and the names
    its body binds once outside any `if`, or once and then again directly in the branches of one
    `if` (`pad = 1`, `if stride == 2 { pad = 0 }`: a `merge.Choice`), or directly in both branches of
    one, with their expressions (the constants among them are the constructor's locals,
    `merge.Context`), in the order the body binds them."""
    from ..syntax import ast as sast

    counts: dict[str, int] = {}

    def walk(stmts) -> None:
        for st in stmts or ():
            if isinstance(st, sast.Assign):
                for t in st.targets:
                    counts[t.id] = counts.get(t.id, 0) + 1
            elif isinstance(st, sast.If):
                walk(st.then)
                walk(st.orelse)

    def direct(stmts) -> dict:
        out: dict = {}
        for st in stmts or ():
            if isinstance(st, sast.Assign) and len(st.targets) == 1:
                out.setdefault(st.targets[0].id, []).append(st.value)
        return {n: v[0] for n, v in out.items() if len(v) == 1}

    walk(unit.body)
    first = next((st.names[0].id for st in unit.body if isinstance(st, sast.In) and st.names), None)
    values: dict = {}  # name -> (its expression, the bindings it accounts for)
    for st in unit.body:
        if isinstance(st, sast.Assign) and len(st.targets) == 1 and st.targets[0].id not in values:
            values[st.targets[0].id] = (st.value, 1)
        elif isinstance(st, sast.If):
            then, orelse = direct(st.then), direct(st.orelse)
            for n in [*then, *(n for n in orelse if n not in then)]:
                before, seen = values.pop(n, (None, 0))
                if seen > 1 or (before is None and not (n in then and n in orelse)):
                    continue  # (bound twice before, or unbound where a branch leaves it)
                e = merge.Choice(st.cond, then.get(n, before), orelse.get(n, before))
                values[n] = (e, seen + (n in then) + (n in orelse))
    bindings = [(n, e) for n, (e, seen) in values.items() if seen == counts.get(n)]
    return (None if first is None or first in counts else first), bindings


def _exprs(node) -> list:
    from ..syntax import ast as sast

    found: list = []

    def walk(n) -> None:
        if _candidate(n):
            found.append(n)
            if isinstance(n, (sast.Binary, sast.Name, sast.Unary)):
                return
        if isinstance(n, tuple):
            for x in n:
                walk(x)
        elif hasattr(n, "__dataclass_fields__"):
            for name in n.__dataclass_fields__:
                walk(getattr(n, name))

    walk(node)
    return found


def _class_doc(members: list, total: int, index: _SpecIndex) -> str:
    """A class's docstring: the instance's own head where it has one, else what it is for."""
    if len(members) == 1 and total == 1:
        return members[0].doc_head
    first = members[0]
    unit = index.units.get(first.group[1]) if first.group[0] == "unit" else None
    what = f"Unit {unit.name}" if unit is not None else f"One copy of repeat '{first.base[: -len('Step')]}'"
    if len(members) == total:
        return f"{what}: one class for its {total} instances in this model."
    return f"{what}: one class for {len(members)} of its {total} instances in this model."


def initializers(
    layer: Layer, emit: Emit, initial: dict[str, tuple[str, float]] | None = None
) -> list[tuple[str, str, ParamShape]]:
    """(NNC name, framework attribute, parameter) of each parameter of `layer` whose NNC initial value
    (the IR's `ParamShape.init` and `init_multiplier`; the runtime reads the fans from the shape)
    generated code must apply: every one of `emit.params` but those the framework's constructor
    already gives that value (`initial`, by NNC name: the emitter's `Emit.initial` unless the backend
    gives it) and those of a module that applies NNC's initializers itself."""
    if emit.initialized:
        return []
    preset = initial if initial is not None else {n: (i, float(m)) for n, i, m in emit.initial}
    by_name = {q.name: q for q in layer.parameters}
    out = []
    for nnc_name, attr, _ in emit.params:
        q = by_name.get(nnc_name)
        if q is None or not q.init:
            continue
        if preset.get(nnc_name) == (q.init, float(q.init_multiplier)):
            continue
        out.append((nnc_name, attr, q))
    return out


def _uses(block: Block) -> dict[int, int]:
    """How many times each value is used in `block`: by its items, and by its return."""
    uses: dict[int, int] = {}
    for item in block.items:
        for v in item.inputs:
            uses[v] = uses.get(v, 0) + 1
    for v in block.outputs:
        uses[v] = uses.get(v, 0) + 1
    return uses


def _loopable(items: list, i: int, first: Block, net: Network) -> bool:
    """A repeat's copies run as a loop when they chain one tensor from copy to copy."""
    copies = items[i : i + first.count]
    if len(copies) != first.count or not all(isinstance(c, Block) and c.repeat == first.repeat for c in copies):
        return False
    for k, c in enumerate(copies):
        if len(c.inputs) != 1 or len(c.outputs) != 1:
            return False
        if k and c.inputs[0] != copies[k - 1].outputs[0]:
            return False
    return True


def _block_doc(block: Block, net: Network) -> str:
    ins = ", ".join(fmt_shape(net.values[v].shape) for v in block.inputs)
    outs = ", ".join(fmt_shape(net.values[v].shape) for v in block.outputs)
    if block.unit:
        args = ", ".join(f"{k}={_shown_arg(v)}" for k, v in block.args)
        head = f"Unit {block.unit}({args})"
        # A class's docstring line holds 4 + 6 quote characters more; past the generated code's 120
        # columns the arguments go on lines of their own.
        if len(head) + len(ins) + len(outs) + 16 > 120:
            lines = textwrap.wrap(f"Arguments: {args}.", 116, break_long_words=False, break_on_hyphens=False)
            return f"Unit {block.unit}: {ins} -> {outs}.\n\n" + "".join(f"    {line}\n" for line in lines) + "    "
    else:
        head = f"One copy of repeat '{block.repeat}'"
    return f"{head}: {ins} -> {outs}."


def _shown_arg(value) -> str:
    """An argument as a docstring shows it: a long list (a configuration table) by its length."""
    text = literal(value)
    if isinstance(value, tuple) and len(text) > 40:
        return f"<a list of {len(value)}>"
    return text


def _network_doc(project: Project, net: Network) -> str:
    ins = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape)}" for v in net.inputs)
    outs = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape)}" for v in net.outputs)
    return f"Network {net.name}: {ins} -> {outs}."
