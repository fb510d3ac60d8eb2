"""Catalog-level operations behind ``healthcnn data list|info|fetch``: which files of a dataset
are present under the data root, what they contain, and downloading the missing ones."""

from __future__ import annotations

import csv
import os
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from .catalog import CATALOG, DatasetInfo, RemoteFile, get_dataset
from .medmnist import REBUILT_FOLDER, npz_summary
from .root import DataError, checksum_problem, data_root, download, file_hash
from .validate import class_labels, multilabel_targets


def _locate(entry: DatasetInfo, remote: RemoteFile, base: Path) -> tuple[Path | None, str]:
    """Where a file is under the root and how trustworthy: "present", "rebuilt" or "missing"."""
    path = base / entry.folder / remote.name
    if path.is_file():
        return path, "present"
    if entry.kind == "medmnist":
        alt = base / REBUILT_FOLDER / remote.name
        if alt.is_file():
            return alt, "rebuilt"
    return None, "missing"


def dataset_status(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """``{"name", "kind", "task", "sizes": {size: state}}`` where state is "present",
    "rebuilt" (third-party copy), "partial" or "missing"."""
    entry = get_dataset(name)
    base = data_root(root)
    sizes = {}
    for size, files in entry.files.items():
        states = [_locate(entry, f, base)[1] for f in files]
        if all(s == "present" for s in states):
            state = "present"
        elif all(s != "missing" for s in states):
            state = "rebuilt"
        elif any(s != "missing" for s in states):
            state = "partial"
        else:
            state = "missing"
        sizes["-" if size is None else str(size)] = state
    return {
        "name": entry.name,
        "kind": entry.kind,
        "task": entry.task,
        "folder": entry.folder,
        "sizes": sizes,
    }


def list_status(root: str | os.PathLike[str] | None = None) -> list[dict[str, object]]:
    """The status of every catalog entry (present or not)."""
    return [dataset_status(name, root) for name in CATALOG]


def _npz_details(path: Path) -> dict[str, object]:
    arrays = npz_summary(path)
    splits = {}
    with np.load(path, allow_pickle=False) as npz:
        for split in ("train", "val", "test"):
            if f"{split}_labels" not in arrays:
                continue
            labels, where = npz[f"{split}_labels"], f"{path}: {split}_labels"
            if labels.ndim == 2 and labels.shape[1] > 1:
                counts = multilabel_targets(labels, where).sum(axis=0).astype(int).tolist()
            else:
                counts = np.bincount(class_labels(labels, where)).tolist()
            splits[split] = {
                "images": list(arrays[f"{split}_images"][0]),
                "labels": list(arrays[f"{split}_labels"][0]),
                "class_counts": counts,
            }
    return {"splits": splits}


def _details(path: Path) -> dict[str, object]:
    """Contents of a present file; one that cannot be read is reported, not raised, so
    ``data info --verify`` lists every problem."""
    try:
        if path.suffix == ".npz":
            return _npz_details(path)
        if path.name == "HAM10000_metadata.csv":
            return _csv_details(path, "dx")
    except DataError as exc:
        return {"problem": f"invalid: {exc}"}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, csv.Error) as exc:
        return {"problem": f"unreadable: {type(exc).__name__}: {exc}"}
    return {}


def _csv_details(path: Path, column: str) -> dict[str, object]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, object] = {"rows": len(rows)}
    if rows and column in rows[0]:
        out["class_counts"] = dict(sorted(Counter(r[column] for r in rows).items()))
    return out


def check_manifest(folder: Path, manifest: str = "MD5SUMS") -> dict[str, object]:
    """Check every file listed in an md5sum-format manifest: ``{"ok": n, "bad": [...],
    "missing": [...]}``."""
    ok, bad, missing = 0, [], []
    for line in (folder / manifest).read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(maxsplit=1)
        path = folder / name.lstrip("*")
        if not path.is_file():
            missing.append(name)
        elif file_hash(path, "md5") != digest.lower():
            bad.append(name)
        else:
            ok += 1
    return {"file": manifest, "ok": ok, "bad": bad, "missing": missing}


def describe_dataset(
    name: str,
    size: int | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    verify: bool = False,
) -> dict[str, object]:
    """Catalog facts plus, for the files present under the root, their shapes, splits and
    class counts (read from headers and labels only; images are not decoded). ``verify``
    also checks each present file's checksum and the folder's manifest (MD5SUMS) if any."""
    entry = get_dataset(name)
    base = data_root(root)
    files = entry.files_for(size)
    info = entry.as_dict()
    info["root"] = str(base)
    info["size"] = size if size is not None else entry.default_size
    found = []
    for remote in files:
        path, state = _locate(entry, remote, base)
        item: dict[str, object] = {
            "name": remote.name,
            "state": state,
            "url": remote.url,
            "md5": remote.md5,
            "sha256": remote.sha256,
            "path": str(path or base / entry.folder / remote.name),
        }
        if path is not None:
            item["bytes"] = path.stat().st_size
            if verify and state == "present" and (remote.md5 or remote.sha256):
                problem = checksum_problem(path, remote.md5, remote.sha256)
                item["checksum"] = "ok" if problem is None else f"MISMATCH: {problem}"
            item.update(_details(path))
        found.append(item)
    info["present"] = found
    manifest_folder = base / entry.folder
    if verify and entry.manifest and (manifest_folder / entry.manifest).is_file():
        info["manifest"] = check_manifest(manifest_folder, entry.manifest)
    return info


def fetch_dataset(
    name: str,
    size: int | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the files of one dataset (one size) into the data root, verified; returns their
    paths. Files without a published checksum are refused unless ``md5`` is given; files
    without a download URL raise a ``DataError`` saying where to place them."""
    entry = get_dataset(name)
    base = data_root(root)
    files = entry.files_for(size)
    if md5 is not None and len(files) != 1:
        raise ValueError(f"--md5 applies to a single file; {entry.name} has {len(files)}")
    out = []
    for remote in files:
        dest = base / entry.folder / remote.name
        expected_md5 = md5 or remote.md5
        if remote.url is None:
            if dest.is_file():
                out.append(dest)
                continue
            raise DataError(
                f"{entry.name}: {remote.name} has no download URL; obtain it from "
                f"{entry.source} and place it at {dest}"
            )
        if expected_md5 is None and remote.sha256 is None:
            raise DataError(
                f"{entry.name}: no published checksum for {remote.name}, so it is not "
                f"downloaded unverified; pass --md5 HASH to accept a known hash "
                f"(URL {remote.url})"
            )
        out.append(
            download(
                remote.url,
                dest,
                md5=expected_md5,
                sha256=remote.sha256,
                progress=progress,
                timeout=timeout,
            )
        )
    return out
