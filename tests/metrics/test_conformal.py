"""Split-conformal sets: hand-computed quantiles and scores, an independent brute-force
definition of the sets, and the coverage guarantee checked over many random splits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from healthcnn.metrics.conformal import (
    ConformalClassifier,
    class_scores,
    conformal_quantile,
    coverage_by_class,
    coverage_spread,
    mean_set_size,
    set_coverage,
)


def synthetic(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the probabilities themselves: a calibrated model with continuous
    scores."""
    logits = rng.normal(scale=2.0, size=(n, k))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    return p, y


def test_quantile_is_the_finite_sample_rank():
    s = np.arange(1, 11) / 10  # n = 10, alpha = 0.2: rank ceil(11 * 0.8) = 9
    assert conformal_quantile(s, 0.2) == pytest.approx(0.9)
    # n = 119 scores, alpha 0.1: rank ceil(120 * 0.9) = 108 exactly, not 109 (float guard)
    s = np.arange(119, dtype=float)
    assert conformal_quantile(s, 0.1) == 107.0


def test_quantile_with_too_few_scores_is_infinite_and_warns():
    with pytest.warns(UserWarning, match="too few"):
        assert math.isinf(conformal_quantile(np.arange(8.0), 0.1))  # n = 8 < 1/0.1 - 1 = 9
    assert math.isfinite(conformal_quantile(np.arange(9.0), 0.1))  # rank ceil(10 * 0.9) = 9


def test_scores_by_hand():
    p = np.array([[0.5, 0.3, 0.2]])
    np.testing.assert_allclose(class_scores(p, "lac"), [[0.5, 0.7, 0.8]])
    np.testing.assert_allclose(class_scores(p, "aps"), [[0.5, 0.8, 1.0]])
    np.testing.assert_allclose(class_scores(p, "aps", u=0.5), [[0.25, 0.65, 0.9]])
    # RAPS: + lam * max(0, rank - k_reg), ranks 1, 2, 3
    np.testing.assert_allclose(class_scores(p, "raps", lam=0.1, k_reg=1), [[0.5, 0.9, 1.2]])


def brute_force_lac_sets(pv, yv, pt, alpha):
    """Independent LAC: the smallest calibration score t with #{s <= t} >= (n+1)(1-alpha), then
    every class with 1 - p <= t, by loops."""
    s = [1 - pv[i, yv[i]] for i in range(len(yv))]
    need = (len(s) + 1) * (1 - alpha)
    t = min((c for c in s if sum(x <= c for x in s) >= need - 1e-9), default=math.inf)
    return np.array([[1 - pt[i, k] <= t for k in range(pt.shape[1])] for i in range(len(pt))])


def test_lac_sets_match_the_brute_force_definition():
    rng = np.random.default_rng(1)
    pv, yv = synthetic(57, 4, rng)
    pt, _ = synthetic(40, 4, rng)
    sets = ConformalClassifier(0.85, "lac").fit(pv, yv).predict_sets(pt)
    np.testing.assert_array_equal(sets, brute_force_lac_sets(pv, yv, pt, 0.15))


@pytest.mark.parametrize(
    ("method", "randomized"), [("lac", False), ("aps", True), ("raps", True), ("aps", False)]
)
def test_marginal_coverage_guarantee_over_random_splits(method, randomized):
    rng = np.random.default_rng(7)
    p, y = synthetic(6000, 5, rng)
    n, alpha, trials = 50, 0.1, 300
    cov = []
    for t in range(trials):
        idx = rng.permutation(len(y))
        cal, test = idx[:n], idx[n : n + 500]
        rule = ConformalClassifier(1 - alpha, method, randomized=randomized, seed=t)
        sets = rule.fit(p[cal], y[cal]).predict_sets(p[test])
        cov.append(sets[np.arange(len(test)), y[test]].mean())
    mean, se = float(np.mean(cov)), float(np.std(cov) / math.sqrt(trials))
    assert mean >= 1 - alpha - 3 * se
    if randomized or method == "lac":  # continuous scores: the upper bound holds too
        assert mean <= 1 - alpha + 1 / (n + 1) + 3 * se


def test_class_conditional_covers_each_class():
    rng = np.random.default_rng(3)
    # imbalanced: class 0 common; a marginal rule under-covers the rare, hard classes
    logits = rng.normal(size=(20000, 3)) + np.array([2.0, 0.0, 0.0])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    cal, test = np.arange(5000), np.arange(5000, 20000)
    rule = ConformalClassifier(0.9, "lac", class_conditional=True).fit(p[cal], y[cal])
    rows = coverage_by_class(rule.predict_sets(p[test]), y[test])
    for row in rows:
        assert abs(row["coverage"].value - 0.9) < 0.02, row
    assert rule.quantiles_ is not None and len(set(rule.quantiles_)) == 3


def test_rare_class_too_few_rows_is_always_in_the_set():
    p = np.tile([[0.7, 0.2, 0.1]], (40, 1))
    y = np.array([0] * 35 + [1] * 4 + [2])
    with pytest.warns(UserWarning) as caught:
        rule = ConformalClassifier(0.9, "lac", class_conditional=True).fit(p, y)
    said = [str(w.message) for w in caught]
    assert any("class 2 has 1 calibration rows" in m for m in said)
    assert any("class 1 has 4 calibration rows" in m for m in said)
    assert rule.predict_sets(p)[:, 2].all()


def test_aps_deterministic_sets_are_never_empty():
    rng = np.random.default_rng(0)
    p, y = synthetic(300, 4, rng)
    sets = ConformalClassifier(0.5, "aps").fit(p, y).predict_sets(p)
    assert sets.any(axis=1).all()


def test_coverage_and_sizes_by_hand():
    sets = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=bool)
    y = np.array([0, 0, 2, 2])
    cov = set_coverage(sets, y)
    assert cov.value == 0.75 and cov.method == "wilson" and cov.n == 4
    assert mean_set_size(sets) == pytest.approx(1.5)
    rows = coverage_by_class(sets, y, ["a", "b", "c"])
    assert [r["coverage"].value for r in rows[::2]] == [0.5, 1.0]
    assert rows[1]["n"] == 0 and math.isnan(rows[1]["coverage"].value)
    assert rows[0]["mean_set_size"] == pytest.approx(1.5)


def test_round_trip_through_a_dict():
    rng = np.random.default_rng(2)
    p, y = synthetic(200, 3, rng)
    for cc in (False, True):
        rule = ConformalClassifier(0.8, "raps", class_conditional=cc).fit(p, y)
        back = ConformalClassifier.from_dict(rule.to_dict())
        np.testing.assert_array_equal(back.predict_sets(p), rule.predict_sets(p))


@pytest.mark.parametrize(
    ("probs", "match"),
    [
        (np.array([[0.9, 0.8], [0.5, 0.5]]), "single-label"),
        (np.array([0.2, 0.7]), r"shape \(N, K\)"),
        (np.array([[np.nan, 1.0]]), "finite"),
    ],
)
def test_bad_probabilities_are_refused(probs, match):
    with pytest.raises(ValueError, match=match):
        ConformalClassifier().fit(probs, np.zeros(len(probs), dtype=int))


def test_bad_parameters_and_labels_are_refused():
    p = np.array([[0.6, 0.4], [0.3, 0.7]])
    with pytest.raises(ValueError, match="method"):
        ConformalClassifier(method="thr").fit(p, [0, 1])
    with pytest.raises(ValueError, match="coverage"):
        ConformalClassifier(coverage=90).fit(p, [0, 1])
    with pytest.raises(ValueError, match="class indices"):
        ConformalClassifier().fit(p, [0, 2])
    with pytest.raises(RuntimeError, match="fit"):
        ConformalClassifier().predict_sets(p)
    with pytest.raises(ValueError, match="stored conformal rule"):
        ConformalClassifier.from_dict({"method": "aps"})


def test_coverage_spread_matches_the_beta_law():
    spread = coverage_spread(120, 0.9)  # r = ceil(121 * 0.9) = 109: Beta(109, 12)
    assert spread["mean"] == pytest.approx(109 / 121)
    assert spread["sd"] == pytest.approx(math.sqrt(109 * 12 / (121**2 * 122)))
    rng = np.random.default_rng(0)
    draws = rng.beta(109, 12, size=200_000)
    assert spread["sd"] == pytest.approx(draws.std(), rel=0.02)
