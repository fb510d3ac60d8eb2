"""Full-resolution fundus photographs -> the network's input: field of view, crop, rescale.

A fundus camera images the retina as a bright disc (the field of view, FOV) on a black
background; the disc's size and position vary between cameras and photographs, and the top and
bottom are often cut off. Screening pipelines (Gulshan et al. rescaled every image to a fixed
retinal diameter) therefore normalise geometry before a network sees the image:

1. **Find the FOV.** Threshold the brightness at a fraction of a robust maximum, keep the largest
   connected bright region (found on a downsampled mask), and take the centre and radius of its
   bounding box: the horizontal extent gives the diameter even when the disc is cut off at the
   top and bottom.
2. **Crop** a square of side 2r around the centre (black padding where it leaves the photo) and
   **rescale** it so the retina has a fixed radius (``size / 2`` pixels); pixels outside the
   disc are set to black.
3. **Optional local-contrast normalisation**: subtract a Gaussian-blurred copy of the image (blur
   width proportional to the retinal radius), amplify the difference and re-centre it on mid-grey.
   This removes slow illumination changes and brings out small lesions (microaneurysms,
   haemorrhages, exudates); the rim is then masked again to hide the edge effect of the blur.

Inputs that are not fundus photographs fail with a clear ``ValueError``: an empty or uniform
image, no bright region, or a bright region that is not a disc (e.g. an ordinary photograph whose
bright area fills the frame).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

#: the long side of the mask the connected-component search works on
_MASK_SIDE = 256


@dataclass(frozen=True)
class FieldOfView:
    """The retinal disc in image coordinates (pixels): centre (x, y) and radius."""

    cx: float
    cy: float
    radius: float
    fill: float  # bright area / area of the disc inside the image (about 1 for a fundus)


@dataclass(frozen=True)
class FundusConfig:
    """How a photograph is normalised (recorded in bundles under ``preprocessing.fundus``).

    Attributes:
        size: output side in pixels; the retina's radius becomes ``size / 2``.
        local_contrast: apply the local-contrast normalisation (step 3).
        blur_fraction: Gaussian sigma as a fraction of the output radius.
        threshold: FOV brightness threshold as a fraction of the 99th-percentile brightness.
    """

    size: int = 512
    local_contrast: bool = False
    blur_fraction: float = 1 / 15
    threshold: float = 0.15

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"size must be an int >= 8 pixels, got {self.size!r}")
        if not 0 < self.blur_fraction < 1:
            raise ValueError(f"blur_fraction must be in (0, 1), got {self.blur_fraction}")
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FundusConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown fundus setting(s) {unknown}")
        return cls(**data)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.size == 0:
        raise ValueError(f"the image is empty (shape {a.shape}); expected H x W x 3 pixels")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H x W (x 1/3/4) image, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0
        a = np.clip(np.nan_to_num(a.astype(np.float64)), 0, 255).round().astype(np.uint8)
    if min(a.shape[:2]) < 16:
        raise ValueError(f"the image is too small for FOV detection ({a.shape[1]}x{a.shape[0]})")
    return a


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected True region of a small 2-D mask."""
    h, w = mask.shape
    labels = np.zeros((h, w), dtype=np.int32)
    best, best_size, current = 0, 0, 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if labels[y0, x0]:
            continue
        current += 1
        labels[y0, x0] = current
        queue, size = deque([(y0, x0)]), 0
        while queue:
            y, x = queue.popleft()
            size += 1
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not labels[ny, nx]:
                    labels[ny, nx] = current
                    queue.append((ny, nx))
        if size > best_size:
            best, best_size = current, size
    return labels == best if best else np.zeros_like(mask)


def find_field_of_view(image: np.ndarray, threshold: float = 0.15) -> FieldOfView:
    """Locate the circular field of view of a fundus photograph ``(H, W, 3)``."""
    rgb = _as_rgb(image)
    h, w = rgb.shape[:2]
    gray = rgb.astype(np.float32).mean(axis=2)
    top = float(np.percentile(gray, 99))
    if top < 10 or float(gray.std()) < 2:
        raise ValueError(
            "the image is empty or uniform (no bright retinal disc); expected a colour fundus "
            "photograph"
        )
    scale = min(1.0, _MASK_SIDE / max(h, w))
    small = torch.from_numpy(gray)[None, None]
    if scale < 1:
        small = F.interpolate(small, scale_factor=scale, mode="area")
    mask = (small[0, 0] > threshold * top).numpy()
    region = _largest_component(mask)
    if region.sum() < 0.02 * region.size:
        raise ValueError("no bright region large enough to be a retinal disc; not a fundus photo")
    ys, xs = np.nonzero(region)
    x0, x1 = xs.min() / scale, (xs.max() + 1) / scale
    y0, y1 = ys.min() / scale, (ys.max() + 1) / scale
    radius = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    disc = _disc_area_inside(cx * scale, cy * scale, radius * scale, mask.shape)
    fill = float(region.sum() / max(disc, 1.0))
    corners_dark = _corners_dark(region)
    if not 0.8 <= fill <= 1.12 or not corners_dark:
        raise ValueError(
            f"the bright region is not a circular field of view (fill {fill:.2f} of the fitted "
            f"disc; corners {'dark' if corners_dark else 'bright'}); this does not look like a "
            f"fundus photograph"
        )
    return FieldOfView(float(cx), float(cy), float(radius), fill)


def _disc_area_inside(cx: float, cy: float, r: float, shape: tuple[int, int]) -> float:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return float((((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) <= r * r).sum())


def _corners_dark(region: np.ndarray) -> bool:
    """A disc leaves the four corners of its bounding square outside; a photo fills them."""
    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    k = max(1, int(0.08 * min(y1 - y0 + 1, x1 - x0 + 1)))
    corners = [
        region[y0 : y0 + k, x0 : x0 + k],
        region[y0 : y0 + k, x1 - k + 1 : x1 + 1],
        region[y1 - k + 1 : y1 + 1, x0 : x0 + k],
        region[y1 - k + 1 : y1 + 1, x1 - k + 1 : x1 + 1],
    ]
    return sum(float(c.mean()) < 0.5 for c in corners) >= 3


def crop_to_fov(image: np.ndarray, fov: FieldOfView, size: int) -> np.ndarray:
    """The square around the disc, rescaled so the radius is ``size / 2``; outside set to 0."""
    rgb = _as_rgb(image)
    h, w = rgb.shape[:2]
    r = fov.radius
    # affine sampling grid in normalised coordinates of the source image
    t = torch.linspace(-1 + 1 / size, 1 - 1 / size, size, dtype=torch.float32)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    sx = (fov.cx + gx * r) / w * 2 - 1
    sy = (fov.cy + gy * r) / h * 2 - 1
    grid = torch.stack([sx, sy], dim=-1)[None]
    src = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float()
    factor = 2 * r / size
    if factor > 1.5:  # shrinking a lot: pre-blur by area averaging to avoid aliasing
        src = F.interpolate(src, scale_factor=1 / factor * 1.5, mode="area")
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = (gx**2 + gy**2) <= 1.0
    out = out[0] * inside
    return out.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    k = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(k**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    pad = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    pad = F.conv2d(pad, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(pad, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def local_contrast(image: np.ndarray, sigma: float, gain: float = 4.0) -> np.ndarray:
    """``gain * (image - GaussianBlur(image, sigma)) + 128``, clipped to uint8, rim masked."""
    rgb = _as_rgb(image)
    x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float()
    out = gain * (x - _gaussian_blur(x, sigma)) + 128.0
    size = rgb.shape[0]
    t = torch.linspace(-1 + 1 / size, 1 - 1 / size, size)
    gy, gx = torch.meshgrid(t, torch.linspace(-1, 1, rgb.shape[1]), indexing="ij")
    out = out[0] * ((gx**2 + gy**2) <= 0.95**2)
    return out.clamp(0, 255).round().byte().permute(1, 2, 0).numpy()


def preprocess_fundus(
    image: np.ndarray, config: FundusConfig | None = None
) -> tuple[np.ndarray, FieldOfView]:
    """Find the FOV, crop, rescale, and optionally normalise contrast: ``(size, size, 3)``."""
    config = config or FundusConfig()
    fov = find_field_of_view(image, config.threshold)
    out = crop_to_fov(image, fov, config.size)
    if config.local_contrast:
        out = local_contrast(out, sigma=config.blur_fraction * config.size / 2)
    return out, fov


def apply_fundus_preprocessing(
    settings: Mapping[str, Any] | None, size: Sequence[int] | None, image: Any
) -> Any:
    """A bundle's recorded fundus preprocessing (its preprocessing record's ``fundus``
    settings), applied to a decoded PIL image before it is resized to the model input
    (``size``: the record's ``(H, W)``).

    Only photographs larger than twice the model input on both sides are treated as full-size
    (FOV crop + rescale); smaller images are taken as already preprocessed and passed through.
    Without recorded settings every image passes through unchanged.
    """
    if not settings:
        return image
    from PIL import Image

    size = tuple(size or (settings.get("size", 512),) * 2)
    if image.width <= 2 * size[-1] or image.height <= 2 * size[0]:
        return image
    known = {k: v for k, v in settings.items() if k in FundusConfig.__dataclass_fields__}
    config = FundusConfig.from_dict({**known, "size": int(size[-1])})
    out, _ = preprocess_fundus(np.asarray(image.convert("RGB")), config)
    return Image.fromarray(out).convert(image.mode)
