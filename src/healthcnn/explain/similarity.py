"""How alike two maps are: Spearman's rank correlation and the structural similarity (SSIM).

Both compare one pair of maps of any number of axes (1D strips, 2D images, 3D volumes). They are
checked against ``scipy.stats.spearmanr`` and ``skimage.metrics.structural_similarity`` in the
tests.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a flat array, ties sharing their mean rank."""
    v = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.flatnonzero(np.r_[True, sorted_v[1:] != sorted_v[:-1]])
    ends = np.r_[starts[1:], len(v)]
    mean_rank = (starts + ends + 1) / 2.0  # ranks start..end-1 (0-based) -> mean, 1-based
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps of the same shape. A constant map carries no
    ranking: two constant maps count as identical (1.0), one constant map as unrelated (0.0)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes {a.shape} and {b.shape} cannot be compared")
    ra, rb = average_ranks(a), average_ranks(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    na, nb = np.sqrt((da**2).sum()), np.sqrt((db**2).sum())
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float((da * db).sum() / (na * nb))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 1.0, win_size: int = 7) -> float:
    """Mean structural similarity (Wang et al., 2004) of two maps: a uniform ``win_size`` window
    per axis (shortened to fit a small axis, kept odd), K1 = 0.01, K2 = 0.03 and the sample
    covariance, averaged over the windows that lie inside the map; scikit-image's
    ``structural_similarity`` defaults."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2, 3):
        raise ValueError(f"SSIM needs two 1D, 2D or 3D maps of one shape, got {a.shape}, {b.shape}")
    win = tuple(min(win_size, s if s % 2 else s - 1) for s in a.shape)
    if min(win) < 1:
        raise ValueError(f"maps of shape {a.shape} are too small for SSIM")
    pool = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[a.ndim]
    x = torch.from_numpy(np.stack([a, b, a * a, b * b, a * b]))[None]
    mx, my, mxx, myy, mxy = pool(x, win, stride=1)[0]
    n = float(np.prod(win))
    cov = n / (n - 1) if n > 1 else 1.0
    vx, vy, vxy = cov * (mxx - mx * mx), cov * (myy - my * my), cov * (mxy - mx * my)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())
