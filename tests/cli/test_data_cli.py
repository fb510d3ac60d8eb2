"""``healthcnn data list|info|fetch``."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import shutil
import socket
import threading
from pathlib import Path

import pytest

from healthcnn.cli import main
from healthcnn.data.catalog import CATALOG, RemoteFile
from healthcnn.data.root import file_hash


@pytest.mark.data
def test_list_marks_present_and_rebuilt(data_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "list", "--data-dir", str(data_root), "--format", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(CATALOG)
    assert rows["retinamnist"]["sizes"] == {
        "28": "present",
        "64": "missing",
        "128": "missing",
        "224": "missing",
    }
    assert rows["adrenalmnist3d"]["sizes"]["64"] == "present"
    assert rows["breastmnist"]["sizes"]["28"] == "rebuilt"
    assert rows["ham10000"]["sizes"] == {"-": "present"}
    assert main(["data", "list", "--data-dir", str(data_root)]) == 0
    text = capsys.readouterr().out
    assert f"data root: {data_root}" in text and "synapsemnist3d" in text


@pytest.mark.data
def test_info_shapes_and_counts(data_root: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        main(["data", "info", "retinamnist", "--data-dir", str(data_root), "--format", "json"]) == 0
    )
    info = json.loads(capsys.readouterr().out)
    (item,) = info["present"]
    assert item["state"] == "present"
    assert item["splits"]["train"]["images"] == [1080, 28, 28, 3]
    assert item["splits"]["test"]["class_counts"] == [174, 46, 92, 68, 20]
    assert main(["data", "info", "ham10000", "--data-dir", str(data_root)]) == 0
    text = capsys.readouterr().out
    assert "rows: 10,015" in text and "'nv': 6705" in text


def test_info_unknown_name_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "info", "retinamnst"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'retinamnist'" in err and "Traceback" not in err


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.data
def test_fetch_downloads_and_verifies(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(data_root / "medmnist" / "retinamnist.npz", served / "retinamnist.npz")
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/retinamnist.npz"
        entry = CATALOG["retinamnist"]
        local = dataclasses.replace(
            entry, files={28: (dataclasses.replace(entry.files[28][0], url=url),)}
        )
        monkeypatch.setitem(CATALOG, "retinamnist", local)
        out_root = tmp_path / "root"
        assert (
            main(["data", "fetch", "retinamnist", "--data-dir", str(out_root), "--no-progress"])
            == 0
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    dest = out_root / "medmnist" / "retinamnist.npz"
    assert capsys.readouterr().out.strip() == str(dest)
    assert file_hash(dest) == "bd4c0672f1bba3e3a89f0e4e876791e4"


def test_fetch_offline_and_unverifiable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    entry = CATALOG["pneumoniamnist"]
    offline = dataclasses.replace(
        entry,
        files={
            28: (
                RemoteFile(
                    "pneumoniamnist.npz",
                    f"http://127.0.0.1:{port}/p.npz",
                    md5=entry.files[28][0].md5,
                ),
            )
        },
    )
    monkeypatch.setitem(CATALOG, "pneumoniamnist", offline)
    assert (
        main(
            [
                "data",
                "fetch",
                "pneumoniamnist",
                "--data-dir",
                str(tmp_path),
                "--no-progress",
                "--timeout",
                "5",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"place it at {tmp_path / 'medmnist' / 'pneumoniamnist.npz'}" in err

    unverified = dataclasses.replace(
        entry, files={28: (RemoteFile("pneumoniamnist.npz", f"http://127.0.0.1:{port}/p.npz"),)}
    )
    monkeypatch.setitem(CATALOG, "pneumoniamnist", unverified)
    assert main(["data", "fetch", "pneumoniamnist", "--data-dir", str(tmp_path)]) == 2
    assert "no published checksum" in capsys.readouterr().err
    assert main(["data", "fetch", "ham10000", "--data-dir", str(tmp_path)]) == 2
    assert "has no download URL" in capsys.readouterr().err
    assert not (tmp_path / "medmnist" / "pneumoniamnist.npz").exists()


@pytest.mark.data
def test_info_verify_checks_files_and_manifest(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(
            [
                "data",
                "info",
                "cinc2021-georgia",
                "--verify",
                "--data-dir",
                str(data_root),
                "--format",
                "json",
            ]
        )
        == 0
    )
    manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert manifest == {"file": "MD5SUMS", "ok": 101, "bad": [], "missing": []}

    copy = tmp_path / "ecg" / "mitdb"
    shutil.copytree(data_root / "ecg" / "mitdb", copy)
    header = bytearray((copy / "100.hea").read_bytes())
    header[0] ^= 0x01
    (copy / "100.hea").chmod(0o644)
    (copy / "100.hea").write_bytes(bytes(header))
    assert (
        main(["data", "info", "mitdb", "--verify", "--data-dir", str(tmp_path), "--format", "json"])
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    states = {item["name"]: item["checksum"] for item in info["present"]}
    assert states["100.dat"] == "ok" and states["100.hea"].startswith("MISMATCH")
    assert info["manifest"]["bad"] == ["100.hea"]
