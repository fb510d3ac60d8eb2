"""``healthcnn serve`` as a child process on 127.0.0.1 (port 0), for the tests and the benchmark:
started with a bounded wait for its address line, always stopped, and a minimal HTTP/1.1 client
(keep-alive, prebuilt requests) that costs the server's two cores as little as possible."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path


class ServerProcess:
    """``with ServerProcess([bundle], "--max-batch", "8") as server: server.port``."""

    def __init__(
        self,
        bundles: list[Path],
        *args: str,
        start_timeout: float = 180.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.env = env or {}
        self.command = [sys.executable, "-m", "healthcnn", "serve", *map(str, bundles),
                        "--port", "0", *args]  # fmt: skip
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 1.0)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("serving "):
                    self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
                    return self
            if self.proc.poll() is not None:
                break
        err = self.stop()
        raise RuntimeError(f"the server did not start: {err[-2000:]}")

    def rss_mb(self) -> float:
        """The server's resident memory now (VmRSS), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL after 30 s); returns its stderr."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err or ""

    def __exit__(self, *exc: object) -> None:
        self.stop()


def multipart(data: bytes, filename: str = "upload", field: str = "file") -> tuple[bytes, str]:
    """A ``multipart/form-data`` body holding ``data`` and its content type."""
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n')  # fmt: skip
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def request_bytes(path: str, body: bytes = b"", content_type: str | None = None,
                  headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
    """An HTTP/1.1 request (POST when there is a body) to 127.0.0.1."""
    method = "POST" if content_type else "GET"
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection: ``send(request) -> (status, body)``; bounded by ``timeout``."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        return self.read_response()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def read_response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = int({k.lower(): v for k, v in fields.items()}.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def close(self) -> None:
        self.sock.close()
