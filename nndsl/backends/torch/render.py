"""The PyTorch model: from the IR to a render model to `model.py`.

One `nn.Module` class per distinct block (unit instance or repeat copy) of the spec,
with its layers as submodules named after the spec's layers and its forward code in the
spec's order, each statement commented with the shape the IR inferred. The top-level
`Model` owns every block and layer of every network once (networks that share parameters
share the submodule) and has one method per network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from ...diagnostics import make
from ...ir import Layer, Network, Project
from ...layers.base import fmt_shape
from ..naming import Namer, camel, literal, snake
from ..structure import Block, network_tree
from .emit import EMITTERS, Emit, Unsupported

MODULE_NAMES = {"torch", "nn", "F", "nnc", "np", "Path", "Tensor"}


@dataclass
class ClassModel:
    name: str
    doc: str
    modules: list[tuple[str, str]] = field(default_factory=list)  # (attribute, constructor)
    args: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    returns: str = ""
    # For parameter names: this class's layers with parameters, (relative layer name,
    # attribute, ((NNC name, torch attribute, layout, NNC shape), ...)), and its child blocks,
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
    attr: str  # state_dict key: "resnet.stage3.block.2.conv1.weight"
    layout: str  # how NNC's layout relates to PyTorch's (see nnc.py)
    shape: tuple[int, ...]  # NNC's shape


@dataclass
class ModelRender:
    spec: str
    classes: list[ClassModel]
    model: ClassModel
    networks: list[NetworkModel]
    params: list[ParamModel]


class TorchUnsupported(Exception):
    """A layer this backend cannot express; `diagnostic` points at it."""

    def __init__(self, layer: Layer, reason: str):
        super().__init__(f"{layer.type} '{layer.name}': {reason}")
        self.layer = layer
        self.diagnostic = make(
            "E0801", layer.origin.span, layer.origin.notes(), backend="torch", layer=f"'{layer.name}'", type=layer.type,
            reason=reason,
        )  # fmt: skip


def build(project: Project) -> ModelRender:
    return _Builder(project).build()


class _Builder:
    def __init__(self, project: Project):
        self.project = project
        self.class_names = Namer(MODULE_NAMES | {"Model"})
        self.classes: list[ClassModel] = []
        self.by_signature: dict[tuple, str] = {}
        self.params: dict[str, ParamModel] = {}

    def build(self) -> ModelRender:
        model = ClassModel("Model", "Every parameter of every network; networks that share parameters share modules.")
        attrs = Namer(MODULE_NAMES | {"run_network", "save_params", "load_params", "forward", "training"})
        owned: dict[str, tuple[str, tuple]] = {}  # block or layer path -> (attribute, signature)
        networks = []
        methods = Namer(MODULE_NAMES | {"run_network", "save_params", "load_params", "forward", "training"})
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
        self._register(model, "", "")
        return ModelRender(self.project.path, self.classes, model, networks, list(self.params.values()))

    def _register(self, cls: ClassModel, scope: str, attr_path: str) -> None:
        """Name every parameter under `cls` (placed at `attr_path`, spec scope `scope`)."""
        for rel, attr, params in cls.layers:
            for nnc_name, torch_attr, layout, shape in params:
                full = f"{scope}{rel}".replace(".", "/") + f"/{nnc_name}"
                self.params.setdefault(full, ParamModel(full, f"{attr_path}{attr}.{torch_attr}", layout, shape))
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
        attrs = Namer(MODULE_NAMES | {"forward", "training"})
        body, args, outputs = self._forward(block, net, cls, attrs, {}, top=False)
        cls.args, cls.body = args, body
        cls.returns = ", ".join(var for _, var in outputs)
        self.classes.append(cls)
        return name

    def _forward(self, block: Block, net: Network, owner: ClassModel, attrs: Namer, owned: dict, top: bool):
        """Forward statements of `block` inside `owner`; registers submodules on `owner`."""
        local = Namer(MODULE_NAMES | {"self"})
        var: dict[int, str] = {}
        self.arguments = set(block.inputs)  # arguments keep their names: chains start new variables
        args = []
        for k, vid in enumerate(block.inputs):
            wish = net.values[vid].name if top else ("x" if len(block.inputs) == 1 else f"x{k}")
            var[vid] = local.take(snake(wish))
            args.append(var[vid])
        cut = len(block.path) + 1 if block.path else 0
        uses = _uses(block)
        body: list[str] = []
        items = list(block.items)
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, Block) and item.repeat and item.index == 0 and _loopable(items, i, item, net):
                copies = [b for b in items[i : i + item.count]]
                attr_name = item.repeat[cut:]
                attr = self._attr(owner, attrs, owned, attr_name, net, copies)
                src_vid = copies[0].inputs[0]
                src = var[src_vid]
                out_vid = copies[-1].outputs[0]
                name = self._name_for(local, var, uses, src_vid)
                loop = local.take(snake(attr_name.rsplit(".", 1)[-1]) + "_step")
                if name != src:
                    body.append(f"{name} = {src}")
                body.append(f"for {loop} in self.{attr}:")
                body.append(f"    {name} = {loop}({name})  # {fmt_shape(net.values[out_vid].shape)}")
                var[out_vid] = name
                i += item.count
                continue
            if isinstance(item, Block):
                attr = self._attr(owner, attrs, owned, item.path[cut:], net, [item])
                call_args = ", ".join(var[v] for v in item.inputs)
                first = item.inputs[0] if len(item.inputs) == 1 and len(item.outputs) == 1 else None
                outs = [self._name_for(local, var, uses, first) for _ in item.outputs]
                shapes = ", ".join(fmt_shape(net.values[v].shape) for v in item.outputs)
                lhs = ", ".join(outs) if outs else "_"
                body.append(f"{lhs} = self.{attr}({call_args})  # {shapes}")
                for v, n in zip(item.outputs, outs, strict=True):
                    var[v] = n
            else:
                self._layer(item, net, owner, attrs, owned, body, var, local, uses, cut)
            i += 1
        outputs = [(v, var[v]) for v in block.outputs if v in var]
        return body, args, outputs

    def _attr(self, owner: ClassModel, attrs: Namer, owned: dict, rel: str, net: Network, copies: list[Block]) -> str:
        """The submodule for a block (or the ModuleList for a repeat's copies)."""
        key = rel
        sig = tuple(c.signature(net) for c in copies)
        if key in owned:
            attr, known = owned[key]
            if known != sig:
                raise TorchUnsupported(
                    next(copies[0].layers()),
                    f"networks use '{rel}' with different structures; give one of them another label",
                )
            return attr
        attr = attrs.take(snake(rel.rsplit(".", 1)[-1].split("[")[0]))
        owned[key] = (attr, sig)
        if len(copies) == 1 and not copies[0].repeat:
            cls = self._class_for(copies[0], net)
            owner.modules.append((attr, f"{cls}()"))
            owner.children.append((rel, attr, cls))
        else:
            names = [self._class_for(c, net) for c in copies]
            base = rel[: len(rel) - len(copies[0].repeat.rsplit(".", 1)[-1])] if "." in rel else ""
            for k, (c, n) in enumerate(zip(copies, names, strict=True)):
                owner.children.append((base + c.path.rsplit(".", 1)[-1], f"{attr}.{k}", n))
            if len(set(names)) == 1:
                owner.modules.append((attr, f"nn.ModuleList({names[0]}() for _ in range({len(copies)}))"))
            else:
                owner.modules.append((attr, "nn.ModuleList([" + ", ".join(f"{n}()" for n in names) + "])"))
        return attr

    def _layer(self, layer: Layer, net: Network, owner, attrs: Namer, owned: dict, body, var, local, uses, cut):
        if layer.type == "Input":
            return
        emit_fn = EMITTERS.get(layer.type)
        if emit_fn is None:
            raise TorchUnsupported(layer, "this layer type has no PyTorch emitter yet")
        ins = tuple(net.values[v].shape for v in layer.inputs)
        out_vid = layer.outputs[0]
        try:
            emit: Emit = emit_fn(layer, ins, net.values[out_vid].shape)
        except Unsupported as e:
            raise TorchUnsupported(layer, str(e)) from None
        rel = layer.name[cut:]
        call = emit.call
        if emit.module is not None:
            # Layers share parameters by name; a module without parameters (augmentation)
            # is shared only where its configuration is the same too.
            key = rel if emit.params else (rel, emit.module)
            if key in owned:
                attr = owned[key][0]
            else:
                attr = attrs.take(snake(rel))
                owned[key] = (attr, ())
                owner.modules.append((attr, emit.module))
                if emit.params:
                    shapes = {q.name: q.shape for q in layer.parameters}
                    params = tuple((n, t, lay, tuple(shapes.get(n, ()))) for n, t, lay in emit.params)
                    owner.layers.append((rel, attr, params))
                    owner.inits.extend(_inits(layer, attr, emit))
            call = call.replace("{m}", f"self.{attr}")
        call = call.format(*(var[v] for v in layer.inputs))
        first = layer.inputs[0] if layer.inputs else None
        name = self._name_for(local, var, uses, first, wish="h")
        var[out_vid] = name
        comment = f"  # {fmt_shape(net.values[out_vid].shape)}"
        body.append(f"{name} = {call}{comment}")

    def _name_for(self, local: Namer, var: dict, uses: dict, previous: int | None, wish: str = "h") -> str:
        """Chains reuse one variable: a value whose input is used only by it takes the
        input's variable; any other value gets a new one."""
        if previous is not None and previous in var and uses.get(previous, 0) == 1 and previous not in self.arguments:
            return var[previous]
        return local.take(wish)


def wrap_call(prefix: str, call: str, indent: int, width: int = 120) -> str:
    """`prefix + call` within `width` columns, broken the way ruff format breaks a call:
    the arguments on one indented line, or one per line with a trailing comma."""
    if indent + len(prefix) + len(call) <= width or not call.endswith(")") or "(" not in call:
        return prefix + call
    head, args = call[: call.index("(") + 1], _split_args(call[call.index("(") + 1 : -1])
    pad = " " * (indent + 4)
    one = pad + ", ".join(args)
    if len(one) <= width:
        return f"{prefix}{head}\n{one}\n{' ' * indent})"
    return f"{prefix}{head}\n" + "".join(f"{pad}{a},\n" for a in args) + f"{' ' * indent})"


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated parts of an argument list (brackets and strings respected)."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _inits(layer: Layer, attr: str, emit: Emit) -> list[str]:
    """`nnc.init_parameter` calls giving a layer's parameters NNC's initial values.

    Fans follow nnabla's reading of NNC's layouts (N inputs, M outputs, K kernel area), so
    they are passed explicitly and PyTorch's own layouts (Linear's transposed weight) do not
    matter. BatchNormalization keeps PyTorch's initial state (scale 1, shift 0, mean 0,
    variance 1, which is nnabla's PF.batch_normalization's).
    """
    if layer.type == "BatchNormalization" or emit.initialized:
        return []
    shapes = {q.name: q.shape for q in layer.parameters}
    lines = []
    for nnc_name, torch_attr, _ in emit.params:
        key = nnc_name.lower()
        init = layer.params.get(f"{key}_init")
        if init is None:
            continue
        multiplier = layer.params[f"{key}_init_multiplier"]
        n, m, k = _fans(layer.type, shapes.get("W", shapes.get(nnc_name, ())))
        lines.append(
            f"nnc.init_parameter(self.{attr}.{torch_attr}, {literal(init)}, {literal(multiplier)}, {n}, {m}, {k})"
        )
    return lines


def _fans(layer_type: str, w: tuple[int, ...]) -> tuple[int, int, int]:
    """(N, M, K) of a weight in NNC's layout: convolutions (out, in/group, *kernel), Affine (in, *out)."""
    if not w:
        return 1, 1, 1
    if "Convolution" in layer_type or "Deconvolution" in layer_type:
        return w[1] if len(w) > 1 else 1, w[0], math.prod(w[2:])
    return w[0], math.prod(w[1:]), 1


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


def render_model(project: Project) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "torch")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["literal"] = literal
    env.filters["wrap"] = wrap_call
    env.filters["literal_list"] = lambda items: "[" + ", ".join(literal(i) for i in items) + "]"
    return env.get_template("model.py.j2").render(m=build(project), spec=Path(project.path).name)


def render_readme(project: Project) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "torch")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("README.md.j2").render(spec=Path(project.path).name, networks=build(project).networks)


def templates_dir() -> Path:
    """Templates ship inside the wheel (nndsl/templates); a checkout has them at the top."""
    here = Path(__file__).resolve().parents[2]
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "torch").is_dir():
            return candidate
    raise FileNotFoundError("templates/torch not found next to the nndsl package")
