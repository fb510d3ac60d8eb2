"""A disease taxonomy, Esteva et al.'s PartitionDisease, and inference over taxonomy nodes.

The tree file (JSON) lists nodes, each with an ``id``, a ``parent`` (``null`` for the one root),
an optional display ``name``, and, on leaves only, the dataset ``labels`` the leaf covers::

    {"name": "...", "nodes": [
      {"id": "lesion", "parent": null},
      {"id": "malignant", "parent": "lesion"},
      {"id": "mel", "parent": "malignant", "labels": ["mel"]}, ...],
     "refine": {"field": "localization", "min_count": 40}}

``refine`` (optional) asks for finer leaves from a metadata column (see :meth:`Taxonomy.refine`).
Validation errors name the node and the line it starts on: duplicate ids, unknown parents,
cycles, several roots, labels on inner nodes, leaves without labels, a label covered twice;
:meth:`Taxonomy.check_labels` and :meth:`Taxonomy.check_counts` add unknown/uncovered dataset
labels and leaves with no training data.

PartitionDisease (Esteva et al., Nature 2017): descend from the root; a node whose subtree holds
fewer than ``max_class_size`` training images becomes a training class, otherwise recurse into its
children; leaves that are still too large stay whole. The probability of any node is the sum of
the probabilities of the training classes below it (:func:`node_probabilities`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

NODE_KEYS = ("id", "parent", "name", "labels")
#: separator of a refined leaf's label: ``"nv@back"``
REFINE_SEP = "@"


class TaxonomyError(ValueError):
    """A taxonomy file or tree is malformed; the message names the node and line."""


@dataclass(frozen=True)
class Node:
    id: str
    parent: str | None
    name: str
    labels: tuple[str, ...] = ()
    line: int | None = None


@dataclass
class Taxonomy:
    """A validated tree. ``nodes`` in file order; ``children`` by node id; ``root`` its id.

    ``refine_field``/``refine_min_count`` carry the file's optional ``refine`` request.
    """

    nodes: dict[str, Node]
    name: str = ""
    source: str = "<taxonomy>"
    refine_field: str | None = None
    refine_min_count: int = 1
    children: dict[str, list[str]] = field(init=False)
    root: str = field(init=False)

    def __post_init__(self) -> None:
        self.children = {n: [] for n in self.nodes}
        roots = []
        for node in self.nodes.values():
            if node.parent is None:
                roots.append(node)
            elif node.parent not in self.nodes:
                raise TaxonomyError(
                    f"{self._where(node)}: parent {node.parent!r} is not a node id "
                    f"(known: {', '.join(sorted(self.nodes))})"
                )
            else:
                self.children[node.parent].append(node.id)
        if len(roots) != 1:
            where = "; ".join(self._where(r) for r in roots) or "none"
            raise TaxonomyError(
                f"{self.source}: a taxonomy needs exactly one root (parent null), found "
                f"{len(roots)}: {where}"
            )
        self.root = roots[0].id
        reached = set(self.descendants(self.root, _check_cycles=True))
        stray = [n for n in self.nodes.values() if n.id not in reached]
        if stray:
            raise TaxonomyError(
                f"{self._where(stray[0])}: cycle in the parent links (node {stray[0].id!r} never "
                f"reaches the root {self.root!r}; nodes on or below the cycle: "
                f"{', '.join(n.id for n in stray)})"
            )
        owner: dict[str, str] = {}
        for node in self.nodes.values():
            leaf = not self.children[node.id]
            if leaf and not node.labels:
                raise TaxonomyError(
                    f"{self._where(node)}: leaf {node.id!r} covers no dataset labels; give it "
                    '"labels": [...] or remove it'
                )
            if not leaf and node.labels:
                raise TaxonomyError(
                    f"{self._where(node)}: inner node {node.id!r} has labels; only leaves cover "
                    "dataset labels (move them to a child)"
                )
            for lab in node.labels:
                if lab in owner:
                    raise TaxonomyError(
                        f"{self._where(node)}: label {lab!r} is covered twice (by {owner[lab]!r} "
                        f"and {node.id!r}); each label belongs to exactly one leaf"
                    )
                owner[lab] = node.id
        self._owner = owner

    def _where(self, node: Node) -> str:
        line = f", line {node.line}" if node.line else ""
        return f"{self.source}{line} (node {node.id!r})"

    # -- structure -----------------------------------------------------------------------------
    @property
    def leaves(self) -> list[str]:
        return [n for n in self.nodes if not self.children[n]]

    @property
    def labels(self) -> list[str]:
        return list(self._owner)

    def leaf_of(self, label: str) -> str:
        try:
            return self._owner[label]
        except KeyError:
            raise TaxonomyError(
                f"{self.source}: dataset label {label!r} is covered by no leaf"
            ) from None

    def descendants(self, node: str, *, _check_cycles: bool = False) -> list[str]:
        """``node`` and everything below it (pre-order)."""
        out, stack, seen = [], [node], set()
        while stack:
            n = stack.pop()
            if n in seen:  # only reachable through a cycle
                continue
            seen.add(n)
            out.append(n)
            stack.extend(reversed(self.children[n]))
        return out

    def leaves_under(self, node: str) -> list[str]:
        return [n for n in self.descendants(node) if not self.children[n]]

    def ancestors(self, node: str) -> list[str]:
        """From ``node`` up to the root (inclusive)."""
        out = [node]
        while self.nodes[out[-1]].parent is not None:
            out.append(self.nodes[out[-1]].parent)
        return out

    def depth(self, node: str) -> int:
        return len(self.ancestors(node)) - 1

    def level(self, depth: int) -> list[str]:
        """Nodes at ``depth``, plus shallower leaves, so the result partitions the leaves."""
        return [
            n
            for n in self.descendants(self.root)
            if self.depth(n) == depth or (not self.children[n] and self.depth(n) < depth)
        ]

    # -- checks against data -------------------------------------------------------------------
    def check_labels(self, dataset_labels: Iterable[str]) -> None:
        """Every leaf label must be a dataset label, and every dataset label covered."""
        known = list(dict.fromkeys(dataset_labels))
        for node in self.nodes.values():
            bad = [lab for lab in node.labels if lab not in known]
            if bad:
                raise TaxonomyError(
                    f"{self._where(node)}: unknown label(s) {bad}; the dataset's labels are "
                    f"{', '.join(known)}"
                )
        missing = [lab for lab in known if lab not in self._owner]
        if missing:
            raise TaxonomyError(f"{self.source}: dataset label(s) {missing} are covered by no leaf")

    def leaf_counts(self, sample_labels: Iterable[str]) -> dict[str, int]:
        counts = dict.fromkeys(self.leaves, 0)
        for lab in sample_labels:
            counts[self.leaf_of(lab)] += 1
        return counts

    def check_counts(self, leaf_counts: Mapping[str, int]) -> None:
        """Raise for a leaf with no (training) data: it could never be learned."""
        for leaf in self.leaves:
            if leaf_counts.get(leaf, 0) <= 0:
                raise TaxonomyError(
                    f"{self._where(self.nodes[leaf])}: leaf {leaf!r} has no training data; "
                    "merge it into a sibling or remove it"
                )

    def subtree_counts(self, leaf_counts: Mapping[str, int]) -> dict[str, int]:
        return {n: sum(leaf_counts.get(x, 0) for x in self.leaves_under(n)) for n in self.nodes}

    # -- finer leaves from metadata ------------------------------------------------------------
    def refine(
        self, labels: Sequence[str], values: Sequence[str], min_count: int | None = None
    ) -> Taxonomy:
        """Split every leaf into children by a metadata value (e.g. body site).

        For each leaf, values seen at least ``min_count`` times among its ``labels`` samples
        (training data) get a child ``<leaf>@<value>`` covering label ``<label>@<value>``
        (largest first); the rest go to ``<leaf>@other``. Leaves with one child stay as they
        are. Use :meth:`refined_label` to label samples for the result.
        """
        min_count = self.refine_min_count if min_count is None else int(min_count)
        if len(labels) != len(values):
            raise ValueError(f"{len(labels)} labels but {len(values)} values")
        by_leaf: dict[str, dict[str, int]] = {leaf: {} for leaf in self.leaves}
        for lab, val in zip(labels, values, strict=True):
            c = by_leaf[self.leaf_of(lab)]
            c[str(val)] = c.get(str(val), 0) + 1
        nodes: dict[str, Node] = {}
        for node in self.nodes.values():
            kids = by_leaf.get(node.id)
            kept = [
                v
                for v, k in sorted((kids or {}).items(), key=lambda vk: (-vk[1], vk[0]))
                if k >= min_count
            ]
            rest = sum(k for v, k in (kids or {}).items() if v not in kept)
            if kids is None or len(kept) + (rest > 0) < 2:
                nodes[node.id] = node
                continue
            nodes[node.id] = Node(node.id, node.parent, node.name, (), node.line)
            for v in [*kept, *(["other"] if rest else [])]:
                cid = f"{node.id}{REFINE_SEP}{v}"
                refined = tuple(f"{lab}{REFINE_SEP}{v}" for lab in node.labels)
                nodes[cid] = Node(cid, node.id, f"{node.name} ({v})", refined, node.line)
        return Taxonomy(nodes, name=self.name, source=self.source, refine_min_count=min_count)

    def refined_label(self, label: str, value: str) -> str:
        """The label a sample gets in a refined tree: ``label@value``, else ``label@other``,
        else ``label`` when its leaf was not split. A value never seen in the training data
        (only validation/test samples can have one) where the leaf has no ``other`` child goes
        to the leaf's largest child; metrics never use classes finer than the diagnoses."""
        for cand in (f"{label}{REFINE_SEP}{value}", f"{label}{REFINE_SEP}other", label):
            if cand in self._owner:
                return cand
        prefix = f"{label}{REFINE_SEP}"
        for cand in self._owner:  # children in file order: the largest first
            if cand.startswith(prefix):
                return cand
        raise TaxonomyError(f"{self.source}: label {label!r} is covered by no leaf")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": [
                {
                    "id": n.id,
                    "parent": n.parent,
                    "name": n.name,
                    **({"labels": list(n.labels)} if n.labels else {}),
                }
                for n in self.nodes.values()
            ],
        }


# ---- reading files ------------------------------------------------------------------------------


def _node_lines(text: str) -> list[int]:
    """Line number of each ``"id": ...`` key in file order (the k-th node's line)."""
    return [text.count("\n", 0, m.start()) + 1 for m in re.finditer(r'"id"\s*:', text)]


def parse_taxonomy(text: str, source: str = "<taxonomy>") -> Taxonomy:
    """A :class:`Taxonomy` from JSON text; errors name ``source`` and the line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyError(
            f"{source}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise TaxonomyError(f'{source}: expected an object with a "nodes" list')
    unknown_top = sorted(set(data) - {"name", "nodes", "refine", "description", "notes"})
    if unknown_top:
        raise TaxonomyError(f"{source}: unknown top-level key(s) {unknown_top}")
    lines = _node_lines(text)
    nodes: dict[str, Node] = {}
    for k, raw in enumerate(data["nodes"]):
        line = lines[k] if k < len(lines) else None
        where = f"{source}{f', line {line}' if line else ''} (node #{k + 1})"
        if not isinstance(raw, dict):
            raise TaxonomyError(f"{where}: a node must be an object, got {raw!r}")
        extra = sorted(set(raw) - set(NODE_KEYS))
        if extra:
            raise TaxonomyError(f"{where}: unknown key(s) {extra}; a node has {NODE_KEYS}")
        nid, parent, labels = raw.get("id"), raw.get("parent"), raw.get("labels", [])
        if not isinstance(nid, str) or not nid.strip():
            raise TaxonomyError(f"{where}: 'id' must be a non-empty string, got {nid!r}")
        if parent is not None and not isinstance(parent, str):
            raise TaxonomyError(f"{where}: 'parent' must be a node id or null, got {parent!r}")
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            raise TaxonomyError(f"{where}: 'labels' must be a list of strings, got {labels!r}")
        if nid in nodes:
            raise TaxonomyError(f"{where}: duplicate node id {nid!r}")
        nodes[nid] = Node(nid, parent, str(raw.get("name", nid)), tuple(labels), line)
    if not nodes:
        raise TaxonomyError(f"{source}: the taxonomy has no nodes")
    refine = data.get("refine")
    if refine is not None and (
        not isinstance(refine, dict)
        or not isinstance(refine.get("field"), str)
        or isinstance(refine.get("min_count", 1), bool)
        or not isinstance(refine.get("min_count", 1), int)
    ):
        raise TaxonomyError(f'{source}: "refine" must be {{"field": str, "min_count": int}}')
    return Taxonomy(
        nodes,
        name=str(data.get("name", "")),
        source=source,
        refine_field=refine["field"] if refine else None,
        refine_min_count=int(refine.get("min_count", 1)) if refine else 1,
    )


def load_taxonomy(path_or_name: str | os.PathLike[str]) -> Taxonomy:
    """Read a taxonomy JSON file, or a shipped one by name (``"ham10000"``)."""
    text_path = os.fspath(path_or_name)
    if not text_path.endswith(".json") and os.sep not in text_path and "/" not in text_path:
        shipped = resources.files("healthcnn.tasks") / "taxonomies" / f"{text_path}.json"
        if not shipped.is_file():
            raise ValueError(f"no shipped taxonomy {text_path!r}; pass a .json path")
        return parse_taxonomy(shipped.read_text(encoding="utf-8"), source=f"{text_path}.json")
    path = Path(text_path)
    if not path.is_file():
        raise FileNotFoundError(f"taxonomy file {path} does not exist")
    return parse_taxonomy(path.read_text(encoding="utf-8"), source=str(path))


# ---- PartitionDisease and inference classes ---------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """Training classes (node ids), their training-image counts, and each leaf's class."""

    classes: tuple[str, ...]
    sizes: tuple[int, ...]
    leaf_class: Mapping[str, int]
    max_class_size: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_class_size": self.max_class_size,
            "classes": [
                {"node": c, "images": s} for c, s in zip(self.classes, self.sizes, strict=True)
            ],
        }


def partition_from_nodes(
    tax: Taxonomy, nodes: Sequence[str], counts: Mapping[str, int]
) -> Partition:
    """Training classes given explicitly (e.g. benign/malignant); they must partition the leaves."""
    leaf_class: dict[str, int] = {}
    for i, n in enumerate(nodes):
        if n not in tax.nodes:
            raise TaxonomyError(f"{tax.source}: {n!r} is not a node of the taxonomy")
        for leaf in tax.leaves_under(n):
            if leaf in leaf_class:
                raise TaxonomyError(
                    f"{tax.source}: nodes {nodes[leaf_class[leaf]]!r} and {n!r} overlap"
                )
            leaf_class[leaf] = i
    missing = [x for x in tax.leaves if x not in leaf_class]
    if missing:
        raise TaxonomyError(f"{tax.source}: the classes {list(nodes)} leave out leaves {missing}")
    sub = tax.subtree_counts(counts)
    return Partition(tuple(nodes), tuple(sub[n] for n in nodes), leaf_class, 0)


def partition_disease(
    tax: Taxonomy,
    leaf_counts: Mapping[str, int],
    max_class_size: int = 1000,
    *,
    keep_apart: Iterable[str] = (),
) -> Partition:
    """Esteva et al.'s PartitionDisease over training-image counts per leaf.

    A node whose subtree holds fewer than ``max_class_size`` images becomes a training class,
    otherwise its children are visited; a leaf still too large stays whole. ``keep_apart``
    (our addition) lists nodes that must each be a union of training classes, so that they can
    be predicted as inference classes (e.g. the 7 diagnoses): a node with one of them strictly
    below it is always split.
    """
    if (
        isinstance(max_class_size, bool)
        or not isinstance(max_class_size, int)
        or max_class_size < 1
    ):
        raise ValueError(f"max_class_size must be an int >= 1, got {max_class_size!r}")
    apart = set(keep_apart)
    unknown = sorted(apart - set(tax.nodes))
    if unknown:
        raise TaxonomyError(f"{tax.source}: keep_apart names unknown node(s) {unknown}")
    sub = tax.subtree_counts(leaf_counts)
    below = {n: bool(apart & (set(tax.descendants(n)) - {n})) for n in tax.nodes}
    classes: list[str] = []
    stack = [tax.root]
    while stack:
        n = stack.pop()
        kids = tax.children[n]
        if not kids or (sub[n] < max_class_size and not below[n]):
            if sub[n] > 0:
                classes.append(n)
            continue
        stack.extend(reversed(kids))
    leaf_class = {leaf: i for i, c in enumerate(classes) for leaf in tax.leaves_under(c)}
    return Partition(tuple(classes), tuple(sub[c] for c in classes), leaf_class, max_class_size)


def membership(tax: Taxonomy, classes: Sequence[str], nodes: Sequence[str]) -> np.ndarray:
    """``(len(classes), len(nodes))`` 0/1 matrix: class i lies in the subtree of node j.

    Raises when a node only partly covers a class (it is finer than the training classes and
    cannot be predicted from them)."""
    m = np.zeros((len(classes), len(nodes)), dtype=np.float64)
    for j, n in enumerate(nodes):
        under = set(tax.leaves_under(n))
        for i, c in enumerate(classes):
            leaves = set(tax.leaves_under(c))
            if leaves <= under:
                m[i, j] = 1.0
            elif leaves & under:
                raise TaxonomyError(
                    f"node {n!r} is finer than training class {c!r}: it cannot be predicted "
                    "from these classes"
                )
    return m


def node_probabilities(
    tax: Taxonomy, classes: Sequence[str], probs: np.ndarray, nodes: Sequence[str]
) -> np.ndarray:
    """Inference classes: P(node) = sum of P(training class) over the classes below it."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(
            f"probs must be (N, {len(classes)}) for classes {list(classes)}, got {probs.shape}"
        )
    return probs @ membership(tax, classes, nodes)
