"""An `NncProject` as `.sdcproj` text, the multi-network layout NNC's editor writes.

[Engine] ... [Global] NumNetwork, Network_i
[<Net>_Network_Global] NumLayer, NumLink
[<Net>_Layer_k] ID, Type, Position_0..3, Property_j_Name/Value, NumProperty
[<Net>_Link_k] ID, SourceLayerID, SourcePinIndex, DestLayerID, DestPinIndex
then the config sections in the order NNC writes them.
"""

from __future__ import annotations

from .project import NncProject

# The order NNC writes its config sections in (any other kind follows, in the project's order).
_ENGINE = {"SDeepEngineType": "NNabla", "RNNTrainingMode": "0"}


def _line(value: str) -> str:
    """A value on one line: NNC writes a line break inside a value as `\\n` (its Description
    does); a raw one would end the value and start a line of INI the value chose."""
    return value.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def sdcproj_text(project: NncProject) -> str:
    """The project as NNC's editor writes it (CRLF-free INI text, one item a line)."""
    engine = project.sections.get("Engine")
    items = engine[0].items if engine else _ENGINE
    out: list[str] = ["[Engine]", *(f"{_line(k)}={_line(v)}" for k, v in items.items()), "[Global]"]
    out.append(f"NumNetwork={len(project.networks)}")
    out += [f"Network_{i}={net.name}" for i, net in enumerate(project.networks)]
    for net in project.networks:
        out += [f"[{net.name}_Network_Global]", f"NumLayer={len(net.layers)}", f"NumLink={len(net.links)}"]
        for k, layer in enumerate(net.layers):
            out += [f"[{net.name}_Layer_{k}]", f"ID={layer.id}", f"Type={layer.type}"]
            out += [f"Position_{i}={v}" for i, v in enumerate(layer.position)]
            for j, (name, value) in enumerate(layer.props.items()):
                out += [f"Property_{j}_Name={_line(name)}", f"Property_{j}_Value={_line(value)}"]
            out.append(f"NumProperty={len(layer.props)}")
        for k, link in enumerate(net.links):
            out += [
                f"[{net.name}_Link_{k}]",
                f"ID={k}",
                f"SourceLayerID={link.source}",
                f"SourcePinIndex={link.source_pin}",
                f"DestLayerID={link.dest}",
                f"DestPinIndex={link.dest_pin}",
            ]
    for kind, sections in project.sections.items():  # in file order (config_nnd.config_to_nnc's)
        if kind == "Engine":
            continue  # first, above
        for section in sections:
            out.append(f"[{section.name}]")
            out += [f"{_line(key)}={_line(value)}" for key, value in section.items.items()]
    return "\n".join(out) + "\n"
