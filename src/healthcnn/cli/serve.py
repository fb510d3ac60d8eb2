"""``healthcnn serve BUNDLE [BUNDLE ...]``: the bundles behind an HTTP API and a web page."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from . import CLIError, add_quiet_option, configure_logging


def register(s: argparse.ArgumentParser) -> None:
    s.add_argument("bundles", nargs="+", metavar="BUNDLE")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (0: any free port; default 8000)")
    s.add_argument("--engine", default="torch", choices=["torch", "compiled", "onnx"])
    s.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    s.add_argument(
        "--token-file",
        metavar="F",
        help="file holding a secret: every route but /healthz then needs it as a bearer token",
    )
    s.add_argument("--max-upload-mb", type=float, default=64.0, metavar="N")
    s.add_argument("--max-batch", type=int, default=32, metavar="N", help="largest micro-batch")
    s.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="how long a batch that is not full waits for more requests (default 0: a batch is "
        "what arrived while the previous one ran)",
    )
    s.add_argument("--request-timeout", type=float, default=60.0, metavar="S")
    add_quiet_option(s)
    s.set_defaults(func=_serve)


def read_token(path: str) -> str:
    """The secret in ``path`` (surrounding white space removed): at least 16 characters."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"--token-file {path}: cannot be read ({exc})") from None
    if len(token) < 16:
        raise CLIError(f"--token-file {path}: the token must be at least 16 characters")
    return token


def _serve(args: argparse.Namespace) -> int:
    try:
        from ..serve import ServeConfig, load_models, serve
    except ImportError as exc:
        raise CLIError(
            f"healthcnn serve needs FastAPI and uvicorn ({exc.name} is missing): "
            "pip install 'healthcnn[serve]'"
        ) from None
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be 0..65535, got {args.port}")
    token = read_token(args.token_file) if args.token_file else None
    config = ServeConfig(
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_upload_mb=args.max_upload_mb,
        request_timeout_s=args.request_timeout,
        token=token,
    )
    configure_logging(quiet=args.quiet, timestamps=True)  # one line per request, with its time
    if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
        logging.getLogger("healthcnn.serve.run").warning(
            "listening on %s without --token-file: anyone who can reach it can use it", args.host
        )
    models = load_models(
        args.bundles, engine=args.engine, precision=args.precision, warm_batch=args.max_batch
    )
    serve(models, config, host=args.host, port=args.port)
    return 0
