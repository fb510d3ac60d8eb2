"""Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
CVPR 2016), the network of both clinical papers (Gulshan et al. 2016, Esteva et al. 2017).

Module names and state-dict keys equal torchvision's ``inception_v3`` at ``spatial_dims=2``
(``Conv2d_1a_3x3.conv.weight``, ``Mixed_6b.branch7x7_2.bn.running_var``, ``AuxLogits.conv1``,
...): 23,834,568 parameters, 27,161,264 with the auxiliary classifier, 5.71 G MACs at 299 px.
torchvision's ``transform_input`` (re-normalising ImageNet inputs) is not offered: normalisation
belongs to the data pipeline. The stage names keep their "2d"/"3x3" spelling in 1D and 3D so
that the keys are the same for every ``spatial_dims``.

Factorised kernels in 1D and 3D. Inception-v3 replaces an n x n convolution by a 1 x n and an
n x 1 one. We write every kernel as a 2D kernel (kh, kw) and map it to ``d`` axes with one rule:
*the last axis takes the width kw, every other axis takes the height kh*:

- 2D: (kh, kw) unchanged -- torchvision's exact (1, 7)/(7, 1), (1, 3)/(3, 1) kernels and
  "same" paddings;
- 3D: (kh, kh, kw) -- (1, 7) -> (1, 1, 7) and (7, 1) -> (7, 7, 1): a volume is a stack of
  images whose depth axis plays the role of the height axis;
- 1D: (kw) -- (1, 7) -> 7 and (7, 1) -> 1: a signal is an image one row high.

Square kernels (3x3, 5x5) become cubes and intervals as everywhere else. The rule keeps the
same modules and keys for every ``spatial_dims`` (so 2D weights can be inflated or sliced
module by module), and each "same"-padded convolution is exact in both directions: the 3D
kernel (kh, kh, kw) on a volume one voxel deep computes the 2D kernel given by its centre depth
slice, and the 2D kernel (kh, kw) on an image one row high computes the 1D kernel given by its
centre row. The price: in 1D the "n x 1" convolutions are pointwise (1x1), so a factorised pair
reaches n samples, not 2n - 1; in 3D the "n x 1" convolutions span n x n (depth x height), n
times the weights of the 2D ones.

Auxiliary classifier (after Mixed_6e) exists only with ``aux_logits=True``. ``forward`` always
returns the main logits; :meth:`Inception3.forward_with_aux` returns ``(logits, [aux])``. The
head average-pools with a 5 window and stride 3 (torchvision's 17 -> 5 at 299 px) when the grid
is at least 17 on every axis; on a smaller grid (smaller inputs) it pools adaptively to 5 per
axis instead, so that its 5-wide convolution always fits and the auxiliary head works at every
input size the network accepts.

Minimum input: 75 per axis (the stride-2 stages leave a grid of 1 after Mixed_7a; 74 fails).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvNormAct, conv_type, make_pool, norm_type
from ._base import ClassifierModel, fresh_linear
from ._registry import register_model

PAPER = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision, CVPR 2016"
MIN_INPUT_SIZE = 75
_NORM = ("batch", {"eps": 0.001})

# The trunk in order, split where the auxiliary classifier branches off.
_BEFORE_AUX = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "maxpool1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "maxpool2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
)
_AFTER_AUX = ("Mixed_7a", "Mixed_7b", "Mixed_7c")


def _kernel(spatial_dims: int, kh: int, kw: int) -> tuple[int, ...]:
    """The 2D kernel (kh, kw) for ``spatial_dims`` axes: the last axis kw, the others kh."""
    return (kh,) * (spatial_dims - 1) + (kw,)


def _conv(spatial_dims: int, cin: int, cout: int, kh: int, kw: int | None = None, **kwargs):
    """Conv (no bias) + batch norm (eps 0.001) + ReLU, torchvision's ``BasicConv2d``, with the
    2D kernel (kh, kw) (square if ``kw`` is omitted) mapped to ``spatial_dims`` axes.

    Padding defaults to "same" per axis; pass ``padding=0`` for a valid convolution.
    """
    kernel = _kernel(spatial_dims, kh, kh if kw is None else kw)
    return ConvNormAct(spatial_dims, cin, cout, kernel, norm=_NORM, **kwargs)


class _AvgPool3x3(nn.Module):
    """3x3 average pooling, stride 1, zero padding 1 counted in the average: the pooling branch
    of the mixed blocks (torchvision's ``avg_pool2d(x, 3, stride=1, padding=1)``).

    PyTorch's 3D average pooling refuses inputs smaller than its kernel even where padding makes
    them large enough, so a grid under 3 on some axis is zero-padded explicitly first (the same
    numbers). Children: ``pool`` (padding 1) and ``pool_prepadded`` (padding 0).
    """

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.pool = make_pool("avg", spatial_dims, kernel_size=3, stride=1, padding=1)
        self.pool_prepadded = make_pool("avg", spatial_dims, kernel_size=3, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[2:]) >= 3:
            return self.pool(x)
        return self.pool_prepadded(F.pad(x, (1, 1) * self.spatial_dims))


class _Block(nn.Module):
    """Base of the mixed blocks: a conv-block maker for this block's ``spatial_dims``."""

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims

    def conv(self, cin: int, cout: int, kh: int, kw: int | None = None, **kwargs) -> ConvNormAct:
        return _conv(self.spatial_dims, cin, cout, kh, kw, **kwargs)

    @staticmethod
    def cat(branches: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(branches, dim=1)


class InceptionA(_Block):
    """35x35 grid (Mixed_5b/c/d): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg pool -> 1x1."""

    def __init__(self, spatial_dims: int, in_channels: int, pool_features: int) -> None:
        super().__init__(spatial_dims)
        self.branch1x1 = self.conv(in_channels, 64, 1)
        self.branch5x5_1 = self.conv(in_channels, 48, 1)
        self.branch5x5_2 = self.conv(48, 64, 5)
        self.branch3x3dbl_1 = self.conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = self.conv(64, 96, 3)
        self.branch3x3dbl_3 = self.conv(96, 96, 3)
        self.pool = _AvgPool3x3(spatial_dims)
        self.branch_pool = self.conv(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return self.cat([self.branch1x1(x), b5, b3, self.branch_pool(self.pool(x))])


class InceptionB(_Block):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1 -> 3x3 -> 3x3/2 | max pool 3x3/2."""

    def __init__(self, spatial_dims: int, in_channels: int) -> None:
        super().__init__(spatial_dims)
        self.branch3x3 = self.conv(in_channels, 384, 3, stride=2, padding=0)
        self.branch3x3dbl_1 = self.conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = self.conv(64, 96, 3)
        self.branch3x3dbl_3 = self.conv(96, 96, 3, stride=2, padding=0)
        self.pool = make_pool("max", spatial_dims, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return self.cat([self.branch3x3(x), b3, self.pool(x)])


class InceptionC(_Block):
    """17x17 grid (Mixed_6b..e): 7x7 convolutions factorised into 1x7 and 7x1."""

    def __init__(self, spatial_dims: int, in_channels: int, channels_7x7: int) -> None:
        super().__init__(spatial_dims)
        c7 = channels_7x7
        self.branch1x1 = self.conv(in_channels, 192, 1)
        self.branch7x7_1 = self.conv(in_channels, c7, 1)
        self.branch7x7_2 = self.conv(c7, c7, 1, 7)
        self.branch7x7_3 = self.conv(c7, 192, 7, 1)
        self.branch7x7dbl_1 = self.conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = self.conv(c7, c7, 7, 1)
        self.branch7x7dbl_3 = self.conv(c7, c7, 1, 7)
        self.branch7x7dbl_4 = self.conv(c7, c7, 7, 1)
        self.branch7x7dbl_5 = self.conv(c7, 192, 1, 7)
        self.pool = _AvgPool3x3(spatial_dims)
        self.branch_pool = self.conv(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return self.cat([self.branch1x1(x), b7, bd, self.branch_pool(self.pool(x))])


class InceptionD(_Block):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1 -> 3x3/2 | 1x1 -> 1x7 -> 7x1 -> 3x3/2 | max pool."""

    def __init__(self, spatial_dims: int, in_channels: int) -> None:
        super().__init__(spatial_dims)
        self.branch3x3_1 = self.conv(in_channels, 192, 1)
        self.branch3x3_2 = self.conv(192, 320, 3, stride=2, padding=0)
        self.branch7x7x3_1 = self.conv(in_channels, 192, 1)
        self.branch7x7x3_2 = self.conv(192, 192, 1, 7)
        self.branch7x7x3_3 = self.conv(192, 192, 7, 1)
        self.branch7x7x3_4 = self.conv(192, 192, 3, stride=2, padding=0)
        self.pool = make_pool("max", spatial_dims, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return self.cat([b3, b7, self.pool(x)])


class InceptionE(_Block):
    """8x8 grid (Mixed_7b/c): 3x3 convolutions expanded into parallel 1x3 and 3x1 outputs."""

    def __init__(self, spatial_dims: int, in_channels: int) -> None:
        super().__init__(spatial_dims)
        self.branch1x1 = self.conv(in_channels, 320, 1)
        self.branch3x3_1 = self.conv(in_channels, 384, 1)
        self.branch3x3_2a = self.conv(384, 384, 1, 3)
        self.branch3x3_2b = self.conv(384, 384, 3, 1)
        self.branch3x3dbl_1 = self.conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = self.conv(448, 384, 3)
        self.branch3x3dbl_3a = self.conv(384, 384, 1, 3)
        self.branch3x3dbl_3b = self.conv(384, 384, 3, 1)
        self.pool = _AvgPool3x3(spatial_dims)
        self.branch_pool = self.conv(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = self.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)])
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = self.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)])
        return self.cat([self.branch1x1(x), b3, bd, self.branch_pool(self.pool(x))])


class InceptionAux(_Block):
    """Auxiliary classifier on the 17x17 grid: pool to 5, 1x1 conv 128, 5x5 conv 768, FC."""

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int) -> None:
        super().__init__(spatial_dims)
        self.pool = make_pool("avg", spatial_dims, kernel_size=5, stride=3)
        self.pool_small = make_pool("adaptive_avg", spatial_dims, output_size=5)
        self.conv0 = self.conv(in_channels, 128, 1)
        self.conv1 = self.conv(128, 768, 5, padding=0)
        self.avgpool = make_pool("adaptive_avg", spatial_dims, output_size=1)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # 5x5/3 pooling where it leaves at least 5 per axis (torchvision), else adaptive to 5.
        x = self.pool(x) if min(x.shape[2:]) >= 17 else self.pool_small(x)
        x = self.avgpool(self.conv1(self.conv0(x)))
        return self.fc(torch.flatten(x, 1))

    def reset_classifier(self, num_classes: int) -> None:
        self.fc = fresh_linear(self.fc, num_classes)


class Inception3(ClassifierModel):
    """Inception-v3 for ``spatial_dims`` 1, 2 or 3.

    Args:
        spatial_dims, in_channels, num_classes: as for every model.
        aux_logits: build the auxiliary classifier (needed by :meth:`forward_with_aux`).
        dropout: before the final linear layer (0.5, torchvision's default).
        init_weights: initialise as described in :meth:`reset_parameters`; ``False`` keeps
            PyTorch's defaults.
    """

    min_input_size = MIN_INPUT_SIZE

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        *,
        aux_logits: bool = False,
        dropout: float = 0.5,
        init_weights: bool = True,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        d = self.spatial_dims
        self.aux_logits = bool(aux_logits)
        self.Conv2d_1a_3x3 = _conv(d, in_channels, 32, 3, stride=2, padding=0)
        self.Conv2d_2a_3x3 = _conv(d, 32, 32, 3, padding=0)
        self.Conv2d_2b_3x3 = _conv(d, 32, 64, 3, padding=1)
        self.maxpool1 = make_pool("max", d, kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = _conv(d, 64, 80, 1)
        self.Conv2d_4a_3x3 = _conv(d, 80, 192, 3, padding=0)
        self.maxpool2 = make_pool("max", d, kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(d, 192, pool_features=32)
        self.Mixed_5c = InceptionA(d, 256, pool_features=64)
        self.Mixed_5d = InceptionA(d, 288, pool_features=64)
        self.Mixed_6a = InceptionB(d, 288)
        self.Mixed_6b = InceptionC(d, 768, channels_7x7=128)
        self.Mixed_6c = InceptionC(d, 768, channels_7x7=160)
        self.Mixed_6d = InceptionC(d, 768, channels_7x7=160)
        self.Mixed_6e = InceptionC(d, 768, channels_7x7=192)
        self.AuxLogits = InceptionAux(d, 768, num_classes) if self.aux_logits else None
        self.Mixed_7a = InceptionD(d, 768)
        self.Mixed_7b = InceptionE(d, 1280)
        self.Mixed_7c = InceptionE(d, 2048)
        self.avgpool = make_pool("adaptive_avg", d, output_size=1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's initialisation: truncated normal weights, std 0.1 for convolutions and
        linear layers, 0.01 for the auxiliary 5x5 convolution and 0.001 for the auxiliary
        classifier; batch norm weight 1 and bias 0."""
        conv_cls = conv_type(self.spatial_dims)
        bn_cls = norm_type("batch", self.spatial_dims)
        special = {}
        if self.AuxLogits is not None:
            special = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for m in self.modules():
            if isinstance(m, conv_cls | nn.Linear):
                std = special.get(id(m), 0.1)
                nn.init.trunc_normal_(m.weight, mean=0.0, std=std, a=-2, b=2)
            elif isinstance(m, bn_cls):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # -- forward -------------------------------------------------------------------------------
    def _trunk(self, x: torch.Tensor, aux: list[torch.Tensor] | None) -> torch.Tensor:
        for name in _BEFORE_AUX:
            x = getattr(self, name)(x)
        if aux is not None:
            aux.append(self.AuxLogits(x))
        for name in _AFTER_AUX:
            x = getattr(self, name)(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The output of Mixed_7c: ``(N, 2048, ...)``."""
        return self._trunk(x, None)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.dropout(self.avgpool(x)), 1)
        return x if pre_logits else self.fc(x)

    def aux_heads(self) -> list[nn.Module]:
        return [] if self.AuxLogits is None else [self.AuxLogits]


@register_model(
    family="inception",
    paper=PAPER,
    default_input_size=299,
    min_input_size=MIN_INPUT_SIZE,
)
def inception_v3(*, spatial_dims: int = 2, in_channels: int = 3, num_classes: int = 1000, **kwargs):
    """Inception-v3 in torchvision's layout and keys (23,834,568 params; 27,161,264 with aux)."""
    return Inception3(spatial_dims, in_channels, num_classes, **kwargs)
