"""The bundle manifest: the size and SHA-256 of every file of a bundle.

``manifest.json`` lists the weights, ``config.json``, ``metadata.json`` (which holds the
preprocessing record) and every file added to the bundle later (``model.onnx`` by ``export``,
``report.html`` by ``report``, each through :func:`seal_file`). Loading checks each listed file
in full (no prefix or sample is hashed): a changed, truncated or missing file is refused with
its name. Files the manifest does not list are not part of the bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text, crash_point
from .._json import dumps, read_object
from .schema import BundleError

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "healthcnn-bundle-manifest"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The SHA-256 of the whole file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def write_manifest(directory: Path, names: Iterable[str]) -> Path:
    """Write ``manifest.json`` in ``directory`` listing the files ``names`` (atomically)."""
    files = {name: _entry(directory / name) for name in sorted(names)}
    doc = {"format": MANIFEST_FORMAT, "files": files}
    return atomic_write_text(directory / MANIFEST_FILE, dumps(doc, indent=2) + "\n")


def read_json_object(path: Path, missing: str) -> dict[str, Any]:
    """The JSON object in ``path``; BundleError ``missing`` when the file is absent, and one
    naming the file when it is not valid JSON or not an object."""
    if not path.is_file():
        raise BundleError(missing)
    return read_object(path, BundleError)


def read_manifest(directory: Path) -> dict[str, dict[str, Any]]:
    """The manifest's ``files`` (name -> {bytes, sha256}); BundleError when missing or bad."""
    path = directory / MANIFEST_FILE
    doc = read_json_object(path, f"{directory} is not a sealed bundle: {MANIFEST_FILE} is missing")
    files = doc.get("files")
    if doc.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
        raise BundleError(f"{path} is not a healthcnn bundle manifest")
    for name, entry in files.items():
        bad_name = not isinstance(name, str) or "/" in name or name.startswith(".")
        if bad_name or not isinstance(entry, dict) or not {"bytes", "sha256"} <= set(entry):
            raise BundleError(f"{path}: entry {name!r} is not a file name with bytes and sha256")
    return files


def check_manifest(
    directory: Path, required: Iterable[str], *, skip: str | None = None
) -> dict[str, dict[str, Any]]:
    """Check every listed file but ``skip`` (present, same size, same SHA-256) and that
    ``required`` files are listed; returns the manifest's files. Raises BundleError naming
    the first bad file."""
    files = read_manifest(directory)
    unlisted = sorted(set(required) - set(files))
    if unlisted:
        raise BundleError(f"{directory / MANIFEST_FILE} does not list {', '.join(unlisted)}")
    for name, entry in sorted(files.items()):
        if name == skip:
            continue
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{directory} is not a complete bundle: {name} is missing")
        size = path.stat().st_size
        if size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise BundleError(
                f"{path} was changed after the bundle was written ({size} bytes, SHA-256 "
                f"{sha256_file(path)[:12]}...; the manifest records {entry['bytes']} bytes, "
                f"{str(entry['sha256'])[:12]}...): write the bundle again or restore the file"
            )
    return files


def seal_file(directory: str | Path, name: str) -> Path:
    """Add (or update) the file ``name``, already written into the sealed bundle at
    ``directory``, to its manifest. The rest of the bundle is checked first, so a tampered
    bundle is never re-sealed."""
    directory = Path(directory)
    files = check_manifest(directory, (), skip=name)
    files.pop(name, None)
    crash_point(f"seal {name}")
    return write_manifest(directory, [*files, name])
