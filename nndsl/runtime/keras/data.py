"""Datasets for Keras 3 / TensorFlow: NNC dataset CSV files and image folders as ``tf.data`` pipelines.

This file is part of the generated project's runtime and needs only TensorFlow and ``nnc_dataset``
(the runtime's: numpy, Pillow and the standard library), which reads NNC's dataset CSV format
and image folders, checks them and reports problems as ``DatasetError`` (see its docstring).

``make_dataset`` turns such a dataset into a ``tf.data.Dataset`` of batches, each a dict
``{input name: float32 tensor}``. NNC lays samples out channels first; Keras (and this
module) channels last: a sample of rank 2 or more moves its first axis to the end, so an
image input of NNC shape (C, H, W) arrives as (batch, H, W, C) and, in general,
(s0, s1, ..., sr) as (batch, s1, ..., sr, s0) (``channels_last_shape``); vectors and
scalars keep their shape.

* Cached datasets (NNC's "EnableCache", ``dataset.cached``) hold every sample in memory: a
  batch is gathered from those arrays inside TensorFlow, no Python per sample.
* Other datasets read and decode sample by sample in Python, ``num_parallel_calls`` at a
  time (``tf.numpy_function``; Pillow releases the GIL while it decodes).

Order. Epoch ``e`` of a shuffled dataset visits the samples in the order
``nnc_dataset.epoch_order(len(dataset), seed, e)``, a function of (seed, epoch) only: every
epoch has its own order, every run with the same seed the same orders, and a run resumed at
epoch k (``epoch=k``) the orders the interrupted run would have seen. A dataset made with
``repeat=False`` is one epoch, the same one each time it is iterated: make one per epoch
(``epoch=e``), or, for ``model.fit``, make it with ``repeat=True, epoch=initial_epoch`` and
pass ``steps_per_epoch=steps_per_epoch(dataset, batch_size, drop_remainder)``. Batches never
straddle two epochs.

Distribution. ``batch_size`` is the global batch; ``strategy.experimental_distribute_dataset``
splits each batch between the replicas. The datasets' auto-shard policy is DATA: in a
multi-worker run every worker runs the same pipeline (the same orders) and keeps its share of
the elements; FILE sharding does not apply (the samples do not come from TensorFlow file
readers), and sharding by element keeps the batches of all workers together exactly those of a
single-process run. Every worker reads every sample (cheap when cached); uncached datasets
too large for that are better read with ``distribute_datasets_from_function``, one shard of
the indices per worker.

Errors. A ``DatasetError`` raised while a sample is read (an uncached dataset made with
``validate=False``) reaches the caller wrapped in a ``tf.errors.OpError`` with TensorFlow's
traceback; run the training inside ``with reraise_dataset_errors():`` to get the
``DatasetError`` back, its message naming the file, the row and the column.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import tensorflow as tf

# isort: split
from ..nnc_dataset import IMAGE_EXTENSIONS, DatasetError, ImageFolderDataset, NNCDataset, epoch_order

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "ImageFolderDataset",
    "NNCDataset",
    "as_dataset_error",
    "channels_last_shape",
    "epoch_order",
    "make_dataset",
    "reraise_dataset_errors",
    "steps_per_epoch",
]

# Encloses a DatasetError's message inside the TensorFlow error that carries it out of the
# pipeline (an invisible ASCII record separator: TensorFlow's own message still reads well).
_MARK = "\x1e"


def channels_last_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """A sample's shape as this module delivers it: NNC's (s0, s1, ..., sr) as (s1, ..., sr, s0) when r >= 1."""
    shape = tuple(int(d) for d in shape)
    return (*shape[1:], shape[0]) if len(shape) >= 2 else shape


def steps_per_epoch(dataset: NNCDataset, batch_size: int, drop_remainder: bool = False) -> int:
    """The batches of one epoch of ``make_dataset(dataset, batch_size, drop_remainder=...)``."""
    return len(dataset) // batch_size if drop_remainder else math.ceil(len(dataset) / batch_size)


def make_dataset(
    dataset: NNCDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int | None = None,
    drop_remainder: bool = False,
    names: Sequence[str] | None = None,
    num_parallel_calls: int = tf.data.AUTOTUNE,
    repeat: bool = False,
    epoch: int = 0,
) -> tf.data.Dataset:
    """Batches of ``dataset``: a ``tf.data.Dataset`` of ``{input name: float32 tensor (batch, *channels_last_shape)}``.

    ``shuffle`` visits epoch ``e`` in the order ``epoch_order(len(dataset), seed, e)``
    (``seed=None``: a seed drawn at random, a different order every run); without it samples
    come in the dataset's order. ``drop_remainder`` drops an epoch's last, smaller batch.
    ``names`` selects the inputs delivered (default: all, in the dataset's order).
    ``num_parallel_calls`` samples of an uncached dataset are read at once. ``repeat=False``
    gives the one epoch ``epoch``; ``repeat=True`` the epochs ``epoch``, ``epoch + 1``, ...
    without end (``steps_per_epoch`` batches each). See the module's docstring for the
    order, distribution and errors.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be 1 or more, got {batch_size}")
    if epoch < 0:
        raise ValueError(f"epoch must be 0 or more, got {epoch}")
    shapes = dataset.shapes
    names = list(shapes) if names is None else list(names)
    unknown = [n for n in names if n not in shapes]
    if unknown:
        raise ValueError(f"no input {', '.join(map(repr, unknown))} in the dataset; its inputs: {', '.join(shapes)}")
    size = len(dataset)
    if drop_remainder and size < batch_size:
        raise DatasetError(
            f"{dataset!r} has fewer samples than one batch of {batch_size}, and the last, smaller batch is dropped"
        )
    if shuffle and seed is None:
        seed = int(np.random.SeedSequence().entropy)

    def order(e: np.ndarray) -> np.ndarray:
        return epoch_order(size, seed, int(e)) if shuffle else np.arange(size, dtype=np.int64)

    batches = _reader(dataset, names, num_parallel_calls)

    @tf.autograph.experimental.do_not_convert
    def one_epoch(e: tf.Tensor) -> tf.data.Dataset:
        indices = tf.ensure_shape(tf.numpy_function(order, [e], tf.int64, stateful=False), [size])
        return batches(tf.data.Dataset.from_tensor_slices(indices), batch_size, drop_remainder)

    if repeat:
        pipeline = tf.data.Dataset.counter(start=epoch).flat_map(one_epoch)
        pipeline = pipeline.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
    else:  # the order now, as a constant: the dataset knows its length
        pipeline = batches(tf.data.Dataset.from_tensor_slices(order(np.int64(epoch))), batch_size, drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pipeline.prefetch(tf.data.AUTOTUNE).with_options(options)


def _reader(dataset: NNCDataset, names: list[str], num_parallel_calls: int):
    """A function turning a dataset of sample indices into one of channels-last batches."""
    shapes = {name: dataset.shapes[name] for name in names}
    arrays = dataset.arrays

    @tf.autograph.experimental.do_not_convert
    def channels_last(batch: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        out = {}
        for name, tensor in batch.items():
            rank = len(shapes[name])
            out[name] = tf.transpose(tensor, [0, *range(2, rank + 1), 1]) if rank >= 2 else tensor
        return out

    if arrays is not None:  # cached: a batch of indices gathers its samples from the arrays
        tensors = {name: tf.constant(arrays[name]) for name in names}

        @tf.autograph.experimental.do_not_convert
        def gather(indices: tf.Tensor) -> dict[str, tf.Tensor]:
            return channels_last({name: tf.gather(tensor, indices) for name, tensor in tensors.items()})

        def batches(indices: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
            return indices.batch(batch_size, drop_remainder=drop_remainder).map(gather)

        return batches

    def read(index: np.ndarray) -> list[np.ndarray]:
        try:
            sample = dataset[int(index)]
        except DatasetError as e:
            raise DatasetError(f"{_MARK}{e}{_MARK}") from None
        return [sample[name] for name in names]

    @tf.autograph.experimental.do_not_convert
    def load(index: tf.Tensor) -> dict[str, tf.Tensor]:
        values = tf.numpy_function(read, [index], [tf.float32] * len(names), stateful=False)
        return {name: tf.ensure_shape(value, shapes[name]) for name, value in zip(names, values, strict=True)}

    def batches(indices: tf.data.Dataset, batch_size: int, drop_remainder: bool) -> tf.data.Dataset:
        samples = indices.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
        return samples.batch(batch_size, drop_remainder=drop_remainder).map(channels_last)

    return batches


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def as_dataset_error(error: BaseException) -> DatasetError | None:
    """The DatasetError that ``error`` is, or carries out of a ``make_dataset`` pipeline; None if neither."""
    if isinstance(error, DatasetError):
        return error
    text = error.message if isinstance(error, tf.errors.OpError) else str(error)
    parts = text.split(_MARK)
    return DatasetError(parts[1]) if len(parts) >= 3 else None


@contextlib.contextmanager
def reraise_dataset_errors() -> Iterator[None]:
    """Raise a DatasetError of a pipeline (inside ``model.fit``, a loop over batches) as itself.

    TensorFlow turns an exception of Python code in a pipeline into a ``tf.errors.OpError``
    (``UnknownError``, ``InvalidArgumentError``) whose message holds the traceback; inside
    ``with reraise_dataset_errors():`` one carrying a DatasetError is raised again as that
    DatasetError, its message alone (the other errors pass through). Also a decorator.
    """
    try:
        yield
    except tf.errors.OpError as e:
        error = as_dataset_error(e)
        if error is None:
            raise
        raise error from None
