"""The layer registry: one `LayerSpec` per NNC layer type.

A spec holds everything nndsl knows about a layer type, in one place:

* its parameter schema (language names, types, NNC property names and NNC's defaults,
  read from the generated `nnc.components`, NNC's own layer definitions, so that they
  cannot drift from NNC);
* `resolve`: fills parameters NNC computes (``*KernelShape``, ``*ConvolutionPaddingSize``)
  and normalises the short forms a user may write (``kernel=3`` for ``3x3``);
* `shape`: the pure shape rule, per-sample shapes (C, H, W) in, per-sample shape out;
* `parameters`: the shapes of the layer's learnable parameters and state;
* `macs`: the multiply-accumulate count, torchinfo's "mult-adds" convention (see
  `torchinfo_macs`);
* flags used by the passes and the backends (`kind`, `random`, `preprocessing`, `keeps_loss`,
  `shared_settings`...), so that no code outside this package tests a layer's type by name.

Shape rules raise `ShapeError`; the `infer_shapes` pass adds the layer, the position and
the expansion chain, so rules stay small and pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..nnc.components import COMPONENTS
from ..runtime.nnc_shapes import nnabla_fans  # the one copy of nnabla's rule, shared with the runtimes

Shape = tuple[int, ...]
Params = Mapping[str, Any]

# Parameter types of the language.
INT = "int"
FLOAT = "float"
BOOL = "bool"
STR = "str"
CHOICE = "choice"  # a string from a fixed set
SHAPE = "shape"  # tuple of positive ints; an int n is accepted as (n,)
INTS = "ints"  # tuple of ints (axes, pads, starts); an int n is accepted as (n,)
FLOATS = "floats"  # tuple of floats
PARAM_TYPES = (INT, FLOAT, BOOL, STR, CHOICE, SHAPE, INTS, FLOATS)


class _Derived:
    """Default of a parameter that NNC computes from others (``*KernelShape`` ...)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DERIVED"


DERIVED: Any = _Derived()


class ShapeError(Exception):
    """A shape rule's complaint. `param` or `input` says what to point at."""

    def __init__(self, message: str, *, param: str | None = None, input: int | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.input = input


@dataclass(frozen=True, slots=True)
class Param:
    name: str  # the language name (`kernel`)
    type: str  # one of PARAM_TYPES
    default: Any  # Python value, DERIVED, or None for "required"
    nnc: str  # NNC's property name (`KernelShape`); "" for nndsl's own options (pooling's ceil_mode)
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other accepted spellings (`kernel_shape`)
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True, slots=True)
class ParamShape:
    """One learnable parameter (or piece of state, like BatchNormalization's mean)."""

    name: str  # NNC's name inside the layer: W, b, beta, gamma, mean, var, slope...
    shape: Shape
    trainable: bool = True
    init: str = ""  # NNC initializer name
    init_multiplier: float = 1.0
    # NNC's LRateMultiplier: 0 freezes the parameter; nnabla trains any positive value at the
    # solver's rate (its optimizer only asks whether the multiplier is above 0).
    lrate_multiplier: float = 1.0

    @property
    def fans(self) -> tuple[int, int, int]:
        """(N, M, K) nnabla reads from this parameter's NNC shape for its initializer (see `nnabla_fans`)."""
        return nnabla_fans(self.init, self.shape)


def no_parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
    return ()


@dataclass(frozen=True)
class LayerSpec:
    type: str  # NNC's type name
    category: str
    inputs: tuple[str, ...]  # names of the tensor inputs, in order
    params: tuple[Param, ...]
    shape: Callable[[tuple[Shape, ...], Params], Shape]
    parameters: Callable[[tuple[Shape, ...], Params, Shape], tuple[ParamShape, ...]] = no_parameters
    # resolve(ins, params, training) fills DERIVED parameters in place; `training` is
    # true in networks an optimizer trains (BatchNormalization's batch_stat follows it).
    resolve: Callable[[tuple[Shape, ...], dict[str, Any], bool], None] | None = None
    macs: Callable[[tuple[Shape, ...], Params, Shape, tuple[ParamShape, ...]], int] | None = None
    positional: tuple[str, ...] = ()  # parameters that may be given positionally, in order
    variadic: bool = False  # True: takes len(inputs) or more tensor inputs
    kind: str = "layer"  # layer | input | parameter | loss | error
    # Whether the layer's output varies from run to run; a callable gets the resolved
    # parameters and the input shapes.
    random: bool | Callable[[Params, tuple[Shape, ...]], bool] = False
    spatial_macs: bool = False  # torchinfo: parameters count once per output position
    # nnabla holds the parameters with a leading batch axis of 1 (BatchNormalization's 1xCx1x1 for
    # nndsl's Cx1x1: NNC's *BatchNormalizationShape and *LayerNormalizationShape connectors).
    batch_axis_parameters: bool = False
    # A layer type NNC lacks (AdaptiveAveragePooling...): `nndsl export` maps it onto NNC's layers
    # where it can and refuses it with a positioned error where it cannot. A parameter NNC lacks
    # (pooling's ceil_mode) has `nnc` "".
    nndsl_only: bool = False
    # The second input is a class index along the first input's `axis` (the cross entropies and
    # TopNError): the dataset's label column, whose class count a project's config records.
    class_label: bool = False
    # What the layer does to the values of a network input it preprocesses, which lint compares across
    # networks that share parameters (W104): "scales" changes them by its constant `value` (MulScalar,
    # AddScalar...), "keeps" moves, crops or flips them (Slice, RandomFlip...); "" ends the preprocessing.
    preprocessing: str = ""
    # Its output is a loss where every tensor input is one (Add2, MulScalar): a weighted sum of losses
    # (`main + 0.3 * aux`) is a training objective, as NNC trains on the sum of a network's losses.
    keeps_loss: bool = False
    # Settings beyond the parameters' shapes that layers of one name must agree on, as they share one
    # thing (WorkingMemory's buffer: its init, init_multiplier and lrate_multiplier; E0505).
    shared_settings: tuple[str, ...] = ()
    doc: str = ""
    _by_name: dict[str, Param] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for p in self.params:
            for key in (p.name, *p.aliases):
                if key in self._by_name:
                    raise ValueError(f"{self.type}: parameter name {key!r} declared twice")
                self._by_name[key] = p
        for name in self.positional:
            if name not in self._by_name:
                raise ValueError(f"{self.type}: positional parameter {name!r} is not a parameter")

    def param(self, name: str) -> Param | None:
        """The parameter called `name` (language name or alias)."""
        return self._by_name.get(name)

    def is_random(self, params: Params, ins: tuple[Shape, ...]) -> bool:
        return self.random(params, ins) if callable(self.random) else self.random

    def count_macs(self, ins: tuple[Shape, ...], p: Params, out: Shape, ps: tuple[ParamShape, ...]) -> int:
        if self.macs is not None:
            return self.macs(ins, p, out, ps)
        return torchinfo_macs(out, ps, spatial=self.spatial_macs)


def torchinfo_macs(out: Shape, ps: tuple[ParamShape, ...], *, spatial: bool) -> int:
    """torchinfo's mult-adds for one sample.

    torchinfo counts, for each layer with learnable parameters, every trainable
    parameter once per sample, and for convolutions once per output position
    (output size without the channel axis). Layers without parameters count 0.
    """
    n = sum(math.prod(q.shape) for q in ps if q.trainable)
    if spatial and n:
        n *= math.prod(out[1:])
    return n


# --- the registry -----------------------------------------------------------------------

REGISTRY: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    if spec.type in REGISTRY:
        raise ValueError(f"layer type {spec.type!r} registered twice")
    REGISTRY[spec.type] = spec
    return spec


# --- parameter schemas from NNC's table ----------------------------------------------------

# Short names the language uses for common NNC property words (applied per word).
_ABBREVIATIONS = {
    "KernelShape": "kernel",
    "Strides": "stride",
    "Padding": "pad",
    "WithBias": "bias",
    "Initializer": "init",
    "InitializerMultiplier": "init_multiplier",
    "LRateMultiplier": "lrate_multiplier",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """NNC property name to snake case: `W.InitializerMultiplier` -> `w_initializer_multiplier`."""
    return "_".join(_CAMEL.sub("_", part).lower() for part in name.split("."))


def language_name(nnc: str) -> str:
    """NNC property name to the language's name: `KernelShape` -> `kernel`, `W.Initializer` -> `w_init`."""
    return "_".join(_ABBREVIATIONS.get(part) or snake(part) for part in nnc.split("."))


def parse_default(text: str, type_: str) -> Any:
    """An NNC default string as a Python value of the declared type."""
    if text.startswith("*"):
        return DERIVED
    if type_ == INT:
        return int(text)
    if type_ == FLOAT:
        return float(text)
    if type_ == BOOL:
        if text not in ("True", "False"):
            raise ValueError(f"not a bool: {text!r}")
        return text == "True"
    if type_ in (STR, CHOICE):
        return text
    if type_ in (SHAPE, INTS):
        return tuple(int(v) for v in text.split(",")) if text else ()
    if type_ == FLOATS:
        return tuple(float(v) for v in text.split(",")) if text else ()
    raise ValueError(f"unknown parameter type {type_!r}")


def nnc_properties(layer_type: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """NNC's properties of a layer type that a project holds (not those NNC computes), name ->
    (default text, choices), in NNC's order."""
    return {p.name: (p.default, p.choices) for p in COMPONENTS[layer_type]["properties"] if p.editable}


def nnc_params(
    layer_type: str, types: Mapping[str, str], names: Mapping[str, str] | None = None, **overrides: Any
) -> tuple[Param, ...]:
    """The parameters of `layer_type`, in NNC's order, with NNC's names and defaults.

    `types` maps each NNC property the language exposes to its type; properties not
    listed (ChannelLast, InPlace, T.Dataset...) are not part of the language.
    `names` (keyed by NNC name) gives a language name other than the derived one (the
    derived one stays an alias). `overrides` (keyed by NNC name) replace a default (`None`
    makes it required, `DERIVED` makes the compiler compute it).
    """
    props = nnc_properties(layer_type)
    unknown = set(types) - set(props)
    if unknown:
        raise ValueError(f"{layer_type}: not NNC properties: {sorted(unknown)}")
    out = []
    for nnc_name, (default_text, choices) in props.items():
        if nnc_name not in types:
            continue
        type_ = types[nnc_name]
        default = overrides[nnc_name] if nnc_name in overrides else parse_default(default_text, type_)
        name = (names or {}).get(nnc_name) or language_name(nnc_name)
        aliases = tuple(dict.fromkeys(a for a in (language_name(nnc_name), snake(nnc_name)) if a != name))
        out.append(Param(name, type_, default, nnc_name, choices, aliases))
    return tuple(out)


# --- shape helpers shared by the rules -----------------------------------------------------


def spatial(value: Any, nd: int, name: str) -> tuple[int, ...]:
    """A per-axis parameter for `nd` spatial axes; a single value applies to every axis."""
    t = tuple(value) if isinstance(value, tuple) else (value,)
    if len(t) == 1 and nd != 1:
        t = t * nd
    if len(t) != nd:
        raise ShapeError(
            f"'{name}' has {len(t)} value{'s' if len(t) != 1 else ''} but the input has {nd} spatial axes",
            param=name,
        )
    return t


def need_rank(x: Shape, rank: int | tuple[int, int], what: str = "input", index: int = 0) -> None:
    """Check the rank of a per-sample shape; `rank` may be a (min, max) range."""
    lo, hi = (rank, rank) if isinstance(rank, int) else rank
    if not lo <= len(x) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise ShapeError(f"{what} must have {want} axes (C,H,W without the batch), got {fmt_shape(x)}", input=index)


def axis_index(axis: int, rank: int, name: str = "axis") -> int:
    """Normalise a per-sample axis (negative counts from the end)."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{name} {axis} is out of range for a shape with {rank} axes", param=name)
    return axis % rank


def fmt_shape(shape: Shape) -> str:
    """Shapes are written the way the language writes them: 3x224x224; () for a scalar."""
    return "x".join(str(d) for d in shape) if shape else "()"


def same_shape(ins: tuple[Shape, ...], p: Params) -> Shape:
    """The shape rule of every elementwise one-input layer."""
    return ins[0]


class MergeError(ShapeError):
    """Two inputs of a merge (Add2, Concatenate...) do not fit together.

    `a` and `b` are the input indices; the pass names both operands, their shapes and
    where each was defined.
    """

    def __init__(self, message: str, a: int, b: int):
        super().__init__(message, input=b)
        self.a = a
        self.b = b


def broadcast(ins: tuple[Shape, ...]) -> Shape:
    """nnabla's broadcasting for Add2 and friends: equal ranks, and on every axis the sizes
    are equal or one of them is 1 (nnabla's BaseTransformBinary)."""
    out = ins[0]
    for j in range(1, len(ins)):
        b = ins[j]
        if len(b) != len(out):
            raise MergeError(f"ranks differ ({len(out)} and {len(b)} axes); nnabla broadcasts only equal ranks", 0, j)
        dims = []
        for axis, (p, q) in enumerate(zip(out, b, strict=True)):
            if p != q and 1 not in (p, q):
                raise MergeError(f"sizes differ on axis {axis} ({p} and {q}) and neither is 1", 0, j)
            dims.append(max(p, q))
        out = tuple(dims)
    return out


# --- more helpers shared by the layer modules ----------------------------------------------


def nnc_category(layer_type: str) -> str:
    """NNC's category of `layer_type` (`Basic`, `Pooling`, `Others(Pre Process)`...)."""
    return COMPONENTS[layer_type]["category"]


def as_tuple(value: Any) -> tuple:
    """A per-axis parameter as a tuple (an int n is (n,))."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def spatial_param(value: Any, nd: int, name: str, default: Any = None) -> tuple[int, ...]:
    """Like `spatial`, but NNC's uniform 2-D default (``1,1``, ``0,0``) also fits 1-D and 3-D inputs.

    NNC's defaults are written for images (``Strides=1,1``); when the user left such a
    default alone on a 1-D or 3-D input, the same value applies to every spatial axis.
    """
    t = as_tuple(value)
    if default is not None and t == as_tuple(default) and len(set(t)) == 1 and len(t) != nd:
        t = (t[0],) * nd
    return spatial(t, nd, name)


def check_at_least(values: Any, minimum: int, name: str, what: str = "") -> None:
    """Every value of a parameter must be at least `minimum` (stride >= 1, pad >= 0...)."""
    for axis, v in enumerate(as_tuple(values)):
        if v < minimum:
            where = f" on axis {axis}" if len(as_tuple(values)) > 1 else ""
            raise ShapeError(f"{what or name} must be at least {minimum}, got {v}{where}", param=name)


def sized_tensor(layer: str, example: str, what: str, param: str, trainable: bool):
    """The shape rule and parameters of a layer without inputs that holds one tensor of its
    `size` (Parameter, WorkingMemory): the output is that tensor, named `param` ("" for the layer
    itself), with the layer's init, init_multiplier and lrate_multiplier."""

    def shape(ins: tuple[Shape, ...], p: Params) -> Shape:
        size = tuple(p["size"])
        if not size:
            raise ShapeError(f"a {layer} needs a size, like {example}", param="size")
        check_at_least(size, 1, "size", f"every size of the {what}")
        return size

    def parameters(ins: tuple[Shape, ...], p: Params, out: Shape) -> tuple[ParamShape, ...]:
        return (
            ParamShape(
                param,
                tuple(p["size"]),
                trainable=trainable,
                init=p["init"],
                init_multiplier=p["init_multiplier"],
                lrate_multiplier=p["lrate_multiplier"],
            ),
        )

    return shape, parameters


def axes_index(axes: Any, rank: int, name: str = "axes") -> tuple[int, ...]:
    """Normalise a list of per-sample axes; duplicates are an error."""
    out = tuple(axis_index(a, rank, name) for a in as_tuple(axes))
    if len(set(out)) != len(out):
        raise ShapeError(f"{name} {fmt_axes(as_tuple(axes))} names the same axis twice", param=name)
    return out


def fmt_axes(axes: tuple[int, ...]) -> str:
    return ",".join(str(a) for a in axes)


def same_shapes(ins: tuple[Shape, ...], what: str) -> Shape:
    """Inputs that must have exactly the same shape (AddN, Stack...); MergeError otherwise."""
    for j in range(1, len(ins)):
        if ins[j] != ins[0]:
            raise MergeError(
                f"{what} needs inputs of the same shape, got {fmt_shape(ins[0])} and {fmt_shape(ins[j])}", 0, j
            )
    return ins[0]


def same_shape_as_input(index: int, what: str) -> Callable[[tuple[Shape, ...], Params], Shape]:
    """The shape rule of two-input layers whose second input must match the first exactly
    (SquaredError's target, BinaryError's label)."""

    def rule(ins: tuple[Shape, ...], p: Params) -> Shape:
        if ins[index] != ins[0]:
            raise ShapeError(
                f"{what} compares elementwise, so the target must have the input's shape "
                f"{fmt_shape(ins[0])}, got {fmt_shape(ins[index])}",
                input=index,
            )
        return ins[0]

    return rule
