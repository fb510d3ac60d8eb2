"""The ``healthcnn`` command: a thin shell over library functions.

Each command group lives in its own module with a ``register(subparsers)`` function that adds
its sub-parser and sets ``func``; ``func(args)`` calls one library function and prints the
result (results on stdout, progress on stderr). Errors in the user's input print one line on
stderr and exit with code 2, without a traceback; Ctrl-C, in any phase, prints one line and
exits with 130.
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
    "calibrate",  # healthcnn calibrate BUNDLE --coverage 0.9 --method aps
    "predict",  # healthcnn predict BUNDLE FILE...
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


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C: a KeyboardInterrupt, or the trainer's TrainingInterrupted."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    history = sys.modules.get("healthcnn.training.history")
    return history is not None and isinstance(exc, history.TrainingInterrupted)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; Ctrl-C at any phase (start-up included) exits 130 with one line."""
    command = "healthcnn"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"healthcnn {args.command}"
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except (CLIError, *USER_ERRORS) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Exception) as exc:
        if not _interrupted(exc):
            raise
        detail = "" if isinstance(exc, KeyboardInterrupt) else f" ({exc})"
        print(f"{command}: interrupted{detail}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
