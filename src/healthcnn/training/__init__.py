"""Training: the Trainer (seeded, resumable), its config, the precision policy and inference.

``Trainer(model, task, TrainConfig(...), out_dir=...).fit(train, val)`` returns a
:class:`History`; :func:`predict` turns a model and a dataset into :class:`Predictions`.
"""

from ..inference.precision import PrecisionPolicy, cpu_has_native_bf16
from ..inference.predict import Predictions, predict
from .callbacks import Callback, LambdaCallback
from .checkpoint import load_checkpoint
from .config import TrainConfig
from .history import EpochRecord, History, TrainingError, TrainingInterrupted
from .trainer import Trainer

__all__ = [
    "Callback",
    "EpochRecord",
    "History",
    "LambdaCallback",
    "PrecisionPolicy",
    "Predictions",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "cpu_has_native_bf16",
    "load_checkpoint",
    "predict",
]
