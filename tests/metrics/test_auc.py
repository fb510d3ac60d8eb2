"""ROC AUC with DeLong/bootstrap intervals, the paired DeLong test and ROC/PR curves, against
scikit-learn, hand-worked DeLong variances and the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthcnn.metrics import (
    DegenerateMetricWarning,
    Estimate,
    delong_test,
    delong_variance,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)

skm = pytest.importorskip("sklearn.metrics")
rankdata = pytest.importorskip("scipy.stats").rankdata


def _mw_auc(y, s):
    """Mann-Whitney AUC with scipy's midranks: a fast independent AUC for bootstrap loops."""
    y = np.asarray(y).astype(bool)
    m, n = y.sum(), (~y).sum()
    return (rankdata(s)[y].sum() - m * (m + 1) / 2) / (m * n)


def _readonly(*arrays):
    out = []
    for a in arrays:
        a = np.array(a)
        a.setflags(write=False)
        out.append(a)
    return out


def _multiclass(seed: int, n: int = 300, k: int = 4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    z = rng.normal(size=(n, k)) + 1.2 * np.eye(k)[y]
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return y, p


@pytest.mark.parametrize("seed", range(3))
def test_binary_value_matches_sklearn_and_is_an_estimate(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 250)
    s = np.round(rng.random(250) + 0.4 * y, 1)  # many ties
    y, s = _readonly(y, s)
    est = roc_auc(y, s)
    assert isinstance(est, Estimate) and est.method == "delong" and est.n == 250
    assert float(est) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert est.ci_low < est.value < est.ci_high
    assert set(est.as_dict()) == {"value", "ci_low", "ci_high", "method", "n"}


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multiclass_ovr_matches_sklearn(average):
    y, p = _multiclass(1)
    want = skm.roc_auc_score(y, p, multi_class="ovr", average=average)
    assert roc_auc(y, p, average=average).value == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("average", ["macro", "weighted"])
def test_multilabel_matches_sklearn(average):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (200, 3))
    s = rng.random((200, 3)) + 0.5 * y
    want = skm.roc_auc_score(y, s, average=average)
    assert roc_auc(y, s, average=average).value == pytest.approx(want, abs=1e-12)


def test_delong_variance_hand_worked_without_ties():
    # positives 0.9, 0.4; negatives 0.6, 0.1. Placements: V10 = (1, 1/2), V01 = (1/2, 1);
    # AUC 3/4; S10 = S01 = var([1, 1/2], ddof=1) = 1/8; Var = S10/2 + S01/2 = 1/8
    y = np.array([1, 1, 0, 0])
    s = np.array([0.9, 0.4, 0.6, 0.1])
    assert roc_auc(y, s).value == pytest.approx(0.75)
    assert delong_variance(y, s) == pytest.approx(1 / 8, abs=1e-15)


def test_delong_variance_hand_worked_with_ties():
    # positives 0.8, 0.5, 0.5; negatives 0.5, 0.2. V10 = (1, 3/4, 3/4) (ties count 1/2),
    # V01 = (2/3, 1). S10 = 1/48, S01 = 1/18; Var = (1/48)/3 + (1/18)/2 = 5/144
    y = np.array([1, 1, 1, 0, 0])
    s = np.array([0.8, 0.5, 0.5, 0.5, 0.2])
    assert roc_auc(y, s).value == pytest.approx(2.5 / 3)
    assert delong_variance(y, s) == pytest.approx(5 / 144, abs=1e-15)
    est = roc_auc(y, s, level=0.9)
    half = 1.6448536269514722 * math.sqrt(5 / 144)
    assert est.ci_low == pytest.approx(2.5 / 3 - half)
    assert est.ci_high == pytest.approx(1.0)  # clipped


def _bootstrap_sd(fn, y, s, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        vals.append(fn(y[i], s[i]))
    return float(np.std(vals))


def test_delong_standard_error_agrees_with_the_bootstrap_binary():
    # Tolerance: the bootstrap SD with 1500 resamples has ~2% Monte-Carlo error; DeLong and
    # the bootstrap estimate the same quantity to O(1/n). We require agreement within 10%.
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 600)
    s = rng.normal(size=600) + 1.0 * y
    se = math.sqrt(delong_variance(y, s))
    boot = _bootstrap_sd(_mw_auc, y, s)
    assert se == pytest.approx(boot, rel=0.10)


def test_macro_delong_interval_agrees_with_the_bootstrap_multiclass():
    # The joint-covariance macro interval against the bootstrap SD of sklearn's macro AUC,
    # within 12% (same Monte-Carlo reasoning as the binary test, plus class-count noise).
    y, p = _multiclass(5, n=500)
    est = roc_auc(y, p, level=0.95)
    se = (est.ci_high - est.ci_low) / (2 * 1.959963984540054)

    def macro(yy, pp):
        return np.mean([_mw_auc(yy == k, pp[:, k]) for k in range(4)])

    assert se == pytest.approx(_bootstrap_sd(macro, y, p, n=800), rel=0.12)
    # correlation between classes matters: the naive "independent classes" SE differs
    per_class = [delong_variance(y == k, p[:, k]) for k in range(4)]
    assert se != pytest.approx(math.sqrt(sum(per_class)) / 4, rel=0.02)


def test_bootstrap_interval_is_seeded_and_close_to_delong():
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 400)
    s = rng.normal(size=400) + y
    a = roc_auc(y, s, ci="bootstrap", n_resamples=800, seed=3)
    b = roc_auc(y, s, ci="bootstrap", n_resamples=800, seed=3)
    d = roc_auc(y, s)
    assert a == b and a.method == "bootstrap"
    assert a.ci_high - a.ci_low == pytest.approx(d.ci_high - d.ci_low, rel=0.15)


def test_groups_use_the_grouped_bootstrap_and_widen_the_interval_for_clustered_data():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(40), 5)  # 5 near-identical images per patient
    y = np.repeat(rng.integers(0, 2, 40), 5)
    s = np.repeat(rng.normal(size=40), 5) + 0.8 * y + 0.01 * rng.normal(size=200)
    naive = roc_auc(y, s, ci="bootstrap", n_resamples=500)
    grouped = roc_auc(y, s, groups=patients, n_resamples=500)  # DeLong cannot: bootstrap
    assert grouped.method == "bootstrap"
    assert (grouped.ci_high - grouped.ci_low) > 1.6 * (naive.ci_high - naive.ci_low)


def test_delong_test_identical_and_different_models():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    good = rng.normal(size=300) + 2.0 * y
    bad = rng.normal(size=300) + 0.2 * y
    same = delong_test(y, good, good.copy())
    assert same.difference == 0 and same.z == 0 and same.p_value == pytest.approx(1.0)
    diff = delong_test(y, good, bad)
    assert diff.p_value < 1e-6 and diff.difference > 0.2 and diff.ci_low > 0
    assert diff.auc_a.value == pytest.approx(skm.roc_auc_score(y, good))
    assert diff.auc_b.value == pytest.approx(skm.roc_auc_score(y, bad))
    # a noisy copy of one model: not significantly different
    near = delong_test(y, good, good + 0.01 * rng.normal(size=300))
    assert near.p_value > 0.05


def test_delong_test_variance_agrees_with_a_paired_bootstrap():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    a = rng.normal(size=500) + 1.0 * y
    b = 0.6 * a + 0.8 * rng.normal(size=500) + 0.3 * y
    res = delong_test(y, a, b)
    se = (res.ci_high - res.ci_low) / (2 * 1.959963984540054)
    boot = np.empty(1500)
    for r in range(1500):
        i = rng.integers(0, 500, 500)
        boot[r] = _mw_auc(y[i], a[i]) - _mw_auc(y[i], b[i])
    assert se == pytest.approx(boot.std(), rel=0.10)  # 10%: see the binary SE test


def test_curves_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    s = np.round(rng.random(120) + 0.3 * y, 2)
    fpr, tpr, thr = roc_curve(y, s)
    f2, t2, th2 = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    assert np.isinf(thr[0])
    assert np.trapezoid(tpr, fpr) == pytest.approx(skm.roc_auc_score(y, s))
    precision, recall, pthr = precision_recall_curve(y, s)
    p2, r2, pt2 = skm.precision_recall_curve(y, s)
    # sklearn: thresholds ascending with the (recall 0, precision 1) point last
    np.testing.assert_allclose(precision, p2[::-1])
    np.testing.assert_allclose(recall, r2[::-1])
    np.testing.assert_allclose(pthr[1:], pt2[::-1])


def test_degenerate_and_bad_input():
    with pytest.warns(DegenerateMetricWarning, match="only one class"):
        est = roc_auc(np.ones(6, dtype=int), np.linspace(0, 1, 6))
    assert math.isnan(est.value) and math.isnan(est.ci_low)
    with pytest.warns(DegenerateMetricWarning, match="same"):
        const = roc_auc(np.array([0, 1, 0, 1]), np.full(4, 0.3))
    assert const.value == 0.5 and math.isnan(const.ci_low)
    with pytest.warns(DegenerateMetricWarning, match="at least 2 positives"):
        single = roc_auc(np.array([0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9]))
    assert single.value == 1.0 and math.isnan(single.ci_low)
    with pytest.raises(ValueError, match="NaN or inf"):
        roc_auc(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="4 samples but y_score has 3"):
        roc_auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="ci must be"):
        roc_auc(np.array([0, 1]), np.array([0.1, 0.2]), ci="wald")
    with pytest.raises(ValueError, match="0/1"):
        delong_test(np.array([0, 2]), np.array([0.1, 0.2]), np.array([0.1, 0.2]))


def test_inputs_are_not_modified():
    y, p = _multiclass(6, n=80)
    y, p = _readonly(y, p)
    roc_auc(y, p)
    roc_auc(y, p, ci="bootstrap", n_resamples=50)
    yb, sb = _readonly((y == 0).astype(int), p[:, 0])
    delong_test(yb, sb, p[:, 1])
    roc_curve(yb, sb)
    precision_recall_curve(yb, sb)


def _delong_by_pairs(y, s):
    """DeLong's variance from its definition: O(m n) pairwise placements (independent of the
    midrank algorithm under test)."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    return v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(z)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=4, max_size=40).filter(
        lambda r: 2 <= sum(b for b, _ in r) <= len(r) - 2
    )
)
def test_midrank_delong_equals_the_pairwise_definition(rows):
    y = np.array([int(b) for b, _ in rows])
    s = np.array([v / 6 for _, v in rows])  # few distinct values: many ties
    assert roc_auc(y, s, ci=None).value == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert delong_variance(y, s) == pytest.approx(_delong_by_pairs(y, s), abs=1e-12)
