"""``healthcnn train --track tensorboard|mlflow`` read back with TensorBoard's and MLflow's own
readers; ``--quiet``; the CLI's logging; the run record in the bundle."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csv_rows import write_rows
from healthcnn._provenance import sha256_of
from healthcnn.cli import main


def _folder(tmp_path: Path, n: int = 30) -> Path:
    """RGB PNGs whose brightness encodes the label, with a split column."""
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(n):
        pixels = rng.integers(0, 100, (10, 10, 3)) + 120 * (i % 2)
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "img" / f"{i}.png")
        split = ("train", "train", "train", "val", "test")[i % 5]
        rows.append({"path": f"img/{i}.png", "label": i % 2, "split": split})
    path = tmp_path / "data.csv"
    write_rows(path, rows)
    return path


def _args(tmp_path: Path, epochs: int, out: Path, *extra: str) -> list[str]:
    """``train`` on the folder of :func:`_folder` (10 px images, simple_cnn)."""
    data = ["--data", str(_folder(tmp_path)), "--model", "simple_cnn", "--size", "10"]
    return ["train", *data, "--epochs", str(epochs), "--out", str(out), *extra]


def _train(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "runs" / "model"
    args = _args(tmp_path, 2, out, "--batch-size", "6", "--precision", "fp32", *extra)
    assert main(args) == 0
    return out


def test_tensorboard_events_read_with_tensorboards_reader(tmp_path: Path, capsys) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = _train(tmp_path, "--track", "tensorboard")
    assert "tracking with tensorboard" in capsys.readouterr().err
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "val/loss", "val/auc", "lr"} <= set(scalars)
    assert [e.step for e in events.Scalars("val/auc")] == [1, 2]
    history = json.loads((out / "metadata.json").read_text())["history"]["epochs"]
    assert events.Scalars("train/loss")[-1].value == pytest.approx(history[-1]["train_loss"])
    assert {"params/text_summary", "bundle/text_summary"} <= set(events.Tags()["tensors"])


def test_mlflow_run_read_with_mlflows_client(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out = _train(tmp_path, "--track", "mlflow", "--quiet")
    client = MlflowClient(tracking_uri=(out.parent / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("healthcnn")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "model"
    assert run.data.params["config.train.epochs"] == "2"
    assert run.data.params["seeds.train"] == "0" and "versions.torch" in run.data.params
    auc = client.get_metric_history(run.info.run_id, "val_auc")
    assert [m.step for m in auc] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert "bundle/model.safetensors" in artifacts and "bundle/metadata.json" in artifacts


def test_bundle_records_the_run(tmp_path: Path) -> None:
    out = _train(tmp_path, "--quiet")
    meta = json.loads((out / "metadata.json").read_text())
    run = meta["run"]
    assert set(run["versions"]) == {"python", "torch", "numpy", "healthcnn"}
    assert meta["seeds"]["train"] == 0 and meta["train_config"]["train"]["epochs"] == 2
    files = run["data_files"]
    assert len(files) == 31  # the CSV and its 30 images
    some = next(p for p in files if p.endswith("7.png"))
    assert files[some] == sha256_of(some)
    assert run["git"] is None or len(run["git"]["commit"]) == 40


def test_quiet_prints_no_progress_and_logs_go_through_one_handler(tmp_path: Path, capsys) -> None:
    _train(tmp_path, "--quiet", "--format", "json")
    captured = capsys.readouterr()
    assert captured.err == "" and json.loads(captured.out)["epochs_run"] == 2
    root = logging.getLogger()
    ours = [h for h in root.handlers if type(h).__name__ == "_StderrHandler"]
    assert len(ours) == 1  # two runs, one handler
    assert logging.getLogger("healthcnn").level == logging.WARNING


def test_progress_lines_one_per_epoch_when_stderr_is_not_a_terminal(tmp_path: Path, capsys):
    _train(tmp_path)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert [line.split()[1] for line in err.splitlines() if line.startswith("epoch")] == [
        "1/2",
        "2/2",
    ]


def test_a_missing_tracker_package_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    code = main(_args(tmp_path, 1, tmp_path / "x", "--track", "mlflow"))
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'healthcnn[track]'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
