"""Group-level (patient / lesion) splits: no group ever appears in two splits.

Images of one patient or lesion are strongly correlated; splitting by image leaks them between
train and test and inflates every metric. ``group_split`` assigns whole groups, stratified by
each group's majority label so that class proportions stay close across splits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _group_strata(
    groups: np.ndarray, stratify: Sequence[object] | np.ndarray | None
) -> tuple[dict[object, list[int]], list[object], dict[object, list[object]]]:
    """``(members, names, strata)``: each group's sample indices, the groups in first-seen order
    (deterministic), and the groups of each stratum (a group's most common ``stratify`` label;
    one stratum ``None`` without ``stratify``)."""
    if stratify is not None:
        stratify = np.asarray(stratify, dtype=object)
        if stratify.shape != groups.shape:
            raise ValueError(
                f"stratify must have one label per sample ({len(groups)}), got {stratify.shape}"
            )
    members: dict[object, list[int]] = defaultdict(list)
    for i, g in enumerate(groups.tolist()):
        members[g].append(i)
    names = list(members)
    strata: dict[object, list[object]] = defaultdict(list)
    for g in names:
        if stratify is None:
            key = None
        else:
            counts = Counter(stratify[members[g]].tolist())
            key = max(counts.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
        strata[key].append(g)
    return members, names, strata


def group_split(
    groups: Sequence[object] | np.ndarray,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    *,
    stratify: Sequence[object] | np.ndarray | None = None,
    seed: int | np.random.Generator,
) -> list[np.ndarray]:
    """Split sample indices into ``len(fractions)`` parts by group.

    Returns one sorted int64 index array per fraction. Sample counts follow ``fractions`` as
    closely as whole groups allow; with ``stratify`` (one label per sample), groups are split
    within each label stratum (a group's stratum is its most common label), so every split
    gets a similar class mix. When there are at least as many groups as splits, no split is
    left empty. The same seed gives the same split.
    """
    groups = np.asarray(groups, dtype=object)
    if groups.ndim != 1 or len(groups) == 0:
        raise ValueError(f"groups must be a non-empty 1-D sequence, got shape {groups.shape}")
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 2 or (fractions <= 0).any():
        raise ValueError(f"fractions must be two or more positive numbers, got {fractions}")
    if not np.isclose(fractions.sum(), 1.0, atol=1e-6):
        raise ValueError(
            f"fractions must sum to 1, got {fractions.tolist()} (sum {fractions.sum():.6g})"
        )
    rng = _rng(seed)
    members, names, strata = _group_strata(groups, stratify)

    k = len(fractions)
    bounds = np.cumsum(fractions)
    assigned: list[list[object]] = [[] for _ in range(k)]
    for key in sorted(strata, key=str):
        bucket = strata[key]
        order = rng.permutation(len(bucket))
        sizes = np.array([len(members[bucket[j]]) for j in order], dtype=np.float64)
        total = sizes.sum()
        mid = (np.cumsum(sizes) - sizes / 2) / total  # each group's centre on the [0, 1] line
        which = np.minimum(np.searchsorted(bounds, mid, side="right"), k - 1)
        for j, s in zip(order, which, strict=True):
            assigned[int(s)].append(bucket[j])

    if len(names) >= k:  # no empty split: borrow a random group from the largest one
        for s in range(k):
            if not assigned[s]:
                donor = max(range(k), key=lambda t: len(assigned[t]))
                assigned[s].append(assigned[donor].pop(int(rng.integers(len(assigned[donor])))))
    return [
        np.sort(np.array([i for g in part for i in members[g]], dtype=np.int64))
        for part in assigned
    ]


def group_kfold(
    groups: Sequence[object] | np.ndarray,
    n_splits: int,
    *,
    stratify: Sequence[object] | np.ndarray | None = None,
    seed: int | np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation folds by group: ``n_splits`` pairs ``(train_idx, test_idx)``.

    Every group lands in exactly one test fold, so no patient is ever on both sides of a fold,
    and the test folds together cover every sample once. Groups are dealt out per stratum (a
    group's stratum is its most common ``stratify`` label), largest first with random ties,
    each to the fold holding the fewest samples of that stratum so far; class proportions thus
    stay close across folds. With one sample per group (``groups=range(n)``) this is stratified
    k-fold. ``n_splits`` equal to the number of groups is leave-one-group-out. The same seed
    gives the same folds.
    """
    groups = np.asarray(groups, dtype=object)
    if groups.ndim != 1 or len(groups) == 0:
        raise ValueError(f"groups must be a non-empty 1-D sequence, got shape {groups.shape}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ValueError(f"n_splits must be an int >= 2, got {n_splits!r}")
    rng = _rng(seed)
    members, names, strata = _group_strata(groups, stratify)
    if n_splits > len(names):
        raise ValueError(
            f"n_splits={n_splits} is more than the {len(names)} groups; use at most "
            f"{len(names)} (leave-one-group-out)"
        )
    fold_of: dict[object, int] = {}
    total = np.zeros(n_splits, dtype=np.int64)
    for key in sorted(strata, key=str):
        bucket = strata[key]
        jitter = rng.permutation(len(bucket))
        order = sorted(range(len(bucket)), key=lambda j: (-len(members[bucket[j]]), jitter[j]))
        in_stratum = np.zeros(n_splits, dtype=np.int64)
        for j in order:
            g = bucket[j]
            # fewest of this stratum, then fewest overall, then a random fold
            ties = rng.permutation(n_splits)
            f = int(min(ties, key=lambda t: (in_stratum[t], total[t])))
            fold_of[g] = f
            in_stratum[f] += len(members[g])
            total[f] += len(members[g])
    # an empty fold scores (0, 0), the minimum, so it receives a group before any fold gets a
    # second one: with n_splits <= groups no test fold is empty
    fold = np.array([fold_of[g] for g in groups.tolist()], dtype=np.int64)
    return [(np.flatnonzero(fold != f), np.flatnonzero(fold == f)) for f in range(n_splits)]
