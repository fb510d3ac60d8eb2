"""``Estimate``: a metric value with its confidence interval, and the input checks metrics share.

Every metric with uncertainty returns an :class:`Estimate` (value, CI low, CI high, method, n,
level). It converts to ``float`` (the value) so code that only wants the number keeps working,
and to a numpy 0-d array (``np.isnan(est)``, ``pytest.approx``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

NAN = float("nan")


class DegenerateMetricWarning(UserWarning):
    """A metric is undefined for this input (e.g. AUC with a single class) and was set to NaN
    or computed over the defined parts only."""


def record_dict(record: Any) -> dict[str, Any]:
    """A result dataclass's fields in declaration order, a nested result (an
    :class:`Estimate`, ...) through its own ``as_dict``."""
    out = {}
    for f in fields(record):
        v = getattr(record, f.name)
        out[f.name] = v.as_dict() if hasattr(v, "as_dict") else v
    return out


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        value: the metric on the data given.
        ci_low, ci_high: the interval bounds (NaN when no interval was asked for or it is
            undefined).
        method: how the interval was computed (``"delong"``, ``"wilson"``, ``"bootstrap"``, ...;
            ``"none"`` without an interval).
        n: the number of samples (cases) the value is computed from.
        level: the interval's coverage (0.95 for a 95% CI).
    """

    value: float
    ci_low: float = NAN
    ci_high: float = NAN
    method: str = "none"
    n: int = 0
    level: float = 0.95

    def __float__(self) -> float:
        return float(self.value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(float(self.value), dtype=dtype)

    def as_dict(self) -> dict[str, Any]:
        """``{value, ci_low, ci_high, method, n}`` with plain Python numbers (NaN stays NaN)."""
        return {
            "value": float(self.value),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "method": self.method,
            "n": int(self.n),
        }

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        if math.isnan(self.ci_low) or math.isnan(self.ci_high):
            return format(float(self.value), spec)
        return (
            f"{format(float(self.value), spec)} "
            f"({format(float(self.ci_low), spec)}-{format(float(self.ci_high), spec)})"
        )


# ---- shared input checks ------------------------------------------------------------------------


def check_level(level: float) -> float:
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be a coverage in (0, 1) such as 0.95, got {level!r}")
    return float(level)


def as_scores(y_score: Any, n: int, name: str = "y_score") -> np.ndarray:
    """``y_score`` as float64 (a copy is never needed: nothing writes to it), checked for length
    and finiteness."""
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim == 0 or s.shape[0] != n:
        got = "a scalar" if s.ndim == 0 else s.shape[0]
        raise ValueError(f"y_true has {n} samples but {name} has {got}; pass one row per sample")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains NaN or inf; check the model output")
    return s


def as_binary_labels(y_true: Any, name: str = "y_true") -> np.ndarray:
    """1-D 0/1 (or bool) labels as a bool array; other values raise."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {y.shape}")
    if y.dtype == bool:
        return y
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(
            f"{name} must hold 0/1 labels, got values {values[:10].tolist()}; for multi-class "
            f"data choose the positive class(es) first (e.g. y >= 2)"
        )
    return y.astype(bool)


def same_length(*arrays: np.ndarray, names: tuple[str, ...] | None = None) -> int:
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        names = names or tuple(f"array {i}" for i in range(len(arrays)))
        detail = ", ".join(f"{nm} has {n}" for nm, n in zip(names, lengths, strict=True))
        raise ValueError(f"inputs must have the same number of samples: {detail}")
    return lengths[0] if lengths else 0


def degenerate(message: str, stacklevel: int = 3) -> float:
    """Warn with :class:`DegenerateMetricWarning` and return NaN."""
    warnings.warn(message, DegenerateMetricWarning, stacklevel=stacklevel)
    return NAN


def z_value(level: float) -> float:
    """The two-sided standard normal quantile for ``level`` (1.959964 for 0.95)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + check_level(level) / 2.0)


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))
