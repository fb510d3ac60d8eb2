"""Split-conformal prediction sets for single-label classifiers: LAC, APS and RAPS, marginal or
class-conditional (Mondrian).

A :class:`ConformalClassifier` is fitted on held-out (validation) probabilities and labels and
then returns, for each new row, the set of classes whose nonconformity score is at most the
fitted quantile. If validation and test rows are exchangeable, the set holds the true class with
probability at least ``coverage`` (marginally over validation and test draws; per class for the
class-conditional variant).

**Scores** ``s(x, k)`` for class ``k`` of a row with probabilities ``p`` (classes ranked by
``p``, ties by index):

- ``"lac"`` (least ambiguous set-valued classifier, Sadinle et al. 2019): ``1 - p_k``.
- ``"aps"`` (adaptive prediction sets, Romano et al. 2020): the mass of the classes ranked
  above ``k`` plus ``u * p_k``; ``u = 1`` (deterministic) or uniform on [0, 1] when
  ``randomized`` (then coverage is exact in expectation, at the cost of sets that depend on the
  seed).
- ``"raps"`` (regularised APS, Angelopoulos et al. 2021): the APS score plus
  ``lam * max(0, rank_k - k_reg)`` (rank 1 = the top class): large sets are penalised.

**The quantile.** With ``n`` calibration scores, ``q`` is the ``ceil((n + 1)(1 - alpha))``-th
smallest, i.e. the empirical quantile at level ``(n + 1)(1 - alpha) / n``. When
``n < 1 / alpha - 1`` that rank exceeds ``n``: no finite quantile gives the guarantee, so ``q``
is infinite and every set is the whole label set (a warning says so). With continuous scores
(no ties) the marginal coverage lies in ``[1 - alpha, 1 - alpha + 1 / (n + 1))``.

Deterministic APS/RAPS always keep the top-ranked class (a set is never empty); this can only
raise coverage, so the lower bound holds and the upper bound may not.

**Multi-label tasks** are refused: per-label probabilities do not form one distribution over
the classes (rows must sum to 1); fit one binary classifier's sets per label instead.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .estimate import Estimate, check_level
from .intervals import proportion_ci

CONFORMAL_METHODS = ("lac", "aps", "raps")


# ---- inputs ---------------------------------------------------------------------------------


def check_probabilities(probs: Any, name: str = "probs") -> np.ndarray:
    """``probs`` as a float64 ``(N, K)`` array of class probabilities (rows sum to 1)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (N, K) with K >= 2 class probabilities, got {p.shape}; "
            "for a binary task pass [1 - p, p] (Task.class_columns)"
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"{name} must be finite probabilities in [0, 1]; check the model output")
    sums = p.sum(axis=1)
    if len(p) and np.abs(sums - 1.0).max() > 1e-3:
        raise ValueError(
            f"{name} rows must sum to 1 (one distribution over the classes); a row sums to "
            f"{sums[np.argmax(np.abs(sums - 1.0))]:.4f}. Prediction sets support single-label "
            "tasks (binary, multi-class, ordinal) only, not multi-label outputs"
        )
    return p


def check_labels(labels: Any, n: int, k: int, name: str = "labels") -> np.ndarray:
    """Integer class indices ``(N,)`` in ``[0, k)``."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{name} must have shape ({n},) to match the probabilities, got {y.shape}")
    if n and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k):
        raise ValueError(f"{name} must be class indices in [0, {k}), got values {np.unique(y)[:8]}")
    return y.astype(np.int64)


def check_coverage(coverage: Any) -> float:
    if isinstance(coverage, bool) or not isinstance(coverage, int | float):
        raise ValueError(f"coverage must be a number in (0, 1) such as 0.9, got {coverage!r}")
    return check_level(float(coverage))


# ---- the quantile and the scores ------------------------------------------------------------


def conformal_quantile(scores: Any, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest of ``scores``; ``inf`` when that rank
    exceeds ``n`` (fewer than ``1 / alpha - 1`` scores), with a warning."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(s)
    rank = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)  # guard 108.00000000000001
    if rank > n:
        warnings.warn(
            f"{n} calibration scores are too few for coverage {1 - alpha:g} (need at least "
            f"{math.ceil(1 / alpha - 1 - 1e-9)}): every set is the whole label set",
            UserWarning,
            stacklevel=2,
        )
        return math.inf
    return float(s[max(rank, 1) - 1])


def class_scores(
    probs: np.ndarray, method: str, *, lam: float = 0.01, k_reg: int = 1, u: Any = 1.0
) -> np.ndarray:
    """The nonconformity score of every class of every row, ``(N, K)`` (see the module)."""
    if method == "lac":
        return 1.0 - probs
    order = np.argsort(-probs, axis=1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=1)
    above = np.cumsum(ranked, axis=1) - ranked  # mass ranked strictly above each position
    u = np.asarray(u, dtype=np.float64).reshape(-1, 1) if np.ndim(u) else u
    score_ranked = above + u * ranked
    if method == "raps":
        rank = np.arange(1, probs.shape[1] + 1)
        score_ranked = score_ranked + lam * np.maximum(0, rank - k_reg)
    out = np.empty_like(probs)
    np.put_along_axis(out, order, score_ranked, axis=1)
    return out


# ---- the estimator --------------------------------------------------------------------------


class ConformalClassifier:
    """Split-conformal prediction sets (scikit-learn style: ``fit`` on validation, then
    :meth:`predict_sets`).

    Args:
        coverage: the target coverage ``1 - alpha`` (e.g. 0.9).
        method: ``"lac"``, ``"aps"`` or ``"raps"``.
        class_conditional: fit one quantile per true class (Mondrian): coverage holds within each
            class, which matters on imbalanced data where rare classes are under-covered.
        lam, k_reg: the RAPS penalty and the set size it starts above.
        randomized: APS/RAPS with a uniform ``u`` per row (exact coverage in expectation).
        seed: the seed of ``u`` (used only when ``randomized``).

    Fitted attributes: ``quantile_`` (marginal) or ``quantiles_`` (one per class; ``inf`` for
    a class with too few validation rows), ``n_`` and ``class_counts_``, ``num_classes_``.
    """

    def __init__(
        self,
        coverage: float = 0.9,
        method: str = "aps",
        class_conditional: bool = False,
        *,
        lam: float = 0.01,
        k_reg: int = 1,
        randomized: bool = False,
        seed: int = 0,
    ) -> None:
        self.coverage = coverage
        self.method = method
        self.class_conditional = class_conditional
        self.lam = lam
        self.k_reg = k_reg
        self.randomized = randomized
        self.seed = seed

    def _check_params(self) -> None:
        check_coverage(self.coverage)
        if self.method not in CONFORMAL_METHODS:
            raise ValueError(f"method must be one of {CONFORMAL_METHODS}, got {self.method!r}")
        if not isinstance(self.lam, int | float) or self.lam < 0:
            raise ValueError(f"lam must be a number >= 0, got {self.lam!r}")
        if isinstance(self.k_reg, bool) or not isinstance(self.k_reg, int) or self.k_reg < 0:
            raise ValueError(f"k_reg must be an int >= 0, got {self.k_reg!r}")

    def _scores(self, probs: np.ndarray, stream: int) -> np.ndarray:
        """Scores of every class; ``stream`` 0 (fit) and 1 (predict) draw independent ``u``."""
        u: Any = 1.0
        if self.randomized and self.method != "lac":
            u = np.random.default_rng([self.seed, stream]).uniform(size=len(probs))
        return class_scores(probs, self.method, lam=self.lam, k_reg=self.k_reg, u=u)

    def fit(self, probs: Any, labels: Any) -> ConformalClassifier:
        """Fit the quantile(s) on held-out ``probs`` ``(N, K)`` and true ``labels`` ``(N,)``."""
        self._check_params()
        p = check_probabilities(probs)
        y = check_labels(labels, len(p), p.shape[1])
        if len(p) == 0:
            raise ValueError("conformal sets need at least one calibration row, got 0")
        true_scores = self._scores(p, 0)[np.arange(len(p)), y]
        alpha = 1.0 - float(self.coverage)
        self.num_classes_ = p.shape[1]
        self.n_ = len(p)
        self.class_counts_ = np.bincount(y, minlength=p.shape[1])
        self.quantile_ = conformal_quantile(true_scores, alpha)
        self.quantiles_ = None
        if self.class_conditional:
            self.quantiles_ = np.array(
                [_class_quantile(true_scores[y == k], alpha, k) for k in range(p.shape[1])]
            )
        return self

    def thresholds(self) -> np.ndarray:
        """The fitted threshold of each class ``(K,)`` (all equal unless class-conditional)."""
        if not hasattr(self, "quantile_"):
            raise RuntimeError("call fit(probs, labels) on validation data first")
        if self.quantiles_ is not None:
            return np.asarray(self.quantiles_, dtype=np.float64)
        return np.full(self.num_classes_, self.quantile_)

    def predict_sets(self, probs: Any) -> np.ndarray:
        """``(N, K)`` bool: class ``k`` is in row ``i``'s set."""
        q = self.thresholds()
        p = check_probabilities(probs)
        if p.shape[1] != self.num_classes_:
            raise ValueError(
                f"probs have {p.shape[1]} classes, the sets were fitted on {self.num_classes_}"
            )
        sets = self._scores(p, 1) <= q[None, :]
        if self.method != "lac" and not self.randomized and len(p):
            sets[np.arange(len(p)), p.argmax(axis=1)] = True  # never empty (see the module)
        return sets

    def to_dict(self) -> dict[str, Any]:
        """The fitted rule as plain data (``inf`` as ``None``), for a bundle's metadata."""
        q = self.thresholds()
        return {
            "coverage": float(self.coverage),
            "method": self.method,
            "class_conditional": bool(self.class_conditional),
            "lam": float(self.lam),
            "k_reg": int(self.k_reg),
            "randomized": bool(self.randomized),
            "seed": int(self.seed),
            "thresholds": [None if math.isinf(v) else float(v) for v in q],
            "n": int(self.n_),
            "class_counts": [int(c) for c in self.class_counts_],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalClassifier:
        """A fitted rule from :meth:`to_dict`'s form (checked)."""
        try:
            rule = cls(
                data["coverage"],
                data["method"],
                bool(data["class_conditional"]),
                lam=data.get("lam", 0.01),
                k_reg=data.get("k_reg", 1),
                randomized=bool(data.get("randomized", False)),
                seed=int(data.get("seed", 0)),
            )
            q = np.array([math.inf if v is None else float(v) for v in data["thresholds"]])
            counts = np.asarray(data["class_counts"], dtype=np.int64)
            n = int(data["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored conformal rule ({exc!r}); refit it") from None
        rule._check_params()
        if len(q) < 2 or len(counts) != len(q) or np.isnan(q).any():
            raise ValueError("a stored conformal rule needs one threshold and count per class")
        rule.num_classes_, rule.n_, rule.class_counts_ = len(q), n, counts
        rule.quantile_ = float(q.max()) if rule.class_conditional else float(q[0])
        rule.quantiles_ = q if rule.class_conditional else None
        return rule


def _class_quantile(scores: np.ndarray, alpha: float, k: int) -> float:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = conformal_quantile(scores, alpha)
    if caught:
        warnings.warn(
            f"class {k} has {len(scores)} calibration rows, too few for its own quantile: it is "
            "in every set",
            UserWarning,
            stacklevel=3,
        )
    return q


# ---- what the sets achieve --------------------------------------------------------------------


def set_coverage(sets: Any, labels: Any, level: float = 0.95) -> Estimate:
    """The share of rows whose set holds the true class, with a Wilson interval."""
    s = np.asarray(sets, dtype=bool)
    y = check_labels(labels, len(s), s.shape[1] if s.ndim == 2 else 0)
    hit = int(s[np.arange(len(s)), y].sum()) if len(s) else 0
    return proportion_ci(hit, len(s), "wilson", level)


def coverage_by_class(
    sets: Any, labels: Any, classes: Any = None, level: float = 0.95
) -> list[dict[str, Any]]:
    """Per true class: coverage (Wilson interval), mean set size and ``n``."""
    s = np.asarray(sets, dtype=bool)
    y = check_labels(labels, len(s), s.shape[1] if s.ndim == 2 else 0)
    names = list(classes) if classes is not None else [str(k) for k in range(s.shape[1])]
    rows = []
    for k, name in enumerate(names):
        m = y == k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class absent from the split: NaN, said by n = 0
            cov = proportion_ci(int(s[m, k].sum()), int(m.sum()), "wilson", level)
        size = float(s[m].sum(axis=1).mean()) if m.any() else math.nan
        rows.append({"class": name, "coverage": cov, "mean_set_size": size, "n": int(m.sum())})
    return rows


def mean_set_size(sets: Any) -> float:
    s = np.asarray(sets, dtype=bool)
    return float(s.sum(axis=1).mean()) if len(s) else math.nan


def coverage_spread(n: int, coverage: float) -> dict[str, float]:
    """What one validation draw of ``n`` rows gives: the coverage conditional on the calibration
    set is Beta(r, n + 1 - r) with ``r = ceil((n + 1) coverage)`` (Vovk 2012; continuous
    scores), so its mean and standard deviation, and the central 90% range by the normal
    approximation. ``r > n`` (too few rows) gives coverage 1."""
    r = math.ceil((n + 1) * coverage - 1e-9)
    if r > n:
        return {"n": n, "mean": 1.0, "sd": 0.0, "low_05": 1.0, "high_95": 1.0}
    a, b = r, n + 1 - r
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "low_05": max(0.0, mean - 1.645 * sd),
        "high_95": min(1.0, mean + 1.645 * sd),
    }
