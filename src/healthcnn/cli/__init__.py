"""The ``healthcnn`` command: a thin shell over library functions.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-parser and sets ``func``; ``func(args)`` calls one library function and prints the
result (results on stdout, progress on stderr). Errors in the user's input print one line on
stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__

# Command-group modules, in the order `healthcnn --help` lists them.
COMMAND_MODULES = [
    "shapes",  # healthcnn shapes conv|pool|fc|lc
    "models",  # healthcnn models list|info
    "data",  # healthcnn data list|info|fetch
    "summary",  # healthcnn summary TARGET --input CxHxW
    "train",  # healthcnn train --data ... --model ... --out ...
    "evaluate",  # healthcnn evaluate BUNDLE --split test
    "report",  # healthcnn report BUNDLE [--compare B2 ...] -o report.html
    "predict",  # healthcnn predict BUNDLE FILE...
    "inspect",  # healthcnn inspect PATH [--format json] [--save-npy OUT] [--show-tags]
    "export",  # healthcnn export BUNDLE --format onnx
    "study",  # healthcnn study NAME ...
    "weights",  # healthcnn weights inflate|info
]

#: exceptions that mean "the user asked for something impossible": one line, exit 2
#: (OSError covers a missing file, a permission problem and a full disk alike)
USER_ERRORS = (ValueError, TypeError, KeyError, OSError)


class CLIError(Exception):
    """Raised by commands for a user-facing error; printed as one line, exit code 2."""


def emit_study_result(
    result: dict[str, Any], fmt: str, out: str | None, summary: Callable[[dict[str, Any]], None]
) -> int:
    """A study's result on stdout: strict JSON (``fmt == "json"``) or the summary lines and
    where the results file went."""
    if fmt == "json":
        from .._json import dumps

        print(dumps(result, indent=2))
        return 0
    summary(result)
    if out:
        print(f"results: {out}/results.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthcnn",
        description="Convolutional neural networks for healthcare.",
    )
    parser.add_argument("--version", action="version", version=f"healthcnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("healthcnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (CLIError, *USER_ERRORS) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"healthcnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
