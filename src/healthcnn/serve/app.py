"""The service's FastAPI application: the routes, the bearer token, the upload limit, the request
timeout and the one-line JSON errors.

Routes (``{name}`` is a model's name from ``/v1/models``):

- ``GET /healthz``: liveness, open without the token;
- ``GET /v1/models``, ``GET /v1/models/{name}``: task, classes, input kind, operating points
  with their validation sensitivity and specificity, whether sets and abstention are fitted,
  engine and the bundle's version (the SHA-256 of its manifest);
- ``POST /v1/models/{name}/predict`` (multipart form, field ``file``; ``?explain=gradcam``
  adds a saliency figure with its sanity verdict, ``?preview=true`` the input as the model saw
  it): probabilities by class name, the decision at each operating point, the prediction set
  and abstain flag when the bundle has them, the version and the time taken;
- ``GET /v1/models/{name}/card``: the bundle's sealed HTML model card (``healthcnn report``);
- ``GET /``: the page; ``GET /docs``: the OpenAPI page.

Errors are ``{"error": "one line"}`` with 401 (token), 404 (no such model or card), 413 (too
large), 415 (not a supported file), 422 (a supported type that cannot be read as this model's
input), 503 (shutting down) or 504 (over the request timeout). Messages never hold the private
upload folder's path, DICOM attributes or image bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .batching import MicroBatcher, model_thread
from .models import ServedModel, preview
from .page import page_html, static_file
from .uploads import PrivateFolder, UploadError, input_path, receive

log = logging.getLogger(__name__)

#: routes open without the token
OPEN_ROUTES = frozenset({"/healthz"})


@dataclass(frozen=True)
class ServeConfig:
    """How the service batches, limits and guards requests."""

    max_batch: int = 32
    max_wait_ms: float = 0.0
    max_upload_mb: float = 64.0
    request_timeout_s: float = 60.0
    token: str | None = None
    upload_dir: str | None = None

    def __post_init__(self) -> None:
        checks = {
            "max_batch": self.max_batch >= 1,
            "max_wait_ms": self.max_wait_ms >= 0,
            "max_upload_mb": self.max_upload_mb > 0,
            "request_timeout_s": self.request_timeout_s > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                ", ".join(f"{k} must be positive, got {getattr(self, k)}" for k in bad)
            )
        if self.token is not None and not self.token.strip():
            raise ValueError("the token is empty; put a secret of at least 16 characters in it")

    @property
    def upload_limit(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def authorised(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token``: ``Bearer <token>``, or HTTP Basic
    with the token as the password (what a browser sends after its own login prompt). Compared
    in constant time."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8"))


def create_app(
    models: list[ServedModel],
    config: ServeConfig | None = None,
    *,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """The application over loaded ``models`` (a batcher each, on the one model thread);
    ``on_shutdown`` runs last when the application stops."""
    config = config or ServeConfig()
    by_name = {m.name: m for m in models}
    if len(by_name) != len(models):
        raise ValueError(f"model names must be unique, got {[m.name for m in models]}")
    executor = model_thread()
    batchers = {
        m.name: MicroBatcher(
            m.results, executor, max_batch=config.max_batch, max_wait_ms=config.max_wait_ms
        )
        for m in models
    }

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for b in batchers.values():
            b.start()
        yield
        for b in batchers.values():
            await b.stop()
        if on_shutdown is not None:
            on_shutdown()

    app = FastAPI(title="healthcnn", summary="research use, not for diagnosis", lifespan=lifespan)
    app.state.models, app.state.batchers, app.state.config = by_name, batchers, config
    app.add_middleware(Guard, config=config)

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return error(500, f"internal error ({type(exc).__name__}); the service goes on")

    _info_routes(app, by_name)
    _predict_route(app, by_name, batchers, config)
    return app


class Guard:
    """ASGI middleware (plain, not Starlette's ``BaseHTTPMiddleware``, which costs each request a
    task and a stream): the token on every route but :data:`OPEN_ROUTES`, and a declared
    ``Content-Length`` over the upload limit refused before the body is read."""

    def __init__(self, app: Any, config: ServeConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, scope: dict) -> Response | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = self.config.token
        guarded = token is not None and scope["path"] not in OPEN_ROUTES
        if guarded and not authorised(headers.get("authorization"), token):
            response = error(401, "a valid token is needed (Authorization: Bearer TOKEN)")
            response.headers["WWW-Authenticate"] = 'Basic realm="healthcnn", charset="UTF-8"'
            return response
        length, limit = headers.get("content-length", ""), self.config.upload_limit
        if length.isdigit() and int(length) > limit:
            return error(413, f"the upload is larger than the limit of {limit} bytes")
        return None


def _model(by_name: dict[str, ServedModel], name: str) -> ServedModel | JSONResponse:
    model = by_name.get(name)
    if model is None:
        return error(404, f"no model named {name!r}; the models are {sorted(by_name)}")
    return model


def _info_routes(app: FastAPI, by_name: dict[str, ServedModel]) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": len(by_name)}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [m.info() for m in by_name.values()]}

    @app.get("/v1/models/{name}")
    async def one_model(name: str) -> Any:
        model = _model(by_name, name)
        return model if isinstance(model, JSONResponse) else model.info()

    @app.get("/v1/models/{name}/card", response_class=HTMLResponse)
    async def card(name: str) -> Any:
        model = _model(by_name, name)
        if isinstance(model, JSONResponse):
            return model
        path = model.card
        if path is None:
            return error(
                404,
                f"{name} has no model card; write one with healthcnn report "
                "BUNDLE -o BUNDLE/report.html and restart the service",
            )
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html())

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        found = static_file(name)
        return error(404, f"no file {name!r}") if found is None else Response(*found)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _predict_route(
    app: FastAPI,
    by_name: dict[str, ServedModel],
    batchers: dict[str, MicroBatcher],
    config: ServeConfig,
) -> None:
    @app.post("/v1/models/{name}/predict", openapi_extra=_UPLOAD_BODY)
    async def predict(
        name: str, request: Request, explain: str | None = None, preview: bool = False
    ) -> Any:
        model = _model(by_name, name)
        if isinstance(model, JSONResponse):
            return model
        if explain not in (None, "gradcam", "gradcam++"):
            return error(422, f"explain must be gradcam or gradcam++, got {explain!r}")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(config.request_timeout_s):
                body = await _answer(model, batchers[name], request, config, explain, preview)
        except UploadError as exc:
            log.info("%s predict: %d %s", name, exc.status, exc.message)
            return error(exc.status, exc.message)
        except TimeoutError:
            log.warning("%s predict: timed out after %.0f s", name, config.request_timeout_s)
            return error(504, f"the request took longer than {config.request_timeout_s:g} s")
        body["time_ms"] = round((time.perf_counter() - started) * 1000, 2)
        log.info("%s predict: 200 in %.1f ms", name, body["time_ms"])
        return JSONResponse(body)  # as it is: the rows are plain JSON, no encoder pass needed


async def _answer(
    model: ServedModel,
    batcher: MicroBatcher,
    request: Request,
    config: ServeConfig,
    explain: str | None,
    with_preview: bool,
) -> dict[str, Any]:
    with PrivateFolder(config.upload_dir) as folder:
        received = await receive(
            request.stream(),
            request.headers.get("content-type", ""),
            folder.path,
            config.upload_limit,
        )
        inputs = await batcher.run_exclusive(lambda: _prepare(model, received, folder.path, config))
    rows = await batcher.submit(inputs)
    body: dict[str, Any] = {"model": model.name, "version": model.version, "results": rows}
    if with_preview:
        body["preview"] = preview(inputs, model.bundle.preprocessing.leads)
    if explain is not None:
        body["saliency"] = await batcher.run_exclusive(lambda: model.explain(inputs, explain))
    return body


def _prepare(model: ServedModel, received: Any, folder: Path, config: ServeConfig) -> Any:
    """Decode the upload (in a worker thread); a file the reader refuses is a 422 whose
    message names the upload, not the private folder."""
    path = input_path(received, folder, config.upload_limit)
    try:
        return model.prepare(path)
    except Exception as exc:  # decoders raise many types; any of them means this upload
        message = " ".join(str(exc).split()).replace(str(folder) + "/", "")
        raise UploadError(422, message or type(exc).__name__) from None
