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
