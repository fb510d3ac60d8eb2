"""Tasks: label maps, the four kinds' losses, probabilities, predictions and weights, and the
kind-dependent decisions each task owns (what evaluation, the report and the studies ask of a
task instead of branching on its kind), checked on hand-computed cases per kind."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from healthcnn.tasks import (
    DEFAULT_POSITIVE,
    BinaryTask,
    LabelMap,
    MulticlassTask,
    MultilabelTask,
    OrdinalTask,
    Task,
    make_task,
    referable_dr,
)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


# -- label maps ---------------------------------------------------------------------------------
def test_referable_dr_maps_grades_two_and_up_to_referable():
    lm = referable_dr()
    grades = torch.tensor([0, 1, 2, 3, 4, 1])
    assert lm.apply(grades).tolist() == [0, 0, 1, 1, 1, 0]
    assert lm.classes == ("non-referable", "referable")
    assert lm.source_classes[2] == "moderate"
    np.testing.assert_array_equal(lm.apply(np.array([[4, 0]])), [[1, 0]])


def test_label_map_rejects_uncovered_labels_and_bad_maps():
    lm = LabelMap({1: 0, 2: 1}, classes=["low", "high"])
    with pytest.raises(ValueError, match="label 5 is not covered"):
        lm.apply(torch.tensor([1, 5]))
    with pytest.raises(ValueError, match="label 0 is not covered"):
        lm.apply(torch.tensor([0]))
    with pytest.raises(ValueError, match="class index 2"):
        LabelMap({0: 2}, classes=["a", "b"])
    with pytest.raises(ValueError, match=r"no source label maps to class\(es\) \['b'\]"):
        LabelMap({0: 0, 1: 0}, classes=["a", "b"])
    with pytest.raises(TypeError, match="integer labels"):
        lm.apply(torch.tensor([1.0]))


def test_label_map_round_trips_through_a_dict():
    lm = referable_dr()
    again = LabelMap.from_dict(lm.to_dict())
    assert again == lm
    assert hash(again) == hash(lm)


# -- kinds --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "cls", "classes", "outputs"),
    [
        ("binary-class", BinaryTask, ["benign", "malignant"], 1),
        ("multi-class", MulticlassTask, ["a", "b", "c"], 3),
        ("multi-label, binary-class", MultilabelTask, ["x", "y", "z", "w"], 4),
        ("ordinal-regression", OrdinalTask, ["0", "1", "2", "3", "4"], 4),
    ],
)
def test_make_task_accepts_medmnist_spellings(kind, cls, classes, outputs):
    task = make_task(kind, classes)
    assert type(task) is cls
    assert task.num_outputs == outputs
    assert task.num_classes == len(classes)
    assert Task.from_dict(task.to_dict()) == task


def test_unknown_kind_lists_valid_names_and_closest_match():
    with pytest.raises(ValueError, match="Did you mean 'multiclass'"):
        make_task("multiclas", ["a", "b"])


def test_binary_needs_two_classes_and_logit_shape_is_checked():
    with pytest.raises(ValueError, match="exactly 2 classes"):
        make_task("binary", ["a", "b", "c"])
    task = make_task("binary", ["neg", "pos"])
    with pytest.raises(ValueError, match=r"shape \(N, 1\).*num_classes=1"):
        task.loss(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))


def test_from_dataset_info_with_label_map_uses_target_classes():
    task = Task.from_dataset_info("binary", list("01234"), label_map=referable_dr())
    assert task.classes == ("non-referable", "referable")
    assert task.encode_labels(torch.tensor([0, 2, 4, 1])).tolist() == [0, 1, 1, 0]
    assert Task.from_dict(task.to_dict()) == task
    with pytest.raises(ValueError, match="differ from the task's classes"):
        make_task("binary", ["no", "yes"], label_map=referable_dr())


# -- losses and probabilities -----------------------------------------------------------------
def test_binary_loss_probabilities_and_prediction():
    task = make_task("binary", ["neg", "pos"])
    z = torch.tensor([[2.0], [-1.0], [0.5], [0.0]])
    y = torch.tensor([1, 0, 0, 1])
    sig = [1 / (1 + math.exp(-v)) for v in (2.0, -1.0, 0.5, 0.0)]
    expected = np.mean(
        [-math.log(sig[0]), -math.log(1 - sig[1]), -math.log(1 - sig[2]), -math.log(sig[3])]
    )
    assert task.loss(z, y).item() == pytest.approx(expected, rel=1e-6)
    p = task.probabilities(z)
    assert p.shape == (4,)
    assert p[0].item() == pytest.approx(1 / (1 + math.exp(-2.0)))
    # threshold 0.5 is strict (MedMNIST: score > 0.5), so sigmoid(0) = 0.5 is negative
    assert task.predict(p.numpy()).tolist() == [1, 0, 1, 0]
    # class weights: weighted mean sum(w_i l_i) / sum(w_i)
    w = torch.tensor([1.0, 3.0])
    per = F.binary_cross_entropy_with_logits(z[:, 0], y.float(), reduction="none")
    wi = w[y]
    assert task.loss(z, y, w).item() == pytest.approx(((per * wi).sum() / wi.sum()).item())


def test_multiclass_matches_cross_entropy_and_softmax():
    task = make_task("multiclass", ["a", "b", "c"])
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    w = torch.tensor([0.5, 1.0, 2.0])
    assert task.loss(z, y).item() == pytest.approx(F.cross_entropy(z, y).item())
    assert task.loss(z, y, w).item() == pytest.approx(F.cross_entropy(z, y, weight=w).item())
    p = task.probabilities(z)
    torch.testing.assert_close(p.sum(1), torch.ones(6))
    assert task.predict(p).tolist() == z.argmax(1).tolist()


def test_multilabel_uses_pos_weight_and_thresholds_each_label():
    task = make_task("multilabel", ["x", "y"])
    z = torch.tensor([[1.0, -2.0], [0.2, 0.3]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pw = torch.tensor([2.0, 3.0])
    manual = -(pw * y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)).mean()
    assert task.loss(z, y, pw).item() == pytest.approx(manual.item(), rel=1e-6)
    assert task.predict(task.probabilities(z)).tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="takes no LabelMap"):
        MultilabelTask(("a", "b"), label_map=LabelMap({0: 0, 1: 1}, classes=("a", "b")))


def test_ordinal_decode_by_hand():
    task = make_task("ordinal", ["g0", "g1", "g2", "g3"])
    z = torch.tensor([[_logit(0.9), _logit(0.6), _logit(0.2)]])
    p = task.probabilities(z)
    torch.testing.assert_close(p, torch.tensor([[0.1, 0.3, 0.4, 0.2]]))
    assert task.predict(p).tolist() == [2]  # P(y>0)=.9, P(y>1)=.6 above 0.5; P(y>2)=.2 not


def test_ordinal_non_monotone_logits_still_give_a_distribution():
    task = make_task("ordinal", ["g0", "g1", "g2"])
    z = torch.tensor([[_logit(0.3), _logit(0.8)], [_logit(0.7), _logit(0.9)]])
    p = task.probabilities(z)
    assert bool((p >= 0).all())
    torch.testing.assert_close(p.sum(1), torch.ones(2))
    # running minimum: [0.3, 0.3] -> [0.7, 0.0, 0.3]; [0.7, 0.7] -> [0.3, 0.0, 0.7]
    torch.testing.assert_close(p, torch.tensor([[0.7, 0.0, 0.3], [0.3, 0.0, 0.7]]))
    assert task.predict(p).tolist() == [0, 2]


def test_ordinal_loss_is_sum_of_cumulative_bces():
    task = make_task("ordinal", ["g0", "g1", "g2"])
    z = torch.tensor([[0.3, -0.4], [1.2, 0.1], [-2.0, -1.0]])
    y = torch.tensor([0, 2, 1])
    targets = torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    torch.testing.assert_close(task.cumulative_targets(y), targets)
    per = F.binary_cross_entropy_with_logits(z, targets, reduction="none").sum(1)
    assert task.loss(z, y).item() == pytest.approx(per.mean().item())
    w = torch.tensor([1.0, 2.0, 4.0])
    assert task.loss(z, y, w).item() == pytest.approx(((per * w[y]).sum() / w[y].sum()).item())


# -- label checks and weights -----------------------------------------------------------------
def test_absent_class_is_named():
    task = make_task("multiclass", ["akiec", "bcc", "mel"])
    with pytest.raises(ValueError, match=r"\['bcc'\] have no samples in the training split"):
        task.check_labels(torch.tensor([0, 0, 2, 2]))
    with pytest.raises(ValueError, match=r"label 3 is outside 0\.\.2"):
        task.check_labels(torch.tensor([0, 1, 3]))
    ml = make_task("multilabel", ["x", "y"])
    with pytest.raises(ValueError, match=r"\['y'\]"):
        ml.check_labels(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_balanced_class_and_sample_weights():
    task = make_task("binary", ["neg", "pos"])
    y = torch.tensor([0] * 6 + [1] * 2)
    # scikit-learn's "balanced": n / (K * count) = 8 / 12 and 8 / 4
    torch.testing.assert_close(task.balanced_class_weights(y), torch.tensor([8 / 12, 2.0]))
    sw = task.balanced_sample_weights(y)
    assert sw.shape == (8,)
    assert sw[y == 0].sum().item() == pytest.approx(sw[y == 1].sum().item())
    ml = make_task("multilabel", ["x", "y"])
    yl = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    torch.testing.assert_close(ml.balanced_class_weights(yl), torch.tensor([1.0, 1 / 3]))
    with pytest.raises(ValueError, match="class_weights='balanced' instead"):
        ml.balanced_sample_weights(yl)


def test_prior_log_odds_per_kind():
    # the offsets of the logit-adjusted loss: log prior (softmax), log-odds (sigmoid outputs)
    mc = make_task("multiclass", ["a", "b", "c"])
    y = torch.tensor([0] * 5 + [1] * 3 + [2] * 2)
    torch.testing.assert_close(mc.prior_log_odds(y), torch.log(torch.tensor([0.5, 0.3, 0.2])))
    binary = make_task("binary", ["neg", "pos"])
    yb = torch.tensor([0] * 6 + [1] * 2)
    torch.testing.assert_close(binary.prior_log_odds(yb), torch.log(torch.tensor([2 / 6])))
    ml = make_task("multilabel", ["x", "y"])
    yl = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])
    torch.testing.assert_close(ml.prior_log_odds(yl), torch.log(torch.tensor([2 / 2, 3 / 1])))
    with pytest.raises(ValueError, match=r"\['y'\] are positive in every training sample"):
        ml.prior_log_odds(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"class.* no samples"):
        mc.prior_log_odds(torch.tensor([0, 0, 1]))
    ordinal = make_task("ordinal", ["g0", "g1", "g2"])
    with pytest.raises(ValueError, match="not defined for ordinal tasks"):
        ordinal.prior_log_odds(y)


# -- binary ---------------------------------------------------------------------------------------
def test_binary_decisions_columns_and_one_vs_rest():
    task = make_task("binary", ["neg", "pos"])
    p = np.array([0.2, 0.5, 0.7], dtype=np.float32)
    assert task.decisions(p).tolist() == [0, 0, 1]  # p > 0.5, so 0.5 is negative
    np.testing.assert_allclose(task.class_columns(p), [[0.8, 0.2], [0.5, 0.5], [0.3, 0.7]])
    y = np.array([0, 1, 1])
    is0, s0, decided0 = task.one_vs_rest(y, p, 0)
    assert is0.tolist() == [True, False, False] and decided0.tolist() == [True, True, False]
    np.testing.assert_allclose(s0, [0.8, 0.5, 0.3])
    is1, s1, decided1 = task.one_vs_rest(y, p, 1)
    assert is1.tolist() == [False, True, True] and decided1.tolist() == [False, False, True]
    np.testing.assert_array_equal(s1, p)


def test_binary_view_positive_link_and_probabilities():
    task = make_task("binary", ["neg", "pos"])
    assert task.resolve_positive(None, "anything.npz") == ([1], "pos")
    assert task.own_positive() == [1]
    y, s = task.binary_view(np.array([0.1, 0.9]), np.array([0, 1]), [1])
    assert y.dtype == bool and y.tolist() == [False, True] and s.tolist() == [0.1, 0.9]
    assert task.temperature_link() == "sigmoid"
    got = task.probabilities_array(np.array([[0.0], [math.log(3.0)]]))
    np.testing.assert_allclose(got, [0.5, 0.75], rtol=1e-6)
    assert got.dtype == np.float32
    assert task.single_label and not task.scores_kappa


# -- multiclass -----------------------------------------------------------------------------------
def test_multiclass_binary_view_sums_the_positive_classes():
    task = make_task("multiclass", ["a", "b", "c"])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    assert task.decisions(p).tolist() == [2, 0]
    np.testing.assert_array_equal(task.class_columns(p), p)
    idx, name = task.resolve_positive("b,c")
    assert (idx, name) == ([1, 2], "positive: b+c")
    y, s = task.binary_view(p, np.array([2, 0]), idx)
    assert y.tolist() == [True, False]
    np.testing.assert_allclose(s, [0.8, 0.4])
    assert task.resolve_positive([2, "a"]) == ([0, 2], "positive: a+c")
    assert task.resolve_positive(None, "my.npz") is None  # no clinical default
    assert task.temperature_link() == "softmax" and task.scores_kappa


def test_multiclass_one_vs_rest_and_positive_rows():
    task = make_task("multiclass", ["a", "b", "c"])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1]])
    y = np.array([2, 1, 1])
    is1, s1, decided1 = task.one_vs_rest(y, p, 1)
    assert is1.tolist() == [False, True, True] and decided1.tolist() == [False, False, True]
    np.testing.assert_array_equal(s1, [0.3, 0.1, 0.8])
    assert task.positive_rows(y, [2]).tolist() == [True, False, False]
    assert task.positive_rows(y, []).tolist() == [False, False, False]
    assert task.target_names(np.int64(1)) == "b"


def test_positive_errors_name_the_classes():
    task = make_task("multiclass", ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"'7' is neither a class name nor an index 0\.\.2"):
        task.resolve_positive("7")
    with pytest.raises(ValueError, match="some but not all classes"):
        task.resolve_positive("a,b,c")


def test_retinamnist_defaults_to_referable_only_with_five_grades():
    five = make_task("multiclass", list("01234"))
    assert DEFAULT_POSITIVE["retinamnist"][:2] == ((2, 3, 4), "referable")
    assert five.resolve_positive(None, "/data/retinamnist_128.npz") == ([2, 3, 4], "referable")
    assert five.resolve_positive(None, "other.npz") is None
    three = make_task("multiclass", list("012"))
    assert three.resolve_positive(None, "retinamnist.npz") is None


# -- multilabel -----------------------------------------------------------------------------------
def test_multilabel_decides_each_label_and_has_no_binary_view():
    task = make_task("multilabel", ["x", "y", "z"])
    p = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.5]])
    y = np.array([[1, 0, 0], [0, 1, 1]])
    assert task.decisions(p).tolist() == [[1, 0, 1], [0, 1, 0]]
    is2, s2, decided2 = task.one_vs_rest(y, p, 2)
    assert is2.tolist() == [False, True] and decided2.tolist() == [True, False]
    np.testing.assert_array_equal(s2, [0.6, 0.5])
    assert task.resolve_positive(None, "retinamnist.npz") is None
    with pytest.raises(ValueError, match="no single positive class"):
        task.resolve_positive("x")
    with pytest.raises(ValueError, match="no binary view"):
        task.binary_view(p, y, [0])
    assert not task.single_label and task.no_binary_view == "a multi-label task"


def test_multilabel_calibration_pairs_rows_and_names():
    task = make_task("multilabel", ["x", "y", "z"])
    p = np.array([[0.9, 0.2, 0.6], [0.1, 0.7, 0.5]])
    y = np.array([[1, 0, 0], [0, 0, 0]])
    yc, pc = task.calibration_pairs(y, p)
    assert yc.tolist() == [1, 0, 0, 0, 0, 0] and yc.dtype == np.int64
    np.testing.assert_array_equal(pc, [0.9, 0.2, 0.6, 0.1, 0.7, 0.5])
    assert task.positive_rows(y, []).tolist() == [True, False]
    assert task.target_names(y[0]) == ["x"] and task.target_names(y[1]) == []
    assert task.temperature_link() == "sigmoid"
    np.testing.assert_array_equal(task.class_columns(p), p)


# -- ordinal --------------------------------------------------------------------------------------
def test_ordinal_decisions_are_argmax_while_predict_is_the_median():
    task = make_task("ordinal", list("0123"))
    p = np.array([[0.4, 0.0, 0.35, 0.25]])
    # P(y > k) = 0.6, 0.6, 0.25: the median grade is 2, the most probable grade 0
    assert task.predict(p).tolist() == [2]
    assert task.decisions(p).tolist() == [0]
    assert task.scores_kappa and task.single_label


def test_ordinal_default_view_and_temperature_link_decode_the_logits():
    five = make_task("ordinal", list("01234"))
    assert five.resolve_positive(None, "") == ([2, 3, 4], "referable")
    assert make_task("ordinal", list("0123")).resolve_positive(None, "") is None
    link = five.temperature_link()
    z = np.array([[2.0, 0.5, -1.0, -3.0], [0.0, 0.0, 0.0, 0.0]])
    expected = five.probabilities(torch.tensor(z, dtype=torch.float32)).numpy()
    np.testing.assert_array_equal(link(z), expected)
    np.testing.assert_allclose(link(z).sum(1), [1.0, 1.0], rtol=1e-6)


# -- serialisation of bundles written before the split into kinds --------------------------------
@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (
            {
                "kind": "binary",
                "classes": ["non-referable", "referable"],
                "label_map": referable_dr().to_dict(),
                "name": "referable DR",
                "default_metrics": ["auc", "accuracy"],
            },
            BinaryTask,
        ),
        (
            {
                "kind": "multiclass",
                "classes": ["a", "b", "c"],
                "label_map": None,
                "name": "",
                "default_metrics": ["auc", "accuracy"],
            },
            MulticlassTask,
        ),
        (
            {
                "kind": "multilabel",
                "classes": ["x", "y"],
                "label_map": None,
                "name": "codes",
                "default_metrics": ["auc"],
            },
            MultilabelTask,
        ),
        (
            {
                "kind": "ordinal",
                "classes": list("01234"),
                "label_map": None,
                "name": "DR grade",
                "default_metrics": ["auc", "accuracy"],
            },
            OrdinalTask,
        ),
    ],
)
def test_old_task_dicts_load_and_write_back_byte_identical(data, cls):
    task = Task.from_dict(data)
    assert type(task) is cls
    assert json.dumps(task.to_dict()) == json.dumps(data)
