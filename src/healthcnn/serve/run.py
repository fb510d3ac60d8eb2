"""Running the service: load the bundles, warm them up, bind the socket, serve with uvicorn.

uvicorn's own signal handling gives the shutdown: on SIGTERM or Ctrl-C it stops accepting
connections, lets the requests in flight finish (up to the graceful-shutdown timeout, the request
timeout here), then the application's lifespan stops the batchers and the model thread and
removes the private upload folder. uvicorn then raises the signal again, so the process's exit
status says it ended on SIGTERM (or SIGINT), as process managers expect. One process holds one
copy of each model.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .app import ServeConfig, create_app
from .batching import model_thread
from .models import ServedModel, model_name

log = logging.getLogger(__name__)


def load_models(
    bundles: Sequence[str | Path],
    *,
    engine: str = "torch",
    precision: str = "auto",
    warm_batch: int | None = 32,
) -> list[ServedModel]:
    """Each bundle loaded once (verified, with its trust rules), named after its folder, and
    warmed up at ``warm_batch`` inputs and at one (``None``: no warm-up), on the model thread
    (see :mod:`.batching`)."""
    return model_thread().submit(_load, bundles, engine, precision, warm_batch).result()


def _load(
    bundles: Sequence[str | Path], engine: str, precision: str, warm_batch: int | None
) -> list[ServedModel]:
    models: list[ServedModel] = []
    for b in bundles:
        name = model_name(Path(b), {m.name for m in models})
        model = ServedModel.load(b, name, engine=engine, precision=precision)
        if warm_batch is not None:
            model.warm_up(warm_batch)
        models.append(model)
    return models


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    models: list[ServedModel],
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C. ``announce`` gets one line with the address once the
    socket is bound and the models are loaded (default: printed to stdout)."""
    import uvicorn

    upload_root = tempfile.mkdtemp(prefix="healthcnn-serve-")
    config = dataclasses.replace(config, upload_dir=upload_root)
    app = create_app(
        models, config, on_shutdown=lambda: shutil.rmtree(upload_root, ignore_errors=True)
    )
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    uv = uvicorn.Config(
        app,
        log_level="warning",  # uvicorn's own lines; the service logs through healthcnn.serve
        access_log=False,
        timeout_graceful_shutdown=max(1, round(config.request_timeout_s)),
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(uv)
    shown = host if ":" not in host else f"[{host}]"
    line = f"serving {', '.join(m.name for m in models)} on http://{shown}:{bound}/"
    (announce or functools.partial(print, flush=True))(line)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        shutil.rmtree(upload_root, ignore_errors=True)
    log.info("stopped")
