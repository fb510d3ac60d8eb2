"""Subgroup tables: per-group metrics with CIs, gaps to overall, small groups flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.evaluation import subgroup_metrics
from healthcnn.metrics import roc_auc, sensitivity

skm = pytest.importorskip("sklearn.metrics")


def test_per_group_values_gaps_and_small_flags():
    rng = np.random.default_rng(0)
    sex = np.array(["F"] * 120 + ["M"] * 80 + ["X"] * 10)
    y = rng.integers(0, 2, 210)
    y[-10:] = 1  # group X has positives only: AUC undefined there, not an error
    s = rng.normal(size=210) + np.where(sex == "F", 1.5, 0.5) * y
    fns = {
        "auc": lambda a, b: roc_auc(a, b),
        "sensitivity": lambda a, b: sensitivity(a, b > 0.5),
    }
    rows = subgroup_metrics(y, s, sex.tolist(), fns, min_size=30)
    assert [r["group"] for r in rows] == ["(all)", "F", "M", "X"]
    assert [r["n"] for r in rows] == [210, 120, 80, 10]
    assert [r["small"] for r in rows] == [False, False, False, True]
    overall = skm.roc_auc_score(y, s)
    for r in rows[1:3]:
        m = sex == r["group"]
        auc = skm.roc_auc_score(y[m], s[m])
        assert r["metrics"]["auc"].value == pytest.approx(auc)
        assert r["metrics"]["auc"].ci_low < auc < r["metrics"]["auc"].ci_high
        assert r["gap"]["auc"] == pytest.approx(auc - overall)
    assert rows[1]["gap"]["auc"] > 0 > rows[2]["gap"]["auc"]
    assert math.isnan(rows[3]["metrics"]["auc"].value)
    assert rows[3]["metrics"]["sensitivity"].n == 10


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="groups has 2"):
        subgroup_metrics(np.zeros(3), np.zeros(3), ["a", "b"], {"auc": roc_auc})
    with pytest.raises(ValueError, match="metric_fns is empty"):
        subgroup_metrics(np.zeros(3), np.zeros(3), ["a"] * 3, {})
