"""Progress for long work (downloads, epochs, batches), on stderr.

Three places, three behaviours:

- **a terminal**: a live tqdm bar that fits the terminal's width (it follows a resize), then
  one summary line per task, wrapped so no line is wider than the terminal;
- **Jupyter**: a live tqdm bar (a widget where ipywidgets is installed, else text), then the
  summary line: progress shows while the epoch runs, not only when it ends;
- **anything else** (a log file, CI, pytest): nothing while it runs and one summary line on
  ``close()``, so a log gets one line per epoch and no carriage returns.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
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


def in_notebook(stream: TextIO) -> bool:
    """Whether ``stream`` is a Jupyter kernel's output stream (which is not a terminal but
    renders carriage returns and widgets)."""
    return type(stream).__module__.startswith("ipykernel") and "ipykernel" in sys.modules


def _bar_class(notebook: bool) -> type:
    from tqdm.std import tqdm

    if notebook:
        try:
            import ipywidgets  # noqa: F401  (tqdm's notebook bar needs it)
            from tqdm.notebook import tqdm as notebook_tqdm
        except ImportError:
            return tqdm
        return notebook_tqdm
    return tqdm


def fit_width(line: str, columns: int) -> str:
    """``line`` wrapped at its double-space separators (or anywhere, for one long part) so
    no line is wider than ``columns``; continuation lines are indented."""
    if len(line) <= columns:
        return line
    return "\n".join(
        textwrap.wrap(line, width=max(columns, 20), subsequent_indent="  ", break_on_hyphens=False)
    )


class Progress:
    """``Progress(total, desc, unit)``; call ``update(n, **postfix)`` then ``close()``.

    ``total`` may be ``None`` (unknown: no percentage, no ETA). ``unit="B"`` prints sizes in
    KiB/MiB. ``enabled=False`` prints nothing at all; ``enabled=None`` (default) shows a live
    bar on a terminal or in Jupyter and writes only the final line elsewhere. ``columns``
    fixes the terminal width (default: measured). Usable as a context manager.
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
        columns: int | None = None,
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = True if enabled is None else bool(enabled)
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = self.enabled and bool(isatty and isatty())
        self.notebook = self.enabled and not self.terminal and in_notebook(self.stream)
        self.interactive = self.terminal or self.notebook
        self.n = initial
        self._initial = initial
        self.postfix: dict[str, Any] = {}
        self.width = width
        self.columns = columns
        self._start = time.monotonic()
        self._closed = False
        self._bar = self._live_bar(min_interval) if self.interactive else None

    def _live_bar(self, min_interval: float) -> Any:
        return _bar_class(self.notebook)(
            total=self.total,
            desc=self.desc,
            unit="iB" if self.unit == "B" else self.unit,  # with the 1024 divisor: KiB, MiB
            initial=self._initial,
            file=self.stream,
            ncols=self.columns,
            dynamic_ncols=self.columns is None and self.terminal,
            mininterval=min_interval,
            leave=False,
            unit_scale=self.unit == "B",
            unit_divisor=1024,
        )

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
        """Advance by ``n`` and set postfix values (e.g. ``loss=0.31``); the live bar redraws
        at most every ``min_interval`` seconds."""
        self.n += n
        if postfix:
            self.postfix.update(postfix)
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix_str(self._postfix_text(), refresh=False)
            self._bar.update(n)

    def _postfix_text(self) -> str:
        return "  ".join(
            f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in self.postfix.items()
        )

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
        if self.postfix:
            parts.append(self._postfix_text())
        return "  ".join(parts)

    def close(self) -> None:
        """Finish: the live bar goes and one final line stays (on a terminal, wrapped to its
        width). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        line = self.line()
        if self._bar is not None:
            self._bar.close()
        if self.terminal:
            columns = self.columns or shutil.get_terminal_size(fallback=(80, 24)).columns
            line = fit_width(line, columns)
        self.stream.write(line + "\n")
        self.stream.flush()
