"""nnabla's network files (`.nntxt`, and the `.nnp` zip that holds one) read into an `NncProject`.

An `.nntxt` holds networks already expanded into nnabla *functions* over named variables
(`network { variable {...} function {name type input output <type>_param {...}} }`) plus the
config (`dataset`, `optimizer`, `monitor`, `executor`, `training_config`). The reader turns it
back into what NNC's own `import_nntxt` makes of it: one NNC layer per function (NNC's layer
type, its properties as NNC writes them), an `Input` layer per variable that no function
computes (a `WorkingMemory` where that variable is a Buffer with an initializer that no dataset
column feeds, as create_prototxt writes one), links between layer pins, and the config as the
`.sdcproj` sections and keys NNC uses (`[Optimizer_0]` `SolverName=Adam`), so one translation
to `.nnd` serves both sources.

The mapping from a function's arguments to a layer's properties is NNC's own
(`components.COMPONENTS`, generated from NNC's layer definitions): each property names the
nnabla argument it becomes (`convolution_param.pad`, `-a`: an axis NNC counts without the batch
axis). What the function does not carry is recovered from its parameter variables: a
Convolution's `OutMaps` and `KernelShape` from `W`'s shape, `WithBias` from whether `b` is there,
each parameter's initializer from the variable, its learning-rate multiplier from the optimizer
that trains the network, and the `ParameterScope` from the parameter's name
(`FireModule/Squeeze/conv/W` -> `FireModule/Squeeze`).

Every problem is reported, positioned in the file (line) and the message path
(`network "Main" / function "Convolution_2"`), all of them in one `NntxtError`. Recurrent
functions (`RecurrentInput`, `RecurrentOutput`, `Delay`) are NNC layers that nndsl cannot
express yet: they are reported too, unless `recurrent=True` asks to read them as layers.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..layers.parameter import CONNECTORS
from .components import COMPONENTS, SOLVERS
from .project import NncLayer, NncLink, NncNetwork, NncProject, NncSection, Where
from .prototext import Message, PrototextError, parse

RECURRENT = frozenset({"RecurrentInput", "RecurrentOutput", "Delay"})

# .nnp limits: an archive at most this big, a member at most this big once inflated, at most
# this many members (a zip bomb or a huge archive is refused, not unpacked).
MAX_NNP_BYTES = 2 * 1024**3
MAX_MEMBER_BYTES = 2 * 1024**3
MAX_NETWORK_MEMBER_BYTES = 64 * 1024**2
MAX_MEMBERS = 64
NETWORK_MEMBERS = (".nntxt", ".prototxt")
PARAMETER_MEMBERS = ("parameter.protobuf", "parameter.h5")
OTHER_MEMBERS = ("nnp_version.txt",)
# Solver states nnabla_cli train saves beside the parameters (`<optimizer>_<solver>_optimizer.h5.optimizer`,
# nnabla/utils/get_file_handle.py): training state only, not read.
SOLVER_STATE_SUFFIX = ".optimizer"


@dataclass(frozen=True, slots=True)
class Problem:
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where} {self.message}"


class NntxtError(Exception):
    """Every problem found in an `.nntxt` / `.nnp`, each positioned (file, section, line)."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems

    @property
    def errors(self) -> list[Problem]:
        """The problems, as `SdcprojError.errors` gives them: one interface for both readers."""
        return self.problems


def read_nntxt(path: str | Path, *, recurrent: bool = False) -> NncProject:
    """The `.nntxt` at `path` as an `NncProject`; an `NntxtError` listing every problem."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_NETWORK_MEMBER_BYTES:
            raise NntxtError(
                [Problem(Where(str(p), "file", 0), f"is larger than {MAX_NETWORK_MEMBER_BYTES} bytes (the limit)")]
            )
        data = p.read_bytes()
    except OSError as e:
        raise NntxtError([Problem(Where(str(p), "file", 0), f"cannot be read: {e.strerror or e}")]) from None
    return read_nntxt_text(data, str(p), recurrent=recurrent)


def read_nntxt_text(text: str | bytes, file: str, *, recurrent: bool = False) -> NncProject:
    try:
        root = parse(text, file)
    except PrototextError as e:
        raise NntxtError([Problem(Where(file, "text", e.line), f"{e.message} (column {e.col})")]) from None
    return _Reader(file, recurrent).project(root)


def read_nnp(path: str | Path, *, recurrent: bool = False) -> NncProject:
    """The `.nnp` archive at `path`: its network member read as an `.nntxt`, its parameter
    members kept unchanged in `parameter_files`."""
    p = Path(path)
    file = str(p)

    def fail(message: str) -> NntxtError:
        return NntxtError([Problem(Where(file, "archive", 0), message)])

    try:
        if p.stat().st_size > MAX_NNP_BYTES:
            raise fail(f"is larger than {MAX_NNP_BYTES} bytes (the limit)")
        data = p.read_bytes()
    except OSError as e:
        raise fail(f"cannot be read: {e.strerror or e}") from None
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise fail(f"is not a readable .nnp (zip) archive: {e}") from None
    if len(infos) > MAX_MEMBERS:
        raise fail(f"has {len(infos)} members, more than {MAX_MEMBERS} (the limit)")
    problems: list[Problem] = []
    networks = []
    params: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        where = Where(file, f"member {name!r}", 0)
        if (
            name.startswith(("/", "\\"))
            or ".." in re.split(r"[/\\]", name)
            or ":" in name
            or "/" in name
            or "\\" in name
        ):
            problems.append(Problem(where, "is not a plain member name (a path): refused"))
        elif info.is_dir():
            problems.append(Problem(where, "is a folder; an .nnp holds only files"))
        elif name.endswith(NETWORK_MEMBERS):
            networks.append(info)
        elif name in PARAMETER_MEMBERS:
            params[name] = info
        elif name not in OTHER_MEMBERS and not name.endswith(SOLVER_STATE_SUFFIX):
            problems.append(
                Problem(where, "is not a member of an .nnp (network .nntxt, parameter.protobuf/.h5, nnp_version.txt)")
            )
    if not networks:
        problems.append(Problem(Where(file, "archive", 0), "holds no network (.nntxt or .prototxt member)"))
    elif len(networks) > 1:
        names = ", ".join(i.filename for i in networks)
        problems.append(Problem(Where(file, "archive", 0), f"holds more than one network member ({names})"))
    if problems:
        raise NntxtError(problems)

    def member(info: zipfile.ZipInfo, limit: int) -> bytes:
        where = Where(file, f"member {info.filename!r}", 0)
        if info.file_size > limit:
            raise NntxtError([Problem(where, f"inflates to {info.file_size} bytes, more than {limit} (the limit)")])
        try:
            with archive.open(info) as f:
                out = f.read(limit + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as e:
            raise NntxtError([Problem(where, f"cannot be unpacked: {e}")]) from None
        if len(out) > limit:  # a size field that lies
            raise NntxtError([Problem(where, f"inflates to more than {limit} bytes (the limit)")])
        return out

    net = networks[0]
    text = member(net, MAX_NETWORK_MEMBER_BYTES)
    project = read_nntxt_text(text, f"{file}:{net.filename}", recurrent=recurrent)
    project.path = file
    project.parameter_files = {name: member(info, MAX_MEMBER_BYTES) for name, info in params.items()}
    return project


# ---------------------------------------------------------------------------------------------


_INPUT_DEFAULTS = {p.name: p.default for p in COMPONENTS["Input"]["properties"]}


def _snake(name: str) -> str:
    """NNC's property name as nnabla's argument name: `FlipLR` -> `flip_lr`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _bool(text: str) -> str:
    return "True" if text.lower() in ("true", "1") else "False"


def _dims(m: Message) -> list[str]:
    return m.scalars("dim")


_NUMBER = re.compile(r"[-+]?\d+\Z")


class _Reader:
    def __init__(self, file: str, recurrent: bool):
        self.file = file
        self.recurrent = recurrent
        self.problems: list[Problem] = []
        self.given: dict[int, list[tuple[str, int]]] = {}  # function index -> (Parameter variable, connector pin)

    def where(self, section: str, line: int) -> Where:
        return Where(self.file, section, line)

    def problem(self, section: str, line: int, message: str) -> None:
        self.problems.append(Problem(self.where(section, line), message))

    # -- the project -----------------------------------------------------------------------

    def project(self, root: Message) -> NncProject:
        allowed = {"global_config", "training_config", "network", "dataset", "optimizer", "monitor", "executor"}
        for f in root.fields:
            if f.name not in allowed:
                self.problem(
                    f.name,
                    f.line,
                    f"'{f.name}' is not part of an .nntxt (expected one of {', '.join(sorted(allowed))})",
                )
        networks_msgs = root.messages("network")
        names = [n.scalar("name", "") for n in networks_msgs]
        # Which dataset column feeds each variable, and each parameter's learning-rate
        # multiplier, by network: from the optimizers, monitors and executors.
        self.data_names: dict[str, dict[str, str]] = {}
        self.lr_mult: dict[str, dict[str, str]] = {}
        for kind in ("optimizer", "monitor", "executor"):
            for m in root.messages(kind):
                net = m.scalar("network_name", "")
                for dv in m.messages("data_variable"):
                    self.data_names.setdefault(net, {}).setdefault(
                        dv.scalar("variable_name", ""), dv.scalar("data_name", "")
                    )
                if kind == "optimizer":
                    for pv in m.messages("parameter_variable"):
                        mult = pv.scalar("learning_rate_multiplier", "1")
                        self.lr_mult.setdefault(net, {})[pv.scalar("variable_name", "")] = mult
        networks = []
        seen: set[str] = set()
        for f, name in zip(root.all("network"), names, strict=True):
            if name in seen:
                self.problem(f'network "{name}"', f.line, f"a second network is named '{name}'")
                continue
            seen.add(name)
            networks.append(self.network(f.message, f.line, name))
        sections = self.config(root, networks_msgs)
        if self.problems:
            raise NntxtError(self.problems)
        return NncProject(self.file, networks, sections)

    # -- networks --------------------------------------------------------------------------

    def network(self, msg: Message, line: int, name: str) -> NncNetwork:
        section = f'network "{name}"'
        if not name:
            self.problem(section, line, "the network has no name")
        variables: dict[str, Message] = {}
        var_lines: dict[str, int] = {}
        for f in msg.all("variable"):
            vname = f.message.scalar("name", "")
            if vname in variables:
                self.problem(f'{section} / variable "{vname}"', f.line, f"a second variable is named '{vname}'")
            variables[vname] = f.message
            var_lines[vname] = f.line
        times = {ri.scalar("id", ""): ri.scalar("times", "1") for ri in msg.messages("repeat_info")}
        functions = msg.all("function")
        producers: dict[str, tuple[int, int]] = {}  # variable -> (layer id, output pin)
        layers: list[NncLayer] = []
        pending_links: list[tuple[str, int, int, int]] = []  # (variable, dest id, dest pin, line)
        for i, f in enumerate(functions):
            fm = f.message
            outputs = fm.scalars("output")
            fname = fm.scalar("name") or (outputs[0] if outputs else f"function_{i}")
            layer, data_inputs = self.function(fm, f.line, section, fname, i, variables, times, name)
            if layer is None:
                continue
            layers.append(layer)
            for pin, out in enumerate(outputs):
                producers[out] = (layer.id, pin)
            comp = COMPONENTS[layer.type]
            extra = len([c for c in comp["connectors"] if c.kind == "Data"])
            main = max(len(data_inputs) - extra, 1 if data_inputs else 0)
            # NNC's main input pin takes every link of a many-input layer (Add2, Concatenate),
            # in order; each Data connector (a loss's T) is a pin of its own after it.
            for k, var in enumerate(data_inputs):
                pending_links.append((var, layer.id, 0 if k < main else k - main + 1, f.line))
            for var, pin in self.given.pop(layer.id, []):  # NNC's Parameter layers, into their connector pins
                pending_links.append((var, layer.id, pin, f.line))
        # Inputs: buffer variables that no function computes and that some function reads.
        next_id = len(functions)
        inputs: list[NncLayer] = []
        memories: list[NncLayer] = []
        data = self.data_names.get(name, {})
        for var, _dest, _pin, _line in pending_links:
            if var in producers or var not in variables:
                continue
            vm = variables[var]
            dims = _dims(vm.first("shape").message) if vm.first("shape") else []
            init = vm.first("initializer")
            if vm.scalar("type", "") == "Parameter":
                # A Parameter variable given in a connector's place: NNC's Parameter layer (named after it).
                props = {
                    "Name": var,
                    "Size": ",".join(dims),
                    "File": "",
                    "Initializer": init.message.scalar("type", "Normal") if init is not None else "Normal",
                    "InitializerMultiplier": init.message.scalar("multiplier", "1.0") if init is not None else "1.0",
                    "LRateMultiplier": self._buffer_lr_mult(name, var),
                }
                where = self.where(f'{section} / variable "{var}"', var_lines[var])
                parameter = NncLayer(next_id, "Parameter", props, where)
                next_id += 1
                memories.append(parameter)
                producers[var] = (parameter.id, 0)
                continue
            if init is not None and var not in data and vm.scalar("type", "") == "Buffer":
                # A Buffer of the batch with an initializer that no dataset column feeds: what
                # create_prototxt makes of NNC's WorkingMemory (named after the layer).
                props = {
                    "Name": var,
                    "Size": ",".join(dims[1:]) if dims[:1] == ["-1"] else ",".join(dims),
                    "File": "",
                    "Initializer": init.message.scalar("type", "Normal"),
                    "InitializerMultiplier": init.message.scalar("multiplier", "1.0"),
                    "LRateMultiplier": self._buffer_lr_mult(name, var),
                }
                where = self.where(f'{section} / variable "{var}"', var_lines[var])
                memory = NncLayer(next_id, "WorkingMemory", props, where)
                next_id += 1
                memories.append(memory)
                producers[var] = (memory.id, 0)
                continue
            props = {
                "Name": var,
                "Size": ",".join(dims[1:]) if dims[:1] == ["-1"] else ",".join(dims),
                "Dataset": data.get(var, ""),
                "Generator": "None",
                "GeneratorMultiplier": "1.0",
                "Order": "-1",
            }
            layer = NncLayer(next_id, "Input", props, self.where(f'{section} / variable "{var}"', var_lines[var]))
            next_id += 1
            inputs.append(layer)
            producers[var] = (layer.id, 0)
        links = []
        for var, dest, pin, fline in pending_links:
            source = producers.get(var)
            if source is None:
                self.problem(section, fline, f"reads the variable '{var}', which the network does not declare")
                continue
            links.append(NncLink(source[0], source[1], dest, pin, self.where(section, fline)))
        # A layer's Data connector (a loss's T) names the dataset column its Input reads
        # (T.Dataset=y); an Input that no dataset column feeds takes the connector's generator.
        by_id = {layer.id: layer for layer in [*inputs, *memories, *layers]}
        for link in links:
            dest, source = by_id[link.dest], by_id[link.source]
            comp = COMPONENTS[dest.type]
            data_pins = [c.name for c in comp["connectors"] if c.kind == "Data"]
            if link.dest_pin == 0 or link.dest_pin > len(data_pins) or source.type != "Input":
                continue
            pin = data_pins[link.dest_pin - 1]
            defaults = {p.name: p.default for p in comp["properties"]}
            if not source.props["Dataset"]:
                source.props["Dataset"] = _INPUT_DEFAULTS["Dataset"]
                for key in ("Generator", "GeneratorMultiplier"):
                    if f"{pin}.{key}" in defaults:
                        source.props[key] = defaults[f"{pin}.{key}"]
                source.props["_unbound"] = "1"
            bound = source.props.pop("_unbound", None) is None
            if f"{pin}.Dataset" in dest.props and bound:
                dest.props[f"{pin}.Dataset"] = source.props["Dataset"]
        for layer in inputs:
            layer.props.pop("_unbound", None)
            if not layer.props["Dataset"]:
                layer.props["Dataset"] = _INPUT_DEFAULTS["Dataset"]
        return NncNetwork(name, [*inputs, *memories, *layers], links, self.where(section, 0 if not name else msg.line))

    def _buffer_lr_mult(self, net: str, var: str) -> str:
        """A WorkingMemory's LRateMultiplier: its network's optimizer's, else that of an optimizer of
        another network holding the same (shared) buffer, else NNC's default."""
        if var in self.lr_mult.get(net, {}):
            return self.lr_mult[net][var]
        return next((m[var] for m in self.lr_mult.values() if var in m), "0.0")

    def function(self, fm: Message, line: int, section: str, fname: str, index: int, variables, times, net: str):
        ftype = fm.scalar("type", "")
        where = f'{section} / function "{fname}"'
        if ftype in RECURRENT and not self.recurrent:
            self.problem(where, line, f"{ftype} is a recurrent layer, which nndsl cannot express yet")
            return None, []
        comp = COMPONENTS.get(ftype)
        if comp is None or comp.get("is_param") or ftype in ("Input", "Comment", "Unit", "Argument"):
            self.problem(where, line, f"the nnabla function '{ftype}' has no NNC layer that nndsl can import")
            return None, []
        inputs = fm.scalars("input")
        scope = comp["scope"]
        param_conns = [c.name for c in comp["connectors"] if c.kind == "Parameter"]
        data_inputs: list[str] = []
        param_vars: dict[str, str] = {}
        given: list[tuple[str, int]] = []
        for k, var in enumerate(inputs):
            vm = variables.get(var)
            if vm is not None and vm.scalar("type") == "Parameter":
                last = var.rsplit("/", 1)[-1]
                if last in param_conns and last not in param_vars:
                    param_vars[last] = var
                    continue
                if ftype in CONNECTORS and 1 <= k <= len(param_conns) and param_conns[k - 1] not in param_vars:
                    # Another name in a connector's place: what create_prototxt makes of NNC's Parameter
                    # layer linked into it (a Parameter variable named after that layer).
                    param_vars[param_conns[k - 1]] = var
                    given.append((var, k))
                    continue
            data_inputs.append(var)
        self.given[index] = given
        props: dict[str, str] = {"Name": fname}
        prop_lines: dict[str, int] = {"Name": line}
        param_msg_name = None
        param_msg = None
        for f in fm.fields:
            if f.kind == "message" and f.name.endswith("_param"):
                param_msg_name, param_msg = f.name, f.message
        w_shape = self.shape_of(variables.get(param_vars.get("W", "")))
        for pname, ptype, default, arg, flags, editable, _choices in comp["properties"]:
            if not editable:
                continue
            value = None
            field = None
            if param_msg is not None:
                if arg.startswith(param_msg_name + "."):
                    field = arg.split(".", 1)[1]
                elif not arg:
                    field = _snake(pname)
                if field is not None and param_msg.first(field) is not None:
                    value = self.value(param_msg, field, ptype, flags)
                    prop_lines[pname] = param_msg.first(field).line
            if value is None:
                value = self.derived(
                    ftype, pname, comp, param_vars, variables, w_shape, param_msg, fname, scope, net, times, fm
                )
            if value is None and not default.startswith("*"):
                value = default
            if value is not None:
                props[pname] = value
        for _var, k in given:  # the Parameter layer's own settings, not the consumer's
            for key in [key for key in props if key.startswith(param_conns[k - 1] + ".")]:
                del props[key]
        layer = NncLayer(index, ftype, props, self.where(where, line), prop_lines)
        if ftype == "RepeatStart":
            if props.get("ID") == fname:
                del props["ID"]  # NNC's default: the RepeatStart's own name
            data_inputs = data_inputs[:1]  # the second input is the loop's back edge
        return layer, data_inputs

    def shape_of(self, vm: Message | None) -> list[int] | None:
        if vm is None or vm.first("shape") is None:
            return None
        try:
            return [int(d) for d in _dims(vm.first("shape").message)]
        except ValueError:
            return None

    def value(self, msg: Message, field: str, ptype: str, flags: tuple) -> str:
        f = msg.first(field)
        values = _dims(f.message) if f.kind == "message" else msg.scalars(field)
        if "-b" in flags and values:
            values = values[1:]
        if "-0" in flags and values[:1] == ["0"]:
            values = values[1:]
        if "-a" in flags:
            values = [str(int(v) - 1) if _NUMBER.match(v) else v for v in values]
        if ptype.startswith("Boolean"):
            return _bool(values[0]) if values else "False"
        return ",".join(values)

    def derived(self, ftype, pname, comp, param_vars, variables, w_shape, param_msg, fname, scope, net, times, fm):
        """A property the function's arguments do not carry, from its parameter variables."""
        if "." in pname:
            pin, what = pname.split(".", 1)
            if pin not in param_vars:
                return None  # the component's default, as NNC writes it
            var = param_vars[pin]
            vm = variables[var]
            init = vm.first("initializer")
            if what == "Initializer":
                return init.message.scalar("type", "") if init is not None else None
            if what == "InitializerMultiplier":
                return init.message.scalar("multiplier", "1") if init is not None else None
            if what == "LRateMultiplier":
                return self.lr_mult.get(net, {}).get(var)
            if what == "File":
                return ""
            return None
        if pname == "WithBias":
            return "True" if "b" in param_vars else "False"
        if pname == "ParameterScope":
            repeats = fm.scalars("repeat_id")
            for pin, var in param_vars.items():
                suffix = f"/{scope}/{pin}" if scope else f"/{pin}"
                if var.endswith(suffix):
                    # Inside a repeat nnabla names each copy's parameter with the repeat's
                    # index as `{RepeatStart}`: NNC's scope is the name without it.
                    prefix = var[: -len(suffix)]
                    for rid in repeats:
                        prefix = prefix.replace("{" + rid + "}", "")
                    return "*Name" if prefix == fname else prefix
            return None
        if pname == "Times" and ftype == "RepeatStart":
            rid = param_msg.scalar("repeat_id", fname) if param_msg is not None else fname
            return times.get(rid)
        if w_shape is None:
            return None
        channel_last = param_msg is not None and (param_msg.scalar("channel_last", "false") or "").lower() == "true"
        group = int(param_msg.scalar("group", "1") or 1) if param_msg is not None else 1
        if pname == "OutMaps":
            if ftype.startswith("Deconvolution") or ftype == "Deconvolution":
                return str(w_shape[-1] * group if channel_last else w_shape[1] * group)
            return str(w_shape[0])
        if pname == "KernelShape":
            if ftype in ("DepthwiseConvolution", "DepthwiseDeconvolution"):
                return ",".join(str(d) for d in w_shape[1:])
            return ",".join(str(d) for d in (w_shape[1:-1] if channel_last else w_shape[2:]))
        if pname == "OutShape":
            return ",".join(str(d) for d in w_shape[1:])
        if pname == "NumClass":
            return str(w_shape[0])
        if pname == "Shape" and ftype == "Embed":
            return ",".join(str(d) for d in w_shape[1:])
        return None

    # -- config ----------------------------------------------------------------------------

    def config(self, root: Message, networks: list[Message]) -> dict[str, list[NncSection]]:
        sections: dict[str, list[NncSection]] = {}

        def add(kind: str, name: str, items: dict[str, str], line: int, lines: dict[str, int] | None = None) -> None:
            sections.setdefault(kind, []).append(NncSection(name, items, self.where(name, line), lines or {}))

        training = root.messages("training_config")
        tc = training[0] if training else Message()
        iter_per_epoch = _float(tc.scalar("iter_per_epoch", "0"))
        datasets = root.all("dataset")
        for i, f in enumerate(datasets):
            d = f.message
            items = {
                "Name": d.scalar("name", ""),
                "URI": d.scalar("uri", ""),
                "Shuffle": "1" if _bool(d.scalar("shuffle", "false")) == "True" else "0",
                "EnableCache": "0" if _bool(d.scalar("overwrite_cache", "false")) == "True" else "1",
                "ImageNormalization": "0" if _bool(d.scalar("no_image_normalization", "false")) == "True" else "1",
            }
            add("Dataset", f"Dataset_{i}", items, f.line, {k: f.line for k in items})
        batch = ""
        if datasets:
            batch = datasets[0].message.scalar("batch_size", "") or ""
        if not batch and networks:
            batch = networks[0].scalar("batch_size", "") or ""
        backends = " ".join(
            m.scalar("backends", "") or m.scalar("backend", "")
            for g in root.messages("global_config")
            for m in g.messages("default_context")
        )
        items = {
            "MaxEpoch": tc.scalar("max_epoch", "0"),
            "SaveBest": "1" if _bool(tc.scalar("save_best", "false")) == "True" else "0",
            "BatchSize": batch,
            "TypeConfig": "Half" if "half" in backends else "Float",
            "MonitorInterval": tc.scalar("monitor_interval", "10"),
            "NumOptimizer": str(len(root.all("optimizer"))),
            "NumMonitor": str(len(root.all("monitor"))),
            "NumExecutor": str(len(root.all("executor"))),
        }
        line = training and root.first("training_config").line or 0
        add("Config", "Config", items, line)
        for i, f in enumerate(root.all("optimizer")):
            items = self.optimizer(f.message, f.line, i, iter_per_epoch)
            add("Optimizer", f"Optimizer_{i}", items, f.line)
        for i, f in enumerate(root.all("monitor")):
            m = f.message
            items = {
                "Monitor_Name": m.scalar("name", ""),
                "Monitor_NetworkName": m.scalar("network_name", ""),
                "Monitor_DatasetName": m.scalar("dataset_name", ""),
            }
            if not items["Monitor_DatasetName"]:
                del items["Monitor_DatasetName"]  # not said (import_nntxt guesses one)
            add("Monitor", f"Monitor_{i}", items, f.line)
        for i, f in enumerate(root.all("executor")):
            m = f.message
            rtype = m.scalar("repeat_evaluation_type", "mean")
            items = {
                "Executor_Name": m.scalar("name", ""),
                "Executor_NetworkName": m.scalar("network_name", ""),
                "NumEvaluations": m.scalar("num_evaluations", "1"),
                "RepeatEvaluationType": {"mean": "0", "last": "1"}.get(rtype, rtype),
                "NeedBackPropagation": "1" if _bool(m.scalar("need_back_propagation", "false")) == "True" else "0",
            }
            add("Executor", f"Executor_{i}", items, f.line)
        return sections

    def optimizer(self, m: Message, line: int, index: int, iter_per_epoch: float) -> dict[str, str]:
        section = f'optimizer "{m.scalar("name", "")}"'
        solver = m.messages("solver")
        s = solver[0] if solver else Message()
        stype = s.scalar("type", "")
        start, end = m.scalar("start_iter", "0"), m.scalar("end_iter", "0")
        items = {
            "Optimizer_Name": m.scalar("name", ""),
            "Optimizer_NetworkName": m.scalar("network_name", ""),
            "Optimizer_DatasetName": m.scalar("dataset_name", ""),
            "UpdateInterval": m.scalar("update_interval", "1"),
        }
        if not items["Optimizer_DatasetName"]:
            del items["Optimizer_DatasetName"]  # create_prototxt leaves it out of some projects
        if start != "0" or end != "0":
            items["RangeFrom"] = start
            items["RangeTo"] = end
            items["RangeUnit"] = "1"
        known = SOLVERS.get(stype)
        if known is None:
            self.problem(section, line, f"the solver '{stype}' is not one NNC has")
            return items
        items["SolverName"] = stype
        param_name, params = known
        pm = s.messages(param_name)
        pmsg = pm[0] if pm else Message()
        items["SolverParameterNum"] = str(len(params))
        for i, (nnc_name, field, default) in enumerate(params):
            items[f"SolverParameterName_{i}"] = nnc_name
            items[f"SolverParameter_{i}"] = pmsg.scalar(field, default) or default
        items["WeightDecay"] = s.scalar("weight_decay", "0")
        sched = s.scalar("lr_scheduler_type", "")
        if not sched:  # nnabla's legacy schedule: lr_decay every lr_decay_interval iterations
            sched = "Exponential"
            gamma, interval = s.scalar("lr_decay", "1"), s.scalar("lr_decay_interval", "1")
            items.update(self.interval("Exponential", gamma, interval, iter_per_epoch))
        else:
            pmsgs = {
                "Exponential": "exponential_scheduler_param",
                "Step": "step_scheduler_param",
                "Polynomial": "polynomial_scheduler_param",
                "Cosine": "cosine_scheduler_param",
                "Linear": "linear_scheduler_param",
            }
            sp = s.messages(pmsgs.get(sched, ""))
            spm = sp[0] if sp else Message()
            items["LearningRateScheduler"] = sched
            if sched == "Exponential":
                items.update(
                    self.interval(sched, spm.scalar("gamma", "1"), spm.scalar("iter_interval", "1"), iter_per_epoch)
                )
            elif sched == "Step":
                items["LearningRateMultiplier"] = spm.scalar("gamma", "1")
                steps = spm.scalars("iter_steps")
                items["LearningRateSteps"] = ",".join(_epochs(v, iter_per_epoch) for v in steps)
            elif sched == "Polynomial":
                items["LearningRatePower"] = spm.scalar("power", "1")
        items.setdefault("LearningRateScheduler", sched)
        warm = s.scalar("lr_warmup_scheduler_type", "None")
        items["LearningRateWarmupScheduler"] = warm
        if warm != "None":
            wp = s.messages("linear_warmup_scheduler_param")
            length = (wp[0].scalar("warmup_iter", "0") if wp else "0") or "0"
            items["LearningRateWarmupLength"] = length
            items["LearningRateWarmupLengthUnit"] = "1"
        return items

    def interval(self, sched: str, gamma: str, iters: str, iter_per_epoch: float) -> dict[str, str]:
        items = {"LearningRateScheduler": sched, "LearningRateMultiplier": gamma}
        n = _float(iters)
        if not iter_per_epoch:
            # create_prototxt writes the interval in epochs when it does not know the
            # iterations per epoch (iter_per_epoch: 0); NNC's import_nntxt reads it so.
            items["LearningRateUpdateInterval"] = iters
            items["LearningRateUpdateIntervalUnit"] = "0"
        elif n % iter_per_epoch == 0:
            items["LearningRateUpdateInterval"] = str(int(n // iter_per_epoch))
            items["LearningRateUpdateIntervalUnit"] = "0"
        else:
            items["LearningRateUpdateInterval"] = iters
            items["LearningRateUpdateIntervalUnit"] = "1"
        return items


def _float(text: str | None) -> float:
    try:
        v = float(text or 0)
    except ValueError:
        return 0.0
    return v if math.isfinite(v) else 0.0


def _epochs(iters: str, iter_per_epoch: float) -> str:
    n = _float(iters)
    return str(int(n // iter_per_epoch)) if iter_per_epoch and n % iter_per_epoch == 0 else iters
