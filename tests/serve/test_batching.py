"""The micro-batcher: requests that wait together are scored together (never more than
``max_batch`` inputs), a lone request is not held back, a failing batch fails each of its callers
and the next batch still runs, and a caller that gave up is skipped."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from healthcnn.data.arrays import ArrayDataset
from healthcnn.serve.batching import MicroBatcher


def inputs(n: int, tag: int) -> ArrayDataset:
    images = torch.full((n, 1, 2, 2), tag, dtype=torch.uint8)
    return ArrayDataset(images, torch.zeros(n, dtype=torch.long), ["a", "b"])


class Recorder:
    """A scoring function that records each batch's sizes and can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.fail_next = False

    def __call__(self, items: list[ArrayDataset], batch_size: int) -> list[list[int]]:
        self.release.wait(10)
        self.batches.append([len(i) for i in items])
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model failed")
        return [[int(i.images[0, 0, 0, 0])] * len(i) for i in items]


async def _run(recorder: Recorder, body, **kw):
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(recorder, pool, **kw)
        batcher.start()
        try:
            return await body(batcher)
        finally:
            await batcher.stop()


def test_waiting_requests_share_a_batch_of_at_most_max_batch() -> None:
    rec = Recorder()

    async def body(b: MicroBatcher):
        rec.release.clear()  # the first batch holds the model thread: the rest queue up
        first = asyncio.ensure_future(b.submit(inputs(1, 0)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(b.submit(inputs(2, k))) for k in range(1, 7)]
        await asyncio.sleep(0.05)
        rec.release.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(_run(rec, body, max_batch=5, max_wait_ms=0))
    assert first == [0] and rest == [[k, k] for k in range(1, 7)]  # each caller its own rows
    assert rec.batches[0] == [1]
    assert all(sum(b) <= 5 for b in rec.batches)
    assert sum(map(sum, rec.batches)) == 13 and len(rec.batches) == 4  # 1, then 4 + 4 + 4


def test_a_lone_request_is_not_held_back() -> None:
    rec = Recorder()

    async def body(b: MicroBatcher):
        return await asyncio.wait_for(b.submit(inputs(1, 3)), 5)

    assert asyncio.run(_run(rec, body, max_batch=32, max_wait_ms=1)) == [3]
    assert rec.batches == [[1]]


def test_a_failing_batch_fails_its_callers_and_the_next_runs() -> None:
    rec = Recorder()

    async def body(b: MicroBatcher):
        rec.fail_next = True
        with pytest.raises(RuntimeError, match="model failed"):
            await b.submit(inputs(1, 1))
        return await b.submit(inputs(1, 2))

    assert asyncio.run(_run(rec, body)) == [2]


def test_a_caller_that_gave_up_is_skipped() -> None:
    rec = Recorder()

    async def body(b: MicroBatcher):
        rec.release.clear()
        busy = asyncio.ensure_future(b.submit(inputs(1, 0)))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.submit(inputs(4, 9)), 0.05)
        rec.release.set()
        await busy
        return await b.submit(inputs(1, 5))

    assert asyncio.run(_run(rec, body, max_wait_ms=0)) == [5]
    assert [4] not in rec.batches  # the abandoned request never reached the model


def test_bad_settings_are_refused() -> None:
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(ValueError, match="max_batch"):
            MicroBatcher(Recorder(), pool, max_batch=0)
        with pytest.raises(ValueError, match="max_wait_ms"):
            MicroBatcher(Recorder(), pool, max_wait_ms=-1)
