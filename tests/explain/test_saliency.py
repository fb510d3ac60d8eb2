"""Saliency maps: every method in 1D, 2D and 3D, one map per sample, eval mode forced and the
model's state restored, constant maps as zeros with a warning, and the maps computed here
(Grad-CAM, Grad-CAM++) compared with captum on the same 2D model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from captum.attr import LayerActivation, LayerGradCam, LayerGradientXActivation
from torch import nn

from healthcnn.explain import METHODS, ConstantMapWarning, predicted_classes
from healthcnn.explain.saliency import (
    grad_cam,
    layer_gradients,
    resolve_layer,
    saliency_maps,
    scale_maps,
)
from healthcnn.models import create_model

#: the tolerance of the comparisons with captum (float32 sums of a few thousand products)
ATOL = 1e-5

SHAPES = {1: (2, 2, 48), 2: (2, 3, 24, 24), 3: (2, 1, 8, 8, 8)}


def _model(dims: int, in_channels: int, seed: int = 0) -> nn.Module:
    """An untrained simple_cnn whose batch-norm statistics were set on random inputs (so that
    its eval-mode activations are not all dead), in train mode."""
    torch.manual_seed(seed)
    model = create_model(
        "simple_cnn", spatial_dims=dims, in_channels=in_channels, num_classes=3, channels=(8, 16)
    )
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # a cumulative average: one batch sets the statistics
    with torch.no_grad():
        model(torch.randn(16, in_channels, *SHAPES[dims][2:]))
    return model


def _batch(dims: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*SHAPES[dims], generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_every_method_in_every_dimension(dims: int, method: str) -> None:
    x = _batch(dims)
    model = _model(dims, x.shape[1])
    maps = saliency_maps(model, x, predicted_classes(model, x), method)
    assert maps.shape == (x.shape[0], *x.shape[2:])
    assert np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    # each sample its own map: the two different inputs give different maps
    assert not np.allclose(maps[0], maps[1])


@pytest.mark.parametrize("method", METHODS)
def test_the_model_state_is_forced_and_restored(method: str) -> None:
    x = _batch(2)
    model = _model(2, 3).train()
    model.features[0].requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    maps_train = saliency_maps(model, x, 1, method)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():  # eval mode: batch-norm statistics untouched
        assert torch.equal(v, buffers[k]), k
    maps_eval = saliency_maps(model.eval(), x, 1, method)
    assert not model.training
    np.testing.assert_array_equal(maps_train, maps_eval)


def test_the_state_is_restored_after_an_error() -> None:
    model = _model(2, 3).train()
    with pytest.raises(ValueError, match="outside the model's 3 outputs"):
        saliency_maps(model, _batch(2), 7, "gradcam")
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_gradcam_equals_captum_layer_gradcam() -> None:
    x, t = _batch(2), torch.tensor([0, 2])
    model = _model(2, 3).eval()
    for layer in (None, "features.0"):
        _, module = resolve_layer(model, layer)
        module = module or model.features  # forward_features is the output of `features`
        ours = grad_cam(model, x, t, layer=layer)
        ref = LayerGradCam(model, module).attribute(x, target=t.tolist(), relu_attributions=True)
        assert ref.abs().max() > 0
        torch.testing.assert_close(ours, ref[:, 0], atol=ATOL, rtol=0)


def test_gradcam_plus_plus_equals_the_paper_formula_on_captum_gradients() -> None:
    """Grad-CAM++ written from Chattopadhay et al.'s equations (19)-(20) with numpy, on the
    activations and gradients captum computes for the same layer."""
    x, t = _batch(2), [1, 2]
    model = _model(2, 3).eval()
    acts = LayerActivation(model, model.features).attribute(x).double().numpy()
    grads = LayerGradientXActivation(model, model.features, multiply_by_inputs=False)
    g = grads.attribute(x, target=t).double().numpy()
    want = np.zeros((2, *acts.shape[2:]))
    for n in range(2):
        for k in range(acts.shape[1]):
            a, gk = acts[n, k], g[n, k]
            denom = 2 * gk**2 + a.sum() * gk**3
            alpha = np.divide(gk**2, denom, out=np.zeros_like(gk), where=denom != 0)
            want[n] += (alpha * np.maximum(gk, 0)).sum() * a
    want = np.maximum(want, 0)
    ours = grad_cam(model, x, torch.tensor(t), plus_plus=True).double().numpy()
    assert want.max() > 0
    np.testing.assert_allclose(ours, want, atol=ATOL, rtol=0)


def test_an_explicit_layer_by_module_or_name() -> None:
    x = _batch(2)
    model = _model(2, 3)
    by_name = saliency_maps(model, x, 0, "gradcam", layer="features.0")
    by_module = saliency_maps(model, x, 0, "gradcam", layer=model.features[0])
    np.testing.assert_array_equal(by_name, by_module)
    with pytest.raises(ValueError, match=r"no layer 'features\.9'"):
        saliency_maps(model, x, 0, "gradcam", layer="features.9")


def _plain(inplace: bool) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace), nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(inplace), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )  # fmt: skip


def test_a_plain_module_uses_its_last_convolution() -> None:
    model = _plain(inplace=False)
    assert resolve_layer(model, None)[0] == "2"
    x, t = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(0)), [0, 1]
    ours = grad_cam(model, x, torch.tensor(t))
    ref = LayerGradCam(model, model[2]).attribute(x, target=t, relu_attributions=True)
    assert ref.abs().max() > 0
    torch.testing.assert_close(ours, ref[:, 0], atol=ATOL, rtol=0)
    # an in-place ReLU after the layer does not overwrite the captured activations
    torch.testing.assert_close(grad_cam(_plain(inplace=True), x, torch.tensor(t)), ours)


def test_a_constant_map_is_zeros_with_a_warning_never_nan() -> None:
    maps = torch.stack([torch.full((6, 6), 3.0), torch.arange(36.0).reshape(6, 6)])
    with pytest.warns(ConstantMapWarning, match=r"samples \[0\]"):
        out = scale_maps(maps)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], 0)
    assert out[1].min() == 0 and out[1].max() == 1


def test_a_dead_model_gives_zero_maps_with_a_warning() -> None:
    model = _model(2, 3).eval()
    with torch.no_grad():
        model.head.fc.weight.zero_()
    with pytest.warns(ConstantMapWarning):
        maps = saliency_maps(model, _batch(2), 0, "gradcam")
    np.testing.assert_array_equal(maps, 0)


def test_bad_inputs_are_refused_clearly() -> None:
    model = _model(2, 3)
    with pytest.raises(ValueError, match="NaN or infinite"):
        saliency_maps(model, torch.full((1, 3, 24, 24), float("nan")), 0)
    with pytest.raises(ValueError, match="3 targets for a batch of 2"):
        saliency_maps(model, _batch(2), [0, 1, 2])
    with pytest.raises(ValueError, match="unknown explanation method 'gradcm'"):
        saliency_maps(model, _batch(2), 0, "gradcm")
    with pytest.raises(ValueError, match="float batch"):
        saliency_maps(model, torch.zeros(2, 24), 0)


def test_no_warning_for_ordinary_maps() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, x = _model(1, 2), _batch(1)
        saliency_maps(model, x, predicted_classes(model, x), "gradcam")


@pytest.mark.parametrize(
    ("name", "kwargs", "shape"),
    [
        ("resnet18", {"stem": "small"}, (2, 3, 16, 16)),
        ("resnet18", {"stem": "small"}, (2, 1, 8, 8, 8)),
        ("compact_resnet", {}, (2, 2, 64)),
        ("vgg11_bn", {}, (2, 3, 32, 32)),
    ],
)
def test_registry_models_get_their_feature_map(name, kwargs, shape) -> None:
    torch.manual_seed(0)
    model = create_model(name, spatial_dims=len(shape) - 2, in_channels=shape[1], num_classes=2,
                         **kwargs)  # fmt: skip
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        feats = model.eval().forward_features(x)
    acts, grads = layer_gradients(model, x, torch.tensor([0, 1]), None, lambda z: z)
    torch.testing.assert_close(acts, feats)
    assert grads.shape == feats.shape and grads.abs().sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantMapWarning)  # untrained: a map may be empty
        maps = saliency_maps(model, x, [0, 1], "gradcam++")
    assert maps.shape == (2, *shape[2:]) and np.isfinite(maps).all()
