"""Selective prediction: how the error rate falls when the model may abstain on its least
confident cases, and an abstain rule fitted on validation.

- :func:`risk_coverage_curve`: keep the cases with confidence ``>= t`` for every distinct ``t``
  (highest first): coverage = kept share, risk = error rate among the kept.
- :func:`aurc`: the area under that curve, ``(1/n) * sum_i risk(i)`` where ``risk(i)`` is the
  risk at the threshold that first keeps case ``i`` (cases tied in confidence enter together).
  Without ties this is Geifman et al. (2019)'s AURC. **E-AURC** subtracts the AURC of an
  oracle that ranks every error last (same accuracy), so it measures the ranking only.
- :func:`accuracy_at_coverage`: the accuracy of the ``ceil(coverage * n)`` most confident
  cases (ties broken by row order), with a Wilson interval.
- :class:`AbstainRule`: the lowest confidence threshold whose kept validation cases reach a
  target accuracy (``target_risk = 1 - target_accuracy``); applied unchanged to new cases. It is
  a plug-in rule: on new data the accuracy of the kept cases is near the target, not guaranteed.

Confidence scores come from :func:`confidence_scores`: the top probability (softmax
response), the ensemble mean's top probability, or minus the prediction set's size.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .estimate import Estimate, as_scores
from .intervals import proportion_ci

CONFIDENCE_KINDS = ("softmax", "ensemble", "set_size")


def _check(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    ok = np.asarray(correct)
    if ok.ndim != 1:
        raise ValueError(f"correct must have shape (N,), got {ok.shape}")
    if ok.dtype != bool:
        if not np.isin(np.unique(ok), (0, 1)).all():
            raise ValueError("correct must hold 0/1 or bool (was each decision right?)")
        ok = ok.astype(bool)
    return as_scores(confidence, len(ok), "confidence"), ok


def confidence_scores(probs: Any, kind: str = "softmax", sets: Any = None) -> np.ndarray:
    """Higher = more confident. ``"softmax"``: max over classes of ``probs`` ``(N, K)``;
    ``"ensemble"``: ``probs`` is ``(M, N, K)``, one row per member: the max of their mean;
    ``"set_size"``: minus the size of each prediction set (``sets`` ``(N, K)`` bool)."""
    if kind not in CONFIDENCE_KINDS:
        raise ValueError(f"kind must be one of {CONFIDENCE_KINDS}, got {kind!r}")
    if kind == "set_size":
        if sets is None:
            raise ValueError("kind='set_size' needs the prediction sets (sets=...)")
        return -np.asarray(sets, dtype=bool).sum(axis=1).astype(np.float64)
    p = np.asarray(probs, dtype=np.float64)
    want = 3 if kind == "ensemble" else 2
    if p.ndim != want:
        shape = "(M members, N, K)" if kind == "ensemble" else "(N, K)"
        raise ValueError(f"{kind} confidence needs probabilities of shape {shape}, got {p.shape}")
    if kind == "ensemble":
        p = p.mean(axis=0)
    return p.max(axis=1)


def risk_coverage_curve(confidence: Any, correct: Any) -> dict[str, np.ndarray]:
    """``coverage``, ``risk`` and ``threshold`` at each distinct confidence, highest first."""
    c, ok = _check(confidence, correct)
    if len(c) == 0:
        empty = np.zeros(0)
        return {"coverage": empty, "risk": empty, "threshold": empty}
    order = np.argsort(-c, kind="stable")
    c_sorted, err = c[order], ~ok[order]
    last = np.r_[np.flatnonzero(np.diff(c_sorted) != 0), len(c) - 1]  # end of each tie group
    kept = last + 1
    errors = np.cumsum(err)[last]
    return {"coverage": kept / len(c), "risk": errors / kept, "threshold": c_sorted[last]}


def aurc(confidence: Any, correct: Any) -> float:
    """Area under the risk-coverage curve (see the module); NaN for no cases."""
    curve = risk_coverage_curve(confidence, correct)
    if len(curve["coverage"]) == 0:
        return math.nan
    widths = np.diff(np.r_[0.0, curve["coverage"]])
    return float(np.sum(widths * curve["risk"]))


def optimal_aurc(n: int, n_errors: int) -> float:
    """The AURC of a perfect ranking: the ``n - n_errors`` right cases first."""
    if n == 0:
        return math.nan
    k = np.arange(1, n + 1)
    return float(np.mean(np.maximum(0, k - (n - n_errors)) / k))


def excess_aurc(confidence: Any, correct: Any) -> float:
    """E-AURC: AURC minus the oracle's AURC at the same accuracy."""
    c, ok = _check(confidence, correct)
    return aurc(c, ok) - optimal_aurc(len(ok), int((~ok).sum()))


def accuracy_at_coverage(
    confidence: Any, correct: Any, coverage: float = 0.5, level: float = 0.95
) -> Estimate:
    """Accuracy of the ``ceil(coverage * n)`` most confident cases, Wilson interval."""
    c, ok = _check(confidence, correct)
    if isinstance(coverage, bool) or not 0.0 < float(coverage) <= 1.0:
        raise ValueError(f"coverage must be in (0, 1], got {coverage!r}")
    k = math.ceil(float(coverage) * len(c) - 1e-9)
    kept = np.argsort(-c, kind="stable")[:k]
    return proportion_ci(int(ok[kept].sum()), int(k), "wilson", level)


class AbstainRule:
    """Abstain below a confidence threshold fitted on validation to reach a target accuracy.

    Args:
        target_accuracy: the accuracy the kept validation cases must reach (e.g. 0.9).
        target_risk: or the error rate they may not exceed (``1 - target_accuracy``).

    Fitted: ``threshold_`` (keep a case when its confidence ``>= threshold_``; ``inf`` when no
    threshold reaches the target: abstain on everything, with a warning), ``val_coverage_``,
    ``val_accuracy_``, ``n_``.
    """

    def __init__(self, target_accuracy: float | None = None, target_risk: float | None = None):
        self.target_accuracy = target_accuracy
        self.target_risk = target_risk

    def _target(self) -> float:
        if (self.target_accuracy is None) == (self.target_risk is None):
            raise ValueError("give exactly one of target_accuracy or target_risk")
        t = self.target_accuracy if self.target_risk is None else 1.0 - self.target_risk
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 < float(t) <= 1.0:
            raise ValueError(f"the target must be an accuracy/risk in (0, 1], got {t!r}")
        return float(t)

    def fit(self, confidence: Any, correct: Any) -> AbstainRule:
        """The lowest threshold (the most cases kept) whose kept cases reach the target."""
        target = self._target()
        curve = risk_coverage_curve(confidence, correct)
        good = np.flatnonzero(1.0 - curve["risk"] >= target - 1e-12)
        self.n_ = len(np.asarray(correct))
        if len(good) == 0:
            warnings.warn(
                f"no confidence threshold reaches accuracy {target:g} on the {self.n_} "
                "validation cases: the rule abstains on every case",
                UserWarning,
                stacklevel=2,
            )
            self.threshold_, self.val_coverage_, self.val_accuracy_ = math.inf, 0.0, math.nan
            return self
        i = good[-1]
        self.threshold_ = float(curve["threshold"][i])
        self.val_coverage_ = float(curve["coverage"][i])
        self.val_accuracy_ = float(1.0 - curve["risk"][i])
        return self

    def abstain(self, confidence: Any) -> np.ndarray:
        """``(N,)`` bool: True where the rule abstains (confidence below the threshold)."""
        if not hasattr(self, "threshold_"):
            raise RuntimeError("call fit(confidence, correct) on validation data first")
        c = np.asarray(confidence, dtype=np.float64)
        if c.ndim != 1 or not np.isfinite(c).all():
            raise ValueError("confidence must be a finite (N,) array")
        return c < self.threshold_

    def to_dict(self) -> dict[str, Any]:
        self.abstain(np.zeros(0))  # fitted?
        return {
            "target_accuracy": self._target(),
            "threshold": None if math.isinf(self.threshold_) else self.threshold_,
            "val_coverage": self.val_coverage_,
            "val_accuracy": None if math.isnan(self.val_accuracy_) else self.val_accuracy_,
            "n": self.n_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbstainRule:
        try:
            rule = cls(target_accuracy=float(data["target_accuracy"]))
            t = data["threshold"]
            rule.threshold_ = math.inf if t is None else float(t)
            rule.val_coverage_ = float(data["val_coverage"])
            acc = data.get("val_accuracy")
            rule.val_accuracy_ = math.nan if acc is None else float(acc)
            rule.n_ = int(data["n"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored abstain rule ({exc!r}); refit it") from None
        rule._target()
        return rule
