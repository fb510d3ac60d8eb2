"""Inference over a dataset: ``predict(model, ds, task) -> Predictions`` for the metrics.

``Predictions.scores`` are the task's probabilities (binary: ``(N,)`` P(positive); otherwise
``(N, K)``), ``labels`` the task's encoded targets (after any label map), plus the dataset's ids
and groups, so metrics can resample by patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.arrays import ArrayDataset, BatchTransform, iterate_batches
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
            ids=None if ds.ids is None else list(ds.ids),
            groups=None if ds.groups is None else list(ds.groups),
            classes=list(task.classes),
            task_kind=task.kind,
        )


def infer_logits(
    model: nn.Module,
    ds: ArrayDataset,
    *,
    batch_size: int,
    policy: PrecisionPolicy,
    device: str | torch.device = "cpu",
    transform: BatchTransform | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits (float32, CPU) and the dataset's raw labels, in dataset order, in eval mode
    (the model's train/eval mode is restored afterwards)."""
    was_training = model.training
    model.eval()
    chunks: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for x, _, _ in iterate_batches(
                ds,
                batch_size,
                shuffle=False,
                transform=transform,
                device=device,
                channels_last=policy.channels_last,
            ):
                with policy.autocast():
                    logits = model(x)
                chunks.append(logits.float().cpu())
    finally:
        model.train(was_training)
    if not chunks:
        raise ValueError(f"cannot predict on an empty dataset ({ds.name or 'unnamed'})")
    return torch.cat(chunks), ds.labels


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
