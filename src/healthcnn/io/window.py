"""Intensity windows (the VOI step): presets in Hounsfield units, explicit centre/width, or
the file's own window.

A window maps ``[centre - width/2, centre + width/2]`` linearly onto ``[0, 1]`` and clips
outside it (float32 out). It is applied after the Modality LUT (rescale slope/intercept), never
before, and before a MONOCHROME1 inversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validate import unknown_name
from .image import Step

#: (centre, width) in Hounsfield units of the common CT windows
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "soft_tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}

#: what ``window=`` accepts besides a preset name and a (centre, width) pair
FILE_WINDOW = "file"

WindowSpec = str | Sequence[float] | None


def parse_window(spec: Any) -> tuple[str, tuple[float, float] | None]:
    """``(kind, (centre, width))``: kind is ``"none"``, ``"file"`` (centre/width still to be
    read), ``"preset:NAME"`` or ``"explicit"``; raises ValueError on anything else."""
    if spec is None:
        return "none", None
    if isinstance(spec, str):
        name = spec.strip().lower().replace("-", "_").replace(" ", "_")
        if name == FILE_WINDOW:
            return "file", None
        if name in WINDOW_PRESETS:
            return f"preset:{name}", WINDOW_PRESETS[name]
        if "," in spec:
            return parse_window(spec.split(","))
        raise unknown_name(
            "window preset (or give 'file' or CENTRE,WIDTH)", spec, [*WINDOW_PRESETS, FILE_WINDOW]
        )
    try:
        centre, width = (float(v) for v in spec)
    except (TypeError, ValueError):
        raise ValueError(
            f"a window is a preset name, 'file' or (centre, width) numbers, got {spec!r}"
        ) from None
    if not (np.isfinite(centre) and np.isfinite(width) and width > 0):
        raise ValueError(f"a window needs a finite centre and a positive width, got {spec!r}")
    return "explicit", (centre, width)


def apply_window(values: np.ndarray, centre: float, width: float, source: str) -> tuple:
    """``(windowed float32 array in [0, 1], Step)``."""
    low = centre - width / 2.0
    out = np.clip((values.astype(np.float32) - np.float32(low)) / np.float32(width), 0.0, 1.0)
    step = Step("window", {"centre": float(centre), "width": float(width), "source": source})
    return out.astype(np.float32, copy=False), step


def window_record(spec: WindowSpec) -> dict[str, Any] | None:
    """The window as the bundle's preprocessing record stores it (``None``: no window)."""
    kind, cw = parse_window(spec)
    if kind == "none":
        return None
    if kind == "file":
        return {"source": FILE_WINDOW}
    return {"source": kind, "centre": cw[0], "width": cw[1]}
