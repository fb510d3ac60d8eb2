"""The command line shared by the scripts that generate a docs page: write it, or with
``--check`` fail when the committed page differs from a fresh build."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def run(build: Callable[[], str], out: Path, script: str, description: str) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--out", type=Path, default=out)
    args = parser.parse_args()
    text = build()
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run scripts/{script}", file=sys.stderr)
            return 1
        return 0
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}")
    return 0
