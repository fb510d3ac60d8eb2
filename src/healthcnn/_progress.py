"""A tiny dependency-free progress bar for long work (downloads, epochs, batches).

On a terminal it redraws one line in place (count, total, rate, ETA and any postfix values);
when the stream is not a terminal (logs, CI, pytest) it stays quiet and writes one final
summary line on ``close()``, so logs are not flooded with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_size(n: float) -> str:
    """``1536 -> '1.5 KiB'``: bytes in binary units."""
    value = float(n)
    for unit in _BYTE_UNITS:
        if abs(value) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``75 -> '01:15'``, ``3700 -> '1:01:40'``."""
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    """``Progress(total, desc, unit)``; call ``update(n, **postfix)`` then ``close()``.

    ``total`` may be ``None`` (unknown: no percentage, no ETA). ``unit="B"`` prints sizes in
    KiB/MiB. ``enabled=False`` prints nothing at all; ``enabled=None`` (default) draws on a
    terminal and writes only the final line elsewhere. Usable as a context manager.
    """

    def __init__(
        self,
        total: float | None = None,
        desc: str = "",
        unit: str = "it",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        initial: float = 0,
        min_interval: float = 0.1,
        width: int = 24,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = True if enabled is None else bool(enabled)
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = self.enabled and bool(isatty and isatty())
        self.n = initial
        self._initial = initial
        self.postfix: dict[str, Any] = {}
        self.min_interval = min_interval
        self.width = width
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    @property
    def rate(self) -> float:
        """Units per second since the start (counting only this session's progress)."""
        elapsed = self.elapsed
        return (self.n - self._initial) / elapsed if elapsed > 0 else 0.0

    def update(self, n: float = 1, **postfix: Any) -> None:
        """Advance by ``n`` and set postfix values (e.g. ``loss=0.31``); redraws at most every
        ``min_interval`` seconds."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw >= self.min_interval:
                self._last_draw = now
                self._draw(end="")

    def _fmt(self, value: float) -> str:
        if self.unit == "B":
            return format_size(value)
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"

    def line(self) -> str:
        """The current status line (without carriage return or newline)."""
        parts = [self.desc] if self.desc else []
        if self.total:
            frac = min(max(self.n / self.total, 0.0), 1.0)
            filled = int(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            parts.append(f"{frac * 100:3.0f}% [{bar}] {self._fmt(self.n)}/{self._fmt(self.total)}")
        else:
            parts.append(f"{self._fmt(self.n)}{'' if self.unit == 'B' else ' ' + self.unit}")
        rate = self.rate
        rate_text = format_size(rate) if self.unit == "B" else f"{rate:,.1f} {self.unit}"
        parts.append(f"{rate_text}/s")
        if self.total and rate > 0 and not self._closed:
            parts.append(f"ETA {format_duration((self.total - self.n) / rate)}")
        else:
            parts.append(f"in {format_duration(self.elapsed)}")
        for key, value in self.postfix.items():
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        return "  ".join(parts)

    def _draw(self, end: str) -> None:
        self.stream.write("\r" + self.line() + "\x1b[K" + end)
        self.stream.flush()

    def close(self) -> None:
        """Finish: a final line (on a terminal it replaces the live one). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self.interactive:
            self._draw(end="\n")
        else:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
