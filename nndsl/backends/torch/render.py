"""The PyTorch model: from the IR to `model.py`, through the shared block builder.

One `nn.Module` class per unit of the spec (see `nndsl.backends.builder`); the
top-level `Model` owns every block and layer of every network once and has one method per
network. Parameters are addressed by `state_dict` key.
"""

from __future__ import annotations

from pathlib import Path

from ...ir import Layer, Project
from ..builder import Dialect, Emit, ModelRender, names_used, nnc_fans
from ..builder import build as build_blocks
from ..naming import literal, shown, template_attributes
from ..reserved import TORCH_MODULE
from ..templating import environment, templates_dir
from .emit import EMITTERS

MODULE_NAMES = {"torch", "nn", "F", "nnc", "np", "Path", "Tensor"}


class TorchDialect(Dialect):
    backend = "torch"
    reserved = frozenset(MODULE_NAMES)
    emitters = EMITTERS

    def __init__(self) -> None:
        self.attributes = TORCH_MODULE | template_attributes(templates_dir() / "torch" / "model.py.j2")

    def copies_loop(self, cls: str, rels: list[str], top: bool, args: list[str], count: str, uses_k: bool) -> str:
        return f"nn.ModuleList({cls}({', '.join(args)}) for {'k' if uses_k else '_'} in range({count}))"

    def copies_list(self, parts: list[tuple[str, str, list[str]]], top: bool) -> str:
        return "nn.ModuleList([" + ", ".join(f"{c}({', '.join(a)})" for c, _, a in parts) + "])"

    def param_key(self, layer_path: str, attr_path: str, attr: str) -> str:
        return f"{attr_path}.{attr}"

    def inits(self, layer: Layer, attr: str, emit: Emit) -> list[str]:
        return _inits(layer, attr, emit)


def build(project: Project) -> ModelRender:
    return build_blocks(project, TorchDialect())


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
        key = f"{nnc_name.lower()}_" if nnc_name else ""  # a Parameter layer: its own init
        init = layer.params.get(f"{key}init")
        if init is None:
            continue
        multiplier = layer.params[f"{key}init_multiplier"]
        n, m, k = nnc_fans(layer.type, shapes.get("W", shapes.get(nnc_name, ())))
        lines.append(
            f"nnc.init_parameter(self.{attr}.{torch_attr}, {literal(init)}, {literal(multiplier)}, {n}, {m}, {k})"
        )
    return lines


def render_model(project: Project) -> str:
    env = environment("torch")
    m = build(project)
    return env.get_template("model.py.j2").render(
        m=m, spec=shown(Path(project.path).name), functional=names_used(m, ("F",))
    )


def render_readme(project: Project) -> str:
    env = environment("torch")
    return env.get_template("README.md.j2").render(
        spec=shown(Path(project.path).name), networks=build(project).networks
    )
