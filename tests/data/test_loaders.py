"""ArrayDataset as a torch Dataset, and the DataLoader helpers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from healthcnn.data.arrays import ArrayDataset, batch_indices
from healthcnn.data.loaders import EpochBatchSampler, describe


def _ds(n=10):
    images = torch.arange(n * 2 * 3 * 3, dtype=torch.int64).remainder(256).to(torch.uint8)
    return ArrayDataset(images.view(n, 2, 3, 3), torch.arange(n) % 2, ["a", "b"])


def test_array_dataset_is_a_torch_dataset_of_image_label_pairs():
    ds = _ds()
    x, y = ds[3]
    assert torch.equal(x, ds.images[3]) and int(y) == 1
    assert torch.equal(ds[-1][0], ds.images[-1])
    batches = list(DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([b[0] for b in batches]), ds.images)
    with pytest.raises(IndexError, match="out of range"):
        ds[10]
    with pytest.raises(TypeError, match="subset"):
        ds[[1, 2]]


def test_epoch_batch_sampler_draws_the_in_memory_paths_batches():
    sampler = EpochBatchSampler(37, 8)
    assert [len(b) for b in sampler] == [8, 8, 8, 8, 5] and len(sampler) == 5
    sampler.start_epoch(torch.Generator().manual_seed(3), drop_last=True)
    expected = batch_indices(37, 8, True, torch.Generator().manual_seed(3), None, True)
    assert list(sampler) == [b.tolist() for b in expected] and len(sampler) == 4
    with pytest.raises(ValueError, match="batch_size"):
        EpochBatchSampler(10, 0)


def test_describe_reads_the_first_sample():
    info = describe(_ds())
    assert (info.dtype, info.in_channels, info.spatial_shape) == (torch.uint8, 2, (3, 3))
    loader_info = describe(DataLoader([(torch.zeros(1, 5), 0)]))
    assert loader_info.spatial_dims == 1 and loader_info.dtype == torch.float32
    with pytest.raises(TypeError, match="input tensor"):
        describe(DataLoader([("text", 0)]))
