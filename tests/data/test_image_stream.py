"""Streaming image folders: decoded per item when the decoded images would not fit the memory
budget; the same pixels, batches and weights as the in-memory path."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from csv_rows import write_rows
from healthcnn.cli import main
from healthcnn.data.arrays import ArrayDataset
from healthcnn.data.image_stream import ImageFileDataset, decoded_size
from healthcnn.data.images import load_image_csv
from healthcnn.data.root import DataError
from healthcnn.tasks import make_task
from healthcnn.training import TrainConfig
from healthcnn.training.fit import FitSpec, fit_model


def _folder(tmp_path: Path, n: int = 48, size: tuple[int, int] = (12, 16)) -> Path:
    """``n`` RGB PNGs whose brightness encodes the label, a patient column and a split."""
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(n):
        label = i % 2
        pixels = rng.integers(0, 100, (*size, 3)) + 120 * label
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "img" / f"{i}.png")
        split = ("train", "train", "train", "val", "test")[i % 5]
        rows.append(
            {
                "path": f"img/{i}.png",
                "label": ["no", "yes"][label],
                "group": f"p{i}",
                "split": split,
            }
        )
    path = tmp_path / "images.csv"
    write_rows(path, rows)
    return path


def test_streamed_items_equal_the_decoded_tensor(tmp_path: Path) -> None:
    path = _folder(tmp_path)
    memory = load_image_csv(path, cache=False)
    streamed = load_image_csv(path, stream=True)
    assert isinstance(memory, ArrayDataset) and isinstance(streamed, ImageFileDataset)
    assert len(streamed) == len(memory) and streamed.spatial_shape == memory.spatial_shape
    assert streamed.ids == memory.ids and torch.equal(streamed.labels, memory.labels)
    batches = DataLoader(streamed, batch_size=10, num_workers=2)
    assert torch.equal(torch.cat([x for x, _ in batches]), memory.images)
    sub = streamed.subset([5, 1])
    assert torch.equal(sub[0][0], memory.images[5]) and sub.ids == [memory.ids[5], memory.ids[1]]


def test_automatic_choice_follows_the_budget_and_is_logged(tmp_path: Path, caplog) -> None:
    path = _folder(tmp_path)
    nbytes = 48 * 3 * 12 * 16
    assert decoded_size([tmp_path / "img/0.png"] * 48, 3, None, "x") == nbytes
    with caplog.at_level(logging.DEBUG, logger="healthcnn"):
        small = load_image_csv(path, stream=None, memory_budget_mb=nbytes / 2 / 2**20)
        large = load_image_csv(path, stream=None, memory_budget_mb=nbytes * 2 / 2**20)
    assert isinstance(small, ImageFileDataset) and isinstance(large, ArrayDataset)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("healthcnn.data")]
    assert any("streaming" in m and "27.0 KiB" in m for m in lines)
    assert any("decoded once into memory" in m for m in lines)


def test_mixed_sizes_are_named_from_the_headers(tmp_path: Path) -> None:
    path = _folder(tmp_path, n=6)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "img" / "3.png")
    with pytest.raises(DataError, match=r"3\.png \(row 5\).*size"):
        load_image_csv(path, stream=True)
    assert load_image_csv(path, stream=True, size=8).spatial_shape == (8, 8)
    with pytest.raises(ValueError, match="memory_budget_mb"):
        load_image_csv(path, stream=None, memory_budget_mb=0, size=8)


def test_fit_on_a_streamed_folder_equals_the_in_memory_fit(tmp_path: Path) -> None:
    path = _folder(tmp_path)
    task = make_task("binary", ["no", "yes"])
    spec = FitSpec(
        "simple_cnn",
        train=TrainConfig(epochs=2, batch_size=8, precision="fp32", augment="basic"),
        model_kwargs={"channels": (4, 8)},
    )
    memory = load_image_csv(path, cache=False)
    streamed = load_image_csv(path, stream=True)
    train, val = range(0, 36), range(36, 48)
    a = fit_model(spec, memory.subset(train), memory.subset(val), task)
    b = fit_model(
        FitSpec(**{**spec.__dict__, "num_workers": 2}),
        streamed.subset(train),
        streamed.subset(val),
        task,
    )
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # tolerance: none
    assert [r.val_metrics for r in a.history.epochs] == [r.val_metrics for r in b.history.epochs]


def test_train_streams_an_image_folder_through_the_cli(tmp_path: Path, capsys) -> None:
    path = _folder(tmp_path)
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(path),
        "--model",
        "simple_cnn",
        "--epochs",
        "1",
        "--size",
        "12",
        "--batch-size",
        "8",
        "--precision",
        "fp32",
        "--memory-budget-mb",
        "0.01",
        "--workers",
        "1",
        "--out",
        str(out),
        "--format",
        "json",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["metrics"]["test"]["n"] == 9
    assert "streaming (decoded per image as read)" in captured.err
