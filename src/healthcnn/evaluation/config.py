"""What :func:`~healthcnn.evaluation.evaluate_predictions` takes besides the task: the options
(:class:`EvaluationConfig`) and the predictions of one split (:class:`SplitPredictions`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CI_METHODS = ("delong", "bootstrap")
SET_METHODS = ("lac", "aps", "raps")


def _positive_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class EvaluationConfig:
    """The options of one evaluation (the defaults are ``healthcnn evaluate``'s).

    Attributes:
        split: the name of the scored split, for the result ("val" adds a note that thresholds
            and temperature were fitted on the scored rows).
        data: the data source's name; it picks the default binary view (RetinaMNIST: referable)
            and is the result's ``data``. ``evaluate_bundle`` reads a non-empty value as "score
            on this dataset instead of the bundle's own".
        positive: positive classes of the binary view, names or indices ("2,3,4"); ``None``
            takes the task's default view.
        operating_points: ``OperatingPoints`` or a list of points/specs, fitted on val (a copy
            is fitted; the given object is left as it is); ``None``: sensitivity 0.90 and
            specificity 0.90.
        groups_column, group_values: the subgroup table's column name and its value per scored
            row (``evaluate_bundle`` reads them from the data).
        readers_csv: a ``reader,sensitivity,specificity`` CSV to compare the model with.
        ci: the AUC interval, "delong" or "bootstrap" (grouped rows always use the grouped
            bootstrap).
        seed, level, n_bins, n_resamples, min_group_size: the bootstrap seed, the interval
            level, the calibration (ECE) bins, the bootstrap resamples, and the size under which
            a subgroup is flagged small.
        set_coverage, set_method, class_conditional: the split-conformal prediction sets fitted
            on val (target coverage, e.g. 0.9, or ``None`` for no sets; "lac", "aps" or "raps";
            one quantile per class).
        abstain_accuracy: fit an abstain rule on val (softmax confidence) whose kept cases
            reach this accuracy; ``None``: no rule (the risk-coverage curve is reported anyway).
    """

    split: str = "test"
    data: str | None = None
    positive: str | Sequence[int | str] | None = None
    operating_points: Any = None
    groups_column: str | None = None
    group_values: Sequence[str] | None = None
    readers_csv: str | Path | None = None
    ci: str = "delong"
    seed: int = 0
    level: float = 0.95
    n_bins: int = 15
    n_resamples: int = 2000
    min_group_size: int = 30
    set_coverage: float | None = 0.9
    set_method: str = "aps"
    class_conditional: bool = False
    abstain_accuracy: float | None = None

    def __post_init__(self) -> None:
        self._check_trust()
        if self.ci not in CI_METHODS:
            raise ValueError(f"ci must be 'delong' or 'bootstrap', got {self.ci!r}")
        if isinstance(self.level, bool) or not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"level must be a number in (0, 1), e.g. 0.95; got {self.level!r}")
        _positive_int("n_bins", self.n_bins, 1)
        _positive_int("n_resamples", self.n_resamples, 1)
        _positive_int("min_group_size", self.min_group_size, 0)
        if self.positive is not None and not isinstance(self.positive, str):
            object.__setattr__(self, "positive", tuple(self.positive))
        if self.group_values is not None:
            object.__setattr__(self, "group_values", tuple(str(v) for v in self.group_values))

    def _check_trust(self) -> None:
        for name in ("set_coverage", "abstain_accuracy"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 < v < 1.0
            ):
                raise ValueError(f"{name} must be a number in (0, 1) such as 0.9, got {v!r}")
        if self.set_method not in SET_METHODS:
            raise ValueError(f"set_method must be one of {SET_METHODS}, got {self.set_method!r}")
        if not isinstance(self.class_conditional, bool):
            raise ValueError(
                f"class_conditional must be True or False, got {self.class_conditional!r}"
            )

    @property
    def bootstrap(self) -> dict[str, Any]:
        """The keyword arguments of every bootstrap interval."""
        return {"n_resamples": self.n_resamples, "level": self.level, "seed": self.seed}

    def auc_options(self, groups: Sequence[Any] | None) -> dict[str, Any]:
        """The keyword arguments of every AUC: ``ci``, unless rows share patient ``groups``
        (then the grouped bootstrap)."""
        ci = "bootstrap" if groups is not None else self.ci
        return {"ci": ci, "groups": groups, **self.bootstrap}


@dataclass(frozen=True)
class SplitPredictions:
    """A model's predictions of one split, one row per sample in dataset order.

    ``logits``: ``(N, num_outputs)`` (mean over test-time views); ``scores``: the task's
    probabilities (binary ``(N,)``, else ``(N, K)``; mean over views); ``labels``: the task's
    encoded targets; ``ids``/``groups``: the dataset's sample ids and patient groups, if any;
    ``member_scores``: an ensemble's per-member scores ``(M, N, ...)`` (``scores`` their mean).
    :func:`evaluate_predictions` takes any object with these attributes.
    """

    logits: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    ids: Sequence[str] | None = None
    groups: Sequence[str] | None = None
    member_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.scores) != n or len(self.logits) != n:
            raise ValueError(
                f"predictions need one row per sample: {len(self.logits)} logits, "
                f"{len(self.scores)} scores, {n} labels"
            )
        members = self.member_scores
        if members is not None and (np.ndim(members) < 2 or np.shape(members)[1] != n):
            raise ValueError(
                f"member_scores must have shape (M members, {n} samples, ...), "
                f"got {np.shape(members)}"
            )
