"""Sum pooling: the lecture's third pooling operation, beside max and mean."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import as_tuple, check_spatial_dims


class SumPool(nn.Module):
    """Sum of each pooling window, for 1, 2 or 3 spatial dimensions.

    Zero padding adds nothing to a sum, so ``padding`` behaves as for average pooling with
    ``count_include_pad=True``. ``SumPool1d``/``2d``/``3d`` in :mod:`healthcnn.layers` fix
    ``spatial_dims``.
    """

    def __init__(
        self,
        spatial_dims: int,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        d = check_spatial_dims(spatial_dims)
        self.spatial_dims = d
        self.kernel_size = as_tuple(kernel_size, d, "kernel_size")
        self.stride = self.kernel_size if stride is None else as_tuple(stride, d, "stride")
        self.padding = as_tuple(padding, d, "padding")
        self.ceil_mode = bool(ceil_mode)
        if any(k < 1 for k in self.kernel_size) or any(s < 1 for s in self.stride):
            raise ValueError(
                f"sum pooling needs kernel_size and stride >= 1, got kernel_size="
                f"{self.kernel_size}, stride={self.stride}"
            )
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(
                f"sum pooling padding {self.padding} must be at most half the kernel "
                f"{self.kernel_size}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.spatial_dims
        if x.dim() not in (d + 1, d + 2):
            raise ValueError(
                f"{type(self).__name__} expects (N, C) or (C) followed by {d} spatial "
                f"dims, got shape {tuple(x.shape)}"
            )
        if d == 1:
            # avg_pool1d has no divisor_override: pool a 1-high image instead.
            out = F.avg_pool2d(
                x.unsqueeze(-2),
                (1, *self.kernel_size),
                (1, *self.stride),
                (0, *self.padding),
                ceil_mode=self.ceil_mode,
                count_include_pad=True,
                divisor_override=1,
            )
            return out.squeeze(-2)
        pool = F.avg_pool2d if d == 2 else F.avg_pool3d
        spatial = tuple(x.shape[-d:])
        padding = self.padding
        ceil_mode = self.ceil_mode
        if d == 3 and any(w < k for w, k in zip(spatial, self.kernel_size, strict=True)):
            # avg_pool3d refuses an input smaller than the window even when the padding makes
            # room. Zero padding adds nothing to a sum, so pad explicitly (on the right as far
            # as the last window reaches), pool without padding and keep the formula's windows.
            from ..shapes import pool_output_size

            size = pool_output_size(
                spatial,
                self.kernel_size,
                self.stride,
                self.padding,
                rounding="ceil" if self.ceil_mode else "floor",
            )
            pads = []
            for w, k, st, p, n in zip(
                spatial, self.kernel_size, self.stride, self.padding, size, strict=True
            ):
                right = max(p, (n - 1) * st + k - w - p)
                pads.append((p, right))
            x = F.pad(x, [q for pair in reversed(pads) for q in pair])
            padding, ceil_mode = (0,) * d, False
        out = pool(
            x,
            self.kernel_size,
            self.stride,
            padding,
            ceil_mode=ceil_mode,
            count_include_pad=True,
            divisor_override=1,
        )
        if padding is not self.padding:
            out = out[(..., *[slice(0, n) for n in size])]
        return out

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}"
        )
