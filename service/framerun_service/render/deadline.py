"""A deadline for calls into the page.

A page stuck in a busy loop answers nothing — not even a timer the page set to
give up. When a call overruns, the deadline kills this process's Chrome renderer
processes: the call fails at once, the browser itself survives (the next page
gets a fresh renderer), and the caller reports COMPOSITION_TIMEOUT instead of
hanging until the request's own timeout (an hour on Cloud Run).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
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
    """The Chrome renderer processes started by this process (render/cdp.py)."""
    pids = []
    for pid in _descendants(os.getpid() if root is None else root):
        with contextlib.suppress(OSError):
            if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
    return pids


class _Watchdog:
    """One thread per process that fires every armed deadline.

    A ``threading.Timer`` per call would start a thread for every frame (about
    0.3 ms each). A chunk drawn by several pages (``chunk.py``) has a call in
    flight on each page's thread at once, so each call arms a deadline of its
    own, and the thread sleeps until the earliest one is due.
    """

    def __init__(self, on_expiry: Callable[[], None]) -> None:
        self._on_expiry = on_expiry
        self._cond = threading.Condition()
        self._armed: dict[int, tuple[float, threading.Event]] = {}
        self._tokens = itertools.count()
        self._owner = 0  # the pid whose thread runs: a forked child starts its own

    def arm(self, seconds: float) -> tuple[int, threading.Event]:
        with self._cond:
            if self._owner != os.getpid():
                self._owner = os.getpid()
                self._armed.clear()  # a forked child inherits its parent's calls, not their thread
                threading.Thread(target=self._run, name="page-deadline", daemon=True).start()
            token, expired = next(self._tokens), threading.Event()
            self._armed[token] = (time.monotonic() + seconds, expired)
            self._cond.notify()
            return token, expired

    def disarm(self, token: int) -> None:
        with self._cond:
            self._armed.pop(token, None)

    def _next_expired(self) -> threading.Event:
        """Wait until an armed deadline is due; it is then disarmed and its event returned."""
        with self._cond:
            while True:
                if not self._armed:
                    self._cond.wait()
                    continue
                token = min(self._armed, key=lambda t: self._armed[t][0])
                due, expired = self._armed[token]
                left = due - time.monotonic()
                if left <= 0:
                    del self._armed[token]
                    return expired
                self._cond.wait(left)  # or until a call arms an earlier deadline

    def _run(self) -> None:
        while True:
            expired = self._next_expired()
            expired.set()
            self._on_expiry()


def kill_renderers() -> None:
    """Kill every renderer of this process.

    Which renderer runs the stuck call is not known here, so all of them go. Other
    pages' calls then fail as crashed, and the chunk reports the overrun
    (chunk.py prefers it to the crashes it caused).
    """
    for pid in renderer_pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


_WATCHDOG = _Watchdog(kill_renderers)


@contextlib.contextmanager
def page_deadline(seconds: float) -> Iterator[threading.Event]:
    """Run the block with a deadline; the event is set if it was hit (renderers killed).

    Deadlines on different threads are independent: each call is watched until it
    returns, whatever the others do.
    """
    token, expired = _WATCHDOG.arm(seconds)
    try:
        yield expired
    finally:
        _WATCHDOG.disarm(token)
