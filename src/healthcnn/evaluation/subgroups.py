"""Subgroup analysis: every metric per value of a group column (sex, age band, site, device).

Each group gets its size, every metric as an :class:`~healthcnn.metrics.Estimate` and the gap to
the overall value (group minus overall). Groups smaller than ``min_size`` are flagged
``small=True``, never hidden: a reader should see that the interval is wide, not miss the group.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..metrics.estimate import DegenerateMetricWarning, Estimate, same_length

MetricFn = Callable[[np.ndarray, np.ndarray], Any]


def _as_estimate(value: Any) -> Estimate:
    if isinstance(value, Estimate):
        return value
    return Estimate(float(value))


def subgroup_metrics(
    y: Any,
    score: Any,
    groups: Sequence[Any],
    metric_fns: Mapping[str, MetricFn],
    *,
    min_size: int = 30,
) -> list[dict[str, Any]]:
    """Per group value (sorted), ``{"group", "n", "small", "metrics", "gap"}``.

    ``metric_fns`` map a name to ``fn(y, score) -> Estimate | float``; ``gap[name]`` is the
    group's value minus the value on all rows. A metric undefined in a group (e.g. AUC in a group
    with one class) is NaN there, with its warning silenced so one table does not warn per row.
    A first row ``{"group": "(all)", ...}`` holds the overall values.
    """
    yy, ss = np.asarray(y), np.asarray(score)
    g = np.asarray([str(v) for v in groups])
    same_length(yy, ss, g, names=("y", "score", "groups"))
    if not metric_fns:
        raise ValueError("metric_fns is empty; pass e.g. {'auc': roc_auc}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
        raise ValueError(f"min_size must be a non-negative int, got {min_size!r}")

    def compute(index: np.ndarray) -> dict[str, Estimate]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateMetricWarning)
            return {k: _as_estimate(fn(yy[index], ss[index])) for k, fn in metric_fns.items()}

    overall = compute(np.arange(len(yy)))
    rows = [_row("(all)", len(yy), overall, {k: 0.0 for k in overall}, min_size)]
    for value in sorted(set(g.tolist())):
        index = np.flatnonzero(g == value)
        metrics = compute(index)
        gap = {k: float(metrics[k]) - float(overall[k]) for k in metrics}
        rows.append(_row(value, len(index), metrics, gap, min_size))
    return rows


def _row(group: str, n: int, metrics: dict, gap: dict, min_size: int) -> dict[str, Any]:
    return {"group": group, "n": n, "small": n < min_size, "metrics": metrics, "gap": gap}


def subgroups_to_dict(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with Estimates as ``{value, ci_low, ci_high, method, n}`` dicts (JSON-ready)."""
    return [{**r, "metrics": {k: v.as_dict() for k, v in r["metrics"].items()}} for r in rows]
