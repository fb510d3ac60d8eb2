"""Confidence intervals: binomial proportions (Wilson, Clopper-Pearson) and the bootstrap.

- :func:`proportion_ci`: sensitivity, specificity, accuracy, ... are proportions ``k / n``. Wilson
  (score) and Clopper-Pearson (exact) keep their coverage at small ``n`` and near 0 or 1, where
  the Wald interval fails. Clopper-Pearson is computed without scipy, by
  bisection on the binomial tail sums it is defined by.
- :func:`bootstrap_ci`: a percentile interval for any metric. ``groups`` resamples whole
  patients (clusters), so several images of one patient are never split across a resample;
  ``stratify`` resamples within each class, so every resample keeps the class counts.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .estimate import NAN, DegenerateMetricWarning, Estimate, check_level, degenerate, z_value

PROPORTION_METHODS = ("wilson", "clopper-pearson")


def _check_counts(successes: Any, total: Any) -> tuple[int, int]:
    for name, v in (("successes", successes), ("total", total)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{name} must be an int count, got {v!r}")
    k, n = int(successes), int(total)
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= successes <= total, got successes={k}, total={n}")
    return k, n


def _log_binom_coef(n: int) -> np.ndarray:
    """log C(n, j) for j = 0..n."""
    j = np.arange(n + 1, dtype=np.float64)
    steps = np.log(n - j[:-1]) - np.log(j[1:])  # log C(n, j+1) - log C(n, j)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _upper_tail(log_c: np.ndarray, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), n = len(log_c) - 1, summed in log space."""
    n = len(log_c) - 1
    if k <= 0 or p >= 1.0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    j = np.arange(k, n + 1)
    log_pmf = log_c[k:] + j * math.log(p) + (n - j) * math.log1p(-p)
    top = log_pmf.max()
    return float(min(1.0, math.exp(top) * np.exp(log_pmf - top).sum()))


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """Root of a monotone increasing ``f`` on [lo, hi] to ~1e-15."""
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if f(mid) < 0.0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


def _clopper_pearson(k: int, n: int, alpha: float) -> tuple[float, float]:
    # lower: the p with P(X >= k | p) = alpha/2; upper: the p with P(X <= k | p) = alpha/2
    log_c = _log_binom_coef(n)
    lower = 0.0 if k == 0 else _bisect(lambda p: _upper_tail(log_c, k, p) - alpha / 2, 0.0, 1.0)
    upper = (
        1.0
        if k == n
        else _bisect(lambda p: alpha / 2 - (1.0 - _upper_tail(log_c, k + 1, p)), 0.0, 1.0)
    )
    return lower, upper


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion_ci(
    successes: int, total: int, method: str = "wilson", level: float = 0.95
) -> Estimate:
    """``successes / total`` with a Wilson (score) or Clopper-Pearson (exact) interval.

    ``total == 0`` gives NaN with a :class:`DegenerateMetricWarning` (e.g. sensitivity on a set
    without positives).
    """
    k, n = _check_counts(successes, total)
    level = check_level(level)
    if method not in PROPORTION_METHODS:
        raise ValueError(f"method must be one of {PROPORTION_METHODS}, got {method!r}")
    if n == 0:
        v = degenerate("a proportion of 0 cases is undefined; returning NaN")
        return Estimate(v, NAN, NAN, method, 0, level)
    if method == "wilson":
        lo, hi = _wilson(k, n, z_value(level))
    else:
        lo, hi = _clopper_pearson(k, n, 1.0 - level)
    return Estimate(k / n, lo, hi, method, n, level)


# ---- bootstrap ----------------------------------------------------------------------------------


def _group_index(groups: Sequence[Any], n: int) -> list[np.ndarray]:
    g = np.asarray(groups)
    if len(g) != n:
        raise ValueError(f"groups has {len(g)} entries but the arrays have {n} samples")
    _, inverse = np.unique(g, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    cuts = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, cuts)


def resample_indices(
    n: int,
    rng: np.random.Generator,
    *,
    stratify: np.ndarray | None = None,
    groups: Sequence[Any] | None = None,
) -> np.ndarray:
    """One bootstrap resample of ``range(n)``.

    - plain: ``n`` draws with replacement;
    - ``stratify``: within each stratum, as many draws as it has members;
    - ``groups``: draw whole groups with replacement (as many groups as there are), keeping all
      members of each drawn group; with ``stratify`` too, groups are drawn within the stratum of
      their first member (so a patient with a positive first image counts as positive).
    """
    if groups is None:
        if stratify is None:
            return rng.integers(0, n, n)
        strata = np.asarray(stratify)
        parts = []
        for value in np.unique(strata, axis=0):
            members = np.flatnonzero(np.all((strata == value).reshape(n, -1), axis=1))
            parts.append(members[rng.integers(0, len(members), len(members))])
        return np.concatenate(parts)
    blocks = _group_index(groups, n)
    if stratify is None:
        chosen = rng.integers(0, len(blocks), len(blocks))
        return np.concatenate([blocks[i] for i in chosen])
    strata = np.asarray(stratify)
    key = np.array([str(strata[b[0]]) for b in blocks])
    parts = []
    for value in np.unique(key):
        ids = np.flatnonzero(key == value)
        chosen = ids[rng.integers(0, len(ids), len(ids))]
        parts.extend(blocks[i] for i in chosen)
    return np.concatenate(parts)


def bootstrap_ci(
    metric_fn: Callable[..., Any],
    *arrays: Any,
    n_resamples: int = 2000,
    stratify: Any = None,
    groups: Sequence[Any] | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap interval of ``metric_fn(*arrays)``.

    Every array is resampled with the same row indices (see :func:`resample_indices` for
    ``stratify`` and ``groups``). ``metric_fn`` returns a float (or an :class:`Estimate`, whose
    value is used). Resamples where the metric is undefined (NaN, e.g. one class drawn) are left
    out; if more than half are, the interval is NaN with a warning. The value is the metric on
    the original data; the seed makes the interval reproducible.
    """
    if not callable(metric_fn):
        raise TypeError(f"metric_fn must be callable, got {metric_fn!r}")
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    level = check_level(level)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}")
    arrs = [np.asarray(a) for a in arrays]
    n = len(arrs[0])
    for i, a in enumerate(arrs[1:], 1):
        if len(a) != n:
            raise ValueError(f"array 0 has {n} samples but array {i} has {len(a)}")
    if stratify is not None:
        stratify = np.asarray(stratify)
        if len(stratify) != n:
            raise ValueError(f"stratify has {len(stratify)} entries but the arrays have {n}")
    value = float(metric_fn(*arrs))
    if n == 0:
        return Estimate(degenerate("no samples to bootstrap"), NAN, NAN, "bootstrap", 0, level)
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for r in range(n_resamples):
            idx = resample_indices(n, rng, stratify=stratify, groups=groups)
            stats[r] = float(metric_fn(*(a[idx] for a in arrs)))
    ok = stats[~np.isnan(stats)]
    if len(ok) < n_resamples / 2:
        degenerate(
            f"the metric was undefined in {n_resamples - len(ok)} of {n_resamples} bootstrap "
            f"resamples; no interval"
        )
        return Estimate(value, NAN, NAN, "bootstrap", n, level)
    alpha = 1.0 - level
    lo, hi = np.quantile(ok, [alpha / 2, 1 - alpha / 2])
    return Estimate(value, float(lo), float(hi), "bootstrap", n, level)
