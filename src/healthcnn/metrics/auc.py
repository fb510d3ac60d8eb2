"""ROC AUC with DeLong or bootstrap confidence intervals, the paired DeLong test, ROC/PR curves.

AUC is the Mann-Whitney statistic (ties count one half), computed from midranks.

**DeLong variance** (DeLong, DeLong and Clarke-Pearson 1988) with the fast midrank algorithm of
Sun and Xu (2014): for ``m`` positives and ``n`` negatives, the structural components are
``V10_i = (rank of positive i among all - its rank among positives) / n`` and
``V01_j = 1 - (rank of negative j among all - its rank among negatives) / m`` and
``Var(AUC) = S10 / m + S01 / n`` with ``S10``, ``S01`` their sample variances. We write this as a
per-sample influence ``psi_i = (V10_i - AUC) / sqrt(m (m - 1))`` for positives and
``(V01_j - AUC) / sqrt(n (n - 1))`` for negatives, so that ``Var(AUC) = sum_i psi_i^2`` exactly and
the covariance of two AUCs computed on the same cases is ``sum_i psi_i^(a) psi_i^(b)``. For two
scores on the same positives/negatives this is DeLong's covariance (used by :func:`delong_test`).

**Multi-class and multi-label CIs**: the one-vs-rest (or per-label) AUCs share their cases, so
the macro (or prevalence-weighted) mean ``sum_k w_k AUC_k / sum_k w_k`` has variance
``w^T C w / (sum_k w_k)^2`` where ``C_kl = sum_i psi_i^(k) psi_i^(l)`` is the joint DeLong
covariance of the per-class AUCs (diagonal: each class's own DeLong variance). The interval is
the normal one, ``value +- z * se``, clipped to [0, 1].

``ci="bootstrap"`` gives a percentile interval instead (stratified by class, or by whole
``groups`` such as patients); DeLong treats every row as an independent case, so rows that share
a patient need the grouped bootstrap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimate import (
    NAN,
    DegenerateMetricWarning,
    Estimate,
    as_binary_labels,
    as_scores,
    check_level,
    degenerate,
    normal_sf,
    record_dict,
    z_value,
)
from .intervals import bootstrap_ci

CI_METHODS = ("delong", "bootstrap", None)
AVERAGES = ("macro", "weighted")


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, tied values sharing the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    edges = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1], True])
    mean_rank = (edges[:-1] + 1 + edges[1:]) / 2.0
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, np.diff(edges))
    return ranks


def _auc_and_influence(pos: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray]:
    """AUC of one column and its DeLong influence per sample (NaN when a class is missing;
    influence NaN when a class has a single member, where the DeLong variance is undefined)."""
    m = int(pos.sum())
    n = len(pos) - m
    psi = np.full(len(pos), NAN)
    if m == 0 or n == 0:
        return NAN, psi
    tz = midranks(s)
    tx = midranks(s[pos])
    ty = midranks(s[~pos])
    auc = (tz[pos].sum() - m * (m + 1) / 2.0) / (m * n)
    if m > 1 and n > 1:
        v10 = (tz[pos] - tx) / n
        v01 = 1.0 - (tz[~pos] - ty) / m
        psi[pos] = (v10 - auc) / math.sqrt(m * (m - 1))
        psi[~pos] = (v01 - auc) / math.sqrt(n * (n - 1))
    return float(auc), psi


def _columns(y_true: Any, y_score: Any) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None]:
    """(kind, Y (N, K) bool, S (N, K), labels to stratify a bootstrap by)."""
    y = np.asarray(y_true)
    if y.ndim == 0:
        raise ValueError("y_true must be an array of labels, got a scalar")
    s = as_scores(y_score, y.shape[0])
    if s.ndim == 1:
        if y.ndim != 1:
            raise ValueError(f"binary AUC needs y_true of shape (N,), got {y.shape}")
        labels = np.unique(y)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f"binary AUC needs y_true in {{0, 1}}, got labels {labels[:10].tolist()}; pass "
                f"(N, K) scores for multi-class"
            )
        yb = y.astype(bool)
        return "binary", yb[:, None], s[:, None], yb
    if s.ndim != 2:
        raise ValueError(f"y_score must have shape (N,) or (N, K), got {s.shape}")
    if y.ndim == 2:
        if y.shape != s.shape:
            raise ValueError(f"multi-label y_true {y.shape} and y_score {s.shape} differ")
        return "multilabel", y.astype(bool), s, None
    k = s.shape[1]
    if y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"multi-class y_true must be ints in 0..{k - 1} of shape (N,)")
    yi = y.astype(np.int64)
    return "multiclass", yi[:, None] == np.arange(k)[None, :], s, yi


def _weights(cols: np.ndarray, defined: np.ndarray, average: str) -> np.ndarray:
    w = cols.sum(axis=0).astype(np.float64) if average == "weighted" else np.ones(cols.shape[1])
    return np.where(defined, w, 0.0)


def _value(cols: np.ndarray, s: np.ndarray, average: str) -> float:
    aucs = np.array([_auc_and_influence(cols[:, k], s[:, k])[0] for k in range(s.shape[1])])
    w = _weights(cols, ~np.isnan(aucs), average)
    if w.sum() == 0:
        return NAN
    return float(np.nansum(aucs * w) / w.sum())


def roc_auc(
    y_true: Any,
    y_score: Any,
    *,
    ci: str | None = "delong",
    level: float = 0.95,
    average: str = "macro",
    groups: Sequence[Any] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Area under the ROC curve with a confidence interval.

    - binary: ``y_true`` 0/1 ``(N,)``, ``y_score`` ``(N,)`` (P(positive));
    - multi-class: ints ``(N,)`` and ``(N, K)`` scores: mean of the K one-vs-rest AUCs,
      unweighted (``average="macro"``, the MedMNIST convention) or weighted by class prevalence
      (``"weighted"``);
    - multi-label: 0/1 ``(N, K)`` and ``(N, K)``: mean over labels (weighted: by positives).

    ``ci``: ``"delong"`` (see the module docstring for the multi-class covariance),
    ``"bootstrap"`` (percentile, ``n_resamples`` resamples, stratified by class, or resampling
    whole ``groups``), or ``None``. Passing ``groups`` with ``"delong"`` switches to the grouped
    bootstrap (DeLong assumes independent rows; ``method`` says which was used). A class (label)
    missing from ``y_true`` is left out of the mean with a :class:`DegenerateMetricWarning`; NaN
    when none is defined. Constant scores give
    0.5 (every pair tied, as scikit-learn) with a warning and no interval.
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    level = check_level(level)
    kind, cols, s, strata = _columns(y_true, y_score)
    n = len(cols)
    if groups is not None and ci == "delong":
        ci = "bootstrap"  # DeLong assumes independent rows: resample whole groups instead
    results = [_auc_and_influence(cols[:, k], s[:, k]) for k in range(s.shape[1])]
    aucs = np.array([a for a, _ in results])
    undefined = np.flatnonzero(np.isnan(aucs))
    what = {"binary": "", "multiclass": "class", "multilabel": "label"}[kind]
    if len(undefined) == len(aucs):
        detail = "y_true holds only one class" if kind == "binary" else f"every {what} has one"
        value = degenerate(f"ROC AUC is undefined: {detail} (only one class present); NaN")
        return Estimate(value, NAN, NAN, ci or "none", n, level)
    if len(undefined):
        warnings.warn(
            f"ROC AUC is undefined for {what} indices {undefined.tolist()} (only one class "
            f"present); averaging over the other {len(aucs) - len(undefined)}",
            DegenerateMetricWarning,
            stacklevel=2,
        )
    w = _weights(cols, ~np.isnan(aucs), average)
    value = float(np.nansum(aucs * w) / w.sum())
    if n and (s == s[:1]).all():
        degenerate("every score is the same: the AUC is 0.5 by ties alone and has no interval")
        return Estimate(value, NAN, NAN, ci or "none", n, level)
    if ci is None:
        return Estimate(value, NAN, NAN, "none", n, level)
    if ci == "bootstrap":
        est = bootstrap_ci(
            lambda c, x: _value(c, x, average),
            cols,
            s,
            n_resamples=n_resamples,
            stratify=strata,
            groups=groups,
            level=level,
            seed=seed,
        )
        return Estimate(value, est.ci_low, est.ci_high, "bootstrap", n, level)
    psi = np.stack([p for _, p in results], axis=1)[:, w > 0]
    wd = w[w > 0] / w.sum()
    var = float(wd @ (psi.T @ psi) @ wd) if np.isfinite(psi).all() else NAN
    if math.isnan(var):
        degenerate("DeLong variance needs at least 2 positives and 2 negatives per class; no CI")
        return Estimate(value, NAN, NAN, "delong", n, level)
    half = z_value(level) * math.sqrt(max(var, 0.0))
    return Estimate(value, max(0.0, value - half), min(1.0, value + half), "delong", n, level)


def delong_variance(y_true: Any, y_score: Any) -> float:
    """DeLong's variance of the binary AUC (Sun and Xu's midrank algorithm)."""
    y = as_binary_labels(y_true)
    s = as_scores(y_score, len(y))
    _, psi = _auc_and_influence(y, s)
    return float((psi**2).sum())


@dataclass(frozen=True)
class DelongTest:
    """Paired DeLong comparison of two scores on the same cases: ``difference = auc_a - auc_b``,
    its normal CI, the z statistic and the two-sided p-value."""

    difference: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    auc_a: Estimate
    auc_b: Estimate
    n: int

    def as_dict(self) -> dict[str, Any]:
        return record_dict(self)


def delong_test(y_true: Any, score_a: Any, score_b: Any, level: float = 0.95) -> DelongTest:
    """Are two models' AUCs on the same cases different? (DeLong 1988, paired.)

    ``Var(A - B) = Var(A) + Var(B) - 2 Cov(A, B)`` from the joint DeLong covariance. Identical
    scores give difference 0, z 0 and p 1.
    """
    y = as_binary_labels(y_true)
    a = as_scores(score_a, len(y), "score_a")
    b = as_scores(score_b, len(y), "score_b")
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("delong_test compares binary scores of shape (N,)")
    level = check_level(level)
    auc_a, psi_a = _auc_and_influence(y, a)
    auc_b, psi_b = _auc_and_influence(y, b)
    n = len(y)
    z_crit = z_value(level)
    if math.isnan(auc_a) or not np.isfinite(psi_a).all():
        degenerate("delong_test needs at least 2 positives and 2 negatives; returning NaN")
        nan_est = Estimate(auc_a, NAN, NAN, "delong", n, level)
        return DelongTest(NAN, NAN, NAN, NAN, NAN, nan_est, Estimate(auc_b, n=n), n)

    def _est(auc: float, psi: np.ndarray) -> Estimate:
        half = z_crit * math.sqrt((psi**2).sum())
        return Estimate(auc, max(0.0, auc - half), min(1.0, auc + half), "delong", n, level)

    diff = auc_a - auc_b
    var = float(((psi_a - psi_b) ** 2).sum())
    se = math.sqrt(max(var, 0.0))
    if se < 1e-15:
        z, p = (0.0, 1.0) if abs(diff) < 1e-15 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / se
        p = min(1.0, 2.0 * normal_sf(abs(z)))
    return DelongTest(
        difference=diff,
        ci_low=diff - z_crit * se,
        ci_high=diff + z_crit * se,
        z=z,
        p_value=p,
        auc_a=_est(auc_a, psi_a),
        auc_b=_est(auc_b, psi_b),
        n=n,
    )


# ---- curves -------------------------------------------------------------------------------------


def _binary_counts(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true positives, false positives, thresholds) for ``score >= threshold`` at each distinct
    score, thresholds descending."""
    y = as_binary_labels(y_true)
    s = as_scores(y_score, len(y))
    if s.ndim != 1:
        raise ValueError(f"curves need binary scores of shape (N,), got {s.shape}")
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(ss[1:] != ss[:-1]), len(ss) - 1] if len(ss) else np.array([], int)
    tps = np.cumsum(ys)[last]
    fps = (last + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), ss[last]


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)``: one point per distinct score (a case is positive when its
    score is >= the threshold), thresholds descending, starting at (0, 0) with threshold inf.
    No points are dropped. NaN rates with a warning when a class is missing."""
    tps, fps, thr = _binary_counts(y_true, y_score)
    p, n = (tps[-1], fps[-1]) if len(tps) else (0.0, 0.0)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    if p == 0 or n == 0:
        degenerate("the ROC curve needs both classes; rates are NaN")
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps / n, tps / p, np.r_[np.inf, thr]


def precision_recall_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)``, thresholds descending (recall increasing), one point
    per distinct score, preceded by the point recall 0, precision 1 (threshold inf)."""
    tps, fps, thr = _binary_counts(y_true, y_score)
    p = tps[-1] if len(tps) else 0.0
    if p == 0:
        degenerate("the precision-recall curve needs positives; recall is NaN")
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tps / (tps + fps)
        recall = tps / p
    return np.r_[1.0, precision], np.r_[0.0, recall], np.r_[np.inf, thr]
