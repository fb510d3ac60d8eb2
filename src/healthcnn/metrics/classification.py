"""Accuracy and the float-valued metric registry the Trainer uses (``METRICS``).

Conventions (those of the MedMNIST v2 benchmark): binary scores are one column, P(positive);
multi-class AUC is the unweighted mean of the one-vs-rest AUCs; multi-label AUC is the mean over
labels; accuracy is argmax for multi-class and a 0.5 threshold for binary (and per label, averaged
over labels, for multi-label). Inputs are never mutated. Degenerate input (one class only) gives
NaN with a :class:`DegenerateMetricWarning`, not an exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .auc import roc_auc
from .estimate import DegenerateMetricWarning


def _check_scores(y_score: np.ndarray, n: int) -> None:
    if y_score.shape[0] != n:
        raise ValueError(f"y_true has {n} samples but y_score has {y_score.shape[0]}")
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or inf; check the model output")


def accuracy(y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction correct: argmax of ``(N, K)`` scores against int labels; ``score > threshold``
    for binary ``(N,)`` scores; for multi-label ``(N, K)`` 0/1 targets, the per-label accuracy
    averaged over labels. Ordinal class probabilities count as multi-class (argmax)."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    _check_scores(s, y.shape[0])
    if y.shape[0] == 0:
        warnings.warn("accuracy of no samples is undefined", DegenerateMetricWarning, stacklevel=2)
        return float("nan")
    if s.ndim == 1:
        return float(np.mean((s > threshold).astype(np.int64) == y))
    if y.ndim == 2:
        if y.shape != s.shape:
            raise ValueError(f"multi-label y_true {y.shape} and y_score {s.shape} differ")
        return float(np.mean((s > threshold) == y.astype(bool)))
    return float(np.mean(s.argmax(axis=1) == y))


def auc_value(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC AUC as a plain float, without an interval (what the Trainer monitors each epoch)."""
    return float(roc_auc(y_true, y_score, ci=None))


#: metrics by the names tasks and the trainer use (``monitor="auc"``); each returns a float
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": auc_value,
    "accuracy": accuracy,
}
