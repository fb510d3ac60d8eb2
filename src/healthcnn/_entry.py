"""The ``healthcnn`` command's entry point, importing as little as possible before it can
catch Ctrl-C: an interrupt while the command line is still being imported exits 130 with one
line, as it does in every later phase (see :func:`healthcnn.cli.main`)."""

from __future__ import annotations

import sys


def run() -> int:
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("healthcnn: interrupted", file=sys.stderr)
        return 130
    return main()
