"""Accuracy and the float-valued metric registry the Trainer uses (``METRICS``).

:func:`accuracy` is scikit-learn's ``accuracy_score`` (labels against labels);
:func:`accuracy_from_scores` counts scores the MedMNIST way, described below.

Conventions (those of the MedMNIST v2 benchmark): binary scores are one column, P(positive);
multi-class AUC is the unweighted mean of the one-vs-rest AUCs; multi-label AUC is the mean over
labels; accuracy is argmax for multi-class and a 0.5 threshold for binary (and per label, averaged
over labels, for multi-label). Inputs are never mutated. Degenerate input (one class only) gives
NaN with a :class:`DegenerateMetricWarning`, not an exception.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .auc import roc_auc
from .estimate import DegenerateMetricWarning


def _check_scores(y_score: np.ndarray, n: int) -> None:
    if y_score.shape[0] != n:
        raise ValueError(f"y_true has {n} samples but y_score has {y_score.shape[0]}")
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or inf; check the model output")


def accuracy(y_true: Any, y_pred: Any, *, normalize: bool = True) -> float:
    """Fraction (``normalize``) or number of samples whose predicted label equals the true one:
    scikit-learn's ``accuracy_score(y_true, y_pred)``. For 2-D 0/1 multi-label indicators a
    sample counts only when every label matches (subset accuracy, as scikit-learn). ``y_pred``
    are decisions (class labels); for scores or probabilities use :func:`accuracy_from_scores`."""
    y, p = np.asarray(y_true), np.asarray(y_pred)
    if y.shape != p.shape or y.ndim not in (1, 2):
        raise ValueError(
            f"y_true and y_pred must be labels of one shape, (N,) or multi-label (N, K); got "
            f"{y.shape} and {p.shape} (for scores of shape (N, K) use accuracy_from_scores)"
        )
    if p.dtype.kind == "f" and not np.array_equal(p, np.round(p)):
        raise ValueError(
            "y_pred holds scores, not labels; accuracy compares labels like scikit-learn's "
            "accuracy_score: pass decisions, or use accuracy_from_scores(y_true, y_score)"
        )
    if y.shape[0] == 0:
        warnings.warn("accuracy of no samples is undefined", DegenerateMetricWarning, stacklevel=2)
        return float("nan")
    hits = (y == p) if y.ndim == 1 else (y == p).all(axis=1)
    return float(hits.mean()) if normalize else float(hits.sum())


def accuracy_from_scores(y_true: Any, y_score: Any, threshold: float = 0.5) -> float:
    """Fraction correct of scores, as the MedMNIST benchmark counts it: argmax of ``(N, K)``
    scores against int labels; ``score > threshold`` for binary ``(N,)`` scores; for
    multi-label ``(N, K)`` 0/1 targets, the per-label accuracy averaged over labels. Ordinal
    class probabilities count as multi-class (argmax)."""
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
    "accuracy": accuracy_from_scores,
}
