"""The sanity checks can fail: an edge detector that ignores the model FAILS the cascading
randomisation test, Grad-CAM of a network trained on real RetinaMNIST PASSES; the similarity
measures agree with scipy and scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from skimage.metrics import structural_similarity
from torch import nn

from healthcnn.explain import (
    explain,
    label_randomisation_test,
    randomisation_test,
    spearman,
    ssim,
)
from healthcnn.explain.planted import plant_patches
from healthcnn.explain.saliency import saliency_maps
from healthcnn.explain.sanity import cascade_points, edge_detector, parameter_layers
from healthcnn.models import create_model

from .conftest import as_input, retina, train_tiny


@pytest.mark.parametrize("shape", [(40,), (16, 23), (9, 8, 12), (5, 30)])
def test_ssim_agrees_with_scikit_image(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    a = rng.random(shape)
    b = np.clip(a + 0.3 * rng.standard_normal(shape), 0, 1)
    win = min(7, *(s if s % 2 else s - 1 for s in shape))
    want = structural_similarity(a, b, data_range=1.0, win_size=win)
    if len(set(shape)) == 1 or min(shape) >= 7:
        assert ssim(a, b) == pytest.approx(want, abs=1e-9)
    assert ssim(a, b, win_size=win) == pytest.approx(want, abs=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_spearman_agrees_with_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, size=(12, 12)).astype(float)  # many ties
    b = a + rng.integers(0, 3, size=(12, 12))
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a.ravel(), b.ravel())[0])
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(np.zeros(4), np.zeros(4)) == 1.0
    assert spearman(np.zeros(4), np.arange(4.0)) == 0.0


def test_the_cascade_goes_from_the_top_and_ends_with_every_layer() -> None:
    model = create_model("simple_cnn", spatial_dims=2, in_channels=1, num_classes=2)
    names = [n for n, _ in parameter_layers(model)]
    assert names[-1] == "head.fc" and names[0].startswith("features.0")
    assert cascade_points(len(names), 3) == [1, (1 + len(names)) // 2, len(names)]
    assert cascade_points(len(names), 1) == [len(names)]


@pytest.mark.data
def test_edge_detector_fails_and_gradcam_passes_on_a_trained_network(data_root) -> None:
    images, labels = retina("train", data_root)
    model = train_tiny(images, labels, 5, steps=120)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = as_input(retina("test", data_root)[0][:16])
    t = model(x).argmax(1).detach()

    broken = randomisation_test(model, x, t, edge_detector)
    assert not broken.passed
    assert broken.spearman == pytest.approx(1.0) and broken.ssim == pytest.approx(1.0)
    assert "FAIL" in str(broken)

    e = explain(model, x, t, "gradcam")
    assert e.verdict.passed, str(e.verdict)
    assert [s.layers for s in e.verdict.steps] == cascade_points(len(parameter_layers(model)), 3)
    assert e.verdict.to_dict()["verdict"] == "pass"
    for k, v in model.state_dict().items():  # the randomisation ran on a copy
        assert torch.equal(v, before[k]), k


def test_every_explanation_carries_its_verdict() -> None:
    torch.manual_seed(0)
    model = create_model("simple_cnn", spatial_dims=1, in_channels=1, num_classes=2)
    x = torch.randn(3, 1, 32)
    state = torch.random.get_rng_state()
    e = explain(model, x, None, "gradcam++", sanity_steps=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # no reseeding behind our back
    assert e.maps.shape == (3, 32) and len(e.targets) == 3
    d = e.to_dict()
    assert d["sanity"]["test"] == "cascading model-parameter randomisation"
    assert len(d["sanity"]["steps"]) == 2 and d["layer"] == "forward_features"


@pytest.mark.data
@pytest.mark.slow
def test_label_randomisation_on_planted_retina_data(data_root) -> None:
    images, _ = retina("train", data_root)
    planted = plant_patches(images, seed=0)
    x = as_input(planted.data.images[planted.data.labels == 1][:12])

    trained: dict[bytes, nn.Module] = {}  # both checks share the two training runs

    def train(labels: torch.Tensor) -> nn.Module:
        key = labels.numpy().tobytes()
        if key not in trained:
            trained[key] = train_tiny(planted.data.images, labels, 2, steps=300)
        return trained[key]

    def gradcam(m: nn.Module, inp: torch.Tensor, t: torch.Tensor) -> np.ndarray:
        return saliency_maps(m, inp, t, "gradcam")

    verdict = label_randomisation_test(train, planted.data.labels, x, gradcam, targets=1)
    assert verdict.test == "data-label randomisation"
    assert verdict.passed, str(verdict)
    broken = label_randomisation_test(train, planted.data.labels, x, edge_detector, targets=1)
    assert not broken.passed
