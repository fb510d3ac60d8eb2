"""Progress on a terminal (live tqdm bar, no line wider than the terminal), in a log file (one
line per task, no carriage returns) and in Jupyter (live while it runs)."""

from __future__ import annotations

import io
import re

from healthcnn._progress import Progress, fit_width

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class KernelStream(io.StringIO):
    """Stands in for ipykernel's OutStream (not a terminal, renders carriage returns)."""


KernelStream.__module__ = "ipykernel.iostream"


def _epoch(stream, **kw) -> str:
    bar = Progress(40, desc="epoch 12/100", unit="batch", stream=stream, min_interval=0, **kw)
    for _ in range(40):
        bar.update(1, loss=0.123456)
    bar.postfix.update(val_loss=0.5261, val_auc=0.91234, val_accuracy=0.81234, val_kappa=0.5)
    bar.close()
    return stream.getvalue()


def test_terminal_lines_fit_its_width_and_end_with_the_summary() -> None:
    for columns in (40, 80, 200):
        text = _epoch(Tty(), columns=columns)
        lines = [ANSI.sub("", line) for line in re.split("[\r\n]", text)]
        assert max(len(line) for line in lines) <= columns
        assert "\r" in text  # it was drawn live
        summary = text.rsplit("\r", 1)[-1]
        assert "40/40" in summary and "val_kappa=0.5" in summary


def test_log_file_gets_one_line_per_epoch_without_carriage_returns() -> None:
    text = _epoch(io.StringIO())
    assert "\r" not in text and "\x1b" not in text
    assert text.count("\n") == 1 and "val_auc=0.9123" in text


def test_jupyter_shows_progress_while_it_runs(monkeypatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    stream = KernelStream()
    bar = Progress(4, desc="epoch 1/1", unit="batch", stream=stream, min_interval=0)
    bar.update(1, loss=0.5)
    assert bar.notebook and "1/4" in stream.getvalue()  # before the epoch ends
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_fit_width_wraps_at_separators() -> None:
    line = "epoch 1/2  4/4  loss=0.1  val_loss=0.2  val_auc=0.9"
    wrapped = fit_width(line, 24).splitlines()
    assert all(len(part) <= 24 for part in wrapped) and len(wrapped) > 1
    assert fit_width(line, 200) == line
