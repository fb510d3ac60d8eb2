"""One place that checks what a loader read before it becomes a dataset: pixel dtypes and
ranges, NaN/Inf, per-split shape agreement and label values. Nothing is cast silently.

Pixel rules (:func:`image_array`, the result is always uint8):

- ``uint8``: kept as it is.
- ``uint16`` (16-bit PNG/TIFF, 16-bit arrays): the full 16-bit range maps onto 0..255,
  ``round(x * 255 / 65535)``. The same rule for every image, so images stay comparable.
- other integer dtypes (``int8``, ``int16``, ``int32``, ``int64``, ``uint32``, ``uint64``): kept
  exactly when every value lies in 0..255; otherwise refused (signed data such as CT Hounsfield
  units need a window chosen by the user, not a guess).
- floating dtypes: NaN or +-Inf refused (with the count and the first position); values in
  [0, 1] map to ``round(x * 255)``; anything else is refused.
- ``bool``, complex, strings and objects: refused.

Signals (ECG) stay float32 and must be finite (:func:`signal_array`).

Label rules (:func:`class_labels`, :func:`multilabel_targets`, :func:`label_strings`): numbers
only, no NaN (reported as NaN with its position), integral (2.5 is refused, not truncated),
within ``0..K-1`` (without a label map, K = max + 1 <= 10,000); multi-label targets are 0 or
1; string labels must not be empty.

:func:`check_split_shapes` refuses splits whose per-sample shapes differ (a test split of 14x28
images next to 28x28 training images). :func:`validate_arrays` runs the image, label and length
checks together; it is what ``predict`` and any other entry point can call on its inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .root import DataError

UINT16_MAX = 65535
#: without a label map, K = max label + 1 may not exceed this (larger values are not class
#: indices: ids, codes or corrupt bytes)
MAX_CLASSES = 10_000


def _first_bad(mask: np.ndarray) -> str:
    """``"sample 3, position (0, 5, 7)"`` for the first True of ``mask`` (axis 0 = samples)."""
    pos = tuple(int(i) for i in np.argwhere(mask)[0])
    if all(n == 1 for n in mask.shape[1:]):
        return f"sample {pos[0]}"
    return f"sample {pos[0]}, position {pos[1:]}"


def _check_finite(arr: np.ndarray, where: str, what: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        first = arr[tuple(np.argwhere(bad)[0])]
        raise DataError(
            f"{where}: {int(bad.sum())} {what} value(s) are NaN or infinite (first: {first} at "
            f"{_first_bad(bad)}); remove or repair those samples"
        )


def _float_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    _check_finite(arr, where, "pixel")
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        raise DataError(
            f"{where}: float pixels span {float(arr.min()):g}..{float(arr.max()):g}; float "
            "images must lie in [0, 1] (scaled to 0..255) - rescale them or store uint8"
        )
    return np.rint(arr.astype(np.float64) * 255.0).astype(np.uint8)


def _int_pixels(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.dtype == np.uint16:
        return np.rint(arr.astype(np.float64) * (255.0 / UINT16_MAX)).astype(np.uint8)
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255):
        raise DataError(
            f"{where}: {arr.dtype} pixels span {int(arr.min())}..{int(arr.max())}, outside "
            "0..255; only uint16 is scaled automatically (full 16-bit range). Window or "
            "rescale the data to uint8 (or float in [0, 1]) first"
        )
    return arr.astype(np.uint8)


def image_array(arr: np.ndarray, where: str) -> np.ndarray:
    """Pixels or voxels as uint8 by the module's stated rules, or a :class:`DataError`."""
    arr = np.asarray(arr)
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return arr
    if kind == "f":
        return _float_pixels(arr, where)
    if kind in "iu":
        return _int_pixels(arr, where)
    raise DataError(
        f"{where}: images of dtype {arr.dtype} are not accepted; store uint8, uint16 or "
        "float in [0, 1]"
    )


def signal_array(arr: np.ndarray, where: str) -> np.ndarray:
    """A signal array as float32, refusing non-numbers and NaN/Inf."""
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{where}: signals of dtype {arr.dtype} are not numbers")
    _check_finite(arr, where, "signal")
    return arr.astype(np.float32, copy=False)


def numeric_labels(raw: np.ndarray, where: str) -> np.ndarray:
    """Label values as numbers: no strings, no NaN/Inf, no fractions (dtype kept)."""
    raw = np.asarray(raw)
    if raw.dtype.kind not in "biuf":
        raise DataError(f"{where}: labels of dtype {raw.dtype} are not numbers")
    if raw.dtype.kind == "f":
        nan = np.isnan(raw) | np.isinf(raw)
        if nan.any():
            raise DataError(
                f"{where}: {int(nan.sum())} label(s) are NaN or infinite (first: "
                f"{raw[tuple(np.argwhere(nan)[0])]} at {_first_bad(nan)}); every sample needs "
                "a label"
            )
        frac = raw != np.round(raw)
        if frac.any():
            raise DataError(
                f"{where}: label {raw[tuple(np.argwhere(frac)[0])]:g} at {_first_bad(frac)} is "
                f"not an integer ({int(frac.sum())} fractional label(s)); class labels are "
                "whole numbers 0..K-1"
            )
    return raw


def class_labels(raw: np.ndarray, where: str, num_classes: int | None = None) -> np.ndarray:
    """One class per sample: ``(N,)`` or ``(N, 1)`` numbers -> int64 ``(N,)`` in 0..K-1.

    ``num_classes`` (the label map's size) bounds the range; without it K is max + 1, at most
    :data:`MAX_CLASSES`.
    """
    raw = numeric_labels(raw, where)
    if not (raw.ndim == 1 or (raw.ndim == 2 and raw.shape[1] == 1)):
        raise DataError(f"{where}: labels have shape {raw.shape}; expected (N,) or (N, 1)")
    flat = raw.reshape(-1).astype(np.int64)
    k = num_classes if num_classes is not None else (int(flat.max()) + 1 if flat.size else 0)
    if num_classes is None and k > MAX_CLASSES:
        i = int(np.argmax(flat))
        raise DataError(
            f"{where}: label {flat[i]} at sample {i} would mean {k:,} classes; without a label "
            f"map at most {MAX_CLASSES:,} are accepted - labels must be class indices 0..K-1"
        )
    bad = (flat < 0) | (flat >= k)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"{where}: label {flat[i]} at sample {i} is outside the class range 0..{k - 1}"
        )
    return flat


def multilabel_targets(raw: np.ndarray, where: str) -> np.ndarray:
    """Multi-label targets ``(N, K)`` of 0/1 -> float32."""
    raw = numeric_labels(raw, where)
    if raw.ndim != 2:
        raise DataError(f"{where}: multi-label targets must be (N, K), got {raw.shape}")
    bad = ~np.isin(raw, (0, 1))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(
            f"{where}: row {row} holds {raw[row].tolist()}; multi-label targets must be 0 or 1"
        )
    return raw.astype(np.float32)


def label_strings(
    values: Sequence[str], where: str, classes: Sequence[str] | None = None, first_row: int = 2
) -> list[str]:
    """Stripped string labels; an empty one (or one outside ``classes``) is refused with its
    row number (``first_row``: the file row of ``values[0]``, 2 for a CSV with a header)."""
    out = [str(v).strip() for v in values]
    for i, value in enumerate(out):
        if not value:
            raise DataError(
                f"{where} row {i + first_row}: the label is empty; every row needs a class "
                "(drop the row or fill in its label)"
            )
        if classes is not None and value not in classes:
            raise DataError(
                f"{where} row {i + first_row}: label {value!r} is not one of the classes "
                f"{list(classes)}"
            )
    return out


def check_split_shapes(shapes: Mapping[str, Sequence[int]], where: str) -> None:
    """Refuse splits whose per-sample shapes (channels and spatial sizes) differ."""
    distinct = {tuple(int(s) for s in shape) for shape in shapes.values()}
    if len(distinct) > 1:
        listed = ", ".join(f"{name} {tuple(shape)}" for name, shape in shapes.items())
        raise DataError(
            f"{where}: the splits disagree in sample shape ({listed}); a model trained on one "
            "shape cannot score another - resize every split to one size"
        )


def validate_arrays(
    images: np.ndarray,
    labels: np.ndarray,
    where: str,
    *,
    num_classes: int | None = None,
    multilabel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 by :func:`image_array`) and labels (int64 classes or float32 multi-label
    targets), checked to have one label per image."""
    pixels = image_array(images, f"{where} images")
    if multilabel:
        targets = multilabel_targets(labels, f"{where} labels")
    else:
        targets = class_labels(labels, f"{where} labels", num_classes)
    if pixels.shape[0] != targets.shape[0]:
        raise DataError(f"{where}: {pixels.shape[0]} images but {targets.shape[0]} labels")
    return pixels, targets
