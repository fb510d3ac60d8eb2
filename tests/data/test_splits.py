"""Group-level splits: no leakage, fractions, stratification, determinism."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from healthcnn.data.splits import group_split


def _check_partition(parts: list[np.ndarray], groups: list[str]) -> None:
    every = np.concatenate(parts)
    assert sorted(every.tolist()) == list(range(len(groups)))
    owners = [{groups[i] for i in p} for p in parts]
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert not owners[a] & owners[b], "a group appears in two splits"


def test_small_partition_and_determinism() -> None:
    groups = [f"p{i // 3}" for i in range(60)]  # 20 patients x 3 images
    parts = group_split(groups, seed=0)
    _check_partition(parts, groups)
    assert [len(p) for p in parts] == [42, 9, 9]
    again = group_split(groups, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = group_split(groups, seed=1)
    assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_no_empty_split_with_few_groups() -> None:
    groups = ["a"] * 10 + ["b", "c"]
    parts = group_split(groups, seed=3)
    _check_partition(parts, groups)
    assert all(len(p) for p in parts)


def test_errors() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        group_split(["a", "b"], (0.5, 0.6), seed=0)
    with pytest.raises(ValueError, match="one label per sample"):
        group_split(["a", "b"], (0.5, 0.5), stratify=[1], seed=0)
    with pytest.raises(TypeError, match="seed"):
        group_split(["a", "b"], (0.5, 0.5), seed="0")


@pytest.mark.data
def test_ham10000_lesion_split_is_stratified(data_root: Path) -> None:
    with open(data_root / "ham10000" / "HAM10000_metadata.csv", newline="") as fh:
        meta = list(csv.DictReader(fh))
    groups = [r["lesion_id"] for r in meta]
    labels = [r["dx"] for r in meta]
    parts = group_split(groups, (0.7, 0.15, 0.15), stratify=labels, seed=0)
    _check_partition(parts, groups)
    sizes = np.array([len(p) for p in parts]) / len(meta)
    assert np.allclose(sizes, [0.7, 0.15, 0.15], atol=0.02)
    classes = sorted(set(labels))
    overall = np.array([labels.count(c) for c in classes]) / len(labels)
    for p in parts:
        mix = np.array([sum(labels[i] == c for i in p) for c in classes]) / len(p)
        assert np.abs(mix - overall).max() < 0.03, (mix, overall)


# ---- group_kfold ------------------------------------------------------------------------------


def test_group_kfold_has_no_leakage_and_covers_every_sample() -> None:
    from healthcnn.data.splits import group_kfold

    rng = np.random.default_rng(0)
    groups = [f"p{g}" for g in rng.integers(0, 23, 300)]
    labels = rng.integers(0, 3, 300)
    folds = group_kfold(groups, 5, stratify=labels, seed=1)
    assert len(folds) == 5
    tests = [te for _, te in folds]
    _check_partition(tests, groups)  # test folds partition the samples, groups disjoint
    for train, test in folds:
        assert sorted(np.r_[train, test].tolist()) == list(range(300))
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    again = group_kfold(groups, 5, stratify=labels, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_group_kfold_stratifies_singletons_and_leaves_one_group_out() -> None:
    from healthcnn.data.splits import group_kfold

    # one sample per group: stratified k-fold; every class spread as evenly as possible
    labels = np.array([0] * 50 + [1] * 20 + [2] * 3)
    folds = group_kfold(range(len(labels)), 5, stratify=labels, seed=0)
    per_fold = np.array([np.bincount(labels[te], minlength=3) for _, te in folds])
    assert per_fold[:, 0].tolist() == [10] * 5
    assert per_fold[:, 1].tolist() == [4] * 5
    assert sorted(per_fold[:, 2].tolist()) == [0, 0, 1, 1, 1]
    # n_splits == number of groups: each test fold is exactly one group
    groups = ["a"] * 4 + ["b"] * 2 + ["c"] * 3
    loo = group_kfold(groups, 3, seed=0)
    assert sorted({groups[i] for i in te}.pop() for _, te in loo) == ["a", "b", "c"]
    assert all(len({groups[i] for i in te}) == 1 for _, te in loo)


def test_group_kfold_rejects_bad_arguments() -> None:
    from healthcnn.data.splits import group_kfold

    with pytest.raises(ValueError, match="more than the 2 groups"):
        group_kfold(["a", "b", "a"], 3, seed=0)
    with pytest.raises(ValueError, match="n_splits must be an int >= 2"):
        group_kfold(["a", "b"], 1, seed=0)
    with pytest.raises(ValueError, match="one label per sample"):
        group_kfold(["a", "b"], 2, stratify=[0], seed=0)
