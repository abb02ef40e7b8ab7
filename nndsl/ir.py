"""The backend-neutral IR: expanded networks with every shape known.

A `Project` holds the networks (each a flat, topologically ordered list of `Layer`s over
`Value`s), the datasets, and the `Config` with the roles it gives the networks. Units and
repeats are gone: every layer has its final qualified name (`stage3.block[2].conv1`), its
resolved parameters (NNC's defaults filled in, derived values such as padding computed) and
an `Origin` that remembers where it was written and through which unit instances and repeat
copies it was expanded, so that every later error can point at the source.

Parameters are shared by name across networks, as NNC's ParameterScope does: the learnable
parameter `W` of layer `conv1` is `conv1/W` in every network that has a layer `conv1`. A layer
written with `parameter_scope="enc"` names its parameters `enc/W` instead (`Layer.scope`), so
layers of one network can share them too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Note, Span
from .layers.base import ParamShape, Shape


@dataclass(frozen=True, slots=True)
class Frame:
    """One step of an expansion: a unit instance or a repeat copy."""

    kind: str  # "unit" | "scopeless" (a `_: Unit` call, which opens no scope) | "repeat"
    description: str  # "instance 'stage2' of unit 'Stage'", "copy 3 of 4 of repeat 'block'"
    span: Span  # where the unit was called / the repeat written
    name: str = ""  # qualified name of the instance or repeat: "resnet.stage2", "resnet.stage2.block"
    unit: str = ""  # for a unit instance: the unit's name
    args: tuple[tuple[str, Any], ...] = ()  # for a unit instance: its arguments, in declaration order


@dataclass(frozen=True, slots=True)
class Origin:
    span: Span  # where the layer (or value) was written
    via: tuple[Frame, ...] = ()  # outermost first

    def notes(self) -> tuple[Note, ...]:
        """The expansion chain as diagnostic notes, innermost first."""
        return tuple(Note(f"in {f.description}", f.span) for f in reversed(self.via))


@dataclass(frozen=True, slots=True)
class Value:
    id: int
    name: str  # the name the user bound it to, or the producing layer's name
    shape: Shape | None  # None only while a graph has errors
    producer: int | None  # index of the producing layer in Network.layers
    origin: Origin


@dataclass(frozen=True, slots=True)
class Layer:
    name: str  # qualified: "stage3.block[2].conv1"
    type: str  # NNC type name
    params: dict[str, Any]  # resolved: every parameter of the type, by language name
    inputs: tuple[int, ...]  # value ids
    outputs: tuple[int, ...]
    origin: Origin
    param_spans: dict[str, Span] = field(default_factory=dict)  # parameters the user wrote
    input_spans: tuple[Span, ...] = ()
    repeats: tuple[tuple[str, int, int], ...] = ()  # enclosing repeats: (qualified name, copy, count)
    parameters: tuple[ParamShape, ...] = ()
    macs: int = 0
    # NNC's ParameterScope where the spec gives one (`parameter_scope="enc"`): the qualified name
    # its parameters are named after ("stage3.enc"); "" names them after the layer itself.
    scope: str = ""
    # Parameter connectors fed by a Parameter layer (`Affine(10, b=p)`): NNC's names of the parameters
    # ("W", "b") the last len(connectors) inputs give; the layer has no parameter of those names itself.
    connectors: tuple[str, ...] = ()

    @property
    def data_inputs(self) -> tuple[int, ...]:
        """The inputs that are data (not a Parameter given to a connector)."""
        return self.inputs[: len(self.inputs) - len(self.connectors)]

    @property
    def param_scope(self) -> str:
        """The qualified name this layer's parameters are named after (shared by every layer
        with the same one)."""
        return self.scope or self.name

    def parameter_name(self, p: ParamShape) -> str:
        """NNC-style parameter name: scope parts separated by '/', then the parameter."""
        scope = self.param_scope.replace(".", "/")
        return f"{scope}/{p.name}" if p.name else scope  # a Parameter layer's parameter is the layer

    @property
    def param_count(self) -> int:
        return sum(math.prod(p.shape) for p in self.parameters if p.trainable)


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    layers: tuple[Layer, ...]
    values: tuple[Value, ...]
    inputs: tuple[int, ...]  # value ids of the Input layers' outputs
    outputs: tuple[int, ...]  # value ids of the network's outputs
    span: Span
    training: bool  # trained by an optimizer: batch statistics, random layers active

    def value(self, vid: int) -> Value:
        return self.values[vid]

    @property
    def total_params(self) -> int:
        """Trainable parameters, each counted once (layers with one parameter scope share them)."""
        return sum(math.prod(p.shape) for p in self.parameter_table().values() if p.trainable)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def parameter_table(self) -> dict[str, ParamShape]:
        return {layer.parameter_name(p): p for layer in self.layers for p in layer.parameters}


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    uri: str  # as written (relative to the spec file)
    path: str  # resolved against the spec's folder
    settings: dict[str, Any]
    span: Span
    uri_span: Span | None = None  # the path string, where the spec has one


@dataclass(frozen=True, slots=True)
class Solver:
    type: str  # NNC solver name: Sgd, Momentum, Nesterov, Adam, ...
    params: dict[str, Any]  # by language name, NNC defaults filled in
    span: Span


@dataclass(frozen=True, slots=True)
class Schedule:
    type: str  # Constant, Exponential, Step, Cosine, Polynomial, Linear
    params: dict[str, Any]  # durations are (value, "epoch" | "iteration")
    warmup: tuple[int, str] | None
    span: Span


@dataclass(frozen=True, slots=True)
class Optimizer:
    name: str
    network: str
    dataset: str | None
    solver: Solver
    schedule: Schedule
    update_interval: int
    span: Span
    # NNC's RangeFrom/RangeTo: the optimizer runs from iteration (or epoch) `start` through `end`,
    # both counted from 1 and included; None: from the first / to the last.
    start: tuple[int, str] | None = None
    end: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class Monitor:
    name: str
    network: str
    dataset: str | None
    span: Span


@dataclass(frozen=True, slots=True)
class Executor:
    name: str
    network: str
    dataset: str | None
    num_evaluations: int
    evaluation: str  # mean | last | std
    span: Span
    back_propagation: bool = False  # NNC's NeedBackPropagation: a backward pass after each evaluation


@dataclass(frozen=True, slots=True)
class Config:
    max_epoch: int
    batch_size: int
    save_best: bool
    monitor_interval: int
    optimizers: tuple[Optimizer, ...]
    monitors: tuple[Monitor, ...]
    executors: tuple[Executor, ...]
    span: Span | None
    defaulted: bool  # roles came from the default network names, not from the spec
    precision: str = "float"  # NNC's TypeConfig: "float", or "half" (mixed precision)

    @property
    def trained(self) -> frozenset[str]:
        return frozenset(o.network for o in self.optimizers)


@dataclass(frozen=True, slots=True)
class Project:
    path: str
    networks: tuple[Network, ...]
    datasets: tuple[Dataset, ...]
    config: Config
    # The spec's unit declarations by name (syntax trees): generated code takes its classes'
    # arguments and conditions from them.
    units: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def network(self, name: str) -> Network | None:
        return next((n for n in self.networks if n.name == name), None)

    def parameter_table(self) -> dict[str, ParamShape]:
        """Every parameter of the project once, by NNC-style name."""
        table: dict[str, ParamShape] = {}
        for net in self.networks:
            for name, p in net.parameter_table().items():
                table.setdefault(name, p)
        return table

    @property
    def total_params(self) -> int:
        return sum(math.prod(p.shape) for p in self.parameter_table().values() if p.trainable)
