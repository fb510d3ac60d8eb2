"""Agreement between two raters (or a model and the reference): Cohen's kappa, optionally
weighted for ordinal grades (linear or quadratic, the DR-grading convention).

``kappa = 1 - sum(W * O) / sum(W * E)`` with ``O`` the observed confusion proportions, ``E`` the
product of the marginals and ``W`` the disagreement weights (0 on the diagonal; 1 off it for
plain kappa, ``|i - j| / (K - 1)`` linear, ``((i - j) / (K - 1))^2`` quadratic). Its interval is a
percentile bootstrap over cases (stratified by the first rater's label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .estimate import NAN, Estimate, check_level, degenerate, same_length
from .intervals import bootstrap_ci
from .threshold import confusion_matrix

WEIGHTS = (None, "linear", "quadratic")


def _kappa_from_counts(c: np.ndarray, weights: str | None) -> float:
    k = c.shape[0]
    total = c.sum()
    if total == 0:
        return NAN
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(np.float64)
    elif weights == "linear":
        w = np.abs(i - j).astype(np.float64)
    else:
        w = (i - j).astype(np.float64) ** 2
    observed = c / total
    expected = np.outer(c.sum(1), c.sum(0)) / total**2
    denom = float((w * expected).sum())
    return NAN if denom == 0 else 1.0 - float((w * observed).sum()) / denom


def cohen_kappa(
    a: Any,
    b: Any,
    weights: str | None = None,
    *,
    labels: Sequence[Any] | None = None,
    ci: str | None = "bootstrap",
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Cohen's kappa of ratings ``a`` and ``b`` (1-D, same length), ``weights`` None, "linear"
    or "quadratic"; ``labels`` fixes the ordered categories (default: the sorted values seen),
    which matters for the weighted forms. Kappa is undefined (NaN with a warning) when the
    chance disagreement is 0, e.g. both raters always give the same single category."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    if ci not in ("bootstrap", None):
        raise ValueError(f"ci must be 'bootstrap' or None, got {ci!r}")
    level = check_level(level)
    x, y = np.asarray(a), np.asarray(b)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"ratings must be 1-D, got {x.shape} and {y.shape}")
    n = same_length(x, y, names=("a", "b"))
    lab = np.unique(np.r_[x, y]) if labels is None else np.asarray(labels)

    def value_of(p: np.ndarray, q: np.ndarray) -> float:
        return _kappa_from_counts(confusion_matrix(p, q, lab), weights)

    value = value_of(x, y) if n else NAN
    if np.isnan(value):
        degenerate("kappa is undefined: no chance disagreement (one category only); NaN")
        return Estimate(NAN, NAN, NAN, ci or "none", n, level)
    if ci is None:
        return Estimate(value, NAN, NAN, "none", n, level)
    return bootstrap_ci(value_of, x, y, stratify=x, n_resamples=n_resamples, level=level, seed=seed)
