"""Atomic file writes: a temporary sibling, fsync, then ``os.replace``.

A reader sees the old file or the new one, never half of one; a failure removes the temporary
file and leaves the old file as it was. Temporary names carry the writing process's id
(``.<name>.<pid>.<random>.tmp``), so a later write of the same file removes what a killed
writer left behind without touching the temporary file of a writer that is still running.

**Crash points.** Every fsync and rename of the toolkit's writers passes :func:`crash_point`.
It does nothing unless ``HEALTHCNN_CRASH_LOG`` is set (then each point's label is appended to
that file) and ``HEALTHCNN_CRASH_AT=N`` (then the process kills itself with SIGKILL at its
N-th point, counting from 0). The crash-point tests run a command once to list its points,
then once per point with a kill there, and check what the next run finds.
"""

from __future__ import annotations

import os
import signal
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

_crash_count = 0


def crash_point(label: str) -> None:
    """A place where a crash must leave nothing lost (see the module docstring)."""
    global _crash_count
    log = os.environ.get("HEALTHCNN_CRASH_LOG")
    if not log:
        return
    index = _crash_count
    _crash_count += 1
    with open(log, "a") as f:
        f.write(f"{index}\t{label}\n")
    if os.environ.get("HEALTHCNN_CRASH_AT") == str(index):
        os.kill(os.getpid(), signal.SIGKILL)


def reset_crash_points() -> None:
    """Start counting crash points from 0 again (a forked test child calls this)."""
    global _crash_count
    _crash_count = 0


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a process we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_pid(name: str, marker: str) -> int | None:
    """The process id in a temporary folder name ``.<target><marker><pid>-...``, or None."""
    _, _, rest = name.partition(marker)
    digits = rest.split("-")[0]
    return int(digits) if digits.isdigit() else None


def _temp_file_pid(name: str) -> int | None:
    """The process id in a temporary file name ``.<target>.<pid>.<random>.tmp``, or None."""
    parts = name.split(".")
    if len(parts) < 5 or not name.startswith(".") or parts[-1] != "tmp":
        return None
    return int(parts[-3]) if parts[-3].isdigit() else None


def _remove_dead_temps(candidates: list[Path]) -> list[Path]:
    removed = []
    for tmp in candidates:
        pid = _temp_file_pid(tmp.name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    if removed:
        names = ", ".join(p.name for p in removed)
        warnings.warn(f"removed leftovers of an interrupted write: {names}", stacklevel=3)
    return removed


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temporary files of earlier writes of ``path`` whose writer process is gone."""
    return _remove_dead_temps(sorted(path.parent.glob(f".{path.name}.*.tmp")))


def remove_stale_temps_in(directory: Path) -> list[Path]:
    """Remove every temporary file in ``directory`` whose writer process is gone (for writers
    whose file names change from one write to the next, such as per-epoch checkpoints)."""
    if not directory.is_dir():
        return []
    return _remove_dead_temps(sorted(directory.glob(".*.tmp")))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give a new file under the current umask."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder under the current umask."""
    return 0o777 & ~_umask()


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Atomically create ``path`` with ``write(tmp)``, which fills a temporary sibling file
    (e.g. a library that writes to a file name); then fsync and rename into place. Parent
    folders are created; the file gets the mode the umask allows, as an ordinary write would.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    prefix = f".{path.name}.{os.getpid()}."
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            crash_point(f"fsync {path.name}")
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        crash_point(f"rename {path.name}")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""
    return atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``atomic_write_bytes`` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
