"""VGG-11/13/16/19, with and without batch norm, for signals, images and volumes.

One configuration table gives every depth: numbers are 3x3 convolutions (padding 1) with that many
filters, ``"M"`` a 2x2 max pool of stride 2. The module layout is torchvision's, so state-dict keys
read ``features.N`` (conv, [norm,] ReLU, ..., pool), ``classifier.0/3/6``; VGG-16 has 138,357,544
parameters and 15,470,264,320 MACs at 224 px.

An adaptive average pool to ``pool_size`` (default 7, torchvision's) sits before the classifier,
so inputs from 32 px up (five halvings must leave >= 1 position) and 1D/3D inputs work; at 224 px
it is the identity. In 3D the first FC layer has ``512 x pool_size**3 x 4096`` weights, 719M at
the default 7, so volumes want ``pool_size=1`` or 2: the whole 3D VGG-16 (3 channels, 1000
classes) then has 67,115,176 or 81,795,240 parameters.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..layers import LayerSpec, make_pool
from ._base import PooledClassifierModel, conv_relu_features, init_he_fan_out, pool_grid
from ._registry import register_model

_CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}  # fmt: skip

# Five 2x2/2 max pools: each needs >= 2 positions, so 2**5 per axis.
_MIN_INPUT = 32


class VGG(PooledClassifierModel):
    """VGG from a configuration of ``_CONFIGS`` (see the module docstring).

    Args:
        config: the feature stages (filters or ``"M"``).
        spatial_dims: 1 (signals), 2 (images) or 3 (volumes).
        in_channels, num_classes: input channels and logits.
        norm: normalisation after every convolution (``None``: plain VGG; ``"batch"``: the
            ``_bn`` variants). Convolutions keep their bias either way, as in torchvision.
        pool_size: output of the adaptive average pool before the classifier, per axis.
        dropout: probability of the two dropout layers in the classifier.
    """

    min_input_size = _MIN_INPUT

    def __init__(
        self,
        config: tuple[int | str, ...],
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        norm: LayerSpec = None,
        pool_size: int | tuple[int, ...] = 7,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        d = self.spatial_dims
        pool = pool_grid(pool_size, d)

        # every number is a 3x3 convolution with padding 1
        stages = [s if s == "M" else (s, 3, 1, 1) for s in config]
        self.features, channels = conv_relu_features(
            d, in_channels, stages, pool_kernel=2, norm=norm
        )
        self.avgpool = make_pool("adaptive_avg", d, output_size=pool)
        self.classifier = nn.Sequential(
            nn.Linear(channels * math.prod(pool), 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        # torchvision's: He-normal (fan_out) convolutions, unit norm scales, N(0, 0.01) linear.
        init_he_fan_out(self, d, linear_std=0.01)


def _vgg(depth: int, batch_norm: bool, **kwargs: Any) -> VGG:
    if batch_norm:
        kwargs.setdefault("norm", "batch")
    return VGG(_CONFIGS[depth], **kwargs)


_REGISTRATION = dict(
    family="vgg",
    paper="Simonyan & Zisserman, ICLR 2015",
    default_input_size=224,
    min_input_size=_MIN_INPUT,
)


@register_model(**_REGISTRATION)
def vgg11(**kwargs: Any) -> VGG:
    """VGG-11 (configuration A)."""
    return _vgg(11, batch_norm=False, **kwargs)


@register_model(**_REGISTRATION)
def vgg11_bn(**kwargs: Any) -> VGG:
    """VGG-11 (configuration A) with batch norm after every convolution."""
    return _vgg(11, batch_norm=True, **kwargs)


@register_model(**_REGISTRATION)
def vgg13(**kwargs: Any) -> VGG:
    """VGG-13 (configuration B)."""
    return _vgg(13, batch_norm=False, **kwargs)


@register_model(**_REGISTRATION)
def vgg13_bn(**kwargs: Any) -> VGG:
    """VGG-13 (configuration B) with batch norm after every convolution."""
    return _vgg(13, batch_norm=True, **kwargs)


@register_model(**_REGISTRATION)
def vgg16(**kwargs: Any) -> VGG:
    """VGG-16 (configuration D)."""
    return _vgg(16, batch_norm=False, **kwargs)


@register_model(**_REGISTRATION)
def vgg16_bn(**kwargs: Any) -> VGG:
    """VGG-16 (configuration D) with batch norm after every convolution."""
    return _vgg(16, batch_norm=True, **kwargs)


@register_model(**_REGISTRATION)
def vgg19(**kwargs: Any) -> VGG:
    """VGG-19 (configuration E)."""
    return _vgg(19, batch_norm=False, **kwargs)


@register_model(**_REGISTRATION)
def vgg19_bn(**kwargs: Any) -> VGG:
    """VGG-19 (configuration E) with batch norm after every convolution."""
    return _vgg(19, batch_norm=True, **kwargs)
