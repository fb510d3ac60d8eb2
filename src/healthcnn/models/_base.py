"""The one model surface every architecture shares.

``forward`` returns logits, always; ``forward_features`` returns the last feature map,
``forward_head`` turns it into logits, ``reset_classifier`` swaps the last linear layer and
``num_features`` is its width. Inputs are checked before any layer runs, so a wrong channel count
or a too-small input raises a ``ValueError`` that names what the model needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._validate import as_tuple, check_spatial_dims
from ..layers import LayerSpec, conv_type, make_conv, make_norm, make_pool


def fresh_linear(old: nn.Linear, num_classes: int) -> nn.Linear:
    """A newly initialised linear layer with ``old``'s inputs, bias, device and dtype and
    ``num_classes`` outputs (what ``reset_classifier`` puts in place of a classifier)."""
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    return new.to(device=old.weight.device, dtype=old.weight.dtype)


class ClassifierModel(nn.Module):
    """Base class: subclasses set the attributes below and implement ``forward_features`` and
    ``forward_head``.

    Attributes:
        spatial_dims: 1 (signals), 2 (images) or 3 (volumes).
        in_channels: channels the first layer expects.
        num_classes: number of logits.
        num_features: width of the features the classifier sees.
        min_input_size: smallest spatial size (per axis) the network accepts.
        classifier_name: dotted path of the final ``nn.Linear`` (``"fc"``, ``"classifier.6"``).
    """

    classifier_name: str = "fc"
    min_input_size: int = 1
    #: models with auxiliary classifiers set this from their ``aux_logits`` option
    aux_logits: bool = False

    def __init__(self, spatial_dims: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.spatial_dims = check_spatial_dims(spatial_dims)
        for name, v in (("in_channels", in_channels), ("num_classes", num_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.in_channels = in_channels
        self.num_classes = num_classes

    # -- the surface ---------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    @property
    def num_features(self) -> int:
        return self.get_classifier().in_features

    def get_classifier(self) -> nn.Linear:
        return self.get_submodule(self.classifier_name)

    # -- auxiliary classifiers (GoogLeNet, Inception-v3) --------------------------------------
    def aux_heads(self) -> list[nn.Module]:
        """The auxiliary classifiers that exist (each has ``reset_classifier``); none here."""
        return []

    def _trunk(self, x: torch.Tensor, aux: list[torch.Tensor] | None) -> torch.Tensor:
        """Features, appending auxiliary logits to ``aux`` on the way (models with aux heads)."""
        raise NotImplementedError(f"{type(self).__name__} has no auxiliary classifiers")

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Main logits and the auxiliary heads' logits, for training with auxiliary losses.

        ``forward`` never returns these, so its return type is the same in train and eval mode.
        Raises ``ValueError`` when the model was built without ``aux_logits=True``.
        """
        if not self.aux_logits:
            raise ValueError(
                f"{type(self).__name__} was built with aux_logits=False and has no auxiliary "
                f"classifiers; build it with aux_logits=True "
                f"(create_model(..., aux_logits=True)) to get auxiliary outputs"
            )
        self.check_input(x)
        aux: list[torch.Tensor] = []
        logits = self.forward_head(self._trunk(x, aux))
        return logits, aux

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final linear layer by a freshly initialised one with ``num_classes``
        (and the last layer of every auxiliary head)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
        new = fresh_linear(self.get_classifier(), num_classes)
        parent_name, _, child = self.classifier_name.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        setattr(parent, child, new)
        self.num_classes = num_classes
        for head in self.aux_heads():
            head.reset_classifier(num_classes)

    # -- input checks --------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> None:
        d = self.spatial_dims
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{type(self).__name__} expects a tensor, got {type(x).__name__}")
        if x.dim() != d + 2:
            what = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}[d]
            raise ValueError(
                f"{type(self).__name__} with spatial_dims={d} expects a {what} batch, got "
                f"shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} was built for in_channels={self.in_channels}, got "
                f"{x.shape[1]} channels in input of shape {tuple(x.shape)}"
            )
        small = [s for s in x.shape[2:] if s < self.min_input_size]
        if small:
            raise ValueError(
                f"{type(self).__name__} needs inputs of at least {self.min_input_size} per "
                f"spatial axis, got {tuple(x.shape[2:])}; resize or pad the input"
            )


class PooledClassifierModel(ClassifierModel):
    """torchvision's AlexNet/VGG layout: ``features``, an adaptive average pool ``avgpool`` and
    an ``nn.Sequential`` ``classifier`` whose last layer gives the logits."""

    classifier_name = "classifier.6"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return self.classifier[:-1](x) if pre_logits else self.classifier(x)


def conv_relu_features(
    spatial_dims: int,
    in_channels: int,
    stages: Sequence,
    *,
    pool_kernel: int,
    norm: LayerSpec = None,
) -> tuple[nn.Sequential, int]:
    """torchvision's AlexNet/VGG feature stack and its output channels. Each stage is ``"M"``, a
    max pool of ``pool_kernel`` with stride 2, or ``(out_channels, kernel, stride, padding)``: a
    convolution, a ``norm`` layer (none by default) and an in-place ReLU."""
    d = spatial_dims
    layers: list[nn.Module] = []
    channels = in_channels
    for stage in stages:
        if stage == "M":
            layers.append(make_pool("max", d, kernel_size=pool_kernel, stride=2))
            continue
        out, kernel, stride, padding = stage
        layers.append(make_conv(d, channels, out, kernel, stride=stride, padding=padding))
        norm_layer = make_norm(norm, d, out)
        if norm_layer is not None:
            layers.append(norm_layer)
        layers.append(nn.ReLU(inplace=True))
        channels = out
    return nn.Sequential(*layers), channels


def pool_grid(pool_size: int | Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    """The output of the adaptive average pool before a classifier, one size >= 1 per axis."""
    pool = as_tuple(pool_size, spatial_dims, "pool_size")
    if any(p < 1 for p in pool):
        raise ValueError(f"pool_size must be >= 1 on every axis, got {pool_size!r}")
    return pool


def init_he_fan_out(model: nn.Module, spatial_dims: int, *, linear_std: float | None) -> None:
    """torchvision's ResNet/VGG initialisation: He-normal (fan_out, ReLU) convolutions with zero
    bias; affine normalisation layers scale 1, shift 0; linear layers N(0, ``linear_std``) with
    zero bias, or PyTorch's default when ``linear_std`` is None."""
    conv = conv_type(spatial_dims)
    for m in model.modules():
        if isinstance(m, conv):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0, linear_std)
                nn.init.zeros_(m.bias)
        elif getattr(m, "weight", None) is not None and getattr(m, "bias", None) is not None:
            # a normalisation layer with an affine transform
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
