"""Lowerings written once for both backends: the layers whose code is the same tree in PyTorch
and Keras (operators on the inputs, the runtime's random layers and working memory, whose
classes take NNC's parameter names in both runtimes). Each backend registers them with its
runtime modules (`register(emitter, augment, nnc_layers)`)."""

from __future__ import annotations

import operator
from functools import reduce

from ..ir import Layer
from ..layers import REGISTRY
from ..layers.base import ParamShape
from ..layers.quantize import BINARY_LAYERS  # noqa: F401  (the emitters register them)
from .builder import Emit
from .expr import BATCH, MODULE, Lit, Module, Slice, inp, lit


def _value(v):
    return lit(tuple(v) if isinstance(v, tuple | list) else v)


def random_layer(runtime: Module, layer: Layer, names) -> Emit:
    """A random layer (RandomFlip...): the runtime's class of the same name (`augment.RandomFlip(...)`)
    given the layer's parameters `names`."""
    p = layer.params
    return Emit(MODULE(inp(0)), runtime.dot(layer.type)(**{n: _value(p[n]) for n in names}))


def image_augmentation(runtime: Module, layer: Layer) -> Emit:
    """The runtime's ImageAugmentation with its shape and the parameters off NNC's defaults."""
    defaults = {q.name: q.default for q in REGISTRY[layer.type].params}
    names = ["shape"] + [n for n, v in layer.params.items() if n != "shape" and v != defaults.get(n)]
    return random_layer(runtime, layer, names)


def working_memory_layer(runtime: Module, layer: Layer) -> Emit:
    """A WorkingMemory: the runtime's class, sized by the batch being computed. As nnabla does, the
    buffer is written (has a gradient) only where NNC's LRateMultiplier is above 0."""
    p = layer.params
    module = runtime.dot("WorkingMemory")(
        _value(p["size"]), init=p["init"], multiplier=float(p["init_multiplier"]), needs_grad=p["lrate_multiplier"] > 0
    )
    return Emit(MODULE(BATCH), module)


def n_ary(layer: Layer, ins, out, *, op) -> Emit:
    """AddN and MulN: `x0 + x1 + ...` and `x0 * x1 * ...` (`op` of two operands)."""
    return Emit(reduce(op, (inp(k) for k in range(len(ins)))))


def binary_initializers(layer: Layer, takes_bias: bool) -> dict:
    """The keyword arguments a runtime binary layer initializes itself with: the initializers the IR
    gives W (and b, with the bias flag, where the layer takes one)."""
    p = layer.params
    q = {q.name: q for q in layer.parameters}
    inits = {"w_init": q["W"].init, "w_init_multiplier": q["W"].init_multiplier}
    if takes_bias:
        b = q.get("b") or ParamShape("b", (), init=p["b_init"], init_multiplier=p["b_init_multiplier"])
        inits = {"bias": p["bias"], **inits, "b_init": b.init, "b_init_multiplier": b.init_multiplier}
    return inits


def register(emitter, augment: Module, nnc_layers: Module) -> None:
    """Register the shared lowerings with a backend's `emitter` decorator, for its runtime modules
    `augment` (the random layers) and `nnc_layers` (WorkingMemory)."""
    emitter(AddN=dict(op=operator.add), MulN=dict(op=operator.mul))(n_ary)
    # The random layers' parameters generated code passes (ImageAugmentation: its shape and those off
    # NNC's defaults, see `image_augmentation`).
    emitter(
        RandomFlip=dict(names=("axes", "skip_at_test")),
        RandomShift=dict(names=("shift", "border_mode", "skip_at_test")),
        RandomCrop=dict(names=("shape",)),
    )(lambda layer, ins, out, names: random_layer(augment, layer, names))
    emitter("ImageAugmentation")(lambda layer, ins, out: image_augmentation(augment, layer))
    emitter("WorkingMemory")(lambda layer, ins, out: working_memory_layer(nnc_layers, layer))


def slices(p, order, shape) -> list[Slice]:
    """A Slice layer's subscript, batch axis first: NNC's per-axis start/stop/step `p` of an input of
    NNC shape `shape`, for the axes in the order the backend holds them (`order`: NNC's axis at each
    position), as Python writes slices: a start of 0, a stop at the axis's end and a step of 1 left out,
    trailing whole axes too (`x[:, :58]`); empty where the slice keeps the whole tensor (`x[:]` is no
    subscript a Keras tensor takes)."""
    per_axis = {}
    for a, (start, stop, step) in enumerate(zip(p["start"], p["stop"], p["step"], strict=True)):
        to_end = stop is None or (stop < 0 if step < 0 else stop >= shape[a])
        per_axis[a] = Slice(
            Lit(start) if start != (0 if step > 0 else shape[a] - 1) else None,
            None if to_end else Lit(stop),
            Lit(step) if step != 1 else None,
        )
    parts = [Slice()] + [per_axis.get(a, Slice()) for a in order]
    while parts and parts[-1] == Slice():
        parts.pop()
    return parts


def negative(v: Lit) -> bool:
    """Whether a number's literal starts with a minus (-0.0 included): `x + -v` is written `x - v`."""
    return isinstance(v.value, int | float) and not isinstance(v.value, bool) and str(v.value).startswith("-")
