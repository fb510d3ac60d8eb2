"""DR grade scores: the 5-grade metrics and the referable-DR score derived from them.

Referable DR is grade >= 2 (moderate or worse; :func:`healthcnn.tasks.referable_dr`). A 5-grade
model's referable score is ``P(grade >= 2) = p2 + p3 + p4``: no second network is needed, and the
score ranks cases for ROC analysis and operating points.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..metrics import DegenerateMetricWarning, accuracy_from_scores, cohen_kappa, roc_auc

#: the first grade that counts as referable (moderate NPDR)
REFERABLE_FROM = 2


def grade_metrics(y: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Macro one-vs-rest AUC, argmax accuracy and quadratic-weighted kappa of grades ``y``
    ``(N,)`` against class probabilities ``probs`` ``(N, K)`` (point values, no intervals)."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != len(y):
        raise ValueError(f"probs must be (N, K) with N = {len(y)} grades, got shape {p.shape}")
    k = p.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        auc = float(roc_auc(y, p, ci=None))
        kappa = float(
            cohen_kappa(y, p.argmax(axis=1), weights="quadratic", labels=list(range(k)), ci=None)
        )
    return {"auc": auc, "acc": float(accuracy_from_scores(y, p)), "kappa": kappa, "n": len(y)}


def referable_scores(probs: np.ndarray, start: int = REFERABLE_FROM) -> np.ndarray:
    """``P(grade >= start)`` from 5-grade probabilities ``(N, K)``."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or not 0 < start < p.shape[1]:
        raise ValueError(
            f"need (N, K) grade probabilities with 0 < start={start} < K, got shape {p.shape}"
        )
    return p[:, start:].sum(axis=1)


def referable_labels(grades: np.ndarray, start: int = REFERABLE_FROM) -> np.ndarray:
    """0/1 referable labels (grade >= ``start``)."""
    return (np.asarray(grades) >= start).astype(np.int64)
