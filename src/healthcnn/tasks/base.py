"""Tasks: what the labels mean, how logits become a loss, probabilities and a prediction.

Four kinds, one surface (``loss``, ``probabilities``, ``predict``, ``evaluate``):

========== ============ ================================ =====================================
kind       num_outputs  loss                             probabilities (``scores``)
========== ============ ================================ =====================================
binary     1            BCE with logits on the one logit  ``(N,)`` P(positive) = sigmoid
multiclass K            softmax cross-entropy             ``(N, K)`` softmax
multilabel K            BCE with logits per label         ``(N, K)`` independent sigmoids
ordinal    K - 1        CORAL: sum of K-1 BCEs on P(y>k)  ``(N, K)`` class probabilities
========== ============ ================================ =====================================

Binary tasks use one logit (not two with a softmax): the score is directly P(positive class),
which is what ROC analysis and clinical operating points consume, and the model has no redundant
output. The positive class is ``classes[1]``.

Ordinal tasks (e.g. DR grade 0-4) predict K-1 cumulative logits, ``sigmoid(logit_k) = P(y > k)``
(Cao, Mirjalili and Raschka, "Rank consistent ordinal regression", CORAL). A generic linear head
does not force these to decrease with k, so the decode first takes the running minimum along k
(making them monotone), then differences them into class probabilities that are >= 0 and sum to
1. ``predict`` returns the median grade of that distribution, which is the CORAL rule "count the
k with P(y > k) > 0.5" once the cumulative probabilities are monotone.

Datasets keep their raw labels; a task with a :class:`LabelMap` maps them (``encode_labels``)
before the loss or any metric sees them, so DR grades can train a referable/non-referable model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import unknown_name
from .label_map import LabelMap

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
class Task:
    """Base class; build one with :func:`make_task` / :meth:`Task.from_dataset_info`.

    Attributes:
        classes: the training class names (the label map's target classes when one is given).
        label_map: optional map from the dataset's stored labels to class indices.
        name: free text for reports ("referable DR").
    """

    kind: ClassVar[str] = ""
    min_classes: ClassVar[int] = 2

    classes: tuple[str, ...]
    label_map: LabelMap | None = None
    name: str = ""
    default_metrics: tuple[str, ...] = field(default=("auc", "accuracy"))

    def __post_init__(self) -> None:
        classes = tuple(str(c) for c in self.classes)
        if len(classes) < self.min_classes or len(set(classes)) != len(classes):
            raise ValueError(
                f"a {self.kind} task needs at least {self.min_classes} distinct class names, "
                f"got {list(classes)}"
            )
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "default_metrics", tuple(self.default_metrics))
        if self.label_map is not None:
            if not isinstance(self.label_map, LabelMap):
                raise TypeError(f"label_map must be a LabelMap, got {type(self.label_map)}")
            if self.label_map.classes != classes:
                raise ValueError(
                    f"the label map's classes {list(self.label_map.classes)} differ from the "
                    f"task's classes {list(classes)}"
                )

    # -- shape of the problem ------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_outputs(self) -> int:
        """Logits the model must produce for this task."""
        return len(self.classes)

    # -- labels --------------------------------------------------------------------------------
    def encode_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Dataset labels -> training targets (applies the label map, if any)."""
        if self.label_map is None:
            return labels
        return self.label_map.apply(labels)

    def class_counts(self, targets: torch.Tensor) -> np.ndarray:
        """Samples per class (per label, positives, for multilabel), of encoded targets."""
        t = torch.as_tensor(targets)
        if t.dim() != 1 or t.dtype.is_floating_point:
            raise ValueError(
                f"a {self.kind} task needs integer labels of shape (N,), got dtype {t.dtype} "
                f"shape {tuple(t.shape)}"
            )
        if t.numel() and (t.min() < 0 or t.max() >= self.num_classes):
            bad = t[(t < 0) | (t >= self.num_classes)][0].item()
            raise ValueError(
                f"label {bad} is outside 0..{self.num_classes - 1} for classes "
                f"{list(self.classes)}; give the task a LabelMap or fix the labels"
            )
        return np.bincount(t.cpu().numpy(), minlength=self.num_classes)

    def check_labels(self, targets: torch.Tensor, split: str = "training") -> np.ndarray:
        """Raise ``ValueError`` naming any class absent from ``split``; return the counts."""
        counts = self.class_counts(targets)
        absent = [c for c, n in zip(self.classes, counts, strict=True) if n == 0]
        if absent:
            raise ValueError(
                f"class(es) {absent} have no samples in the {split} split "
                f"(counts {dict(zip(self.classes, counts.tolist(), strict=True))}); a model "
                f"cannot learn a class it never sees: merge or drop the class, or re-split"
            )
        return counts

    def balanced_class_weights(self, targets: torch.Tensor) -> torch.Tensor:
        """``n / (K * count_k)`` per class (scikit-learn's "balanced"), float32."""
        counts = self.check_labels(targets)
        return torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)

    def balanced_sample_weights(self, targets: torch.Tensor) -> torch.Tensor:
        """One weight per sample, ``1 / count(its class)``: sampling with these draws each class
        equally often."""
        counts = self.check_labels(targets)
        t = torch.as_tensor(targets).cpu()
        return torch.as_tensor(1.0 / counts, dtype=torch.float64)[t]

    # -- logits -> loss, probabilities, predictions ----------------------------------------------
    def check_logits(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.dim() != 2 or logits.shape[1] != self.num_outputs:
            raise ValueError(
                f"a {self.kind} task with {self.num_classes} classes needs logits of shape "
                f"(N, {self.num_outputs}), got {tuple(logits.shape)}; build the model with "
                f"num_classes={self.num_outputs}"
            )
        return logits

    def loss(
        self, logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, probabilities: torch.Tensor | np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def class_probabilities(self, scores: np.ndarray) -> np.ndarray:
        """``(N, K)``: one probability per class name (the binary task's single column
        P(positive) becomes the two columns 1 - p, p)."""
        return np.asarray(scores)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "classes": list(self.classes),
            "label_map": None if self.label_map is None else self.label_map.to_dict(),
            "name": self.name,
            "default_metrics": list(self.default_metrics),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Task:
        if not isinstance(data, Mapping) or "kind" not in data or "classes" not in data:
            raise ValueError(f"not a task dict (needs 'kind' and 'classes'): {data!r}")
        label_map = data.get("label_map")
        return make_task(
            data["kind"],
            data["classes"],
            label_map=None if label_map is None else LabelMap.from_dict(label_map),
            name=data.get("name", ""),
            default_metrics=tuple(data.get("default_metrics", ("auc", "accuracy"))),
        )

    @staticmethod
    def from_dataset_info(
        kind: str, classes: Sequence[str], label_map: LabelMap | None = None, name: str = ""
    ) -> Task:
        """The task for a dataset's ``kind`` and class names; with a ``label_map`` the task's
        classes are the map's targets (``classes`` then names the source labels)."""
        if label_map is not None:
            return make_task(kind, label_map.classes, label_map=label_map, name=name)
        return make_task(kind, classes, name=name)


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

    def loss(self, logits, y, class_weights=None):
        z = self.check_logits(logits)[:, 0]
        per = F.binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")
        w = None if class_weights is None else class_weights.to(z.device)[y.long()]
        return _weighted_mean(per, w)

    def probabilities(self, logits):
        return torch.sigmoid(self.check_logits(logits)[:, 0].float())

    def class_probabilities(self, scores):
        s = np.asarray(scores)
        return np.stack([1 - s, s], axis=1) if s.ndim == 1 else s

    def predict(self, probabilities):
        return (np.asarray(probabilities) > self.threshold).astype(np.int64)


@dataclass(frozen=True)
class MulticlassTask(Task):
    """One of K classes; softmax cross-entropy; prediction = argmax."""

    kind: ClassVar[str] = "multiclass"

    def loss(self, logits, y, class_weights=None):
        w = None if class_weights is None else class_weights.to(logits.device, logits.dtype)
        return F.cross_entropy(self.check_logits(logits), y.long(), weight=w)

    def probabilities(self, logits):
        return torch.softmax(self.check_logits(logits).float(), dim=1)

    def predict(self, probabilities):
        return np.asarray(probabilities).argmax(axis=1).astype(np.int64)


@dataclass(frozen=True)
class MultilabelTask(Task):
    """K independent yes/no labels; targets are float ``(N, K)`` 0/1; class weights act as
    ``pos_weight`` (negatives / positives per label)."""

    kind: ClassVar[str] = "multilabel"
    min_classes: ClassVar[int] = 1
    threshold: ClassVar[float] = 0.5

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

    def loss(self, logits, y, class_weights=None):
        z = self.check_logits(logits)
        pw = None if class_weights is None else class_weights.to(z.device, z.dtype)
        return F.binary_cross_entropy_with_logits(z, y.to(z.dtype), pos_weight=pw)

    def probabilities(self, logits):
        return torch.sigmoid(self.check_logits(logits).float())

    def predict(self, probabilities):
        return (np.asarray(probabilities) > self.threshold).astype(np.int64)


@dataclass(frozen=True)
class OrdinalTask(Task):
    """Ordered grades 0..K-1; K-1 cumulative logits P(y > k) (CORAL); see the module notes.

    ``predict`` gives the median grade; the ``accuracy`` metric in :meth:`evaluate` takes the
    argmax of the class probabilities, as the MedMNIST benchmark scores ordinal tasks.
    """

    kind: ClassVar[str] = "ordinal"

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
