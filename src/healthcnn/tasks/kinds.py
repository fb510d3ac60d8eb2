"""The four task kinds: binary, multiclass, multilabel, ordinal (see :mod:`healthcnn.tasks.base`
for what each kind's logits, loss and probabilities are), and ``make_task`` to build one by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import unknown_name
from .base import Task

#: accepted spellings of each kind (MedMNIST's ``task`` strings included)
KIND_ALIASES = {
    "binary": "binary",
    "binary-class": "binary",
    "multiclass": "multiclass",
    "multi-class": "multiclass",
    "multilabel": "multilabel",
    "multi-label": "multilabel",
    "multi-label, binary-class": "multilabel",
    "ordinal": "ordinal",
    "ordinal-regression": "ordinal",
}


def _weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights).sum() / weights.sum()


@dataclass(frozen=True)
class BinaryTask(Task):
    """Two classes (negative, positive); one logit; the score is P(``classes[1]``)."""

    kind: ClassVar[str] = "binary"
    threshold: ClassVar[float] = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.classes) != 2:
            raise ValueError(
                f"a binary task has exactly 2 classes (negative, positive), got "
                f"{list(self.classes)}; use kind='multiclass' for more"
            )

    @property
    def num_outputs(self) -> int:
        return 1

    def prior_log_odds(self, targets):
        counts = self.check_labels(targets)
        return torch.tensor([np.log(counts[1] / counts[0])], dtype=torch.float32)

    def loss(self, logits, y, class_weights=None):
        z = self.check_logits(logits)[:, 0]
        per = F.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")
        w = None if class_weights is None else class_weights.to(z.device)[y.long()]
        return _weighted_mean(per, w)

    def probabilities(self, logits):
        return torch.sigmoid(self.check_logits(logits)[:, 0].float())

    def predict(self, probabilities):
        return (np.asarray(probabilities) > self.threshold).astype(np.int64)

    def class_columns(self, scores):
        """``[1 - p, p]`` per sample: P(``classes[0]``), P(``classes[1]``)."""
        p = np.asarray(scores)
        return np.stack([1 - p, p], axis=1)

    def own_positive(self):
        return [1]

    def default_positive(self, source=""):
        return self.own_positive(), self.classes[1]

    def binary_view(self, probabilities, targets, positive):
        """(target is the positive class, P(positive class)): the task's own view with
        ``classes[1]`` positive, or, for ``positive == [0]``, ``classes[0]`` and ``1 - p``."""
        y = np.asarray(targets).astype(bool)
        p = np.asarray(probabilities)
        if list(positive) == [0]:
            return ~y, 1.0 - p
        return y, p

    def temperature_link(self):
        return "sigmoid"


@dataclass(frozen=True)
class MulticlassTask(Task):
    """One of K classes; softmax cross-entropy; prediction = argmax."""

    kind: ClassVar[str] = "multiclass"
    scores_kappa: ClassVar[bool] = True

    def prior_log_odds(self, targets):
        counts = self.check_labels(targets)
        return torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)

    def loss(self, logits, y, class_weights=None):
        w = None if class_weights is None else class_weights.to(logits.device, logits.dtype)
        return F.cross_entropy(self.check_logits(logits), y.long(), weight=w)

    def probabilities(self, logits):
        return torch.softmax(self.check_logits(logits).float(), dim=1)

    def predict(self, probabilities):
        return np.asarray(probabilities).argmax(axis=1).astype(np.int64)

    def temperature_link(self):
        return "softmax"


@dataclass(frozen=True)
class MultilabelTask(Task):
    """K independent yes/no labels; targets are float ``(N, K)`` 0/1; class weights act as
    ``pos_weight`` (negatives / positives per label)."""

    kind: ClassVar[str] = "multilabel"
    min_classes: ClassVar[int] = 1
    threshold: ClassVar[float] = 0.5
    single_label: ClassVar[bool] = False
    no_binary_view: ClassVar[str] = "a multi-label task"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_map is not None:
            raise ValueError("a multilabel task takes no LabelMap (it maps single int labels)")

    def class_counts(self, targets):
        t = torch.as_tensor(targets)
        if t.dim() != 2 or t.shape[1] != self.num_classes:
            raise ValueError(
                f"a multilabel task with {self.num_classes} labels needs targets of shape "
                f"(N, {self.num_classes}), got {tuple(t.shape)}"
            )
        if t.numel() and not bool(((t == 0) | (t == 1)).all()):
            raise ValueError("multilabel targets must be 0 or 1")
        return t.double().sum(0).cpu().numpy().astype(np.int64)

    def balanced_class_weights(self, targets):
        pos = self.check_labels(targets)
        n = torch.as_tensor(targets).shape[0]
        return torch.tensor((n - pos) / pos, dtype=torch.float32)

    def balanced_sample_weights(self, targets):
        raise ValueError(
            "balanced sampling is not defined for multilabel tasks (a sample has several "
            "labels); use class_weights='balanced' instead"
        )

    def prior_log_odds(self, targets):
        positives = self.check_labels(targets)
        negatives = len(targets) - positives
        if (negatives == 0).any():
            missing = [self.classes[k] for k in np.flatnonzero(negatives == 0)]
            raise ValueError(f"label(s) {missing} are positive in every training sample")
        return torch.tensor(np.log(positives / negatives), dtype=torch.float32)

    def loss(self, logits, y, class_weights=None):
        z = self.check_logits(logits)
        pw = None if class_weights is None else class_weights.to(z.device, z.dtype)
        return F.binary_cross_entropy_with_logits(z, y.to(z.dtype), pos_weight=pw)

    def probabilities(self, logits):
        return torch.sigmoid(self.check_logits(logits).float())

    def predict(self, probabilities):
        return (np.asarray(probabilities) > self.threshold).astype(np.int64)

    def one_vs_rest(self, targets, probabilities, k):
        decided = self.decisions(probabilities)[:, k] == 1
        return targets[:, k].astype(bool), probabilities[:, k], decided

    def resolve_positive(self, positive, source=""):
        """Always ``None``: labels are independent, there is no single positive class."""
        if positive is not None:
            raise ValueError("a multi-label task has no single positive class; drop --positive")
        return None

    def binary_view(self, probabilities, targets, positive):
        raise ValueError("a multi-label task has no binary view; score each label on its own")

    def positive_rows(self, targets, positive):
        """Samples with at least one positive label (``positive`` is not used)."""
        return np.asarray(targets).any(axis=1)

    def target_names(self, target):
        return [c for c, v in zip(self.classes, target, strict=True) if v > 0.5]

    def calibration_pairs(self, targets, probabilities):
        """Every label of every sample as one binary prediction."""
        return targets.reshape(-1).astype(np.int64), probabilities.reshape(-1)

    def temperature_link(self):
        return "sigmoid"


@dataclass(frozen=True)
class OrdinalTask(Task):
    """Ordered grades 0..K-1; K-1 cumulative logits P(y > k) (CORAL); see the module notes.

    ``predict`` gives the median grade; the ``accuracy`` metric in :meth:`evaluate` takes the
    argmax of the class probabilities, as the MedMNIST benchmark scores ordinal tasks.
    """

    kind: ClassVar[str] = "ordinal"
    scores_kappa: ClassVar[bool] = True

    @property
    def num_outputs(self) -> int:
        return len(self.classes) - 1

    def cumulative_targets(self, y: torch.Tensor) -> torch.Tensor:
        """``(N,) grades -> (N, K-1)`` float targets ``[y > 0, y > 1, ...]``."""
        ks = torch.arange(self.num_outputs, device=y.device)
        return (y.long().unsqueeze(1) > ks).float()

    def loss(self, logits, y, class_weights=None):
        z = self.check_logits(logits)
        t = self.cumulative_targets(y).to(z.dtype)
        per = F.binary_cross_entropy_with_logits(z, t, reduction="none").sum(dim=1)
        w = None if class_weights is None else class_weights.to(z.device)[y.long()]
        return _weighted_mean(per, w)

    def cumulative_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Monotone ``P(y > k)``, shape ``(N, K-1)`` (running minimum over k)."""
        cum = torch.sigmoid(self.check_logits(logits).float())
        return torch.cummin(cum, dim=1).values

    def probabilities(self, logits):
        cum = self.cumulative_probabilities(logits)
        ones = torch.ones_like(cum[:, :1])
        ext = torch.cat([ones, cum, torch.zeros_like(ones)], dim=1)
        return (ext[:, :-1] - ext[:, 1:]).clamp_min(0.0)

    def predict(self, probabilities):
        p = np.asarray(probabilities, dtype=np.float64)
        above = 1.0 - np.cumsum(p, axis=1)[:, :-1]  # P(y > k), k = 0..K-2
        return (above > 0.5).sum(axis=1).astype(np.int64)

    def decisions(self, probabilities):
        """Argmax of the class probabilities (MedMNIST's scoring; :meth:`predict` gives the
        median grade)."""
        return np.asarray(probabilities).argmax(axis=1).astype(np.int64)

    def default_positive(self, source=""):
        """The source's view, else referable (grades 2, 3, 4) for a 5-grade scale."""
        found = super().default_positive(source)
        if found is None and self.num_classes == 5:
            return [2, 3, 4], "referable"
        return found


TASK_KINDS: dict[str, type[Task]] = {
    cls.kind: cls for cls in (BinaryTask, MulticlassTask, MultilabelTask, OrdinalTask)
}


def make_task(kind: str, classes: Sequence[str], **kwargs: Any) -> Task:
    """``make_task("multiclass", ["akiec", ...])``; ``kind`` also accepts MedMNIST spellings
    ("binary-class", "multi-class", "multi-label, binary-class", "ordinal-regression")."""
    key = KIND_ALIASES.get(str(kind).strip().lower())
    if key is None:
        raise unknown_name("task kind", kind, KIND_ALIASES)
    return TASK_KINDS[key](tuple(classes), **kwargs)
