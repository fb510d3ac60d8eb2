"""How long the analyser takes next to torchinfo, on the same models in the same run.

Models: the lecture's single-tower AlexNet at 227 px, a ResNet-18 (torchvision layout) at 224 px
and a small 3D CNN on a 64^3 volume; all defined here with plain ``torch.nn`` so the numbers do
not move when the model zoo changes. Each tool runs once to warm up, then ``--repeats`` times
round-robin (so a load spike hits all of them alike); the medians and the ratio
summarize / torchinfo are printed, with a bare forward pass as the floor. Both tools do one
forward pass with hooks; ``summarize`` also cross-checks with PyTorch's flop counter by default,
so it is timed without the cross-check too (``cross_check=False``).

Run: ``python benchmarks/bench_summary.py [--repeats 7] [--threads N]``. One thread by default:
the comparison is about the analysers' own overhead, which many threads on a busy machine drown
in noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from healthcnn.analysis import summarize
from healthcnn.inference.precision import cpu_name


def alexnet_single_tower() -> nn.Module:
    """The lecture's AlexNet: 96-256-384-384-256, FC 9216-4096-4096-1000 (62,378,344 params)."""
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 384, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(9216, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, 1000),
    )


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


def resnet18_like(num_classes: int = 1000) -> nn.Module:
    """ResNet-18 in torchvision's layout (BN, 1x1 projection shortcuts; 11,689,512 params)."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)]
    return nn.Sequential(*layers)


def small_3d_cnn(num_classes: int = 2) -> nn.Module:
    """A small volume classifier: four conv-BN-ReLU-pool stages on a 1x64x64x64 volume."""
    layers: list[nn.Module] = []
    cin = 1
    for cout in (16, 32, 64, 128):
        layers += [
            nn.Conv3d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm3d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(2),
        ]
        cin = cout
    layers += [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


MODELS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = [
    ("AlexNet (one tower) 227 px", alexnet_single_tower, (3, 227, 227)),
    ("ResNet-18 224 px", resnet18_like, (3, 224, 224)),
    ("3D CNN 64^3", small_3d_cnn, (1, 64, 64, 64)),
]


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed round-robin so load spikes hit them alike."""
    for fn in fns.values():
        fn()  # warm-up: first-call allocations and lazy initialisation
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: steady timings on a shared machine; 0 = torch's default)",
    )
    args = parser.parse_args(argv)
    try:
        import torchinfo
    except ImportError:
        print(
            "bench_summary: torchinfo is not installed; it is the baseline this benchmark "
            "compares against. Install it with: pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"analyser vs torchinfo: median of {args.repeats} interleaved runs after a warm-up; "
        f"{cpu_name()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, torchinfo {torchinfo.__version__}"
    )
    header = (
        f"{'model':<28}{'forward':>10}{'summarize':>11}{'(no check)':>11}"
        f"{'torchinfo':>11}{'ratio':>8}{'(no check)':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, build, shape in MODELS:
        model = build().eval()
        x = torch.randn(1, *shape)

        def forward(model=model, x=x):
            with torch.no_grad():
                model(x)

        t = interleaved_medians(
            {
                "forward": forward,
                "ours": lambda m=model, s=shape: summarize(m, s),
                "no_check": lambda m=model, s=shape: summarize(m, s, cross_check=False),
                "torchinfo": lambda m=model, s=shape: torchinfo.summary(
                    m, input_size=(1, *s), verbose=0
                ),
            },
            args.repeats,
        )
        ours = summarize(model, shape)
        ti = torchinfo.summary(model, input_size=(1, *shape), verbose=0)
        if ours.totals.params != ti.total_params:
            print(
                f"  parameter counts differ: ours {ours.totals.params:,}, torchinfo "
                f"{ti.total_params:,}"
            )
        print(
            f"{name:<28}{t['forward'] * 1e3:>8.1f}ms{t['ours'] * 1e3:>9.1f}ms"
            f"{t['no_check'] * 1e3:>9.1f}ms{t['torchinfo'] * 1e3:>9.1f}ms"
            f"{t['ours'] / t['torchinfo']:>7.2f}x{t['no_check'] / t['torchinfo']:>10.2f}x"
        )
    print(
        "ratio = summarize (with its flop-counter cross-check; without it in the last column) "
        "/ torchinfo.summary; < 1 is faster"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
