"""Shared pieces of the fuzz tests: the bounded hypothesis settings and the property itself.

The property every loader and parser must keep, whatever bytes or text it is given: it returns
a result that passes validation, or raises one clear error of the toolkit's own type (a
``ValueError`` subclass such as ``DataError``; ``FileNotFoundError`` where a file names another
file that is absent). Any other exception fails the test, and so does a hang: each example runs
under an alarm, besides hypothesis's own deadline.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

T = TypeVar("T")

#: per-target bound: the whole fuzz folder stays well under a minute on 2 cores
FUZZ = settings(
    max_examples=int(os.environ.get("HEALTHCNN_FUZZ_EXAMPLES", "40")),
    # generous: examples take milliseconds, but the CI machine is shared and timings vary
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
#: seconds after which one example counts as a hang
HANG_SECONDS = 60

CLEAR_ERRORS: tuple[type[BaseException], ...] = (ValueError,)


class Hang(Exception):
    """An example ran longer than HANG_SECONDS."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(
    call: Callable[[], T], allowed: tuple[type[BaseException], ...] = CLEAR_ERRORS
) -> T | None:
    """The call's result, or None when it raised an allowed error with a message; any other
    exception propagates (and fails the property)."""
    with no_hang():
        try:
            return call()
        except allowed as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            return None


def damage(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` with bytes flipped (``(position, xor)``, positions wrapped) and then cut short
    at ``cut`` (wrapped too): the damage a disk, a transfer or an editor does to a file."""
    out = bytearray(data)
    for pos, xor in flips:
        if out:
            out[pos % len(out)] ^= xor
    return bytes(out[: cut % (len(out) + 1)])


#: up to four flipped bytes anywhere
FLIPS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=4)


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    """``data``, cut at any length and with up to four bytes flipped."""
    return st.builds(damage, st.just(data), st.integers(0, len(data)), FLIPS)
