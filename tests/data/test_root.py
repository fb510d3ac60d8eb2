"""The data root and the downloader, against a local HTTP server serving a real file."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
from pathlib import Path

import pytest

from healthcnn._progress import Progress, format_duration, format_size
from healthcnn.data.root import (
    ChecksumError,
    DataError,
    data_root,
    download,
    file_hash,
    verify_file,
)

RETINA_MD5 = "bd4c0672f1bba3e3a89f0e4e876791e4"  # official MD5 (shared data README)


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.ranges.append(self.headers.get("Range"))
        body = srv.payload
        start = 0
        rng = self.headers.get("Range")
        if srv.support_range and rng and rng.startswith("bytes="):
            start = int(rng[len("bytes=") :].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if srv.cuts_left > 0:
            srv.cuts_left -= 1
            chunk = chunk[: srv.cut_after]
            self.close_connection = True
        self.wfile.write(chunk)
        self.wfile.flush()


class _Server:
    """http.server on 127.0.0.1 (port 0) in a thread; ``cuts`` transfers are cut after
    ``cut_after`` bytes; ``support_range=False`` ignores Range headers."""

    def __init__(
        self, payload: bytes, *, support_range: bool = True, cut_after: int = 0, cuts: int = 0
    ) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.payload = payload
        self.httpd.support_range = support_range
        self.httpd.cut_after = cut_after
        self.httpd.cuts_left = cuts
        self.httpd.ranges = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/retinamnist.npz"

    @property
    def ranges(self) -> list[str | None]:
        return self.httpd.ranges

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def retina_bytes(data_root: Path) -> bytes:
    return (data_root / "medmnist" / "retinamnist.npz").read_bytes()


def _closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/retinamnist.npz"


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEALTHCNN_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("HEALTHCNN_DATA")
    assert data_root() == Path.home() / ".cache" / "healthcnn"


@pytest.mark.data
def test_download_verifies_and_leaves_no_part(retina_bytes: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "medmnist" / "retinamnist.npz"
    with _Server(retina_bytes) as srv:
        out = download(srv.url, dest, md5=RETINA_MD5, progress=False)
    assert out == dest
    assert dest.read_bytes() == retina_bytes
    assert not dest.with_name(dest.name + ".part").exists()
    assert srv.ranges == [None]


@pytest.mark.data
def test_cut_transfer_resumes_on_next_call(retina_bytes: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "retinamnist.npz"
    part = tmp_path / "retinamnist.npz.part"
    cut = 1_000_000
    with _Server(retina_bytes, cut_after=cut, cuts=1) as srv:
        with pytest.raises(DataError, match="interrupted") as err:
            download(srv.url, dest, md5=RETINA_MD5, progress=False, retries=0)
        assert str(part) in str(err.value)
        assert not dest.exists(), "a partial final file must never exist"
        assert part.stat().st_size == cut
        download(srv.url, dest, md5=RETINA_MD5, progress=False, retries=0)
    assert srv.ranges == [None, f"bytes={cut}-"]
    assert file_hash(dest) == RETINA_MD5
    assert not part.exists()


@pytest.mark.data
def test_cut_transfer_resumes_within_one_call(retina_bytes: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "retinamnist.npz"
    with _Server(retina_bytes, cut_after=123_457, cuts=2) as srv:
        download(srv.url, dest, md5=RETINA_MD5, progress=False, retries=2)
    assert srv.ranges == [None, "bytes=123457-", "bytes=246914-"]
    assert file_hash(dest) == RETINA_MD5


@pytest.mark.data
def test_server_without_range_restarts(retina_bytes: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "retinamnist.npz"
    part = tmp_path / "retinamnist.npz.part"
    part.write_bytes(retina_bytes[:5000])  # left by an earlier interrupted run
    with _Server(retina_bytes, support_range=False) as srv:
        download(srv.url, dest, md5=RETINA_MD5, progress=False)
    assert srv.ranges == ["bytes=5000-"]  # asked to resume, got the whole file, restarted
    assert dest.read_bytes() == retina_bytes


@pytest.mark.data
def test_corrupt_download_raises_and_removes(retina_bytes: bytes, tmp_path: Path) -> None:
    dest = tmp_path / "medmnist" / "retinamnist.npz"
    corrupt = bytearray(retina_bytes)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with _Server(bytes(corrupt)) as srv, pytest.raises(ChecksumError) as err:
        download(srv.url, dest, md5=RETINA_MD5, progress=False)
    message = str(err.value)
    assert str(dest) in message and srv.url in message and RETINA_MD5 in message
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()


@pytest.mark.data
def test_sha256_is_checked_too(retina_bytes: bytes, tmp_path: Path) -> None:
    good = hashlib.sha256(retina_bytes).hexdigest()
    with _Server(retina_bytes) as srv:
        download(srv.url, tmp_path / "a.npz", sha256=good, progress=False)
        with pytest.raises(ChecksumError, match="SHA256"):
            download(srv.url, tmp_path / "b.npz", sha256="0" * 64, progress=False)
    assert not (tmp_path / "b.npz").exists()


def test_offline_says_which_file_to_place_where(tmp_path: Path) -> None:
    dest = tmp_path / "medmnist" / "retinamnist.npz"
    url = _closed_port_url()
    with pytest.raises(DataError) as err:
        download(url, dest, md5=RETINA_MD5, progress=False, timeout=5)
    message = str(err.value)
    assert f"place it at {dest}" in message
    assert url in message and RETINA_MD5 in message
    assert not dest.exists()


def test_existing_verified_file_needs_no_network(tmp_path: Path) -> None:
    dest = tmp_path / "x.bin"
    dest.write_bytes(b"healthcnn")
    md5 = hashlib.md5(b"healthcnn").hexdigest()
    assert download(_closed_port_url(), dest, md5=md5, progress=False) == dest
    with pytest.raises(ChecksumError, match=str(dest)):
        verify_file(dest, md5="0" * 32, url="http://example.invalid/x.bin")


def test_progress_quiet_off_tty_with_final_line() -> None:
    stream = io.StringIO()
    bar = Progress(3 * 1024 * 1024, desc="file.npz", unit="B", stream=stream)
    bar.update(1024 * 1024)
    bar.update(2 * 1024 * 1024, speed="ok")
    assert stream.getvalue() == ""  # not a terminal: nothing until close
    bar.close()
    bar.close()  # idempotent
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert "file.npz" in lines[0] and "100%" in lines[0] and "3.0 MiB/3.0 MiB" in lines[0]
    assert "speed=ok" in lines[0]

    silent = io.StringIO()
    with Progress(10, stream=silent, enabled=False) as quiet:
        quiet.update(10)
    assert silent.getvalue() == ""


def test_progress_formatting() -> None:
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_duration(75) == "01:15"
    assert format_duration(3700) == "1:01:40"
    assert format_duration(float("inf")) == "--:--"
