"""The report's example shows where the network looked: a Grad-CAM map over the example input
with the verdict of its sanity check (a PNG for images, the strip with its map for signals)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.data import ArrayDataset
from healthcnn.models import create_model
from healthcnn.report import build_report
from healthcnn.tasks import make_task

CLASSES = ["benign", "malignant"]


def _bundle(tmp_path: Path, record: Preprocessing) -> Path:
    kwargs = {"spatial_dims": record.spatial_dims, "in_channels": record.channels,
              "num_classes": 2, "channels": [4, 8], "norm": None}  # fmt: skip
    torch.manual_seed(0)
    model = create_model("simple_cnn", **kwargs)
    meta = {"data": {"source": "synthetic", "size": 16, "classes": CLASSES}}
    return save_bundle(tmp_path / "b", model, model_name="simple_cnn", model_kwargs=kwargs,
                       task=make_task("multiclass", CLASSES), preprocessing=record,
                       metadata=meta)  # fmt: skip


def _section(doc: str) -> str:
    return doc[doc.index('<section id="example">') : doc.index('<section id="task">')]


@pytest.mark.parametrize("dims", [1, 2])
def test_the_example_carries_its_map_and_verdict(tmp_path, evaluation_factory, dims) -> None:
    rng = np.random.default_rng(0)
    if dims == 2:
        record = Preprocessing(channels=3, size=(16, 16), spatial_dims=2, mean=(0.5,) * 3,
                               std=(0.5,) * 3)  # fmt: skip
        images = torch.from_numpy(rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8))
    else:
        record = Preprocessing(channels=2, size=(64,), spatial_dims=1, scale=1.0)
        images = torch.from_numpy(rng.normal(size=(4, 2, 64)).astype(np.float32))
    ds = ArrayDataset(images=images, labels=torch.tensor([0, 1, 0, 1]), classes=CLASSES)
    ev = evaluation_factory(classes=CLASSES, task="multiclass")
    part = _section(build_report(_bundle(tmp_path, record), ev, example_data=ds))
    fig = re.search(r'<figure class="example explanation">(.*?)</figure>', part, flags=re.S)
    assert fig is not None, part[-600:]
    text = fig.group(1)
    assert re.search(r'<b class="verdict">(PASS|FAIL)</b>', text)
    assert "Spearman" in text and "SSIM" in text and "forward_features" in text
    if dims == 2:
        assert '<img class="example-map" src="data:image/png;base64,' in text
    else:
        assert "<svg" in text and "<polyline" in text and "xmlns" not in text
