"""ArrayDataset and iterate_batches: coverage, determinism, balanced sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from healthcnn.data.arrays import ArrayDataset, balanced_sample_weights, iterate_batches
from healthcnn.data.transforms import RandomFlip


def _toy(n: int = 10, labels: list[int] | None = None) -> ArrayDataset:
    images = torch.arange(n * 2 * 3 * 3, dtype=torch.int64).remainder(256).to(torch.uint8)
    labels = labels if labels is not None else [i % 3 for i in range(n)]
    return ArrayDataset(
        images=images.view(n, 2, 3, 3),
        labels=torch.tensor(labels),
        classes=["a", "b", "c"],
        ids=[f"s{i}" for i in range(n)],
        groups=[f"g{i // 2}" for i in range(n)],
        name="toy",
    )


def test_dataset_properties_and_subset() -> None:
    ds = _toy()
    assert len(ds) == 10 and ds.spatial_dims == 2 and ds.in_channels == 2
    assert ds.class_counts().tolist() == [4, 3, 3]
    sub = ds.subset([9, 0, 3])
    assert sub.ids == ["s9", "s0", "s3"] and sub.groups == ["g4", "g0", "g1"]
    assert torch.equal(sub.images[0], ds.images[9]) and sub.labels.tolist() == [0, 0, 0]
    with pytest.raises(IndexError):
        ds.subset([10])


def test_dataset_validation() -> None:
    imgs = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    with pytest.raises(TypeError, match="uint8"):
        ArrayDataset(images=imgs.double(), labels=torch.zeros(4, dtype=torch.int64), classes=["a"])
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        ArrayDataset(images=imgs, labels=torch.zeros(3, dtype=torch.int64), classes=["a"])
    with pytest.raises(ValueError, match="2 ids for 4 samples"):
        ArrayDataset(
            images=imgs, labels=torch.zeros(4, dtype=torch.int64), classes=["a"], ids=["x", "y"]
        )


def test_epoch_covers_every_index_once() -> None:
    ds = _toy(23)
    for shuffle in (False, True):
        seen = torch.cat(
            [
                idx
                for _, _, idx in iterate_batches(
                    ds, 5, shuffle=shuffle, generator=torch.Generator().manual_seed(0)
                )
            ]
        )
        assert sorted(seen.tolist()) == list(range(23))
    in_order = [idx.tolist() for _, _, idx in iterate_batches(ds, 10, shuffle=False)]
    assert in_order == [list(range(10)), list(range(10, 20)), [20, 21, 22]]
    dropped = list(iterate_batches(ds, 10, shuffle=False, drop_last=True))
    assert len(dropped) == 2


def test_batches_are_scaled_and_match_indices() -> None:
    ds = _toy(8)
    for x, y, idx in iterate_batches(
        ds, 3, shuffle=True, generator=torch.Generator().manual_seed(1)
    ):
        assert x.dtype == torch.float32
        assert torch.allclose(x, ds.images[idx].float() / 255)
        assert torch.equal(y, ds.labels[idx])


def test_same_generator_state_same_epoch() -> None:
    ds = _toy(16)

    def epoch(seed: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return [
            x
            for x, _, _ in iterate_batches(ds, 4, shuffle=True, generator=g, transform=RandomFlip())
        ]

    a, b, c = epoch(3), epoch(3), epoch(4)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(torch.equal(u, v) for u, v in zip(a, c, strict=True))


def test_balanced_sampling_roughly_balances() -> None:
    labels = [0] * 900 + [1] * 90 + [2] * 10  # 90 : 9 : 1
    ds = ArrayDataset(
        images=torch.zeros(1000, 1, 1, 1, dtype=torch.uint8),
        labels=torch.tensor(labels),
        classes=["a", "b", "c"],
    )
    weights = balanced_sample_weights(ds)
    g = torch.Generator().manual_seed(0)
    drawn = torch.cat(
        [
            y
            for _, y, _ in iterate_batches(
                ds, 100, shuffle=True, generator=g, sample_weights=weights
            )
        ]
    )
    assert len(drawn) == 1000
    counts = np.bincount(drawn.numpy(), minlength=3)
    # expected 333 each; sd ~15: a generous bound that still rules out the 900/90/10 input
    assert all(250 <= c <= 420 for c in counts), counts


def test_channels_last_and_multilabel() -> None:
    ds = ArrayDataset(
        images=torch.zeros(4, 3, 5, 5, dtype=torch.uint8),
        labels=torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]),
        classes=["p", "q"],
    )
    assert ds.multilabel and ds.class_counts().tolist() == [2, 2]
    x, y, _ = next(iterate_batches(ds, 4, shuffle=False, channels_last=True))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert y.dtype == torch.float32
    with pytest.raises(ValueError, match="multi-label"):
        balanced_sample_weights(ds)
    with pytest.raises(ValueError, match="one weight per sample"):
        next(iterate_batches(ds, 2, shuffle=True, sample_weights=[1.0, 2.0]))


@pytest.mark.data
def test_real_epoch_on_retinamnist(data_root: Path) -> None:
    from healthcnn.data.medmnist import load_medmnist

    ds = load_medmnist("retinamnist", "val", root=data_root)
    seen = []
    for x, _, idx in iterate_batches(
        ds, 32, shuffle=True, generator=torch.Generator().manual_seed(0)
    ):
        assert x.shape[1:] == (3, 28, 28) and float(x.min()) >= 0 and float(x.max()) <= 1
        seen.extend(idx.tolist())
    assert sorted(seen) == list(range(120))


def test_float_signals_pass_through_unscaled() -> None:
    # float32 samples (ECG windows, already normalised) are used as stored: no /255
    signals = torch.linspace(-3.0, 3.0, 6 * 2 * 50).reshape(6, 2, 50)
    ds = ArrayDataset(images=signals, labels=torch.arange(6) % 2, classes=["a", "b"])
    assert (ds.spatial_dims, ds.in_channels, ds.spatial_shape) == (1, 2, (50,))
    batches = list(iterate_batches(ds, 4, shuffle=False))
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32
    assert torch.equal(x, signals)
    # the batch is a copy: an in-place transform cannot change the dataset
    batches[0][0].mul_(0)
    assert torch.equal(ds.images, signals)
