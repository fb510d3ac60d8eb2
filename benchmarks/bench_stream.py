"""Streaming an image folder larger than its memory budget: peak RSS against the decoded size.

A folder of PNG images (made here: smooth gradients plus noise, RGB) is listed in a CSV and
trained on for one epoch (a small ``simple_cnn`` on batches resized to 32 px, batch 32, so the
network's own memory stays small next to the images) through ``load_image_csv(stream=None,
memory_budget_mb=...)`` and ``fit_model``, with a memory budget of a quarter of the decoded
size, so the automatic choice streams: each image is decoded in a DataLoader worker when its
batch is read. The same fit with everything decoded into memory runs alongside as the
baseline.

A third run streams only the first tenth of the images: the streamed peak should not grow with
the number of images (what it holds is the batches in flight and the training itself), while the
in-memory peak does.

Each run is a fresh Python process, so its peak resident memory (``ru_maxrss``) belongs to that
run alone; the baseline RSS (after the imports and the model, before any image is read) is
printed with it, and the workers' peak separately. Nothing is asserted: the numbers are printed.

Run: ``python benchmarks/bench_stream.py [--quick] [--images N] [--size PX] [--workers N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from _common import machine_header

MIB = 2**20
#: batches are resized to this before the network, so the model's activations stay small
MODEL_INPUT = 32


def make_folder(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    """``n`` RGB PNGs of ``size`` px (label 1 brighter) and their CSV with a split column; and a
    second CSV listing the first tenth of them."""
    rng = np.random.default_rng(0)
    (folder / "img").mkdir(parents=True)
    ramp = np.linspace(0, 90, size, dtype=np.float32)
    rows = []
    for i in range(n):
        label = i % 2
        base = ramp[None, :, None] + ramp[:, None, None] + 60 * label
        pixels = base + rng.normal(0, 8, (size, size, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(folder / "img" / f"{i}.png")
        split = "val" if i % 10 == 0 else "test" if i % 10 == 1 else "train"
        rows.append({"path": f"img/{i}.png", "label": label, "split": split})
    paths = folder / "images.csv", folder / "tenth.csv"
    for path, listed in zip(paths, (rows, rows[: n // 10]), strict=True):
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(listed)
    return paths


def _rss_mib() -> float:
    """This process's resident memory now (Linux /proc), MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / MIB


def child(csv_path: str, stream: bool, budget_mb: float, workers: int) -> None:
    """One run (in its own process): load, fit one epoch, print the memory numbers as JSON."""
    import torch

    from healthcnn.data.sources import load_splits
    from healthcnn.tasks import make_task
    from healthcnn.training import TrainConfig
    from healthcnn.training.fit import FitSpec, fit_model

    torch.manual_seed(0)
    baseline = _rss_mib()  # after the imports, before any image is read
    choice = None if stream else False
    splits, _ = load_splits(csv_path, size=None, stream=choice, memory_budget_mb=budget_mb)
    spec = FitSpec(
        "simple_cnn",
        train=TrainConfig(epochs=1, batch_size=32, precision="fp32"),
        model_kwargs={"channels": (8, 16)},
        model_input_size=MODEL_INPUT,  # a small network: memory is the data's, not the model's
        num_workers=workers if stream else 0,
    )
    task = make_task("binary", ["0", "1"])
    fitted = fit_model(spec, splits["train"], splits["val"], task)
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "dataset": type(splits["train"]).__name__,
                "baseline_mib": baseline,
                "peak_mib": self_peak,
                "workers_peak_mib": workers_peak,
                "images_per_second": fitted.history.epochs[-1].images_per_second,
            }
        )
    )


def run_child(csv_path: Path, stream: bool, budget_mb: float, workers: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(csv_path),
        "--budget-mb",
        str(budget_mb),
        "--workers",
        str(workers),
    ] + (["--stream"] if stream else [])
    # the in-memory run's decoded cache goes to a throw-away folder beside the images
    env = {**os.environ, "HEALTHCNN_CACHE": str(csv_path.parent / "cache")}
    here = Path(__file__).parent
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=here, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small folder (smoke test)")
    parser.add_argument("--images", type=int, help="images in the folder (default 1500)")
    parser.add_argument("--size", type=int, help="image side in px (default 224)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--budget-mb", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.stream, args.budget_mb, args.workers)
        return 0
    n = args.images or (300 if args.quick else 4000)
    size = args.size or (96 if args.quick else 160)
    decoded_mib = n * 3 * size * size / MIB
    budget = decoded_mib / 4
    print(machine_header("bench_stream: one epoch on a streamed image folder vs decoded in memory"))
    print(
        f"  {n} PNGs of {size}x{size} RGB: decoded {decoded_mib:.1f} MiB; "
        f"memory budget {budget:.1f} MiB; {args.workers} worker(s)"
    )
    with tempfile.TemporaryDirectory(prefix="bench_stream_") as tmp:
        csv_path, tenth = make_folder(Path(tmp), n, size)
        runs = {
            "streamed": (run_child(csv_path, True, budget, args.workers), 1.0),
            "streamed, a tenth of the images": (
                run_child(tenth, True, budget / 10, args.workers),
                0.1,
            ),
            "in memory": (run_child(csv_path, False, budget, 0), 1.0),
        }
    for name, (r, share) in runs.items():
        grown = r["peak_mib"] - r["baseline_mib"]
        own = decoded_mib * share
        print(
            f"  {name} ({r['dataset']}, {round(n * share)} images, decoded {own:.1f} MiB): "
            f"peak RSS {r['peak_mib']:.0f} MiB = {r['baseline_mib']:.0f} MiB before reading "
            f"+ {grown:.0f} MiB ({grown / own:.2f}x its decoded size); workers' peak "
            f"{r['workers_peak_mib']:.0f} MiB each at most; {r['images_per_second']:.0f} images/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
