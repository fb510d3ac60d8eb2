"""Pictures of a map over its input: a PNG overlay for 2D images, three orthogonal slices through
the map's maximum for 3D volumes (PNG), and the ECG strip with the map as a heat band beneath it
for 1D signals (SVG). The map's colour scale runs from black (0) through red to yellow (1).
"""

from __future__ import annotations

import io

import numpy as np

#: anchors of the colour scale (value, RGB): black, purple, red, orange, pale yellow
ANCHORS = np.array(
    [[0.0, 0, 0, 4], [0.3, 87, 16, 110], [0.55, 188, 55, 84], [0.8, 249, 142, 9],
     [1.0, 252, 255, 164]]
)  # fmt: skip
#: the shorter side of a 2D figure and the height of each 3D slice, in pixels
MIN_SIDE = 224
#: the most points of one trace, and of the heat band, in a 1D figure
MAX_POINTS = 1500


def colour(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB ``(*shape, 3)``."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0, 1)
    rgb = [np.interp(v, ANCHORS[:, 0], ANCHORS[:, k]) for k in (1, 2, 3)]
    return np.stack(rgb, axis=-1).round().astype(np.uint8)


def _grey_rgb(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` uint8 (or float in [0, 1]) as uint8 RGB ``(H, W, 3)``."""
    a = np.asarray(image, dtype=np.float64)
    if image.dtype != np.uint8:
        lo, hi = a.min(), a.max()
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
    rgb = a[:3].transpose(1, 2, 0) if a.shape[0] == 3 else np.repeat(a.mean(0)[..., None], 3, 2)
    return rgb.round().astype(np.uint8)


def _overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45):
    """A PIL image: the input ``(C, H, W)`` blended with the coloured map ``(H, W)``, enlarged
    so that its shorter side is at least ``MIN_SIDE`` pixels."""
    from PIL import Image

    h, w = heat.shape
    factor = max(1, int(np.ceil(MIN_SIDE / min(h, w))))
    size = (w * factor, h * factor)
    base = Image.fromarray(_grey_rgb(image)).resize(size, Image.Resampling.NEAREST)
    hm = Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8))
    hm = np.asarray(hm.resize(size, Image.Resampling.BILINEAR), dtype=np.float64) / 255
    blended = (1 - alpha) * np.asarray(base, dtype=np.float64) + alpha * colour(hm)
    return base, Image.fromarray(blended.round().astype(np.uint8))


def _side_by_side(images: list, caption: str) -> bytes:
    from PIL import Image, ImageDraw

    height = max(im.height for im in images)
    canvas = Image.new("RGB", (sum(im.width for im in images), height + 18), "white")
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width
    ImageDraw.Draw(canvas).text((4, height + 3), caption, fill="black")
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def figure_2d(image: np.ndarray, heat: np.ndarray, caption: str) -> bytes:
    """PNG: the input beside the input with the map laid over it, and a caption line."""
    base, over = _overlay(image, heat)
    return _side_by_side([base, over], caption)


def figure_3d(volume: np.ndarray, heat: np.ndarray, caption: str) -> bytes:
    """PNG: the axial, coronal and sagittal slices through the map's maximum, map overlaid."""

    d, h, w = np.unravel_index(int(np.argmax(heat)), heat.shape)
    cuts = [(slice(None), d), (slice(None), slice(None), h), (slice(None),) * 3 + (w,)]
    panels = []
    for cut in cuts:
        _, over = _overlay(volume[cut], heat[cut[1:]])
        scale = MIN_SIDE / over.height
        panels.append(over.resize((max(1, round(over.width * scale)), MIN_SIDE)))
    return _side_by_side(panels, f"{caption} | slices at d={d}, h={h}, w={w}")


def _decimate(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int))


def figure_1d(
    signal: np.ndarray, heat: np.ndarray, caption: str, leads: list[str] | None = None
) -> str:
    """SVG: one trace per lead (each scaled to its own band) and the map beneath as a heat band
    over the same time axis."""
    from xml.sax.saxutils import escape

    c, n = signal.shape
    width, band, left = 900.0, 60.0, 60.0
    idx = _decimate(n)
    xs = left + idx / max(n - 1, 1) * (width - left - 10)
    parts = []
    for k in range(c):
        s = signal[k, idx].astype(np.float64)
        lo, hi = float(s.min()), float(s.max())
        ys = 10 + k * band + (band - 10) * (1 - ((s - lo) / (hi - lo) if hi > lo else 0.5 + 0 * s))
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        name = escape(leads[k] if leads and k < len(leads) else f"lead {k + 1}")
        parts.append(f'<text x="4" y="{14 + k * band + band / 2:.0f}" font-size="11">{name}</text>')
        parts.append(f'<polyline fill="none" stroke="#1f3b73" stroke-width="1" points="{pts}"/>')
    top = 10 + c * band + 6
    rgb = colour(heat[idx])
    step = (width - left - 10) / len(idx)
    for x, (r, g, b) in zip(xs, rgb, strict=True):
        fill = f"#{r:02x}{g:02x}{b:02x}"
        parts.append(f'<rect x="{x:.1f}" y="{top:.0f}" width="{step + 0.6:.2f}" height="24" '
                     f'fill="{fill}"/>')  # fmt: skip
    parts.append(f'<text x="4" y="{top + 16:.0f}" font-size="11">map</text>')
    height = top + 48
    parts.append(f'<text x="4" y="{height - 6:.0f}" font-size="11">{escape(caption)}</text>')
    body = "\n".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n'
    )
