"""Localisation measured where the evidence is known: a tiny network trained on real RetinaMNIST
images whose class is a planted bright patch; every method's maps must put more of their mass
in the patch, and their maximum in it more often, than a uniform map would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from healthcnn.explain import METHODS, energy_inside, explain, pointing_hits
from healthcnn.explain.planted import plant_patches

from .conftest import as_input, retina, train_tiny


def test_pointing_and_energy_by_hand() -> None:
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1], maps[0, 3, 3] = 1.0, 3.0  # the maximum outside the box
    maps[1, 0, 0] = 2.0
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[:, :2, :2] = True
    np.testing.assert_array_equal(pointing_hits(maps, masks), [False, True])
    np.testing.assert_allclose(energy_inside(maps, masks), [0.25, 1.0])
    assert energy_inside(np.zeros((1, 4, 4)), masks[:1])[0] == 0.0
    with pytest.raises(ValueError, match="non-empty region"):
        pointing_hits(maps, np.zeros_like(masks))


def test_planting_keeps_the_input_and_marks_the_box() -> None:
    images = np.zeros((10, 3, 12, 12), dtype=np.uint8)
    planted = plant_patches(images, patch=3, seed=0)
    assert images.max() == 0
    labels = planted.data.labels.numpy()
    assert labels.sum() == 5
    x = planted.data.images.numpy()
    for i in range(10):
        assert planted.masks[i].sum() == (9 if labels[i] else 0)
        np.testing.assert_array_equal(x[i].max(axis=0) == 255, planted.masks[i])


@pytest.mark.data
@pytest.mark.slow
def test_every_method_finds_the_planted_patch(data_root) -> None:
    images, _ = retina("train", data_root)
    train = plant_patches(images, seed=1)
    model = train_tiny(train.data.images, train.data.labels, 2, steps=300)
    test = plant_patches(retina("test", data_root)[0], seed=3)
    x = as_input(test.data.images)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == test.data.labels).float().mean().item()
    assert accuracy > 0.9  # the network learned the patch (not a localisation claim)
    pos = np.flatnonzero(test.data.labels.numpy() == 1)[:16]
    chance = test.masks[pos[0]].mean()  # a uniform map's energy in the box
    for method in METHODS:
        e = explain(model, x[pos], 1, method, sanity_steps=1)
        masks = test.masks[pos]
        hits, energy = pointing_hits(e.maps, masks), energy_inside(e.maps, masks)
        assert hits.mean() > 2 * chance, method
        assert energy.mean() > 2 * chance, method
