"""What a training run did, epoch by epoch, and which epoch was best; plus the run's errors."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN/inf). ``epoch`` and ``batch`` are
    1-based; ``checkpoint`` is the last good checkpoint on disk (None without ``out_dir``)."""

    def __init__(
        self, message: str, *, epoch: int, batch: int | None, checkpoint: Path | None
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.checkpoint = checkpoint


class TrainingInterrupted(Exception):
    """The run was interrupted (Ctrl-C). ``checkpoint`` holds the last checkpointed epoch
    (``epochs_completed`` of them; every completed epoch unless the Trainer checkpoints at
    intervals) and can be resumed with ``Trainer.fit(..., resume=True)``; it is None when the
    run had no ``out_dir`` or had written no checkpoint yet."""

    def __init__(self, *, epochs_completed: int, checkpoint: Path | None) -> None:
        if checkpoint is None:
            where = "nothing was saved (no out_dir, or no checkpoint written yet)"
        else:
            where = f"resume from {checkpoint}"
        super().__init__(f"training interrupted after {epochs_completed} epoch(s); {where}")
        self.epochs_completed = epochs_completed
        self.checkpoint = checkpoint


@dataclass
class EpochRecord:
    """One epoch: 1-based ``epoch``; mean training loss; validation loss and metrics; the
    learning rate of its last step; wall seconds; training images per second."""

    epoch: int
    train_loss: float
    val_loss: float
    val_metrics: dict[str, float]
    lr: float
    seconds: float
    images_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpochRecord:
        """The record of :meth:`to_dict`, read back from strict JSON (where an undefined number
        was written as null: it is NaN again)."""

        def number(v: Any) -> Any:
            return math.nan if v is None else v

        fields = {k: number(v) if k != "val_metrics" else v for k, v in data.items()}
        fields["val_metrics"] = {k: number(v) for k, v in (data.get("val_metrics") or {}).items()}
        return cls(**fields)


def _better(value: float, best: float | None, mode: str) -> bool:
    if value is None or math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


@dataclass
class History:
    """Per-epoch records, the monitored metric and the best epoch (1-based; None when the
    monitored value was never a number)."""

    monitor: str
    mode: str
    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False

    def monitored(self, record: EpochRecord) -> float:
        if self.monitor == "loss":
            return record.val_loss
        return record.val_metrics[self.monitor]

    def add(self, record: EpochRecord) -> bool:
        """Append an epoch; True when it is the new best."""
        self.epochs.append(record)
        value = self.monitored(record)
        if _better(value, self.best_metric, self.mode):
            self.best_epoch, self.best_metric = record.epoch, float(value)
            return True
        return False

    def epochs_since_best(self) -> int:
        last = self.epochs[-1].epoch if self.epochs else 0
        return last - (self.best_epoch or 0)

    @property
    def best(self) -> EpochRecord | None:
        if self.best_epoch is None:
            return None
        return next(r for r in self.epochs if r.epoch == self.best_epoch)

    def column(self, name: str) -> list[float]:
        """One value per epoch: ``"train_loss"``, ``"val_loss"``, ``"lr"`` or a metric name."""
        if name in ("train_loss", "val_loss", "lr", "seconds", "images_per_second"):
            return [getattr(r, name) for r in self.epochs]
        return [r.val_metrics[name] for r in self.epochs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "epochs": [r.to_dict() for r in self.epochs],
            "best_epoch": self.best_epoch,
            "best_metric": self.best_metric,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            monitor=data["monitor"],
            mode=data["mode"],
            epochs=[EpochRecord.from_dict(r) for r in data["epochs"]],
            best_epoch=data["best_epoch"],
            best_metric=data["best_metric"],
            stopped_early=data.get("stopped_early", False),
        )
