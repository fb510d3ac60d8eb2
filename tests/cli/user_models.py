"""A user's own networks, as a user would write them: plain ``nn.Module`` code that knows
nothing of healthcnn. ``tests/cli/test_own_model_cli.py`` trains them by import path
(``user_models:TinyNet``) with this folder on ``PYTHONPATH``."""

from __future__ import annotations

from torch import nn


class TinyNet(nn.Module):
    """Conv -> ReLU -> global average pool -> linear, for images."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


def build_any_dims(*, spatial_dims: int, in_channels: int, num_classes: int, width: int = 4):
    """A builder that asks for ``spatial_dims`` (so healthcnn passes it)."""
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
    pool = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}[spatial_dims]
    return nn.Sequential(
        conv(in_channels, width, 3, padding=1), pool(1), nn.Flatten(), nn.Linear(width, num_classes)
    )


def not_a_model(*, in_channels: int, num_classes: int):
    """Returns something that is not an nn.Module."""
    return {"in_channels": in_channels, "num_classes": num_classes}


def fails_to_build(*, in_channels: int, num_classes: int):
    """A builder whose own code fails."""
    raise RuntimeError("out of ideas")
