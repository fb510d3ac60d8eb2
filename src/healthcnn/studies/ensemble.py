"""Ensembles: N networks from different seeds, probabilities averaged, compared with one network.

Gulshan et al. averaged 10 Inception-v3 networks. The comparison that matters is paired: the
single network and the ensemble score the *same* test images, so the referable AUCs are compared
with DeLong's paired test (their correlation is accounted for), not by overlapping intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics import delong_test, roc_auc
from .grading import grade_metrics, referable_labels, referable_scores


def average_probabilities(probs: Sequence[np.ndarray]) -> np.ndarray:
    """The mean of members' probability arrays (all the same shape)."""
    if not probs:
        raise ValueError("an ensemble needs at least one member's probabilities")
    shapes = {np.shape(p) for p in probs}
    if len(shapes) != 1:
        raise ValueError(f"members' probabilities differ in shape: {sorted(shapes)}")
    return np.mean(np.stack([np.asarray(p, dtype=np.float64) for p in probs]), axis=0)


def compare_single_vs_ensemble(
    y_grades: np.ndarray, single: np.ndarray, members: Sequence[np.ndarray]
) -> dict[str, Any]:
    """5-grade metrics of one network and of the ensemble, and the paired DeLong test of their
    referable-DR AUCs (``difference = ensemble - single``)."""
    ens = average_probabilities(members)
    y_ref = referable_labels(y_grades)
    s_single, s_ens = referable_scores(single), referable_scores(ens)
    test = delong_test(y_ref, s_ens, s_single)
    return {
        "members": len(members),
        "single": {
            "grade": grade_metrics(y_grades, single),
            "referable_auc": roc_auc(y_ref, s_single).as_dict(),
        },
        "ensemble": {
            "grade": grade_metrics(y_grades, ens),
            "referable_auc": roc_auc(y_ref, s_ens).as_dict(),
        },
        "delong_ensemble_minus_single": {
            "difference": test.difference,
            "ci_low": test.ci_low,
            "ci_high": test.ci_high,
            "z": test.z,
            "p_value": test.p_value,
        },
    }
