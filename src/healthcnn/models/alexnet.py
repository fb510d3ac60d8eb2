"""AlexNet for signals, images and volumes: the lecture's single-tower net and torchvision's.

Both share one module layout, the one torchvision uses, so state-dict keys read ``features.N``,
``avgpool`` and ``classifier.N``:

* ``alexnet``: the network the lecture draws (Krizhevsky et al. 2012 on one GPU, the two towers
  merged): 96-256-384-384-256 filters, a 227 px input, FC 9216-4096-4096-classes; 62,378,344
  parameters and 1,135,256,096 MACs at 2D, 3 channels, 1000 classes.
* ``alexnet_tv``: torchvision's variant ("one weird trick", Krizhevsky 2014): 64-192-384-256-256
  filters with padding 2 in the first convolution; 61,100,840 parameters.

**The adaptive pool before the classifier.** The lecture's net flattens the 6x6x256 map of the
last max pool straight into the first FC layer, which fixes the input at 227 px. Both models here
put an adaptive average pool to ``pool_size`` (default 6 per axis) between the features and the
classifier, as torchvision does. It has no parameters and at 227 px (lecture) or 224 px
(torchvision) the feature map already is 6x6, so the pool is the identity there and the parameter
and MAC counts are exactly the published ones; what it buys is that any input from the minimum size
up, and 1D signals or 3D volumes, reach a classifier of a fixed width.

**Volumes.** In 3D the first FC layer sees ``256 x pool_size**3`` features: at the default 6 that
is 55,296 x 4,096 weights, and the whole 3D ``alexnet`` (3 channels, 1000 classes) has
260,121,256 parameters (``alexnet_tv``: 255,581,864), nearly all in that layer. ``pool_size=2``
(or 1) shrinks that layer to 8.4M (1M) weights; ``dropout`` sets the probability of both dropout
layers.

**Minimum input size.** Three 3/2 max pools need the first convolution to give at least 15
positions per axis (15 -> 7 -> 3 -> 1). For the lecture's 11/4 convolution without padding that
is ``(n - 11)/4 + 1 >= 15``, n >= 67; with torchvision's padding 2, n >= 63.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from ..layers import make_pool
from ._base import PooledClassifierModel, conv_relu_features, pool_grid
from ._registry import register_model

# Each feature stage: a convolution (out_channels, kernel, stride, padding) or "M", a 3/2 max pool.
_LECTURE = ((96, 11, 4, 0), "M", (256, 5, 1, 2), "M", (384, 3, 1, 1), (384, 3, 1, 1),
            (256, 3, 1, 1), "M")  # fmt: skip
_TORCHVISION = ((64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1),
                (256, 3, 1, 1), "M")  # fmt: skip


class AlexNet(PooledClassifierModel):
    """AlexNet built from a feature configuration (see the module docstring).

    Args:
        config: the feature stages, e.g. the module's ``_LECTURE`` table.
        spatial_dims: 1 (signals), 2 (images) or 3 (volumes).
        in_channels, num_classes: input channels and logits.
        pool_size: output size of the adaptive average pool before the classifier, one int for
            every axis or one per axis; the first FC layer has ``channels x prod(pool_size)``
            inputs.
        dropout: probability of the two dropout layers in the classifier.
        min_input_size: the smallest input per axis for ``config`` (checked on every forward).
    """

    def __init__(
        self,
        config: tuple,
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        pool_size: int | tuple[int, ...] = 6,
        dropout: float = 0.5,
        *,
        min_input_size: int = 1,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        d = self.spatial_dims
        pool = pool_grid(pool_size, d)
        self.min_input_size = min_input_size

        self.features, channels = conv_relu_features(d, in_channels, config, pool_kernel=3)
        self.avgpool = make_pool("adaptive_avg", d, output_size=pool)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * math.prod(pool), 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )


@register_model(
    family="alexnet",
    paper="Krizhevsky et al., NeurIPS 2012",
    default_input_size=227,
    min_input_size=67,
)
def alexnet(**kwargs: Any) -> AlexNet:
    """AlexNet as the lecture draws it: one tower, 96-256-384-384-256 filters, 227 px."""
    return AlexNet(_LECTURE, min_input_size=67, **kwargs)


@register_model(
    family="alexnet",
    paper="Krizhevsky, arXiv:1404.5997 2014",
    default_input_size=224,
    min_input_size=63,
)
def alexnet_tv(**kwargs: Any) -> AlexNet:
    """AlexNet as torchvision builds it: 64-192-384-256-256 filters, 224 px."""
    return AlexNet(_TORCHVISION, min_input_size=63, **kwargs)
