"""Caches are not data: where decoded arrays are kept between runs, and how they are read back.

The cache folder is ``$HEALTHCNN_CACHE``, else ``$XDG_CACHE_HOME/healthcnn/cache``, else
``~/.cache/healthcnn/cache``; never the data root, which may be shared, read-only or under
version control. A cache is an optimisation only:

- an unwritable cache folder (by its permission bits, so a read-only folder stays untouched even
  for root) gives one warning naming it, and loading goes on without a cache;
- a cache file that cannot be read back is named in a warning, deleted and rebuilt;
- files are written to a temporary name and renamed into place, so a crash never leaves a
  half-written cache file under the final name.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

ENV_VAR = "HEALTHCNN_CACHE"

# folders already warned about in this process (one warning each, not one per load)
_WARNED: set[str] = set()


def cache_root() -> Path:
    """The cache folder (not created here)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path("~/.cache").expanduser()
    return base / "healthcnn" / "cache"


def writable(folder: Path) -> bool:
    """Whether ``folder`` (or its nearest existing parent) is writable by its permission bits
    and for this process."""
    for p in (folder, *folder.parents):
        if p.exists():
            return p.is_dir() and bool(p.stat().st_mode & 0o222) and os.access(p, os.W_OK)
    return False


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def cache_dir(kind: str) -> Path | None:
    """``<cache root>/<kind>``, created; ``None`` (after one warning) when it cannot be used."""
    folder = cache_root() / kind
    problem = None if writable(folder) else "it is not writable"
    if problem is None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"it cannot be created ({exc.strerror or exc})"
    if problem is not None:
        _warn_once(
            str(folder),
            f"cache folder {folder} is unusable: {problem}; loading without a cache (decoding "
            f"again each time). Set {ENV_VAR} to a writable folder to cache decoded data",
        )
        return None
    return folder


def load_array(path: Path, *, mmap: bool = False) -> np.ndarray | None:
    """A cached ``.npy`` array, or ``None`` when absent. A file that cannot be read is named in a
    warning and deleted, so the caller rebuilds it."""
    if not path.is_file():
        return None
    try:
        return np.load(path, mmap_mode="c" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        warnings.warn(
            f"corrupt cache file {path} ({type(exc).__name__}: {exc}); deleting and rebuilding it",
            UserWarning,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return None


def save_array(path: Path, array: np.ndarray) -> bool:
    """Write ``array`` to ``path`` atomically; on failure warn and return False."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(array))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        _warn_once(
            str(path.parent),
            f"could not write the cache file {path} ({exc.strerror or exc}); going on without "
            f"caching. Set {ENV_VAR} to a writable folder",
        )
        return False
    return True


def save_text(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically; on failure return False."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True
