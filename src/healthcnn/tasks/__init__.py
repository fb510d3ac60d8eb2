"""Tasks own label meaning: classes, label maps, and how logits become loss and probabilities.

See :mod:`healthcnn.tasks.base` for the four kinds (binary, multiclass, multilabel, ordinal).
"""

from .base import (
    BinaryTask,
    MulticlassTask,
    MultilabelTask,
    OrdinalTask,
    Task,
    make_task,
)
from .label_map import DR_GRADES, LabelMap, referable_dr

__all__ = [
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
