"""Tasks: what the labels mean, how logits become a loss, probabilities and a prediction.

Four kinds (the subclasses in :mod:`healthcnn.tasks.kinds`), one surface (``loss``,
``probabilities``, ``predict``, ``evaluate``):

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

Every decision that depends on the kind is a method here, so evaluation, reports and studies never
ask which kind they hold: ``decisions`` (the scored class: ``p > 0.5`` for binary and per label,
argmax otherwise, ordinal included as MedMNIST scores it), ``probabilities_array`` (numpy logits
-> numpy probabilities), ``class_columns`` (one probability column per class; binary expands
``P(positive)`` to ``[1 - p, p]``), ``one_vs_rest`` (class ``k`` against the rest),
``resolve_positive``/``binary_view`` (the binary, e.g. referable, view), ``calibration_pairs``
and ``temperature_link`` (what temperature scaling and the calibration metrics take).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .label_map import LabelMap

#: datasets (by file-name stem) whose graded classes have a clinical binary view: the positive
#: class indices, the view's name, and the number of classes the task must have
DEFAULT_POSITIVE = {"retinamnist": ((2, 3, 4), "referable", 5)}

#: a binary view: the positive class indices and the view's name
Positive = tuple[list[int], str]


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
    #: one class per sample: accuracy is a proportion, confusion matrix and balanced accuracy
    #: are defined (False for multilabel)
    single_label: ClassVar[bool] = True
    #: Cohen's kappa between true and decided classes is reported (more than two classes)
    scores_kappa: ClassVar[bool] = False
    #: what to do when the task has no binary view (shown in the evaluation's notes)
    no_binary_view: ClassVar[str] = "pass positive classes"

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

    def prior_log_odds(self, targets: torch.Tensor) -> torch.Tensor:
        """The training prior as a logit offset, one value per output (float32): ``log pi_k``
        for softmax outputs, ``log(pi / (1 - pi))`` for sigmoid outputs. The logit-adjusted
        loss (Menon et al., ICLR 2021) trains on ``logits + tau * offset``, so that the plain
        logits estimate class-balanced posteriors."""
        raise ValueError(
            f"logit adjustment is not defined for {self.kind} tasks: use class_weights or "
            f"sampling='balanced' instead, or leave logit_adjust at 0"
        )

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

    # -- decisions and views for evaluation ----------------------------------------------------
    def probabilities_array(self, logits: np.ndarray) -> np.ndarray:
        """:meth:`probabilities` of numpy logits (computed in float32), as a numpy array."""
        return self.probabilities(torch.from_numpy(np.asarray(logits).astype(np.float32))).numpy()

    def decisions(self, probabilities: np.ndarray) -> np.ndarray:
        """The decided class per sample (per label for multilabel) that accuracy, kappa and
        the confusion matrix score: :meth:`predict`, except for ordinal tasks (argmax)."""
        return self.predict(probabilities)

    def class_columns(self, scores: np.ndarray) -> np.ndarray:
        """``(N, K)``: one probability column per class."""
        return np.asarray(scores)

    def one_vs_rest(
        self, targets: np.ndarray, probabilities: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Class ``k`` against the rest: (is ``k``, score of ``k``, decided ``k``)."""
        decided = self.decisions(probabilities) == k
        return targets == k, self.class_columns(probabilities)[:, k], decided

    def own_positive(self) -> list[int]:
        """The positive class indices the task itself defines (binary: ``[1]``; else none)."""
        return []

    def default_positive(self, source: str = "") -> Positive | None:
        """The binary view used when none is asked for: the data source's clinical view
        (:data:`DEFAULT_POSITIVE`, e.g. RetinaMNIST -> referable = grades 2, 3, 4), else none."""
        stem = Path(str(source)).stem.lower()
        for key, (idx, name, n_classes) in DEFAULT_POSITIVE.items():
            if stem.startswith(key) and self.num_classes == n_classes:
                return list(idx), name
        return None

    def resolve_positive(
        self, positive: str | Sequence[int | str] | None, source: str = ""
    ) -> Positive | None:
        """The class indices of the binary view and its name (``None``: no binary view).

        ``positive`` names classes by name or index ("2,3,4", ``["moderate", 3]``); ``None``
        takes :meth:`default_positive` of ``source``."""
        if positive is None:
            return self.default_positive(source)
        classes = list(self.classes)
        items = positive.split(",") if isinstance(positive, str) else list(positive)
        idx = sorted({self._class_index(item) for item in items})
        if not idx or len(idx) == len(classes):
            raise ValueError(f"positive must name some but not all classes of {classes}, got {idx}")
        return idx, "positive: " + "+".join(classes[i] for i in idx)

    def _class_index(self, item: int | str) -> int:
        text = str(item).strip()
        if text in self.classes:
            return self.classes.index(text)
        if text.lstrip("-").isdigit() and 0 <= int(text) < self.num_classes:
            return int(text)
        raise ValueError(
            f"positive class {text!r} is neither a class name nor an index "
            f"0..{self.num_classes - 1} of {list(self.classes)}"
        )

    def binary_view(
        self, probabilities: np.ndarray, targets: np.ndarray, positive: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(is positive, P(positive)): the ``positive`` classes merged, probabilities summed."""
        idx = list(positive)
        return np.isin(targets, idx), probabilities[:, idx].sum(1)

    def positive_rows(self, targets: np.ndarray, positive: Sequence[int]) -> np.ndarray:
        """A bool mask of the samples in one of the ``positive`` classes."""
        if not len(positive):
            return np.zeros(len(targets), dtype=bool)
        return np.isin(targets, list(positive))

    def target_names(self, target: Any) -> str | list[str]:
        """The class name of one encoded target (multilabel: the names of its labels)."""
        return self.classes[int(target)]

    def calibration_pairs(
        self, targets: np.ndarray, probabilities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, probabilities) in the form the calibration metrics take."""
        return targets, probabilities

    def temperature_link(self) -> str | Callable[[np.ndarray], np.ndarray]:
        """The link :class:`~healthcnn.metrics.TemperatureScaler` fits through: a name
        ("sigmoid", "softmax") or, for other decodes, logits -> probabilities."""
        return self.probabilities_array

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
        from .kinds import make_task

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
        from .kinds import make_task

        if label_map is not None:
            return make_task(kind, label_map.classes, label_map=label_map, name=name)
        return make_task(kind, classes, name=name)
