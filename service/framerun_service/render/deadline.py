"""A deadline for calls into the page.

Playwright's ``evaluate`` has no timeout, and a page stuck in a busy loop answers
nothing — not even a timer the page set to give up. When a call overruns, the
deadline kills this process's Chrome renderer processes: the call fails at once,
the browser itself survives (the next page gets a fresh renderer), and the
caller reports COMPOSITION_TIMEOUT instead of hanging until the request's own
timeout (an hour on Cloud Run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def _descendants(root: int) -> list[int]:
    """Every process below ``root``, from /proc (Linux, where the engine runs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def renderer_pids(root: int | None = None) -> list[int]:
    """The Chrome renderer processes started (through Playwright) by this process."""
    pids = []
    for pid in _descendants(os.getpid() if root is None else root):
        with contextlib.suppress(OSError):
            if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
    return pids


class _Watchdog:
    """One thread per process that fires the current deadline.

    A ``threading.Timer`` per call would start a thread for every frame (about
    0.3 ms each); seeks in a process are sequential, so one armed deadline at a
    time is all there is to watch.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: float | None = None
        self._expired = threading.Event()
        self._owner = 0  # the pid whose thread runs: a forked child starts its own

    def arm(self, seconds: float) -> threading.Event:
        with self._cond:
            if self._owner != os.getpid():
                self._owner = os.getpid()
                threading.Thread(target=self._run, name="page-deadline", daemon=True).start()
            self._expired = threading.Event()
            self._due = time.monotonic() + seconds
            self._cond.notify()
            return self._expired

    def disarm(self) -> None:
        with self._cond:
            self._due = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._due is None or time.monotonic() < self._due:
                    self._cond.wait(None if self._due is None else self._due - time.monotonic())
                self._due = None
                expired = self._expired
            expired.set()
            for pid in renderer_pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def page_deadline(seconds: float) -> Iterator[threading.Event]:
    """Run the block with a deadline; the event is set if it was hit (renderers killed)."""
    expired = _WATCHDOG.arm(seconds)
    try:
        yield expired
    finally:
        _WATCHDOG.disarm()
