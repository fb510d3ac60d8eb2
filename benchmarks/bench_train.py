"""Training throughput (images/s): our Trainer against a hand-written fp32 eager loop.

Cases: ResNet-18 on 28 px RGB at batch 128 with the MedMNIST stem (3x3 stride 1, no max pool)
and with the ImageNet stem; at 224 px, batch 32; a 1D ResNet-18 on 12-lead x 5000-sample
real-valued ECG windows, batch 16; a 3D ResNet-18 on 64^3 volumes, batch 4. Both paths train
the same model from the same initial weights on the same samples with Adam. Ours is
``Trainer.fit`` (one epoch per measurement, validation excluded: the Trainer's own images/s)
under the default precision policy ("auto": bf16 autocast + channels-last where the CPU has
bf16 instructions); the baseline is the textbook loop in fp32, eager, contiguous.

Run: ``python benchmarks/bench_train.py [--quick] [--repeats 3] [--steps 3] [--only 224]
[--device cuda]`` (on a GPU the steps per timed epoch default to 50).
"""

from __future__ import annotations

import sys

from _common import (
    GPU_STEPS,
    STEPS_HELP,
    TrainCase,
    base_parser,
    compare_training,
    machine_header,
    parse_counts,
)
from healthcnn.models import create_model
from healthcnn.training import PrecisionPolicy, TrainingError


def cases() -> list[tuple[TrainCase, float | None]]:
    def resnet(dims: int, chans: int, classes: int, **kw):
        return lambda: create_model(
            "resnet18", spatial_dims=dims, in_channels=chans, num_classes=classes, **kw
        )

    return [
        (TrainCase("ResNet-18 28 px small stem b128", resnet(2, 3, 5, stem="small"),
                   (3, 28, 28), 128, 5), 1.0),
        (TrainCase("ResNet-18 28 px imagenet stem b128", resnet(2, 3, 5), (3, 28, 28), 128, 5),
         1.0),
        (TrainCase("ResNet-18 224 px b32", resnet(2, 3, 5), (3, 224, 224), 32, 5), 3.0),
        (TrainCase("ResNet-18 1D ECG 12x5000 b16", resnet(1, 12, 5), (12, 5000), 16, 5,
                   real_valued=True), None),
        (TrainCase("ResNet-18 3D 64^3 b4", resnet(3, 1, 2), (1, 64, 64, 64), 4, 2), None),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parse_counts(parser, argv, repeats=(1, 3), gpu=GPU_STEPS, steps=(2, 4, STEPS_HELP))
    repeats, steps = args.repeats, args.steps
    device = args.device
    policy = PrecisionPolicy.resolve("auto", device)
    print(machine_header("training throughput: Trainer vs fp32 eager loop", device))
    print(
        f"  ours: Trainer, precision auto -> {policy.describe()}; baseline: fp32 eager "
        f"contiguous, samples already on {device}; {steps} steps per epoch, median of "
        f"{repeats} interleaved epochs after a warm-up each"
    )
    failed: list[str] = []
    header = f"{'case':<36}{'ours img/s':>12}{'baseline':>10}{'ratio':>8}  target"
    print(header)
    print("-" * len(header))
    for case, target in cases():
        if args.only and args.only not in case.name:
            continue
        try:
            r = compare_training(case, steps, repeats, device)
        except TrainingError as exc:  # report it and go on with the other cases
            print(f"{case.name:<36}FAILED: {exc}", flush=True)
            failed.append(case.name)
            continue
        goal = f">= {target:.1f}x" if target else "-"
        print(
            f"{case.name:<36}{r['ours']:>12.1f}{r['baseline']:>10.1f}{r['ratio']:>7.2f}x  {goal}",
            flush=True,
        )
    print("ratio = ours / baseline images/s (above 1: the Trainer is faster)")
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
