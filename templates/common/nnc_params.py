"""NNC's parameters, framework-free: initial values and parameter files.

Part of every generated project (PyTorch and Keras alike; numpy and the standard library
only). Follows nnabla: `python/src/nnabla/initializer.py` for the initializers and
`python/src/nnabla/utils/load.py` for how NNC projects read fans from parameter shapes.
A parameter file is a `.npz` keyed by NNC's parameter names ("conv1/W") holding arrays in
NNC's layouts, the same for both backends.

Notation of nnabla's initializer.py: N = input maps (Affine: input features), M = output maps
(Affine: output features), K = kernel area (1 for Affine). NNC multiplies every computed value
by the layer's InitializerMultiplier.

Loading is safe and strict: ``load_params(path, expected, partial=False)`` never unpickles
(``allow_pickle=False``: a file holding objects is refused, nothing in it runs) and, given
the model's ``expected`` {name: NNC shape}, refuses a file that misses parameters (unless
``partial``), has parameters the model does not, or holds a parameter of another shape,
naming them (``check_params``). Its problems raise ``nnc_runs.RunError`` (exit status 1).
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nnc_runs import RunError  # next to this file

__all__ = [
    "INITIALIZERS",
    "calc_normal_std_glorot",
    "calc_normal_std_he_backward",
    "calc_normal_std_he_forward",
    "calc_uniform_lim_glorot",
    "check_params",
    "fans_from_shape",
    "initial_distribution",
    "load_params",
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


def fans_from_shape(name: str, shape: Sequence[int]) -> tuple[int, int, int]:
    """(N, M, K) read from a parameter's shape the way nnabla's `load.py` does for NNC projects.

    Affine W (in, *out): N = shape[0], M = prod(shape[1:]), K = 1.
    Convolution W (out, in/group, *kernel): N = shape[1], M = shape[0], K = prod(kernel). For a
    Deconvolution W (in, out/group, *kernel) the same rule reads N = out/group and M = in, as nnabla does.
    Channel-last convolution W (out, *kernel, in) (the CLConv names): N = shape[-1], M = shape[0].
    (nnabla indexes shape[-3] and shape[-2:], which is the same for 2-D kernels.)
    """
    if "CLConv" in name:
        return shape[-1], shape[0], math.prod(shape[1:-1])
    if "Convolution" in name:
        return shape[1], shape[0], math.prod(shape[2:])
    return shape[0], math.prod(shape[1:]), 1


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
    NNC `shape` (see `fans_from_shape`); pass them to override. N(0, s^2) and U(-s, s) are the same
    distributions for -s, so sigma and limit are returned as absolute values.
    """
    if name not in _INIT_TABLE:
        raise ValueError(f"unknown initializer {name!r}; expected one of {', '.join(INITIALIZERS)}")
    kind, formula = _INIT_TABLE[name]
    if formula is None:
        scale = float(multiplier)
    else:
        n, m, k = fan_in, fan_out, kernel_area
        if n is None or m is None or k is None:
            padded = tuple(shape) + (1,) * max(0, 2 - len(shape))
            from_shape = fans_from_shape(name, padded)
            n, m, k = (given if given is not None else read for given, read in zip((n, m, k), from_shape, strict=True))
        scale = formula(n, m, k) * float(multiplier)
    return kind, scale if kind == "constant" else abs(scale)


def save_params(path: str | os.PathLike, named_arrays: Mapping[str, np.ndarray]) -> None:
    """Write `named_arrays` (NNC names like "conv1/W" -> arrays) to a .npz file, atomically:
    the data goes to a temporary file in the same folder, which then replaces `path` (os.replace), so
    a reader never sees a half-written file and a failure leaves the old file untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    arrays = {str(name): np.asarray(value) for name, value in named_arrays.items()}
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    umask = os.umask(0o022)  # mkstemp makes 0600 files: give the permissions open() would
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            # What np.savez writes (one NAME.npy member per array), without its keyword arguments that a
            # parameter named "file" or "allow_pickle" would collide with.
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in arrays.items():
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def load_params(
    path: str | os.PathLike, expected: Mapping[str, Sequence[int]] | None = None, partial: bool = False
) -> dict[str, np.ndarray]:
    """Read a file written by `save_params`: NNC names -> numpy arrays of numbers.

    Never unpickles. With `expected` (the model's NNC names -> shapes) the file must fit it, see
    `check_params`. RunError names the file and what is wrong with it."""
    try:
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
    if expected is not None:
        check_params(expected, {n: a.shape for n, a in arrays.items()}, path, partial)
    return arrays
