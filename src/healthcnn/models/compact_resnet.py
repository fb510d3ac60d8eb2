"""A compact residual network for signals (ECG), dimension-generic like every model here.

ResNet-18 at 1D keeps its 64-512 channels and 3-tap kernels: 3.9 M parameters for a 10-s ECG
whose useful structure (a QRS complex is ~0.1 s, an RR interval ~1 s) needs wide receptive
fields rather than wide layers. ECG ResNets (Hannun et al., Nature Medicine 25:65-69, 2019;
Ribeiro et al., Nature Communications 11:1760, 2020) use long kernels and few channels instead.
This one follows that recipe at a size that trains in seconds on a CPU:

* stem: one ``stem_kernel`` (15) convolution of stride 2, norm, activation;
* ``len(widths)`` stages, each of ``blocks`` residual blocks; a block is two ``kernel_size``
  (7) convolutions with norm and activation, the first of stride 2 in the first block of every
  stage, and a shortcut (identity, or a strided 1x1 convolution and norm when the shape
  changes), added before the last activation (He et al., CVPR 2016);
* global average pooling, dropout, one linear layer.

With the defaults (widths 32-64-96-128, one block per stage) the 1D model has about 0.4 M
parameters; a 1000-sample input shrinks to 32 positions. Every strided convolution pads
``kernel // 2``, so an input of one position still gives one: the minimum input size is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..layers import ClassifierHead, LayerSpec, conv_type, make_act, make_conv, make_norm
from ._base import ClassifierModel
from ._registry import register_model

_RELU: LayerSpec = ("relu", {"inplace": True})


def _norm(spec: LayerSpec, d: int, channels: int) -> nn.Module:
    return make_norm(spec, d, channels) or nn.Identity()


class ResidualBlock(nn.Module):
    """conv(k, stride) -> norm -> act -> conv(k) -> norm, plus the shortcut, -> act."""

    def __init__(
        self,
        d: int,
        cin: int,
        cout: int,
        kernel_size: int,
        stride: int,
        norm: LayerSpec,
        act: LayerSpec,
    ) -> None:
        super().__init__()
        bias = norm is None
        pad = kernel_size // 2
        self.conv1 = make_conv(d, cin, cout, kernel_size, stride=stride, padding=pad, bias=bias)
        self.bn1 = _norm(norm, d, cout)
        self.act1 = make_act(act) or nn.Identity()
        self.conv2 = make_conv(d, cout, cout, kernel_size, padding=pad, bias=bias)
        self.bn2 = _norm(norm, d, cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                make_conv(d, cin, cout, 1, stride=stride, bias=bias), _norm(norm, d, cout)
            )
        self.act2 = make_act(act) or nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CompactResNet(ClassifierModel):
    """Stem, ``len(widths)`` residual stages (each halving the size), pooled linear head.

    Args:
        spatial_dims, in_channels, num_classes: as for every model.
        widths: channels of the stages (the stem has ``widths[0]``).
        blocks: residual blocks per stage.
        kernel_size, stem_kernel: odd kernel sizes of the blocks and of the stem.
        norm, act: layer choices by name.
        dropout: dropout before the linear layer.
    """

    classifier_name = "head.fc"
    min_input_size = 1

    def __init__(
        self,
        spatial_dims: int = 1,
        in_channels: int = 12,
        num_classes: int = 2,
        widths: Sequence[int] = (32, 64, 96, 128),
        blocks: int = 1,
        kernel_size: int = 7,
        stem_kernel: int = 15,
        norm: LayerSpec = "batch",
        act: LayerSpec = _RELU,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        widths = tuple(widths)
        if not widths or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
        ):
            raise ValueError(f"widths must be a non-empty sequence of ints >= 1, got {widths}")
        for name, v in (("kernel_size", kernel_size), ("stem_kernel", stem_kernel)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v % 2 == 0:
                raise ValueError(f"{name} must be an odd int >= 1, got {v!r}")
        if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"blocks must be an int >= 1, got {blocks!r}")
        d = self.spatial_dims
        self.stem = nn.Sequential(
            make_conv(
                d,
                in_channels,
                widths[0],
                stem_kernel,
                stride=2,
                padding=stem_kernel // 2,
                bias=norm is None,
            ),
            _norm(norm, d, widths[0]),
            make_act(act) or nn.Identity(),
        )
        stages = []
        prev = widths[0]
        for w in widths:
            layers = [ResidualBlock(d, prev, w, kernel_size, 2, norm, act)]
            layers += [ResidualBlock(d, w, w, kernel_size, 1, norm, act) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*layers))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(d, prev, num_classes, dropout=dropout)
        conv = conv_type(d)
        for m in self.modules():
            if isinstance(m, conv):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)


@register_model(
    family="compact_resnet",
    paper="He et al., CVPR 2016; ECG ResNets after Hannun et al., Nature Medicine 2019",
    default_input_size=224,
    min_input_size=1,
)
def compact_resnet(**kwargs: Any) -> CompactResNet:
    """Compact ResNet for signals: k15 stem, 4 residual stages (32-64-96-128), k7 kernels."""
    return CompactResNet(**kwargs)
