"""Inference over a dataset: ``predict(model, ds, task) -> Predictions`` for the metrics.

``Predictions.scores`` are the task's probabilities (binary: ``(N,)`` P(positive); otherwise
``(N, K)``), ``labels`` the task's encoded targets (after any label map), plus the dataset's ids
and groups, so metrics can resample by patient.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..data.arrays import ArrayDataset, BatchTransform, iterate_batches
from ..data.loaders import DataSource, describe, loader_batches, make_loader
from ..tasks import Task
from .precision import PrecisionPolicy


@dataclass
class Predictions:
    """Scores and labels as numpy arrays, one row per sample in dataset order."""

    scores: np.ndarray
    labels: np.ndarray
    ids: list[str] | None
    groups: list[str] | None
    classes: list[str]
    task_kind: str

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_logits(cls, logits: torch.Tensor, ds: ArrayDataset, task: Task) -> Predictions:
        """The task's probabilities for ``logits`` (one row per sample of ``ds``, in order),
        with the dataset's labels (encoded by the task), ids and groups."""
        return cls.from_scores(task.probabilities(logits).numpy(), ds, task)

    @classmethod
    def from_scores(cls, scores: np.ndarray, ds: ArrayDataset, task: Task) -> Predictions:
        """Probabilities already computed (e.g. averaged over test-time views), with the
        dataset's labels (encoded by the task), ids and groups."""
        return cls(
            scores=scores,
            labels=task.encode_labels(ds.labels).cpu().numpy(),
            ids=None if getattr(ds, "ids", None) is None else list(ds.ids),
            groups=None if getattr(ds, "groups", None) is None else list(ds.groups),
            classes=list(task.classes),
            task_kind=task.kind,
        )


def infer_logits(
    model: nn.Module,
    ds: DataSource,
    *,
    batch_size: int,
    policy: PrecisionPolicy,
    device: str | torch.device = "cpu",
    transform: BatchTransform | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits (float32, CPU) and the raw labels, in dataset order, in eval mode (the
    model's train/eval mode is restored afterwards).

    ``ds`` is an :class:`ArrayDataset` (batches indexed from its tensor), any
    ``torch.utils.data.Dataset`` of ``(input, label)`` samples (read in order through a
    ``DataLoader`` with ``num_workers`` processes) or a ``DataLoader`` (used as it is: give it
    no shuffling, so the predictions keep the dataset's order).
    """
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for x, y in _inference_batches(ds, batch_size, device, transform, policy, num_workers):
                with policy.autocast():
                    logits = model(x)
                chunks.append(logits.float().cpu())
                labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not chunks:
        name = getattr(ds, "name", "") or type(ds).__name__
        raise ValueError(f"cannot predict on an empty dataset ({name})")
    if isinstance(ds, ArrayDataset):
        return torch.cat(chunks), ds.labels
    return torch.cat(chunks), torch.cat(labels)


def _inference_batches(
    ds: DataSource,
    batch_size: int,
    device: str | torch.device,
    transform: BatchTransform | None,
    policy: PrecisionPolicy,
    num_workers: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    device = torch.device(device)
    if isinstance(ds, ArrayDataset):
        for x, y, _ in iterate_batches(
            ds,
            batch_size,
            shuffle=False,
            transform=transform,
            device=device,
            channels_last=policy.channels_last,
        ):
            yield x, y
        return
    if not isinstance(ds, DataLoader):
        describe(ds, "prediction")  # a clear error for what is not a Dataset of samples
        ds = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    yield from loader_batches(ds, device, transform, None, policy.channels_last, "prediction")


def predict(
    model: nn.Module,
    ds: ArrayDataset,
    task: Task,
    batch_size: int = 256,
    policy: PrecisionPolicy | None = None,
    *,
    device: str | torch.device = "cpu",
    transform: BatchTransform | None = None,
) -> Predictions:
    """Run ``model`` over ``ds`` and return the task's probabilities with labels, ids, groups.

    ``policy`` defaults to ``PrecisionPolicy.resolve("auto", device)``; pass
    ``PrecisionPolicy.resolve("fp32")`` for full precision. ``transform`` is an evaluation-time
    batch transform (e.g. normalisation), never a random augmentation.
    """
    if policy is None:
        policy = PrecisionPolicy.resolve("auto", device)
    logits, _ = infer_logits(
        model, ds, batch_size=batch_size, policy=policy, device=device, transform=transform
    )
    return Predictions.from_logits(logits, ds, task)


def predict_views(
    model: nn.Module,
    ds: ArrayDataset,
    task: Task,
    views: Sequence[BatchTransform | None],
    batch_size: int = 256,
    policy: PrecisionPolicy | None = None,
    *,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Class probabilities averaged over evaluation transforms ``views`` (test-time
    augmentation; a single view is a plain :func:`predict`)."""
    scores = [
        predict(model, ds, task, batch_size, policy, device=device, transform=tf).scores
        for tf in views
    ]
    return np.mean(scores, axis=0) if len(scores) > 1 else scores[0]
