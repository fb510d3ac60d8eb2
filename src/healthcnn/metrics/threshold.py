"""Metrics of hard predictions: sensitivity, specificity, PPV, NPV, F1, balanced accuracy and the
confusion matrix.

``y_pred`` are decisions (0/1 for the binary metrics; a threshold is applied by the caller, e.g.
:class:`healthcnn.evaluation.OperatingPoint`). The four rates are proportions with a Wilson
(default) or Clopper-Pearson interval; F1 and balanced accuracy are not proportions of a fixed
denominator, so their interval is a class-stratified percentile bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .estimate import NAN, Estimate, as_binary_labels, check_level, degenerate, same_length
from .intervals import PROPORTION_METHODS, bootstrap_ci, proportion_ci

RATE_CIS = (*PROPORTION_METHODS, None)


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary_labels(y_true, "y_true")
    p = as_binary_labels(y_pred, "y_pred")
    same_length(y, p, names=("y_true", "y_pred"))
    return y, p


def _rate(k: int, n: int, ci: str | None, level: float, what: str) -> Estimate:
    if ci not in RATE_CIS:
        raise ValueError(f"ci must be one of {RATE_CIS}, got {ci!r}")
    if n == 0:
        v = degenerate(f"{what} is undefined: its denominator is 0 cases; returning NaN", 4)
        return Estimate(v, NAN, NAN, ci or "none", 0, level)
    if ci is None:
        return Estimate(k / n, NAN, NAN, "none", n, check_level(level))
    return proportion_ci(k, n, ci, level)


def sensitivity(y_true: Any, y_pred: Any, *, ci: str | None = "wilson", level: float = 0.95):
    """TP / (TP + FN): the fraction of positives called positive (recall, TPR)."""
    y, p = _pair(y_true, y_pred)
    return _rate(int((y & p).sum()), int(y.sum()), ci, level, "sensitivity")


def specificity(y_true: Any, y_pred: Any, *, ci: str | None = "wilson", level: float = 0.95):
    """TN / (TN + FP): the fraction of negatives called negative (TNR)."""
    y, p = _pair(y_true, y_pred)
    return _rate(int((~y & ~p).sum()), int((~y).sum()), ci, level, "specificity")


def ppv(y_true: Any, y_pred: Any, *, ci: str | None = "wilson", level: float = 0.95):
    """TP / (TP + FP): positive predictive value (precision) at this set's prevalence."""
    y, p = _pair(y_true, y_pred)
    return _rate(int((y & p).sum()), int(p.sum()), ci, level, "PPV")


def npv(y_true: Any, y_pred: Any, *, ci: str | None = "wilson", level: float = 0.95):
    """TN / (TN + FN): negative predictive value at this set's prevalence."""
    y, p = _pair(y_true, y_pred)
    return _rate(int((~y & ~p).sum()), int((~p).sum()), ci, level, "NPV")


def _f1_value(y: np.ndarray, p: np.ndarray) -> float:
    tp = float((y & p).sum())
    denom = 2 * tp + float((~y & p).sum()) + float((y & ~p).sum())
    return 2 * tp / denom if denom else NAN


def f1(
    y_true: Any,
    y_pred: Any,
    *,
    ci: str | None = "bootstrap",
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """2 TP / (2 TP + FP + FN), with a class-stratified bootstrap interval."""
    y, p = _pair(y_true, y_pred)
    if ci not in ("bootstrap", None):
        raise ValueError(f"ci must be 'bootstrap' or None for F1, got {ci!r}")
    value = _f1_value(y, p)
    if np.isnan(value):
        degenerate("F1 is undefined without positives or positive predictions; NaN")
    if ci is None or np.isnan(value):
        return Estimate(value, NAN, NAN, ci or "none", len(y), check_level(level))
    return bootstrap_ci(
        _f1_value, y, p, stratify=y, n_resamples=n_resamples, level=level, seed=seed
    )


def _balanced_value(y: np.ndarray, p: np.ndarray) -> float:
    recalls = [np.mean(p[y == c] == c) for c in np.unique(y)]
    return float(np.mean(recalls)) if recalls else NAN


def balanced_accuracy(
    y_true: Any,
    y_pred: Any,
    *,
    ci: str | None = "bootstrap",
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The mean over classes present in ``y_true`` of the per-class recall (binary: the mean of
    sensitivity and specificity; any number of classes), with a stratified bootstrap interval."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D labels, got {y.shape} and {p.shape}")
    same_length(y, p, names=("y_true", "y_pred"))
    if ci not in ("bootstrap", None):
        raise ValueError(f"ci must be 'bootstrap' or None for balanced accuracy, got {ci!r}")
    if len(y) == 0:
        v = degenerate("balanced accuracy of no samples is undefined; NaN")
        return Estimate(v, NAN, NAN, ci or "none", 0, check_level(level))
    if len(np.unique(y)) < 2:
        degenerate("balanced accuracy with one class present is that class's recall", 3)
    value = _balanced_value(y, p)
    if ci is None:
        return Estimate(value, NAN, NAN, "none", len(y), check_level(level))
    return bootstrap_ci(
        _balanced_value, y, p, stratify=y, n_resamples=n_resamples, level=level, seed=seed
    )


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of cases with true label ``labels[i]`` predicted as ``labels[j]``
    (rows: truth, columns: prediction; ``labels`` default: the sorted values seen). Labels
    outside ``labels`` raise."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D labels, got {y.shape} and {p.shape}")
    same_length(y, p, names=("y_true", "y_pred"))
    lab = np.unique(np.r_[y, p]) if labels is None else np.asarray(labels)
    if len(lab) == 0:
        raise ValueError("confusion_matrix needs at least one label")
    order = np.argsort(lab, kind="stable")
    sorted_lab = lab[order]
    pos_y = np.searchsorted(sorted_lab, y).clip(0, len(lab) - 1)
    pos_p = np.searchsorted(sorted_lab, p).clip(0, len(lab) - 1)
    bad = (sorted_lab[pos_y] != y) | (sorted_lab[pos_p] != p)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"label {y[i] if sorted_lab[pos_y[i]] != y[i] else p[i]!r} is not in labels "
            f"{lab.tolist()}"
        )
    k = len(lab)
    iy, ip = order[pos_y], order[pos_p]
    return np.bincount(iy * k + ip, minlength=k * k).reshape(k, k)
