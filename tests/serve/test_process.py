"""``healthcnn serve`` as a process: SIGTERM lets the request in flight finish and then exits 0;
a bounded soak (2,000 requests or 60 s on loopback, four clients) mixing good and malformed
uploads gives no 5xx, every good answer equal to ``predict``'s, and resident memory that stops
growing; start-up errors are one line and exit 2."""

from __future__ import annotations

import io
import json
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from PIL import Image
from server_process import Connection, ServerProcess, multipart, request_bytes

from healthcnn.cli import main
from healthcnn.inference.files import predict_files

pytestmark = pytest.mark.data

PATH = "/v1/models/bundle/predict"
#: the soak's bounds: requests in all, seconds at most, concurrent clients
SOAK_REQUESTS, SOAK_SECONDS, SOAK_CLIENTS = 2000, 60.0, 4
#: resident memory may grow at most this much (MB) between the soak's middle and its end
RSS_GROWTH_MB = 15.0


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def test_sigterm_finishes_the_request_in_flight(retina_bundle, retina_inputs, tmp_path) -> None:
    body, ctype = multipart(png(retina_inputs[0]), "x.png")
    request = request_bytes(PATH, body, ctype)
    split = len(request) - 100
    env = {"TMPDIR": str(tmp_path)}
    with ServerProcess([retina_bundle], "--precision", "fp32", env=env) as server:
        assert [p.name[:16] for p in tmp_path.iterdir()] == ["healthcnn-serve-"]
        conn = Connection(server.port, timeout=60)
        conn.sock.sendall(request[:split])  # headers and most of the body: in flight
        time.sleep(0.5)
        server.terminate()
        time.sleep(0.5)
        conn.sock.sendall(request[split:])
        status, answer = conn.read_response()
        assert status == 200, answer
        assert json.loads(answer)["results"][0]["probabilities"]
        # uvicorn raises the signal again once it has shut down: the status says SIGTERM
        assert server.proc.wait(timeout=60) in (0, -signal.SIGTERM)
        with pytest.raises(OSError):  # no longer listening
            Connection(server.port, timeout=5)
    assert not list(tmp_path.iterdir()), "the private upload folder was left behind"


def _payloads(retina_inputs: np.ndarray) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    good = [png(retina_inputs[i]) for i in range(6)]
    bad_bodies = [
        multipart(b"plain text, not an image", "notes.txt"),
        multipart(b"\x89PNG\r\n\x1a\n" + bytes(64), "broken.png"),
        multipart(b"PK\x03\x04" + bytes(40), "broken.zip"),
        multipart(b"\x00" * 128 + b"DICM" + bytes(20), "cut.dcm"),
        multipart(png(retina_inputs[0]), "x.png", field="image"),
        multipart(b"", "empty.png"),
    ]
    good_requests = [(request_bytes(PATH, *multipart(g, "x.png")), g) for g in good]
    return good_requests, [request_bytes(PATH, *b) for b in bad_bodies]


def test_soak_good_and_malformed_uploads(retina_bundle, retina_inputs, tmp_path) -> None:
    good, bad = _payloads(retina_inputs)
    files = []
    for i, (_, data) in enumerate(good):
        (tmp_path / f"{i}.png").write_bytes(data)
        files.append(tmp_path / f"{i}.png")
    expected = [r["probabilities"] for r in predict_files(retina_bundle, files, precision="fp32")]
    counts = {"sent": 0, "5xx": 0, "good": 0, "bad": 0}
    mismatches: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SOAK_SECONDS
    rss: list[float] = []

    def client(k: int, server: ServerProcess) -> None:
        conn = Connection(server.port)
        i = k
        while time.monotonic() < deadline:
            with lock:
                if counts["sent"] >= SOAK_REQUESTS:
                    break
                counts["sent"] += 1
                if counts["sent"] in (SOAK_REQUESTS // 2, SOAK_REQUESTS):
                    rss.append(server.rss_mb())
            is_good = i % 3 != 0
            request = good[i % len(good)][0] if is_good else bad[i % len(bad)]
            status, body = conn.send(request)
            with lock:
                counts["5xx"] += status >= 500
                if is_good:
                    counts["good"] += status == 200
                    got = json.loads(body)["results"][0]["probabilities"]
                    want = expected[i % len(good)]
                    if any(abs(got[c] - p) > 1e-6 for c, p in want.items()):
                        mismatches.append(f"request {i}: {got} != {want}")
                else:
                    counts["bad"] += 400 <= status < 500
            i += SOAK_CLIENTS

    with ServerProcess([retina_bundle], "--precision", "fp32", "--quiet") as server:
        threads = [threading.Thread(target=client, args=(k, server)) for k in range(SOAK_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=SOAK_SECONDS + 60)
        final = server.rss_mb()
        alive = server.proc.poll() is None
    sent = counts["sent"]
    print(f"soak: {sent} requests, RSS {rss} -> {final:.1f} MB")
    assert alive and counts["5xx"] == 0 and not mismatches, mismatches[:3]
    assert sent >= 500, f"only {sent} requests in {SOAK_SECONDS} s"
    assert counts["good"] + counts["bad"] == sent  # every good one 200, every bad one 4xx
    assert final - rss[0] < RSS_GROWTH_MB, f"resident memory grew {rss[0]:.1f} -> {final:.1f} MB"


def test_startup_errors_are_one_line(retina_bundle, tmp_path, capsys) -> None:
    (tmp_path / "short").write_text("abc\n")
    assert main(["serve", str(retina_bundle), "--token-file", str(tmp_path / "short")]) == 2
    assert "at least 16 characters" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["serve", str(retina_bundle), "--port", "70000"]) == 2
    assert "--port must be" in capsys.readouterr().err
    with ServerProcess([retina_bundle], "--precision", "fp32") as server:
        args = ["serve", str(retina_bundle), "--port", str(server.port), "--precision", "fp32"]
        assert main(args) == 2
        assert "choose another --port" in capsys.readouterr().err
