"""Callbacks: hooks into the training loop for logging, inspection and tests.

Order within an epoch: ``on_epoch_start`` -> batches (``on_batch_end`` after each optimiser
step) -> validation -> best-weights bookkeeping -> checkpoint written (with ``out_dir``) ->
``on_epoch_end``. So a callback that raises ``KeyboardInterrupt`` in ``on_epoch_end`` of epoch k
leaves a checkpoint of epoch k behind, exactly like Ctrl-C pressed right after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .history import EpochRecord, History
    from .trainer import Trainer


class Callback:
    """Override any subset. ``epoch`` and ``batch`` are 1-based."""

    def on_fit_start(self, trainer: Trainer) -> None:
        pass

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        pass

    def on_batch_end(self, trainer: Trainer, epoch: int, batch: int, loss: float) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        pass

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        pass


class CallbackList:
    """Calls each callback in order."""

    def __init__(self, callbacks: Sequence[Callback] = ()) -> None:
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        self.callbacks = list(callbacks)

    def wants_batch_end(self) -> bool:
        """Whether any callback has its own ``on_batch_end`` (the Trainer then reads each
        step's loss as the step ends, so the hook sees the model right after its step)."""
        return any(
            type(cb).on_batch_end is not Callback.on_batch_end or "on_batch_end" in vars(cb)
            for cb in self.callbacks
        )

    def _call(self, name: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    def on_fit_start(self, trainer: Trainer) -> None:
        self._call("on_fit_start", trainer)

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._call("on_epoch_start", trainer, epoch)

    def on_batch_end(self, trainer: Trainer, epoch: int, batch: int, loss: float) -> None:
        self._call("on_batch_end", trainer, epoch, batch, loss)

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        self._call("on_epoch_end", trainer, record)

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        self._call("on_fit_end", trainer, history)


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda t, r: ...)``."""

    def __init__(self, **hooks: Callable[..., None]) -> None:
        valid = {n for n in dir(Callback) if n.startswith("on_")}
        unknown = sorted(set(hooks) - valid)
        if unknown:
            raise ValueError(f"unknown hook(s) {unknown}; valid: {sorted(valid)}")
        for name, fn in hooks.items():
            setattr(self, name, fn)
