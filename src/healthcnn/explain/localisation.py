"""Does a map point at the evidence? Two numbers for maps whose true region is known.

- The pointing game (Zhang et al., ECCV 2016): a hit when the map's maximum lies inside the
  region (ties: any maximal position inside counts).
- Energy inside the box: the share of the map's total mass that falls in the region (0 for a map
  of zeros).
"""

from __future__ import annotations

import numpy as np


def _checked(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    maps, masks = np.asarray(maps, dtype=np.float64), np.asarray(masks, dtype=bool)
    if maps.shape != masks.shape:
        raise ValueError(f"maps {maps.shape} and region masks {masks.shape} must have one shape")
    if not masks.reshape(len(masks), -1).any(axis=1).all():
        raise ValueError("every sample needs a non-empty region mask")
    if (maps < 0).any() or not np.isfinite(maps).all():
        raise ValueError("maps must be finite and non-negative (as explain returns them)")
    return maps.reshape(len(maps), -1), masks.reshape(len(masks), -1)


def pointing_hits(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per sample: whether a maximum of the map lies inside its region."""
    m, r = _checked(maps, masks)
    top = m == m.max(axis=1, keepdims=True)
    return (top & r).any(axis=1)


def energy_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per sample: the map's mass inside the region over its total mass (0 when all zeros)."""
    m, r = _checked(maps, masks)
    total = m.sum(axis=1)
    inside = (m * r).sum(axis=1)
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)
