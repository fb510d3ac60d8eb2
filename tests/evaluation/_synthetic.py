"""Synthetic predictions shared by the evaluation tests (no data folder needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from healthcnn.evaluation import SplitPredictions


def split_predictions(task: Any, logits: np.ndarray, labels: np.ndarray, **extra: Any):
    """A :class:`SplitPredictions` of ``logits`` with the task's probabilities; ``extra``
    passes groups, member scores and the like."""
    scores = task.probabilities(torch.tensor(logits, dtype=torch.float32)).numpy()
    return SplitPredictions(logits=logits, scores=scores, labels=labels, **extra)


def multiclass_logits(seed: int, n: int, k: int, signal: float = 1.5):
    """Logits that favour the true class by ``signal`` (classes in turn, so each is present)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    z = rng.normal(size=(n, k))
    z[np.arange(n), y] += signal
    return z, y
