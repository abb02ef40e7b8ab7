"""From the IR to a render model shared by the backends: one class per distinct block.

Generated models follow the spec's structure: one class per distinct block (unit instance
or repeat copy, see `structure.Block.signature`) with its layers as attributes named after
the spec's layers and its forward code in the spec's order, each statement commented with
the shape the IR inferred; a top-level `Model` owns every block and layer of every network
once (networks that share parameters share the attribute) and has one method per network.

What differs between frameworks (how a layer or a list of blocks is constructed, how
parameters are addressed, initial values) is a `Dialect`; the rest is here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..diagnostics import make
from ..ir import Layer, Network, Project
from ..layers.base import REGISTRY, ParamShape, fmt_shape
from ..nnc.names import nnc_parameter_table
from .naming import Namer, camel, literal, snake
from .structure import Block, network_tree


@dataclass(frozen=True, slots=True)
class Emit:
    """One layer in generated code.

    `call` is the forward expression, with `{m}` standing for the layer's attribute and
    `{0}`, `{1}`... for the inputs (and `{batch_ref}` for a tensor of the current batch, which a layer
    without inputs sizes its output by); `module` is constructor code for a layer with parameters
    or state (None for a stateless one). `params` maps the layer's NNC parameters to the
    framework's: (NNC name, attribute under the module, layout), which `save_params` uses.
    """

    call: str
    module: str | None = None
    params: tuple[tuple[str, str, str], ...] = ()
    initialized: bool = False  # the module applies NNC's initializers itself
    # (NNC name, NNC initializer, multiplier) the framework's constructor already gives a parameter
    # (PyTorch's BatchNorm: gamma Constant 1): `initializers` leaves those alone.
    initial: tuple[tuple[str, str, float], ...] = ()
    # (NNC name, constructor argument) where the framework takes a parameter's initializer under
    # another name than the backend's convention (Keras: `<attribute>_initializer`).
    init_args: tuple[tuple[str, str], ...] = ()


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


class Dialect:
    """How one framework spells what the builder needs."""

    backend = ""
    reserved: frozenset[str] = frozenset()  # module-level names of the generated file
    # Attribute names of the generated classes' bases and of the template's own classes
    # (`train`, `to`, `state_dict`; `run_network`, `networks`): a layer never takes one.
    attributes: frozenset[str] = frozenset()
    emitters: dict[str, Callable[[Layer, tuple, tuple], Emit]] = {}

    def construct(self, ctor: str, rel: str, top: bool, layer: Layer, emit: Emit) -> str:
        """Constructor code of `layer`'s module, named `rel` inside its block."""
        return ctor

    def child(self, cls: str, rel: str, top: bool) -> str:
        """Constructor code of a block instance."""
        return f"{cls}()"

    def copies(self, names: list[str], rels: list[str], top: bool) -> str:
        """Constructor code of a repeat's copies (classes `names`, relative paths `rels`)."""
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

    def inits(self, layer: Layer, attr: str, emit: Emit) -> list[str]:
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


def build(project: Project, dialect: Dialect) -> ModelRender:
    return _Builder(project, dialect).build()


def names_used(m: ModelRender, candidates: tuple[str, ...]) -> list[str]:
    """Those of `candidates` (module aliases) that the generated statements of `m` use as
    `name.`: the imports a generated model needs beyond its template's own."""
    lines = [text for c in [*m.classes, m.model] for text in (*(ctor for _, ctor in c.modules), *c.inits, *c.body)]
    code = "\n".join(lines + [line for n in m.networks for line in n.body])
    return [name for name in candidates if re.search(rf"(?<![\w.]){re.escape(name)}\.", code)]


class _Builder:
    def __init__(self, project: Project, dialect: Dialect):
        self.project = project
        self.dialect = dialect
        self.class_names = Namer(dialect.reserved | {"Model"})
        self.classes: list[ClassModel] = []
        self.by_signature: dict[tuple, str] = {}
        self.params: dict[str, ParamModel] = {}
        self._batch_refs: list[str | None] = []

    def build(self) -> ModelRender:
        model = ClassModel("Model", "Every parameter of every network; networks that share parameters share modules.")
        # Layers, blocks and the networks' methods are all attributes of the one Model: one namespace.
        attrs = methods = Namer(self.dialect.reserved | self.dialect.attributes)
        owned: dict[str, tuple[str, tuple]] = {}  # block or layer path -> (attribute, signature)
        networks = []
        for net in self.project.networks:
            root = network_tree(net)
            body, args, outputs = self._forward(root, net, model, attrs, owned, top=True)
            inputs = [(net.values[v].name, a, net.values[v].shape) for v, a in zip(net.inputs, args, strict=True)]
            networks.append(
                NetworkModel(
                    net.name,
                    methods.take(snake(net.name) + "_network"),
                    _network_doc(self.project, net),
                    args,
                    body,
                    [(net.values[v].name, var) for v, var in outputs],
                    inputs,
                    net.training,
                )
            )
        self.nnabla = nnc_parameter_table(self.project)
        self._register(model, "", "")
        frozen = {
            layer.parameter_name(p): None
            for net in self.project.networks
            for layer in net.layers
            for p in layer.parameters
            if p.trainable and p.lrate_multiplier <= 0
        }
        # In the networks' layer order, which is the order nnabla creates (and saves) them in.
        order = {name: k for k, name in enumerate(self.nnabla)}
        params = sorted(self.params.values(), key=lambda p: order.get(p.nnc, len(order)))
        return ModelRender(self.project.path, self.classes, model, networks, params, list(frozen))

    def _register(self, cls: ClassModel, scope: str, attr_path: str) -> None:
        """Name every parameter under `cls` (placed at `attr_path`, spec scope `scope`)."""
        for rel, attr, params in cls.layers:
            for nnc_name, torch_attr, layout, shape in params:
                full = f"{scope}{rel}".replace(".", "/") + (f"/{nnc_name}" if nnc_name else "")
                key = self.dialect.param_key(f"{scope}{rel}", f"{attr_path}{attr}", torch_attr)
                nnabla, nnabla_shape = self.nnabla.get(full, (None, shape))
                self.params.setdefault(full, ParamModel(full, key, layout, shape, nnabla, tuple(nnabla_shape)))
        by_name = {c.name: c for c in self.classes}
        for rel, attr, child in cls.children:
            self._register(by_name[child], f"{scope}{rel}.", f"{attr_path}{attr}.")

    # --- classes ---------------------------------------------------------------------------

    def _class_for(self, block: Block, net: Network) -> str:
        sig = block.signature(net)
        name = self.by_signature.get(sig)
        if name is not None:
            return name
        base = block.unit or camel(block.repeat.rsplit(".", 1)[-1]) + "Step"
        name = self.class_names.take(camel(base), sep="")
        self.by_signature[sig] = name
        cls = ClassModel(name, _block_doc(block, net))
        attrs = Namer(self.dialect.reserved | self.dialect.attributes)
        body, args, outputs = self._forward(block, net, cls, attrs, {}, top=False)
        cls.args, cls.body = args, body
        cls.returns = ", ".join(var for _, var in outputs)
        self.classes.append(cls)
        return name

    def _forward(self, block: Block, net: Network, owner: ClassModel, attrs: Namer, owned: dict, top: bool):
        """Forward statements of `block` inside `owner`; registers submodules on `owner`."""
        local = Namer(self.dialect.reserved | {"self"})
        var: dict[int, str] = {}
        self.arguments = set(block.inputs)  # arguments keep their names: chains start new variables
        args = []
        for k, vid in enumerate(block.inputs):
            wish = net.values[vid].name if top else ("x" if len(block.inputs) == 1 else f"x{k}")
            var[vid] = local.take(snake(wish))
            args.append(var[vid])
        # Modules are named (and shared) after their parameters' names, which a `parameter_scope`
        # can set apart from the layers' own.
        pcut = len(block.param_path) + 1 if block.path else 0
        # A layer without inputs (WorkingMemory) takes the batch size and device from this one.
        self._batch_refs.append(args[0] if args else None)
        uses = _uses(block)
        body: list[str] = []
        items = list(block.items)
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, Block) and item.repeat and item.index == 0 and _loopable(items, i, item, net):
                copies = [b for b in items[i : i + item.count]]
                attr_name = copies[0].param_path[pcut:].rsplit("[", 1)[0]
                attr = self._attr(owner, attrs, owned, attr_name, net, copies)
                src_vid = copies[0].inputs[0]
                src = var[src_vid]
                out_vid = copies[-1].outputs[0]
                name = self._name_for(local, var, uses, src_vid)
                loop = local.take(snake(attr_name.rsplit(".", 1)[-1]) + "_step")
                if name != src:
                    body.append(f"{name} = {src}")
                body.append(f"for {loop} in self.{attr}:")
                body.append(f"    {name} = {loop}({name})  # {self.dialect.shape(net.values[out_vid].shape)}")
                var[out_vid] = name
                i += item.count
                continue
            if isinstance(item, Block):
                attr = self._attr(owner, attrs, owned, item.param_path[pcut:], net, [item])
                call_args = ", ".join(var[v] for v in item.inputs)
                first = item.inputs[0] if len(item.inputs) == 1 and len(item.outputs) == 1 else None
                outs = [self._name_for(local, var, uses, first) for _ in item.outputs]
                shapes = ", ".join(self.dialect.shape(net.values[v].shape) for v in item.outputs)
                lhs = ", ".join(outs) if outs else "_"
                body.append(f"{lhs} = self.{attr}({call_args})  # {shapes}")
                for v, n in zip(item.outputs, outs, strict=True):
                    var[v] = n
            else:
                self._layer(item, net, owner, attrs, owned, body, var, local, uses, pcut)
            i += 1
        outputs = [(v, var[v]) for v in block.outputs if v in var]
        self._batch_refs.pop()
        return body, args, outputs

    def _attr(self, owner: ClassModel, attrs: Namer, owned: dict, rel: str, net: Network, copies: list[Block]) -> str:
        """The submodule for a block (or the ModuleList for a repeat's copies)."""
        key = rel
        sig = tuple(c.signature(net) for c in copies)
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
        if len(copies) == 1 and not copies[0].repeat:
            cls = self._class_for(copies[0], net)
            owner.modules.append((attr, self.dialect.child(cls, rel, owner.name == "Model")))
            owner.children.append((rel, attr, cls))
        else:
            names = [self._class_for(c, net) for c in copies]
            base = rel[: len(rel) - len(copies[0].repeat.rsplit(".", 1)[-1])] if "." in rel else ""
            rels = [base + c.path.rsplit(".", 1)[-1] for c in copies]
            for k, (r, n) in enumerate(zip(rels, names, strict=True)):
                owner.children.append((r, self.dialect.element(attr, k), n))
            owner.modules.append((attr, self.dialect.copies(names, rels, owner.name == "Model")))
        return attr

    def _layer(self, layer: Layer, net: Network, owner, attrs: Namer, owned: dict, body, var, local, uses, cut):
        if REGISTRY[layer.type].kind == "input":  # a network input: an argument, not a computation
            return
        emit_fn = self.dialect.emitters.get(layer.type)
        if emit_fn is None:
            raise BackendUnsupported(self.dialect.backend, layer, "this backend has no emitter for the layer type yet")
        ins = tuple(net.values[v].shape for v in layer.inputs)
        out_vid = layer.outputs[0]
        try:
            emit: Emit = emit_fn(layer, ins, net.values[out_vid].shape)
        except Unsupported as e:
            raise BackendUnsupported(self.dialect.backend, layer, str(e)) from None
        # Layers share parameters by name (their own, or their `parameter_scope`'s): one module,
        # called once per layer; a module without parameters (augmentation) is shared only where
        # its configuration is the same too.
        rel = layer.param_scope[cut:]
        call = emit.call
        if emit.module is not None:
            key = rel if emit.params else (rel, emit.module)
            if key in owned:
                attr = owned[key][0]
            else:
                attr = attrs.take(snake(rel))
                owned[key] = (attr, ())
                owner.modules.append(
                    (attr, self.dialect.construct(emit.module, rel, owner.name == "Model", layer, emit))
                )
                if emit.params:
                    shapes = {q.name: q.shape for q in layer.parameters}
                    params = tuple((n, t, lay, tuple(shapes.get(n, ()))) for n, t, lay in emit.params)
                    owner.layers.append((rel, attr, params))
                    owner.inits.extend(self.dialect.inits(layer, attr, emit))
            call = call.replace("{m}", f"self.{attr}")
        if "{batch_ref}" in call:
            # An emitter's `{batch_ref}`: a tensor of the batch being computed (the first input of the
            # network or block), for layers without inputs of their own.
            ref = self._batch_refs[-1]
            if ref is None:
                raise BackendUnsupported(self.dialect.backend, layer, "it needs a block with at least one input")
            call = call.replace("{batch_ref}", ref)
        call = call.format(*(var[v] for v in layer.inputs))
        first = layer.inputs[0] if layer.inputs else None
        name = self._name_for(local, var, uses, first, wish="h")
        var[out_vid] = name
        shape = net.values[out_vid].shape
        # A Parameter's value is a parameter in NNC's layout, not a batch of data in the backend's.
        shown = "x".join(map(str, shape)) if layer.type == "Parameter" else self.dialect.shape(shape)
        comment = f"  # {shown}"
        body.append(f"{name} = {call}{comment}")

    def _name_for(self, local: Namer, var: dict, uses: dict, previous: int | None, wish: str = "h") -> str:
        """Chains reuse one variable: a value whose input is used only by it takes the
        input's variable; any other value gets a new one."""
        if previous is not None and previous in var and uses.get(previous, 0) == 1 and previous not in self.arguments:
            return var[previous]
        return local.take(wish)


# NNC's random layers, which both runtimes implement as classes taking NNC's parameter names:
# the parameters generated code passes (ImageAugmentation: its shape and those off NNC's defaults).
RANDOM_LAYER_ARGS = {"RandomFlip": ("axes", "skip_at_test"), "RandomShift": ("shift", "border_mode", "skip_at_test"),
                     "RandomCrop": ("shape",)}  # fmt: skip


def random_layer(runtime: str, layer: Layer) -> Emit:
    """The Emit of a random layer: the runtime module's class of the same name (`nnc.RandomFlip(...)`)."""
    from ..layers import REGISTRY

    p = layer.params
    if layer.type == "ImageAugmentation":
        defaults = {q.name: q.default for q in REGISTRY["ImageAugmentation"].params}
        names = ["shape"] + [n for n, v in p.items() if n != "shape" and v != defaults.get(n)]
    else:
        names = list(RANDOM_LAYER_ARGS[layer.type])
    args = ", ".join(f"{n}={literal(tuple(p[n]) if isinstance(p[n], tuple) else p[n])}" for n in names)
    return Emit("{m}({0})", f"{runtime}.{layer.type}({args})")


def initializers(
    layer: Layer, emit: Emit, initial: dict[str, tuple[str, float]] | None = None
) -> list[tuple[str, str, ParamShape]]:
    """(NNC name, framework attribute, parameter) of each parameter of `layer` whose NNC initial value
    (the IR's `ParamShape.init`, `init_multiplier` and `fans`) generated code must apply: every one of
    `emit.params` but those the framework's constructor already gives that value (`initial`, by NNC
    name: the emitter's `Emit.initial` unless the backend gives it) and those of a module that applies
    NNC's initializers itself."""
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
        args = ", ".join(f"{k}={literal(v)}" for k, v in block.args)
        head = f"Unit {block.unit}({args})"
    else:
        head = f"One copy of repeat '{block.repeat}'"
    return f"{head}: {ins} -> {outs}."


def _network_doc(project: Project, net: Network) -> str:
    ins = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape)}" for v in net.inputs)
    outs = ", ".join(f"{net.values[v].name} {fmt_shape(net.values[v].shape)}" for v in net.outputs)
    return f"Network {net.name}: {ins} -> {outs}."
