"""Micro-batching: requests that arrive while the model is busy are scored together.

One :class:`MicroBatcher` per model. Requests wait in an asyncio queue; one loop takes the first
waiting request, then every request already queued (up to ``max_batch`` inputs in all), waits up
to ``max_wait_ms`` for more while the batch is not full, and runs the batch in the model's own
thread, off the event loop, which keeps accepting and decoding uploads meanwhile. An idle server
therefore answers a lone request after at most ``max_wait_ms`` of waiting, and under load the
batch grows to what arrived during the previous batch: the throughput of batched inference
without a fixed delay.

One thread, :func:`model_thread`, does all of the process's work with tensors: loading and
warming up the models, decoding uploads, every batch and every explanation (through
:meth:`MicroBatcher.run_exclusive`). Model calls never overlap, so two batches never fight over
the cores, and only one OpenMP team exists: PyTorch's CPU build uses GNU OpenMP, which keeps a
team of threads per calling thread and, once more OpenMP threads exist than CPUs, stops letting
idle team threads spin before they sleep. Measured here (2 cores, ResNet-18 at 224 px, batch 1):
15.5 ms per call with one team, 20.5 ms once a second thread had run the model (batch 32 was
the same either way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..data.arrays import ArrayDataset

_MODEL_THREAD: ThreadPoolExecutor | None = None


def model_thread() -> ThreadPoolExecutor:
    """The process's one thread for tensor work (created on first use, kept for the process's
    life: every service built in the process shares it)."""
    global _MODEL_THREAD
    if _MODEL_THREAD is None:
        _MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="healthcnn-model")
    return _MODEL_THREAD


@dataclass
class _Job:
    inputs: ArrayDataset
    future: asyncio.Future
    queued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Gathers requests for ``score(list of inputs, batch_size) -> list of results``."""

    def __init__(
        self,
        score: Callable[[list[ArrayDataset], int], list[Any]],
        executor: ThreadPoolExecutor,
        *,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {max_wait_ms}")
        self.score = score
        self.executor = executor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.queue: asyncio.Queue[_Job] = asyncio.Queue()
        self.batches = 0
        self.inputs = 0
        self._task: asyncio.Task | None = None
        self._carry: _Job | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        waiting = [] if self._carry is None else [self._carry]
        while not self.queue.empty():
            waiting.append(self.queue.get_nowait())
        for job in waiting:  # never leave a caller waiting forever
            if not job.future.done():
                job.future.set_exception(RuntimeError("the service is shutting down"))

    async def submit(self, inputs: ArrayDataset) -> Any:
        """The result for ``inputs`` once its batch has run."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(_Job(inputs, future))
        return await future

    async def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` on the model thread, between batches (decoding an upload, explaining)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def _next(self, timeout: float | None) -> _Job | None:
        """The carried-over job, else a queued one (waiting up to ``timeout``; ``None``: as
        long as it takes), else ``None``."""
        if self._carry is not None:
            job, self._carry = self._carry, None
            return job
        try:
            if timeout is None:
                return await self.queue.get()
            if timeout <= 0:
                return self.queue.get_nowait()
            return await asyncio.wait_for(self.queue.get(), timeout)
        except (asyncio.QueueEmpty, TimeoutError):
            return None

    async def _gather(self) -> list[_Job]:
        """The next batch: at most ``max_batch`` inputs (a request that would overflow it
        waits for the next batch; one larger than ``max_batch`` runs alone, in chunks)."""
        first = await self._next(None)
        jobs, size = [first], len(first.inputs)
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch:
            job = await self._next(0) or await self._next(deadline - time.perf_counter())
            if job is None:
                break
            if size + len(job.inputs) > self.max_batch:
                self._carry = job
                break
            jobs.append(job)
            size += len(job.inputs)
        return jobs

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [j for j in await self._gather() if not j.future.done()]  # timed-out callers
            if not jobs:
                continue
            try:
                results = await loop.run_in_executor(
                    self.executor, self.score, [j.inputs for j in jobs], self.max_batch
                )
            except Exception as exc:  # the model failed: every caller of the batch hears it
                for j in jobs:
                    if not j.future.done():
                        j.future.set_exception(exc)
                continue
            self.batches += 1
            self.inputs += sum(len(j.inputs) for j in jobs)
            for j, result in zip(jobs, results, strict=True):
                if not j.future.done():
                    j.future.set_result(result)
