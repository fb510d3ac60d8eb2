"""The locally connected layer: a convolution's connectivity without weight sharing.

Every output position has its own filter (and its own bias), as in the lecture's "locally
connected" network. It is computed with tensor operations: the input's patches are extracted
with ``Tensor.unfold`` and combined with the per-position filters in one ``einsum``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validate import as_tuple, check_spatial_dims


class LocallyConnected(nn.Module):
    """Locally connected layer for 1, 2 or 3 spatial dimensions.

    Args:
        spatial_dims: 1, 2 or 3.
        in_channels, out_channels: channels in and out.
        input_size: the spatial size of the input (one int per dimension, or one int for all);
            needed because the number of filters equals the number of output positions.
        kernel_size, stride, padding, dilation: as for a convolution.
        bias: a bias per output channel and position.

    ``weight`` has shape ``(positions, out_channels, in_channels * kernel volume)`` and ``bias``
    ``(positions, out_channels)``, positions in row-major order of the output grid. The patch
    order inside a filter is (channel, kernel positions...), the order a convolution's weight
    flattens to, so a convolution's weight copied to every position reproduces the convolution.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        input_size,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        # Imported here: shapes is a leaf module, layers depend on it, not the other way round.
        from ..shapes import conv_output_size

        d = check_spatial_dims(spatial_dims)
        if in_channels < 1 or out_channels < 1:
            raise ValueError(
                f"locally connected layer needs in_channels and out_channels >= 1, got "
                f"{in_channels} and {out_channels}"
            )
        self.spatial_dims = d
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.input_size = as_tuple(input_size, d, "input_size")
        self.kernel_size = as_tuple(kernel_size, d, "kernel_size")
        self.stride = as_tuple(stride, d, "stride")
        self.padding = as_tuple(padding, d, "padding")
        self.dilation = as_tuple(dilation, d, "dilation")
        # Floor, as a convolution does: any configuration nn.ConvNd accepts is accepted here.
        self.output_size = conv_output_size(
            self.input_size,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            rounding="floor",
        )
        positions = math.prod(self.output_size)
        fan_in = in_channels * math.prod(self.kernel_size)
        self.weight = nn.Parameter(torch.empty(positions, out_channels, fan_in))
        self.bias = nn.Parameter(torch.empty(positions, out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The default of a convolution with the same fan-in: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.spatial_dims
        expected = (self.in_channels, *self.input_size)
        if x.dim() != d + 2 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"LocallyConnected was built for inputs (N, {', '.join(map(str, expected))}), "
                f"got {tuple(x.shape)}; build it with the input_size of your data"
            )
        if any(self.padding):
            pad = [p for p in reversed(self.padding) for _ in (0, 1)]
            x = nn.functional.pad(x, pad)
        # Patches: (N, C, o1..od, k1..kd) after one unfold per spatial axis.
        for axis, (k, s, dil) in enumerate(
            zip(self.kernel_size, self.stride, self.dilation, strict=True)
        ):
            span = (k - 1) * dil + 1
            x = x.unfold(2 + axis, span, s)
            if dil > 1:
                x = x[..., ::dil]
        n = x.shape[0]
        # (N, C, o..., k...) -> (N, o..., C, k...) -> (N, positions, C * kernel volume)
        perm = [0, *range(2, 2 + d), 1, *range(2 + d, 2 + 2 * d)]
        patches = x.permute(perm).reshape(n, self.weight.shape[0], self.weight.shape[2])
        out = torch.einsum("npk,pok->npo", patches, self.weight)
        if self.bias is not None:
            out = out + self.bias
        # (N, positions, out) -> (N, out, o1..od)
        return out.transpose(1, 2).reshape(n, self.out_channels, *self.output_size)

    def extra_repr(self) -> str:
        return (
            f"spatial_dims={self.spatial_dims}, {self.in_channels}, {self.out_channels}, "
            f"input_size={self.input_size}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )
