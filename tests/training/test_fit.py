"""The one fit path: model options the data imply, seeding, and averaging over views."""

from __future__ import annotations

import numpy as np
import torch

from healthcnn.data.arrays import ArrayDataset
from healthcnn.data.transforms import Compose, Dihedral
from healthcnn.models import create_model
from healthcnn.tasks import make_task
from healthcnn.training import TrainConfig
from healthcnn.training.fit import FitSpec, default_model_kwargs, fit_model


def _images(n: int = 24, seed: int = 0) -> ArrayDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 12, 12), generator=g, dtype=torch.uint8)
    return ArrayDataset(x, torch.arange(n) % 3, ["a", "b", "c"])


def _spec(**changes) -> FitSpec:
    train = TrainConfig(epochs=1, batch_size=8, precision="fp32")
    options = {"model": "simple_cnn", "train": train, "model_kwargs": {"channels": (4, 8)}}
    return FitSpec(**{**options, **changes})


def test_small_stem_rule() -> None:
    assert default_model_kwargs("resnet18", (28, 28)) == {"stem": "small"}
    assert default_model_kwargs("resnet18", (64, 64)) == {}
    assert default_model_kwargs("simple_cnn", (28, 28)) == {}


def test_init_seed_seeds_the_build() -> None:
    ds, task = _images(), make_task("multiclass", ["a", "b", "c"])
    built: dict[str, torch.Tensor] = {}

    def build() -> torch.nn.Module:
        model = create_model("simple_cnn", in_channels=3, num_classes=3, channels=(4, 8))
        built.update({k: v.clone() for k, v in model.state_dict().items()})
        return model

    fit_model(_spec(init_seed=1234, build=build), ds, ds, task)
    torch.manual_seed(1234)
    fresh = create_model("simple_cnn", in_channels=3, num_classes=3, channels=(4, 8))
    assert list(built) == list(fresh.state_dict())
    for key, value in fresh.state_dict().items():
        torch.testing.assert_close(built[key], value)


def test_infer_averages_given_views_in_order() -> None:
    ds, task = _images(), make_task("multiclass", ["a", "b", "c"])
    fitted = fit_model(_spec(), ds, ds, task)
    ev = fitted.preprocessing.transform()
    views = [ev, Compose([ev, Dihedral(0, True)]), Compose([ev, Dihedral(2, False)])]
    _, mean = fitted.infer(ds, views=views)
    each = [fitted.infer(ds, views=[v])[1] for v in views]
    np.testing.assert_array_equal(mean, np.mean(each, axis=0))
    np.testing.assert_array_equal(fitted.infer(ds, views=[ev])[1], fitted.infer(ds)[1])
    assert not np.array_equal(mean, each[0])


def test_a_resumed_fit_counts_the_time_of_the_epochs_trained_before(tmp_path) -> None:
    """fit_model(resume=True) reports the recorded times of the epochs its checkpoint holds
    plus its own, so a run split over sessions reports its whole training time."""
    import json

    import pytest

    from healthcnn.training import LambdaCallback, TrainingInterrupted
    from healthcnn.training.checkpoint import checkpoint_epoch

    ds, task = _images(), make_task("multiclass", ["a", "b", "c"])
    spec = _spec(train=TrainConfig(epochs=3, batch_size=8, precision="fp32"), out_dir=tmp_path)

    def stop(trainer, record):
        if record.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        fit_model(spec, ds, ds, task, callbacks=(LambdaCallback(on_epoch_end=stop),))
    assert checkpoint_epoch(tmp_path) == 2
    # as if each of the two epochs had taken 1000 s in an earlier session
    path = tmp_path / "checkpoint.json"
    doc = json.loads(path.read_text())
    for epoch in doc["history"]["epochs"]:
        epoch["seconds"] = 1000.0
    path.write_text(json.dumps(doc))
    fitted = fit_model(spec, ds, ds, task, resume=True)
    assert [e.epoch for e in fitted.history.epochs] == [1, 2, 3]
    assert fitted.resumed_after_epoch == 2
    assert 2000.0 + fitted.history.epochs[2].seconds <= fitted.seconds < 2100.0
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        checkpoint_epoch(tmp_path / "none")
