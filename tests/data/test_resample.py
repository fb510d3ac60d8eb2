"""Resampling volumes once at load time: exact shapes, constant volumes stay constant, halving
averages 2x2x2 blocks, metadata is kept, bad input is refused; and on the real 64^3 file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data import ArrayDataset, load_medmnist
from healthcnn.data.resample import resample_images, resize_dataset


def _volumes(values: np.ndarray) -> ArrayDataset:
    images = torch.from_numpy(values.astype(np.uint8))
    n = images.shape[0]
    return ArrayDataset(
        images=images,
        labels=torch.arange(n, dtype=torch.int64) % 2,
        classes=["normal", "hyperplasia"],
        ids=[f"v{i}" for i in range(n)],
        groups=[f"p{i}" for i in range(n)],
        name="vols",
    )


@pytest.mark.parametrize("size", [28, 32, 40])
def test_constant_volume_stays_constant_with_exact_shape(size: int) -> None:
    images = torch.full((3, 1, 64, 64, 64), 173, dtype=torch.uint8)
    out = resample_images(images, size, chunk=2)
    assert out.shape == (3, 1, size, size, size)
    assert out.dtype == torch.uint8
    assert torch.all(out == 173)


def test_anisotropic_target_and_images() -> None:
    out = resample_images(torch.full((2, 3, 10, 12), 9, dtype=torch.uint8), (5, 6))
    assert out.shape == (2, 3, 5, 6) and torch.all(out == 9)
    vol = resample_images(torch.zeros(1, 1, 8, 8, 8, dtype=torch.uint8), (4, 6, 8))
    assert vol.shape == (1, 1, 4, 6, 8)


def test_halving_averages_each_2x2x2_block() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 256, size=(2, 1, 6, 6, 6))
    out = resample_images(torch.from_numpy(values.astype(np.uint8)), 3).numpy()
    blocks = values.reshape(2, 1, 3, 2, 3, 2, 3, 2).mean(axis=(3, 5, 7))
    np.testing.assert_allclose(out, np.round(blocks), atol=1)  # 1: rounding of .5 ties
    assert np.abs(out - blocks).max() <= 0.5 + 1e-6


def test_resize_dataset_keeps_labels_ids_groups() -> None:
    ds = _volumes(np.full((4, 1, 8, 8, 8), 50))
    small = resize_dataset(ds, 4)
    assert small.images.shape == (4, 1, 4, 4, 4)
    assert torch.equal(small.labels, ds.labels)
    assert small.ids == ds.ids and small.groups == ds.groups
    assert small.name == "vols@4"
    assert ds.images.shape == (4, 1, 8, 8, 8)  # the input is not modified


def test_same_size_is_an_unchanged_copy() -> None:
    images = torch.randint(0, 256, (2, 1, 4, 4, 4), dtype=torch.uint8)
    out = resample_images(images, 4)
    assert torch.equal(out, images) and out.data_ptr() != images.data_ptr()


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError, match="uint8"):
        resample_images(torch.zeros(1, 1, 4, 4, 4), 2)
    with pytest.raises(ValueError, match="size must be"):
        resample_images(torch.zeros(1, 1, 4, 4, 4, dtype=torch.uint8), 0)
    with pytest.raises(ValueError, match="3 ints"):
        resample_images(torch.zeros(1, 1, 4, 4, 4, dtype=torch.uint8), (2, 2))
    with pytest.raises(TypeError, match="ArrayDataset"):
        resize_dataset(torch.zeros(1, 1, 4, 4, 4, dtype=torch.uint8), 2)


@pytest.mark.data
def test_real_adrenal_volumes_resample_to_28(data_root: Path) -> None:
    val = load_medmnist("adrenalmnist3d", "val", size=64, root=data_root)
    small = resize_dataset(val, 28)
    assert val.images.shape == (98, 1, 64, 64, 64)
    assert small.images.shape == (98, 1, 28, 28, 28)
    # interpolation keeps the intensity range and roughly the mean of each volume
    assert small.images.max() <= val.images.max()
    means = val.images.float().mean(dim=(1, 2, 3, 4))
    assert torch.allclose(small.images.float().mean(dim=(1, 2, 3, 4)), means, atol=3.0)
