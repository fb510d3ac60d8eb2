"""Taxonomy files, their validation errors, PartitionDisease and inference-class sums."""

from __future__ import annotations

import json

import numpy as np
import pytest

from healthcnn.tasks.taxonomy import (
    TaxonomyError,
    load_taxonomy,
    node_probabilities,
    parse_taxonomy,
    partition_disease,
    partition_from_nodes,
)


def _text(nodes: list[dict]) -> str:
    """One node per line, so node k sits on line k + 2."""
    body = ",\n".join(json.dumps(n) for n in nodes)
    return '{"nodes": [\n' + body + "\n]}"


def _tree() -> list[dict]:
    # root -> A (a1, a2 -> {a2x, a2y}), B (b1)
    return [
        {"id": "root", "parent": None},
        {"id": "A", "parent": "root"},
        {"id": "B", "parent": "root"},
        {"id": "a1", "parent": "A", "labels": ["a1"]},
        {"id": "a2", "parent": "A"},
        {"id": "a2x", "parent": "a2", "labels": ["a2x"]},
        {"id": "a2y", "parent": "a2", "labels": ["a2y", "a2z"]},
        {"id": "b1", "parent": "B", "labels": ["b1"]},
    ]


# ---- validation ---------------------------------------------------------------------------------


def test_shipped_ham10000_taxonomy() -> None:
    tax = load_taxonomy("ham10000")
    assert sorted(tax.leaves) == sorted(["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"])
    assert tax.level(1) == ["benign", "malignant"]
    assert sorted(tax.leaves_under("malignant")) == ["akiec", "bcc", "mel"]
    assert tax.ancestors("mel") == ["mel", "malignant-melanocytic", "malignant", "lesion"]
    assert tax.ancestors("nv")[1] == "benign-melanocytic"
    assert tax.refine_field == "localization"
    tax.check_labels(["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"])


def _error(nodes: list[dict], match: str) -> None:
    with pytest.raises(TaxonomyError, match=match):
        parse_taxonomy(_text(nodes), source="t.json")


def test_cycle_is_refused_with_its_line() -> None:
    nodes = [*_tree(), {"id": "c1", "parent": "c2"}, {"id": "c2", "parent": "c1"}]
    _error(nodes, r"t\.json, line 10 \(node 'c1'\): cycle")


def test_unknown_parent_duplicate_id_and_roots() -> None:
    _error(
        [*_tree(), {"id": "z", "parent": "nowhere", "labels": ["z"]}],
        r"line 10 \(node 'z'\): parent 'nowhere' is not a node id",
    )
    _error(
        [*_tree(), {"id": "a1", "parent": "B", "labels": ["q"]}],
        r"line 10 \(node #9\): duplicate node id 'a1'",
    )
    _error([*_tree(), {"id": "root2", "parent": None, "labels": ["r"]}], "exactly one root")


def test_label_covered_twice_and_label_rules() -> None:
    nodes = _tree()
    nodes[7] = {"id": "b1", "parent": "B", "labels": ["b1", "a1"]}
    _error(nodes, r"line 9 \(node 'b1'\): label 'a1' is covered twice \(by 'a1' and 'b1'\)")
    nodes = _tree()
    nodes[1] = {"id": "A", "parent": "root", "labels": ["x"]}
    _error(nodes, r"line 3 \(node 'A'\): inner node 'A' has labels")
    nodes = _tree()
    nodes[7] = {"id": "b1", "parent": "B"}
    _error(nodes, r"line 9 \(node 'b1'\): leaf 'b1' covers no dataset labels")
    nodes = _tree()
    nodes[3] = {"id": "a1", "parent": "A", "labels": ["a1"], "colour": "red"}
    _error(nodes, r"line 5 \(node #4\): unknown key\(s\) \['colour'\]")


def test_unknown_label_and_leaf_without_data() -> None:
    tax = parse_taxonomy(_text(_tree()), source="t.json")
    with pytest.raises(TaxonomyError, match=r"line 8 \(node 'a2y'\): unknown label\(s\) \['a2z'\]"):
        tax.check_labels(["a1", "a2x", "a2y", "b1"])
    with pytest.raises(TaxonomyError, match=r"label\(s\) \['c9'\] are covered by no leaf"):
        tax.check_labels(["a1", "a2x", "a2y", "a2z", "b1", "c9"])
    counts = {"a1": 3, "a2x": 0, "a2y": 5, "b1": 2}
    with pytest.raises(TaxonomyError, match=r"line 7 \(node 'a2x'\): leaf 'a2x' has no training"):
        tax.check_counts(counts)


def test_bad_json_names_the_line() -> None:
    text = _text(_tree()).replace('"A", "parent"', '"A" "parent"', 1)
    with pytest.raises(TaxonomyError, match=r"t\.json, line 3, column \d+: not valid JSON"):
        parse_taxonomy(text, source="t.json")
    with pytest.raises(TaxonomyError, match='"nodes" list'):
        parse_taxonomy('{"nodes": 3}', source="t.json")


def test_file_loading(tmp_path) -> None:
    path = tmp_path / "tree.json"
    path.write_text(_text(_tree()))
    assert load_taxonomy(path).leaves == ["a1", "a2x", "a2y", "b1"]
    with pytest.raises(FileNotFoundError):
        load_taxonomy(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="no shipped taxonomy"):
        load_taxonomy("nosuchtree")


# ---- PartitionDisease ---------------------------------------------------------------------------


@pytest.fixture
def tax():
    return parse_taxonomy(_text(_tree()))


def test_partition_threshold_is_strictly_fewer_than(tax) -> None:
    counts = {"a1": 40, "a2x": 30, "a2y": 29, "b1": 10}  # A = 99, B = 10, root = 109
    part = partition_disease(tax, counts, max_class_size=100)
    assert part.classes == ("A", "B") and part.sizes == (99, 10)
    part = partition_disease(tax, counts, max_class_size=99)  # A holds 99: not fewer, recurse
    assert part.classes == ("a1", "a2", "B") and part.sizes == (40, 59, 10)
    part = partition_disease(tax, counts, max_class_size=110)  # the whole tree is one class
    assert part.classes == ("root",)


def test_partition_leaves_too_large_stay_whole(tax) -> None:
    counts = {"a1": 500, "a2x": 30, "a2y": 20, "b1": 400}
    part = partition_disease(tax, counts, max_class_size=50)
    assert part.classes == ("a1", "a2x", "a2y", "b1")  # a2 (50) is not < 50
    assert part.sizes == (500, 30, 20, 400)
    part = partition_disease(tax, counts, max_class_size=51)
    assert part.classes == ("a1", "a2", "b1")
    assert dict(part.leaf_class) == {"a1": 0, "a2x": 1, "a2y": 1, "b1": 2}


def test_keep_apart_splits_ancestors_of_required_nodes(tax) -> None:
    counts = {"a1": 4, "a2x": 3, "a2y": 2, "b1": 1}
    part = partition_disease(tax, counts, max_class_size=1000, keep_apart=["a1", "a2", "b1"])
    assert part.classes == ("a1", "a2", "b1")
    with pytest.raises(TaxonomyError, match="unknown node"):
        partition_disease(tax, counts, keep_apart=["zz"])
    with pytest.raises(ValueError, match="max_class_size"):
        partition_disease(tax, counts, max_class_size=0)


def test_partition_from_nodes_must_partition(tax) -> None:
    counts = {"a1": 4, "a2x": 3, "a2y": 2, "b1": 1}
    assert partition_from_nodes(tax, ["A", "B"], counts).sizes == (9, 1)
    with pytest.raises(TaxonomyError, match="overlap"):
        partition_from_nodes(tax, ["A", "a1", "B"], counts)
    with pytest.raises(TaxonomyError, match="leave out"):
        partition_from_nodes(tax, ["A"], counts)


# ---- inference classes --------------------------------------------------------------------------


def test_node_probabilities_are_sums_of_descendant_classes(tax) -> None:
    counts = {"a1": 40, "a2x": 30, "a2y": 29, "b1": 10}
    part = partition_disease(tax, counts, max_class_size=35)  # a1 (40) stays whole; B is 10
    assert part.classes == ("a1", "a2x", "a2y", "B")
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=25)
    nodes = ["root", "A", "B", "a1", "a2", "a2x"]
    got = node_probabilities(tax, part.classes, probs, nodes)
    by_class = dict(zip(part.classes, probs.T, strict=True))
    expected = {
        "root": probs.sum(axis=1),
        "A": by_class["a1"] + by_class["a2x"] + by_class["a2y"],
        "B": by_class["B"],
        "a1": by_class["a1"],
        "a2": by_class["a2x"] + by_class["a2y"],
        "a2x": by_class["a2x"],
    }
    for j, n in enumerate(nodes):
        np.testing.assert_allclose(got[:, j], expected[n])
    for depth in (0, 1, 2):  # every level partitions the leaves: probabilities sum to 1
        level = [n if n != "b1" else "B" for n in tax.level(depth)]
        np.testing.assert_allclose(node_probabilities(tax, part.classes, probs, level).sum(1), 1)
    assert tax.level(2) == ["a1", "a2", "b1"]
    assert tax.level(3) == ["a1", "a2x", "a2y", "b1"]  # shallower leaves join deeper levels


def test_node_finer_than_training_classes_is_refused(tax) -> None:
    with pytest.raises(TaxonomyError, match="finer than training class 'A'"):
        node_probabilities(tax, ["A", "B"], np.full((2, 2), 0.5), ["a1"])
    with pytest.raises(ValueError, match="probs must be"):
        node_probabilities(tax, ["A", "B"], np.ones((2, 3)) / 3, ["A"])


def test_refine_by_metadata(tax) -> None:
    labels = ["a1"] * 5 + ["b1"] * 4
    sites = ["back", "back", "back", "face", "leg", "back", "back", "leg", "leg"]
    fine = tax.refine(labels, sites, min_count=2)
    assert fine.children["a1"] == ["a1@back", "a1@other"]  # face and leg: fewer than 2
    assert fine.children["b1"] == ["b1@back", "b1@leg"]
    assert fine.leaves_under("A")[:2] == ["a1@back", "a1@other"]
    assert fine.refined_label("a1", "face") == "a1@other"
    assert fine.refined_label("b1", "leg") == "b1@leg"
    assert fine.refined_label("b1", "hand") == "b1@back"  # unseen value: most common child
    assert fine.refined_label("a2x", "back") == "a2x"  # leaves with no data are not split
