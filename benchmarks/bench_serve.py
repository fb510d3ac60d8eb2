"""The service under load: ``healthcnn serve`` against the engine offline and a naive handler.

For a ResNet-18 bundle at 224 px (and the 28 px demo model), on this machine, in one run:

- **engine offline**: the bundle's engine in this process scoring decoded inputs in batches of
  32 (throughput, measured before and after the servers; their mean is the reference) and one
  at a time (p50 latency, measured just before and just after the one-client requests; their
  mean is the reference), no HTTP;
- **serve**: ``healthcnn serve`` (micro-batching, one model thread) in a child process on
  127.0.0.1, driven by a bounded load generator (asyncio, keep-alive connections, prebuilt
  requests: it stops after ``--requests`` answers or ``--seconds``, whichever comes first) at
  1, 4, 16 and 64 concurrent clients, each uploading a PNG;
- **naive**: the same model behind a plain FastAPI handler that decodes and scores each upload
  on its own (no batching; uvicorn runs each call in its thread pool), same load.

Throughput counts answered uploads per second; p50/p95/p99 are per-request latencies seen by
the clients. Targets (issue: serve): at 16 clients serve >= 80% of the engine's batch-32
throughput and >= 2x naive; single-client p50 <= 1.3x the engine's batch-1 p50.

Run: ``python benchmarks/bench_serve.py [--quick] [--sizes 224,28] [--clients 1,4,16,64]``.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, UploadFile  # at module level: the naive handler's annotation

from _common import base_parser, machine_header

HERE = Path(__file__).resolve().parent
TARGET_SHARE, TARGET_NAIVE, TARGET_P50 = 0.80, 2.0, 1.3


def make_bundle(folder: Path, size: int) -> Path:
    """A ResNet-18 bundle for ``size`` px RGB inputs (5 classes; weights of a fixed seed: speed
    does not depend on training)."""
    from healthcnn.bundle import Preprocessing, save_bundle
    from healthcnn.models import create_model
    from healthcnn.tasks import make_task

    torch.manual_seed(0)
    kwargs = {"spatial_dims": 2, "in_channels": 3, "num_classes": 5}
    if size < 64:  # the demo's 28 px stem
        kwargs["stem"] = "small"
    model = create_model("resnet18", **kwargs)
    record = Preprocessing(
        channels=3,
        size=(size, size),
        spatial_dims=2,
        scale=1 / 255,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    )
    out = folder / f"resnet18_{size}px"
    task = make_task("multiclass", [str(k) for k in range(5)])
    save_bundle(
        out, model, model_name="resnet18", model_kwargs=kwargs, task=task, preprocessing=record
    )
    return out


def png_of(size: int, seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


class Engine:
    """The bundle's engine in this process, scoring decoded inputs (no HTTP, no decoding)."""

    def __init__(self, bundle: Path, engine: str) -> None:
        from healthcnn.data.arrays import ArrayDataset
        from healthcnn.inference.engines import load_predictor

        self.bundle, self.predictor = load_predictor(bundle, engine)
        record = self.bundle.preprocessing
        gen = torch.Generator().manual_seed(0)
        classes = list(self.bundle.task.classes)

        def dataset(n: int) -> ArrayDataset:
            images = torch.randint(
                0, 256, (n, record.channels, *record.size), dtype=torch.uint8, generator=gen
            )
            return ArrayDataset(images, torch.zeros(n, dtype=torch.long), classes)

        self.inputs = {32: dataset(32), 1: dataset(1)}
        self.run(32), self.run(1)  # warm-up

    def run(self, n: int) -> float:
        """Seconds to score ``n`` (32 or 1) inputs, as the service scores a batch."""
        from healthcnn.inference.files import class_probabilities

        start = time.perf_counter()
        b = self.bundle
        class_probabilities(self.predictor, b.preprocessing, b.task, self.inputs[n], 32)
        return time.perf_counter() - start

    def throughput(self, seconds: float) -> float:
        """Images/s at batch 32 (median batch time over ``seconds``, at least 3 batches)."""
        times, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < 3:
            times.append(self.run(32))
        return 32 / statistics.median(times)


class Server:
    """A server child process on 127.0.0.1 port 0; ``naive`` runs :func:`naive_main` instead."""

    def __init__(self, bundle: Path, engine: str, naive: bool) -> None:
        if naive:
            cmd = [sys.executable, str(Path(__file__)), "--naive-server", str(bundle), engine]
        else:
            cmd = [
                sys.executable,
                "-m",
                "healthcnn",
                "serve",
                str(bundle),
                "--port",
                "0",
                "--engine",
                engine,
                "--quiet",
            ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # the address line, once the model is loaded
        if not line.startswith("serving "):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
        self.path = f"/v1/models/{bundle.name}/predict"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def request(path: str, data: bytes) -> bytes:
    boundary = "healthcnnbenchboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    )
    return head.encode() + body


async def _client(port: int, payloads: list[bytes], state: dict, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while state["left"] > 0 and time.perf_counter() < state["deadline"]:
            state["left"] -= 1
            data = payloads[state["left"] % len(payloads)]
            start = time.perf_counter()
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            if status != 200:
                state["errors"] += 1
            latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def load(port: int, payloads: list[bytes], clients: int, count: int, seconds: float):
    """Answers/s and latencies of ``clients`` connections sharing ``count`` requests, stopping
    after ``seconds`` at the latest."""
    state = {"left": count, "deadline": time.perf_counter() + seconds, "errors": 0}
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(_client(port, payloads, state, latencies) for _ in range(clients)))
    took = time.perf_counter() - start
    return len(latencies) / took, np.percentile(latencies, [50, 95, 99]) * 1000, state["errors"]


def one_client(server: Server, size: int, engine: Engine, count: int, seconds: float):
    """Requests from one client, one after the other, with the engine's batch-1 latency
    measured in this process just before and just after them (not interleaved: a process's
    OpenMP threads spin for a while after each call, and would slow the other's next call):
    (server p50, p95, p99 ms, answers/s, engine batch-1 p50 ms)."""
    import socket

    payloads = [request(server.path, png_of(size, s)) for s in range(8)]
    before = statistics.median(engine.run(1) for _ in range(30)) * 1000
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    served = []
    deadline = time.perf_counter() + seconds
    try:
        for i in range(count + 5):
            if time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            sock.sendall(payloads[i % len(payloads)])
            _read_response(sock)
            if i >= 5:  # the first five warm the connection up
                served.append(time.perf_counter() - start)
    finally:
        sock.close()
    time.sleep(0.2)  # the server's threads stop spinning
    after = statistics.median(engine.run(1) for _ in range(30)) * 1000
    p50, p95, p99 = np.percentile(served, [50, 95, 99]) * 1000
    return p50, p95, p99, 1 / statistics.mean(served), (before + after) / 2


def _read_response(sock) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    if int(head.split(b" ", 2)[1]) != 200:
        raise RuntimeError(f"the server answered {head.splitlines()[0]!r}")


def drive(server: Server, size: int, clients: int, count: int, seconds: float):
    payloads = [request(server.path, png_of(size, s)) for s in range(8)]
    asyncio.run(load(server.port, payloads, clients, max(8, clients * 2), 30))  # warm-up
    return asyncio.run(load(server.port, payloads, clients, count, seconds))


def naive_main(bundle: str, engine: str) -> None:
    """The naive server: each upload decoded and scored on its own in uvicorn's thread pool."""
    import uvicorn

    from healthcnn.inference.engines import load_predictor
    from healthcnn.inference.files import class_probabilities, load_inputs
    from healthcnn.serve.run import bind

    b, predictor = load_predictor(bundle, engine)
    classes = list(b.task.classes)
    app = FastAPI()

    @app.post(f"/v1/models/{Path(bundle).name}/predict")
    def predict(file: UploadFile) -> dict:
        with tempfile.NamedTemporaryFile(suffix=".png") as f:
            f.write(file.file.read())
            f.flush()
            ds = load_inputs([f.name], b.preprocessing, classes)
        probs = class_probabilities(predictor, b.preprocessing, b.task, ds)
        return {"probabilities": dict(zip(classes, probs[0].tolist(), strict=True))}

    sock = bind("127.0.0.1", 0)
    print(f"serving naive on http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def bench_size(folder: Path, size: int, args) -> None:
    bundle = make_bundle(folder, size)
    engine = Engine(bundle, args.engine)
    before = engine.throughput(args.offline_seconds)
    print(f"\nResNet-18 at {size} px, engine {args.engine}")
    print(
        f"  {'server':7s} {'clients':>7s} {'img/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
        f"{'p99 ms':>8s} {'engine batch-1 p50 ms':>22s}"
    )
    results = {}
    for naive in (False, True):
        name = "naive" if naive else "serve"
        server = Server(bundle, args.engine, naive)
        try:
            for clients in args.clients:
                if clients == 1:
                    p50, p95, p99, thr, one = one_client(
                        server, size, engine, args.requests, args.seconds
                    )
                    extra = f"{one:22.1f}"
                else:
                    thr, (p50, p95, p99), errors = drive(
                        server, size, clients, args.requests, args.seconds
                    )
                    one, extra = None, f"{'':22s}" + (f"  {errors} errors" if errors else "")
                results[(naive, clients)] = (thr, p50, one)
                print(
                    f"  {name:7s} {clients:7d} {thr:8.1f} {p50:8.1f} {p95:8.1f} {p99:8.1f}{extra}",
                    flush=True,
                )
        finally:
            server.stop()
    after = engine.throughput(args.offline_seconds)
    offline = (before + after) / 2
    print(
        f"  engine offline, batch 32: {before:.1f} img/s before the servers, {after:.1f} after "
        f"(mean {offline:.1f})"
    )
    _verdicts(results, offline, args.clients)


def _verdicts(results: dict, offline: float, clients: list[int]) -> None:
    if 16 in clients:
        serve16, naive16 = results[(False, 16)][0], results[(True, 16)][0]
        share, vs_naive = serve16 / offline, serve16 / naive16
        print(
            f"  at 16 clients: serve / engine batch-32 = {share:.2f} (target >= {TARGET_SHARE}: "
            f"{'met' if share >= TARGET_SHARE else 'MISSED'}); serve / naive = {vs_naive:.2f} "
            f"(target >= {TARGET_NAIVE}: {'met' if vs_naive >= TARGET_NAIVE else 'MISSED'})"
        )
    if 1 in clients:
        _, p50, one = results[(False, 1)]
        single = p50 / one
        print(
            f"  1 client: serve p50 / engine batch-1 p50 = {single:.2f} "
            f"(target <= {TARGET_P50}: {'met' if single <= TARGET_P50 else 'MISSED'})"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--naive-server"]:
        naive_main(argv[1], argv[2])
        return 0
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="224,28")
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--engine", default="torch", choices=["torch", "compiled", "onnx"])
    parser.add_argument("--requests", type=int, default=600, help="requests per load level")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per load level")
    parser.add_argument("--offline-seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.seconds, args.offline_seconds = 40, 5.0, 1.0
    args.clients = [int(c) for c in args.clients.split(",")]
    print(machine_header("the service under load: healthcnn serve vs engine offline vs naive"))
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(Path(tmp), size, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
