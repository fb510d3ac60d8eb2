"""The preprocessing record: what every later use of a model must do to an input.

Training writes it once into the bundle (``metadata.json["preprocessing"]``); prediction, the
evaluation, the report, the ONNX export and the service read it back only through
:class:`Preprocessing`, never by string keys. Its ``transform()`` and ``views()`` are the
evaluation-time batch transforms, so an input is treated at inference exactly as the network's
validation data were.

Fields (all plain data, JSON round-trip exact):

* ``channels``, ``size``: the data's channels and spatial size (``size`` is ``None`` only in
  old bundles that did not record it).
* ``scale``: the factor raw values are multiplied by before normalisation (``1/255`` for
  uint8 images, ``1.0`` for signals already normalised per lead).
* ``mean``/``std``: per-channel normalisation after scaling (``None``: none).
* ``model_input_size``: the network's spatial input when inputs are resized first (e.g. 28 px
  images upsampled to 64 px inside the batch transform), else ``None``.
* ``views``: ``"single"``, or ``"dihedral8"`` (probabilities averaged over the 8 flips and
  right-angle rotations: test-time augmentation; on non-square inputs, over the 4 of them that
  keep the shape, see :class:`~healthcnn.data.transforms.Dihedral`).
* ``sampling_rate``: Hz of signals; ``leads``: lead names of signals.
* ``fundus``: the full-resolution fundus photograph preprocessing (FOV crop, rescale, local
  contrast) applied to image files before they are resized.
* ``window``, ``orientation``, ``spacing``: medical-format geometry and intensity windowing
  (DICOM/NIfTI readers fill them; ``None`` for data without them).
* ``signal``: how whole ECG records became the model's inputs, so a WFDB record can be given to
  ``predict`` and the service: ``{"band": [low, high] Hz or null (band-pass at the record's own
  rate), "normalise": "per_lead" or "none", "stride": samples between window starts}``; the
  record is resampled to ``sampling_rate``, its ``leads`` picked by name and cut into windows
  of ``size`` samples. ``None`` where inputs are not windows of records (beats, images).

Bundles of format version 1 (written before this record existed) kept these facts under
``input``, ``normalisation``, ``data.sampling_rate`` and ``preprocessing``;
:meth:`Preprocessing.from_metadata` reads both layouts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data.transforms import Compose, Normalize, Resize, dihedral_views

VIEWS = ("single", "dihedral8")


class BundleError(ValueError):
    """A bundle directory is missing files, has invalid JSON, or does not match its weights."""


class PreprocessingError(BundleError):
    """A preprocessing record (or a bundle's metadata) holds an invalid value."""


def _positive_ints(value: Any, dims: int | None, name: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0 and dims:
        return (value,) * dims
    ok = isinstance(value, list | tuple) and len(value) > 0
    ok = ok and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in value)
    if not ok or (dims is not None and len(value) != dims):
        want = f"{dims} of them" if dims else "a list of them"
        raise PreprocessingError(
            f"bundle metadata preprocessing.{name} must be a pixel count or {want}, got {value!r}"
        )
    return tuple(value)


def _floats(value: Any, count: int, name: str, per: str = "channel") -> tuple[float, ...] | None:
    if value is None:
        return None
    ok = isinstance(value, list | tuple) and len(value) == count
    ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in value)
    if not ok:
        raise PreprocessingError(
            f"preprocessing.{name} must be {count} finite numbers (one per {per}), got {value!r}"
        )
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class Preprocessing:
    """What inference must repeat of training's input handling (see the module docstring)."""

    channels: int
    size: tuple[int, ...] | None
    spatial_dims: int
    scale: float = 1 / 255
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    model_input_size: tuple[int, ...] | None = None
    views: str = "single"
    sampling_rate: float | None = None
    leads: tuple[str, ...] | None = None
    fundus: Mapping[str, Any] | None = None
    window: Mapping[str, Any] | None = None
    orientation: str | None = None
    spacing: tuple[float, ...] | None = None
    signal: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.channels, int) or self.channels < 1:
            raise PreprocessingError(f"channels must be a positive integer, got {self.channels!r}")
        if self.spatial_dims not in (1, 2, 3):
            raise PreprocessingError(f"spatial_dims must be 1, 2 or 3, got {self.spatial_dims!r}")
        set_ = object.__setattr__
        set_(self, "size", _positive_ints(self.size, self.spatial_dims, "size"))
        set_(
            self,
            "model_input_size",
            _positive_ints(self.model_input_size, self.spatial_dims, "model_input_size"),
        )
        set_(self, "mean", _floats(self.mean, self.channels, "mean"))
        set_(self, "std", _floats(self.std, self.channels, "std"))
        if (self.mean is None) != (self.std is None):
            raise PreprocessingError("preprocessing needs both mean and std, or neither")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise PreprocessingError(f"preprocessing.std must be positive, got {self.std}")
        if not (
            isinstance(self.scale, int | float) and math.isfinite(self.scale) and self.scale > 0
        ):
            raise PreprocessingError(f"preprocessing.scale must be positive, got {self.scale!r}")
        if self.views not in VIEWS:
            raise PreprocessingError(
                f"preprocessing.views must be one of {VIEWS}, got {self.views!r}"
            )
        self._check_optional_fields()

    def _check_optional_fields(self) -> None:
        set_ = object.__setattr__
        for name in ("fundus", "window"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise PreprocessingError(f"preprocessing.{name} must be a mapping, got {value!r}")
        rate = self.sampling_rate
        if rate is not None:
            ok = isinstance(rate, int | float) and not isinstance(rate, bool)
            if not (ok and math.isfinite(rate) and rate > 0):
                raise PreprocessingError(
                    f"preprocessing.sampling_rate must be positive Hz, got {rate!r}"
                )
        if self.orientation is not None and not isinstance(self.orientation, str):
            raise PreprocessingError(
                f"preprocessing.orientation must be text, got {self.orientation!r}"
            )
        if self.leads is not None:
            if isinstance(self.leads, str) or not isinstance(self.leads, Sequence):
                raise PreprocessingError(f"preprocessing.leads must be names, got {self.leads!r}")
            set_(self, "leads", tuple(str(v) for v in self.leads))
        if self.spacing is not None:
            set_(self, "spacing", _floats(self.spacing, self.spatial_dims, "spacing", "axis"))
        if self.signal is not None:
            set_(self, "signal", _signal_recipe(self.signal, self))

    # -- what inference does ---------------------------------------------------------------------
    @property
    def raw_uint8(self) -> bool:
        """Whether inputs arrive as uint8 pixels or voxels (scaled by 1/255), not as float
        signals already normalised per lead (scale 1)."""
        return self.scale != 1.0

    @property
    def tta(self) -> bool:
        """Whether predictions are averaged over test-time views."""
        return self.views != "single"

    @property
    def network_input_shape(self) -> tuple[int, ...] | None:
        """``(C, *spatial)`` the network sees (after any model-input resize); None if unknown."""
        spatial = self.model_input_size or self.size
        return None if spatial is None else (self.channels, *spatial)

    def normalisation(self) -> Normalize | None:
        """The per-channel normalisation (after scaling), or None."""
        if self.mean is None or self.std is None:
            return None
        return Normalize(list(self.mean), list(self.std))

    def transform(self) -> Compose | None:
        """The evaluation batch transform: normalisation, then a resize to the model input size
        when that differs from the data's (None when there is nothing to do)."""
        norm = self.normalisation()
        steps: list[Any] = [] if norm is None else [norm]
        if self.model_input_size is not None:
            steps.append(Resize(self.model_input_size))
        return Compose(steps) if steps else None

    def views_transforms(self) -> list[Any]:
        """The evaluation transforms whose predictions are averaged: :meth:`transform` alone, or
        followed by each of the 8 flips/right-angle rotations (``views="dihedral8"``; the 4 that
        keep the shape where the recorded input size is not square)."""
        base = self.transform()
        if not self.tta:
            return [base]
        shape = self.model_input_size or self.size  # what the views see, where recorded
        views = dihedral_views(shape if shape is not None and len(shape) >= 2 else None)
        return [Compose([v]) if base is None else Compose([base, v]) for v in views]

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        """The record of a version-2 bundle (``metadata.json["preprocessing"]``)."""
        if not isinstance(data, Mapping):
            raise PreprocessingError(f"preprocessing must be a mapping, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise PreprocessingError(
                f"unknown preprocessing field(s) {unknown}; valid: {sorted(names)}"
            )
        missing = [k for k in ("channels", "spatial_dims") if k not in data]
        if missing:
            raise PreprocessingError(f"preprocessing record lacks {missing}")
        try:
            return cls(**dict(data))
        except TypeError as exc:
            raise PreprocessingError(f"invalid preprocessing record: {exc}") from None

    @classmethod
    def from_legacy(cls, meta: Mapping[str, Any]) -> Preprocessing:
        """The record of a version-1 bundle, from its ``input``, ``normalisation``, ``data``
        and ``preprocessing`` blocks."""
        inp, norm, old = (_block(meta, k) for k in ("input", "normalisation", "preprocessing"))
        size = inp.get("size")
        dims = len(size) if isinstance(size, Sequence) and size else inp.get("spatial_dims", 2)
        rate = _legacy_rate(meta)
        leads = _block(meta, "data").get("leads") or inp.get("leads")
        return cls(
            channels=int(inp.get("channels", 3)),
            size=tuple(size) if isinstance(size, Sequence) and size else None,
            spatial_dims=int(dims),
            scale=float(norm.get("scale", 1 / 255)),
            mean=norm.get("mean") if "std" in norm else None,
            std=norm.get("std") if "mean" in norm else None,
            model_input_size=old.get("model_input_size"),
            views="dihedral8" if old.get("tta") else "single",
            sampling_rate=rate,
            leads=tuple(leads) if isinstance(leads, list) else None,
            fundus=old.get("fundus") or None,
        )

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Preprocessing:
        """The record of a bundle's ``metadata.json`` of any format version."""
        if meta.get("format_version", 1) >= 2:
            return cls.from_dict(meta.get("preprocessing") or {})
        return cls.from_legacy(meta)


def _signal_recipe(value: Any, record: Preprocessing) -> dict[str, Any]:
    """The ``signal`` block checked: only for 1D records with a sampling rate."""
    where = "preprocessing.signal"
    if not isinstance(value, Mapping) or set(value) != {"band", "normalise", "stride"}:
        raise PreprocessingError(f"{where} must have exactly band, normalise and stride")
    if record.spatial_dims != 1 or record.sampling_rate is None:
        raise PreprocessingError(f"{where} needs a 1D record with a sampling_rate")
    band = value["band"]
    if band is not None:
        ok = isinstance(band, Sequence) and len(band) == 2
        ok = ok and all(isinstance(b, int | float) and not isinstance(b, bool) for b in band)
        if not (ok and 0 < band[0] < band[1]):
            raise PreprocessingError(f"{where}.band must be [low, high] Hz, got {band!r}")
        band = [float(b) for b in band]
    if value["normalise"] not in ("per_lead", "none"):
        raise PreprocessingError(f"{where}.normalise must be per_lead or none")
    stride = value["stride"]
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise PreprocessingError(f"{where}.stride must be a positive number of samples")
    return {"band": band, "normalise": value["normalise"], "stride": stride}


#: keys under which version-1 bundles (and hand-written metadata) recorded a sampling rate
_RATE_KEYS = ("sampling_rate", "fs", "sample_rate", "sampling_rate_hz")


def _block(meta: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A version-1 metadata block (``input``, ``normalisation``...) as a dict ({} if absent)."""
    value = meta.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PreprocessingError(f"metadata {name!r} must be a mapping, got {value!r}")
    return dict(value)


def _legacy_rate(meta: Mapping[str, Any]) -> float | None:
    for part in ("data", "input"):
        block = _block(meta, part)
        for key in _RATE_KEYS:
            try:
                rate = float(block.get(key))
            except (TypeError, ValueError):
                continue
            if math.isfinite(rate) and rate > 0:
                return rate
    return None
