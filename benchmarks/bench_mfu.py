"""Model FLOP utilisation of training: ResNet-18 at 224 px, batch 32.

Training FLOP/s = analyser MACs per image (``healthcnn.analysis.summarize``, conv + linear,
the counting convention of docs/counting.md) x 2 (FLOPs per MAC) x 3 (forward, plus a backward
pass costing about twice the forward) x images/s. The peak is a 2048^3 matrix product measured
in the same run on the same device, in bf16 and in fp32 (on a GPU 8192^3; its fp32 product
may use TF32 where torch allows it). Ours is the Trainer under the default precision policy
(bf16 autocast + channels-last where the device has bf16 instructions), set against the bf16
peak; the baseline is the hand-written fp32 eager loop, set against the fp32 peak. The goal is
35% of the bf16 peak on CPU and 40% on a GPU.

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
from healthcnn.models import create_model

#: the goal for the Trainer's share of the bf16 matmul peak, by device type
TARGET_MFU = {"cpu": 0.35, "cuda": 0.40}
SHAPE = (3, 224, 224)
PEAK_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


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

    def peaks_now() -> dict[str, float]:
        return {k: matmul_peak(t, device=device) for k, t in PEAK_DTYPES.items()}

    peaks = peaks_now()
    case = TrainCase("ResNet-18 224 px b32", build, SHAPE, 32, 5)
    r = compare_training(case, steps, repeats, device)
    peaks_after = peaks_now()
    peak = {k: max(peaks[k], peaks_after[k]) for k in peaks}
    print(
        f"  {macs / 1e9:.3f} GMACs per image forward (analyser); training FLOPs per image = "
        f"MACs x 2 x 3 = {flops_per_image / 1e9:.2f} GFLOP"
    )
    print(
        f"  matmul peak {'8192' if device.type == 'cuda' else '2048'}^3 on {device} "
        f"(best of before/after): bf16 {peak['bf16']:.0f} GFLOP/s, "
        f"fp32 {peak['fp32']:.0f} GFLOP/s"
    )
    header = f"{'path':<26}{'img/s':>8}{'GFLOP/s':>10}{'MFU bf16 peak':>15}{'MFU fp32 peak':>15}"
    print(header)
    print("-" * len(header))
    mfu = {}
    for name, ips in (
        ("ours (Trainer, auto)", r["ours"]),
        ("baseline (fp32 eager)", r["baseline"]),
    ):
        achieved = ips * flops_per_image / 1e9
        mfu[name] = (achieved / peak["bf16"], achieved / peak["fp32"])
        print(f"{name:<26}{ips:>8.1f}{achieved:>10.1f}{mfu[name][0]:>14.1%}{mfu[name][1]:>15.1%}")
    ours, goal = mfu["ours (Trainer, auto)"][0], TARGET_MFU[device.type]
    verdict = "meets" if ours >= goal else "BELOW"
    print(f"  ours vs the bf16 peak: {ours:.1%} (goal >= {goal:.0%}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
