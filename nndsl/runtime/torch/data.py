"""Datasets and data loaders for PyTorch: NNC dataset CSV files and image folders as tensors.

This file is part of the generated project's runtime and needs only torch and ``nnc_dataset``
(the runtime's: numpy, Pillow and the standard library), which reads NNC's dataset CSV format and
image folders, checks them and reports problems as ``DatasetError`` (see its docstring).
This module makes its datasets torch ``Dataset``s whose items are float32 tensors in NNC's
layout (an image is channels x height x width), and builds the ``DataLoader``s.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

# isort: split
from .. import nnc_dataset
from ..nnc_dataset import IMAGE_EXTENSIONS, DatasetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "ImageFolderDataset",
    "NNCDataset",
    "default_workers",
    "make_loader",
    "seed_worker",
]


# --------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------


class NNCDataset(nnc_dataset.NNCDataset, Dataset):
    """A dataset in NNC's CSV format: each item is ``{input name: float32 tensor of the input's shape}``.

    Arguments, options and errors are those of ``nnc_dataset.NNCDataset``. A cached dataset
    holds its samples in tensors, which worker processes share (started by fork, or by spawn
    through torch's shared memory).
    """

    def _hold(self, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(array) for name, array in arrays.items()}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._cache is not None:
            index = range(len(self))[index]  # negative indices; IndexError past the end
            return {name: tensor[index].clone() for name, tensor in self._cache.items()}
        return {name: torch.from_numpy(array) for name, array in super().__getitem__(index).items()}


class ImageFolderDataset(nnc_dataset.ImageFolderDataset, NNCDataset):
    """Images in ``root/<class name>/<image file>`` (see ``nnc_dataset.ImageFolderDataset``), as tensors."""


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------


def default_workers() -> int:
    """Worker processes for a loader: the CPUs this process may use, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return min(4, cpus)


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's random generators in a loader worker from its torch seed.

    torch seeds each worker with the loader's base seed + the worker's id, the base seed
    being drawn from the loader's generator: a seeded generator makes the workers' random
    numbers (augmentation written with ``random`` or NumPy) reproducible too.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    workers: int | None = None,
    pin_memory: bool | None = None,
    sampler: Sampler | None = None,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
    worker_init_fn: Callable[[int], None] | None = seed_worker,
) -> DataLoader:
    """A DataLoader over ``dataset`` with worker processes and pinned memory.

    ``workers`` defaults to ``default_workers()``; they start anew with every pass over the
    loader (every epoch), seeded then (see below). ``pin_memory``
    defaults to (and is only used) when CUDA is available. ``drop_last`` drops a last,
    smaller batch (training with batch normalization cannot use a batch of one sample).

    Reproducibility: shuffling draws from ``generator``; give one seeded with
    ``torch.Generator().manual_seed(seed)`` for the same orders, epoch after epoch, run after
    run, whatever the number of workers. The workers' seeds (see ``seed_worker``) come from
    the loader's own ``loader.generator``, seeded from ``generator`` once (else a fixed seed),
    so that they do not shift the order and no loader draws from torch's global generator;
    reseed it (``loader.generator.manual_seed(...)``) before a pass for seeds of your own. With a
    ``sampler`` (e.g. ``DistributedSampler(dataset, shuffle=..., seed=...)``, whose
    ``set_epoch`` must be called every epoch) the sampler decides the order and the loader
    does not shuffle.
    """
    if workers is None:
        workers = default_workers()
    if workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}")
    if sampler is None and shuffle:
        sampler = RandomSampler(dataset, generator=generator)
    worker_seeds = torch.Generator().manual_seed(0)
    if generator is not None:
        worker_seeds.manual_seed(int(torch.randint(2**62, (), generator=generator)))
    cuda = torch.cuda.is_available()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,  # the sampler shuffles
        sampler=sampler,
        num_workers=workers,
        pin_memory=cuda if pin_memory is None else bool(pin_memory) and cuda,
        drop_last=drop_last,
        generator=worker_seeds,
        worker_init_fn=worker_init_fn if workers > 0 else None,
        persistent_workers=False,  # seeded anew every pass: a resumed run's workers draw what the first run's did
    )
