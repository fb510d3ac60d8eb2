"""Shared pieces of the speed benchmarks: the machine header, interleaved timing, the matmul
peak, and the two training loops (the Trainer and a hand-written fp32 eager baseline).

``--device cuda`` (the training benchmarks) runs both loops on the GPU: the baseline's samples
sit on the device before timing starts (the fastest a plain loop can feed it), the Trainer copies
each batch as it does in use, and every timed region ends with a device synchronisation.

Every benchmark times OUR path and a plain-PyTorch BASELINE in the same process, round-robin
(so a load spike on a shared machine hits both alike), and prints medians and the ratio
ours / baseline (above 1: ours is faster), next to the target the project set for it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from healthcnn.inference.precision import cpu_flags, cpu_has_native_bf16, cpu_name


def synchronize(device: torch.device | str) -> None:
    """Wait for the work queued on ``device`` (a no-op on CPU), so a timer read next includes it."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_header(title: str, device: torch.device | str = "cpu") -> str:
    """What the numbers depend on: CPU, its bf16/AMX/AVX-512 flags, threads, load, versions;
    and the GPU (name, memory, multiprocessors, CUDA version) when ``device`` is one."""
    flags = sorted(f for f in cpu_flags() if f.startswith(("amx", "avx512_bf16", "avx512f")))
    try:
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    return (
        f"{title}\n"
        f"  CPU {cpu_name()} ({os.cpu_count()} logical cores), flags {' '.join(flags) or 'none'}"
        f" (native bf16: {cpu_has_native_bf16()}); torch threads {torch.get_num_threads()}; "
        f"load average {load}\n"
        f"  Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}"
        + _gpu_line(torch.device(device))
    )


def _gpu_line(device: torch.device) -> str:
    if device.type != "cuda":
        return ""
    p = torch.cuda.get_device_properties(device)
    return (
        f"\n  GPU {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} "
        f"multiprocessors, CUDA {torch.version.cuda}"
    )


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny repeat counts (smoke test)")
    parser.add_argument("--repeats", type=int, help="timed repeats per path (median reported)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (default 0: torch's default)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the training benchmarks run: cpu (default) or cuda[:N]",
    )
    return parser


STEPS_HELP = "optimiser steps per timed epoch"


def parse_counts(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *,
    repeats: tuple[int, int],
    gpu: dict[str, tuple[int, int]] | None = None,
    **counts: tuple[int | None, int | None, str],
) -> argparse.Namespace:
    """Declare each further count option ``--NAME`` (an int) as ``(quick, full, help)``, parse
    the command line of a :func:`base_parser`, apply ``--threads``, and fill each count the user
    left out (absent or 0), ``--repeats`` included, with its quick or full default (on a GPU,
    the ``(quick, full)`` pair ``gpu`` gives for it, if any):
    ``parse_counts(parser, argv, repeats=(1, 3), steps=(2, 4, STEPS_HELP))``."""
    for name, (_, _, text) in counts.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, help=text)
    args = parser.parse_args(argv)
    args.device = _device(parser, args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    on_gpu = gpu if args.device.type == "cuda" else None
    for name, (quick, full, *_) in {"repeats": repeats, **counts}.items():
        if on_gpu and name in on_gpu:
            quick, full = on_gpu[name]
        if not getattr(args, name):
            setattr(args, name, quick if args.quick else full)
    return args


#: optimiser steps per timed epoch on a GPU (quick, full): a handful of steps there lasts a few
#: milliseconds, too short to time against launch overheads
GPU_STEPS = {"steps": (10, 50)}


def _device(parser: argparse.ArgumentParser, text: str) -> torch.device:
    """``--device`` checked as ``healthcnn train`` checks it (a usage error if it cannot run)."""
    from healthcnn.cli import CLIError
    from healthcnn.cli.config import check_device

    try:
        return torch.device(check_device(text))
    except CLIError as exc:
        parser.error(str(exc))


def interleaved(fns: dict[str, Callable[[], float | None]], repeats: int) -> dict[str, list]:
    """Each function once to warm up, then ``repeats`` rounds round-robin. A function may
    return its own measurement (e.g. images/s from the Trainer's epoch record); otherwise its
    wall time in seconds is recorded."""
    for fn in fns.values():
        fn()
    out: dict[str, list] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            value = fn()
            out[name].append(time.perf_counter() - start if value is None else value)
    return out


def median(values: list[float]) -> float:
    return statistics.median(values)


def ratio_line(label: str, ratio: float, target: float | None) -> str:
    if target is None:
        return f"  {label}: {ratio:.2f}x"
    verdict = "meets" if ratio >= target else "BELOW"
    return f"  {label}: {ratio:.2f}x (target >= {target:.1f}x: {verdict})"


def matmul_peak(
    dtype: torch.dtype, n: int | None = None, repeats: int = 5, device: torch.device | str = "cpu"
) -> float:
    """Measured GFLOP/s of an ``n x n`` by ``n x n`` matrix product in ``dtype`` on ``device``
    (best of ``repeats``; ``n`` defaults to 2048 on CPU and 8192 on a GPU, which a 2048 product
    does not fill)."""
    device = torch.device(device)
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


# ---- training: the Trainer vs a hand-written loop -----------------------------------------


class TrainCase:
    """One training throughput case: a model builder, a sample shape, a batch size.

    ``real_valued`` cases (ECG) hold float32 signals; image cases uint8 pixels. Both paths get
    the same samples, labels, initial weights and optimiser (Adam, lr 1e-3).
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], nn.Module],
        shape: tuple[int, ...],
        batch: int,
        num_classes: int,
        *,
        real_valued: bool = False,
    ) -> None:
        self.name, self.build, self.shape, self.batch = name, build, shape, batch
        self.num_classes, self.real_valued = num_classes, real_valued

    def data(self, steps: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        n = steps * self.batch
        if self.real_valued:
            x = torch.randn(n, *self.shape, generator=g)
        else:
            x = torch.randint(0, 256, (n, *self.shape), generator=g, dtype=torch.uint8)
        return x, torch.randint(0, self.num_classes, (n,), generator=g)


def trainer_epoch_fn(
    case: TrainCase, steps: int, precision: str = "auto", device: torch.device | str = "cpu"
) -> Callable[[], float]:
    """A function running one epoch of ``fit_model`` (the one fit path, hence the Trainer) over
    ``steps`` batches; returns its images/s (the Trainer's own measurement of the training
    loop, validation excluded). As in the baseline, one network (seed 0) keeps training from
    call to call, and inputs are not normalised."""
    from healthcnn.data.arrays import ArrayDataset
    from healthcnn.tasks import make_task
    from healthcnn.training import TrainConfig
    from healthcnn.training.fit import FitSpec, fit_model

    x, y = case.data(steps)
    classes = [str(i) for i in range(case.num_classes)]
    train = ArrayDataset(x, y, classes)
    val = train.subset(range(min(len(train), case.batch)))
    # monitor the loss: a throughput run on random labels has no meaningful AUC
    cfg = TrainConfig(
        epochs=1, batch_size=case.batch, lr=1e-3, precision=precision, monitor="loss", mode="min"
    )
    torch.manual_seed(0)
    model = case.build()
    # ``build`` hands fit_model the case's network (no registry lookup; the name is a label)
    spec = FitSpec(model=case.name, train=cfg, normalise=False, build=lambda: model, device=device)
    task = make_task("multiclass", classes)

    def run() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            history = fit_model(spec, train, val, task).history
        record = history.epochs[-1]
        if not np.isfinite(record.val_loss):
            print(f"  note: {case.name}: validation loss {record.val_loss} after this epoch")
        return record.images_per_second

    return run


def baseline_epoch_fn(
    case: TrainCase, steps: int, device: torch.device | str = "cpu"
) -> Callable[[], float]:
    """The plain-PyTorch baseline: fp32, eager, contiguous; the same data and model; a loop
    as a tutorial writes it, with the samples already on ``device``. Returns images/s.

    Each call starts with a fresh Adam, as each of the Trainer path's calls does (``fit_model``
    builds its optimiser per fit): so both time the allocation of Adam's state in their first
    step, and neither is charged for it alone."""
    x, y = case.data(steps)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(0)
    model = case.build().to(device)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)

    def run() -> float:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=g).to(device)
        for i in range(0, len(x), case.batch):
            idx = order[i : i + case.batch]
            xb = x[idx] if case.real_valued else x[idx].float() / 255.0
            loss = loss_fn(model(xb), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        synchronize(device)
        return len(x) / (time.perf_counter() - start)

    return run


def compare_training(
    case: TrainCase, steps: int, repeats: int, device: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Median images/s of the Trainer (policy "auto") and of the baseline, interleaved."""
    results = interleaved(
        {
            "ours": trainer_epoch_fn(case, steps, device=device),
            "baseline": baseline_epoch_fn(case, steps, device),
        },
        repeats,
    )
    ours, base = median(results["ours"]), median(results["baseline"])
    return {"ours": ours, "baseline": base, "ratio": ours / base}
