"""NNC's parameters, framework-free: initial values and parameter files.

Part of every generated project (PyTorch and Keras alike; numpy and the standard library
only). Follows nnabla: `python/src/nnabla/initializer.py` for the initializers and
`python/src/nnabla/utils/load.py` for how NNC projects read fans from parameter shapes.
A parameter file is a `.npz` keyed by NNC's parameter names ("conv1/W") holding arrays in
NNC's layouts, the same for both backends.

Notation of nnabla's initializer.py: N = input maps (Affine: input features), M = output maps
(Affine: output features), K = kernel area (1 for Affine). NNC multiplies every computed value
by the layer's InitializerMultiplier.
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "INITIALIZERS",
    "calc_normal_std_glorot",
    "calc_normal_std_he_backward",
    "calc_normal_std_he_forward",
    "calc_uniform_lim_glorot",
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
    try:
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


def load_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by `save_params`: NNC names -> numpy arrays."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
