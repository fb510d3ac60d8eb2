"""The data root and the one download function every dataset uses.

Data root: ``data_dir`` argument (``--data-dir``) > ``$HEALTHCNN_DATA`` > ``~/.cache/healthcnn``,
laid out as ``medmnist/<official file name>``, ``ham10000/``, ``ecg/<database>/``.

``download`` streams to ``<dest>.part``, resumes a partial ``.part`` with an HTTP Range request
(restarting when the server ignores it), verifies the published checksum and only then renames
the file into place, so a final file is always complete and verified. Offline it says exactly
which file to place where.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from .._progress import Progress

ENV_VAR = "HEALTHCNN_DATA"
DEFAULT_ROOT = Path("~/.cache/healthcnn")
CHUNK_SIZE = 1 << 16


class DataError(ValueError):
    """A dataset file is missing, unreadable, malformed or could not be downloaded."""


class ChecksumError(DataError):
    """A file's MD5/SHA-256 does not match the published value."""


def data_root(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``data_dir`` if given, else ``$HEALTHCNN_DATA``, else ``~/.cache/healthcnn``.

    The folder is not created here (it may be a read-only shared copy); writers create what
    they need.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_ROOT.expanduser()


def file_hash(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file, read in chunks (``algorithm``: ``"md5"`` or ``"sha256"``)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_problem(
    path: Path, md5: str | None, sha256: str | None, sha256_prefix: str | None = None
) -> str | None:
    """``None`` when ``path`` matches every given checksum, else a sentence saying what differs.

    ``sha256_prefix`` checks only the first hex digits of the SHA-256, for files whose publisher
    gives no more (torchvision names its weight files ``resnet18-f37072fd.pth``: the first 8 hex
    digits of the file's SHA-256)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        actual = file_hash(path, algorithm)
        if actual.lower() != expected.lower():
            return f"{algorithm.upper()} is {actual}, expected {expected}"
    if sha256_prefix is not None:
        actual = file_hash(path, "sha256")
        if not actual.startswith(sha256_prefix.lower()):
            return f"SHA-256 is {actual}, expected one starting with {sha256_prefix}"
    return None


def verify_file(
    path: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    url: str | None = None,
    sha256_prefix: str | None = None,
) -> Path:
    """Raise ``ChecksumError`` (naming the file, and the URL to fetch it again) unless ``path``
    matches the given checksums; returns the path."""
    path = Path(path)
    problem = checksum_problem(path, md5, sha256, sha256_prefix)
    if problem is not None:
        where = f"; download it again from {url}" if url else ""
        raise ChecksumError(
            f"checksum mismatch for {path}: {problem} (corrupt or a different "
            f"version of the file){where}"
        )
    return path


def _placement_hint(
    dest: Path, url: str, md5: str | None, sha256: str | None, sha256_prefix: str | None = None
) -> str:
    pairs = (("MD5", md5), ("SHA-256", sha256), ("SHA-256 starting with", sha256_prefix))
    sums = ", ".join(f"{k} {v}" for k, v in pairs if v)
    sums = f" (expected {sums})" if sums else ""
    return (
        f"download {url} on a connected machine and place it at {dest}{sums}; or point "
        f"--data-dir / ${ENV_VAR} at a folder that already holds it"
    )


def _total_from_headers(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The full file size from Content-Range (``bytes a-b/total``) or Content-Length."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1].strip()
        if total.isdigit():
            return int(total)
    length = response.headers.get("Content-Length")
    if length is not None and length.isdigit():
        return int(length) + offset
    return None


def _fetch_once(url: str, part: Path, *, timeout: float, progress: bool, desc: str) -> None:
    """One HTTP transfer into ``part``, resuming from its current size when it exists.

    Returns when the server has sent everything it announced; raises ``_Interrupted`` when the
    stream ends early (the ``.part`` stays for the next attempt)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "healthcnn"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # range not satisfiable: the .part is already complete
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        if offset and status != 206:  # the server ignored Range: start over
            offset = 0
        total = _total_from_headers(response, offset)
        mode = "ab" if offset else "wb"
        received = offset
        bar = Progress(total, desc=desc, unit="B", enabled=progress, initial=offset)
        try:
            with open(part, mode) as fh:
                while True:
                    try:
                        chunk = response.read(CHUNK_SIZE)
                    except (ConnectionError, TimeoutError, http.client.HTTPException):
                        raise _Interrupted(received, total) from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and received < total:
        raise _Interrupted(received, total)


class _Interrupted(Exception):
    def __init__(self, received: int, total: int | None) -> None:
        of = f" of {total:,}" if total is not None else ""
        super().__init__(f"connection closed after {received:,}{of} bytes")
        self.received = received
        self.total = total


# URLError covers refused connections and DNS failures; the rest are failures mid-request.
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 2,
    sha256_prefix: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, resuming and verifying; returns ``dest``.

    - an existing ``dest`` that matches the checksums is kept (no network access);
    - bytes go to ``<dest>.part``; a ``.part`` left by an interrupted run is resumed with an
      HTTP Range request (restarted when the server ignores Range);
    - a transfer cut short is resumed up to ``retries`` times in this call; after that the
      ``.part`` stays and the next call resumes it;
    - on checksum mismatch the ``.part`` is deleted and ``ChecksumError`` names the file and
      URL; only a verified file is renamed into place (``os.replace``, atomic);
    - offline, a timeout or an HTTP error raise ``DataError`` saying which file to place where.

    ``sha256_prefix`` verifies only the leading hex digits of the SHA-256 (see
    :func:`checksum_problem`).
    """
    dest = Path(dest)
    sums = (md5, sha256, sha256_prefix)
    if dest.exists() and any(sums) and checksum_problem(dest, *sums) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempts = max(0, int(retries)) + 1
    for attempt in range(attempts):
        try:
            _fetch_once(url, part, timeout=timeout, progress=progress, desc=dest.name)
            break
        except _Interrupted as exc:
            if attempt + 1 < attempts:
                continue
            raise DataError(
                f"download of {url} was interrupted ({exc}); the partial file {part} was kept: "
                f"run the same command again to resume, or "
                f"{_placement_hint(dest, url, *sums)}"
            ) from None
        except urllib.error.HTTPError as exc:
            raise DataError(
                f"could not download {url}: HTTP {exc.code} {exc.reason}; "
                f"{_placement_hint(dest, url, *sums)}"
            ) from None
        except _NETWORK_ERRORS as exc:
            reason = getattr(exc, "reason", None) or exc
            raise DataError(
                f"could not download {url} (offline or unreachable: {reason}); "
                f"{_placement_hint(dest, url, *sums)}"
            ) from None
    problem = checksum_problem(part, *sums)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"checksum mismatch for {dest} downloaded from {url}: {problem}; the corrupt "
            f"download was removed. Try again, or {_placement_hint(dest, url, *sums)}"
        )
    os.replace(part, dest)
    return dest
