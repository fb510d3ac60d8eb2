"""Image sampling: a learning curve over training-set fractions, several seeds each.

Gulshan et al. (JAMA 2016) trained on growing subsets of their development set and saw
performance rise and level off. Here each fraction of the training split is drawn *stratified by
grade* (every grade keeps at least one image, so the network can learn every class), with one
subset per seed (the seed drives both the subset and the training), and the validation split
still picks each network's best epoch. The interval at each fraction is a t-interval over the
seeds' test values (it describes seed-to-seed variation, not sampling of test cases).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..data import ArrayDataset
from ..metrics import roc_auc
from .grading import grade_metrics, referable_labels, referable_scores

#: two-sided 97.5% t quantiles by degrees of freedom (1..30); beyond that the normal 1.96
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a ``fraction`` of samples drawn per class (at least one per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    y = np.asarray(labels)
    rng = np.random.default_rng([seed, round(fraction * 1e6)])
    picked = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        n = max(1, round(fraction * len(idx)))
        picked.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(picked))


def mean_ci(values: Sequence[float]) -> dict[str, float]:
    """Mean, SD and a 95% t-interval of ``values`` (NaNs dropped)."""
    v = np.array([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        nan = float("nan")
        return {"mean": nan, "sd": nan, "ci_low": nan, "ci_high": nan, "n": 0}
    mean = float(v.mean())
    if len(v) == 1:
        return {"mean": mean, "sd": float("nan"), "ci_low": mean, "ci_high": mean, "n": 1}
    sd = float(v.std(ddof=1))
    t = _T975[len(v) - 2] if len(v) - 1 <= len(_T975) else 1.96
    half = t * sd / math.sqrt(len(v))
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "n": len(v)}


def learning_curve(
    fit: Callable[[int, ArrayDataset], dict[str, np.ndarray]],
    train: ArrayDataset,
    y_test: np.ndarray,
    *,
    fractions: Sequence[float] = (0.05, 0.1, 0.25, 0.5, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    reuse: dict[tuple[float, int], dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Train ``fit(seed, subset)`` (returning ``{"test": probs}``) at every fraction and seed.

    ``reuse`` supplies already-trained results by ``(fraction, seed)`` (the study's full-data
    ensemble members), so the 100% point costs nothing extra.
    """
    y_test = np.asarray(y_test)
    points = []
    runs = []
    for fraction in fractions:
        per_seed = []
        for seed in seeds:
            key = (float(fraction), int(seed))
            if reuse and key in reuse:
                scores, n_train = reuse[key], len(train)
            else:
                idx = (
                    np.arange(len(train))
                    if fraction >= 1
                    else stratified_subset(train.labels.numpy(), fraction, seed)
                )
                scores, n_train = fit(seed, train.subset(idx)), len(idx)
            probs = scores["test"]
            m = grade_metrics(y_test, probs)
            m["referable_auc"] = float(
                roc_auc(referable_labels(y_test), referable_scores(probs), ci=None)
            )
            per_seed.append(m)
            runs.append({"fraction": fraction, "seed": seed, "n_train": n_train, **m})
        points.append(
            {
                "fraction": fraction,
                "n_train": runs[-1]["n_train"],
                **{
                    metric: mean_ci([r[metric] for r in per_seed])
                    for metric in ("auc", "acc", "kappa", "referable_auc")
                },
            }
        )
    return {
        "fractions": list(fractions),
        "seeds": list(seeds),
        "interval": "95% t-interval over seeds (seed-to-seed variation)",
        "points": points,
        "runs": runs,
    }
