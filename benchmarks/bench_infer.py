"""Inference at 224 px: throughput (batch 32) and latency p50/p99 (batch 1), ResNet-18.

The baseline is the model in eager fp32 under ``torch.no_grad()``, contiguous tensors. Ours are
the engines of ``healthcnn predict --engine``: ``torch`` (eager under the precision policy:
bf16 autocast + channels-last on CPUs with bf16 instructions), ``compiled`` (``torch.compile``
with Inductor freezing, same policy; compile time printed separately, not in the timings) and
``onnx`` (ONNX Runtime, fp32). Every path runs on the same inputs, round-robin.

Run: ``python benchmarks/bench_infer.py [--quick] [--repeats 5] [--latency-repeats 50]
[--engines torch,compiled,onnx]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from _common import base_parser, interleaved, machine_header, median, parse_counts, ratio_line
from healthcnn.inference import create_predictor
from healthcnn.models import create_model

TARGET_THROUGHPUT = 7.0
SHAPE = (3, 224, 224)


def _discard(_: object) -> None:
    """Call results are dropped: ``interleaved`` then records wall time."""


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--engines", default="torch,compiled,onnx")
    args = parse_counts(
        parser, argv, repeats=(1, 5), latency_repeats=(5, 50, "batch-1 calls per path")
    )
    repeats, lat_repeats = args.repeats, args.latency_repeats
    engines = [e for e in args.engines.split(",") if e]
    print(machine_header("inference, ResNet-18 at 224 px: engines vs fp32 eager"))
    torch.manual_seed(0)
    model = create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=5).eval()
    g = torch.Generator().manual_seed(0)
    batch = torch.randn(32, *SHAPE, generator=g)
    single = torch.randn(1, *SHAPE, generator=g)

    def baseline(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    paths = {"fp32 eager (baseline)": baseline}
    for engine in engines:
        start = time.perf_counter()
        kwargs = {"input_shape": SHAPE} if engine == "onnx" else {}
        predictor = create_predictor(model, engine, **kwargs)
        predictor(batch)
        predictor(single)  # compiles the batch-1 graph too
        print(f"  {predictor.describe()}: ready in {time.perf_counter() - start:.1f} s")
        paths[engine] = predictor
    with torch.no_grad():
        reference = model(batch).float()
    for name, fn in paths.items():
        diff = float((fn(batch).float() - reference).abs().max())
        print(f"  {name}: max abs logit difference vs fp32 eager {diff:.3g}")

    def timed(x: torch.Tensor, n: int) -> dict[str, list]:
        return interleaved({k: (lambda f=f: _discard(f(x))) for k, f in paths.items()}, n)

    through, lat = timed(batch, repeats), timed(single, lat_repeats)
    base = 32 / median(through["fp32 eager (baseline)"])
    print(f"  throughput: median of {repeats}; latency: {lat_repeats} batch-1 calls")
    header = f"{'path':<24}{'batch 32 img/s':>16}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    print("-" * len(header))
    ratios = {}
    for name in paths:
        ips = 32 / median(through[name])
        ratios[name] = ips / base
        ms = np.array(lat[name]) * 1e3
        print(
            f"{name:<24}{ips:>16.1f}{ratios[name]:>7.2f}x{np.percentile(ms, 50):>9.1f}"
            f"{np.percentile(ms, 99):>9.1f}"
        )
    best = max((n for n in paths if n != "fp32 eager (baseline)"), key=ratios.get, default=None)
    if best is not None:
        print(ratio_line(f"best engine ({best}) vs fp32 eager, batch 32", ratios[best],
                         TARGET_THROUGHPUT))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
