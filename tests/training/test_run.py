"""End to end on real data: data -> task -> model -> Trainer -> metrics -> bundle.

A few optimisation steps on small real subsets; the pipeline is checked, not the accuracy.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import http.server
import json
import math
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from healthcnn.bundle import load_bundle, verify_bundle
from healthcnn.evaluation import evaluate_bundle
from healthcnn.inference.files import predict_files
from healthcnn.studies.run import RunResult, train_run
from healthcnn.training import TrainConfig
from healthcnn.training.config import RunConfig

pytestmark = pytest.mark.data

FAST = {"epochs": 1, "batch_size": 16, "precision": "fp32", "seed": 3}


def _run(
    data: str | Path,
    out: Path,
    *,
    model: str = "simple_cnn",
    train: dict[str, Any] | None = None,
    **options: Any,
) -> RunResult:
    """``train_run`` with the FAST training settings (``train`` overrides some of them);
    ``options`` are further RunConfig fields."""
    cfg = RunConfig(
        data=str(data),
        out=str(out),
        model=model,
        train=TrainConfig(**{**FAST, **(train or {})}),
        **options,
    )
    return train_run(cfg, progress=False)


def _check_metrics(result, n_test: int) -> None:
    test = result.metrics["test"]
    assert test["n"] == n_test
    assert 0.0 <= test["acc"] <= 1.0
    assert math.isnan(test["auc"]) or 0.0 <= test["auc"] <= 1.0


def test_retinamnist_by_name_end_to_end(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "retina"
    result = _run("retinamnist", out, data_dir=str(data_root), train={"batch_size": 256})
    _check_metrics(result, 400)
    assert result.metrics["val"]["n"] == 120
    verify_bundle(out)
    bundle = load_bundle(out)
    assert bundle.task.kind == "multiclass"  # the MedMNIST v2 protocol for the ordinal set
    assert bundle.metadata["data"]["splits"] == {"train": 1080, "val": 120, "test": 400}
    assert bundle.metadata["train_config"]["train"]["seed"] == 3
    # Re-scoring the bundle gives the numbers the run reported.
    again = evaluate_bundle(out, data_dir=str(data_root), precision="fp32")
    auc, acc = again["metrics"]["auc"]["value"], again["metrics"]["acc"]["value"]
    assert auc == pytest.approx(result.metrics["test"]["auc"], abs=1e-6)
    assert acc == pytest.approx(result.metrics["test"]["acc"], abs=1e-9)
    # The checkpoints of the run stay beside the bundle (resumable), the log has one epoch.
    log = (tmp_path / "retina.work" / "log.jsonl").read_text().splitlines()
    assert len(log) == 1 and json.loads(log[0])["epoch"] == 1


def test_resnet_gets_the_small_stem_at_28px(
    data_root: Path, tmp_path: Path, medmnist_subset
) -> None:
    npz = medmnist_subset(
        data_root / "medmnist" / "retinamnist.npz",
        tmp_path / "retina_small.npz",
        {"train": 32, "val": 16, "test": 16},
    )
    result = _run(npz, tmp_path / "b", model="resnet18")
    assert result.model_kwargs["stem"] == "small"
    model = load_bundle(tmp_path / "b").model
    assert tuple(model.conv1.weight.shape[-2:]) == (3, 3)


def test_adrenalmnist3d_end_to_end(
    data_root: Path, tmp_path: Path, medmnist_subset, fake_flags
) -> None:
    npz = medmnist_subset(
        data_root / "medmnist" / "adrenalmnist3d_64.npz",
        tmp_path / "adrenal_small.npz",
        {"train": 24, "val": 8, "test": 8},
        step=4,  # 16^3 volumes keep the test quick
    )
    # `auto` as on a CPU with native bf16: the Trainer keeps the 3D network at fp32, and the
    # bundle must record what it trained at, not what `auto` means for a 2D network there
    fake_flags("avx512_bf16")
    train = {"augment": "basic", "precision": "auto"}
    result = _run(npz, tmp_path / "vol", task="binary", train=train)
    _check_metrics(result, 8)
    bundle = load_bundle(tmp_path / "vol")
    assert bundle.metadata["precision"] == "fp32"
    assert bundle.config["model_kwargs"]["spatial_dims"] == 3
    record = bundle.preprocessing
    assert (record.channels, record.size, record.mean) == (1, (16, 16, 16), (0.5,))
    rows = predict_files(tmp_path / "vol", [npz], precision="fp32")
    # The npz's test images come first; probabilities of both classes sum to one.
    assert len(rows) == 8
    for r in rows:
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_image_folder_csv_with_lesion_groups(data_root: Path, tmp_path: Path) -> None:
    """HAM10000 images in a folder, a CSV with lesion ids as groups, split by lesion."""
    folder = data_root / "ham10000"
    rows = []
    with open(folder / "HAM10000_metadata.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["dx"] in ("nv", "mel") and sum(x["label"] == r["dx"] for x in rows) < 20:
                rows.append(
                    {"path": f"img/{r['image_id']}.jpg", "label": r["dx"], "group": r["lesion_id"]}
                )
    (tmp_path / "img").mkdir()
    with zipfile.ZipFile(folder / "images_200x150.zip") as zf:
        for r in rows:
            name = Path(r["path"]).name
            (tmp_path / "img" / name).write_bytes(zf.read(f"images/{name}"))
    csv_path = tmp_path / "lesions.csv"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    result = _run(csv_path, tmp_path / "skin", size=32, data_dir=str(tmp_path / "root"))
    meta = load_bundle(tmp_path / "skin").metadata
    splits = meta["data"]["splits"]
    assert sum(splits.values()) == 40
    assert meta["preprocessing"]["channels"] == 3 and meta["preprocessing"]["size"] == [32, 32]
    assert result.metrics["test"]["n"] == splits["test"]
    # Predicting a JPEG from the folder resizes it to the bundle's input.
    out = predict_files(tmp_path / "skin", [tmp_path / rows[0]["path"]], precision="fp32")
    assert set(out[0]["probabilities"]) == {"mel", "nv"}


def test_same_seed_same_bundle_weights(data_root: Path, tmp_path: Path, medmnist_subset) -> None:
    npz = medmnist_subset(
        data_root / "medmnist" / "retinamnist.npz",
        tmp_path / "r.npz",
        {"train": 32, "val": 16, "test": 16},
    )
    weights = []
    for name in ("a", "b"):
        _run(npz, tmp_path / name)
        weights.append(load_bundle(tmp_path / name).model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_unknown_model_fails_before_loading_data(tmp_path: Path) -> None:
    cfg = RunConfig(data=str(tmp_path / "missing.npz"), out=str(tmp_path / "x"), model="resnet19")
    with pytest.raises(ValueError, match="resnet18"):
        train_run(cfg, progress=False)


def test_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    cfg = RunConfig(
        data="retinamnist",
        out=str(tmp_path / "x"),
        model="simple_cnn",
        data_dir=str(tmp_path / "empty"),
        download=False,
    )
    with pytest.raises(ValueError, match=r"healthcnn data fetch"):
        train_run(cfg, progress=False)
    assert not (tmp_path / "x").exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_missing_registered_dataset_is_downloaded_first(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fresh machine the main job fetches the official file (here from a local server)."""
    from healthcnn.data.catalog import CATALOG

    served = tmp_path / "served"
    served.mkdir()
    (served / "retinamnist.npz").write_bytes(
        (data_root / "medmnist" / "retinamnist.npz").read_bytes()
    )
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    try:
        entry = CATALOG["retinamnist"]
        url = f"http://127.0.0.1:{httpd.server_address[1]}/retinamnist.npz"
        remote = dataclasses.replace(entry.files[28][0], url=url)
        monkeypatch.setitem(
            CATALOG, "retinamnist", dataclasses.replace(entry, files={28: (remote,)})
        )
        root = tmp_path / "fresh-root"
        result = _run("retinamnist", tmp_path / "b", data_dir=str(root), train={"batch_size": 512})
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (root / "medmnist" / "retinamnist.npz").is_file()
    assert result.metrics["test"]["n"] == 400


def test_ecg_database_by_name_trains_a_1d_model(data_root: Path, tmp_path: Path) -> None:
    """`healthcnn train --data ecg5000`: float signals, a 1D model, no image rescaling."""
    result = _run("ecg5000", tmp_path / "ecg", data_dir=str(data_root), train={"batch_size": 64})
    bundle = load_bundle(tmp_path / "ecg")
    assert bundle.config["model_kwargs"]["spatial_dims"] == 1
    record = bundle.preprocessing
    assert (record.channels, record.size, record.scale, record.mean) == (1, (140,), 1.0, None)
    assert record.sampling_rate is None  # ECG5000's beats carry no sampling rate
    splits = bundle.metadata["data"]["splits"]
    assert sum(splits.values()) == 500 and result.metrics["test"]["n"] == splits["test"]
    assert bundle.task.kind == "multiclass" and len(bundle.task.classes) == 5


def test_cpsc2021_split_keeps_patients_apart(data_root: Path) -> None:
    from healthcnn.data.sources import load_splits

    splits, _ = load_splits("cpsc2021", data_dir=str(data_root), seed=0)
    assert splits["train"].spatial_dims == 1 and splits["train"].images.shape[1:] == (2, 1000)
    patients = [set(splits[s].groups) for s in ("train", "val", "test")]
    assert all(patients)
    assert not (patients[0] & patients[1] or patients[0] & patients[2] or patients[1] & patients[2])
