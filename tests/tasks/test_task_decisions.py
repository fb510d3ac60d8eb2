"""The kind-dependent decisions each task owns (what evaluation, the report and the studies ask
of a task instead of branching on its kind), checked on hand-computed cases per kind."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from healthcnn.tasks import (
    DEFAULT_POSITIVE,
    BinaryTask,
    MulticlassTask,
    MultilabelTask,
    OrdinalTask,
    Task,
    make_task,
    referable_dr,
)


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
