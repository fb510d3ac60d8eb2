"""The bundle's fitted trust rules: a prediction-set rule and an abstain rule, in ``trust.json``.

``healthcnn calibrate`` fits them on the bundle's validation split and writes this small record
into the sealed bundle (written atomically, then added to the manifest by :func:`seal_file`, as
``export`` adds ``model.onnx``); ``predict`` then returns each input's set and abstain flag.
A ``trust.json`` the manifest does not list is not part of the bundle and is ignored.

::

    {"format": "healthcnn-trust", "format_version": 1, "fitted_on": "val", "data": "...",
     "n_val": 120, "model_sha256": "...",
     "conformal": ConformalClassifier.to_dict() or null,
     "abstain": AbstainRule.to_dict() (softmax confidence) or null}

``model_sha256`` ties the rules to the weights they were fitted for: rules of other weights are
refused on load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from .._json import dumps
from ..metrics.conformal import ConformalClassifier
from ..metrics.selective import AbstainRule
from .schema import BundleError
from .seal import MANIFEST_FILE, read_json_object, read_manifest, seal_file

TRUST_FILE = "trust.json"
TRUST_FORMAT = "healthcnn-trust"


@dataclass(frozen=True)
class TrustRules:
    """The rules read from a bundle (either may be ``None``) and the record they came from."""

    conformal: ConformalClassifier | None
    abstain: AbstainRule | None
    record: dict[str, Any]


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
        conformal = None if sets is None else ConformalClassifier.from_dict(sets)
        rule = None if abstain is None else AbstainRule.from_dict(abstain)
    except (ValueError, AttributeError) as exc:
        raise BundleError(f"{where / TRUST_FILE}: {exc}") from None
    if conformal is None and rule is None:
        raise BundleError(f"{where / TRUST_FILE} holds neither a set rule nor an abstain rule")
    return TrustRules(conformal, rule, record)
