"""Training and inference on any ``torch.utils.data`` source: a map-style ``Dataset``, an
``IterableDataset`` or a ``DataLoader`` (worker processes, pinned memory).

The in-memory :class:`~.arrays.ArrayDataset` keeps its own fast path (one tensor, indexed per
batch, no workers). Everything else goes through a ``DataLoader`` whose batches are turned into
model inputs exactly as the fast path does (:func:`prepare_inputs`: uint8 scaled to [0, 1],
then the batch transform, then the memory format), so the same samples give the same numbers.

Determinism: :class:`EpochBatchSampler` draws each epoch's batches from the generator the
Trainer seeds for that epoch, with the very same draws as the fast path; a ``DataLoader``'s own
``generator`` is reseeded every epoch; worker processes seed ``random`` and numpy from the
seed torch gives them (:func:`seed_worker`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler

from .arrays import ArrayDataset, BatchTransform, batch_indices, prepare_inputs
from .image_stream import ImageFileDataset

#: what the Trainer and inference accept as data
DataSource = ArrayDataset | Dataset | DataLoader


class EpochBatchSampler(Sampler[list[int]]):
    """Batches of one epoch for a ``DataLoader(ds, batch_sampler=...)``: shuffled (or drawn in
    proportion to sample weights) by the generator the Trainer seeds for each epoch, with the
    same draws as the in-memory path, so both give the same batches for a seed.

    Without a generator (outside a Trainer) the order is the dataset order.
    """

    def __init__(self, num_samples: int, batch_size: int, *, drop_last: bool = False) -> None:
        for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.generator: torch.Generator | None = None
        self.sample_weights: torch.Tensor | None = None

    def start_epoch(
        self,
        generator: torch.Generator,
        sample_weights: torch.Tensor | None = None,
        drop_last: bool | None = None,
    ) -> None:
        """Set the epoch's generator (and sample weights, last-batch rule)."""
        self.generator = generator
        self.sample_weights = sample_weights
        if drop_last is not None:
            self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        shuffle = self.generator is not None
        for idx in batch_indices(
            self.num_samples,
            self.batch_size,
            shuffle,
            self.generator,
            self.sample_weights,
            self.drop_last,
        ):
            yield idx.tolist()

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed ``random`` and numpy in a worker from the seed torch gave it
    (derived from the loader's generator, which the Trainer reseeds every epoch)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(
    ds: Dataset,
    *,
    batch_size: int,
    batch_sampler: Sampler | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A ``DataLoader`` over ``ds``: batches from ``batch_sampler`` (map-style) or in stream
    order (iterable), ``num_workers`` processes seeded by :func:`seed_worker`."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    options: dict[str, Any] = {
        "num_workers": num_workers,
        "pin_memory": pin_memory,
        "worker_init_fn": seed_worker if num_workers else None,
        "generator": torch.Generator().manual_seed(seed),
        "persistent_workers": False,
    }
    if batch_sampler is not None:
        return DataLoader(ds, batch_sampler=batch_sampler, **options)
    return DataLoader(ds, batch_size=batch_size, shuffle=False, **options)


def split_batch(batch: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` of one collated batch; anything else is a clear TypeError."""
    if isinstance(batch, list | tuple) and len(batch) >= 2:
        x, y = batch[0], batch[1]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            return x, y
    raise TypeError(
        f"{where}: every sample must be (input tensor, label) (a batch of (x, y) tensors); "
        f"got a batch of {type(batch).__name__}"
    )


@dataclass(frozen=True)
class SampleInfo:
    """What the fit needs to know about the samples: dtype, channels, spatial shape."""

    dtype: torch.dtype
    in_channels: int
    spatial_shape: tuple[int, ...]

    @property
    def spatial_dims(self) -> int:
        return len(self.spatial_shape)


def _first_sample(ds: Dataset, where: str) -> Any:
    if isinstance(ds, IterableDataset):
        for sample in ds:
            return sample
        raise ValueError(f"the {where} dataset yields no samples")
    if len(ds) == 0:  # type: ignore[arg-type]
        raise ValueError(f"the {where} dataset is empty")
    return ds[0]


def describe(ds: DataSource, where: str = "training") -> SampleInfo:
    """Dtype, channels and spatial shape of ``ds``'s samples (its first sample, or for an
    :class:`ArrayDataset` its tensor)."""
    if isinstance(ds, ArrayDataset | ImageFileDataset):
        if len(ds) == 0:
            raise ValueError(f"the {where} dataset {ds.name!r} is empty")
        dtype = ds.images.dtype if isinstance(ds, ArrayDataset) else torch.uint8
        return SampleInfo(dtype, ds.in_channels, ds.spatial_shape)
    in_loader = isinstance(ds, DataLoader)  # a loader may read any sequence of samples
    if in_loader:
        ds = ds.dataset
    if not in_loader and not isinstance(ds, Dataset):
        raise TypeError(
            f"the {where} data must be a healthcnn ArrayDataset, a torch.utils.data.Dataset or "
            f"a DataLoader, got {type(ds).__name__}"
        )
    sample = _first_sample(ds, where)
    x = sample[0] if isinstance(sample, list | tuple) and sample else sample
    x = torch.as_tensor(x) if isinstance(x, np.ndarray) else x
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise TypeError(
            f"the {where} dataset's samples must be (input, label) with an input tensor "
            f"(C, *spatial); got {type(x).__name__} {tuple(getattr(x, 'shape', ()))}"
        )
    return SampleInfo(x.dtype, int(x.shape[0]), tuple(int(s) for s in x.shape[1:]))


def dataset_labels(ds: DataSource) -> torch.Tensor | None:
    """The labels of every sample when the data has them up front (a ``labels`` tensor, as
    :class:`ArrayDataset` and the streaming image dataset have), else None."""
    if isinstance(ds, DataLoader):
        ds = ds.dataset
    labels = getattr(ds, "labels", None)
    return labels if isinstance(labels, torch.Tensor) else None


def loader_batches(
    loader: DataLoader,
    device: torch.device,
    transform: BatchTransform | None,
    generator: torch.Generator | None,
    channels_last: bool,
    where: str = "training",
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` model inputs and labels for each batch of ``loader``.

    Starting the loader draws its workers' base seed, from the global torch RNG when the loader
    has no generator of its own; that draw happens in a forked RNG so it cannot shift the
    dropout stream the Trainer seeded."""
    with torch.random.fork_rng(devices=[]):
        batches = iter(loader)
    for batch in batches:
        x, y = split_batch(batch, where)
        x = prepare_inputs(x, device, transform, generator, channels_last)
        yield x, y.to(device, non_blocking=True)
