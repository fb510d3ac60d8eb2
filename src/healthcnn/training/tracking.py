"""Experiment tracking: ``--track tensorboard`` or ``--track mlflow`` (optional extras:
``pip install 'healthcnn[track]'``).

A tracker is a :class:`~.callbacks.Callback`: it logs the run's parameters when asked
(:meth:`Tracker.log_params`), every epoch's metrics (train/val loss, the validation metrics,
the learning rate, throughput) as the epoch ends, and the finished bundle
(:meth:`Tracker.log_bundle`). Both work offline:

- **TensorBoard**: event files written while training to ``<folder>`` (for ``healthcnn train``
  ``<out>.work/tensorboard``, so ``tensorboard --logdir`` shows the run live) and copied into
  the bundle folder as ``<out>/tensorboard`` when the bundle is written.
- **MLflow**: a run in MLflow's local file store (a ``file:`` URI; ``healthcnn train`` uses
  ``<folder of --out>/mlruns`` unless ``--track-uri`` names another) with the parameters, the
  per-epoch metrics and the bundle's files as artifacts under ``bundle/``. MLflow 3 keeps its
  file store behind the ``MLFLOW_ALLOW_FILE_STORE`` switch; this tracker turns it on for
  ``file:`` URIs (the caller's own setting wins).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .callbacks import Callback
from .history import EpochRecord

#: ``--track`` choices
TRACKERS = ("tensorboard", "mlflow")


class TrackerUnavailable(ValueError):
    """The tracker's package is not installed (a ValueError, so the command line prints it as
    one line)."""


def _missing(package: str) -> TrackerUnavailable:
    return TrackerUnavailable(
        f"--track needs the {package} package, which is not installed; install the extra: "
        "pip install 'healthcnn[track]'"
    )


def epoch_metrics(record: EpochRecord) -> dict[str, float]:
    """The numbers of one epoch under tracker names (``train/loss``, ``val/auc``, ...)."""
    values = {
        "train/loss": record.train_loss,
        "val/loss": record.val_loss,
        "lr": record.lr,
        "images_per_second": record.images_per_second,
        **{f"val/{k}": v for k, v in record.val_metrics.items()},
    }
    return {k: float(v) for k, v in values.items() if v is not None and v == v}


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as ``{"train.lr": "0.001", ...}`` (strings, as trackers store them)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, name + "."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return flat


class Tracker(Callback):
    """The tracker interface (each method is a no-op here)."""

    location: str = ""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_bundle(self, bundle: str | os.PathLike[str]) -> None: ...

    def close(self, failed: bool = False) -> None: ...


class TensorBoardTracker(Tracker):
    """Event files in ``folder`` (read them with ``tensorboard --logdir folder``)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise _missing("tensorboard") from None
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.writer = SummaryWriter(log_dir=str(self.folder))

    def log_params(self, params: Mapping[str, Any]) -> None:
        table = "\n".join(f"    {k} = {v}" for k, v in flat_params(params).items())
        self.writer.add_text("params", table, 0)

    def on_epoch_end(self, trainer: Any, record: EpochRecord) -> None:
        for name, value in epoch_metrics(record).items():
            self.writer.add_scalar(name, value, record.epoch)
        self.writer.flush()

    def log_bundle(self, bundle: str | os.PathLike[str]) -> None:
        """Say where the bundle went, then copy the event files into it (``tensorboard/``)."""
        self.writer.add_text("bundle", str(bundle), 0)
        self.writer.flush()
        target = Path(bundle) / "tensorboard"
        shutil.copytree(self.folder, target, dirs_exist_ok=True)
        self.location = str(target)

    def close(self, failed: bool = False) -> None:
        self.writer.close()


class MLflowTracker(Tracker):
    """One MLflow run in ``uri`` (a local ``file:`` store by default), experiment
    ``experiment``."""

    def __init__(self, uri: str, experiment: str = "healthcnn", run_name: str = "") -> None:
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing("mlflow-skinny") from None
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run_name or None).info.run_id
        self.location = f"{uri} (experiment {experiment!r}, run {self.run_id})"

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v[:6000]) for k, v in flat_params(params).items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def on_epoch_end(self, trainer: Any, record: EpochRecord) -> None:
        for name, value in epoch_metrics(record).items():
            self.client.log_metric(self.run_id, name.replace("/", "_"), value, step=record.epoch)

    def log_bundle(self, bundle: str | os.PathLike[str]) -> None:
        self.client.log_artifacts(self.run_id, str(bundle), artifact_path="bundle")

    def close(self, failed: bool = False) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if failed else "FINISHED")


def make_tracker(
    kind: str, folder: str | os.PathLike[str], *, uri: str | None = None, run_name: str = ""
) -> Tracker:
    """The tracker ``kind`` names: TensorBoard events in ``folder``, or an MLflow run in
    ``uri`` (default: the local file store ``<folder>/mlruns``)."""
    if kind == "tensorboard":
        return TensorBoardTracker(uri or folder)
    if kind == "mlflow":
        store = uri or (Path(folder).resolve() / "mlruns").as_uri()
        return MLflowTracker(store, run_name=run_name)
    raise ValueError(f"unknown tracker {kind!r}; choose one of {', '.join(TRACKERS)}")
