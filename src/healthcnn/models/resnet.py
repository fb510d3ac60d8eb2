"""ResNet-18/34/50/101/152 for signals, images and volumes (He et al. 2016).

The file reads top to bottom as torchvision's does: the two residual blocks, the model, a private
builder over a small depth table, and two-line public builders. Module names and initialisation
are torchvision's (``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1.0.conv1``,
``layer2.0.downsample.0/1``, ``avgpool``, ``fc``; He-normal fan-out convolutions, norm scale 1 and
shift 0), so a 2D model loads torchvision's state dict key for key. As there, the stride of a
bottleneck sits on its 3x3 convolution ("ResNet v1.5").

Options, all data:

* ``stem="imagenet"``: 7x7 stride-2 convolution (padding 3) and a 3x3 stride-2 max pool
  (padding 1), for 224 px images. ``stem="small"``: a 3x3 stride-1 convolution and no max pool,
  the MedMNIST setting for 28 px inputs. ``maxpool`` stays an (empty) module either way, so the
  keys are the same; only ``conv1.weight`` changes shape.
* ``norm`` (default ``"batch"``) and ``act`` (default in-place ReLU): any name the layer factories
  know, e.g. ``norm=("group", {"num_groups": 32})``. With ``norm=None`` the convolutions get a
  bias instead.
* ``groups`` and ``width_per_group`` (bottleneck models only): ResNeXt-style grouped 3x3
  convolutions and wider bottlenecks, as torchvision's ``resnext50_32x4d``/``wide_resnet50_2``.
* ``zero_init_residual``: start every block's last norm scale at 0, so each block begins as
  the identity.

Minimum input size: every strided layer pads so that an input of 1 position gives 1 position, so
a single pixel (or sample, or voxel) per axis runs through both stems.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._validate import unknown_name
from ..layers import LayerSpec, make_act, make_conv, make_norm, make_pool
from ._base import ClassifierModel, init_he_fan_out
from ._registry import register_model

_RELU: LayerSpec = ("relu", {"inplace": True})


def _conv3x3(d: int, cin: int, cout: int, stride: int = 1, groups: int = 1, bias: bool = False):
    return make_conv(d, cin, cout, 3, stride=stride, padding=1, groups=groups, bias=bias)


def _conv1x1(d: int, cin: int, cout: int, stride: int = 1, bias: bool = False):
    return make_conv(d, cin, cout, 1, stride=stride, bias=bias)


def _norm(spec: LayerSpec, d: int, channels: int) -> nn.Module:
    return make_norm(spec, d, channels) or nn.Identity()


def _act(spec: LayerSpec) -> nn.Module:
    return make_act(spec) or nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        spatial_dims: int,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm: LayerSpec = "batch",
        act: LayerSpec = _RELU,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"the basic block (resnet18/34) supports only groups=1 and width_per_group=64, "
                f"got groups={groups}, width_per_group={base_width}; use a bottleneck model "
                f"(resnet50 and deeper) for grouped or wider blocks"
            )
        d, bias = spatial_dims, norm is None
        self.conv1 = _conv3x3(d, inplanes, planes, stride, bias=bias)
        self.bn1 = _norm(norm, d, planes)
        self.relu = _act(act)
        self.conv2 = _conv3x3(d, planes, planes, bias=bias)
        self.bn2 = _norm(norm, d, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, optionally grouped), 1x1 expand by 4, and a shortcut."""

    expansion = 4

    def __init__(
        self,
        spatial_dims: int,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        norm: LayerSpec = "batch",
        act: LayerSpec = _RELU,
    ) -> None:
        super().__init__()
        d, bias = spatial_dims, norm is None
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(d, inplanes, width, bias=bias)
        self.bn1 = _norm(norm, d, width)
        self.conv2 = _conv3x3(d, width, width, stride, groups, bias=bias)
        self.bn2 = _norm(norm, d, width)
        self.conv3 = _conv1x1(d, width, planes * self.expansion, bias=bias)
        self.bn3 = _norm(norm, d, planes * self.expansion)
        self.relu = _act(act)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


STEMS = ("imagenet", "small")


class ResNet(ClassifierModel):
    """A residual network: stem, four stages of ``layers[i]`` blocks, global pool, ``fc``.

    Args:
        block: ``BasicBlock`` or ``Bottleneck``.
        layers: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
        spatial_dims, in_channels, num_classes: as for every model.
        stem: ``"imagenet"`` or ``"small"`` (see the module docstring).
        norm, act: normalisation and activation layers, by name.
        groups, width_per_group: grouped / wider bottlenecks (bottleneck blocks only).
        zero_init_residual: zero the last norm scale of every block.
    """

    classifier_name = "fc"
    min_input_size = 1

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: tuple[int, int, int, int],
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 1000,
        *,
        stem: str = "imagenet",
        norm: LayerSpec = "batch",
        act: LayerSpec = _RELU,
        groups: int = 1,
        width_per_group: int = 64,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__(spatial_dims, in_channels, num_classes)
        if stem not in STEMS:
            raise unknown_name("resnet stem", stem, STEMS)
        for name, v in (("groups", groups), ("width_per_group", width_per_group)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        d = self.spatial_dims
        self.stem = stem
        self.inplanes = 64
        self._norm_spec = norm
        self._block_kwargs = dict(groups=groups, base_width=width_per_group, norm=norm, act=act)

        bias = norm is None
        if stem == "imagenet":
            conv1 = make_conv(d, in_channels, 64, 7, stride=2, padding=3, bias=bias)
            maxpool = make_pool("max", d, kernel_size=3, stride=2, padding=1)
        else:
            conv1, maxpool = _conv3x3(d, in_channels, 64, bias=bias), nn.Identity()
        self.conv1 = conv1
        self.bn1 = _norm(norm, d, 64)
        self.relu = _act(act)
        self.maxpool = maxpool
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = make_pool("adaptive_avg", d, output_size=1)
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        d = self.spatial_dims
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            out = planes * block.expansion
            downsample = nn.Sequential(
                _conv1x1(d, self.inplanes, out, stride, bias=self._norm_spec is None),
                _norm(self._norm_spec, d, out),
            )
        layers = [block(d, self.inplanes, planes, stride, downsample, **self._block_kwargs)]
        self.inplanes = planes * block.expansion
        layers += [block(d, self.inplanes, planes, **self._block_kwargs) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # linear layers keep PyTorch's default, as torchvision
        init_he_fan_out(self, self.spatial_dims, linear_std=None)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck | BasicBlock):
                    last = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                    if getattr(last, "weight", None) is not None:
                        nn.init.zeros_(last.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


# depth: (block, blocks per stage)
_DEPTHS: dict[int, tuple[type[BasicBlock | Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def _resnet(depth: int, **kwargs: Any) -> ResNet:
    block, layers = _DEPTHS[depth]
    return ResNet(block, layers, **kwargs)


_REGISTRATION = dict(
    family="resnet", paper="He et al., CVPR 2016", default_input_size=224, min_input_size=1
)


@register_model(**_REGISTRATION)
def resnet18(**kwargs: Any) -> ResNet:
    """ResNet-18: basic blocks, 2-2-2-2."""
    return _resnet(18, **kwargs)


@register_model(**_REGISTRATION)
def resnet34(**kwargs: Any) -> ResNet:
    """ResNet-34: basic blocks, 3-4-6-3."""
    return _resnet(34, **kwargs)


@register_model(**_REGISTRATION)
def resnet50(**kwargs: Any) -> ResNet:
    """ResNet-50: bottleneck blocks, 3-4-6-3."""
    return _resnet(50, **kwargs)


@register_model(**_REGISTRATION)
def resnet101(**kwargs: Any) -> ResNet:
    """ResNet-101: bottleneck blocks, 3-4-23-3."""
    return _resnet(101, **kwargs)


@register_model(**_REGISTRATION)
def resnet152(**kwargs: Any) -> ResNet:
    """ResNet-152: bottleneck blocks, 3-8-36-3."""
    return _resnet(152, **kwargs)
