"""`nndsl weights SPEC FILE -o PARAMS.npz [--network N]`: a framework's trained weights as the
spec's NNC parameters.

FILE is read without executing anything in it:
- a PyTorch state dict (`.pth`, `.pt`): `torch.load(FILE, weights_only=True, map_location="cpu")`,
  torch's loader that refuses every pickled object but tensors and plain containers; a checkpoint
  whose one dict of tensors sits under "state_dict", "model" or "model_state_dict" is read from there;
- a safetensors file (`.safetensors`): its JSON header is checked here, then the `safetensors`
  library reads the tensors (a format of raw tensors: no pickle at all);
- a Keras weights file (`.weights.h5`, `.h5`) or a whole Keras model (`.keras`, a zip holding
  `config.json` and `model.weights.h5`): read with zipfile and h5py, never with Keras's loaders
  (`keras.models.load_model` can run code): groups and numeric datasets held in the file only, no
  links or external storage.

Limits (a hostile file stops early with an error naming it): the file holds at most
`MAX_TENSORS` tensors and takes at most `budget_bytes(spec)` bytes (16 times the spec's parameters
in float32, plus 64 MiB), checked from its size (and a safetensors header or the HDF5 datasets'
shapes) before any tensor is read; a `.keras`'s config.json is read up to 16 MiB.

Mapping by structure. The framework's tensors are grouped by layer: torch by the module prefix of a
state-dict key ("layer1.0.conv1" of "layer1.0.conv1.weight"; `num_batches_tracked` is skipped), Keras
by the weights file's layer groups (variables by index). The spec's parameters are grouped by layer
in the network's order; each spec layer's tensors have the framework's role names (its parameter
table, `parameters.json` of the generated project: torch's weight / bias / running_mean /
running_var, Keras's kernel / bias / gamma / beta / moving_mean / moving_variance in Keras's variable
order) and, through each parameter's layout (`nndsl.runtime.nnc_layouts`), the framework shapes they
need. A spec layer takes the first framework layer not yet taken whose role names and shapes it
fits, in the file's order: for a state dict the order the modules were saved in. safetensors and
Keras `.weights.h5` files keep no order (tensors sorted by name; Keras's groups are named
"conv2d", "conv2d_1", ... per class in the model's order): their layers are taken in the natural
order of their names (numbers as numbers); a `.keras` file's layers in its config.json's order.
A Keras layer may hold what NNC writes as two layers: a spec layer that fits no Keras layer takes,
with the spec layer after it, one that holds both's variables in order (SeparableConv2D: a depthwise
kernel, then a pointwise kernel and bias, NNC's DepthwiseConvolution then 1x1 Convolution).
A pairing against a state dict's order (a spec layer that takes a module saved before the one the
previous layer took) is warned about (W130): layers of the same shapes may then be paired wrongly.

Every framework layer and every spec layer left unmatched is an error (E0971, exit 1) unless
`--partial` (then W130 warnings: the spec's unmatched parameters keep their initial values when the
file is loaded with `load_params(..., partial=True)`). The output is the runtime's parameter file
(`nnc_params.save_params`: `.npz` keyed by the spec's NNC names in NNC's layouts, or NNC's `.h5` /
`.protobuf`), written atomically and never over an existing file without `--force`.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAX_TENSORS = 100_000
MAX_CONFIG_BYTES = 16 << 20
_MAX_HEADER_BYTES = 100 << 20
_FREE_BYTES = 64 << 20
TORCH_SUFFIXES = (".pth", ".pt")
KERAS_SUFFIXES = (".weights.h5", ".h5", ".keras")
SUFFIXES = (*TORCH_SUFFIXES, ".safetensors", *KERAS_SUFFIXES)
# The order of a Keras layer's variables (how Keras creates them: Conv kernel then bias, BatchNormalization
# gamma, beta, moving_mean, moving_variance); a spec layer's variables are taken in this order.
KERAS_ORDER = (
    "kernel",
    "depthwise_kernel",
    "pointwise_kernel",
    "gamma",
    "beta",
    "bias",
    "moving_mean",
    "moving_variance",
)


class WeightsError(Exception):
    """The weights file cannot be read (E0970): the message names the file."""


@dataclass
class FrameworkLayer:
    name: str  # the framework's name of the layer: "layer1.0.conv1", Keras's "conv1_conv"
    tensors: dict[str, object]  # role ("weight", or a Keras variable's index "0") -> numpy array
    position: int = 0  # its place in the file's order
    path: str = ""  # Keras: the layer's group in the weights file ("layers/conv2d")

    def __str__(self) -> str:
        return f"{self.name} ({self.path})" if self.path and self.path != f"layers/{self.name}" else self.name


@dataclass
class SpecLayer:
    name: str  # the layer's NNC path: "resnet/stage1/first/conv1"
    # role -> (NNC name, layout name, NNC shape)
    params: dict[str, tuple[str, str, tuple[int, ...]]] = field(default_factory=dict)
    # Keras: the file's role ("0", "1", ...) -> the variable's name ("kernel"), for the report
    roles: dict[str, str] = field(default_factory=dict)
    span: object = None  # where the spec writes the layer
    parts: int = 1  # the spec's layers it stands for: 2 for a pair that one Keras layer holds (`fused`)


def natural_key(name: str) -> list:
    """Sort key: digits compare as numbers ("conv2d_2" before "conv2d_10")."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t]


def backend_of(path: str) -> str | None:
    """ "torch" or "keras" by FILE's suffix, or None when it is none of SUFFIXES."""
    lower = path.lower()
    if lower.endswith((*TORCH_SUFFIXES, ".safetensors")):
        return "torch"
    if lower.endswith(KERAS_SUFFIXES):
        return "keras"
    return None


def budget_bytes(spec_elements: int) -> int:
    return 16 * 4 * spec_elements + _FREE_BYTES


def _numpy():
    try:
        import numpy
    except ImportError:
        raise WeightsError("nndsl weights needs the numpy package: pip install numpy") from None
    return numpy


def _check_size(path: str, budget: int) -> None:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise WeightsError(f"{path}: file not found") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot be read ({e.strerror or e})") from None
    if os.path.isdir(path):
        raise WeightsError(f"{path}: a folder, not a weights file")
    if size > budget:
        raise WeightsError(
            f"{path}: {size} bytes, more than 16 times this spec's parameters take ({budget} bytes); refused"
        )


def _too_many(path: str, count: int) -> None:
    if count > MAX_TENSORS:
        raise WeightsError(f"{path}: holds more than {MAX_TENSORS} tensors; refused")


# --- torch ---------------------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError:
        raise WeightsError("reading a PyTorch state dict needs the torch package: pip install torch") from None
    return torch


def read_torch(path: str, budget: int) -> tuple[list[FrameworkLayer], bool]:
    """The layers of a state dict saved with torch.save, in the file's order."""
    _check_size(path, budget)
    torch = _torch()
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        if head[:1] != b"\x80":  # neither torch's zip format nor a legacy pickle
            raise WeightsError(f"{path}: not a PyTorch file (torch.save writes a zip archive)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, ... for what it refuses
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unpickl" in type(e).__name__:
            raise WeightsError(
                f"{path}: holds Python objects other than tensors (a whole model saved with torch.save(model)?); "
                "refused, nothing in it ran: save model.state_dict() instead"
            ) from None
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({reason})") from None
    state = _state_dict(data, torch, path)
    _too_many(path, len(state))
    return torch_layers(state), True


def torch_layers(state) -> list[FrameworkLayer]:
    """A state dict's tensors grouped by module prefix ("layer1.0.conv1" of "layer1.0.conv1.weight"), in
    its order, as numpy arrays (floating point ones in float32); `num_batches_tracked` is skipped."""
    np = _numpy()
    groups: dict[str, FrameworkLayer] = {}
    for key, tensor in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        prefix, _, role = key.rpartition(".")
        layer = groups.setdefault(prefix, FrameworkLayer(prefix or key, {}, len(groups)))
        t = tensor.detach()
        if t.is_floating_point():
            t = t.float()
        layer.tensors[role] = np.asarray(t.numpy())
    return list(groups.values())


def _state_dict(data, torch, path: str) -> dict:
    def tensors(d) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())

    if tensors(data):
        return data
    if isinstance(data, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if tensors(data.get(key)):
                return data[key]
    raise WeightsError(f"{path}: not a state dict (a dict of tensors, as torch.save(model.state_dict()) writes)")


# --- safetensors ---------------------------------------------------------------------------------

_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1}


def read_safetensors(path: str, budget: int) -> tuple[list[FrameworkLayer], bool]:
    """The layers of a safetensors file, in the natural order of their names (the file keeps no order)."""
    _check_size(path, budget)
    np = _numpy()
    size = os.stat(path).st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > min(_MAX_HEADER_BYTES, size - 8):
            raise WeightsError(f"{path}: not a safetensors file (a header of {n} bytes in a file of {size})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError(f"{path}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: not a safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    _too_many(path, len(header))
    for name, info in header.items():
        ok = isinstance(info, dict) and info.get("dtype") in _SAFETENSORS_BYTES
        shape, offsets = (info.get("shape"), info.get("data_offsets")) if isinstance(info, dict) else (None, None)
        ok = ok and isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
        ok = ok and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
        if not ok:
            raise WeightsError(f'{path}: tensor "{name}": not a numeric tensor of a known dtype and shape')
        begin, end = offsets
        if not 0 <= begin <= end <= size - 8 - n or end - begin != math.prod(shape) * _SAFETENSORS_BYTES[info["dtype"]]:
            raise WeightsError(f'{path}: tensor "{name}": its data lies outside the file or does not fit its shape')
    try:
        from safetensors import safe_open
    except ImportError:
        raise WeightsError("reading .safetensors needs the safetensors package: pip install safetensors") from None
    bf16 = any(info["dtype"] == "BF16" for info in header.values())
    framework = "pt" if bf16 else "numpy"
    if bf16:
        _torch()
    groups: dict[str, FrameworkLayer] = {}
    try:
        with safe_open(path, framework=framework) as f:
            for key in sorted(header, key=natural_key):
                if key.endswith("num_batches_tracked"):
                    continue
                value = f.get_tensor(key)
                array = value.float().numpy() if framework == "pt" else np.asarray(value)
                if array.dtype.kind == "f":
                    array = array.astype(np.float32)
                prefix, _, role = key.rpartition(".")
                groups.setdefault(prefix, FrameworkLayer(prefix or key, {}, len(groups))).tensors[role] = array
    except WeightsError:
        raise
    except Exception as e:  # the library's SafetensorError and friends
        raise WeightsError(f"{path}: not a readable safetensors file ({e})") from None
    return list(groups.values()), False


# --- Keras ---------------------------------------------------------------------------------------


def _h5py():
    try:
        import h5py
    except ImportError:
        raise WeightsError("reading a Keras weights file needs the h5py package: pip install h5py") from None
    return h5py


def read_keras(path: str, budget: int) -> tuple[list[FrameworkLayer], bool]:
    """The layers of a Keras `.weights.h5` (natural order of the group names) or `.keras` (config.json's order)."""
    _check_size(path, budget)
    order: dict[str, int] | None = None
    if path.lower().endswith(".keras"):
        data, order = _read_keras_zip(path, budget)
        source = f"{path}:model.weights.h5"
        return _read_keras_h5(io.BytesIO(data), source, budget, order), False
    with open(path, "rb") as f:
        return _read_keras_h5(f, path, budget, None), False


def _read_keras_zip(path: str, budget: int) -> tuple[bytes, dict[str, int] | None]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise WeightsError(f"{path}: not a .keras file (a zip archive): {e}") from None
    with archive:
        names = {i.filename: i for i in archive.infolist()}
        info = names.get("model.weights.h5")
        if info is None:
            raise WeightsError(f"{path}: the .keras archive holds no model.weights.h5")
        if info.file_size > budget:
            raise WeightsError(f"{path}: model.weights.h5 unpacks to {info.file_size} bytes, over {budget}; refused")
        order = None
        config = names.get("config.json")
        try:
            if config is not None and config.file_size <= MAX_CONFIG_BYTES:
                order = _keras_order(json.loads(archive.read(config).decode("utf-8")))
            data = archive.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
            raise WeightsError(f"{path}: corrupt or unreadable archive member: {e}") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WeightsError(f"{path}: config.json is not JSON") from None
    return data, order


def _keras_order(config) -> dict[str, int] | None:
    """Layer name -> position in a .keras config.json's (top-level) layer list."""
    layers = config.get("config", {}).get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        return None
    return {str(layer.get("name")): k for k, layer in enumerate(layers) if isinstance(layer, dict)}


def _read_keras_h5(f, source: str, budget: int, order: dict[str, int] | None) -> list[FrameworkLayer]:
    h5py = _h5py()
    np = _numpy()
    try:
        hd = h5py.File(f, "r")
    except OSError as e:
        raise WeightsError(f"{source}: not a readable HDF5 (Keras weights) file: {e}") from None
    from .runtime.nnc_params import h5_datasets
    from .runtime.nnc_runs import RunError

    with hd:
        try:
            datasets = h5_datasets(hd, source)  # links, external data, cycles, depth: refused
            if len(datasets) > MAX_TENSORS or sum(d.size * d.dtype.itemsize for d in datasets.values()) > budget:
                raise WeightsError(f"{source}: holds more tensors or bytes than this spec can use; refused")
            if not datasets and "layers" not in hd:
                raise WeightsError(f"{source}: not a Keras weights file (no layers/ group)")
            groups: dict[str, dict[str, object]] = {}  # a layer's "layers/.../vars" group -> {index: dataset}
            for name, data in datasets.items():
                group, _, index = name.rpartition("/")
                if name.startswith("layers/") and group.endswith("/vars"):
                    groups.setdefault(group, {})[index] = data
            found = []  # (the layer's group, its name, {index: dataset})
            for group, data in groups.items():
                path = group.removesuffix("/vars")
                found.append((path, str(hd[group].attrs.get("name", path)), data))
            if order is not None:
                found.sort(key=lambda item: (order.get(item[1], len(order)), natural_key(item[0])))
            else:
                found.sort(key=lambda item: natural_key(item[0]))
            layers = []
            for k, (path, label, data) in enumerate(found):
                arrays = {i: np.asarray(data[i][()], dtype=np.float32) for i in sorted(data, key=natural_key)}
                layers.append(FrameworkLayer(label, arrays, k, path))
            return layers
        except RunError as e:
            raise WeightsError(str(e)) from None
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise WeightsError(f"{source}: not a readable Keras weights file: {e}") from None


# --- the spec's side -----------------------------------------------------------------------------


def spec_layers(project, network, backend: str) -> tuple[list[SpecLayer], dict[str, tuple]]:
    """The network's layers with parameters, in its order, their roles in `backend`'s names; and the
    parameter rows (NNC name -> (nnabla name, nnabla shape)) for NNC's file formats."""
    from .backends.toplevel import parameter_rows
    from .nnc.names import in_nnc_files

    render = __import__(f"nndsl.backends.{backend}.render", fromlist=["build"])
    rows = parameter_rows(render.build(project), backend)
    out: list[SpecLayer] = []
    seen: set[str] = set()
    nnabla: dict[str, tuple] = {}
    for layer in network.layers:
        entry = SpecLayer("")
        for p in layer.parameters:
            name = layer.parameter_name(p)
            if not in_nnc_files(layer, p) or name in seen or name not in rows:
                continue
            seen.add(name)
            row = rows[name]
            if backend == "torch":
                key, lay, shape, nn_name, nn_shape = row
                role = key.rpartition(".")[2]
            else:
                _, role, lay, shape, nn_name, nn_shape = row
            entry.name = name.rpartition("/")[0] if p.name else name
            entry.params[role] = (name, lay, tuple(shape))
            nnabla[name] = (nn_name, tuple(nn_shape or shape))
        if entry.params:
            entry.span = layer.origin.span if layer.origin is not None else None
            if backend == "keras":  # Keras's variable order, then positions "0", "1", ... as the file names them
                ranked = sorted(entry.params.items(), key=lambda kv: _keras_rank(kv[0]))
                entry.params = {str(i): v for i, (_, v) in enumerate(ranked)}
                entry.roles = {str(i): r for i, (r, _) in enumerate(ranked)}
            out.append(entry)
    return out, nnabla


def _keras_rank(role: str) -> int:
    return KERAS_ORDER.index(role) if role in KERAS_ORDER else len(KERAS_ORDER)


def _squeeze(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def shapes_fit(framework_nnc: Sequence[int], nnc: Sequence[int]) -> bool:
    """Whether a framework array read as NNC's `framework_nnc` (its layout's `nnc_shape`) holds NNC's `nnc`:
    the same sizes once axes of 1 are dropped, or each of its axes the product of consecutive ones of
    NNC's (an Affine's W of outputs 10x2 is nn.Linear's weight of 20 rows)."""
    a, b = _squeeze(framework_nnc), _squeeze(nnc)
    if math.prod(a) != math.prod(b):
        return False
    j = 0
    for d in a:
        acc = 1
        while j < len(b) and acc < d:
            acc *= b[j]
            j += 1
        if acc != d:
            return False
    return j == len(b)


def _fits(spec: SpecLayer, fw: FrameworkLayer, backend: str) -> bool:
    from .runtime.nnc_layouts import layout

    if set(spec.params) != set(fw.tensors):
        return False
    for role, (_, lay, shape) in spec.params.items():
        try:
            got = layout(lay, backend).nnc_shape(fw.tensors[role].shape)
        except ValueError:
            return False
        if not shapes_fit(got, shape):
            return False
    return True


def _signature(tensors: dict) -> str:
    return ", ".join(f"{r} {_shape(getattr(a, 'shape', a))}" for r, a in tensors.items())


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape) if len(shape) else "()"


@dataclass
class Match:
    pairs: list[tuple[SpecLayer, FrameworkLayer]]
    spec_left: list[SpecLayer]
    framework_left: list[FrameworkLayer]
    out_of_order: list[tuple[SpecLayer, FrameworkLayer, FrameworkLayer]]  # (spec, taken, the one before)


def fused(first: SpecLayer, second: SpecLayer) -> SpecLayer:
    """Two consecutive Keras-side spec layers as the one Keras layer that holds both's variables, in
    order: Keras's SeparableConv2D is a depthwise kernel, a pointwise kernel and a bias, which NNC
    writes as a DepthwiseConvolution and a 1x1 Convolution."""
    ranked = [*first.params.values(), *second.params.values()]
    named = {"kernel": "depthwise_kernel"}, {"kernel": "pointwise_kernel"}  # the names SeparableConv2D gives
    roles = [named[k].get(r, r) for k, layer in enumerate((first, second)) for r in layer.roles.values()]
    return SpecLayer(
        f"{first.name} + {second.name}",
        {str(i): v for i, v in enumerate(ranked)},
        {str(i): r for i, r in enumerate(roles)},
        first.span,
        first.parts + second.parts,
    )


def match(spec: list[SpecLayer], framework: list[FrameworkLayer], backend: str) -> Match:
    """Each spec layer takes the first framework layer not yet taken that it fits (module docstring);
    for Keras, a spec layer that fits none takes, with the next spec layer, a Keras layer that holds
    both's variables (`fused`). Linear in practice: a pointer skips the taken prefix; the scan past it
    stops at the first fit."""
    taken = [False] * len(framework)
    start = 0
    pairs, left, disorder = [], [], []
    last: FrameworkLayer | None = None

    def first_fit(s: SpecLayer) -> int | None:
        return next((k for k in range(start, len(framework)) if not taken[k] and _fits(s, framework[k], backend)), None)

    i = 0
    while i < len(spec):
        s = spec[i]
        while start < len(framework) and taken[start]:
            start += 1
        k = first_fit(s)
        if k is None and backend == "keras" and i + 1 < len(spec):
            k = first_fit(fused(s, spec[i + 1]))
            if k is not None:
                s = fused(s, spec[i + 1])
                i += 1
        i += 1
        if k is None:
            left.append(s)
            continue
        taken[k] = True
        fw = framework[k]
        if last is not None and fw.position < last.position:
            disorder.append((s, fw, last))
        last = fw
        pairs.append((s, fw))
    return Match(pairs, left, [f for f, t in zip(framework, taken, strict=True) if not t], disorder)


def convert(m: Match, backend: str) -> dict[str, object]:
    """NNC name -> the framework's array in NNC's layout and shape."""
    from .runtime.nnc_layouts import layout

    arrays = {}
    for s, fw in m.pairs:
        for role, (name, lay, shape) in s.params.items():
            arrays[name] = layout(lay, backend).to_nnc(fw.tensors[role], shape)
    return arrays


def report_table(m: Match, backend: str) -> str:
    rows = []
    for s, fw in m.pairs:
        for role, (name, _, shape) in s.params.items():
            shown = s.roles.get(role, role)
            fw_name = f"{fw.name}.{role}" if backend == "torch" else f"{fw.name}.{shown} ({fw.path}/vars/{role})"
            rows.append((fw_name, name, f"{_shape(fw.tensors[role].shape)} -> {_shape(shape)}"))
    if not rows:
        return ""
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    return "".join(f"  {a:<{w1}}  ->  {b:<{w2}}  {c}\n" for a, b, c in rows)


def run(args) -> int:
    """The `weights` subcommand (nndsl/cli.py)."""
    from .cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, _compile, _report
    from .diagnostics import did_you_mean, make

    backend = backend_of(args.file)
    if backend is None:
        sys.stderr.write(
            f"nndsl weights: error: {args.file}: the file's extension says what it holds; expected one of "
            f"{', '.join(SUFFIXES)}\n"
        )
        return EXIT_USAGE
    out = Path(args.output)
    if out.suffix.lower() not in (".npz", ".h5", ".protobuf"):
        sys.stderr.write(f"nndsl weights: error: -o {args.output}: expected a .npz, .h5 or .protobuf file\n")
        return EXIT_USAGE
    result = _compile(args.spec, args)
    if not result.ok:
        _report([result], "text")
        return EXIT_INPUT
    project = result.project
    from .backends.toplevel import main_network

    name = args.network or main_network(project)
    network = project.network(name)
    if network is None:
        hint = did_you_mean(name, [n.name for n in project.networks])
        result.diagnostics.append(make("E0204", None, help=hint, name=name))
        _report([result], "text")
        return EXIT_INPUT
    if (out.exists() or out.is_symlink()) and not args.force:
        result.diagnostics.append(make("E0961", None, path=str(out)))
        _report([result], "text")
        return EXIT_INPUT
    from .backends.builder import BackendUnsupported

    try:
        layers, nnabla = spec_layers(project, network, backend)
    except BackendUnsupported as e:
        result.diagnostics.append(e.diagnostic)
        _report([result], "text")
        return EXIT_INPUT
    elements = sum(math.prod(shape) for s in layers for _, _, shape in s.params.values())
    reader = read_torch if args.file.lower().endswith(TORCH_SUFFIXES) else read_keras
    if args.file.lower().endswith(".safetensors"):
        reader = read_safetensors
    try:
        framework, ordered = reader(args.file, budget_bytes(elements))
    except WeightsError as e:
        result.diagnostics.append(make("E0970", None, message=str(e)))
        _report([result], "text")
        return EXIT_INPUT
    m = match(layers, framework, backend)
    problems = []
    for fw in m.framework_left:
        problems.append((None, f"{args.file}: [{fw}] {_signature(fw.tensors)}: no layer of network '{name}' fits it"))
    for s in m.spec_left:
        want = {nnc.rpartition("/")[2] or nnc: shape for nnc, _, shape in s.params.values()}
        problems.append(
            (
                s.span,
                f"[{s.name}] ({_signature(want)} in NNC's shapes): no layer of {args.file} fits it"
                + _nearest(s, framework, m, backend),
            )
        )
    code = "W130" if args.partial else "E0971"
    for span, text in problems:
        result.diagnostics.append(make(code, span, message=text))
    if ordered:
        for s, fw, before in m.out_of_order:
            result.diagnostics.append(
                make(
                    "W130",
                    None,
                    message=f"{args.file}: [{fw}] pairs with {s.name} although it was saved before "
                    f"[{before}], which an earlier layer took: layers of the same shapes may be paired wrongly",
                )
            )
    sys.stderr.write(
        f"{sum(s.parts for s, _ in m.pairs)} of the {len(layers)} layers of network '{name}' matched, "
        f"from the {len(framework)} layers of {args.file}:\n" + report_table(m, backend)
    )
    if not result.ok:
        _report([result], "text")
        matched = sum(s.parts for s, _ in m.pairs)
        sys.stderr.write(f"nothing was written (--partial writes the {matched} matched layers)\n")
        return EXIT_INPUT
    arrays = convert(m, backend)
    from .runtime.nnc_params import save_params
    from .runtime.nnc_runs import RunError

    try:
        save_params(out, arrays, nnabla if out.suffix.lower() != ".npz" else None)
    except (OSError, RunError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        result.diagnostics.append(make("E0901", None, path=str(out), reason=reason))
    _report([result], "text")
    if not result.ok:
        return EXIT_INPUT
    sys.stderr.write(f"wrote {out}: {len(arrays)} parameters\n")
    return EXIT_OK


def _nearest(s: SpecLayer, framework: list[FrameworkLayer], m: Match, backend: str) -> str:
    """A hint naming the first unmatched framework layer of the same roles whose tensors have the axes
    the spec's layouts read (the likely counterpart of another size)."""
    from .runtime.nnc_layouts import layout

    for fw in m.framework_left:
        if set(fw.tensors) != set(s.params):
            continue
        try:
            for role, (_, lay, shape) in s.params.items():
                got = layout(lay, backend).nnc_shape(fw.tensors[role].shape)
                if len(_squeeze(got)) != len(_squeeze(shape)):
                    raise ValueError(role)
        except ValueError:
            continue
        return f"; the first left of its kind is [{fw}] {_signature(fw.tensors)}"
    return ""
