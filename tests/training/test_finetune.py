"""Fine-tuning options: ``backbone_lr_scale`` and ``freeze_backbone_epochs`` (optimizer groups
of the head and the backbone; the learning rate of each set per step, so resuming needs nothing
more)."""

from __future__ import annotations

import pytest
import torch
from test_trainer import TASK, VAL, make_ds, make_model, state

from healthcnn.models import create_model
from healthcnn.training import LambdaCallback, TrainConfig, Trainer
from healthcnn.training.optim import build_optimizer, parameter_groups, set_lr

HEAD = ("head.fc.weight", "head.fc.bias")  # simple_cnn's classifier


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "batch_size": 16, "lr": 3e-3, "precision": "fp32", **kw})


def test_groups_split_the_classifier_from_the_backbone() -> None:
    model = create_model("resnet18", num_classes=2)
    assert len(parameter_groups(model, _cfg())) == 1
    head, backbone = parameter_groups(model, _cfg(backbone_lr_scale=0.1))
    fc = {id(p) for p in model.fc.parameters()}
    assert {id(p) for p in head["params"]} == fc
    assert len(backbone["params"]) == len(list(model.parameters())) - 2
    optimizer = build_optimizer([head, backbone], _cfg(backbone_lr_scale=0.1))
    set_lr(optimizer, 0.01, epoch=0)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.01, 0.001])


def test_frozen_epochs_give_the_backbone_lr_zero_then_the_scaled_rate() -> None:
    model = create_model("resnet18", num_classes=2)
    config = _cfg(backbone_lr_scale=0.5, freeze_backbone_epochs=2)
    optimizer = build_optimizer(parameter_groups(model, config), config)
    lrs = []
    for epoch in range(3):
        set_lr(optimizer, 0.1, epoch)
        lrs.append([g["lr"] for g in optimizer.param_groups])
    assert lrs == [[0.1, 0.0], [0.1, 0.0], [0.1, 0.05]]


def test_the_backbone_stays_still_while_frozen_and_learns_after() -> None:
    model = make_model(dropout=0.0)
    start = state(model)
    seen = {}
    keep = LambdaCallback(on_epoch_end=lambda t, r: seen.__setitem__(r.epoch, state(t.model)))
    config = _cfg(epochs=2, freeze_backbone_epochs=1, optimizer="adamw", weight_decay=0.01)
    Trainer(model, TASK, config, callbacks=[keep], progress=False).fit(make_ds(), VAL)
    weights = [k for k in start if k.endswith("weight") and "bn" not in k and k not in HEAD]
    assert weights, "the backbone has convolution weights"
    after_1, after_2 = seen[1], seen[2]
    assert all(torch.equal(after_1[k], start[k]) for k in weights)  # frozen, decay included
    assert any(not torch.equal(after_1[k], start[k]) for k in HEAD)  # the head learnt
    assert any(not torch.equal(after_2[k], after_1[k]) for k in weights)  # then the backbone


def test_bad_values_and_models_without_a_known_classifier() -> None:
    with pytest.raises(ValueError, match="backbone_lr_scale must be a number > 0"):
        _cfg(backbone_lr_scale=0)
    with pytest.raises(ValueError, match="freeze_backbone_epochs must be an int >= 0"):
        _cfg(freeze_backbone_epochs=-1)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="need to know the classifier of Sequential"):
        parameter_groups(plain, _cfg(backbone_lr_scale=0.1))


def test_fit_from_a_torchvision_file_takes_its_normalisation_and_stem(tmp_path) -> None:
    """fit_model with published weights (a file under torchvision's name): the record gets
    ImageNet's mean/std, the ResNet keeps torchvision's stem on 8 px inputs, and the bundle's
    keyword arguments do not point at the weights."""
    from healthcnn.data.arrays import ArrayDataset
    from healthcnn.models.pretrained import IMAGENET_MEAN, IMAGENET_STD
    from healthcnn.training.fit import FitSpec, fit_model

    path = tmp_path / "resnet18-f37072fd.pth"  # the name is what tells; the hash is not checked
    torch.save(create_model("resnet18").state_dict(), path)
    base = make_ds()
    rgb = ArrayDataset(base.images.repeat(1, 3, 1, 1), base.labels, base.classes)
    val = ArrayDataset(VAL.images.repeat(1, 3, 1, 1), VAL.labels, VAL.classes)
    spec = FitSpec(model="resnet18", model_kwargs={"weights": str(path)}, train=_cfg(epochs=1))
    with pytest.warns(UserWarning, match="keeping the model's freshly initialised"):
        fitted = fit_model(spec, rgb, val, TASK)
    assert fitted.preprocessing.mean == pytest.approx(IMAGENET_MEAN)
    assert fitted.preprocessing.std == pytest.approx(IMAGENET_STD)
    assert "weights" not in fitted.model_kwargs and "stem" not in fitted.model_kwargs
    assert fitted.model.conv1.kernel_size == (7, 7)
