"""How the Trainer feeds data that is not an in-memory ArrayDataset: the DataLoader it reads
(built for a Dataset, or the caller's own) and the per-epoch seeding of that loader.

The Trainer's in-memory fast path does not come here; see :mod:`healthcnn.data.loaders` for
what the DataLoader path guarantees (the same batches and numbers for a seed).
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, IterableDataset

from ..data.arrays import ArrayDataset
from ..data.loaders import DataSource, EpochBatchSampler, make_loader
from . import distributed
from .config import TrainConfig


def check_weighting(config: TrainConfig, train_ds: DataSource) -> None:
    """Balanced class weights or sampling and logit adjustment need every training label up
    front: refuse data
    without a ``labels`` tensor, saying what to do."""
    for name, value in (("class_weights", config.class_weights), ("sampling", config.sampling)):
        if value == "balanced":
            raise ValueError(
                f"{name}='balanced' needs every training label before training, and the "
                f"{type(train_ds).__name__} has no `labels` tensor: give it one (one label "
                f"per sample, in order) or leave {name} at 'none'"
            )
    if config.logit_adjust:
        raise ValueError(
            f"logit_adjust={config.logit_adjust} needs every training label before training "
            f"(the class prior), and the {type(train_ds).__name__} has no `labels` tensor: give "
            f"it one (one label per sample, in order) or leave logit_adjust at 0"
        )


def training_loader(
    train_ds: DataSource,
    config: TrainConfig,
    *,
    sample_weights: torch.Tensor | None,
    num_workers: int,
    pin_memory: bool,
) -> DataLoader | None:
    """The DataLoader of the training data: None for an ArrayDataset (the fast path), the
    caller's own DataLoader as it is, else one with an :class:`EpochBatchSampler` (map-style)
    or in stream order (iterable)."""
    if isinstance(train_ds, ArrayDataset):
        return None
    if isinstance(train_ds, DataLoader):
        if sample_weights is not None and not isinstance(train_ds.batch_sampler, EpochBatchSampler):
            raise ValueError(
                "sampling='balanced' needs the Trainer to draw the batches: pass the Dataset "
                "itself, or a DataLoader with batch_sampler=EpochBatchSampler(...)"
            )
        return train_ds
    sampler = None
    if isinstance(train_ds, IterableDataset):
        if sample_weights is not None:
            raise ValueError("sampling='balanced' cannot reorder an IterableDataset")
    else:
        sampler = EpochBatchSampler(len(train_ds), config.batch_size)
    return make_loader(
        train_ds,
        batch_size=config.batch_size,
        batch_sampler=sampler,
        num_workers=num_workers,
        pin_memory=pin_memory,
        seed=config.seed,
    )


def start_loader_epoch(
    loader: DataLoader,
    config: TrainConfig,
    generator: torch.Generator,
    sample_weights: torch.Tensor | None,
    loader_seed: int,
) -> tuple[int | None, bool]:
    """Seed ``loader`` for an epoch and return ``(steps, drop_last)`` (steps None: unknown).

    The loader's own generator (its workers' seeds, a RandomSampler's order) gets
    ``loader_seed``; an :class:`EpochBatchSampler` draws from the epoch's ``generator``, with
    the fast path's rule for a last batch of one sample (dropped: batch norm cannot train on
    it)."""
    if loader.generator is not None:
        loader.generator.manual_seed(loader_seed)
    sampler = loader.batch_sampler
    if isinstance(sampler, EpochBatchSampler):
        steps, drop_last = distributed.epoch_steps(sampler.num_samples, sampler.batch_size, 1)
        sampler.start_epoch(generator, sample_weights, drop_last)
        return steps, drop_last
    try:
        steps = len(loader)
    except TypeError:  # an IterableDataset without __len__
        steps = None
    if steps is None and config.schedule == "cosine":
        raise ValueError(
            "schedule='cosine' changes the learning rate every step and needs the number of "
            "batches per epoch: give the IterableDataset a __len__, or use 'multistep'"
        )
    return steps, False
