"""Reader comparison: CSV loading, the model's matched sensitivity/specificity, below-curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from healthcnn.evaluation import compare_readers, load_readers


def _brute_spec_at_sens(y, s, target):
    best = -1.0
    for t in np.unique(s):
        called = s >= t
        if called[y == 1].mean() >= target:
            best = max(best, (~called[y == 0]).mean())
    return best


def _brute_sens_at_spec(y, s, target):
    best = -1.0
    for t in np.r_[np.unique(s), np.inf]:
        called = s >= t
        if (~called[y == 0]).mean() >= target:
            best = max(best, called[y == 1].mean())
    return best


def test_load_readers_csv(tmp_path: Path):
    path = tmp_path / "readers.csv"
    path.write_text("reader,sensitivity,specificity,n_positive\nA,0.8,0.9,50\nB,0.95,0.7,\n")
    readers = load_readers(path)
    assert [(r.name, r.sensitivity, r.specificity, r.n_positive) for r in readers] == [
        ("A", 0.8, 0.9, 50),
        ("B", 0.95, 0.7, None),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("reader,sensitivity\nA,0.8\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['specificity'\]"):
        load_readers(bad)
    pct = tmp_path / "pct.csv"
    pct.write_text("reader,sensitivity,specificity\nA,80,90\n")
    with pytest.raises(ValueError, match="percentage"):
        load_readers(pct)


def test_model_matched_points_and_below_curve(tmp_path: Path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(size=300) + 2.0 * y, 2)
    path = tmp_path / "r.csv"
    path.write_text("reader,sensitivity,specificity\nweak,0.6,0.6\nsuperhuman,0.99,0.99\n")
    rows = compare_readers(load_readers(path), y, s, n_resamples=300)
    weak, strong = rows
    assert weak["below_curve"] and not strong["below_curve"]
    est = weak["model_specificity_at_reader_sensitivity"]
    assert est.value == pytest.approx(_brute_spec_at_sens(y, s, 0.6))
    assert est.ci_low <= est.value <= est.ci_high and est.method == "bootstrap"
    sens = weak["model_sensitivity_at_reader_specificity"]
    assert sens.value == pytest.approx(_brute_sens_at_spec(y, s, 0.6))
    assert strong["model_sensitivity_at_reader_specificity"].value == pytest.approx(
        _brute_sens_at_spec(y, s, 0.99)
    )
