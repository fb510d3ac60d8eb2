"""Putting a bundle directory in place atomically, and recovering from a write that was killed.

A new bundle is written into a hidden sibling ``.<name>.tmp-<pid>-<random>`` and fsynced. An
existing bundle at the path is first moved into ``.<name>.old-<pid>-<random>/bundle``, the new
one renamed into place, and the old one removed. A SIGKILL between those two renames leaves
nothing at the path: :func:`recover` (run by every later write and load of that path) puts the
complete new bundle in place (else the old one) and removes what the dead writer left, saying
what it did. Leftovers of a writer that is still running are never touched.

Only a directory that is empty or is a complete bundle (its manifest checks, and it holds no
file the manifest does not list) is ever replaced: anything else is refused, so ``--out``
pointing at a folder of the user's never deletes their files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from .._atomic import crash_point, dir_mode, fsync_dir, pid_alive, writer_pid
from .schema import BundleError

TMP_MARK = ".tmp-"
OLD_MARK = ".old-"


class BundleRecovered(UserWarning):
    """A later write or load found and repaired what an interrupted bundle write left."""


def check_out_path(directory: Path) -> None:
    """A path a bundle can be written to: a folder of its own (not a filesystem root, ``.``
    or ``..``, which would replace the folder the user stands in)."""
    if directory.name in (".", "..") or directory.expanduser().resolve().name == "":
        raise BundleError(
            f"{directory}: a filesystem root (or . and ..) cannot hold a bundle; give a new "
            f"folder name, e.g. runs/my-model"
        )


def _leftovers(directory: Path, mark: str) -> list[Path]:
    """Hidden siblings ``.<name><mark><pid>-...`` whose writer process has ended."""
    prefix = f".{directory.name}{mark}"
    found = []
    for path in sorted(directory.parent.glob(f"{prefix}*")):
        pid = writer_pid(path.name, prefix) if path.is_dir() else None
        if pid is not None and not pid_alive(pid):
            found.append(path)
    return found


def recover(directory: Path, is_complete: Callable[[Path], bool]) -> list[str]:
    """Repair what a killed write of ``directory`` left; returns what was done (also warned).

    With nothing at ``directory``, the newest complete new bundle (else the old one) is put
    there; every other leftover of a dead writer is removed."""
    if not directory.parent.is_dir():
        return []
    new, old = _leftovers(directory, TMP_MARK), _leftovers(directory, OLD_MARK)
    done = []
    if not directory.exists():
        candidates = [p for p in new[::-1] if is_complete(p)]
        candidates += [p / "bundle" for p in old if is_complete(p / "bundle")]
        if candidates:
            os.replace(candidates[0], directory)
            fsync_dir(directory.parent)
            kind = "new" if candidates[0] in new else "previous"
            done.append(f"put the {kind} bundle from {candidates[0].name} back at {directory}")
    for path in [*new, *old]:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path.name}")
    if done:
        message = f"an earlier write of {directory} was interrupted: " + "; ".join(done)
        warnings.warn(message, BundleRecovered, stacklevel=3)
    return done


def check_replaceable(directory: Path, listed_files: Callable[[Path], set[str]]) -> None:
    """Refuse to replace ``directory`` unless it is empty or a complete bundle holding only
    the files its manifest lists (``listed_files`` raises BundleError when it is not one)."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise BundleError(f"{directory} exists and is not a folder; refusing to replace it")
    present = {p.name for p in directory.iterdir()}
    if not present:
        return
    try:
        listed = listed_files(directory)
    except BundleError as exc:
        raise BundleError(
            f"{directory} exists and is not a complete healthcnn bundle ({exc}); refusing to "
            f"replace it: choose another output folder or remove this one yourself"
        ) from None
    extra = sorted(present - listed)
    if extra:
        raise BundleError(
            f"{directory} holds files that are not part of its bundle ({', '.join(extra[:5])}); "
            f"refusing to replace it: move them or choose another output folder"
        )


def _new_sibling(directory: Path, mark: str) -> Path:
    prefix = f".{directory.name}{mark}{os.getpid()}-"
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=directory.parent))
    os.chmod(path, dir_mode())
    return path


def place(directory: Path, fill: Callable[[Path], None]) -> Path:
    """Create the bundle at ``directory`` by ``fill(tmp)`` (which writes and fsyncs every file
    into the temporary folder ``tmp``), then rename it into place, replacing what is there."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_sibling(directory, TMP_MARK)
    old: Path | None = None
    try:
        fill(tmp)
        fsync_dir(tmp)
        if directory.exists():
            old = _new_sibling(directory, OLD_MARK)
            crash_point(f"rename {directory.name} away")
            os.replace(directory, old / "bundle")
        crash_point(f"rename new {directory.name} into place")
        os.replace(tmp, directory)
        fsync_dir(directory.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not directory.exists() and (old / "bundle").exists():
            os.replace(old / "bundle", directory)  # put the previous bundle back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        crash_point(f"remove old {directory.name}")
        shutil.rmtree(old, ignore_errors=True)
    return directory
