"""Model FLOP utilisation of training: ResNet-18 at 224 px, batch 32.

Training FLOP/s = analyser MACs per image (``healthcnn.analysis.summarize``, conv + linear,
the counting convention of docs/counting.md) x 2 (FLOPs per MAC) x 3 (forward, plus a backward
pass costing about twice the forward) x images/s. The peak is a 2048^3 matrix product measured
in the same run on the same device, in bf16 and in fp32 (on a GPU 8192^3; its fp32 product
may use TF32 where torch allows it). Ours is the Trainer under the default precision policy
(bf16 autocast + channels-last where the device has bf16 instructions), set against the bf16
peak; the baseline is the hand-written fp32 eager loop, set against the fp32 peak. The goal is
35% of the bf16 peak on CPU and 40% on a GPU.

On a device without native bf16 (e.g. a CPU with AVX2 and no AVX512-BF16 or AMX) ``auto``
trains in fp32, so ours is set against the fp32 peak and the goal is read against that; the
bf16 product is not measured there: it is emulated (about 1 GFLOP/s per core on such a CPU, so
minutes for one 2048^3 product) and no peak of anything the Trainer runs.

Run: ``python benchmarks/bench_mfu.py [--quick] [--repeats 3] [--steps 3] [--device cuda]``
(on a GPU the steps per timed epoch default to 50).
"""

from __future__ import annotations

import sys

import torch

from _common import (
    GPU_STEPS,
    STEPS_HELP,
    TrainCase,
    base_parser,
    compare_training,
    machine_header,
    matmul_peak,
    parse_counts,
)
from healthcnn.analysis import summarize
from healthcnn.inference.precision import PrecisionPolicy
from healthcnn.models import create_model

#: the goal for the Trainer's share of the matmul peak of the precision it trains at (bf16
#: where the device has it), by device type
TARGET_MFU = {"cpu": 0.35, "cuda": 0.40}
SHAPE = (3, 224, 224)
PEAK_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def peaks_to_measure(trainer_precision: str) -> dict[str, torch.dtype]:
    """The matmul peaks worth measuring: fp32 (the baseline's) always, bf16 only where the
    Trainer's ``auto`` runs bf16 (the device computes it natively)."""
    if trainer_precision not in PEAK_DTYPES:
        raise ValueError(
            f"precision must be one of {sorted(PEAK_DTYPES)}, got {trainer_precision!r}"
        )
    return {k: t for k, t in PEAK_DTYPES.items() if k == "fp32" or k == trainer_precision}


def share_of_peak(gflops: float, peaks: dict[str, float], precision: str) -> float:
    """``gflops`` as a share of the measured peak of ``precision``; a missing or non-positive
    peak is an error, never a share."""
    peak = peaks.get(precision)
    if peak is None or not peak > 0:
        raise ValueError(f"no measured {precision} matmul peak to set {gflops:.1f} GFLOP/s against")
    return gflops / peak


def verdict_line(share: float, precision: str, goal: float) -> str:
    """The goal line: ours against the peak of the precision ``auto`` trained at."""
    verdict = "meets" if share >= goal else "BELOW"
    where = "" if precision == "bf16" else " (no native bf16 here: `auto` trains in fp32)"
    return f"  ours vs the {precision} peak{where}: {share:.1%} (goal >= {goal:.0%}: {verdict})"


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    args = parse_counts(parser, argv, repeats=(1, 3), gpu=GPU_STEPS, steps=(1, 3, STEPS_HELP))
    repeats, steps = args.repeats, args.steps
    device = args.device
    print(machine_header("training model FLOP utilisation, ResNet-18 224 px batch 32", device))

    def build() -> torch.nn.Module:
        return create_model("resnet18", spatial_dims=2, in_channels=3, num_classes=5)

    macs = summarize(build(), SHAPE, cross_check=False).totals.macs
    flops_per_image = macs * 2 * 3

    # what the Trainer's `auto` runs this 2D network at on this device
    precision = PrecisionPolicy.resolve("auto", device).name
    dtypes = peaks_to_measure(precision)

    def peaks_now() -> dict[str, float]:
        return {k: matmul_peak(t, device=device) for k, t in dtypes.items()}

    peaks = peaks_now()
    case = TrainCase("ResNet-18 224 px b32", build, SHAPE, 32, 5)
    r = compare_training(case, steps, repeats, device)
    peaks_after = peaks_now()
    peak = {k: max(peaks[k], peaks_after[k]) for k in peaks}
    print(
        f"  {macs / 1e9:.3f} GMACs per image forward (analyser); training FLOPs per image = "
        f"MACs x 2 x 3 = {flops_per_image / 1e9:.2f} GFLOP"
    )
    bf16 = f"{peak['bf16']:.0f} GFLOP/s" if "bf16" in peak else "not measured (no native bf16)"
    print(
        f"  matmul peak {'8192' if device.type == 'cuda' else '2048'}^3 on {device} "
        f"(best of before/after): bf16 {bf16}, fp32 {peak['fp32']:.0f} GFLOP/s; "
        f"the Trainer's auto trains at {precision}"
    )
    header = f"{'path':<26}{'img/s':>8}{'GFLOP/s':>10}{'MFU bf16 peak':>15}{'MFU fp32 peak':>15}"
    print(header)
    print("-" * len(header))
    for name, ips in (
        ("ours (Trainer, auto)", r["ours"]),
        ("baseline (fp32 eager)", r["baseline"]),
    ):
        achieved = ips * flops_per_image / 1e9
        of_bf16 = f"{share_of_peak(achieved, peak, 'bf16'):.1%}" if "bf16" in peak else "n/a"
        of_fp32 = share_of_peak(achieved, peak, "fp32")
        print(f"{name:<26}{ips:>8.1f}{achieved:>10.1f}{of_bf16:>15}{of_fp32:>15.1%}")
    ours = share_of_peak(r["ours"] * flops_per_image / 1e9, peak, precision)
    print(verdict_line(ours, precision, TARGET_MFU[device.type]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
