"""Trainer.fit on data that is not an in-memory ArrayDataset: a torch DataLoader (workers), a
user's own map-style Dataset, an IterableDataset; and the same numbers as the fast path.

Tolerance: none. The DataLoader path draws the same batches from the same seeded generator and
turns them into model inputs with the same function as the in-memory path, so weights, losses
and validation metrics are compared for exact equality.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_trainer import CLASSES, cfg, flip, make_ds, make_model, same, state
from torch.utils.data import DataLoader, Dataset, IterableDataset

from healthcnn.data.loaders import EpochBatchSampler
from healthcnn.tasks import make_task
from healthcnn.training import Trainer
from healthcnn.training.fit import FitSpec, fit_model


def _fit(train, val, config=None, **kw):
    model = make_model()
    trainer = Trainer(
        model, make_task("multiclass", CLASSES), config or cfg(), transform=flip, progress=False
    )
    trainer.num_workers = kw.get("num_workers", 0)
    history = trainer.fit(train, val)
    return state(model), history


def _records(history):
    return [(r.train_loss, r.val_loss, r.val_metrics) for r in history.epochs]


class OwnDataset(Dataset):
    """A user's map-style Dataset: numpy images made on the fly, int labels, no `labels`."""

    def __init__(self, ds):
        self.images, self.targets = ds.images.numpy(), ds.labels.tolist()

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.images[i], self.targets[i]


class OwnStream(IterableDataset):
    """A user's IterableDataset (no length, no labels up front)."""

    def __init__(self, ds):
        self.ds = ds

    def __iter__(self):
        for i in range(len(self.ds)):
            yield self.ds.images[i], int(self.ds.labels[i])


def test_dataloader_with_workers_matches_the_in_memory_path_exactly():
    train, val = make_ds(70), make_ds(30, seed=1)
    fast_state, fast = _fit(train, val)
    sampler = EpochBatchSampler(len(train), 16)
    loader = DataLoader(train, batch_sampler=sampler, num_workers=2)
    val_loader = DataLoader(val, batch_size=32, num_workers=1)  # the eval batch size
    slow_state, slow = _fit(loader, val_loader)
    assert same(fast_state, slow_state)
    assert _records(fast) == _records(slow)  # tolerance: none (bit-identical)
    assert fast.best_epoch == slow.best_epoch


def test_own_map_style_dataset_matches_the_in_memory_path_exactly():
    train, val = make_ds(64), make_ds(30, seed=1)
    fast_state, fast = _fit(train, val)
    own_state, own = _fit(OwnDataset(train), OwnDataset(val), num_workers=2)
    assert same(fast_state, own_state)
    assert _records(fast) == _records(own)


def test_shuffling_dataloader_is_deterministic_for_a_seed():
    train, val = make_ds(64), make_ds(30, seed=1)

    def run(seed):
        loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator())
        return _fit(loader, val, cfg(seed=seed))[0]

    assert same(run(0), run(0))
    assert not same(run(0), run(1))


def test_iterable_dataset_trains_and_validates():
    train, val = make_ds(64), make_ds(30, seed=1)
    weights, history = _fit(OwnStream(train), OwnStream(val))
    assert len(history.epochs) == 3
    assert all(np.isfinite(r.train_loss) and 0 <= r.val_metrics["auc"] <= 1 for r in history.epochs)
    again, _ = _fit(OwnStream(train), OwnStream(val))
    assert same(weights, again)


def test_balanced_weighting_without_labels_up_front_is_refused_with_the_fix():
    train, val = make_ds(64), make_ds(30, seed=1)
    with pytest.raises(ValueError, match="no `labels` tensor"):
        _fit(OwnDataset(train), val, cfg(class_weights="balanced"))
    with pytest.raises(ValueError, match="cosine"):
        _fit(OwnStream(train), val, cfg(schedule="cosine"))


def test_labels_out_of_range_in_a_stream_are_an_error():
    train, val = make_ds(64), make_ds(30, seed=1)
    bad = OwnDataset(train)
    bad.targets[5] = 7
    with pytest.raises(ValueError):
        _fit(bad, val)


def test_something_that_is_not_a_dataset_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"torch\.utils\.data\.Dataset"):
        _fit([(torch.zeros(1, 8, 8), 0)], make_ds(30))


def test_fit_model_takes_a_dataset_and_predicts_on_it():
    train, val = make_ds(64), make_ds(30, seed=1)
    task = make_task("multiclass", CLASSES)
    spec = FitSpec("simple_cnn", train=cfg(), model_kwargs={"channels": (4, 8)})
    fast = fit_model(spec, train, val, task)
    slow = fit_model(FitSpec(**{**spec.__dict__, "num_workers": 1}), OwnDataset(train), val, task)
    assert same(state(fast.model), state(slow.model))
    assert slow.preprocessing == fast.preprocessing
    np.testing.assert_array_equal(fast.predict(val).scores, slow.predict(val).scores)
    _, probs = slow.infer(OwnDataset(val))
    np.testing.assert_array_equal(probs, fast.predict(val).scores)
    with pytest.raises(TypeError, match="labels"):
        slow.predict(OwnDataset(val))
