"""The service under load: ``healthcnn serve`` against the engine offline and a naive handler.

For a ResNet-18 bundle at 224 px (and the 28 px demo model), on this machine, in one run:

- **engine offline**: the bundle's engine scoring decoded inputs in batches of 32 (throughput)
  and one at a time (p50 latency), no HTTP;
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


def offline(bundle: Path, engine: str, seconds: float) -> tuple[float, float]:
    """(images/s at batch 32, p50 ms at batch 1) of the engine on decoded inputs, no HTTP."""
    from healthcnn.data.arrays import ArrayDataset
    from healthcnn.inference.engines import load_predictor
    from healthcnn.inference.files import class_probabilities

    b, predictor = load_predictor(bundle, engine)
    shape = (b.preprocessing.channels, *b.preprocessing.size)
    gen = torch.Generator().manual_seed(0)

    def dataset(n: int) -> ArrayDataset:
        images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen)
        return ArrayDataset(images, torch.zeros(n, dtype=torch.long), list(b.task.classes))

    def run(ds: ArrayDataset) -> float:
        start = time.perf_counter()
        class_probabilities(predictor, b.preprocessing, b.task, ds, 32)
        return time.perf_counter() - start

    d32, d1 = dataset(32), dataset(1)
    run(d32), run(d1)  # warm-up
    batches, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(batches) < 3:
        batches.append(run(d32))
    singles, deadline = [], time.perf_counter() + seconds / 2
    while time.perf_counter() < deadline or len(singles) < 10:
        singles.append(run(d1))
    return 32 / statistics.median(batches), 1000 * statistics.median(singles)


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
    thr32, p50_1 = offline(bundle, args.engine, args.offline_seconds)
    print(f"\nResNet-18 at {size} px, engine {args.engine}")
    print(f"  engine offline: batch 32 {thr32:7.1f} img/s; batch 1 p50 {p50_1:6.1f} ms")
    print(
        f"  {'server':7s} {'clients':>7s} {'img/s':>8s} {'p50 ms':>8s} {'p95 ms':>8s} "
        f"{'p99 ms':>8s} {'errors':>6s}"
    )
    results = {}
    for naive in (False, True):
        server = Server(bundle, args.engine, naive)
        try:
            for clients in args.clients:
                thr, (p50, p95, p99), errors = drive(
                    server, size, clients, args.requests, args.seconds
                )
                results[(naive, clients)] = (thr, p50)
                name = "naive" if naive else "serve"
                print(
                    f"  {name:7s} {clients:7d} {thr:8.1f} {p50:8.1f} {p95:8.1f} {p99:8.1f} "
                    f"{errors:6d}",
                    flush=True,
                )
        finally:
            server.stop()
    _verdicts(results, thr32, p50_1, args.clients)


def _verdicts(results: dict, thr32: float, p50_1: float, clients: list[int]) -> None:
    if 16 in clients:
        serve16, naive16 = results[(False, 16)][0], results[(True, 16)][0]
        share, vs_naive = serve16 / thr32, serve16 / naive16
        print(
            f"  at 16 clients: serve / engine batch-32 = {share:.2f} (target >= {TARGET_SHARE}: "
            f"{'met' if share >= TARGET_SHARE else 'MISSED'}); serve / naive = {vs_naive:.2f} "
            f"(target >= {TARGET_NAIVE}: {'met' if vs_naive >= TARGET_NAIVE else 'MISSED'})"
        )
    if 1 in clients:
        single = results[(False, 1)][1] / p50_1
        print(
            f"  1 client: serve p50 / engine batch-1 p50 = {single:.2f} (target <= {TARGET_P50}: "
            f"{'met' if single <= TARGET_P50 else 'MISSED'})"
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
