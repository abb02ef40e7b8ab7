"""A compiled spec written as nnabla's network file (`.nntxt`): `nndsl export SPEC -o OUT.nntxt`.

The `.nntxt` is what NNC's `create_prototxt` writes and what nnabla (`nnabla_cli train`,
`NnpLoader`) runs: `global_config`, `training_config`, one `network` per nndsl network, the
`dataset`s, and an `optimizer`, `monitor` and `executor` per config entry, with the structure and
names NNC uses. The networks are written fully expanded, as the IR holds them: a repeat's copies
are written as copies (no `repeat_info`), their parameters named as nnabla's own expander names
them (`block[2]/conv1/conv/W`, exactly `names.nnc_parameter_table`), so that nnabla creates, loads
and saves the same parameters as the generated projects.

Each layer becomes one nnabla function through two tables, not one branch per layer:
`components.COMPONENTS` (NNC's layer definitions: which NNC property becomes which field of the
function's `<type>_param`, with NNC's flags: `-a` an axis NNC counts without the batch axis,
`-b` a shape NNC writes without it, `-0` axes without the batch axis's 0) and
`nnabla_functions.FUNCTIONS` (nnabla's schema: which field is a `Shape`, a repeated scalar, an
int, float, bool or string). A property the language does not carry (NNC computes it, such as
`base_axis`) takes NNC's default; one NNC decides by a macro (`*AutoInPlace`) is left out (nnabla's
default: not in place). The function's inputs are its data inputs in order, then its parameter
variables in NNC's connector order (`W`, `b`; BatchNormalization's `beta`, `gamma`, `mean`, `var`).

As in `create_prototxt`, a random layer with `skip_at_test` (Dropout, RandomShift,
ImageAugmentation, ...) is left out of the networks no optimizer trains: its output is its input.

Where a duration counts epochs (a schedule's interval, steps, warm-up; the cosine and polynomial
schedules' length), the writer needs the iterations per epoch: the first optimizer's training
dataset size (the rows of its CSV, when the CSV is there, inside the spec's folder) divided by the
batch size, as NNC computes it. When the CSV is not there, `iter_per_epoch` is written as 0 and
epoch durations are written as epoch counts, as `create_prototxt` does then; `export` says so.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ir
from ..layers import REGISTRY
from .components import COMPONENTS, SOLVERS
from .config_nnd import dataset_rows
from .names import nnc_layer_path, nnc_parameter_name, nnc_shape
from .nnabla_functions import FUNCTIONS
from .nndsl_layers import nnc_project
from .prototext import Field, Message, write

# nnabla solvers NNC's solver table lacks: (param message, ((NNC name, nnabla field, default), ...)).
_EXTRA_SOLVERS = {
    "RMSpropGraves": (
        "rmsprop_graves_param",
        (
            ("LearningRate", "lr", "0.0001"),
            ("Decay", "decay", "0.95"),
            ("Momentum", "momentum", "0.9"),
            ("Epsilon", "eps", "0.0001"),
        ),
    ),
}
# The solvers' NNC parameter names per language name (nndsl.solvers.SOLVERS).


class ExportError(Exception):
    """A spec the `.nntxt` cannot hold: what (a layer's or a config item's name and type), why,
    and where it was written."""

    def __init__(self, what: str, type_: str, message: str, span=None):
        super().__init__(f"{what} ({type_}): {message}")
        self.what = what
        self.type = type_
        self.message = message
        self.span = span


# --- values -----------------------------------------------------------------------------------


def _number(v: Any) -> str:
    """A number as NNC writes it: `1`, `0.001`, `1e-08`, `-1`."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    f = float(v)
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def _f(name: str, kind: str, value: Any) -> Field:
    return Field(name, kind, value, 0, 0)


def _msg(*fields: Field) -> Message:
    return Message(list(fields))


def _s(name: str, value: str) -> Field:
    return _f(name, "string", value)


def _n(name: str, value: Any) -> Field:
    return _f(name, "number", _number(value))


def _b(name: str, value: bool) -> Field:
    return _f(name, "ident", "true" if value else "false")


def _m(name: str, *fields: Field) -> Field:
    return _f(name, "message", _msg(*fields))


def _shape(name: str, dims) -> Field:
    return _m(name, *(_n("dim", d) for d in dims))


# --- networks ---------------------------------------------------------------------------------


@dataclass
class _Net:
    """A network as written: its message and the names the config sections refer to."""

    network: ir.Network
    message: Message
    var: dict[int, str]  # value id -> variable name
    params: list[tuple[str, float]]  # (parameter variable, learning-rate multiplier), in order


def _skipped(layer: ir.Layer, net: ir.Network) -> bool:
    return not net.training and bool(layer.params.get("skip_at_test")) and REGISTRY[layer.type].random is not False


def variable_names(net: ir.Network) -> dict[int, str]:
    """Each value's variable: an Input's is the name the user bound (`x`), a layer's output is
    named after the layer (`LeNet/Convolution`, `block[0]/conv1`), as NNC names a function's
    output after the function; a skipped layer's output is its input."""
    names: dict[int, str] = {}
    taken: set[str] = set()

    def unique(base: str) -> str:
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        return name

    for layer in net.layers:
        if _skipped(layer, net):
            names[layer.outputs[0]] = names[layer.inputs[0]]
            continue
        base = net.value(layer.outputs[0]).name if layer.type == "Input" else nnc_layer_path(layer)
        for k, vid in enumerate(layer.outputs):
            names[vid] = unique(base if k == 0 else f"{base}_{k}")
    return names


def _property_values(layer: ir.Layer) -> dict[str, Any]:
    """The layer's parameters by NNC property name."""
    spec = REGISTRY[layer.type]
    return {p.nnc: layer.params[p.name] for p in spec.params if p.name in layer.params}


def _convert(value: Any, ptype: str, flags: tuple[str, ...], kind: str) -> list[Any]:
    """An NNC property value as the values of nnabla's field (a list: one for a scalar)."""
    if isinstance(value, str) and kind != "string":
        value = [x for x in value.split(",") if x != ""]
        if ptype.startswith("Boolean"):
            value = [x.strip().lower() == "true" for x in value]
    values = list(value) if isinstance(value, (tuple, list)) else [value]
    if kind in ("int", "shape"):
        values = [int(v) for v in values]
    elif kind == "float":
        values = [float(v) for v in values]
    elif kind == "bool":
        values = [bool(v) for v in values]
    if "-a" in flags:
        values = [v + 1 for v in values]
    if "-0" in flags:
        values = [0, *values]
    if "-b" in flags:
        values = [-1, *values]
    return values


def _function_param(layer: ir.Layer) -> Field | None:
    """The function's `<type>_param` message, from NNC's property table and nnabla's schema."""
    message, schema = FUNCTIONS[layer.type]
    if not message:
        return None
    fields = {name: (kind, repeated) for name, kind, repeated in schema}
    values = _property_values(layer)
    out: list[Field] = []
    written: dict[str, list[Field]] = {}
    for pname, ptype, default, arg, flags, _editable, _choices in COMPONENTS[layer.type]["properties"]:
        if not arg.startswith(message + "."):
            continue
        fname = arg.split(".", 1)[1]
        if fname not in fields or fname in written:
            continue
        kind, repeated = fields[fname]
        value = values.get(pname)
        if value is None:
            if default.startswith("*"):
                continue  # a macro NNC resolves (in-place, ...): nnabla's default
            value = default
        vals = _convert(value, ptype, flags, kind)
        if kind == "shape":
            fs = [_shape(fname, vals)]
        elif kind == "string":
            fs = [_s(fname, str(v)) for v in vals]
        elif kind == "bool":
            fs = [_b(fname, v) for v in vals]
        else:
            fs = [_n(fname, v) for v in vals]
        if not repeated and kind != "shape":
            fs = fs[:1]
        written[fname] = fs
    # In the order of NNC's properties, as create_prototxt writes them.
    for fs in written.values():
        out.extend(fs)
    return _m(message, *out)


def _network(net: ir.Network, batch_size: int) -> _Net:
    var = variable_names(net)
    variables: list[Field] = []
    functions: list[Field] = []
    params: list[tuple[str, float]] = []
    seen_params: set[str] = set()
    # NNC's order: the inputs, the parameters, then every other variable; then the functions.
    inputs: list[Field] = []
    buffers: list[Field] = []
    declared: set[str] = set()

    def buffer(vid: int, into: list[Field]) -> None:
        name = var[vid]
        if name in declared:
            return
        declared.add(name)
        shape = net.value(vid).shape or ()
        into.append(_m("variable", _s("name", name), _s("type", "Buffer"), _shape("shape", (-1, *shape))))

    for layer in net.layers:
        if layer.type == "Input":
            buffer(layer.outputs[0], inputs)
    for layer in net.layers:
        if layer.type == "WorkingMemory":
            # As create_prototxt writes it: no function, a Buffer variable of the batch named after the
            # layer (networks share it by that name), with the initializer; the optimizers list it
            # with its LRateMultiplier, which decides whether VATNoise's backward writes it.
            name = var[layer.outputs[0]]
            if name not in declared:
                declared.add(name)
                (buf,) = layer.parameters
                initializer = _m("initializer", _s("type", buf.init), _n("multiplier", buf.init_multiplier))
                shape = _shape("shape", (-1, *buf.shape))
                inputs.append(_m("variable", _s("name", name), _s("type", "Buffer"), shape, initializer))
                params.append((name, buf.lrate_multiplier))
            continue
        if layer.type == "Input" or _skipped(layer, net):
            continue
        given = dict(zip(layer.connectors, layer.inputs[len(layer.data_inputs) :], strict=True))
        args = [var[v] for v in layer.data_inputs]
        own = {p.name: p for p in layer.parameters}
        # In nnabla's order of the function's inputs (W, b; beta, gamma, ...); a connector given by a
        # Parameter layer takes that layer's variable.
        order = [*layer.connectors, *own] if not given else [n for n in ("W", "b") if n in given or n in own]
        for name in order:
            if name in given:
                args.append(var[given[name]])
                continue
            p = own[name]
            pname = nnc_parameter_name(layer, p)
            if layer.type == "Parameter":  # as create_prototxt writes it: a variable, no function
                var[layer.outputs[0]] = pname
            else:
                args.append(pname)
            if pname not in seen_params:
                seen_params.add(pname)
                variables.append(
                    _m(
                        "variable",
                        _s("name", pname),
                        _s("type", "Parameter"),
                        _shape("shape", nnc_shape(layer, p)),
                        _m("initializer", _s("type", p.init or "Constant"), _n("multiplier", p.init_multiplier)),
                    )
                )
                params.append((pname, p.lrate_multiplier if p.trainable else 0.0))
        if layer.type == "Parameter":
            continue
        for vid in layer.outputs:
            buffer(vid, buffers)
        fields = [
            _s("name", var[layer.outputs[0]]),  # NNC names a function and its output alike
            _s("type", layer.type),
            *(_s("input", i) for i in args),
            *(_s("output", var[v]) for v in layer.outputs),
        ]
        param = _function_param(layer)
        if param is not None:
            fields.append(param)
        functions.append(_m("function", *fields))
    message = _msg(_s("name", net.name), _n("batch_size", batch_size), *inputs, *variables, *buffers, *functions)
    return _Net(net, message, var, params)


# --- config -----------------------------------------------------------------------------------


def iterations_per_epoch(project: ir.Project) -> int | None:
    """NNC's iterations per epoch: the first optimizer's dataset rows // batch size."""
    config = project.config
    if not config.optimizers or config.optimizers[0].dataset is None:
        return None
    dataset = next((d for d in project.datasets if d.name == config.optimizers[0].dataset), None)
    if dataset is None:
        return None
    rows = dataset_rows(dataset.path, Path(project.path).parent)
    return None if rows is None else rows // config.batch_size


def _global_config() -> Field:
    return _m("global_config", _m("default_context", _s("array_class", "CpuCachedArray"), _s("backends", "cpu:float")))


def _training_config(project: ir.Project, ipe: int) -> Field:
    c = project.config
    return _m(
        "training_config",
        _n("max_epoch", c.max_epoch),
        _n("iter_per_epoch", ipe),
        _b("save_best", c.save_best),
        _n("monitor_interval", c.monitor_interval),
    )


def _dataset(d: ir.Dataset, config: ir.Config) -> Field:
    stem = d.uri[: -len(".csv")] if d.uri.lower().endswith(".csv") else d.uri
    s = d.settings
    shuffle = s.get("shuffle")
    if shuffle is None:  # the language's default: shuffle what an optimizer trains on
        shuffle = any(o.dataset == d.name for o in config.optimizers)
    return _m(
        "dataset",
        _s("name", d.name),
        _s("uri", d.uri),
        _s("cache_dir", f"{stem}.cache"),
        _b("overwrite_cache", not s.get("cache", True)),
        _b("create_cache_explicitly", True),
        _b("shuffle", bool(shuffle)),
        _b("no_image_normalization", not s.get("image_normalization", False)),
        _n("batch_size", config.batch_size),
    )


def _iterations(duration: Any, ipe: int) -> int:
    """A duration in iterations (epochs times `ipe`; with `ipe` 0, the epoch count, as NNC)."""
    if isinstance(duration, (tuple, list)) and len(duration) == 2 and isinstance(duration[1], str):
        value, unit = duration
        if unit.startswith("epoch"):
            return int(round(float(value) * ipe)) if ipe else int(round(float(value)))
        return int(round(float(value)))
    return int(round(float(duration)))


def _solver_table(o: ir.Optimizer):
    stype = o.solver.type
    known = SOLVERS.get(stype) or _EXTRA_SOLVERS.get(stype)
    if known is None:
        raise ExportError(f"the solver of optimizer '{o.name}'", stype, "nnabla has no such solver", o.solver.span)
    return known


def _solver(o: ir.Optimizer, project: ir.Project, ipe: int) -> Field:
    from ..solvers import SOLVERS as LANGUAGE_SOLVERS

    s = o.solver
    message, table = _solver_table(o)
    if s.params.get("bias_correction") is True:  # in nnabla's proto, but nnabla's trainer never reads it
        raise ExportError(
            f"the solver of optimizer '{o.name}'",
            s.type,
            "NNC has no setting for bias_correction; nnabla's trainer runs it with bias_correction=false",
            s.span,
        )
    by_nnc = {p.nnc: s.params[p.name] for p in LANGUAGE_SOLVERS[s.type] if p.name in s.params}
    weight_decay = float(s.params.get("weight_decay", 0.0))
    fields = []
    for nnc_name, field, default in table:
        if nnc_name == "Weight Decay" and nnc_name not in by_nnc:
            # AdamW's, SgdW's decoupled decay when not given: NNC's WeightDecay (which nnabla's trainer puts in
            # its place anyway when > 0), else NNC's 1e-4
            value: Any = weight_decay or float(default)
        elif nnc_name in by_nnc:
            value = by_nnc[nnc_name]
        else:
            value = default.rstrip("s")
        fields.append(_n(field, float(value)) if not str(value).isdigit() else _n(field, int(value)))
    out = [_s("type", s.type), _n("weight_decay", weight_decay), _m(message, *fields)]
    out.extend(_schedule(o.schedule, project, ipe))
    return _m("solver", *out)


def _schedule(sc: ir.Schedule, project: ir.Project, ipe: int) -> list[Field]:
    """nnabla's scheduler fields, as create_prototxt writes them (Constant is an Exponential
    schedule with gamma 1, with nnabla's legacy lr_decay fields beside it)."""
    total = project.config.max_epoch * ipe if ipe else project.config.max_epoch
    p = sc.params
    if sc.type in ("Constant", "Exponential"):
        gamma = float(p.get("multiplier", 1.0)) if sc.type == "Exponential" else 1.0
        interval = _iterations(p["interval"], ipe) if sc.type == "Exponential" and p.get("interval") else 1
        out = [
            _s("lr_scheduler_type", "Exponential"),
            _m("exponential_scheduler_param", _n("gamma", gamma), _n("iter_interval", interval)),
            _n("lr_decay", gamma),
            _n("lr_decay_interval", interval),
        ]
    elif sc.type == "Step":
        steps = p.get("steps") or ()
        if isinstance(steps, tuple) and len(steps) == 2 and isinstance(steps[1], str):
            steps = (steps,)
        out = [
            _s("lr_scheduler_type", "Step"),
            _m(
                "step_scheduler_param",
                _n("gamma", float(p.get("multiplier", 0.1))),
                *(_n("iter_steps", _iterations(d, ipe)) for d in steps),
            ),
        ]
    elif sc.type == "Cosine":
        out = [_s("lr_scheduler_type", "Cosine"), _m("cosine_scheduler_param", _n("max_iter", total))]
    elif sc.type in ("Polynomial", "Linear"):
        # nnabla has no linear schedule: linear decay to 0 is the polynomial one of power 1.
        power = float(p.get("power", 1.0)) if sc.type == "Polynomial" else 1.0
        out = [
            _s("lr_scheduler_type", "Polynomial"),
            _m("polynomial_scheduler_param", _n("max_iter", total), _n("power", power)),
        ]
    else:
        raise ExportError("the schedule", sc.type, "nnabla has no such schedule", sc.span)
    if sc.warmup is not None and _iterations(sc.warmup, ipe) > 0:
        out.append(_s("lr_warmup_scheduler_type", "Linear"))
        out.append(_m("linear_warmup_scheduler_param", _n("warmup_iter", _iterations(sc.warmup, ipe))))
    else:
        out.append(_s("lr_warmup_scheduler_type", "None"))
    return out


def _data_variables(n: _Net) -> list[Field]:
    out = []
    for layer in n.network.layers:
        if layer.type == "Input" and layer.params.get("dataset"):
            out.append(
                _m(
                    "data_variable",
                    _s("variable_name", n.var[layer.outputs[0]]),
                    _s("data_name", layer.params["dataset"]),
                )
            )
    return out


def _optimizer(o: ir.Optimizer, n: _Net, project: ir.Project, ipe: int) -> Field:
    fields = [
        _n("start_iter", 0),
        _n("end_iter", 0),
        _s("name", o.name),
        _n("update_interval", o.update_interval),
        _s("network_name", o.network),
    ]
    if o.dataset:
        fields.append(_s("dataset_name", o.dataset))
    fields.append(_solver(o, project, ipe))
    fields.extend(_data_variables(n))
    fields.extend(_m("loss_variable", _s("variable_name", n.var[v])) for v in n.network.outputs)
    fields.extend(
        _m("parameter_variable", _s("variable_name", name), _n("learning_rate_multiplier", mult))
        for name, mult in n.params
    )
    return _m("optimizer", *fields)


def _monitor(m: ir.Monitor, n: _Net) -> Field:
    fields = [_s("name", m.name), _s("network_name", m.network)]
    if m.dataset:
        fields.append(_s("dataset_name", m.dataset))
    fields.extend(_data_variables(n))
    fields.extend(_m("monitor_variable", _s("type", "Error"), _s("variable_name", n.var[v])) for v in n.network.outputs)
    return _m("monitor", *fields)


def _executor(e: ir.Executor, n: _Net, project: ir.Project) -> Field:
    dataset = next((d for d in project.datasets if d.name == e.dataset), None)
    normalize = bool(dataset.settings.get("image_normalization", False)) if dataset is not None else False
    fields = [
        _s("name", e.name),
        _s("network_name", e.network),
        _n("num_evaluations", e.num_evaluations),
        _s("repeat_evaluation_type", e.evaluation),
        _b("need_back_propagation", False),
        _b("no_image_normalization", not normalize),
    ]
    fields.extend(_data_variables(n))
    fields.extend(
        _m("output_variable", _s("variable_name", n.var[v]), _s("data_name", n.network.value(v).name))
        for v in n.network.outputs
    )
    fields.extend(_m("parameter_variable", _s("variable_name", name)) for name, _mult in n.params)
    return _m("executor", *fields)


# --- the file ---------------------------------------------------------------------------------


def project_to_message(project: ir.Project, *, iter_per_epoch: int | None = None) -> Message:
    """The project as an `.nntxt` message tree. `iter_per_epoch` overrides the one counted
    from the training dataset (see the module docstring)."""
    ipe = iter_per_epoch if iter_per_epoch is not None else (iterations_per_epoch(project) or 0)
    project, problems = nnc_project(project)  # nndsl's own layers as NNC's (nndsl_layers)
    if problems:
        layer, why = problems[0]
        raise ExportError(f"layer '{layer.name}'", layer.type, why, layer.origin.span)
    config = project.config
    nets = {n.name: _network(n, config.batch_size) for n in project.networks}
    root = [_global_config(), _training_config(project, ipe)]
    root.extend(_f("network", "message", n.message) for n in nets.values())
    root.extend(_dataset(d, config) for d in project.datasets)
    root.extend(_optimizer(o, nets[o.network], project, ipe) for o in config.optimizers)
    root.extend(_monitor(m, nets[m.network]) for m in config.monitors)
    root.extend(_executor(e, nets[e.network], project) for e in config.executors)
    return _msg(*root)


def project_to_nntxt(project: ir.Project, *, iter_per_epoch: int | None = None) -> str:
    """The project as nnabla's `.nntxt` text."""
    return write(project_to_message(project, iter_per_epoch=iter_per_epoch))


# --- the command ------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then rename over it: an interrupted export leaves no half file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unwritable(out: Path, force: bool) -> str | None:
    if out.is_dir():
        return "it is a folder"
    if out.exists() and not force:
        return "it exists (--force overwrites it)"
    if not out.parent.is_dir():
        return "its folder does not exist"
    return None


__all__ = ["ExportError", "iterations_per_epoch", "project_to_message", "project_to_nntxt"]
