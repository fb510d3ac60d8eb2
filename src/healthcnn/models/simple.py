"""A small LeNet-style baseline: a few conv-norm-act-pool blocks and a linear head.

Meant for 28 px MedMNIST images (and 1D/3D inputs of similar size) and for quick tests: with the
default three blocks of 32-64-128 filters its convolutions and norms hold 93,472 parameters at 2D
(plus 129 per class in the head), and it trains in seconds on a CPU. Each block is a 3x3
convolution (padding 1), a norm, an activation and a 2x2 max pool of stride 2; the head is global
average pooling, optional dropout and one linear layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..layers import ClassifierHead, ConvNormAct, LayerSpec, make_pool
from ._base import ClassifierModel
from ._registry import register_model


class SimpleCNN(ClassifierModel):
    """``len(channels)`` blocks of conv 3x3 -> norm -> act -> max pool 2x2, then a linear head.

    Args:
        spatial_dims, in_channels, num_classes: as for every model.
        channels: filters per block; each block halves the size, so the minimum input is
            ``2 ** len(channels)`` per axis.
        norm, act: layer choices by name (``norm=None`` for none).
        dropout: dropout before the linear layer.
    """

    classifier_name = "head.fc"

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        channels: Sequence[int] = (32, 64, 128),
        norm: LayerSpec = "batch",
        act: LayerSpec = ("relu", {"inplace": True}),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        channels = tuple(channels)
        valid = [isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels]
        if not channels or not all(valid):
            raise ValueError(f"channels must be a non-empty sequence of ints >= 1, got {channels}")
        d = self.spatial_dims
        blocks = []
        prev = in_channels
        for c in channels:
            blocks.append(
                nn.Sequential(
                    ConvNormAct(d, prev, c, 3, padding=1, norm=norm, act=act),
                    make_pool("max", d, kernel_size=2, stride=2),
                )
            )
            prev = c
        self.features = nn.Sequential(*blocks)
        self.head = ClassifierHead(d, prev, num_classes, dropout=dropout)
        # Every block halves the size (floor): 2**blocks positions leave one.
        self.min_input_size = 2 ** len(channels)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)


@register_model(
    family="simple",
    paper="LeCun et al., Proc. IEEE 1998 (LeNet-style)",
    default_input_size=28,
    min_input_size=8,
)
def simple_cnn(**kwargs: Any) -> SimpleCNN:
    """A small LeNet-style CNN (3 conv blocks, 32-64-128 filters) for 28 px inputs and tests."""
    return SimpleCNN(**kwargs)
