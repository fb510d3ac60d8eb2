"""The 2.5D volume model: a shared 2D encoder over slices of a volume (registered as
``slices25d``, volumes only).

:class:`SliceModel25D` applies one 2D network (ResNet-18 by default) to 2D slices of the
volume; the per-slice feature vectors are averaged and the encoder's linear classifier scores
the mean. ``view="orthogonal"`` takes the three central orthogonal planes (axial, coronal,
sagittal), ``view="axial"`` takes ``num_slices`` evenly spaced axial slices.

(A 3D ResNet initialised from 2D weights needs no class of its own: ``create_model("resnet18",
spatial_dims=3, weights=state_2d)`` inflates them, see :mod:`.weights`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ._base import ClassifierModel
from ._registry import create_model, register_model

VIEWS = ("orthogonal", "axial")


def slice_indices(depth: int, num_slices: int) -> list[int]:
    """``num_slices`` evenly spaced indices into ``depth`` positions, centred (no end slices
    unless every slice is taken)."""
    if isinstance(num_slices, bool) or not isinstance(num_slices, int) or num_slices < 1:
        raise ValueError(f"num_slices must be an int >= 1, got {num_slices!r}")
    if num_slices > depth:
        raise ValueError(f"num_slices={num_slices} exceeds the {depth} slices of the volume")
    step = depth / num_slices
    return [int(step * (i + 0.5)) for i in range(num_slices)]


def volume_slices(x: torch.Tensor, view: str = "orthogonal", num_slices: int = 3) -> torch.Tensor:
    """``(N, C, D, H, W)`` volumes -> ``(N, S, C, h, w)`` 2D slices.

    ``"orthogonal"``: the central axial (fixed D), coronal (fixed H) and sagittal (fixed W)
    planes, S = 3; needs H == W == D so the planes stack. ``"axial"``: ``num_slices`` evenly
    spaced slices along D.
    """
    if x.ndim != 5:
        raise ValueError(f"expected volumes (N, C, D, H, W), got shape {tuple(x.shape)}")
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    d, h, w = x.shape[2:]
    if view == "orthogonal":
        if not d == h == w:
            raise ValueError(
                f"view='orthogonal' needs cubic volumes to stack the planes, got {d}x{h}x{w}; "
                "resample them (resize_dataset) or use view='axial'"
            )
        planes = (x[:, :, d // 2], x[:, :, :, h // 2], x[:, :, :, :, w // 2])
        return torch.stack(planes, dim=1)
    idx = torch.tensor(slice_indices(d, num_slices), device=x.device)
    return x.index_select(2, idx).transpose(1, 2)


class SliceModel25D(ClassifierModel):
    """2.5D classifier: a shared 2D encoder over slices, features averaged over slices.

    Takes volumes ``(N, C, D, H, W)`` and returns logits ``(N, num_classes)``, like a 3D model,
    so the Trainer, predict and the metrics treat it as one (``spatial_dims`` is 3).
    ``forward_features`` are the slice-averaged pooled features ``(N, F)``, so ``forward_head``
    is the encoder's linear classifier alone.

    Args:
        in_channels, num_classes: as for every model.
        encoder: registered 2D model name (its ``forward_features`` + global average pool are
            used, then its own linear classifier).
        view, num_slices: which slices (see :func:`volume_slices`).
        encoder_kwargs: options for ``create_model`` (e.g. ``stem="imagenet"``).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        *,
        encoder: str = "resnet18",
        view: str = "orthogonal",
        num_slices: int = 3,
        encoder_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(3, in_channels, num_classes)
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        slice_indices(max(num_slices, 1), num_slices)  # validates num_slices
        self.view = view
        self.num_slices = 3 if view == "orthogonal" else num_slices
        self.encoder = create_model(
            encoder,
            spatial_dims=2,
            in_channels=in_channels,
            num_classes=num_classes,
            **dict(encoder_kwargs or {}),
        )
        self.classifier_name = f"encoder.{self.encoder.classifier_name}"
        self.min_input_size = self.encoder.min_input_size

    def reset_classifier(self, num_classes: int) -> None:
        self.encoder.reset_classifier(num_classes)
        self.num_classes = num_classes

    def to(self, *args: Any, **kwargs: Any) -> SliceModel25D:
        # the precision policy asks a spatial_dims=3 model for channels_last_3d; the encoder's
        # weights are 2D (rank 4), whose channels-last layout is channels_last
        if kwargs.get("memory_format") is torch.channels_last_3d:
            kwargs["memory_format"] = torch.channels_last
        return super().to(*args, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-volume features ``(N, F)``: the mean over slices of the encoder's pooled map."""
        slices = volume_slices(x, self.view, self.num_slices)
        n, s = slices.shape[:2]
        flat = slices.reshape(n * s, *slices.shape[2:])
        if x.is_contiguous(memory_format=torch.channels_last_3d):
            flat = flat.contiguous(memory_format=torch.channels_last)
        feats = self.encoder.forward_features(flat).mean(dim=(2, 3))  # global average pool
        return feats.reshape(n, s, -1).mean(dim=1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.get_classifier()(x)


@register_model(
    family="slices25d",
    paper="2.5D: a 2D CNN over slices of a volume, features averaged (e.g. Roth et al., 2014)",
    default_input_size=32,
    min_input_size=1,
    spatial_dims=(3,),
)
def slices25d(
    *, spatial_dims: int = 3, in_channels: int = 1, num_classes: int = 1, **kwargs: Any
) -> SliceModel25D:
    """2.5D model: a shared 2D ResNet-18 over three orthogonal planes (or axial slices)."""
    if spatial_dims != 3:
        raise ValueError(f"slices25d takes volumes (spatial_dims=3), got {spatial_dims}")
    return SliceModel25D(in_channels, num_classes, **kwargs)
