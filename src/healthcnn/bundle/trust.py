"""The bundle's fitted trust rules: a prediction-set rule and an abstain rule, in ``trust.json``.

``healthcnn calibrate`` fits them on the bundle's validation split and writes this small record
into the sealed bundle (written atomically, then added to the manifest by :func:`seal_file`, as
``export`` adds ``model.onnx``); ``predict`` then returns each input's set and abstain flag.
A ``trust.json`` the manifest does not list is not part of the bundle and is ignored.

::

    {"format": "healthcnn-trust", "format_version": 1, "fitted_on": "val", "data": "...",
     "n_val": 120, "model_sha256": "...",
     "conformal": ConformalClassifier.to_dict() or null,
     "abstain": AbstainRule.to_dict() (softmax confidence) or null,
     "operating_points": {"positive": [class names], "name": "...", "points": [{"name",
       "rule", "target", "threshold", "val_sensitivity", "val_specificity"}, ...]} or null}

The operating points decide on the binary view's score, the summed probabilities of the
``positive`` classes: positive when the score is at least the point's threshold.

``model_sha256`` ties the rules to the weights they were fitted for: rules of other weights are
refused on load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_write_text
from .._json import dumps
from ..metrics.conformal import ConformalClassifier
from ..metrics.selective import AbstainRule
from .schema import BundleError
from .seal import MANIFEST_FILE, read_json_object, read_manifest, seal_file

TRUST_FILE = "trust.json"
TRUST_FORMAT = "healthcnn-trust"


@dataclass(frozen=True)
class DecisionPoints:
    """Operating points fitted on validation for the binary view of ``positive`` classes."""

    positive: tuple[str, ...]
    name: str
    points: tuple[dict[str, Any], ...]

    @classmethod
    def from_dict(cls, record: Any) -> DecisionPoints:
        """Checked: class names, and per point a name, a finite threshold and validation rates
        in [0, 1]."""
        if not isinstance(record, dict):
            raise ValueError("operating_points must be an object")
        positive, points = record.get("positive"), record.get("points")
        if (
            not isinstance(positive, list)
            or not positive
            or not all(isinstance(c, str) for c in positive)
        ):
            raise ValueError("operating_points.positive must be a list of class names")
        if not isinstance(points, list) or not points:
            raise ValueError("operating_points.points must be a non-empty list")
        for i, point in enumerate(points):
            _check_point(point, f"operating_points.points[{i}]")
        return cls(tuple(positive), str(record.get("name", "")), tuple(points))

    def columns(self, classes: Sequence[str]) -> list[int]:
        """Indices of the positive classes among ``classes`` (all must be there)."""
        missing = [c for c in self.positive if c not in classes]
        if missing:
            raise ValueError(f"operating points name classes {missing} the model does not have")
        return [list(classes).index(c) for c in self.positive]

    def decide(self, probs: np.ndarray, classes: Sequence[str]) -> list[dict[str, bool]]:
        """Per row of class probabilities ``(N, K)``: ``{point name: positive?}``."""
        score = np.asarray(probs, dtype=np.float64)[:, self.columns(classes)].sum(axis=1)
        return [{p["name"]: bool(s >= p["threshold"]) for p in self.points} for s in score]


def _check_point(point: Any, where: str) -> None:
    if not isinstance(point, dict) or not isinstance(point.get("name"), str):
        raise ValueError(f"{where} must be an object with a name")
    threshold = point.get("threshold")
    if not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise ValueError(f"{where}.threshold must be a finite number, got {threshold!r}")
    for key in ("val_sensitivity", "val_specificity"):
        rate = point.get(key)
        if not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"{where}.{key} must be a rate in [0, 1], got {rate!r}")


@dataclass(frozen=True)
class TrustRules:
    """The rules read from a bundle (any may be ``None``) and the record they came from."""

    conformal: ConformalClassifier | None
    abstain: AbstainRule | None
    record: dict[str, Any]
    points: DecisionPoints | None = None


def write_trust(bundle_dir: str | Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as the bundle's ``trust.json`` and seal it into the manifest. The bundle
    is checked first (``seal_file``), so a tampered bundle is never re-sealed."""
    bundle_dir = check_sealed(bundle_dir)
    rules_from_record(record, bundle_dir)  # refuse a record that would not load
    path = atomic_write_text(bundle_dir / TRUST_FILE, dumps(record, indent=2) + "\n")
    seal_file(bundle_dir, TRUST_FILE)
    return path


def check_sealed(bundle_dir: str | Path) -> Path:
    """``bundle_dir`` if it has a manifest to seal rules into (version-1 bundles have none)."""
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / MANIFEST_FILE).is_file():
        raise BundleError(
            f"{bundle_dir} has no manifest (a version-1 bundle): write it again with this "
            "healthcnn before storing rules in it"
        )
    return bundle_dir


def read_trust(bundle_dir: str | Path, model_sha256: str | None = None) -> TrustRules | None:
    """The bundle's rules, or ``None`` when its manifest lists no ``trust.json``. Call it on a
    bundle that was verified (``load_bundle``); a record for other weights is refused."""
    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / MANIFEST_FILE).is_file() or TRUST_FILE not in read_manifest(bundle_dir):
        return None
    record = read_json_object(bundle_dir / TRUST_FILE, f"{bundle_dir}: {TRUST_FILE} is missing")
    rules = rules_from_record(record, bundle_dir)
    if model_sha256 is not None and record.get("model_sha256") != model_sha256:
        raise BundleError(
            f"{bundle_dir / TRUST_FILE} was fitted for other weights; run healthcnn calibrate "
            "on this bundle again"
        )
    return rules


def rules_from_record(record: dict[str, Any], where: Path) -> TrustRules:
    """The rules of a record (checked: format, version, and each rule's fields)."""
    if not isinstance(record, dict) or record.get("format") != TRUST_FORMAT:
        raise BundleError(f"{where / TRUST_FILE} is not a {TRUST_FORMAT} record")
    if record.get("format_version") != 1:
        raise BundleError(
            f"{where / TRUST_FILE} has format_version {record.get('format_version')!r}; "
            "this healthcnn reads 1"
        )
    try:
        sets = record.get("conformal")
        abstain = record.get("abstain")
        points = record.get("operating_points")
        conformal = None if sets is None else ConformalClassifier.from_dict(sets)
        rule = None if abstain is None else AbstainRule.from_dict(abstain)
        decisions = None if points is None else DecisionPoints.from_dict(points)
    except (ValueError, AttributeError) as exc:
        raise BundleError(f"{where / TRUST_FILE}: {exc}") from None
    if conformal is None and rule is None:
        raise BundleError(f"{where / TRUST_FILE} holds neither a set rule nor an abstain rule")
    return TrustRules(conformal, rule, record, decisions)
