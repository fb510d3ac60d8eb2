"""Worker processes that end with the process that started them.

A sweep runs its networks in child processes (a ``ProcessPoolExecutor`` or one ``subprocess``
per job). When the sweep itself is stopped (``kill``, ``timeout``, a closed terminal), such
children are re-parented and would keep training and writing result files that nobody waits
for, beside whatever runs next. :func:`exit_with_parent` starts a daemon thread in the child that
ends it as soon as its parent is gone (the parent process id changes on re-parenting). Written
here because the standard library has no portable hook for it: Linux's ``PR_SET_PDEATHSIG``
needs ``ctypes`` and fires on the death of the parent *thread*, which a pool's management thread
is not.
"""

from __future__ import annotations

import os
import threading
import time

#: the exit status of a child ended because its parent is gone (as for SIGTERM: 128 + 15)
EXIT_STATUS = 143


def exit_with_parent(parent_pid: int | None = None, interval: float = 1.0) -> threading.Thread:
    """End this process (status :data:`EXIT_STATUS`, no cleanup) once ``parent_pid`` (default:
    the current parent) is no longer its parent; checked every ``interval`` seconds by a daemon
    thread, which is returned."""
    if interval <= 0:
        raise ValueError(f"interval must be > 0 seconds, got {interval}")
    parent = os.getppid() if parent_pid is None else int(parent_pid)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(EXIT_STATUS)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
