"""Small argument checks shared across the package; each raises with the value and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

SPATIAL_DIMS = (1, 2, 3)


def check_spatial_dims(spatial_dims: object) -> int:
    """Return ``spatial_dims`` as an int, or raise if it is not 1, 2 or 3."""
    if isinstance(spatial_dims, bool) or not isinstance(spatial_dims, int):
        raise TypeError(
            f"spatial_dims must be the int 1 (signals), 2 (images) or 3 (volumes), "
            f"got {spatial_dims!r} of type {type(spatial_dims).__name__}"
        )
    if spatial_dims not in SPATIAL_DIMS:
        raise ValueError(
            f"spatial_dims must be 1 (signals), 2 (images) or 3 (volumes), got {spatial_dims}"
        )
    return spatial_dims


def as_tuple(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """Expand an int to an ``n``-tuple, or check that a sequence has ``n`` ints."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got {value!r}")
    if isinstance(value, int):
        return (value,) * n
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of {n} ints, got {value!r}") from None
    if len(items) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise ValueError(
            f"{name} must be an int or a sequence of {n} ints (one per spatial dimension), "
            f"got {value!r}"
        )
    return items


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> ValueError:
    """A ValueError for an unknown name that lists the valid ones and the closest match."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}")
