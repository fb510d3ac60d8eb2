"""Calibration: expected/maximum calibration error, Brier score, calibration slope and intercept,
reliability-diagram data, and temperature scaling.

**What is binned.** For binary scores ``(N,)`` (P(positive)) the bins are over P(positive) and
each bin compares its mean predicted probability with its fraction of positives. For multi-class
``(N, K)`` probabilities it is the *top-label* calibration error (Guo et al. 2017): the bins are
over the confidence ``max_k p_k`` and compare it with the accuracy of the argmax. The bin count
and scheme (``"uniform"``: equal-width bins on [0, 1], right-closed, the first one also holding
0; ``"quantile"``: edges at the quantiles of the confidences, so bins hold equal counts) are part
of every result, since ECE depends on them.

``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|``; ``MCE = max_b`` over non-empty bins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .estimate import (
    NAN,
    Estimate,
    as_binary_labels,
    as_scores,
    check_level,
    degenerate,
    record_dict,
)
from .intervals import bootstrap_ci

STRATEGIES = ("uniform", "quantile")


@dataclass(frozen=True)
class CalibrationResult:
    """ECE (or MCE) with the bins it was computed from (empty bins have count 0 and NaN means)."""

    value: float
    n_bins: int
    strategy: str
    bin_edges: tuple[float, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]
    count: tuple[int, ...]
    kind: str = "binary"
    n: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __float__(self) -> float:
        return float(self.value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": float(self.value),
            "n_bins": self.n_bins,
            "strategy": self.strategy,
            "kind": self.kind,
            "n": self.n,
            "bin_edges": list(self.bin_edges),
            "confidence": list(self.confidence),
            "accuracy": list(self.accuracy),
            "count": list(self.count),
        }


def _confidence_and_hit(y_true: Any, y_prob: Any) -> tuple[np.ndarray, np.ndarray, str]:
    y = np.asarray(y_true)
    p = as_scores(y_prob, y.shape[0] if y.ndim else -1, "y_prob")
    if p.ndim == 1:
        yb = as_binary_labels(y)
        if ((p < 0) | (p > 1)).any():
            raise ValueError("y_prob must be probabilities in [0, 1]; apply the sigmoid first")
        return p, yb.astype(np.float64), "binary"
    if p.ndim != 2 or y.ndim != 1:
        raise ValueError(
            f"need y_prob (N,) or (N, K) with y_true (N,), got {p.shape} and {y.shape}"
        )
    if ((p < 0) | (p > 1)).any() or not np.allclose(p.sum(1), 1.0, atol=1e-3):
        raise ValueError("multi-class y_prob rows must be probabilities summing to 1")
    return p.max(1), (p.argmax(1) == y).astype(np.float64), "top-label"


def _bins(
    conf: np.ndarray, hit: np.ndarray, n_bins: int, strategy: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive int, got {n_bins!r}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1)) if len(conf) else None
        if edges is None:
            edges = np.linspace(0.0, 1.0, n_bins + 1)
        edges[0], edges[-1] = 0.0, 1.0
    index = np.searchsorted(edges[1:-1], conf, side="left")  # (e_b, e_b+1] -> b; 0 -> bin 0
    count = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / count
        mean_hit = np.bincount(index, weights=hit, minlength=n_bins) / count
    return edges, mean_conf, mean_hit, count


def _result(y_true, y_prob, n_bins, strategy, reduce: str) -> CalibrationResult:
    conf, hit, kind = _confidence_and_hit(y_true, y_prob)
    edges, mc, mh, count = _bins(conf, hit, n_bins, strategy)
    gaps = np.abs(mh - mc)
    if len(conf) == 0:
        value = degenerate("calibration error of no samples is undefined; NaN", 4)
    elif reduce == "ece":
        value = float(np.nansum(gaps * count) / count.sum())
    else:
        value = float(np.nanmax(gaps))
    return CalibrationResult(
        value=value,
        n_bins=n_bins,
        strategy=strategy,
        bin_edges=tuple(map(float, edges)),
        confidence=tuple(map(float, mc)),
        accuracy=tuple(map(float, mh)),
        count=tuple(map(int, count)),
        kind=kind,
        n=len(conf),
    )


def expected_calibration_error(
    y_true: Any, y_prob: Any, n_bins: int = 15, strategy: str = "uniform"
) -> CalibrationResult:
    """ECE: the count-weighted mean gap between accuracy and confidence over bins."""
    return _result(y_true, y_prob, n_bins, strategy, "ece")


def maximum_calibration_error(
    y_true: Any, y_prob: Any, n_bins: int = 15, strategy: str = "uniform"
) -> CalibrationResult:
    """MCE: the largest gap between accuracy and confidence over non-empty bins."""
    return _result(y_true, y_prob, n_bins, strategy, "mce")


def reliability_diagram(
    y_true: Any, y_prob: Any, n_bins: int = 15, strategy: str = "uniform"
) -> dict[str, Any]:
    """Data for a reliability diagram: ``bin_edges``, per-bin mean ``confidence``, ``accuracy``
    (observed frequency) and ``count``, plus the ECE, bin count and scheme."""
    res = expected_calibration_error(y_true, y_prob, n_bins, strategy)
    return res.as_dict()


def _squared_errors(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    if p.ndim == 1:
        return (p - y) ** 2
    one_hot = y[:, None] == np.arange(p.shape[1])[None, :]
    return ((p - one_hot) ** 2).sum(1)


def brier_score(
    y_true: Any,
    y_prob: Any,
    *,
    ci: str | None = "bootstrap",
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Mean squared error of the probabilities: binary ``mean((p - y)^2)``; multi-class
    ``mean_i sum_k (p_ik - [y_i = k])^2`` (the squared error over the one-hot, Brier's
    original form, in [0, 2]). Interval: percentile bootstrap of the mean."""
    y = np.asarray(y_true)
    p = as_scores(y_prob, y.shape[0] if y.ndim else -1, "y_prob")
    if p.ndim == 1:
        y = as_binary_labels(y).astype(np.float64)
    elif p.ndim != 2 or y.ndim != 1 or (len(y) and (y.min() < 0 or y.max() >= p.shape[1])):
        raise ValueError(f"need y_true ints in 0..K-1 (N,) with y_prob (N, K), got {p.shape}")
    level = check_level(level)
    if len(y) == 0:
        return Estimate(degenerate("Brier score of no samples"), NAN, NAN, "none", 0, level)
    errors = _squared_errors(y, p)
    value = float(errors.mean())
    if ci is None:
        return Estimate(value, NAN, NAN, "none", len(y), level)
    if ci != "bootstrap":
        raise ValueError(f"ci must be 'bootstrap' or None for the Brier score, got {ci!r}")
    return bootstrap_ci(np.mean, errors, n_resamples=n_resamples, level=level, seed=seed)


# ---- logistic recalibration ---------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationFit:
    """``logit(P(y=1)) = intercept + slope * logit(p)`` fitted by maximum likelihood; a well
    calibrated model has slope 1 and intercept 0 (slope < 1: predictions too extreme)."""

    slope: float
    intercept: float
    n: int
    converged: bool

    def as_dict(self) -> dict[str, Any]:
        return record_dict(self)


def _logit(p: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    q = np.clip(p, eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


def calibration_slope_intercept(
    y_true: Any, y_prob: Any, *, max_iter: int = 50, tol: float = 1e-10
) -> CalibrationFit:
    """Calibration slope and intercept (Cox 1958): logistic regression of the binary outcome
    on the logit of the predicted probability, fitted jointly with Newton-Raphson (two
    parameters, so each step solves a 2 x 2 system). Probabilities are clipped to
    [1e-6, 1 - 1e-6] before the logit. NaN with a warning when one class is missing;
    ``converged=False`` when the outcome is perfectly separated by the score."""
    y = as_binary_labels(y_true).astype(np.float64)
    p = as_scores(y_prob, len(y), "y_prob")
    if p.ndim != 1:
        raise ValueError("calibration slope needs binary probabilities of shape (N,)")
    if len(y) == 0 or y.min() == y.max():
        degenerate("calibration slope needs both classes; NaN")
        return CalibrationFit(NAN, NAN, len(y), False)
    x = np.column_stack([np.ones(len(y)), _logit(p)])
    beta = np.array([0.0, 1.0])
    converged = False
    for _ in range(max_iter):
        eta = np.clip(x @ beta, -35, 35)
        mu = 1.0 / (1.0 + np.exp(-eta))
        grad = x.T @ (y - mu)
        hess = (x * (mu * (1 - mu))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if np.abs(step).max() < tol:
            converged = True
            break
    return CalibrationFit(float(beta[1]), float(beta[0]), len(y), converged)


# ---- temperature scaling ------------------------------------------------------------------------


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def _log_sigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


class TemperatureScaler:
    """Temperature scaling (Guo et al. 2017): divide the logits by one ``T > 0`` fitted to
    minimise the negative log-likelihood on tuning data. It changes confidence, never the
    ranking, so AUC is unchanged.

    ``link``: ``"softmax"`` (multi-class logits ``(N, K)``, ``y`` ints), ``"sigmoid"`` (binary
    logits ``(N,)`` or ``(N, 1)``, or multi-label ``(N, K)`` with 0/1 ``y``), or a callable that
    maps scaled logits to ``(N, K)`` class probabilities (e.g. an ordinal task's decode), in
    which case ``y`` are class indices. ``T`` is found by golden-section search on ``log T`` in
    [log 0.05, log 20]. Estimator rules: ``fit`` returns ``self`` and sets ``temperature_``.
    """

    def __init__(self, link: str | Callable[[np.ndarray], np.ndarray] = "softmax") -> None:
        self.link = link

    def _nll(self, z: np.ndarray, y: np.ndarray, t: float) -> float:
        if callable(self.link):
            p = np.asarray(self.link(z / t), dtype=np.float64)
            return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0)).mean())
        if self.link == "softmax":
            return float(-_log_softmax(z / t)[np.arange(len(y)), y].mean())
        s = z / t
        return float(-(y * _log_sigmoid(s) + (1 - y) * _log_sigmoid(-s)).mean())

    def fit(self, logits: Any, y: Any) -> TemperatureScaler:
        if not (callable(self.link) or self.link in ("softmax", "sigmoid")):
            raise ValueError(f"link must be 'softmax', 'sigmoid' or a callable, got {self.link!r}")
        yy = np.asarray(y)
        z = as_scores(logits, len(yy), "logits")
        if len(yy) == 0:
            raise ValueError("TemperatureScaler.fit needs at least one sample")
        if self.link == "sigmoid":
            if z.ndim == 2 and z.shape[1] == 1 and yy.ndim == 1:
                z = z[:, 0]
            if z.shape != yy.shape:
                raise ValueError(f"sigmoid logits {z.shape} and labels {yy.shape} differ")
            yy = yy.astype(np.float64)
        else:
            if z.ndim != 2 or yy.ndim != 1:
                raise ValueError(f"need logits (N, K) and labels (N,), got {z.shape}, {yy.shape}")
            yy = yy.astype(np.int64)
        lo, hi = math.log(0.05), math.log(20.0)
        ratio = (math.sqrt(5) - 1) / 2
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fa, fb = self._nll(z, yy, math.exp(a)), self._nll(z, yy, math.exp(b))
        for _ in range(80):
            if fa <= fb:
                hi, b, fb = b, a, fa
                a = hi - ratio * (hi - lo)
                fa = self._nll(z, yy, math.exp(a))
            else:
                lo, a, fa = a, b, fb
                b = lo + ratio * (hi - lo)
                fb = self._nll(z, yy, math.exp(b))
        self.temperature_ = float(math.exp((lo + hi) / 2))
        self.nll_before_ = self._nll(z, yy, 1.0)
        self.nll_after_ = self._nll(z, yy, self.temperature_)
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """The logits divided by the fitted temperature (a new array)."""
        if not hasattr(self, "temperature_"):
            raise ValueError("TemperatureScaler is not fitted; call fit(logits, y) on val first")
        return np.asarray(logits, dtype=np.float64) / self.temperature_
