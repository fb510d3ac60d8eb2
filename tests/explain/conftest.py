"""Tiny models trained for a few steps on real RetinaMNIST images (tests marked ``data``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from healthcnn.models import create_model


def as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images as the networks below see them: [0, 1], then mean 0.5, std 0.5."""
    return (images.float() / 255 - 0.5) / 0.5


def train_tiny(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, *, steps: int = 150,
    seed: int = 0, channels: tuple[int, ...] = (16, 32),
) -> nn.Module:  # fmt: skip
    """A simple_cnn trained with Adam (lr 3e-3, batches of 64) for ``steps`` steps; eval mode."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = create_model(
        "simple_cnn", spatial_dims=images.dim() - 2, in_channels=images.shape[1],
        num_classes=num_classes, channels=channels,
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x_all = as_input(images)
    for _ in range(steps):
        idx = torch.randint(0, len(images), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x_all[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def retina(split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The real RetinaMNIST split (uint8 images, 5 grades)."""
    with np.load(root / "medmnist" / "retinamnist.npz") as npz:
        images = np.moveaxis(npz[f"{split}_images"], -1, 1)
        labels = npz[f"{split}_labels"].reshape(-1)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels).long()


@pytest.fixture(scope="session")
def tiny_trainer() -> Callable[..., nn.Module]:
    return train_tiny
