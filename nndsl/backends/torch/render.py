"""The PyTorch model: from the IR to `model.py`, through the shared block builder.

One `nn.Module` class per unit of the spec (see `nndsl.backends.builder`); the
top-level `Model` owns every block and layer of every network once and has one method per
network. Parameters are addressed by `state_dict` key.
"""

from __future__ import annotations

from pathlib import Path

from ...ir import Layer, Project
from ..builder import Dialect, Emit, ModelRender, initializers
from ..builder import build as build_blocks
from ..expr import Code, Comp, Expr, Lit, Name, Seq
from ..naming import shown, template_attributes
from ..reserved import TORCH_MODULE
from ..templating import environment, runtime_imports, templates_dir
from ..toplevel import COLUMNS, main_model, main_reason
from .emit import EMITTERS, NN, NNC

MODULE_NAMES = {"torch", "nn", "F", "nnc", "augment", "metrics", "nnc_layers", "np", "Path", "Tensor", "math"}


class TorchDialect(Dialect):
    backend = "torch"
    reserved = frozenset(MODULE_NAMES)
    heads_flag = "heads"
    emitters = EMITTERS

    def __init__(self) -> None:
        super().__init__()
        self.attributes = TORCH_MODULE | template_attributes(templates_dir() / "torch" / "model.py.j2")

    def copies_loop(self, cls: str, rels: list[str], top: bool, args: list[str], count: str, uses_k: bool) -> str:
        copy = Name(cls)(*map(Code, args))
        return self.code(NN.dot("ModuleList")(Comp(copy, "k" if uses_k else "_", Name("range")(Code(count)))))

    def copies_list(self, parts: list[tuple[str, str, list[str]]], top: bool) -> str:
        return self.code(NN.dot("ModuleList")(Seq(tuple(Name(c)(*map(Code, a)) for c, _, a in parts), list=True)))

    def param_key(self, layer_path: str, attr_path: str, attr: str) -> str:
        return f"{attr_path}.{attr}"

    def inits(self, layer: Layer, attr: str, emit: Emit) -> list[Expr]:
        return _inits(layer, attr, emit)


def build(project: Project) -> ModelRender:
    return build_blocks(project, TorchDialect())


def _inits(layer: Layer, attr: str, emit: Emit) -> list[Expr]:
    """Statements giving a layer's parameters NNC's initial values, from the IR (`ParamShape.init`,
    `init_multiplier`): all but those PyTorch's module already starts with (`Emit.initial`).

    The runtime reads nnabla's fans (N inputs, M outputs, K kernel area) from the tensor's shape in
    its layout (`layout="affine"` for a Linear's transposed weight), as the compiler's `ParamShape.fans`
    does from NNC's shape: one rule, `nnc_shapes.nnabla_fans`.
    """
    layouts = {n: layout for n, _, layout in emit.params}
    lines = []
    init = NN.dot("init")
    for nnc_name, torch_attr, q in initializers(layer, emit):
        target = Name("self").dot(attr).dot(torch_attr)
        if q.init == "Constant":  # PyTorch's own
            c = float(q.init_multiplier)
            own = {0.0: "zeros_", 1.0: "ones_"}.get(c)
            lines.append(init.dot(own)(target) if own else init.dot("constant_")(target, c))
            continue
        args = [target, Lit(q.init)] + ([Lit(q.init_multiplier)] if q.init_multiplier != 1 else [])
        layout = {"layout": layouts[nnc_name]} if layouts[nnc_name] != "same" else {}
        lines.append(NNC.dot("init_parameter")(*args, **layout))
    return lines


def render_model(project: Project, m: ModelRender | None = None) -> str:
    env = environment("torch")
    m = m or build(project)
    return env.get_template("model.py.j2").render(
        m=m,
        spec=shown(Path(project.path).name),
        runtime_imports=runtime_imports(m.imports, "torch"),
        main=main_model(project, m),
        main_why=main_reason(project),
        columns=COLUMNS["torch"],
    )
