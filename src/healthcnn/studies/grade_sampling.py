"""Grade sampling, SIMULATED: how the number of graders per tuning image changes what we measure.

Gulshan et al. (JAMA 2016) found that more grades per image in the tuning set improved
performance. Our data carry one grade per image, so this module *simulates* k graders per
image. Everything it produces is labelled a simulation.

**Disagreement model** (:class:`GraderModel`). A grader shown an image of true grade g reports
g with probability ``1 - p_error``; otherwise an adjacent grade (g - 1 or g + 1, equally likely;
the only neighbour at the ends of the scale) with probability ``p_error * (1 - p_far)``, or a grade
two steps away with probability ``p_error * p_far``. Graders err independently. Confusion
concentrated on neighbouring grades is what reading studies of the 5-point international DR scale
report (most disagreements are none/mild or mild/moderate). The default calibrates ``p_error`` so
that one grader's expected quadratic-weighted kappa against the true grade is **0.80**, the
lower end of the range reported for individual ophthalmologists against an adjudicated reference
(approximately 0.80-0.84; Krause et al., Ophthalmology 2018), on the grade distribution of the
data at hand (:meth:`GraderModel.for_kappa`). The exact-agreement rate that implies is reported
next to it.

**Experiment** (:func:`simulate_grade_sampling`). The tuning labels are treated as the true
grades. For each k (1, 3, 5, ...) and each of ``replicates`` draws, k graders grade every tuning
image and their median grade becomes the reference. With that reference we (a) measure the
model's tuning-set referable AUC and (b) fit both operating points on the tuning set, then apply
the thresholds to the real test labels. The spread of thresholds and of test sensitivity /
specificity across draws is the operating points' (in)stability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation import OperatingPoint
from ..metrics import roc_auc
from .grading import REFERABLE_FROM

#: per-grader quadratic-weighted kappa vs the true grade (approx.; Krause et al. 2018)
DEFAULT_KAPPA = 0.80
SIMULATION_LABEL = "SIMULATION (k graders per image drawn from a stated disagreement model)"


def weighted_kappa_from_joint(joint: np.ndarray) -> float:
    """Quadratic-weighted kappa of a joint distribution ``P(rater A = i, rater B = j)``."""
    p = np.asarray(joint, dtype=np.float64)
    p = p / p.sum()
    k = p.shape[0]
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    denom = (w * expected).sum()
    return float(1.0 - (w * p).sum() / denom) if denom > 0 else float("nan")


@dataclass(frozen=True)
class GraderModel:
    """Adjacent-grade disagreement (see the module docstring)."""

    p_error: float
    p_far: float = 0.1
    num_grades: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.p_error < 1:
            raise ValueError(f"p_error must be in [0, 1), got {self.p_error}")
        if not 0 <= self.p_far <= 1:
            raise ValueError(f"p_far must be in [0, 1], got {self.p_far}")
        if self.num_grades < 3:
            raise ValueError(f"num_grades must be >= 3, got {self.num_grades}")

    def transition(self) -> np.ndarray:
        """``T[g, r] = P(grader reports r | true grade g)``; rows sum to 1."""
        k = self.num_grades
        t = np.zeros((k, k))
        for g in range(k):
            t[g, g] = 1.0 - self.p_error
            for step, mass in ((1, 1.0 - self.p_far), (2, self.p_far)):
                targets = [r for r in (g - step, g + step) if 0 <= r < k]
                if not targets:  # e.g. 2 steps from the middle of a 3-grade scale
                    targets = [r for r in (g - 1, g + 1) if 0 <= r < k]
                for r in targets:
                    t[g, r] += self.p_error * mass / len(targets)
        return t

    def expected_kappa(self, prior: Sequence[float]) -> float:
        """Quadratic-weighted kappa of one grader vs the truth, for true-grade ``prior``."""
        p = np.asarray(prior, dtype=np.float64)
        return weighted_kappa_from_joint(p[:, None] * self.transition())

    def expected_agreement(self, prior: Sequence[float]) -> float:
        """P(grader = true grade) (equals ``1 - p_error``; independent of the prior)."""
        p = np.asarray(prior, dtype=np.float64)
        return float((p / p.sum()) @ np.diag(self.transition()))

    @classmethod
    def for_kappa(cls, target: float, prior: Sequence[float], p_far: float = 0.1) -> GraderModel:
        """The model whose expected kappa vs the truth equals ``target`` on ``prior``."""
        if not 0 < target < 1:
            raise ValueError(f"target kappa must be in (0, 1), got {target}")
        prior = np.asarray(prior, dtype=np.float64)
        lo, hi = 0.0, 0.999
        if cls(hi, p_far, len(prior)).expected_kappa(prior) > target:
            raise ValueError(
                f"even p_error={hi} keeps kappa above {target} on this grade distribution"
            )
        for _ in range(60):  # kappa decreases monotonically in p_error
            mid = (lo + hi) / 2
            if cls(mid, p_far, len(prior)).expected_kappa(prior) > target:
                lo = mid
            else:
                hi = mid
        return cls((lo + hi) / 2, p_far, len(prior))

    def simulate(self, true_grades: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """``(N, k)`` simulated grades for true grades ``(N,)``."""
        g = np.asarray(true_grades, dtype=np.int64)
        if g.min() < 0 or g.max() >= self.num_grades:
            raise ValueError(f"true grades must lie in 0..{self.num_grades - 1}")
        cum = np.cumsum(self.transition(), axis=1)
        u = rng.random((len(g), k))
        out = (u[:, :, None] > cum[g][:, None, :]).sum(axis=2)
        return np.minimum(out, self.num_grades - 1)

    def to_dict(self, prior: Sequence[float] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "p_error": self.p_error,
            "p_far": self.p_far,
            "num_grades": self.num_grades,
            "exact_agreement_with_truth": 1.0 - self.p_error,
        }
        if prior is not None:
            data["expected_weighted_kappa_vs_truth"] = self.expected_kappa(prior)
        return data


def median_reference(grades: np.ndarray) -> np.ndarray:
    """Per-row median of ``(N, k)`` grades; with even k, the higher middle value (the
    conservative choice for screening)."""
    s = np.sort(np.asarray(grades), axis=1)
    return s[:, s.shape[1] // 2]


def _sd(values: list[float]) -> float:
    v = [x for x in values if math.isfinite(x)]
    return float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def simulate_grade_sampling(
    val_grades: np.ndarray,
    val_scores: np.ndarray,
    test_labels: np.ndarray,
    test_scores: np.ndarray,
    *,
    ks: Sequence[int] = (1, 3, 5, 7),
    replicates: int = 50,
    targets: dict[str, tuple[str, float]] | None = None,
    model: GraderModel | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the grade-sampling simulation (see the module docstring); a JSON-ready dict.

    ``val_scores``/``test_scores`` are referable scores ``(N,)``; ``test_labels`` real 0/1
    referable labels. ``targets`` maps an operating-point name to ``(rule, target)``.
    """
    val_grades = np.asarray(val_grades, dtype=np.int64)
    num = int(max(val_grades.max() + 1, 5))
    prior = np.bincount(val_grades, minlength=num) / len(val_grades)
    model = model or GraderModel.for_kappa(DEFAULT_KAPPA, prior)
    targets = targets or {
        "high_sensitivity": ("sensitivity", 0.90),
        "high_specificity": ("specificity", 0.90),
    }
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        if k < 1:
            raise ValueError(f"every k must be >= 1, got {k}")
        aucs, ref_err = [], []
        per_point: dict[str, dict[str, list[float]]] = {
            n: {"threshold": [], "test_sensitivity": [], "test_specificity": []} for n in targets
        }
        kappas = []
        for _ in range(replicates):
            grades = model.simulate(val_grades, k, rng)
            ref = median_reference(grades)
            kappas.append(weighted_kappa_from_joint(_joint(val_grades, grades[:, 0], num)))
            y = (ref >= REFERABLE_FROM).astype(np.int64)
            ref_err.append(float(np.mean(y != (val_grades >= REFERABLE_FROM))))
            if y.all() or not y.any():
                continue
            aucs.append(float(roc_auc(y, val_scores, ci=None)))
            for name, (rule, target) in targets.items():
                op = OperatingPoint(rule, target).fit(y, val_scores)
                res = op.apply(test_labels, test_scores)
                per_point[name]["threshold"].append(op.threshold_)
                per_point[name]["test_sensitivity"].append(float(res["sensitivity"]))
                per_point[name]["test_specificity"].append(float(res["specificity"]))
        rows.append(
            {
                "k": k,
                "replicates": replicates,
                "reference_referable_error_rate": float(np.mean(ref_err)),
                "first_grader_weighted_kappa_vs_truth": float(np.mean(kappas)),
                "tuning_auc_mean": float(np.mean(aucs)) if aucs else float("nan"),
                "tuning_auc_sd": _sd(aucs),
                "operating_points": {
                    name: {
                        f"{key}_{stat}": f(vals)
                        for key, vals in d.items()
                        for stat, f in (("mean", _mean), ("sd", _sd))
                    }
                    for name, d in per_point.items()
                },
            }
        )
    return {
        "label": SIMULATION_LABEL,
        "grader_model": model.to_dict(prior),
        "reference_rule": "median of the k simulated grades (even k: the higher middle grade)",
        "tuning_grade_distribution": prior.tolist(),
        "targets": {n: {"rule": r, "target": t} for n, (r, t) in targets.items()},
        "rows": rows,
    }


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _joint(a: np.ndarray, b: np.ndarray, num: int) -> np.ndarray:
    joint = np.zeros((num, num))
    np.add.at(joint, (a, b), 1.0)
    return joint
