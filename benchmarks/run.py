"""Run every ``benchmarks/bench_*.py`` in turn and print its output (``make bench``).

Each benchmark runs in its own process, so one that fails (a missing baseline library, say)
does not stop the others; the exit code is non-zero if any of them failed. ``--quick`` passes
tiny repeat counts to each (a smoke test); ``--full`` also runs ``bf16_parity.py``;
``--device cuda`` runs the training benchmarks (``DEVICE_BENCHMARKS``) on the GPU, the others
(inference, data, serving, streaming, the analyser) on the CPU as always.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: the benchmarks that take ``--device``
DEVICE_BENCHMARKS = ("bench_mfu.py", "bench_train.py")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run every benchmarks/bench_*.py")
    parser.add_argument("--quick", action="store_true", help="pass --quick (tiny repeats)")
    parser.add_argument(
        "--full", action="store_true", help="also run bf16_parity.py (trains 6 models)"
    )
    parser.add_argument(
        "--device", default="cpu", help=f"device of {' and '.join(DEVICE_BENCHMARKS)}: cpu or cuda"
    )
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.full:
        scripts.append(HERE / "bf16_parity.py")
    if not scripts:
        print(f"no bench_*.py files in {HERE}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        extra = ["--quick"] if args.quick and script.name.startswith("bench_") else []
        if args.quick and script.name == "bench_summary.py":
            extra = ["--repeats", "1"]
        if script.name in DEVICE_BENCHMARKS:
            extra += ["--device", args.device]
        code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        took = time.perf_counter() - start
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"== {script.name}: {status} in {took:.1f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"{len(failed)} of {len(scripts)} benchmarks failed: {', '.join(failed)}")
        return 1
    print(f"all {len(scripts)} benchmarks ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
