"""Uploads: the private folder (0700, removed with its contents even after a failure), file kinds
told from their bytes (the client's name only lends a suffix), and zips checked before any member
is unpacked (paths outside, links, too many members, too much unpacked)."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("python_multipart")
from PIL import Image

from healthcnn.serve.uploads import (
    MAX_MEMBERS,
    PrivateFolder,
    Received,
    UploadError,
    client_suffix,
    input_path,
)


def test_private_folder_is_owner_only_and_removed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), PrivateFolder(tmp_path) as folder:
        assert stat.S_IMODE(folder.path.stat().st_mode) == 0o700
        (folder.path / "x").write_bytes(b"data")
        raise RuntimeError("the request failed")
    assert not list(tmp_path.iterdir())


def test_client_names_lend_only_a_known_suffix() -> None:
    assert client_suffix("scan.NII.GZ") == ".nii.gz"
    assert client_suffix(b"../../etc/passwd") == ""
    assert client_suffix("Doe^Jane.dcm") == ".dcm"
    assert client_suffix(None) == ""


def write(folder: Path, data: bytes, suffix: str = "") -> Received:
    path = folder / ("upload" + suffix)
    path.write_bytes(data)
    return Received(path, suffix)


def png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, images=np.zeros((1, 4, 4), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "suffix", "told"),
    [
        (png(), ".dcm", ".png"),  # the bytes win over the name
        (b"\xff\xd8\xff\xe0" + bytes(20), "", ".jpg"),
        (b"II*\x00" + bytes(20), "", ".tif"),
        (bytes(128) + b"DICM" + bytes(20), "", ".dcm"),
        (b"\x08\x00\x05\x00" + bytes(20), ".dcm", ".dcm"),  # no preamble: the name says DICOM
        (b"\x1f\x8b" + bytes(20), "", ".nii.gz"),
        (bytes(344) + b"n+1\x00" + bytes(8), "", ".nii"),
        (npz(), "", ".npz"),
    ],
)
def test_kinds_are_told_from_the_bytes(tmp_path, data, suffix, told) -> None:
    assert input_path(write(tmp_path, data, suffix), tmp_path, 10**6).name == "input" + told


def test_unknown_bytes_are_415(tmp_path) -> None:
    with pytest.raises(UploadError) as err:
        input_path(write(tmp_path, b"%PDF-1.7 a document", ".png"), tmp_path, 10**6)
    assert err.value.status == 415


def zip_of(members: dict[str, bytes], *, link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_a_zip_of_one_file_is_that_file_and_of_many_a_folder(tmp_path) -> None:
    one = input_path(write(tmp_path, zip_of({"deep/dir/scan.png": png()})), tmp_path, 10**6)
    assert one.suffix == ".png" and one.parent.name == "unzipped"
    other = tmp_path / "b"
    other.mkdir()
    series = {f"s/{k}.dcm": bytes(128) + b"DICM" for k in range(3)}
    folder = input_path(write(other, zip_of(series)), other, 10**6)
    assert folder.is_dir() and sorted(p.name for p in folder.iterdir()) == [
        "00000.dcm", "00001.dcm", "00002.dcm"]  # fmt: skip


@pytest.mark.parametrize(
    ("members", "link", "status", "words"),
    [
        ({"../up.dcm": b"x", "b.dcm": b"y"}, None, 422, "outside"),
        ({"/abs.dcm": b"x", "b.dcm": b"y"}, None, 422, "outside"),
        ({"a.dcm": b"x"}, "b.dcm", 422, "link"),
        ({f"{k}.dcm": b"" for k in range(MAX_MEMBERS + 1)}, None, 422, "at most"),
        ({"a.dcm": bytes(9000)}, None, 413, "unpacks to"),
        ({}, None, 422, "no files"),
    ],
)
def test_unsafe_zips_are_refused_before_unpacking(tmp_path, members, link, status, words) -> None:
    with pytest.raises(UploadError) as err:
        input_path(write(tmp_path, zip_of(members, link=link)), tmp_path, 1000)
    assert err.value.status == status and words in err.value.message
    assert not (tmp_path / "unzipped").exists()
