"""An NNC project as NNC holds it, independent of the file it came from.

`.sdcproj` (NNC's editor project, INI text), `.nntxt` (nnabla's network file, protobuf text)
and `.nnp` (a zip of an `.nntxt` and parameters) are all read into one `NncProject`: networks
of layers (NNC's layer types and property names, values as NNC writes them) joined by links
between pins, and the config (datasets, optimizers, monitors, executors) as NNC's key/value
items. Every item keeps a `Where` (file, section, line) for diagnostics. The importer turns an
`NncProject` into `.nnd` text; the exporter builds one from a compiled spec and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Where:
    """Where an item was read: the file, the section (`[Main_Layer_3]`, `network "Main"`) and
    the 1-based line (0 when the item has no line of its own, as in a binary `.nnp` member)."""

    file: str
    section: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: [{self.section}]" if self.line else f"{self.file}: [{self.section}]"


@dataclass(slots=True)
class NncLayer:
    id: int
    type: str  # NNC's layer type: Convolution, RepeatStart, Unit, Comment, ...
    props: dict[str, str]  # NNC property name -> value as NNC writes it ("3,3", "True", "*Name")
    where: Where
    prop_lines: dict[str, int] = field(default_factory=dict)  # property name -> line of its value
    position: tuple[int, ...] = ()  # the editor's Position_0.. (x, y, width, height)

    @property
    def name(self) -> str:
        return self.props.get("Name", "")


@dataclass(frozen=True, slots=True)
class NncLink:
    source: int  # layer ID
    source_pin: int
    dest: int
    dest_pin: int
    where: Where


@dataclass(slots=True)
class NncNetwork:
    name: str
    layers: list[NncLayer]
    links: list[NncLink]
    where: Where

    def layer(self, layer_id: int) -> NncLayer | None:
        return next((layer for layer in self.layers if layer.id == layer_id), None)


@dataclass(slots=True)
class NncSection:
    """A config section as key/value items (`[Optimizer_0]`: `SolverName=Adam`, ...)."""

    name: str
    items: dict[str, str]
    where: Where
    lines: dict[str, int] = field(default_factory=dict)  # key -> line


@dataclass(slots=True)
class NncProject:
    path: str
    networks: list[NncNetwork]
    # Config sections by kind, in file order: "Dataset", "Optimizer", "Monitor", "Executor",
    # plus "Config", "Description" and any other section NNC writes (one item each).
    sections: dict[str, list[NncSection]] = field(default_factory=dict)
    # True for the older single-network layout (plain [Layer_k] sections, NNC derives
    # MainValidation / MainRuntime itself).
    single_network: bool = False
    # Parameter files carried by the source (an .nnp's members: "parameter.protobuf" or
    # "parameter.h5" -> their bytes, unchanged).
    parameter_files: dict[str, bytes] = field(default_factory=dict)

    def network(self, name: str) -> NncNetwork | None:
        return next((n for n in self.networks if n.name == name), None)

    def section(self, kind: str) -> list[NncSection]:
        return self.sections.get(kind, [])
