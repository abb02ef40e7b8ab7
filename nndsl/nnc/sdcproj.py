"""Read an NNC editor project (`.sdcproj`) into an `NncProject`.

A `.sdcproj` is INI text: `[Section]` headers and `Key=Value` lines. Two layouts:

- multi-network (NNC 1.x and later): `[Global]` lists the networks (`NumNetwork`,
  `Network_i=Name`); network `N` has `[N_Network_Global]`, layers `[N_Layer_k]` and links
  `[N_Link_k]`;
- single-network (older projects): `[Network_Global]`, `[Layer_k]`, `[Link_k]`; the network
  is `Main` (`single_network=True`), and NNC derives `MainValidation` and `MainRuntime` from it.

A layer section holds `ID`, `Type`, `Position_0..3` and its properties as
`Property_j_Name` / `Property_j_Value` pairs (`NumProperty`); a link section holds
`SourceLayerID`, `SourcePinIndex`, `DestLayerID`, `DestPinIndex`. Every other section (the
config: `[Dataset_i]`, `[Config]`, `[Optimizer_i]`, `[Monitor_i]`, `[Executor_i]`, ...) is kept
as an `NncSection`, by kind: `[X_k]` is of kind `X`; a plain `[X]` is of kind `X`, except the
header that counts indexed sections of the same name (`[Dataset]`: `Num`, `MainIndex`), which
is of kind `Datasets` (`X` + "s").

The reader is a small line reader, not configparser: names keep their case, `%` means
nothing, a value is everything after the first `=`, and every item keeps its line. It reads
at most `MAX_BYTES` (64 MiB; NNC's largest samples are a few hundred KiB), in one pass (time
linear in the file), and reports every problem it finds as an `NncError` positioned at the
file, section and line, never a traceback: text that is not UTF-8, lines that are neither a
header nor an item, missing or repeated sections and keys, numbers that are not numbers,
links to layers that do not exist, and links that form a cycle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .project import NncLayer, NncLink, NncNetwork, NncProject, NncSection, Where

MAX_BYTES = 64 * 1024 * 1024

_HEADER = re.compile(r"\[(?P<name>[^\[\]]*)\]\s*\Z")
_NET_PART = re.compile(r"(?P<net>.*)_(?P<part>Layer|Link)_(?P<index>\d+)\Z")
_NET_GLOBAL = re.compile(r"(?P<net>.*)_Network_Global\Z")
_INDEXED = re.compile(r"(?P<kind>.+)_(?P<index>\d+)\Z")
_PROPERTY = re.compile(r"Property_(?P<index>\d+)_(?P<part>Name|Value)\Z")


@dataclass(frozen=True, slots=True)
class NncError:
    """A problem in an NNC file: where, and what."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where} {self.message}"


class SdcprojError(Exception):
    """The file cannot be read as an NNC project; `errors` says every reason found."""

    def __init__(self, errors: list[NncError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(slots=True)
class _Section:
    name: str
    line: int
    items: dict[str, str]
    lines: dict[str, int]


def read_sdcproj(path: str | os.PathLike, *, display: str | None = None) -> NncProject:
    """Read `path`; raises `SdcprojError` with every problem found (the project is not
    returned unless it is sound: its links name existing layers and form no cycle)."""
    shown = display or str(path)
    data = _read_bytes(Path(path), shown)
    return parse_sdcproj(data, shown)


def _read_bytes(path: Path, shown: str) -> bytes:
    where = Where(shown, "file", 0)
    try:
        if not path.is_file():
            raise SdcprojError([NncError(where, "is not a regular file")])
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise SdcprojError([NncError(where, f"cannot be read: {e.strerror or e}")]) from None
    if len(data) > MAX_BYTES:
        raise SdcprojError(
            [NncError(where, f"is larger than {MAX_BYTES // (1024 * 1024)} MiB, the limit for a project")]
        )
    return data


def parse_sdcproj(data: bytes, shown: str) -> NncProject:
    """Parse the bytes of a `.sdcproj` (named `shown` in diagnostics)."""
    errors: list[NncError] = []
    if len(data) > MAX_BYTES:
        raise SdcprojError(
            [NncError(Where(shown, "file", 0), f"is larger than {MAX_BYTES // (1024 * 1024)} MiB, the limit")]
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise SdcprojError([NncError(Where(shown, "file", line), "is not text: it holds a NUL byte")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SdcprojError([NncError(Where(shown, "file", line), "is not UTF-8 text")]) from None
    sections = _split(text, shown, errors)
    project = _build(sections, shown, errors)
    if errors:
        raise SdcprojError(errors)
    return project


def _split(text: str, shown: str, errors: list[NncError]) -> list[_Section]:
    sections: list[_Section] = []
    seen: dict[str, int] = {}
    current: _Section | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";") or line.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header:
            name = header["name"].strip()
            if name in seen:
                errors.append(
                    NncError(Where(shown, name, n), f"section [{name}] appears twice (first at line {seen[name]})")
                )
                current = _Section(name, n, {}, {})  # read, but not used
                continue
            seen[name] = n
            current = _Section(name, n, {}, {})
            sections.append(current)
            continue
        if current is None:
            errors.append(NncError(Where(shown, "file", n), "has an item before the first [section]"))
            continue
        if "=" not in line:
            errors.append(
                NncError(Where(shown, current.name, n), f"is neither a [section] nor a Key=Value item: {_clip(line)!r}")
            )
            continue
        key, _, value = raw.lstrip().partition("=")
        key = key.strip()
        if key in current.items:
            errors.append(
                NncError(
                    Where(shown, current.name, n), f"'{_clip(key)}' is set twice (first at line {current.lines[key]})"
                )
            )
            continue
        current.items[key] = value.rstrip("\r\n")
        current.lines[key] = n
    return sections


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _int(sec: _Section, key: str, shown: str, errors: list[NncError], *, default: int | None = None) -> int | None:
    if key not in sec.items:
        if default is not None:
            return default
        errors.append(NncError(Where(shown, sec.name, sec.line), f"has no {key}"))
        return None
    value = sec.items[key].strip()
    if not re.fullmatch(r"-?\d{1,18}", value):
        errors.append(
            NncError(Where(shown, sec.name, sec.lines[key]), f"{key} must be an integer, got {_clip(value)!r}")
        )
        return None
    return int(value)


def _build(sections: list[_Section], shown: str, errors: list[NncError]) -> NncProject:
    by_name = {s.name: s for s in sections}
    glob = by_name.get("Global")
    single = glob is None
    network_names: list[str] = []
    net_where: dict[str, Where] = {}
    if glob is not None:
        count = _int(glob, "NumNetwork", shown, errors)
        if count is not None and not 0 <= count <= len(glob.items):
            errors.append(
                NncError(
                    Where(shown, "Global", glob.lines["NumNetwork"]),
                    f"NumNetwork={count} but [Global] lists fewer networks",
                )
            )
            count = sum(1 for k in glob.items if re.fullmatch(r"Network_\d+", k))
        for i in range(count or 0):
            key = f"Network_{i}"
            if key not in glob.items:
                errors.append(NncError(Where(shown, "Global", glob.line), f"has NumNetwork={count} but no {key}"))
                continue
            name = glob.items[key].strip()
            if name in net_where:
                errors.append(NncError(Where(shown, "Global", glob.lines[key]), f"network '{name}' is listed twice"))
                continue
            network_names.append(name)
            net_where[name] = Where(shown, "Global", glob.lines[key])
    else:
        if "Network_Global" not in by_name and not any(
            _INDEXED.match(s.name) and s.name.startswith("Layer_") for s in sections
        ):
            errors.append(
                NncError(Where(shown, "file", 0), "is not an NNC project: it has no [Global] and no [Layer_k] sections")
            )
        network_names = ["Main"]
        net_where["Main"] = Where(
            shown, "Network_Global", by_name["Network_Global"].line if "Network_Global" in by_name else 0
        )

    layers: dict[str, list[tuple[int, _Section]]] = {n: [] for n in network_names}
    links: dict[str, list[tuple[int, _Section]]] = {n: [] for n in network_names}
    others: list[_Section] = []
    indexed_kinds = {m["kind"] for s in sections if (m := _INDEXED.match(s.name))}
    for s in sections:
        if s.name == "Global":
            continue
        if single:
            m = _INDEXED.match(s.name)
            if m and m["kind"] in ("Layer", "Link"):
                (layers if m["kind"] == "Layer" else links)["Main"].append((int(m["index"]), s))
                continue
            if s.name == "Network_Global":
                continue
        else:
            m = _NET_PART.match(s.name)
            if m and m["net"] in layers:
                (layers if m["part"] == "Layer" else links)[m["net"]].append((int(m["index"]), s))
                continue
            g = _NET_GLOBAL.match(s.name)
            if g:
                if g["net"] not in layers:
                    errors.append(
                        NncError(Where(shown, s.name, s.line), f"network '{g['net']}' is not listed in [Global]")
                    )
                continue
            if m:
                errors.append(NncError(Where(shown, s.name, s.line), f"network '{m['net']}' is not listed in [Global]"))
                continue
        others.append(s)

    networks = []
    for name in network_names:
        networks.append(_network(name, layers[name], links[name], net_where[name], shown, errors))

    project = NncProject(shown, networks, single_network=single)
    for s in others:
        m = _INDEXED.match(s.name)
        kind = m["kind"] if m else (s.name + "s" if s.name in indexed_kinds else s.name)
        project.sections.setdefault(kind, []).append(
            NncSection(s.name, dict(s.items), Where(shown, s.name, s.line), dict(s.lines))
        )
    return project


def _network(
    name: str,
    layer_secs: list[tuple[int, _Section]],
    link_secs: list[tuple[int, _Section]],
    where: Where,
    shown: str,
    errors: list[NncError],
) -> NncNetwork:
    layers: list[NncLayer] = []
    by_id: dict[int, NncLayer] = {}
    for _, sec in sorted(layer_secs, key=lambda t: t[0]):
        layer = _layer(sec, shown, errors)
        if layer is None:
            continue
        if layer.id in by_id:
            errors.append(
                NncError(layer.where, f"layer ID {layer.id} is used twice (also by [{by_id[layer.id].where.section}])")
            )
            continue
        by_id[layer.id] = layer
        layers.append(layer)
    net_links: list[NncLink] = []
    for _, sec in sorted(link_secs, key=lambda t: t[0]):
        values = [
            _int(sec, k, shown, errors) for k in ("SourceLayerID", "SourcePinIndex", "DestLayerID", "DestPinIndex")
        ]
        if any(v is None for v in values):
            continue
        src, src_pin, dst, dst_pin = values
        link_where = Where(shown, sec.name, sec.line)
        bad = False
        for key, lid in (("SourceLayerID", src), ("DestLayerID", dst)):
            if lid not in by_id:
                errors.append(
                    NncError(
                        Where(shown, sec.name, sec.lines[key]), f"{key}={lid}: no layer has this ID in network '{name}'"
                    )
                )
                bad = True
        for key, pin in (("SourcePinIndex", src_pin), ("DestPinIndex", dst_pin)):
            if pin < 0 or pin > 1_000_000:
                errors.append(NncError(Where(shown, sec.name, sec.lines[key]), f"{key}={pin} is not a pin index"))
                bad = True
        if not bad:
            net_links.append(NncLink(src, src_pin, dst, dst_pin, link_where))
    network = NncNetwork(name, layers, net_links, where)
    _check_acyclic(network, errors)
    return network


def _layer(sec: _Section, shown: str, errors: list[NncError]) -> NncLayer | None:
    before = len(errors)
    lid = _int(sec, "ID", shown, errors)
    type_ = sec.items.get("Type", "").strip()
    if not type_:
        errors.append(NncError(Where(shown, sec.name, sec.lines.get("Type", sec.line)), "has no Type"))
    names: dict[int, tuple[str, int]] = {}
    values: dict[int, tuple[str, int]] = {}
    position: list[int] = []
    for key, value in sec.items.items():
        m = _PROPERTY.match(key)
        if m:
            (names if m["part"] == "Name" else values)[int(m["index"])] = (value, sec.lines[key])
            continue
        if key.startswith("Position_"):
            v = _int(sec, key, shown, errors)
            if v is not None:
                position.append(v)
    count = _int(sec, "NumProperty", shown, errors, default=len(names))
    props: dict[str, str] = {}
    prop_lines: dict[str, int] = {}
    for index in sorted(names):
        pname, line = names[index]
        pname = pname.strip()
        if index not in values:
            errors.append(NncError(Where(shown, sec.name, line), f"property {pname!r} has no Property_{index}_Value"))
            continue
        if pname in props:
            errors.append(NncError(Where(shown, sec.name, line), f"property {pname!r} is given twice"))
            continue
        props[pname] = values[index][0]
        prop_lines[pname] = values[index][1]
    for index, (_, line) in values.items():
        if index not in names:
            errors.append(
                NncError(Where(shown, sec.name, line), f"Property_{index}_Value has no Property_{index}_Name")
            )
    if count is not None and count != len(names):
        errors.append(
            NncError(
                Where(shown, sec.name, sec.lines.get("NumProperty", sec.line)),
                f"NumProperty={count} but the section has {len(names)} properties",
            )
        )
    if len(errors) > before or lid is None:
        return None
    return NncLayer(lid, type_, props, Where(shown, sec.name, sec.line), prop_lines, tuple(position))


def _check_acyclic(network: NncNetwork, errors: list[NncError]) -> None:
    """Kahn's algorithm over the links; a link left over lies on (or after) a cycle. A link
    into a Delay layer carries the previous time step of a recurrent network: it closes no
    cycle (the translation reports recurrent layers on their own)."""
    indeg = {layer.id: 0 for layer in network.layers}
    out: dict[int, list[NncLink]] = {layer.id: [] for layer in network.layers}
    delays = {layer.id for layer in network.layers if layer.type == "Delay"}
    links = [k for k in network.links if k.dest not in delays]
    for link in links:
        indeg[link.dest] += 1
        out[link.source].append(link)
    ready = [lid for lid, d in indeg.items() if d == 0]
    done = 0
    while ready:
        lid = ready.pop()
        done += 1
        for link in out[lid]:
            indeg[link.dest] -= 1
            if indeg[link.dest] == 0:
                ready.append(link.dest)
    if done == len(indeg):
        return
    # Report one link on a cycle: walk back from a layer still waiting until one repeats.
    stuck = {lid for lid, d in indeg.items() if d > 0}
    incoming: dict[int, list[NncLink]] = {lid: [] for lid in stuck}
    for k in links:
        if k.dest in stuck and k.source in stuck:
            incoming[k.dest].append(k)
    lid = min(stuck)
    seen: dict[int, NncLink] = {}
    while lid not in seen:
        link = incoming[lid][0]
        seen[lid] = link
        lid = link.source
    link = seen[lid]
    names = {layer.id: layer.name or f"ID {layer.id}" for layer in network.layers}
    errors.append(
        NncError(
            link.where,
            f"the links of network '{network.name}' form a cycle through '{names[link.source]}' and "
            f"'{names[link.dest]}' (NNC networks are acyclic; recurrence is written with Delay layers)",
        )
    )
