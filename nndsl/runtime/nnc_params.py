"""NNC's parameters, framework-free: initial values and parameter files.

Part of every generated project (PyTorch and Keras alike; numpy and the standard library
only). Follows nnabla: `python/src/nnabla/initializer.py` for the initializers and
`python/src/nnabla/core/graph_def.py` (`_create_initializer`) for how NNC projects read fans from
parameter shapes (`nnc_shapes.nnabla_fans`).
A parameter file is a `.npz` keyed by the model's parameter names ("conv1/W") holding arrays in
NNC's layouts, the same for both backends, or one of NNC's own: `.h5` and `.protobuf` as nnabla's
`nn.save_parameters` writes them and the parameters inside an `.nnp`, keyed by nnabla's names
("conv1/conv/W", "Convolution_5[0]/conv/W") in nnabla's shapes (see "parameter files" below).

Notation of nnabla's initializer.py: N = input maps (Affine: input features), M = output maps
(Affine: output features), K = kernel area (1 for Affine). NNC multiplies every computed value
by the layer's InitializerMultiplier.

Loading is safe and strict: ``load_params(path, expected, partial=False)`` never unpickles
(``allow_pickle=False``: a file holding objects is refused, nothing in it runs), reads nothing but
the file (no HDF5 links or external data), bounds what it reads by the model's size and, given
the model's ``expected`` {name: NNC shape}, refuses a file that misses parameters (unless
``partial``), has parameters the model does not, or holds a parameter of another shape,
naming them (``check_params``). Its problems raise ``nnc_runs.RunError`` (exit status 1).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np

from .nnc_runs import RunError
from .nnc_shapes import nnabla_fans  # nnabla's reading of fans from an NNC shape, the one copy

__all__ = [
    "INITIALIZERS",
    "calc_normal_std_glorot",
    "calc_normal_std_he_backward",
    "calc_normal_std_he_forward",
    "calc_uniform_lim_glorot",
    "check_params",
    "describe_fitting",
    "nnabla_fans",
    "initial_distribution",
    "FORMATS",
    "NNC_FORMATS",
    "encode_protobuf",
    "load_fitting_params",
    "load_params",
    "params_format",
    "read_parameter_table",
    "save_params",
]


def calc_normal_std_he_forward(n: float, m: float, k: float = 1) -> float:
    """He et al., forward case: sigma = sqrt(2 / (N K)) (nnabla `calc_normal_std_he_forward`)."""
    return math.sqrt(2.0 / (k * n))


def calc_normal_std_he_backward(n: float, m: float, k: float = 1) -> float:
    """He et al., backward case: sigma = sqrt(2 / (M K)) (nnabla `calc_normal_std_he_backward`)."""
    return math.sqrt(2.0 / (k * m))


def calc_normal_std_glorot(n: float, m: float, k: float = 1) -> float:
    """Glorot: sigma = sqrt(2 / (K (N + M))) (nnabla `calc_normal_std_glorot`, the definition since v1.2)."""
    return math.sqrt(2.0 / (k * (n + m)))


def calc_uniform_lim_glorot(n: float, m: float, k: float = 1) -> float:
    """Glorot uniform: U(-d, d), d = sqrt(6 / (K (N + M))) (nnabla `calc_uniform_lim_glorot`, since v1.3)."""
    return math.sqrt(6.0 / (k * (n + m)))


# name -> (distribution, formula or None). NNC's older spellings NormalAffineHe / NormalConvolutionHe /
# NormalCLConvHe mean the forward case (nnabla load.py).
_INIT_TABLE: dict[str, tuple[str, Callable[[float, float, float], float] | None]] = {
    "Normal": ("normal", None),
    "Uniform": ("uniform", None),
    "Constant": ("constant", None),
    "NormalAffineHeForward": ("normal", calc_normal_std_he_forward),
    "NormalAffineHe": ("normal", calc_normal_std_he_forward),
    "NormalAffineHeBackward": ("normal", calc_normal_std_he_backward),
    "NormalAffineGlorot": ("normal", calc_normal_std_glorot),
    "UniformAffineGlorot": ("uniform", calc_uniform_lim_glorot),
    "NormalConvolutionHeForward": ("normal", calc_normal_std_he_forward),
    "NormalConvolutionHe": ("normal", calc_normal_std_he_forward),
    "NormalConvolutionHeBackward": ("normal", calc_normal_std_he_backward),
    "NormalConvolutionGlorot": ("normal", calc_normal_std_glorot),
    "UniformConvolutionGlorot": ("uniform", calc_uniform_lim_glorot),
    "NormalCLConvHeForward": ("normal", calc_normal_std_he_forward),
    "NormalCLConvHe": ("normal", calc_normal_std_he_forward),
    "NormalCLConvHeBackward": ("normal", calc_normal_std_he_backward),
    "NormalCLConvGlorot": ("normal", calc_normal_std_glorot),
    "UniformCLConvGlorot": ("uniform", calc_uniform_lim_glorot),
}
INITIALIZERS: tuple[str, ...] = tuple(_INIT_TABLE)


def initial_distribution(
    name: str,
    multiplier: float,
    shape: Sequence[int],
    fan_in: int | None = None,
    fan_out: int | None = None,
    kernel_area: int | None = None,
) -> tuple[str, float]:
    """NNC's initializer `name` times `multiplier` as ("normal", sigma), ("uniform", limit) or
    ("constant", value).

    - Normal: N(0, multiplier^2); Uniform: U(-multiplier, multiplier); Constant: the multiplier itself.
    - *HeForward / *HeBackward / *Glorot: N(0, sigma^2) * multiplier, sigma from the calc_* functions.
    - Uniform*Glorot: U(-d, d) * multiplier.
    N (fan_in), M (fan_out) and K (kernel_area) default to what nnabla reads from the parameter's
    NNC `shape` (`nnc_shapes.nnabla_fans`); pass them to override. N(0, s^2) and U(-s, s) are the same
    distributions for -s, so sigma and limit are returned as absolute values.
    """
    if name not in _INIT_TABLE:
        raise ValueError(f"unknown initializer {name!r}; expected one of {', '.join(INITIALIZERS)}")
    kind, formula = _INIT_TABLE[name]
    if formula is None:
        scale = float(multiplier)
    else:
        given = (fan_in, fan_out, kernel_area)
        n, m, k = (g if g is not None else read for g, read in zip(given, nnabla_fans(name, shape), strict=True))
        scale = formula(n, m, k) * float(multiplier)
    return kind, scale if kind == "constant" else abs(scale)


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f'"{n}"' for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape) if len(shape) else "()"


def check_params(
    expected: Mapping[str, Sequence[int]],
    found: Mapping[str, Sequence[int]],
    source: str | os.PathLike,
    partial: bool = False,
    what: str = "parameter",
) -> None:
    """RunError naming, in one line, what `found` (name -> shape, read from `source`) lacks of
    `expected` (the model's; allowed when `partial`), what it has that the model does not, and
    every parameter whose shape differs."""
    problems = []
    unknown = [n for n in found if n not in expected]
    if unknown:
        problems.append(f"{what}s this model does not have: {_names(unknown)}")
    shapes = [
        f'{what} "{n}" is {_shape_text(found[n])}, the model\'s is {_shape_text(shape)}'
        for n, shape in expected.items()
        if n in found and tuple(found[n]) != tuple(shape)
    ]
    if shapes:
        problems.append("; ".join(shapes[:5]) + (f" and {len(shapes) - 5} more" if len(shapes) > 5 else ""))
    missing = [n for n in expected if n not in found]
    if missing and not partial:
        problems.append(
            f"it lacks {len(missing)} {what}(s) of this model: {_names(missing)} "
            "(a partial load keeps their initial values)"
        )
    if problems:
        stale = " (written for another version of the spec?)" if shapes or unknown else ""
        raise RunError(f"{source}: " + "; ".join(problems) + stale)


# --- parameter files -------------------------------------------------------------------------
#
# .npz       nndsl's own: one NAME.npy member per parameter, the model's names and NNC's layouts.
# .h5        what nnabla's nn.save_parameters("x.h5") writes: one float32 dataset per parameter at
#            its nnabla name ("conv1/conv/W": groups conv1, conv, dataset W), attributes need_grad
#            (bool) and index (its position; nnabla loads in that order).
# .protobuf  what nn.save_parameters("x.protobuf") writes: an NNablaProtoBuf message whose
#            `parameter` entries (field 200) hold variable_name (1), shape (20: Shape, dim = 1),
#            data (100, packed float32) and need_grad (101).
# .nnp       nnabla's archive (zip): its parameter.protobuf or parameter.h5 member is read; the
#            network in it is not (nndsl import reads that). Saving an .nnp is refused: it needs a
#            network definition, which `nndsl export` writes.
#
# NNC's formats hold nnabla's names and shapes. Given `nnabla` ({model name: (nnabla name,
# nnabla shape)}, the model's PARAMETERS), save_params and load_params translate, so the model
# sees its own names either way; a parameter whose nnabla name is None has no place in NNC's files.

NNC_FORMATS = (".h5", ".protobuf", ".nnp")
FORMATS = (".npz", *NNC_FORMATS)
MAX_FILE_BYTES = 1 << 36  # 64 GiB: more than any parameter file this project's limits allow
_MAX_H5_OBJECTS = 1_000_000
_MAX_DEPTH = 256


def params_format(path: str | os.PathLike) -> str:
    """The parameter file format of `path` by its extension (".npz", ".h5", ".protobuf" or
    ".nnp"); RunError for any other."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise RunError(f"{path}: not a parameter file name: expected a {', '.join(FORMATS)} file")
    return ext


def save_params(
    path: str | os.PathLike,
    named_arrays: Mapping[str, np.ndarray],
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]] | None = None,
    need_grad: Mapping[str, bool] | None = None,
) -> None:
    """Write `named_arrays` (the model's names -> arrays in NNC's layouts) to `path`, atomically: the
    data goes to a temporary file in the same folder, which then replaces `path` (os.replace), so a
    reader never sees a half-written file and a failure leaves the old file untouched.

    The extension chooses the format (see above). For .h5 and .protobuf, `nnabla` renames and
    reshapes to nnabla's names and shapes, in its order, and `need_grad` ({model name: flag}) gives
    nnabla's need_grad, by default True for every parameter, as in the files NNC and nnabla_cli
    write for NNC's projects (their networks create every parameter so, BatchNormalization's mean
    and variance too; a learning-rate multiplier of 0 is what freezes one)."""
    ext = params_format(path)
    if ext == ".nnp":
        raise RunError(
            f"{path}: saving an .nnp is not supported (it holds a network too: `nndsl export` writes "
            "the network; save the parameters as .h5 or .protobuf)"
        )
    arrays = {str(name): np.asarray(value) for name, value in named_arrays.items()}
    if ext == ".npz":
        _write_atomic(path, ".npz", lambda f: _write_npz(f, arrays))
        return
    grads = need_grad or {}
    entries = []
    for name, array in arrays.items():
        target, shape = (nnabla[name][0], tuple(nnabla[name][1])) if nnabla is not None else (name, array.shape)
        if target is None:
            continue
        entries.append(
            (target, np.ascontiguousarray(array, dtype=np.float32).reshape(shape), bool(grads.get(name, True)))
        )
    if ext == ".h5":
        h5py = _h5py()
        _write_atomic(path, ".h5", lambda f: _write_h5(h5py, f, entries))
    else:
        _write_atomic(path, ".protobuf", lambda f: f.write(encode_protobuf(entries)))


def _write_atomic(path: str | os.PathLike, suffix: str, write: Callable) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    umask = os.umask(0o022)  # mkstemp makes 0600 files: give the permissions open() would
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_npz(f, arrays: Mapping[str, np.ndarray]) -> None:
    # What np.savez writes (one NAME.npy member per array), without its keyword arguments that a
    # parameter named "file" or "allow_pickle" would collide with.
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _write_h5(h5py, f, entries: Sequence[tuple[str, np.ndarray, bool]]) -> None:
    with h5py.File(f, "w") as hd:
        for index, (name, array, grad) in enumerate(entries):
            hd[name] = array
            hd[name].attrs["need_grad"] = grad
            hd[name].attrs["index"] = index


def _h5py():
    try:
        import h5py
    except ImportError:
        raise RunError("reading or writing .h5 parameter files needs the h5py package: pip install h5py") from None
    return h5py


def load_params(
    path: str | os.PathLike,
    expected: Mapping[str, Sequence[int]] | None = None,
    partial: bool = False,
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]] | None = None,
) -> dict[str, np.ndarray]:
    """Read a parameter file (.npz, .h5, .protobuf or .nnp): names -> numpy arrays of numbers.

    Never unpickles and reads nothing but `path`. With `expected` (the model's names -> NNC shapes)
    the file must fit it, see `check_params`; shapes are checked before any data is read. For NNC's
    formats, `nnabla` maps the model's names to nnabla's names and shapes: the file is checked in
    nnabla's terms and the result is keyed by the model's names in its shapes. RunError names the
    file and what is wrong with it."""
    want = _file_terms(path, expected, nnabla)

    def check(found: Mapping[str, tuple[int, ...]]) -> None:
        if want is not None:
            check_params(want, found, path, partial)

    arrays = _read(path, check, _budget(want))
    if nnabla is None or params_format(path) == ".npz":
        return arrays
    if expected is None:
        unknown = [n for n in arrays if n not in {t for t, _ in nnabla.values()}]
        if unknown:
            check_params({}, {n: arrays[n].shape for n in unknown}, path)
    return _model_terms(arrays, expected, nnabla)


def load_fitting_params(
    path: str | os.PathLike,
    expected: Mapping[str, Sequence[int]],
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]] | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """The parameters of a file that fit the model, for train.py --init (fine-tuning a pretrained
    network): those it holds under one of the model's names (`expected`, name -> NNC shape; nnabla's
    names and shapes in NNC's formats, as `load_params` reads them) in that parameter's shape, keyed
    by the model's names; and one line for every parameter not loaded, naming it with the file's
    shape and the model's ("-" where one of them has none): `fc/W: file 512x1000, model 512x10`,
    `head/W: file -, model 64x10`, `old/W: file 3x3, model -`. The model's come first, in its order.

    The file may be larger than the model (a classifier of more classes): at most 16 times the
    model's parameters in float32 plus 64 MiB. A file holding none of the model's parameters in its
    shape is no start for this model: RunError, as for anything `load_params` refuses."""
    want = _file_terms(path, expected, nnabla)
    found: dict[str, tuple[int, ...]] = {}

    def check(shapes: Mapping[str, tuple[int, ...]]) -> list[str]:
        found.update((n, tuple(shape)) for n, shape in shapes.items())
        fitting = [n for n, shape in found.items() if n in want and shape == tuple(want[n])]
        if not fitting:
            raise RunError(
                f"{path}: shares no parameter with this model: none of its {len(found)} parameter(s) has the "
                f"name and shape of one of the model's {len(want)} (not a parameter file of this network?)"
            )
        return fitting

    arrays = _read(path, check, 4 * 16 * sum(math.prod(s) for s in want.values()) + (64 << 20))
    # The model's names against the file's (nnabla's in NNC's formats).
    names = {n: n for n in expected}
    if nnabla is not None and params_format(path) != ".npz":
        names = {n: nnabla[n][0] for n in expected}
    report = []
    for name, target in names.items():
        if target not in arrays:
            have = _shape_text(found[target]) if target in found else "-"
            model = _shape_text(want[target]) if target in want else _shape_text(expected[name])
            report.append(f"{name}: file {have}, model {model}")
    report.extend(f"{n}: file {_shape_text(shape)}, model -" for n, shape in found.items() if n not in want)
    if nnabla is None or params_format(path) == ".npz":
        return arrays, report
    return _model_terms(arrays, expected, nnabla), report


def describe_fitting(path: str | os.PathLike, total: int, skipped: Sequence[str]) -> str:
    """What train.py --init prints: how many of the model's `total` parameters `path` gave, then each
    line of `skipped` (`load_fitting_params`'s) indented."""
    missing = sum(1 for line in skipped if not line.endswith(", model -"))
    text = f"--init {path}: {total - missing} of the model's {total} parameters loaded"
    if not skipped:
        return text
    return text + "; not loaded (the model's keep their initial values):\n" + "\n".join(f"  {s}" for s in skipped)


def _file_terms(
    path: str | os.PathLike,
    expected: Mapping[str, Sequence[int]] | None,
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]] | None,
) -> dict[str, tuple[int, ...]] | None:
    """The model's parameters (name -> shape) as a file of `path`'s format holds them: nnabla's names
    and shapes in NNC's formats (where `nnabla` gives them), the model's own in an .npz."""
    if expected is None:
        return None
    if nnabla is not None and params_format(path) != ".npz":
        return {nnabla[n][0]: tuple(nnabla[n][1]) for n in expected if nnabla[n][0] is not None}
    return {n: tuple(shape) for n, shape in expected.items()}


def _model_terms(
    arrays: Mapping[str, np.ndarray],
    expected: Mapping[str, Sequence[int]] | None,
    nnabla: Mapping[str, tuple[str | None, Sequence[int]]],
) -> dict[str, np.ndarray]:
    """Arrays read under nnabla's names and shapes, keyed by the model's names in its NNC shapes."""
    back = {}
    for name, (target, _) in nnabla.items():
        if target is not None and target in arrays:
            shape = tuple(expected[name]) if expected is not None else arrays[target].shape
            back[name] = arrays[target].reshape(shape)
    return back


def _read(
    path: str | os.PathLike,
    check: Callable[[Mapping[str, tuple[int, ...]]], Collection[str] | None],
    limit: int,
) -> dict[str, np.ndarray]:
    """The arrays of parameter file `path` under the file's names. `check` sees every name -> shape
    before any data is read (for .npz: before any is returned); it raises, or gives the names to read
    (None: all of them), whose data may take at most `limit` bytes."""
    ext = params_format(path)
    try:
        if ext == ".npz":
            arrays = _load_npz(path)
            keep = check({n: a.shape for n, a in arrays.items()})
            return arrays if keep is None else {n: arrays[n] for n in keep}
        if ext == ".h5":
            with open(os.fspath(path), "rb") as f:
                return _read_h5(f, path, check, limit)
        if ext == ".protobuf":
            return _read_protobuf(_read_bounded(path, limit), path, check)
        return _read_nnp(path, check, limit)
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise RunError(f"{path}: a folder, not a parameter file") from None


def _budget(want: Mapping[str, Sequence[int]] | None) -> int:
    """The most bytes a file holding `want` (float32, with headers) can need."""
    if want is None:
        return MAX_FILE_BYTES
    return 4 * sum(math.prod(s) for s in want.values()) + 4096 * len(want) + (1 << 20)


def _read_at_most(f, limit: int) -> bytes | None:
    """The rest of binary file `f`, or None when it holds more than `limit` bytes (read in chunks:
    nothing is allocated beyond what is there)."""
    chunks, size = [], 0
    while chunk := f.read(min(1 << 24, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    with open(os.fspath(path), "rb") as f:
        data = _read_at_most(f, limit)
    if data is None:
        raise RunError(f"{path}: larger than these parameters can take; refused")
    return data


def _load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        with open(os.fspath(path), "rb") as f:
            magic = f.read(4)
        if magic != b"PK\x03\x04" and magic != b"PK\x05\x06":  # an .npz is a zip archive (empty or not)
            raise RunError(f"{path}: not a parameter file (an .npz is a zip archive of named arrays)")
        data = np.load(os.fspath(path), allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a .npy file is one array
            raise RunError(f"{path}: not a parameter file (.npz of named arrays)")
        with data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise RunError(
                f"{path}: holds Python objects, not arrays of numbers; refused (nothing in it ran)"
            ) from None
        raise RunError(f"{path}: not a parameter file (.npz of arrays): {e}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise RunError(f"{path}: not a readable parameter file (.npz): corrupt or truncated? ({e})") from None
    for name, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise RunError(f'{path}: parameter "{name}" holds {array.dtype} values, not numbers')
    return arrays


# --- .h5 ---


def h5_datasets(hd, source) -> dict[str, object]:
    """Every dataset of an open HDF5 file (`h5py.File`) by path, in the file's order, checked before any
    data is read: only groups and numeric datasets held in the file itself (no soft or external
    links, external or virtual storage, which would read other files), each object reached once, at
    most `_MAX_DEPTH` groups deep and `_MAX_H5_OBJECTS` objects. `RunError` naming `source` otherwise.
    `nndsl weights` reads Keras weights files with it too."""
    h5py = _h5py()
    found: dict[str, object] = {}
    seen = set()

    def walk(group, prefix: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise RunError(f"{source}: groups nested more than {_MAX_DEPTH} deep; refused")
        for key in group:
            name = f"{prefix}{key}"
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise RunError(f'{source}: "{name}" is a {type(link).__name__}, not data in this file; refused')
            obj = group[key]
            token = obj.id  # equal for one object reached by two names
            if token in seen or len(seen) >= _MAX_H5_OBJECTS:
                raise RunError(f'{source}: "{name}" is reached twice (a cycle?) or the file holds too many objects')
            seen.add(token)
            if isinstance(obj, h5py.Group):
                walk(obj, name + "/", depth + 1)
            elif isinstance(obj, h5py.Dataset):
                if obj.is_virtual or obj.external:
                    raise RunError(f'{source}: "{name}" keeps its data outside the file; refused')
                if obj.dtype.kind not in "fiub":
                    raise RunError(f'{source}: "{name}" holds {obj.dtype} values, not numbers')
                found[name] = obj
            else:
                raise RunError(f'{source}: "{name}" is a {type(obj).__name__}, not a parameter')

    walk(hd, "", 0)
    return found


def _read_h5(f, source, check, limit: int) -> dict[str, np.ndarray]:
    """The parameters of an NNC .h5 file (an open binary file) by name, in the file's `index` order,
    checked (`check`, see `_read`) before their data is read (`h5_datasets`)."""
    h5py = _h5py()
    try:
        hd = h5py.File(f, "r")
    except OSError as e:
        raise RunError(f"{source}: not a readable .h5 parameter file: corrupt or truncated? ({e})") from None
    with hd:
        try:
            found: dict[str, tuple[int, object]] = {}
            for name, obj in h5_datasets(hd, source).items():
                index = obj.attrs.get("index", None)
                found[name] = (int(index) if np.ndim(index) == 0 and index is not None else len(found), obj)
            keep = check({n: obj.shape for n, (_, obj) in found.items()})
            if keep is not None:
                found = {n: found[n] for n in keep}
            if sum(obj.size * 4 for _, obj in found.values()) > limit:  # read as float32
                raise RunError(f"{source}: holds more than {limit} bytes of parameters; refused")
            ordered = sorted(found.items(), key=lambda item: item[1][0])
            return {name: np.asarray(obj[()], dtype=np.float32) for name, (_, obj) in ordered}
        except (OSError, KeyError, ValueError, TypeError) as e:
            if isinstance(e, RunError):
                raise
            raise RunError(f"{source}: not a readable .h5 parameter file: {e}") from None


# --- .protobuf: protocol buffers' wire format, for the NNablaProtoBuf fields above ---


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: ten bytes of two's complement, as protobuf writes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def encode_protobuf(entries: Sequence[tuple[str, np.ndarray, bool]]) -> bytes:
    """NNablaProtoBuf with one `parameter` per (nnabla name, array, need_grad), as nnabla writes it."""
    parts = []
    for name, array, grad in entries:
        dims = b"".join(_varint(int(d)) for d in array.shape)
        message = _len_field(1, name.encode("utf-8")) + _len_field(20, _len_field(1, dims) if dims else b"")
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        if data:
            message += _len_field(100, data)
        if grad:
            message += _field(101, 0) + _varint(1)
        parts.append(_len_field(200, message))
    return b"".join(parts)


class _Wire:
    """A bounded reader of one protobuf message: every length is checked against what is left."""

    def __init__(self, data: memoryview, source) -> None:
        self.data, self.pos, self.source = data, 0, source

    def fail(self, what: str) -> RunError:
        return RunError(f"{self.source}: not a readable .protobuf parameter file: {what} at byte {self.pos}")

    def more(self) -> bool:
        return self.pos < len(self.data)

    def varint(self) -> int:
        value = shift = 0
        for _ in range(10):
            if self.pos >= len(self.data):
                raise self.fail("truncated number")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value & ((1 << 64) - 1)
            shift += 7
        raise self.fail("number longer than 10 bytes")

    def take(self, n: int) -> memoryview:
        if n > len(self.data) - self.pos:
            raise self.fail(f"a field of {n} bytes where {len(self.data) - self.pos} are left (truncated?)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def tag(self) -> tuple[int, int]:
        key = self.varint()
        number, wire = key >> 3, key & 7
        if number == 0 or wire not in (0, 1, 2, 5):
            raise self.fail(f"field {number} of wire type {wire}")
        return number, wire

    def value(self, wire: int):
        if wire == 0:
            return self.varint()
        if wire == 1:
            return self.take(8)
        if wire == 2:
            return self.take(self.varint())
        return self.take(4)


def _read_protobuf(data: bytes, source, check) -> dict[str, np.ndarray]:
    """The `parameter` entries of a serialized NNablaProtoBuf (those `check` keeps, see `_read`); other
    fields are skipped."""
    top = _Wire(memoryview(data), source)
    entries: dict[str, tuple[tuple[int, ...], memoryview | list]] = {}
    while top.more():
        number, wire = top.tag()
        payload = top.value(wire)
        if number != 200:
            continue
        if wire != 2:
            raise top.fail("a parameter that is not a message")
        name, shape, values = _read_parameter(_Wire(payload, source))
        if name in entries:
            raise RunError(f'{source}: parameter "{name}" appears twice')
        entries[name] = (shape, values)
    keep = check({n: s for n, (s, _) in entries.items()})
    if keep is not None:
        entries = {n: entries[n] for n in keep}
    arrays = {}
    for name, (shape, values) in entries.items():
        if isinstance(values, list):
            array = np.frombuffer(b"".join(values), dtype="<f4")
        else:
            array = np.frombuffer(values, dtype="<f4")
        if array.size != math.prod(shape):
            raise RunError(f'{source}: parameter "{name}" has {array.size} values for its shape {_shape_text(shape)}')
        arrays[name] = array.astype(np.float32).reshape(shape)
    return arrays


def _read_parameter(w: _Wire) -> tuple[str, tuple[int, ...], memoryview | list]:
    name = None
    dims: list[int] = []
    packed: list[memoryview] = []
    while w.more():
        number, wire = w.tag()
        payload = w.value(wire)
        if number == 1 and wire == 2:
            try:
                name = bytes(payload).decode("utf-8")
            except UnicodeDecodeError:
                raise w.fail("a parameter name that is not UTF-8") from None
        elif number == 20 and wire == 2:
            dims = []
            shape = _Wire(payload, w.source)
            while shape.more():
                n, wt = shape.tag()
                value = shape.value(wt)
                if n != 1:
                    continue
                if wt == 0:
                    dims.append(value)
                elif wt == 2:
                    inner = _Wire(value, w.source)
                    while inner.more():
                        dims.append(inner.varint())
                else:
                    raise shape.fail("a dimension that is not a number")
        elif number == 100:
            if wire == 2:
                if len(payload) % 4:
                    raise w.fail("float data whose length is not a multiple of 4")
                packed.append(payload)
            elif wire == 5:
                packed.append(payload)
            else:
                raise w.fail("data that is not float32")
    if name is None:
        raise w.fail("a parameter without a variable_name")
    if any(d >= 1 << 63 for d in dims):
        raise RunError(f'{w.source}: parameter "{name}" has a negative dimension')
    return name, tuple(dims), packed[0] if len(packed) == 1 else packed


# --- .nnp ---


def _read_nnp(path, check, limit: int) -> dict[str, np.ndarray]:
    """The parameters of an .nnp archive: its parameter.protobuf or parameter.h5 member, read
    within the bytes these parameters can take (no extraction; members are read by name)."""
    try:
        archive = zipfile.ZipFile(os.fspath(path))
    except (zipfile.BadZipFile, OSError) as e:
        if isinstance(e, FileNotFoundError | IsADirectoryError):
            raise
        raise RunError(f"{path}: not a readable .nnp (zip) archive: {e}") from None
    with archive:
        members = [i for i in archive.infolist() if i.filename in ("parameter.protobuf", "parameter.h5")]
        if not members:
            raise RunError(f"{path}: the .nnp holds no parameter.protobuf or parameter.h5")
        if len(members) > 1:
            raise RunError(f"{path}: the .nnp holds {len(members)} parameter files; which one is meant is unclear")
        info = members[0]
        if info.file_size > limit:
            raise RunError(
                f"{path}: {info.filename} unpacks to {info.file_size} bytes, more than these parameters take; refused"
            )
        source = f"{path}:{info.filename}"
        try:
            with archive.open(info) as member:
                data = _read_at_most(member, limit)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
            raise RunError(f"{source}: corrupt or unreadable in the archive: {e}") from None
        if data is None:
            raise RunError(f"{source}: unpacks to more bytes than these parameters take; refused")
    if info.filename.endswith(".h5"):
        import io

        return _read_h5(io.BytesIO(data), source, check, limit)
    return _read_protobuf(data, source, check)


# --- the model's parameter table ---------------------------------------------------------------
#
# parameters.json, generated beside model.py: {"format": "nndsl parameter table", "version": 1,
# "spec": ..., "columns": [...], "parameters": {NNC name: [one value per column]}}. The columns are
# the framework's address ("key" for PyTorch; "layer", "variable" for Keras), then "layout",
# "shape" (NNC's), "nnabla" (nnabla's name, or null) and "nnabla_shape" (null where it is NNC's).

TABLE_FORMAT = "nndsl parameter table"
TABLE_VERSION = 1
_SHAPE_COLUMNS = ("shape", "nnabla_shape")


def read_parameter_table(path: str | os.PathLike, columns: Sequence[str]) -> dict[str, tuple]:
    """The model's parameter table from `path` (its parameters.json): NNC name -> a tuple of the
    `columns` (shapes as tuples). Read with the json module, nothing in it runs; RunError, in one
    line naming the file, when it is missing, not JSON or not a table of these columns."""
    try:
        with open(os.fspath(path), encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise RunError(f"{path}: file not found (the model's parameter table: compile the spec again)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: cannot be read ({e})") from None
    except json.JSONDecodeError as e:
        raise RunError(f"{path}:{e.lineno}: not JSON ({e.msg}); compile the spec again") from None
    if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
        raise RunError(f'{path}: not an nndsl parameter table (no "format": {json.dumps(TABLE_FORMAT)})')
    if data.get("version") != TABLE_VERSION:
        raise RunError(f"{path}: parameter table version {data.get('version')!r}, this model reads {TABLE_VERSION}")
    if data.get("columns") != list(columns):
        raise RunError(
            f"{path}: columns {data.get('columns')!r}, this model reads {list(columns)} (another backend's?)"
        )
    rows = data.get("parameters")
    if not isinstance(rows, dict):
        raise RunError(f'{path}: "parameters" is not an object')
    table = {}
    for name, row in rows.items():
        if not isinstance(row, list) or len(row) != len(columns):
            raise RunError(
                f"{path}: parameter {name!r}: expected a list of {len(columns)} values ({', '.join(columns)})"
            )
        values = []
        for column, value in zip(columns, row, strict=True):
            if column in _SHAPE_COLUMNS and value is not None:
                if not isinstance(value, list) or not all(isinstance(d, int) and d >= 0 for d in value):
                    raise RunError(f"{path}: parameter {name!r}: {column} {value!r} is not a list of sizes")
                value = tuple(value)
            elif (
                column not in _SHAPE_COLUMNS
                and not (value is None and column == "nnabla")
                and not isinstance(value, str)
            ):
                raise RunError(f"{path}: parameter {name!r}: {column} {value!r} is not a string")
            values.append(value)
        table[name] = tuple(values)
    return table
