"""Blocks shared by the model families: convolution + norm + activation, and a classifier head."""

from __future__ import annotations

from torch import nn

from .._validate import as_tuple, check_spatial_dims
from .factories import LayerSpec, make_act, make_conv, make_dropout, make_norm, make_pool


class ConvNormAct(nn.Sequential):
    """Convolution, then optional normalisation, then optional activation.

    Children are named ``conv``, ``bn`` and ``act`` (absent ones are left out), so state-dict
    keys read ``<block>.conv.weight``, ``<block>.bn.running_mean`` as in torchvision's
    ``BasicConv2d``. ``bias`` defaults to ``True`` without a norm layer and ``False`` with one
    (a bias before batch norm is cancelled by its mean).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size=3,
        stride=1,
        padding=None,
        dilation=1,
        groups: int = 1,
        bias: bool | None = None,
        norm: LayerSpec = "batch",
        act: LayerSpec = ("relu", {"inplace": True}),
        norm_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        spatial_dims = check_spatial_dims(spatial_dims)
        if padding is None:
            # "same" for odd kernels at stride 1, per axis; kernel and dilation may each be an
            # int or one value per axis.
            ks = as_tuple(kernel_size, spatial_dims, "kernel_size")
            ds = as_tuple(dilation, spatial_dims, "dilation")
            padding = tuple(d * (k - 1) // 2 for k, d in zip(ks, ds, strict=True))
        norm_layer = make_norm(norm, spatial_dims, out_channels)
        if norm_kwargs and norm_layer is not None:
            for key, value in norm_kwargs.items():
                setattr(norm_layer, key, value)
        if bias is None:
            bias = norm_layer is None
        self.conv = make_conv(
            spatial_dims,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )
        if norm_layer is not None:
            self.bn = norm_layer
        act_layer = make_act(act)
        if act_layer is not None:
            self.act = act_layer


class ClassifierHead(nn.Module):
    """Global pooling, flatten, dropout and a linear layer: features -> logits.

    ``pool`` is ``"adaptive_avg"`` (default), ``"adaptive_max"`` or ``None`` (input already
    flat). Children: ``pool``, ``flatten``, ``drop`` (if ``dropout > 0``) and ``fc``.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_features: int,
        num_classes: int,
        pool: LayerSpec = "adaptive_avg",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.spatial_dims = spatial_dims
        self.in_features = in_features
        self.pool = make_pool(pool, spatial_dims, output_size=1) or nn.Identity()
        self.flatten = nn.Flatten(1)
        self.drop = make_dropout("dropout", spatial_dims, dropout) or nn.Identity()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x, pre_logits: bool = False):
        """Logits, or with ``pre_logits`` the pooled features the linear layer would see."""
        x = self.drop(self.flatten(self.pool(x)))
        return x if pre_logits else self.fc(x)
