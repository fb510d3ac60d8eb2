"""Leakage guards on small synthetic data where validation and test disagree on purpose: every
choice (the referable scorer, its operating points) follows validation only. These run without
the data folder, so they guard the rules wherever the suite runs."""

from __future__ import annotations

import numpy as np
import pytest

from healthcnn.evaluation import OperatingPoint
from healthcnn.metrics import roc_auc
from healthcnn.studies.dr_screening import StudyConfig, _referable

RNG = np.random.default_rng(7)
GRADES = {s: RNG.integers(0, 5, 200) for s in ("val", "test")}


def _scores(grades: np.ndarray, quality: float) -> np.ndarray:
    """P(referable)-like scores: ``quality`` 1 ranks every referable eye first, 0 at random."""
    referable = (grades >= 2).astype(float)
    noise = np.random.default_rng(int(quality * 100)).random(len(grades))
    return quality * referable * 0.5 + (1 - quality * 0.5) * noise


def _candidates(val_good: str) -> dict[str, dict[str, np.ndarray]]:
    """Two scorers: ``val_good`` is strong on val and weak on test, the other the reverse."""
    other = "binary" if val_good == "derived" else "derived"
    return {
        val_good: {"val": _scores(GRADES["val"], 0.9), "test": _scores(GRADES["test"], 0.1)},
        other: {"val": _scores(GRADES["val"], 0.1), "test": _scores(GRADES["test"], 0.9)},
    }


@pytest.mark.parametrize("val_good", ["derived", "binary"])
def test_the_referable_scorer_is_chosen_on_validation(val_good: str) -> None:
    candidates = _candidates(val_good)
    y_test = (GRADES["test"] >= 2).astype(int)
    test_auc = {k: float(roc_auc(y_test, v["test"], ci=None)) for k, v in candidates.items()}
    assert max(test_auc, key=test_auc.get) != val_good  # test would choose the other one
    result = _referable(StudyConfig(out="unused"), GRADES, candidates)
    assert result["chosen_on_val"] == val_good
    assert result["test_auc"]["value"] == pytest.approx(float(test_auc[val_good]))


def test_operating_points_are_fitted_on_validation_and_ignore_test() -> None:
    candidates = _candidates("derived")
    cfg = StudyConfig(out="unused")
    result = _referable(cfg, GRADES, candidates)
    y_val = (GRADES["val"] >= 2).astype(int)
    want = OperatingPoint("sensitivity", cfg.sensitivity_target).fit(
        y_val, candidates["derived"]["val"]
    )
    got = result["operating_points"]["high_sensitivity"]
    assert got["threshold"] == pytest.approx(want.threshold_) and got["fitted_on"] == "val"
    # the same thresholds whatever the test scores are
    shuffled = {k: {**v, "test": v["test"][::-1].copy()} for k, v in candidates.items()}
    again = _referable(cfg, GRADES, shuffled)
    for key, point in result["operating_points"].items():
        assert again["operating_points"][key]["threshold"] == point["threshold"]
    assert again["chosen_on_val"] == result["chosen_on_val"]
