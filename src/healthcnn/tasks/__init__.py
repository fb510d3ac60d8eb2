"""Tasks own label meaning: classes, label maps, and how logits become loss and probabilities.

See :mod:`healthcnn.tasks.base` for the surface every task has and
:mod:`healthcnn.tasks.kinds` for the four kinds (binary, multiclass, multilabel, ordinal).
"""

from .base import DEFAULT_POSITIVE, Task
from .kinds import BinaryTask, MulticlassTask, MultilabelTask, OrdinalTask, make_task
from .label_map import DR_GRADES, LabelMap, referable_dr

__all__ = [
    "DEFAULT_POSITIVE",
    "DR_GRADES",
    "BinaryTask",
    "LabelMap",
    "MulticlassTask",
    "MultilabelTask",
    "OrdinalTask",
    "Task",
    "make_task",
    "referable_dr",
]
