"""GoogLeNet (Inception v1; Szegedy et al., "Going deeper with convolutions", CVPR 2015).

Two layouts of the same network, for signals, images and volumes (``spatial_dims`` 1, 2, 3):

``googlenet`` -- the paper's (and the lecture's) network: every convolution has a bias and is
followed by ReLU, no batch norm; the "5x5" branch really has a 5x5 convolution; local response
normalisation (no parameters) after the first max pool and after ``conv3`` as in the paper's
reference implementation; dropout 0.4 before the classifier. 6,998,552 parameters at 2D, 3 input
channels, 1000 classes; inception (3a) alone 163,696.

``googlenet_tv`` -- torchvision's layout: convolutions without bias + batch norm (eps 0.001) +
ReLU, a 3x3 convolution in the "5x5" branch (a long-standing quirk of its port of the original
weights), a 2x2 last max pool and dropout 0.2. Module names and state-dict keys equal
torchvision's (``conv1.conv.weight``, ``inception3a.branch2.0.bn.running_mean``,
``aux1.fc1.weight``, ...): 6,624,904 parameters, 13,004,888 with the auxiliary classifiers.
torchvision's ``transform_input`` (re-normalising ImageNet inputs) is not offered: normalisation
belongs to the data pipeline.

Both stem max pools use ``ceil_mode=True`` (the paper's 112 -> 56 -> 28 -> 14 -> 7 grid without
padding, as in the Caffe reference and torchvision). Inception modules are the attributes
``inception3a`` ... ``inception5b``; :meth:`GoogLeNet.inception_modules` returns them under the
paper's labels ``"(3a)"`` ... ``"(5b)"``.

Auxiliary classifiers (after (4a) and (4d)) exist only with ``aux_logits=True``. ``forward``
always returns the main logits, in training and in evaluation mode;
:meth:`GoogLeNet.forward_with_aux` returns ``(logits, [aux1, aux2])`` (the paper adds each
auxiliary loss with weight 0.3 during training and discards the heads at inference). Each head
pools adaptively to 4 per axis (torchvision), so its first linear layer has ``128 * 4**d`` inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..layers import ConvNormAct, LayerSpec, conv_type, make_norm, make_pool, norm_type
from ._base import ClassifierModel, fresh_linear
from ._registry import register_model

PAPER = "Szegedy et al., Going deeper with convolutions, CVPR 2015"

# Smallest input per spatial axis: every ceil-mode max pool must still get a window that starts
# inside its input. torchvision's layout reaches a 1-wide grid at its 2x2 last pool from 15; the
# paper's 3x3 last pool needs a grid of 2 there, hence 31. The tests show one less fails inside
# the network.
MIN_INPUT_SIZE = {"paper": 31, "torchvision": 15}

# (label, in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj): the paper's Table 1.
_INCEPTION_TABLE = (
    ("3a", 192, 64, 96, 128, 16, 32, 32),
    ("3b", 256, 128, 128, 192, 32, 96, 64),
    ("4a", 480, 192, 96, 208, 16, 48, 64),
    ("4b", 512, 160, 112, 224, 24, 64, 64),
    ("4c", 512, 128, 128, 256, 24, 64, 64),
    ("4d", 512, 112, 144, 288, 32, 64, 64),
    ("4e", 528, 256, 160, 320, 32, 128, 128),
    ("5a", 832, 256, 160, 320, 32, 128, 128),
    ("5b", 832, 384, 192, 384, 48, 128, 128),
)


@dataclass(frozen=True)
class _Layout:
    """What differs between the paper's network and torchvision's."""

    norm: LayerSpec  # None: convolutions with bias and no normalisation
    branch3_kernel: int  # kernel of the "5x5" branch
    lrn: bool  # local response normalisation in the stem
    maxpool4_kernel: int
    dropout: float


_LAYOUTS = {
    "paper": _Layout(norm=None, branch3_kernel=5, lrn=True, maxpool4_kernel=3, dropout=0.4),
    "torchvision": _Layout(
        norm=("batch", {"eps": 0.001}), branch3_kernel=3, lrn=False, maxpool4_kernel=2, dropout=0.2
    ),
}


class Inception(nn.Module):
    """One inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated.

    Children ``branch1`` (a conv block) and ``branch2``..``branch4`` (sequences), as in
    torchvision. ``branch3_kernel`` is 5 in the paper, 3 in torchvision's layout.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        norm: LayerSpec,
        branch3_kernel: int = 5,
    ) -> None:
        super().__init__()
        d = spatial_dims

        def conv(cin: int, cout: int, k: int) -> ConvNormAct:
            return ConvNormAct(d, cin, cout, k, norm=norm)  # "same" padding

        self.branch1 = conv(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, ch3x3red, 1), conv(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(
            conv(in_channels, ch5x5red, 1), conv(ch5x5red, ch5x5, branch3_kernel)
        )
        self.branch4 = nn.Sequential(
            make_pool("max", d, kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv(in_channels, pool_proj, 1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([b(x) for b in branches], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: adaptive average pool to 4 per axis, 1x1 conv to 128 channels,
    FC 1024 + ReLU, dropout, FC to the classes (children ``conv``, ``fc1``, ``fc2`` as in
    torchvision)."""

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_classes: int,
        *,
        norm: LayerSpec,
        dropout: float = 0.7,
    ) -> None:
        super().__init__()
        self.pool = make_pool("adaptive_avg", spatial_dims, output_size=4)
        self.conv = ConvNormAct(spatial_dims, in_channels, 128, 1, norm=norm)
        self.flatten = nn.Flatten(1)
        self.fc1 = nn.Linear(128 * 4**spatial_dims, 1024)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.conv(self.pool(x)))
        return self.fc2(self.dropout(self.act(self.fc1(x))))

    def reset_classifier(self, num_classes: int) -> None:
        self.fc2 = fresh_linear(self.fc2, num_classes)


class GoogLeNet(ClassifierModel):
    """GoogLeNet for ``spatial_dims`` 1, 2 or 3.

    Args:
        spatial_dims, in_channels, num_classes: as for every model.
        layout: ``"paper"`` or ``"torchvision"`` (see the module docstring).
        aux_logits: build the two auxiliary classifiers (needed by :meth:`forward_with_aux`).
        dropout: before the final linear layer; default 0.4 (paper) or 0.2 (torchvision).
        dropout_aux: inside the auxiliary heads (0.7 in both).
        init_weights: initialise as described in :meth:`reset_parameters`; ``False`` keeps
            PyTorch's defaults.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        *,
        layout: str = "paper",
        aux_logits: bool = False,
        dropout: float | None = None,
        dropout_aux: float = 0.7,
        init_weights: bool = True,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(_LAYOUTS)}, got {layout!r}")
        cfg = _LAYOUTS[layout]
        d = self.spatial_dims
        self.layout = layout
        self.aux_logits = bool(aux_logits)
        self.min_input_size = MIN_INPUT_SIZE[layout]
        norm = cfg.norm

        def maxpool(k: int) -> nn.Module:
            return make_pool("max", d, kernel_size=k, stride=2, ceil_mode=True)

        def lrn() -> nn.Module | None:
            # size 5, alpha 1e-4, beta 0.75, k 1: the reference implementation's values.
            return make_norm(("local_response", {"size": 5}), d, 64) if cfg.lrn else None

        self.conv1 = ConvNormAct(d, in_channels, 64, 7, stride=2, padding=3, norm=norm)
        self.maxpool1 = maxpool(3)
        self.lrn1 = lrn()
        self.conv2 = ConvNormAct(d, 64, 64, 1, norm=norm)
        self.conv3 = ConvNormAct(d, 64, 192, 3, padding=1, norm=norm)
        self.lrn2 = lrn()
        self.maxpool2 = maxpool(3)

        blocks = {
            f"inception{label}": Inception(
                d, *channels, norm=norm, branch3_kernel=cfg.branch3_kernel
            )
            for label, *channels in _INCEPTION_TABLE
        }
        self.inception3a = blocks["inception3a"]
        self.inception3b = blocks["inception3b"]
        self.maxpool3 = maxpool(3)
        self.inception4a = blocks["inception4a"]
        self.inception4b = blocks["inception4b"]
        self.inception4c = blocks["inception4c"]
        self.inception4d = blocks["inception4d"]
        self.inception4e = blocks["inception4e"]
        self.maxpool4 = maxpool(cfg.maxpool4_kernel)
        self.inception5a = blocks["inception5a"]
        self.inception5b = blocks["inception5b"]

        if self.aux_logits:
            self.aux1 = InceptionAux(d, 512, num_classes, norm=norm, dropout=dropout_aux)
            self.aux2 = InceptionAux(d, 528, num_classes, norm=norm, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None

        self.avgpool = make_pool("adaptive_avg", d, output_size=1)
        self.dropout = nn.Dropout(cfg.dropout if dropout is None else dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the weights.

        torchvision layout: as torchvision, truncated normal (std 0.01) for convolution and
        linear weights, batch norm weight 1 and bias 0. Paper layout (no batch norm, so the
        signal must keep its scale through 22 layers by itself): He normal for convolutions
        (fan-in, ReLU), normal std 0.01 for linear weights, all biases 0.
        """
        conv_cls = conv_type(self.spatial_dims)
        bn_cls = norm_type("batch", self.spatial_dims)
        for m in self.modules():
            if isinstance(m, conv_cls | nn.Linear):
                if self.layout == "torchvision":
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, conv_cls):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                else:
                    nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None and self.layout == "paper":
                    nn.init.zeros_(m.bias)
            elif isinstance(m, bn_cls):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def inception_modules(self) -> dict[str, Inception]:
        """The inception modules under the paper's labels: ``{"(3a)": self.inception3a, ...}``."""
        return {f"({label})": getattr(self, f"inception{label}") for label, *_ in _INCEPTION_TABLE}

    # -- forward -------------------------------------------------------------------------------
    def _trunk(self, x: torch.Tensor, aux: list[torch.Tensor] | None) -> torch.Tensor:
        x = self.maxpool1(self.conv1(x))
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        if aux is not None:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if aux is not None:
            aux.append(self.aux2(x))
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The output of inception (5b): ``(N, 1024, ...)``."""
        return self._trunk(x, None)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)

    def aux_heads(self) -> list[nn.Module]:
        return [h for h in (self.aux1, self.aux2) if h is not None]


@register_model(
    family="googlenet",
    paper=PAPER,
    default_input_size=224,
    min_input_size=MIN_INPUT_SIZE["paper"],
)
def googlenet(*, spatial_dims: int = 2, in_channels: int = 3, num_classes: int = 1000, **kwargs):
    """GoogLeNet as in the paper: 5x5 branch, conv biases, no batch norm (6,998,552 params)."""
    return GoogLeNet(spatial_dims, in_channels, num_classes, layout="paper", **kwargs)


@register_model(
    family="googlenet",
    paper=PAPER,
    default_input_size=224,
    min_input_size=MIN_INPUT_SIZE["torchvision"],
)
def googlenet_tv(*, spatial_dims: int = 2, in_channels: int = 3, num_classes: int = 1000, **kwargs):
    """GoogLeNet in torchvision's layout and keys: batch norm, 3x3 "5x5" branch (6,624,904)."""
    return GoogLeNet(spatial_dims, in_channels, num_classes, layout="torchvision", **kwargs)
