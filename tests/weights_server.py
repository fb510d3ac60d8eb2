"""A local HTTP server for weight-download tests: no network, bounded, on 127.0.0.1.

Imported by the tests as ``weights_server`` (``tests/`` holds the root ``conftest.py``, so
pytest puts it on ``sys.path``)."""

from __future__ import annotations

import http.server
import socket
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        self.server.requests.append(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class WeightsServer:
    """Serves ``files`` (name -> bytes) at ``http://127.0.0.1:PORT/models/NAME``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.files = files
        self.httpd.requests = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/models/"

    @property
    def requests(self) -> list[str]:
        return self.httpd.requests

    def __enter__(self) -> WeightsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_base() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/models/"
