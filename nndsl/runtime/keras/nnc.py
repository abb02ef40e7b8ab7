"""NNC semantics for Keras: layouts, parameter files and initial values.

A generated Keras project imports this file as `nnc`: what every model uses (its other runtime
modules by family, shipped when used: augmentation in `augment.py`, TopNError and BinaryError in
`metrics.py`, the other layers Keras lacks in `nnc_layers.py`, solvers and schedules in `solvers.py`).
Keras, numpy, the standard library and the project's `nnc_params.py` and `nnc_runs.py` only, not
TensorFlow: a model of Keras's own layers runs on any Keras 3 backend.

Layers. `BatchNormalization` is Keras's with nnabla's running variance (the batch's unbiased
variance, as NNC trains and torch's BatchNorm*d): every generated Keras BatchNormalization is one.

Layouts. NNC's tensors are channels-first, (N, C, H, W); the generated Keras models compute
channels-last, which TensorFlow runs fastest: a per-sample tensor of NNC shape (s0, s1, ...,
s{r-1}) with r >= 2 is held as (s1, ..., s{r-1}, s0), a rank-1 one as it is.
`to_channels_last` / `to_channels_first` convert batches of arrays.

Parameters keep NNC's names and layouts in files (`nnc_params.save_params`), so one file
serves both backends. How each Keras variable relates to NNC's array (`to_nnc`, `from_nnc`:
a Conv kernel (*kernel, in, out) is NNC's W (out, in, *kernel), ...) is `nnc_layouts`, the one
table of both backends and the compiler.

Checkpoints. train.py saves a TensorFlow checkpoint every epoch into its run's checkpoint/
folder: ckpt-N.index and ckpt-N.data-* (TensorFlow's format: tensors, no code), then
ckpt-N.json, the commit record: the run's state (seed, log), every variable's path and shape,
and the SHA-256 of each file of ckpt-N. A checkpoint without its record is incomplete (a run
killed while saving) and ignored; `latest_checkpoint` finds the newest recorded one and
refuses it when a file is missing or differs from its digest (corrupt or truncated).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from .. import nnc_layouts
from ..nnc_params import INITIALIZERS, initial_distribution, load_fitting_params, load_params, save_params
from ..nnc_runs import RunError, file_sha256
from ..nnc_shapes import TINY

__all__ = [
    "TINY",
    "INITIALIZERS",
    "BatchNormalization",
    "NNCInitializer",
    "Parameter",
    "checkpoint_record",
    "from_nnc",
    "latest_checkpoint",
    "read_checkpoint",
    "load_fitting_params",
    "load_params",
    "save_params",
    "to_channels_first",
    "to_channels_last",
    "nnc_shape",
    "to_nnc",
]


def to_channels_last(array: np.ndarray) -> np.ndarray:
    """A batch in NNC's layout (N, C, ...) as the Keras models take it (N, ..., C)."""
    return np.moveaxis(array, 1, -1) if array.ndim >= 3 else array


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """A batch from a Keras model (N, ..., C) in NNC's layout (N, C, ...)."""
    return np.moveaxis(array, -1, 1) if array.ndim >= 3 else array


def channels_last_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """The per-sample shape a Keras model holds for NNC's per-sample `shape`."""
    shape = tuple(shape)
    return shape[1:] + shape[:1] if len(shape) >= 2 else shape


def to_nnc(value: np.ndarray, layout: str, shape: Sequence[int]) -> np.ndarray:
    """A Keras variable's value held in `layout`, as a float32 array of NNC's `shape` (`nnc_layouts`)."""
    return nnc_layouts.layout(layout, "keras").to_nnc(np.asarray(value, dtype=np.float32), shape)


def nnc_shape(layout: str, shape: Sequence[int]) -> tuple[int, ...]:
    """The NNC shape of a Keras variable of `shape` held in `layout`, as far as nnabla's fans read it
    (a Conv kernel (*kernel, in, out) reads as NNC's (out, in, *kernel), a DepthwiseConv's
    (*kernel, C, multiplier) as (C * multiplier, *kernel))."""
    return nnc_layouts.layout(layout, "keras").nnc_shape(shape)


def from_nnc(array: np.ndarray, layout: str, keras_shape: Sequence[int]) -> np.ndarray:
    """NNC's `array` as the float32 value of a Keras variable of shape `keras_shape` held in `layout`."""
    return nnc_layouts.layout(layout, "keras").from_nnc(np.asarray(array, dtype=np.float32), keras_shape)


# NNC's initializers (nnabla initializer.py; the torch runtime's `init_parameter`). The
# distributions come from nnc_params.initial_distribution (shared with the PyTorch project).


@keras.saving.register_keras_serializable(package="nnc")
class NNCInitializer(keras.initializers.Initializer):
    """NNC's initializer `name` times `multiplier`, for a weight of NNC's layout.

    - Normal: N(0, multiplier^2); Uniform: U(-multiplier, multiplier); Constant: the multiplier itself.
    - *HeForward / *HeBackward / *Glorot: N(0, sigma^2) * multiplier; Uniform*Glorot: U(-d, d) * multiplier.
    N (fan_in), M (fan_out) and K (kernel_area) default to what nnabla reads from the weight's NNC shape
    (`nnc_shapes.nnabla_fans`): the Keras shape read in its `layout` (`nnc_shape`: "conv" for a Conv
    kernel (*kernel, in, out), "depthwise", "affine_cl:CxHxW", ...); pass them to override.
    `seed`: an int for reproducible values; None draws one from Python's `random`.
    """

    def __init__(
        self,
        name: str = "Constant",
        multiplier: float = 1.0,
        fan_in: int | None = None,
        fan_out: int | None = None,
        kernel_area: int | None = None,
        seed: int | None = None,
        layout: str = "same",
    ) -> None:
        if name not in INITIALIZERS:
            raise ValueError(f"unknown initializer {name!r}; expected one of {', '.join(INITIALIZERS)}")
        self.name, self.multiplier = name, float(multiplier)
        self.fan_in, self.fan_out, self.kernel_area = fan_in, fan_out, kernel_area
        self.layout = str(layout)
        self._initial_seed = seed
        # As Keras' own initializers: a seed drawn from Python's `random` (keras.utils.set_random_seed seeds it).
        self.seed = int(seed) if seed is not None else random.randint(1, int(1e9))

    def distribution(self, shape: Sequence[int]) -> tuple[str, float]:
        """("normal", sigma), ("uniform", limit) or ("constant", value) for a weight of `shape`."""
        shape = tuple(int(d) for d in shape)
        fans = (self.fan_in, self.fan_out, self.kernel_area)
        return initial_distribution(self.name, self.multiplier, nnc_shape(self.layout, shape), *fans)

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        dtype = dtype or keras.backend.floatx()
        kind, scale = self.distribution(shape)
        if kind == "constant":
            return keras.ops.full(shape, scale, dtype=dtype)
        if scale == 0:
            return keras.ops.zeros(shape, dtype=dtype)
        if kind == "normal":
            return keras.random.normal(shape, stddev=scale, dtype=dtype, seed=self.seed)
        return keras.random.uniform(shape, minval=-scale, maxval=scale, dtype=dtype, seed=self.seed)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "multiplier": self.multiplier,
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "kernel_area": self.kernel_area,
            "seed": self._initial_seed,
            "layout": self.layout,
        }


@keras.saving.register_keras_serializable(package="nnc")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras's BatchNormalization with nnabla's running variance, what NNC trains with (and torch's
    BatchNorm*d): a training step moves `moving_variance` towards the batch's unbiased variance,
    n / (n - 1) times the biased one it normalizes with (n: the values of one channel in the batch,
    the mask's count under a mask); Keras's own layer moves it towards the biased one. With n = 1
    nnabla's running variance turns NaN (0 / 0); here the factor is 1 there, the biased variance (0).

    Everything else is Keras's layer: its variables (names, shapes, float32 under mixed precision),
    config, the normalization itself, inference, renorm (not nnabla's; left as Keras has it).
    synchronized=True (TensorFlow only) takes the moments over all replicas, but n stays the
    replica's own count.

    `batch_stat = False` (NNC's BatchStat in a trained network, a frozen layer's) makes it normalize
    with its moving statistics when training too and keep them, as Keras's own layer does when it is
    not `trainable`, while its beta and gamma stay trainable unless they are frozen themselves.
    """

    batch_stat = True  # False: the moving statistics when training too

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not self.batch_stat:
            training = False
        wrong_mask = mask is not None and len(mask.shape) != len(inputs.shape) - 1
        if not (training and self.trainable) or self.renorm or wrong_mask:  # Keras's own step (or error)
            return super().call(inputs, training=training, mask=mask)
        # Keras's training step with the one change: the running variance's n / (n - 1).
        x = keras.ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))  # upcast, as Keras
        mean, variance = self._moments(x, mask)
        n = self._count(x, mask)
        unbiased = variance * (n / keras.ops.maximum(n - 1.0, 1.0))
        keep = self.momentum
        self.moving_mean.assign(keras.ops.cast(self.moving_mean, x.dtype) * keep + mean * (1.0 - keep))
        self.moving_variance.assign(keras.ops.cast(self.moving_variance, x.dtype) * keep + unbiased * (1.0 - keep))
        gamma = keras.ops.cast(self.gamma, x.dtype) if self.scale else None
        beta = keras.ops.cast(self.beta, x.dtype) if self.center else None
        outputs = keras.ops.batch_normalization(
            x, mean, variance, axis=self.axis, offset=beta, scale=gamma, epsilon=self.epsilon
        )
        return keras.ops.cast(outputs, self.compute_dtype)

    def _count(self, x: Any, mask: Any) -> Any:
        """The values each channel's statistics are taken over (per channel under a mask, as `_moments`)."""
        if mask is None:
            return keras.ops.cast(keras.ops.size(x), x.dtype) / x.shape[self.axis]
        weights = keras.ops.broadcast_to(
            keras.ops.expand_dims(keras.ops.cast(keras.ops.cast(mask, "bool"), x.dtype), -1), keras.ops.shape(x)
        )
        return keras.ops.sum(weights, axis=self._reduction_axes)


# train.py's checkpoints (see the module's docstring)

_RECORD = re.compile(r"ckpt-(\d+)\.json")


def checkpoint_record(prefix: str | Path, state: dict) -> dict:
    """`state` with the SHA-256 of every file of the checkpoint `prefix` (ckpt-N.index, ckpt-N.data-*)."""
    prefix = Path(prefix)
    files = sorted(p for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + "."))
    return {**state, "files": {p.name: file_sha256(p) for p in files if not p.name.endswith(".json")}}


def read_checkpoint(prefix: str | Path) -> dict:
    """The record of the checkpoint `prefix` (ckpt-N) after checking its files against it; RunError
    when the record is missing or unreadable, or a file of the checkpoint is missing or corrupt."""
    prefix = Path(prefix)
    record_path = prefix.with_name(prefix.name + ".json")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{prefix}: no record {record_path.name}, an incomplete checkpoint") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise RunError(f"{record_path}: unreadable checkpoint record, corrupt or truncated? ({e})") from None
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not files:
        raise RunError(f"{record_path}: not a checkpoint record of train.py (no file digests)")
    for name, digest in files.items():
        path = prefix.parent / str(name)
        if Path(str(name)).name != name or not path.is_file():
            raise RunError(f"{path}: missing, the checkpoint {prefix.name} is incomplete")
        if file_sha256(path) != digest:
            raise RunError(f"{path}: corrupt or truncated (its SHA-256 differs from the one in {record_path.name})")
    return record


def latest_checkpoint(folder: str | Path) -> tuple[str, dict] | None:
    """(prefix, record) of the newest recorded checkpoint in `folder` (train.py's checkpoint/), None
    when there is none; RunError as `read_checkpoint`."""
    folder = Path(folder)
    try:
        numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _RECORD.fullmatch(p.name))]
    except OSError:
        return None
    if not numbers:
        return None
    prefix = folder / f"ckpt-{max(numbers)}"
    return str(prefix), read_checkpoint(prefix)


def _float_dtype(dtype: Any) -> str:
    dtype = keras.backend.standardize_dtype(dtype)
    return dtype if keras.backend.is_float_dtype(dtype) else "float32"


_register = keras.saving.register_keras_serializable(package="nnc")


@_register
class Parameter(keras.layers.Layer):
    """NNC's Parameter layer: one learnable weight of shape `size` in NNC's layout, without a batch axis,
    that another layer takes as its W or b (the torch runtime's `Parameter`). Called on any tensor of the
    network (a Keras layer needs an input; its value is not used), it returns the weight; `initializer`
    gives NNC's initial value. Its name in NNC's files is the layer's own (no `/W`)."""

    def __init__(self, size: Sequence[int], initializer: Any = "zeros", **kwargs) -> None:
        super().__init__(**kwargs)
        self.size = tuple(size)
        self.value = self.add_weight(shape=self.size, initializer=initializer, trainable=True, name="value")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=list(self.size))
        return config

    def compute_output_shape(self, like_shape: Sequence[Any]) -> tuple:
        return self.size

    def call(self, like: Any) -> Any:
        return keras.ops.convert_to_tensor(self.value)
