"""Operating points: thresholds fitted on the tuning (validation) split, applied unchanged to test.

A case is called positive when its score is ``>= threshold``. Candidate thresholds are the
distinct validation scores. Rules (``fit(y_val, score_val)``):

- ``"sensitivity"``, target ``t``: the **largest** threshold whose validation sensitivity is
  ``>= t`` (the most specific point that still reaches the target sensitivity);
- ``"specificity"``, target ``t``: the **smallest** threshold whose validation specificity is
  ``>= t`` (the most sensitive point that still reaches the target specificity);
- ``"youden"``: the threshold maximising ``sensitivity + specificity - 1`` on validation (ties:
  the largest such threshold);
- ``"accuracy"``: the threshold maximising validation accuracy at the validation prevalence
  (ties: the one nearest 0.5, the conventional cut), for a test set drawn like validation;
- ``"fixed"``: the ``threshold`` given (nothing is fitted).

``apply(y, score)`` never changes ``threshold_``: it reports sensitivity, specificity, PPV and
NPV at the fitted threshold with Wilson (or Clopper-Pearson) intervals. Gulshan et al. (2016)
report a high-sensitivity and a high-specificity point chosen on the development set;
:meth:`OperatingPoints.default` builds that pair (targets are parameters).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics import npv, ppv, roc_curve, sensitivity, specificity
from ..metrics.estimate import Estimate, as_binary_labels, as_scores

RULES = ("sensitivity", "specificity", "youden", "accuracy", "fixed")


class OperatingPoint:
    """One decision threshold, chosen by ``rule`` on tuning data (see the module docstring)."""

    def __init__(
        self,
        rule: str = "youden",
        target: float | None = None,
        threshold: float | None = None,
        name: str | None = None,
    ) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if rule in ("sensitivity", "specificity"):
            if target is None or not isinstance(target, int | float) or not 0 < target <= 1:
                raise ValueError(f"rule {rule!r} needs a target in (0, 1], got {target!r}")
        elif target is not None:
            raise ValueError(f"rule {rule!r} takes no target (got {target!r})")
        if rule == "fixed":
            if threshold is None or not math.isfinite(float(threshold)):
                raise ValueError("rule 'fixed' needs a finite threshold")
        elif threshold is not None:
            raise ValueError(f"rule {rule!r} fits its threshold; pass threshold only with 'fixed'")
        self.rule = rule
        self.target = None if target is None else float(target)
        self.threshold = None if threshold is None else float(threshold)
        self.name = name or self._default_name()

    def _default_name(self) -> str:
        if self.rule in ("sensitivity", "specificity"):
            return f"{self.rule} >= {self.target:.2f}"
        if self.rule == "fixed":
            return f"threshold {self.threshold:g}"
        return "max accuracy" if self.rule == "accuracy" else "youden"

    def __repr__(self) -> str:
        fitted = f", threshold_={self.threshold_:.6g}" if hasattr(self, "threshold_") else ""
        return (
            f"OperatingPoint(rule={self.rule!r}, target={self.target}, name={self.name!r}{fitted})"
        )

    def fit(self, y_val: Any, score_val: Any) -> OperatingPoint:
        """Choose ``threshold_`` on tuning data; returns ``self``."""
        if self.rule == "fixed":
            self.threshold_ = float(self.threshold)
            self.fitted_on_n_ = 0
            return self
        y = as_binary_labels(y_val, "y_val")
        s = as_scores(score_val, len(y), "score_val")
        if s.ndim != 1:
            raise ValueError(f"operating points need binary scores (N,), got {s.shape}")
        if y.all() or not y.any():
            raise ValueError(
                "the tuning data hold only one class; an operating point needs positives and "
                "negatives to be fitted"
            )
        fpr, tpr, thr = roc_curve(y, s)
        fpr, tpr, thr = fpr[1:], tpr[1:], thr[1:]  # drop the (0, 0) point at +inf
        if self.rule == "sensitivity":
            i = int(np.flatnonzero(tpr >= self.target - 1e-12)[0])  # thresholds descend
        elif self.rule == "specificity":
            reached = np.flatnonzero(1.0 - fpr >= self.target - 1e-12)
            if not len(reached):
                raise ValueError(
                    f"no threshold on the tuning scores reaches specificity {self.target:g} "
                    f"(they take {len(np.unique(s))} distinct value(s)); this operating point "
                    f"cannot be fitted"
                )
            i = int(reached[-1])
        elif self.rule == "accuracy":
            positives = int(y.sum())
            correct = tpr * positives + (1.0 - fpr) * (len(y) - positives)
            best = np.flatnonzero(correct >= correct.max() - 1e-9)
            i = int(best[np.argmin(np.abs(thr[best] - 0.5))])
        else:
            j = tpr - fpr
            i = int(np.flatnonzero(j >= j.max() - 1e-12)[0])
        self.threshold_ = float(thr[i])
        self.fitted_on_n_ = len(y)
        return self

    def predict(self, score: Any) -> np.ndarray:
        """``score >= threshold_`` as a bool array."""
        self._check_fitted()
        s = np.asarray(score, dtype=np.float64)
        return s >= self.threshold_

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise ValueError(f"operating point {self.name!r} is not fitted; call fit on val first")

    def apply(
        self, y: Any, score: Any, *, ci: str = "wilson", level: float = 0.95
    ) -> dict[str, Estimate]:
        """Sensitivity, specificity, PPV and NPV of ``score >= threshold_`` against ``y``."""
        self._check_fitted()
        yy = as_binary_labels(y)
        s = as_scores(score, len(yy))
        pred = s >= self.threshold_
        kw = {"ci": ci, "level": level}
        return {
            "sensitivity": sensitivity(yy, pred, **kw),
            "specificity": specificity(yy, pred, **kw),
            "ppv": ppv(yy, pred, **kw),
            "npv": npv(yy, pred, **kw),
        }

    def to_dict(self) -> dict[str, Any]:
        """Name, rule, target and fitted threshold (the spec and its result)."""
        return {
            "name": self.name,
            "rule": self.rule,
            "target": self.target,
            "threshold": getattr(self, "threshold_", self.threshold),
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> OperatingPoint:
        """From ``{"rule": ..., "target": ..., "threshold": ..., "name": ...}``."""
        if not isinstance(spec, Mapping) or "rule" not in spec:
            raise ValueError(f"an operating point spec needs a 'rule', got {spec!r}")
        unknown = sorted(set(spec) - {"rule", "target", "threshold", "name"})
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in operating point {dict(spec)}")
        return cls(spec["rule"], spec.get("target"), spec.get("threshold"), spec.get("name"))


class OperatingPoints:
    """Several operating points fitted on the same tuning data (``fit`` returns ``self``)."""

    def __init__(self, points: Iterable[OperatingPoint | Mapping[str, Any]]) -> None:
        self.points = [
            p if isinstance(p, OperatingPoint) else OperatingPoint.from_dict(p) for p in points
        ]
        names = [p.name for p in self.points]
        if len(set(names)) != len(names):
            raise ValueError(f"operating point names must be unique, got {names}")

    @classmethod
    def default(
        cls, sensitivity: float | None = 0.90, specificity: float | None = 0.90
    ) -> OperatingPoints:
        """Gulshan-style pair: a high-sensitivity and a high-specificity point (either may be
        ``None`` to leave it out)."""
        points = []
        if sensitivity is not None:
            points.append(OperatingPoint("sensitivity", sensitivity, name="high sensitivity"))
        if specificity is not None:
            points.append(OperatingPoint("specificity", specificity, name="high specificity"))
        return cls(points)

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def fit(self, y_val: Any, score_val: Any) -> OperatingPoints:
        for p in self.points:
            p.fit(y_val, score_val)
        return self

    def apply(
        self, y: Any, score: Any, *, ci: str = "wilson", level: float = 0.95
    ) -> list[dict[str, Any]]:
        """One dict per point: its spec, ``threshold``, ``fitted_on`` and the four Estimates."""
        return [
            {**p.to_dict(), "fitted_on": "val", **p.apply(y, score, ci=ci, level=level)}
            for p in self.points
        ]


def parse_points(specs: Sequence[Mapping[str, Any]]) -> OperatingPoints:
    """Operating points from a JSON list of ``{rule, target, threshold, name}``."""
    if not isinstance(specs, Sequence) or isinstance(specs, str | bytes):
        raise ValueError(f"operating points must be a list of objects, got {type(specs).__name__}")
    return OperatingPoints(specs)
