"""Batch transforms for float tensors ``(N, C, *spatial)``, any spatial_dims, explicit RNG.

Every transform is called as ``t(x, generator=g)`` on a whole batch and draws its random
parameters per sample from ``g`` (a CPU ``torch.Generator``; ``None`` uses torch's global RNG),
so an epoch is reproducible from one generator state. Inputs are expected in [0, 1] (the output
of :func:`~healthcnn.data.arrays.iterate_batches`); ``Normalize`` usually comes last.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .._validate import unknown_name


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * (high - low) + low).to(device)


def _spatial_axes(x: torch.Tensor, axes: Sequence[int] | None) -> list[int]:
    dims = x.ndim - 2
    axes = list(range(dims)) if axes is None else list(axes)
    for a in axes:
        if not 0 <= a < dims:
            raise ValueError(
                f"spatial axis {a} out of range for {dims} spatial dims (input {tuple(x.shape)})"
            )
    return axes


def _per_sample(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (x.ndim - 1)))


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[object]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in self.transforms:
            x = t(x, generator=generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class Normalize:
    """``(x - mean) / std`` per channel (scalars apply to every channel)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if (self.std <= 0).any():
            raise ValueError(f"std must be positive, got {self.std.tolist()}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.numel() not in (1, c):
                raise ValueError(
                    f"Normalize {name} has {v.numel()} values but the input has {c} channels"
                )
        shape = (1, -1, *([1] * (x.ndim - 2)))
        mean = self.mean.to(x.device, x.dtype).reshape(shape)
        std = self.std.to(x.device, x.dtype).reshape(shape)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomFlip:
    """Flip each sample along each of ``axes`` (spatial axis numbers; default all) with
    probability ``p``, independently per sample and axis."""

    def __init__(self, axes: Sequence[int] | None = None, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.axes = None if axes is None else tuple(axes)
        self.p = p

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for a in _spatial_axes(x, self.axes):
            mask = (torch.rand(x.shape[0], generator=generator) < self.p).to(x.device)
            x = torch.where(_per_sample(mask, x), x.flip(2 + a), x)
        return x

    def __repr__(self) -> str:
        return f"RandomFlip(axes={self.axes}, p={self.p})"


class RandomRot90:
    """Rotate each sample by k x 90 degrees (k uniform in 0..3) in one plane.

    2D: the image plane. 3D: a plane chosen uniformly per sample from ``axes`` (pairs of spatial
    axes; default all three pairs). A non-square plane is only rotated by 0 or 180 degrees, so
    the batch keeps its shape.
    """

    def __init__(self, axes: Sequence[tuple[int, int]] | None = None) -> None:
        self.axes = None if axes is None else [tuple(p) for p in axes]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dims = x.ndim - 2
        if dims < 2:
            raise ValueError(f"RandomRot90 needs 2D or 3D inputs, got shape {tuple(x.shape)}")
        planes = self.axes or list(itertools.combinations(range(dims), 2))
        for p in planes:
            if len(p) != 2 or p[0] == p[1] or not all(0 <= a < dims for a in p):
                raise ValueError(f"rotation plane {p} is not two distinct spatial axes of {dims}")
        n = x.shape[0]
        plane_idx = torch.randint(len(planes), (n,), generator=generator)
        ks = torch.randint(4, (n,), generator=generator)
        out = x.clone()
        for pi, (a, b) in enumerate(planes):
            square = x.shape[2 + a] == x.shape[2 + b]
            for k in range(1, 4):
                if not square and k != 2:
                    continue
                sel = ((plane_idx == pi) & (ks == k)).nonzero().flatten()
                if len(sel):
                    sel = sel.to(x.device)
                    out[sel] = torch.rot90(x[sel], k, dims=(2 + a, 2 + b))
        return out

    def __repr__(self) -> str:
        return f"RandomRot90(axes={self.axes})"


def _rotation_3d(angles: torch.Tensor) -> torch.Tensor:
    """(N, 3) angles (radians) about the three axes -> (N, 3, 3) rotation matrices."""
    c, s = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])
    rx = torch.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], 1)
    ry = torch.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], 1)
    rz = torch.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], 1)
    return rx.view(-1, 3, 3) @ ry.view(-1, 3, 3) @ rz.view(-1, 3, 3)


class RandomAffine:
    """Small random rotation, translation and isotropic scaling (2D and 3D) by resampling
    (``affine_grid`` + ``grid_sample``, bilinear/trilinear, zeros outside). Rotations are rigid
    in pixels on non-square images too (a circle stays a circle).

    ``degrees``: max rotation (about each axis in 3D); ``translate``: max shift as a fraction
    of the extent; ``scale``: (min, max) zoom factor.
    """

    def __init__(
        self,
        degrees: float = 10.0,
        translate: float = 0.05,
        scale: tuple[float, float] = (0.9, 1.1),
        padding_mode: str = "zeros",
    ) -> None:
        if degrees < 0 or translate < 0 or not 0 < scale[0] <= scale[1]:
            raise ValueError(
                f"need degrees >= 0, translate >= 0 and 0 < scale[0] <= scale[1], "
                f"got {degrees}, {translate}, {scale}"
            )
        self.degrees, self.translate, self.scale = degrees, translate, tuple(scale)
        self.padding_mode = padding_mode

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dims = x.ndim - 2
        if dims not in (2, 3):
            raise ValueError(f"RandomAffine needs 2D or 3D inputs, got shape {tuple(x.shape)}")
        n, cpu = x.shape[0], torch.device("cpu")
        rad = math.radians(self.degrees)
        zoom = _uniform(n, *self.scale, generator, cpu)
        shift = (torch.rand(n, dims, generator=generator) * 2 - 1) * self.translate * 2
        if dims == 2:
            a = _uniform(n, -rad, rad, generator, cpu)
            rot = torch.stack([torch.cos(a), -torch.sin(a), torch.sin(a), torch.cos(a)], 1)
            rot = rot.view(n, 2, 2)
        else:
            angles = (torch.rand(n, 3, generator=generator) * 2 - 1) * rad
            rot = _rotation_3d(angles)
        # affine_grid works in coordinates normalised per axis to [-1, 1]; a rotation there is a
        # rotation in pixels only on a square (cubic) grid. Conjugating by the extents (x, y, z =
        # width, height, depth) keeps it rigid on any grid: entry (i, j) times extent_j / extent_i
        # (exactly 1 on a square grid, so square inputs are unchanged to the bit)
        extent = torch.tensor(x.shape[2:][::-1], dtype=rot.dtype)
        rot = rot * (extent.view(1, 1, -1) / extent.view(1, -1, 1))
        # the grid maps output to input coordinates: dividing by the zoom enlarges the content
        theta = torch.cat([rot / zoom.view(n, 1, 1), shift.unsqueeze(2)], dim=2)
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        return F.grid_sample(
            x, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=False
        )

    def __repr__(self) -> str:
        return (
            f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale})"
        )


def _size(size: int | Sequence[int], dims: int) -> tuple[int, ...]:
    out = (size,) * dims if isinstance(size, int) else tuple(size)
    if len(out) != dims or any(s < 1 for s in out):
        raise ValueError(f"size must be an int or {dims} positive ints, got {size!r}")
    return out


class Resize:
    """Resize to ``size`` (linear/bilinear/trilinear; antialiased when shrinking 2D images)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dims = x.ndim - 2
        size = _size(self.size, dims)
        if tuple(x.shape[2:]) == size:
            return x
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[dims]
        return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=dims == 2)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class Dihedral:
    """One of the 8 symmetries of the square: ``k`` quarter turns, then an optional flip
    (deterministic; used for test-time augmentation of 2D images).

    On a non-square input a quarter turn would transpose the image (a model made for one
    input shape would then fail, and none was trained on that orientation: ``RandomRot90``
    turns non-square images by half turns only), so an odd ``k`` is taken as ``k - 1`` there.
    The 8 views of :func:`dihedral_views` then give each of the 4 shape-keeping views
    (identity, horizontal flip, half turn, vertical flip) twice, and their mean is the mean
    over those 4."""

    def __init__(self, k: int, flip: bool) -> None:
        self.k, self.flip = k, flip

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        k = self.k if x.shape[-2] == x.shape[-1] else self.k - self.k % 2
        x = torch.rot90(x, k, dims=(-2, -1))
        return torch.flip(x, dims=(-1,)) if self.flip else x

    def __repr__(self) -> str:
        return f"Dihedral(k={self.k}, flip={self.flip})"


def dihedral_views(shape: Sequence[int] | None = None) -> list[Dihedral]:
    """The 8 symmetries of the square (identity first); for inputs of a known non-square
    ``shape`` (its last two axes), the 4 of them that keep it (each computed once, where the
    8 would give each twice: see :class:`Dihedral`)."""
    turns = (0, 2) if shape is not None and shape[-2] != shape[-1] else range(4)
    return [Dihedral(k, f) for f in (False, True) for k in turns]


def _check_crop(x: torch.Tensor, size: tuple[int, ...]) -> None:
    if any(s > e for s, e in zip(size, x.shape[2:], strict=True)):
        raise ValueError(f"crop size {size} is larger than the input {tuple(x.shape[2:])}")


class CenterCrop:
    """Crop the centre ``size`` region."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = size

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        size = _size(self.size, x.ndim - 2)
        _check_crop(x, size)
        slices = [
            slice((e - s) // 2, (e - s) // 2 + s) for s, e in zip(size, x.shape[2:], strict=True)
        ]
        return x[(slice(None), slice(None), *slices)]

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class RandomCrop:
    """Crop a random ``size`` region per sample (after zero ``padding`` on every side)."""

    def __init__(self, size: int | Sequence[int], padding: int = 0) -> None:
        self.size, self.padding = size, padding

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dims = x.ndim - 2
        size = _size(self.size, dims)
        if self.padding:
            x = F.pad(x, [self.padding] * (2 * dims))
        _check_crop(x, size)
        n = x.shape[0]
        starts = [
            torch.randint(e - s + 1, (n,), generator=generator).tolist()
            for s, e in zip(size, x.shape[2:], strict=True)
        ]
        out = x.new_empty((n, x.shape[1], *size))
        for i in range(n):
            sl = tuple(slice(st[i], st[i] + s) for st, s in zip(starts, size, strict=True))
            out[i] = x[(i, slice(None), *sl)]
        return out

    def __repr__(self) -> str:
        return f"RandomCrop({self.size}, padding={self.padding})"


_GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights


class ColorJitter:
    """Random brightness, contrast and saturation factors in ``[1 - v, 1 + v]`` per sample,
    for RGB inputs only (3 channels); output clamped to [0, 1]."""

    def __init__(
        self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2
    ) -> None:
        for name, v in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if not 0 <= v < 1:
                raise ValueError(f"{name} must be in [0, 1), got {v}")
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if x.shape[1] != 3:
            raise ValueError(
                f"ColorJitter needs RGB input (3 channels), got {x.shape[1]} "
                "channel(s); use IntensityScale for grey images and volumes"
            )
        n, shape = x.shape[0], (-1, *([1] * (x.ndim - 1)))
        w = torch.tensor(_GREY, device=x.device, dtype=x.dtype).view(1, 3, *([1] * (x.ndim - 2)))
        b = _uniform(n, 1 - self.brightness, 1 + self.brightness, generator, x.device)
        c = _uniform(n, 1 - self.contrast, 1 + self.contrast, generator, x.device)
        s = _uniform(n, 1 - self.saturation, 1 + self.saturation, generator, x.device)
        x = x * b.view(shape).to(x.dtype)
        grey = (x * w).sum(1, keepdim=True)
        mean = grey.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
        x = (x - mean) * c.view(shape).to(x.dtype) + mean
        grey = (x * w).sum(1, keepdim=True)
        x = (x - grey) * s.view(shape).to(x.dtype) + grey
        return x.clamp_(0, 1)

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation})"
        )


class IntensityScale:
    """Multiply each sample by a factor uniform in ``range`` (any channel count); clamps to
    [0, 1] unless ``clamp=False``."""

    def __init__(self, range: tuple[float, float] = (0.9, 1.1), clamp: bool = True) -> None:
        if not 0 <= range[0] <= range[1]:
            raise ValueError(f"range must be (low, high) with 0 <= low <= high, got {range}")
        self.range, self.clamp = tuple(range), clamp

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        f = _uniform(x.shape[0], *self.range, generator, x.device).to(x.dtype)
        x = x * f.view(-1, *([1] * (x.ndim - 1)))
        return x.clamp_(0, 1) if self.clamp else x

    def __repr__(self) -> str:
        return f"IntensityScale(range={self.range})"


AUGMENT_PRESETS = ("none", "basic", "strong")


def build_augment(name: str, spatial_dims: int, channels: int) -> Compose:
    """The named training augmentation: ``"none"`` (identity), ``"basic"`` (random flips on
    every axis + 90-degree rotations) or ``"strong"`` (basic + small affine + colour jitter
    for RGB / intensity scaling otherwise). Images (2D) and volumes (3D) only."""
    if name not in AUGMENT_PRESETS:
        raise unknown_name("augmentation preset", name, AUGMENT_PRESETS)
    if name == "none":
        return Compose([])
    if spatial_dims not in (2, 3):
        raise ValueError(
            f"augmentation {name!r} is defined for images and volumes "
            f"(spatial_dims 2 or 3), got spatial_dims={spatial_dims}; use 'none'"
        )
    ops: list[object] = [RandomFlip(), RandomRot90()]
    if name == "strong":
        ops.append(RandomAffine(degrees=15.0, translate=0.1, scale=(0.9, 1.1)))
        ops.append(ColorJitter() if channels == 3 else IntensityScale((0.8, 1.2)))
    return Compose(ops)
