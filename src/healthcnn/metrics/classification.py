"""Classification metrics as pure numpy functions: ROC AUC and accuracy.

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


class DegenerateMetricWarning(UserWarning):
    """A metric is undefined for this input (e.g. AUC with a single class) and was set to NaN
    or computed over the defined parts only."""


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # positions where a run of equal values starts, plus the end
    edges = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    mean_rank = (edges[:-1] + 1 + edges[1:]) / 2.0  # ranks start+1 .. end, averaged
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, np.diff(edges))
    return ranks


def _binary_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney U / (n_pos * n_neg); NaN when either class is missing (no warning here)."""
    pos = y.astype(bool)
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _check_scores(y_score: np.ndarray, n: int) -> None:
    if y_score.shape[0] != n:
        raise ValueError(f"y_true has {n} samples but y_score has {y_score.shape[0]}")
    if not np.isfinite(y_score).all():
        raise ValueError("y_score contains NaN or inf; check the model output")


def _mean_over_columns(y_cols: np.ndarray, s: np.ndarray, what: str) -> float:
    aucs = np.array([_binary_auc(y_cols[:, k], s[:, k]) for k in range(s.shape[1])])
    undefined = np.flatnonzero(np.isnan(aucs))
    if len(undefined) == len(aucs):
        warnings.warn(
            f"ROC AUC is undefined: every {what} has only one class present; returning NaN",
            DegenerateMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    if len(undefined):
        warnings.warn(
            f"ROC AUC is undefined for {what} indices {undefined.tolist()} (only one class "
            f"present); "
            f"averaging over the other {len(aucs) - len(undefined)}",
            DegenerateMetricWarning,
            stacklevel=3,
        )
    return float(np.nanmean(aucs))


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve (rank-based Mann-Whitney statistic; ties count one half).

    - binary: ``y_true`` 0/1 of shape ``(N,)``, ``y_score`` ``(N,)`` (P(positive));
    - multi-class: ``y_true`` ints ``(N,)``, ``y_score`` ``(N, K)``: unweighted mean of the K
      one-vs-rest AUCs;
    - multi-label: ``y_true`` 0/1 ``(N, K)``, ``y_score`` ``(N, K)``: mean over labels.

    A class (or label) whose one-vs-rest AUC is undefined because ``y_true`` lacks it is left
    out of the mean with a warning; NaN with a warning when nothing is defined.
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    _check_scores(s, y.shape[0])
    if s.ndim == 1:
        if y.ndim != 1:
            raise ValueError(f"binary AUC needs y_true of shape (N,), got {y.shape}")
        labels = np.unique(y)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f"binary AUC needs y_true in {{0, 1}}, got labels {labels.tolist()}; pass "
                f"(N, K) scores for multi-class"
            )
        auc = _binary_auc(y, s)
        if np.isnan(auc):
            warnings.warn(
                "ROC AUC is undefined when y_true holds only one class; returning NaN",
                DegenerateMetricWarning,
                stacklevel=2,
            )
        return auc
    if s.ndim != 2:
        raise ValueError(f"y_score must have shape (N,) or (N, K), got {s.shape}")
    if y.ndim == 2:
        if y.shape != s.shape:
            raise ValueError(f"multi-label y_true {y.shape} and y_score {s.shape} differ")
        return _mean_over_columns(y, s, "label")
    k = s.shape[1]
    if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"multi-class y_true must be ints in 0..{k - 1} of shape (N,)")
    one_hot = y.astype(np.int64)[:, None] == np.arange(k)[None, :]
    return _mean_over_columns(one_hot, s, "class")


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


#: metrics by the names tasks and the trainer use (``monitor="auc"``)
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": roc_auc,
    "accuracy": accuracy,
}
