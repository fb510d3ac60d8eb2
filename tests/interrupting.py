"""Test helper: stop the n-th training of a run after one of its epochs, as a crash, Ctrl-C or
the end of a machine's session would stop it (the studies' and sweeps' resume tests)."""

from __future__ import annotations

from typing import Any

import pytest


def stop_nth_fit(monkeypatch: pytest.MonkeyPatch, module: Any, nth: int, epoch: int = 1) -> None:
    """Replace ``module.fit_model`` so that the ``nth`` call (1-based) raises KeyboardInterrupt
    at the end of ``epoch`` (the Trainer turns it into TrainingInterrupted); the other calls
    train as before. Undone with ``monkeypatch`` (use ``monkeypatch.context()`` to scope it)."""
    from healthcnn.training import LambdaCallback

    real_fit, calls = module.fit_model, []

    def fit_model(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        this = len(calls)

        def stop(trainer: Any, record: Any) -> None:
            if this == nth and record.epoch == epoch:
                raise KeyboardInterrupt

        return real_fit(*args, **kwargs, callbacks=(LambdaCallback(on_epoch_end=stop),))

    monkeypatch.setattr(module, "fit_model", fit_model)
