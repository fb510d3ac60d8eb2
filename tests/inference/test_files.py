"""``predict_files`` takes inputs by the data loaders' rules: float and 16-bit images scaled by
the stated rule, NaN and out-of-range values refused, signals kept as float (never a silent
uint8 cast), and 16-bit PNGs decoded as the image loader decodes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from healthcnn.bundle import Preprocessing, save_bundle
from healthcnn.data import DataError
from healthcnn.inference.files import predict_files
from healthcnn.models import create_model
from healthcnn.tasks import make_task

TASK = make_task("multiclass", ["a", "b", "c"])


def _bundle(tmp_path: Path, record: Preprocessing) -> tuple[Path, torch.nn.Module]:
    kwargs = {"spatial_dims": record.spatial_dims, "in_channels": record.channels,
              "num_classes": 3, "channels": [4]}  # fmt: skip
    torch.manual_seed(0)
    model = create_model("simple_cnn", **kwargs).eval()
    path = save_bundle(tmp_path / "b", model, model_name="simple_cnn", model_kwargs=kwargs,
                       task=TASK, preprocessing=record)  # fmt: skip
    return path, model


def _probs(rows: list[dict]) -> np.ndarray:
    return np.array([[r["probabilities"][c] for c in "abc"] for r in rows])


IMAGE = Preprocessing(channels=1, size=(8, 8), spatial_dims=2, mean=(0.5,), std=(0.5,))


def test_float_images_follow_the_stated_rule(tmp_path: Path) -> None:
    path, _ = _bundle(tmp_path, IMAGE)
    x = np.random.default_rng(0).random((3, 8, 8))
    np.savez(tmp_path / "f.npz", images=x)
    np.savez(tmp_path / "u.npz", images=np.round(x * 255).astype(np.uint8))
    got = _probs(predict_files(path, [tmp_path / "f.npz"], precision="fp32"))
    want = _probs(predict_files(path, [tmp_path / "u.npz"], precision="fp32"))
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.full((2, 8, 8), np.nan), "NaN"),
        (np.full((2, 8, 8), 3.0), r"\[0, 1\]"),
        (np.full((2, 8, 8), -5, dtype=np.int16), "0..255"),
    ],
)
def test_bad_arrays_are_refused_not_cast(tmp_path: Path, images: np.ndarray, match: str) -> None:
    path, _ = _bundle(tmp_path, IMAGE)
    np.savez(tmp_path / "x.npz", images=images)
    with pytest.raises(DataError, match=match):
        predict_files(path, [tmp_path / "x.npz"], precision="fp32")


def test_signals_stay_float(tmp_path: Path) -> None:
    record = Preprocessing(channels=2, size=(32,), spatial_dims=1, scale=1.0)
    path, model = _bundle(tmp_path, record)
    x = np.random.default_rng(1).normal(size=(4, 2, 32)).astype(np.float32) * 3
    np.savez(tmp_path / "ecg.npz", images=x)
    got = _probs(predict_files(path, [tmp_path / "ecg.npz"], precision="fp32"))
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(x)), 1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_16_bit_png_is_not_read_as_white(tmp_path: Path) -> None:
    path, _ = _bundle(tmp_path, IMAGE)
    grey16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "x16.png")
    as8 = np.round(grey16.astype(np.float64) * 255 / 65535).astype(np.uint8)
    Image.fromarray(as8).save(tmp_path / "x8.png")
    got = _probs(predict_files(path, [tmp_path / "x16.png"], precision="fp32"))
    want = _probs(predict_files(path, [tmp_path / "x8.png"], precision="fp32"))
    np.testing.assert_array_equal(got, want)
