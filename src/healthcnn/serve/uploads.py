"""Uploads of the service: received into a private folder, recognised by their bytes, unpacked
safely, and turned into a bundle's inputs exactly as ``healthcnn predict`` prepares files.

The request body is parsed as it streams (python-multipart's parser, the one Starlette uses),
counting bytes, so an upload over the limit is refused (413) without being stored whole, and the
file part is written only inside the request's private folder (mode 0700, removed when the
request ends) rather than Starlette's spooled files in the system's temporary folder.

What an upload may be, told from its first bytes (the client's file name is used only for its
suffix, never as a path): PNG, JPEG, TIFF, ``.npz``, a DICOM file (``DICM`` at byte 128, or a
``.dcm`` suffix for files without the preamble), NIfTI (``.nii``, or gzip: ``.nii.gz``), or a
zip of a DICOM series (a folder of slices), of a WFDB ECG record (its ``.hea`` and signal
files, kept under their own plain names, since the header names them) or of one
NIfTI/DICOM/image file. Zip members are
checked before anything is extracted: no absolute paths, no ``..``, no links, at most
:data:`MAX_MEMBERS` members and at most the upload limit times :data:`MAX_EXPANSION` bytes
unpacked (a zip bomb is refused, not unpacked).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.multipart import FormParser, parse_options_header

#: most members a zipped upload may hold
MAX_MEMBERS = 4096
#: a zipped upload may unpack to at most this many times the upload limit
MAX_EXPANSION = 8
#: file names kept from a zipped WFDB record
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: suffixes kept from the client's file name (lower case); anything else is told by its bytes
KNOWN_SUFFIXES = (
    ".nii.gz",
    ".nii",
    ".dcm",
    ".dicom",
    ".npz",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".zip",
)


class UploadError(Exception):
    """An upload the service refuses: ``status`` (413, 415, 422) and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Received:
    """The uploaded file inside the request's private folder, and its client-side suffix."""

    path: Path
    suffix: str


class PrivateFolder:
    """A folder only this process's user may enter (``mkdtemp`` makes it 0700), removed with
    everything in it on :meth:`close` (also when the request failed)."""

    def __init__(self, parent: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="upload-", dir=parent))

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> PrivateFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def client_suffix(name: str | bytes | None) -> str:
    """The known suffix of the client's file name ('' when none): ``.nii.gz`` before ``.gz``."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    low = (name or "").lower()
    return next((s for s in KNOWN_SUFFIXES if low.endswith(s)), "")


async def receive(
    chunks: AsyncIterator[bytes], content_type: str, folder: Path, limit: int
) -> Received:
    """Parse a ``multipart/form-data`` body streaming from ``chunks``: its ``file`` field is
    written into ``folder``. Raises :class:`UploadError` (413 over ``limit`` bytes, 422 for a
    body that is not a form with one file)."""
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(
            415, "send the file as multipart/form-data in a field named 'file' (curl -F file=@PATH)"
        )
    files: list = []
    config = {"UPLOAD_DIR": str(folder), "MAX_MEMORY_FILE_SIZE": 0, "UPLOAD_DELETE_TMP": False}
    parser = FormParser(
        "multipart/form-data", None, files.append, boundary=params[b"boundary"], config=config
    )
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise UploadError(413, f"the upload is larger than the limit of {limit} bytes")
            parser.write(chunk)
        parser.finalize()
    except UploadError:
        raise
    except Exception as exc:  # python-multipart raises its own error types for bad bodies
        raise UploadError(
            422, f"the form data could not be parsed ({type(exc).__name__})"
        ) from None
    finally:
        for f in files:
            f.close()
    return _the_file(files, folder)


def _the_file(files: list, folder: Path) -> Received:
    chosen = [f for f in files if f.field_name == b"file"]
    if len(chosen) != 1:
        raise UploadError(422, "the form must hold exactly one file, in a field named 'file'")
    f = chosen[0]
    if f.size == 0 or f.actual_file_name is None:
        raise UploadError(422, "the uploaded file is empty")
    suffix = client_suffix(f.file_name)
    target = folder / ("upload" + suffix)
    os.replace(os.fsdecode(f.actual_file_name), target)
    return Received(target, suffix)


def _sniffed_suffix(path: Path, suffix: str) -> str:
    """The suffix the file's bytes call for (the client's where the bytes cannot say)."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if head[128:132] == b"DICM":
        return ".dcm"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if head.startswith(b"\x1f\x8b"):
        return ".nii.gz"
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return ".nii"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return ".npz" if suffix == ".npz" or _is_npz(path) else ".zip"
    if suffix in (".dcm", ".dicom"):
        return ".dcm"  # DICOM without the 128-byte preamble: let the reader decide
    raise UploadError(
        415,
        "unsupported file: not PNG, JPEG, TIFF, .npz, DICOM, NIfTI, or a zip of a DICOM series "
        "or of a WFDB record (.hea and .dat)",
    )


def _is_npz(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def input_path(received: Received, folder: Path, limit: int) -> Path:
    """The path ``healthcnn predict`` would be given for this upload: the file renamed to the
    suffix its bytes call for, or the folder (a DICOM series) or single file a zip holds."""
    suffix = _sniffed_suffix(received.path, received.suffix)
    path = received.path.with_name("input" + suffix)
    os.replace(received.path, path)
    return _unzipped(path, folder / "unzipped", limit) if suffix == ".zip" else path


def _unzipped(path: Path, out: Path, limit: int) -> Path:
    try:
        with zipfile.ZipFile(path) as z:
            members = [m for m in z.infolist() if not m.is_dir()]
            _check_members(members, limit)
            out.mkdir(mode=0o700)
            names = _record_names(members) or [
                f"{i:05d}" + client_suffix(m.filename) for i, m in enumerate(members)
            ]
            for m, name in zip(members, names, strict=True):
                with z.open(m) as src, (out / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as exc:
        raise UploadError(422, f"the zip file could not be read ({exc})") from None
    headers = sorted(out.glob("*.hea"))
    if headers:  # a WFDB record: its header names its signal file
        return headers[0]
    files = sorted(out.iterdir())
    if len(files) == 1:  # one NIfTI, DICOM or image file, zipped
        return input_path(Received(files[0], client_suffix(files[0].name)), out, limit)
    return out  # a DICOM series: the reader sorts the slices by position, not by name


def _record_names(members: list[zipfile.ZipInfo]) -> list[str] | None:
    """The members' own base names when the zip holds one WFDB record (its header refers to
    the signal file by name); ``None`` otherwise. Names must be plain (letters, digits, ``_``,
    ``-``, ``.``)."""
    bases = [m.filename.replace("\\", "/").rsplit("/", 1)[-1] for m in members]
    headers = [b for b in bases if b.lower().endswith(".hea")]
    if not headers:
        return None
    if len(headers) > 1:
        raise UploadError(422, f"the zip file holds {len(headers)} WFDB headers; send one record")
    if len(set(bases)) != len(bases) or not all(_PLAIN.fullmatch(b) for b in bases):
        raise UploadError(422, "a WFDB record's files need distinct plain names (A-Z, 0-9, _-.)")
    return bases


def _check_members(members: list[zipfile.ZipInfo], limit: int) -> None:
    if not members:
        raise UploadError(422, "the zip file holds no files")
    if len(members) > MAX_MEMBERS:
        raise UploadError(422, f"the zip file holds {len(members)} files; at most {MAX_MEMBERS}")
    for m in members:
        name = m.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or ":" in name.split("/")[0]:
            raise UploadError(422, f"the zip file names a path outside itself: {m.filename!r}")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise UploadError(422, f"the zip file holds a link: {m.filename!r}")
    unpacked = sum(m.file_size for m in members)
    if unpacked > limit * MAX_EXPANSION:
        raise UploadError(
            413, f"the zip file unpacks to {unpacked} bytes; at most {limit * MAX_EXPANSION}"
        )
