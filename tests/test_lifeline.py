"""A worker started with exit_with_parent ends when the process that started it is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from healthcnn._lifeline import exit_with_parent

ROOT = Path(__file__).resolve().parents[1]
CHILD = (
    "import time; from healthcnn._lifeline import exit_with_parent; "
    "exit_with_parent(interval=0.05); time.sleep(120)"
)
PARENT = (
    "import subprocess, sys, time; "
    f"c = subprocess.Popen([sys.executable, '-c', {CHILD!r}]); "
    "print(c.pid, flush=True); time.sleep(120)"
)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an ended child that nobody has reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_worker_ends_when_its_parent_is_killed() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, env=env)
    child = None
    try:
        child = int(parent.stdout.readline())
        time.sleep(0.5)
        assert _running(child)  # the watcher leaves it alone while the parent lives
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        parent.stdout.close()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)  # never leave a stray process behind a failure


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be > 0"):
        exit_with_parent(interval=0)
