"""The HAM10000 metadata model and its fusion with an image network's probabilities."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from healthcnn.data.ham10000 import METADATA_FILE, ham10000_splits, read_metadata
from healthcnn.metrics import balanced_accuracy
from healthcnn.studies import skin_metadata as sm
from healthcnn.studies._skin_eval import decide

NAMES = sm.feature_names()


def _meta(ages, sexes, sites):
    return {
        "image_id": [f"ISIC_{i:07d}" for i in range(len(ages))],
        "age": np.asarray(ages, dtype=np.float64),
        "sex": np.asarray(sexes, dtype=object),
        "localization": np.asarray(sites, dtype=object),
    }


def test_features_are_one_hot_by_age_step_sex_and_site():
    meta = _meta(
        [0.0, 47.0, 85.0, 90.0, math.nan],
        ["male", "female", "unknown", "male", "female"],
        ["face", "back", "unknown", "acral", "upper extremity"],
    )
    x = sm.metadata_features(meta)
    assert x.shape == (5, len(NAMES)) == (5, 19 + 3 + 15)
    assert (x.sum(axis=1) == 3).all()  # one age, one sex, one site per image
    on = [[NAMES[j] for j in np.flatnonzero(row)] for row in x]
    assert on[0] == ["age 0", "sex male", "site face"]
    assert on[1] == ["age 45", "sex female", "site back"]  # 47 falls in the 45 step
    assert on[2] == ["age 85", "sex unknown", "site unknown"]
    assert on[3] == ["age 85", "sex male", "site acral"]  # 85 and over together
    assert on[4] == ["age missing", "sex female", "site upper extremity"]


@pytest.mark.parametrize(
    ("ages", "sexes", "sites", "message"),
    [
        ([-5.0], ["male"], ["face"], "ISIC_0000000: age -5.0 is not a valid age"),
        (["old"], ["male"], ["face"], "ISIC_0000000: age 'old' is not a number"),
        ([40.0], ["m"], ["face"], "ISIC_0000000: sex 'm' is not one of"),
        ([40.0], ["male"], ["nose"], "ISIC_0000000: localization 'nose' is not one of"),
    ],
)
def test_features_name_the_image_with_a_bad_value(ages, sexes, sites, message):
    meta = _meta([0.0], sexes, sites)
    meta["age"] = np.asarray(ages, dtype=object)
    with pytest.raises(ValueError, match=message):
        sm.metadata_features(meta)


def test_features_need_the_three_columns_of_one_length():
    with pytest.raises(ValueError, match="no localization column"):
        sm.metadata_features({"age": [1.0], "sex": ["male"]})
    with pytest.raises(ValueError, match="differ in length"):
        sm.metadata_features({"age": [1.0, 2.0], "sex": ["male"], "localization": ["face"]})


def _sklearn_probs(x, y, x_eval, C):
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(x, y)
    return ref.predict_proba(x_eval)


def test_fit_matches_scikit_learn_on_synthetic_data():
    rng = np.random.default_rng(0)
    x = np.eye(6)[rng.integers(0, 6, 400)]  # one-hot, as the metadata features
    y = (x.argmax(axis=1) + rng.integers(0, 2, 400)) % 4  # informative, noisy
    for C in (0.1, 1.0, 10.0):
        ours = sm.MetadataModel(C).fit(x, y, 4).predict_proba(np.eye(6))
        np.testing.assert_allclose(ours, _sklearn_probs(x, y, np.eye(6), C), atol=1e-5)


def test_fit_warns_when_it_stops_before_converging():
    rng = np.random.default_rng(0)
    x = np.eye(6)[rng.integers(0, 6, 400)]
    y = (x.argmax(axis=1) + rng.integers(0, 2, 400)) % 4
    with pytest.warns(RuntimeWarning, match="did not converge in 1 iterations"):
        sm.MetadataModel(max_iter=1).fit(x, y, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default converges: no warning
        sm.MetadataModel().fit(x, y, 4)


def test_fit_rejects_bad_labels_and_shapes():
    x = np.eye(3)
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 2\)"):
        sm.MetadataModel().fit(x, [0, 1, 2], 2)
    with pytest.raises(ValueError, match="one label per row"):
        sm.MetadataModel().fit(x, [0, 1], 2)
    with pytest.raises(ValueError, match="C must be a positive number"):
        sm.MetadataModel(C=0)
    with pytest.raises(RuntimeError, match="fit the metadata model"):
        sm.MetadataModel().predict_proba(x)
    with pytest.raises(ValueError, match="must have 3 columns"):
        sm.MetadataModel().fit(x, [0, 1, 1], 2).predict_proba(np.eye(4))


def test_fusion_is_bayes_rule_under_conditional_independence():
    prior = np.array([0.5, 0.3, 0.2])
    p_image = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    p_meta = np.array([[0.25, 0.25, 0.5], [0.5, 0.3, 0.2]])
    fused = sm.fuse(p_image, p_meta, prior)
    by_hand = p_image * p_meta / prior
    np.testing.assert_allclose(fused, by_hand / by_hand.sum(axis=1, keepdims=True))
    # metadata that says only the prior changes nothing (second row)
    np.testing.assert_allclose(fused[1], p_image[1])
    # first row: metadata doubles the third class's odds against the prior, relative to the first
    assert fused[0, 2] / fused[0, 0] == pytest.approx((0.1 / 0.6) * (0.5 / 0.2) / (0.25 / 0.5))


def _independent_signals(n: int, seed: int = 0):
    """Labels and two calibrated posteriors from signals independent given the label (the
    product rule's assumption): each signal is the label with probability 0.6, else uniform."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.5, 0.3, 0.2])
    y = rng.choice(3, size=n, p=prior)
    posts = []
    for _ in range(2):
        seen = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
        like = np.where(np.arange(3)[None, :] == seen[:, None], 0.6 + 0.4 / 3, 0.4 / 3)
        post = like * prior
        posts.append(post / post.sum(axis=1, keepdims=True))
    return y, posts[0], posts[1], prior


def test_learned_fusion_matches_scikit_learn_on_the_log_probabilities():
    y, p_image, p_meta, _ = _independent_signals(600)
    p_image = 0.9 * p_image + 0.1 * np.random.default_rng(1).dirichlet(np.ones(3), 600)
    x = np.log(np.hstack([p_image, p_meta]))
    ours = sm.LearnedFusion(C=1.0).fit(p_image, p_meta, y).predict_proba(p_image, p_meta)
    np.testing.assert_allclose(ours, _sklearn_probs(x, y, x, 1.0), atol=1e-5)
    with pytest.warns(RuntimeWarning, match="the learned fusion did not converge in 1 "):
        sm.LearnedFusion(max_iter=1).fit(p_image, p_meta, y)
    # the features floor a zero probability (a stored probability rounded to 0)
    zero = p_image.copy()
    zero[0] = [1.0, 0.0, 0.0]
    assert sm.fusion_features(zero, p_meta)[0, 1] == pytest.approx(math.log(sm.FUSION_FLOOR))


def test_learned_fusion_recovers_the_product_rule_where_that_rule_is_right():
    """With image and metadata independent given the label and both calibrated, the product
    rule is the Bayes posterior; fitted on enough images, the learned fusion gives it back."""
    y, p_image, p_meta, prior = _independent_signals(20_000)
    learned = sm.LearnedFusion(C=1.0).fit(p_image, p_meta, y)
    _, q_image, q_meta, _ = _independent_signals(2_000, seed=1)
    product = sm.fuse(q_image, q_meta, prior)
    assert np.abs(learned.predict_proba(q_image, q_meta) - product).max() < 0.03
    # and where the image is overconfident (its log-probabilities doubled), it learns to
    # discount it: closer to the Bayes posterior than the product rule is
    sharp = q_image**2 / (q_image**2).sum(axis=1, keepdims=True)
    train_sharp = p_image**2 / (p_image**2).sum(axis=1, keepdims=True)
    refit = sm.LearnedFusion(C=1.0).fit(train_sharp, p_meta, y)
    err_learned = np.abs(refit.predict_proba(sharp, q_meta) - product).max()
    err_product = np.abs(sm.fuse(sharp, q_meta, prior) - product).max()
    assert err_learned < 0.03 < err_product


def test_fusion_folds_keep_lesions_whole_and_every_label_in_every_fold():
    rng = np.random.default_rng(0)
    lesions = [f"L{i}" for i in range(60) for _ in range(1 + i % 3)]  # 1-3 images each
    labels = [int(g[1:]) % 4 for g in lesions]  # one label per lesion
    folds = sm.fusion_folds(lesions, labels, k=5, seed=0)
    by_lesion = {}
    for g, f in zip(lesions, folds, strict=True):
        by_lesion.setdefault(g, set()).add(int(f))
    assert all(len(f) == 1 for f in by_lesion.values())  # a lesion never in two folds
    for label in range(4):  # 15 lesions per label: 3 in each of the 5 folds
        counts = np.bincount(
            [next(iter(by_lesion[g])) for g in set(lesions) if int(g[1:]) % 4 == label], minlength=5
        )
        assert counts.tolist() == [3, 3, 3, 3, 3]
    np.testing.assert_array_equal(folds, sm.fusion_folds(lesions, labels, k=5, seed=0))
    assert not np.array_equal(folds, sm.fusion_folds(lesions, labels, k=5, seed=1))
    shuffled = rng.permutation(len(lesions))  # the rows' order does not change a lesion's fold
    again = sm.fusion_folds([lesions[i] for i in shuffled], [labels[i] for i in shuffled], 5, 0)
    np.testing.assert_array_equal(again, folds[shuffled])
    with pytest.raises(ValueError, match="one group per row"):
        sm.fusion_folds(lesions[:-1], labels, 5)
    with pytest.raises(ValueError, match="k >= 2"):
        sm.fusion_folds(lesions, labels, 1)


def test_cross_fitted_fusion_scores_each_fold_by_a_fusion_that_never_saw_it():
    y, p_image, p_meta, _ = _independent_signals(500)
    folds = np.arange(500) % 4
    out = sm.cross_fitted_fusion(p_image, p_meta, y, folds, C=1.0)
    for f in range(4):
        held = folds == f
        model = sm.LearnedFusion(1.0).fit(p_image[~held], p_meta[~held], y[~held])
        np.testing.assert_allclose(out[held], model.predict_proba(p_image[held], p_meta[held]))
    whole = sm.LearnedFusion(1.0).fit(p_image, p_meta, y).predict_proba(p_image, p_meta)
    assert not np.allclose(out, whole)  # not the fusion fitted on every row
    with pytest.raises(ValueError, match="one fold and one label per row"):
        sm.cross_fitted_fusion(p_image, p_meta, y, folds[:-1])
    with pytest.raises(ValueError, match=r"finite numbers in \[0, 1\]"):
        sm.fusion_features(p_image * 2, p_meta)


def test_fusion_rejects_mismatched_shapes_and_a_zero_prior():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="must both be"):
        sm.fuse(p, p[:1], [0.3, 0.3, 0.4])
    with pytest.raises(ValueError, match="must both be"):
        sm.fuse(p, p, [0.5, 0.5])
    with pytest.raises(ValueError, match="prior must be positive"):
        sm.fuse(p, p, [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="every class probability 0 in rows"):
        sm.fuse(np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]), [0.3, 0.3, 0.4])


def _record(meta, split_ids, classes, rng):
    """A hamrec-like record over the images ``split_ids`` (labels from ``meta``'s dx) with
    image probabilities that are noisy but informative."""
    index = {i: k for k, i in enumerate(meta["image_id"])}
    record = {"classes": classes, "image_ids": {}, "labels": {}, "probabilities": {}}
    for split, ids in split_ids.items():
        y = [classes.index(meta["dx"][index[i]]) for i in ids]
        record["image_ids"][split], record["labels"][split] = list(ids), y
        for view in ("plain", "tta"):
            logits = rng.normal(size=(len(y), len(classes))) + 2.0 * np.eye(len(classes))[y]
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            record["probabilities"][f"{split}_{view}"] = p.tolist()
    return record


@pytest.mark.data
def test_metadata_on_the_real_split(data_root):
    """On HAM10000's own metadata and lesion split: the fit agrees with scikit-learn's, the
    metadata alone is far above chance, and the record's scores are those of the fused
    probabilities computed by hand."""
    meta = read_metadata(data_root / "ham10000" / METADATA_FILE)
    idx = ham10000_splits(meta, seed=0)
    part = {s: {c: np.asarray(v)[i] for c, v in meta.items()} for s, i in idx.items()}
    classes = sorted(set(meta["dx"]))
    x_train = sm.metadata_features(part["train"])
    y_train = np.array([classes.index(d) for d in part["train"]["dx"]])
    model = sm.MetadataModel(1.0).fit(x_train, y_train, len(classes))
    x_val = sm.metadata_features(part["val"])
    np.testing.assert_allclose(
        model.predict_proba(x_val), _sklearn_probs(x_train, y_train, x_val, 1.0), atol=1e-4
    )
    prior = np.bincount(y_train, minlength=len(classes)) / len(y_train)
    y_val = np.array([classes.index(d) for d in part["val"]["dx"]])
    p_val = model.predict_proba(x_val)
    meta_only = balanced_accuracy(y_val, decide(p_val, prior, "prior-corrected"), ci=None)
    assert meta_only.value > 2 / len(classes)  # chance is 1/7

    record = _record(
        meta, {s: part[s]["image_id"] for s in ("val", "test")}, classes, np.random.default_rng(1)
    )
    record["train_prior"] = prior.tolist()
    out = sm.metadata_scores(record, part["train"], meta)
    assert out["model"]["train_images"] == len(y_train)
    assert out["scores"]["val_metadata"]["balanced_accuracy"]["prior-corrected"] == pytest.approx(
        meta_only.value
    )
    p_test = model.predict_proba(sm.metadata_features(part["test"]))
    y_test = np.array(record["labels"]["test"])
    # the metadata model's probabilities are kept, to 6 decimals, in the record's row order
    np.testing.assert_allclose(out["probabilities"]["test"], p_test, atol=5e-7, rtol=0)
    np.testing.assert_allclose(out["probabilities"]["val"], p_val, atol=5e-7, rtol=0)
    for view in ("plain", "tta"):
        fused = sm.fuse(np.array(record["probabilities"][f"test_{view}"]), p_test, prior)
        for rule in ("argmax", "prior-corrected"):
            want = balanced_accuracy(y_test, decide(fused, prior, rule), ci=None).value
            got = out["scores"][f"test_{view}"]["fused"]["balanced_accuracy"][rule]
            assert got == pytest.approx(want)


def test_metadata_scores_check_the_record_against_the_metadata():
    rng = np.random.default_rng(0)
    n = 60
    meta = _meta(rng.choice(sm.AGES, n), rng.choice(sm.SEXES, n), rng.choice(sm.SITES, n))
    meta["dx"] = np.array(["a", "b", "c"] * (n // 3), dtype=object)
    ids = list(meta["image_id"])
    record = _record(meta, {"val": ids[:20], "test": ids[20:40]}, ["a", "b", "c"], rng)
    record["train_prior"] = [1 / 3] * 3
    train = {c: np.asarray(v)[40:] for c, v in meta.items()}
    out = sm.metadata_scores(record, train, meta)
    assert set(out["scores"]) == {
        "val_metadata", "val_plain", "val_tta", "test_metadata", "test_plain", "test_tta"
    }  # fmt: skip
    bad = dict(record, image_ids={"val": ids[:20], "test": ["ISIC_9999999"] * 20})
    with pytest.raises(ValueError, match="20 images have no metadata row"):
        sm.metadata_scores(bad, train, meta)
    other = dict(train, dx=np.array(["z"] * len(train["dx"]), dtype=object))
    with pytest.raises(ValueError, match=r"training diagnoses \['z'\] are not among"):
        sm.metadata_scores(record, other, meta)
