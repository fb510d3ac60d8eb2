"""2D weights for 1D signals and 3D volumes, and for other input channel counts.

The rules (the user guide, ``docs/weights.md``, explains them with the equalities they keep):

* **2D -> 3D** (``spatial_dims=3``): a convolution kernel (out, in, kh, kw) gains a leading depth
  axis, (out, in, kd, kh, kw), ``kd = kh`` unless given. ``mode="i3d"`` (Carreira & Zisserman,
  CVPR 2017) repeats the kernel ``kd`` times along depth and divides by ``kd``: on a volume whose
  slices are all the same image, every slice the kernel sees whole gives the 2D response.
  ``mode="centre"`` puts the kernel in the middle depth slice (index ``kd // 2``) and zeros
  elsewhere: the same equality, on every slice, whatever the padding at the depth borders.
* **2D -> 1D** (``spatial_dims=1``): a signal is an image one row high (the convention of the
  model families: a kernel (kh, kw) becomes (kw,)). ``mode="i3d"`` sums the kernel over its rows:
  an image whose rows all carry the same signal gives the 1D response (away from the top and
  bottom borders). ``mode="centre"`` keeps the middle row: exact on an image one row high.
* **A linear layer fed by a flattened map** (VGG's and AlexNet's first classifier layer reads
  ``channels x pool_size**2`` features in 2D, ``channels x pool_size**3`` in 3D): its weight is
  viewed as (out, channels, p, p) and inflated like a kernel, so the equalities above carry
  through the classifier. In 1D it is always summed over the rows, whatever the mode: in both
  cases above (every row the same signal; an image one row high, which the adaptive pool
  stretches to ``p`` equal rows) the 2D layer sees ``p`` equal rows.
* **Input channels** (first convolution, any ``spatial_dims``): 1 channel sums the kernels over
  the input channels (a grey image gives what the same image replicated to RGB gave); ``C``
  other channels repeat the source channels cyclically and scale by ``C_src / C``, which keeps
  the activations' scale and is exact for an input made of the source channels repeated.

Only convolution weights change shape; biases, batch-norm tensors and other linear layers are
taken over unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

INFLATE_MODES = ("i3d", "centre")


def check_mode(mode: str) -> str:
    if mode not in INFLATE_MODES:
        raise ValueError(f"inflation mode must be one of {INFLATE_MODES}, got {mode!r}")
    return mode


def inflate_conv_weight(
    weight: torch.Tensor,
    spatial_dims: int,
    *,
    mode: str = "i3d",
    depth: int | None = None,
    target_kernel: Sequence[int] | None = None,
) -> torch.Tensor:
    """Inflate one 2D kernel (out, in, kh, kw) to ``spatial_dims`` 1 or 3 (see module docs).

    ``target_kernel`` is the kernel size the new layer has (from a built model); it must agree
    with the 2D kernel: (kd, kh, kw) in 3D, (kw,) in 1D.
    """
    check_mode(mode)
    if weight.dim() != 4:
        raise ValueError(f"a 2D convolution weight has 4 axes, got shape {tuple(weight.shape)}")
    kh, kw = weight.shape[2:]
    if spatial_dims == 3:
        if target_kernel is not None:
            target_kernel = tuple(target_kernel)
            if len(target_kernel) != 3 or target_kernel[1:] != (kh, kw):
                raise ValueError(
                    f"cannot inflate a ({kh}, {kw}) kernel to {target_kernel}: the last two axes "
                    f"must equal the 2D kernel"
                )
            depth = target_kernel[0]
        kd = kh if depth is None else depth
        if isinstance(kd, bool) or not isinstance(kd, int) or kd < 1:
            raise ValueError(f"depth must be an int >= 1, got {depth!r}")
        if mode == "i3d":
            return weight.unsqueeze(2).repeat(1, 1, kd, 1, 1) / kd
        out = weight.new_zeros((*weight.shape[:2], kd, kh, kw))
        out[:, :, kd // 2] = weight
        return out
    if spatial_dims == 1:
        if depth is not None:
            raise ValueError("depth applies to 2D -> 3D inflation only; leave it out for 1D")
        if target_kernel is not None and tuple(target_kernel) != (kw,):
            raise ValueError(
                f"cannot turn a ({kh}, {kw}) kernel into {tuple(target_kernel)}: a signal is an "
                f"image one row high, so the 1D kernel is the 2D kernel's width ({kw},)"
            )
        return weight.sum(dim=2) if mode == "i3d" else weight[:, :, kh // 2].clone()
    raise ValueError(f"2D weights inflate to spatial_dims 1 or 3, got {spatial_dims!r}")


def inflate_flattened_linear(
    weight: torch.Tensor, in_features: int, spatial_dims: int, *, mode: str = "i3d"
) -> torch.Tensor:
    """Inflate a linear layer's (out, C * p * p) weight that reads a flattened (C, p, p) map to
    ``in_features`` = C * p**3 (3D, by ``mode``) or C * p (1D, summed over the rows; see the
    module docs). Raises if the sizes do not fit that pattern."""
    check_mode(mode)
    out_f, in_2d = weight.shape
    p = 0
    if spatial_dims == 3 and in_features % in_2d == 0:
        p = in_features // in_2d
    elif spatial_dims == 1 and in_features and in_2d % in_features == 0:
        p = in_2d // in_features
    if p < 1 or in_2d % (p * p):
        raise ValueError(
            f"cannot map {in_2d} features (2D) to {in_features} ({spatial_dims}D): expected a "
            f"flattened (C, p, p) map becoming (C, p, p, p) or (C, p)"
        )
    as_map = weight.reshape(out_f, in_2d // (p * p), p, p)
    if spatial_dims == 3:
        return inflate_conv_weight(as_map, 3, mode=mode, depth=p).reshape(out_f, in_features)
    # 1D: the 2D layer sees p equal rows in both modes' exact cases (module docs): sum them
    return as_map.sum(dim=2).reshape(out_f, in_features)


def adapt_in_channels(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """A first-layer kernel (out, C_src, *k) for ``in_channels`` inputs (see module docs)."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be an int >= 1, got {in_channels!r}")
    c_src = weight.shape[1]
    if in_channels == c_src:
        return weight.clone()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    index = torch.arange(in_channels, device=weight.device) % c_src
    return weight[:, index] * (c_src / in_channels)


def inflate_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    spatial_dims: int,
    *,
    mode: str = "i3d",
    depth: int | None = None,
) -> dict[str, torch.Tensor]:
    """A copy of a 2D ``state_dict`` for a ``spatial_dims`` (1 or 3) model of the same layout.

    Every 4-axis tensor is taken for a 2D convolution weight and inflated with
    :func:`inflate_conv_weight` (``mode`` "i3d" or "centre"; ``depth`` sets the kernel depth in
    3D, default each kernel's height); every other tensor is copied unchanged. Linear layers
    that read a flattened feature map (VGG, AlexNet) are left as they are here: the sizes they
    need depend on the model; :func:`healthcnn.models.weights.load_weights` inflates them when
    it loads 2D weights into a 1D or 3D model.
    """
    check_mode(mode)
    if spatial_dims not in (1, 3):
        raise ValueError(
            f"spatial_dims must be 1 or 3 (the target of 2D weights), got {spatial_dims!r}"
        )
    convs = [k for k, v in state_dict.items() if v.dim() == 4]
    if not convs:
        dims = sorted(
            {v.dim() - 2 for k, v in state_dict.items() if k.endswith("weight") and v.dim() > 2}
        )
        raise ValueError(
            "no 2D convolution weights (4-axis tensors) in the state dict"
            + (f"; its convolutions look {dims}D" if dims else "")
            + ": only 2D weights can be inflated"
        )
    return {
        key: inflate_conv_weight(value, spatial_dims, mode=mode, depth=depth)
        if value.dim() == 4
        else value.clone()
        for key, value in state_dict.items()
    }
