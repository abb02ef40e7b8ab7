"""The Keras model: from the IR to `model.py`, through the shared block builder.

One plain Python class per unit of the spec (see `nndsl.backends.builder`): its
constructor creates the block's Keras layers, named after their full path in the spec
(`net.block[0].conv1`), and calling it applies them to symbolic tensors. The top-level
`Model` creates every block and layer once and builds one functional `keras.Model` per
network from them, so networks that share parameters share the layer objects. Parameters
are addressed by layer name and variable.
"""

from __future__ import annotations

from pathlib import Path

from ...ir import Layer, Project
from ..builder import Dialect, Emit, ModelRender, initializers
from ..builder import build as build_blocks
from ..expr import Call, Code, Comp, Expr, Lit, Name, Seq
from ..naming import literal, shown, template_attributes
from ..reserved import KERAS_MODEL
from ..templating import environment, runtime_imports, templates_dir
from ..toplevel import COLUMNS, main_model, main_reason
from .emit import EMITTERS, INITIALIZERS, NNC, channels_last

MODULE_NAMES = {
    "keras", "layers", "ops", "initializers", "nnc", "augment", "metrics", "nnc_layers", "framework_pooling",
    "np", "os", "prefix", "math",
}  # fmt: skip
# The initial values Keras's layers give their variables, by constructor argument (the same in every
# Keras layer: Dense, Conv*, BatchNormalization, LayerNormalization, GroupNormalization, PReLU).
KERAS_INITIAL = {
    "bias_initializer": ("Constant", 0.0),
    "beta_initializer": ("Constant", 0.0),
    "gamma_initializer": ("Constant", 1.0),
    "moving_mean_initializer": ("Constant", 0.0),
    "moving_variance_initializer": ("Constant", 1.0),
    "alpha_initializer": ("Constant", 0.0),
}


class KerasDialect(Dialect):
    backend = "keras"
    init_self = "self, prefix: str"
    reserved = frozenset(MODULE_NAMES)
    emitters = EMITTERS

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.attributes = KERAS_MODEL | template_attributes(templates_dir() / "keras" / "model.py.j2")
        # A functional model's layers have unique names, its `keras.Input`s included.
        self.input_names = frozenset(net.values[v].name for net in project.networks for v in net.inputs)

    def layer_name(self, path: str) -> str:
        """The Keras name of the layer at `path`: `keras_name`, unless a top-level layer would
        take an Input's name (`x: Affine(...)` next to `x = Input(...)`); then `x-layer`, which
        no label can spell."""
        name = keras_name(path)
        return f"{name}-layer" if name in self.input_names else name

    def _name(self, rel: str, top: bool) -> Expr:
        return Lit(self.layer_name(rel)) if top else Name("prefix") + Lit(keras_name(rel))

    def construct(self, ctor: Expr, rel: str, top: bool, layer: Layer, emit: Emit) -> Expr:
        assert isinstance(ctor, Call), ctor
        return ctor.with_kwargs(**_initializers(layer, emit), name=self._name(rel, top))

    def child(self, cls: str, rel: str, top: bool, args: list[str]) -> str:
        return self.code(Name(cls)(self._name(rel + ".", top), *map(Code, args)))

    def copies_loop(
        self, cls: str, rels: list[str], top: bool, args: list[str], count: str, uses_k: bool
    ) -> str | None:
        base = rels[0][: -len("[0]")] if rels[0].endswith("[0]") else None
        if base is None or rels != [f"{base}[{k}]" for k in range(len(rels))]:
            return None
        path = ("" if top else "{prefix}") + keras_name(base).replace("{", "{{").replace("}", "}}") + ".{k}."
        copy = Name(cls)(Code(f"f{literal(path)}"), *map(Code, args))
        return self.code(Comp(copy, "k", Name("range")(Code(count)), list=True))

    def copies_list(self, parts: list[tuple[str, str, list[str]]], top: bool) -> str:
        copies = tuple(Name(c)(self._name(r + ".", top), *map(Code, a)) for c, r, a in parts)
        return self.code(Seq(copies, list=True))

    def element(self, attr: str, k: int) -> str:
        return f"{attr}[{k}]"

    def param_key(self, layer_path: str, attr_path: str, attr: str) -> str:
        return f"{self.layer_name(layer_path)}/{attr}"  # Keras layer names never hold "/"

    def shape(self, shape: tuple[int, ...]) -> str:
        return "x".join(map(str, channels_last(shape))) if shape else "scalar"


def keras_name(path: str) -> str:
    """A spec path as a Keras layer name, which TensorFlow's name scopes restrict to
    [A-Za-z0-9_.\\/>-]: repeat copies `block[2]` become `block.2`."""
    return path.replace("[", ".").replace("]", "")


def _initializers(layer: Layer, emit: Emit) -> dict[str, Expr]:
    """`kernel_initializer=...` arguments giving a layer's parameters NNC's initial values, from the IR
    (`ParamShape.init`, `init_multiplier`, `fans`): all but those Keras's layer already starts with
    (`KERAS_INITIAL`). A parameter's argument is `<attribute>_initializer` unless the emitter names
    another (`Emit.init_args`). The runtime reads nnabla's fans (N inputs, M outputs, K kernel area)
    from the variable's shape in its layout (`layout="conv"` for a Conv kernel (*kernel, in, out)), as
    the compiler's `ParamShape.fans` does from NNC's shape: one rule, `nnc_shapes.nnabla_fans`."""
    args = dict(emit.init_args)
    arg_of = {n: args.get(n, f"{attr}_initializer") for n, attr, _ in emit.params}
    layouts = {n: layout for n, _, layout in emit.params}
    initial = {n: KERAS_INITIAL[a] for n, a in arg_of.items() if a in KERAS_INITIAL}
    out: dict[str, Expr] = {}
    for nnc_name, _, q in initializers(layer, emit, initial):
        if q.init == "Constant":
            c = float(q.init_multiplier)
            own = {0.0: "zeros", 1.0: "ones"}.get(c)
            value = Lit(own) if own else INITIALIZERS.dot("Constant")(c)
        else:
            scale = () if q.init_multiplier == 1 else (q.init_multiplier,)
            layout = {} if layouts[nnc_name] == "same" else {"layout": layouts[nnc_name]}
            value = NNC.dot("NNCInitializer")(q.init, *scale, **layout)
        out[arg_of[nnc_name]] = value
    return out


def build(project: Project) -> ModelRender:
    return build_blocks(project, KerasDialect(project))


def render_model(project: Project, m: ModelRender | None = None) -> str:
    env = environment("keras")
    env.filters["channels_last"] = channels_last
    env.filters["inputs_literal"] = lambda ins: "{" + ", ".join(f"{literal(n)}: {literal(s)}" for n, _, s in ins) + "}"
    m = m or build(project)
    # The template's own code uses keras, ops and nnc; the rest is what the printer recorded.
    from_keras = {n for n, statement in m.imports.items() if statement == f"from keras import {n}"}
    return env.get_template("model.py.j2").render(
        m=m,
        spec=shown(Path(project.path).name),
        keras_imports=sorted({"ops"} | from_keras),
        runtime_imports=runtime_imports(m.imports, "keras"),
        main=main_model(project, m),
        main_why=main_reason(project),
        columns=COLUMNS["keras"],
    )
