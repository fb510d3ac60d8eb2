"""Data-parallel training on ``torch.distributed``: process groups, sharding, gathering.

The Trainer runs unchanged in every process of a group; this module supplies what differs:

- **Launch.** ``torchrun --nproc-per-node N -m healthcnn train ...`` (or any launcher that sets
  ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``) is detected by :func:`init_from_env`;
  ``healthcnn train --nproc N`` calls :func:`launch`, which spawns N local processes on a free
  port of 127.0.0.1. Backend: ``nccl`` for CUDA devices, ``gloo`` on CPU. A launcher's group
  of one process (``torchrun --nproc-per-node 1``) runs the data-parallel path too (DDP over one
  rank, gathered validation): the way to exercise a backend, nccl included, on one GPU;
  ``--nproc 1`` stays a plain single-process run.
- **Sharding.** Every rank draws the *same* seeded epoch order (the single-process one); each
  global batch of ``batch_size`` samples is cut into ``world_size`` contiguous pieces, rank r
  taking piece r (per-rank batch = batch_size / world_size, the first ranks one larger when it
  does not divide). Each rank's loss is scaled by ``world_size * n_rank / n_batch``, so DDP's
  gradient average equals the gradient of the mean loss over the whole global batch, uneven
  pieces included: the same step a single process takes with the same global batch (exactly so
  for models without batch norm, whose statistics are per rank, and without class weights).
- **Validation.** Each rank predicts a strided shard of the validation set; the logits, of
  different lengths per rank, are gathered to every rank and put back in dataset order, and
  the metric is computed on the full set, so every rank takes the same best-epoch and
  early-stopping decisions.
- **Checkpoints** and the bundle are written by rank 0 only; on resume every rank reads the
  checkpoint (the output directory must be on a file system all ranks see).
"""

from __future__ import annotations

import os
import pickle
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class LaunchError(RuntimeError):
    """A process of a :func:`launch`-ed group failed; the message names the rank and error."""


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group."""

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> DistContext | None:
    """The active process group (a group of one included), else None."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world = dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistContext(dist.get_rank(), world, local, dist.get_backend())


def launched_by_torchrun() -> bool:
    """True when the environment describes a process group (torchrun's variables, any world
    size: a group of one is a group)."""
    if not all(k in os.environ for k in ENV_KEYS):
        return False
    world = os.environ["WORLD_SIZE"]
    if not world.isdigit() or int(world) < 1:
        raise ValueError(
            f"WORLD_SIZE={world!r} in the environment is not a process count (a whole number "
            f">= 1): fix the launcher's settings or unset {', '.join(ENV_KEYS)}"
        )
    return True


def backend_for(device: str | torch.device) -> str:
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str | torch.device = "cpu") -> DistContext:
    """Join the group the environment describes (``env://``); returns this rank's context.

    With CUDA, the process uses ``cuda:LOCAL_RANK``.
    """
    if not launched_by_torchrun():
        raise ValueError(
            f"no distributed launch found: set {', '.join(ENV_KEYS)} (torchrun does) or use "
            f"--nproc N"
        )
    backend = backend_for(device)
    local = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    ctx = current()
    if ctx is None:  # pragma: no cover - the group was initialised just above
        raise RuntimeError("the process group did not start")
    return ctx


def rank_device(device: str, ctx: DistContext | None) -> str:
    """``"cuda"`` becomes ``"cuda:LOCAL_RANK"`` in a group; anything else is unchanged."""
    if ctx is not None and device == "cuda":
        return f"cuda:{ctx.local_rank}"
    return device


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(
    local_rank: int,
    world: int,
    port: int,
    threads: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    results: Any,
) -> None:
    os.environ.update(
        {
            "RANK": str(local_rank),
            "LOCAL_RANK": str(local_rank),
            "WORLD_SIZE": str(world),
            "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(threads)
    ok = False
    try:
        value = fn(*args)
        ok = True
        if local_rank == 0:
            # plain pickle: torch's queue pickler would share tensors through file descriptors
            # that vanish when this process exits
            results.put(("ok", pickle.dumps(value)))
    except BaseException as exc:
        results.put(("error", f"rank {local_rank}: {type(exc).__name__}: {exc}"))
        raise
    finally:
        shutdown(wait_for_all=ok)


def shutdown(wait_for_all: bool = True) -> None:
    """Leave the process group, if one is active, before the interpreter exits.

    With ``wait_for_all`` every rank first waits for the others (a rank that destroys its gloo
    group while another still talks to it can die in C++, "terminate called without an active
    exception", seen in about a third of two-process test runs); leave it False after an error,
    when the other ranks may never arrive. The group is destroyed explicitly: one left for the
    interpreter's exit to tear down aborted a launcher's group of one the same way (once in a
    full CI run).
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if wait_for_all and dist.get_world_size() > 1:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def launch(fn: Callable[..., Any], nproc: int, *args: Any) -> Any:
    """Run ``fn(*args)`` in ``nproc`` spawned local processes forming one group; returns rank
    0's return value. ``fn`` must be importable (a module-level function) and call
    :func:`init_from_env` (the environment is set up for it). Each process gets
    ``cpu_count // nproc`` torch threads (at least one)."""
    import torch.multiprocessing as mp

    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc must be an int >= 1, got {nproc!r}")
    threads = max(1, (os.cpu_count() or 1) // nproc)
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    try:
        mp.start_processes(
            _worker,
            args=(nproc, free_port(), threads, fn, args, results),
            nprocs=nproc,
            join=True,
            start_method="spawn",
        )
    except (mp.ProcessRaisedException, mp.ProcessExitedException):
        errors = []
        while not results.empty():
            status, value = results.get()
            if status == "error":
                errors.append(value)
        raise LaunchError("; ".join(errors) or "a training process failed") from None
    while not results.empty():
        status, value = results.get()
        if status == "ok":
            return pickle.loads(value)
    raise LaunchError("rank 0 returned no result")


# ---- sharding and gathering -----------------------------------------------------------------


def batch_piece(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous piece of a batch of ``n`` (sizes differ by at most one)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def gather_rows(local: torch.Tensor, ctx: DistContext) -> list[torch.Tensor]:
    """Every rank's ``local`` tensor (first dimension may differ per rank), on every rank."""
    device = local.device if ctx.backend == "nccl" else torch.device("cpu")
    local = local.to(device)
    size = torch.tensor([local.shape[0]], device=device)
    sizes = [torch.zeros_like(size) for _ in range(ctx.world_size)]
    dist.all_gather(sizes, size)
    longest = max(int(s) for s in sizes)
    padded = local.new_zeros((longest, *local.shape[1:]))
    padded[: local.shape[0]] = local
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded.contiguous())
    return [p[: int(s)].cpu() for p, s in zip(parts, sizes, strict=True)]


def gather_in_order(local: torch.Tensor, ctx: DistContext, n: int) -> torch.Tensor:
    """Undo a strided shard: rank r held rows ``r, r + world, ...`` of ``n``; returns all ``n``
    rows in their original order."""
    parts = gather_rows(local, ctx)
    out = parts[0].new_empty((n, *parts[0].shape[1:]))
    for r, part in enumerate(parts):
        out[r :: ctx.world_size] = part
    return out


def all_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a small tensor over the ranks (a copy; CPU in, CPU out)."""
    device = torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else None
    t = values.detach().clone().to(device or "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu()


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank."""
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext | None) -> None:
    if ctx is not None:
        dist.barrier()


def shard_batches(
    ds: Any,
    batch_size: int,
    ctx: DistContext,
    *,
    generator: torch.Generator | None,
    transform: Any = None,
    sample_weights: Any = None,
    drop_last: bool = False,
    device: str | torch.device = "cpu",
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]]:
    """This rank's pieces of one epoch's global batches: ``(x, y, indices, global_n)``.

    The epoch order is the single-process one (:func:`~healthcnn.data.arrays.iterate_batches`
    with ``shuffle=True`` and the same generator state); only this rank's piece of each global
    batch is converted to float and transformed.
    """
    from ..data.arrays import batch_indices, make_batch

    device = torch.device(device)
    for batch in batch_indices(len(ds), batch_size, True, generator, sample_weights, drop_last):
        idx = batch[batch_piece(len(batch), ctx.rank, ctx.world_size)]
        x, y = make_batch(ds, idx, device, transform, generator, channels_last)
        yield x, y, idx, len(batch)


def epoch_steps(n: int, batch_size: int, world: int) -> tuple[int, bool]:
    """``(steps, drop_last)`` for an epoch of ``n`` samples: a last global batch with fewer
    samples than processes (so some rank would get none), or of a single sample (batch norm
    cannot train on one), is dropped."""
    remainder = n % batch_size
    drop_last = n > 1 and remainder > 0 and (remainder == 1 or remainder < world)
    return (n // batch_size if drop_last else -(-n // batch_size)), drop_last
