"""The Chrome DevTools Protocol over a pipe: Chrome launched and driven from Python.

Why not Playwright: its driver is a Node.js process per thread that relays every call
(≈ 120 MB and ≈ 0.6 s to start each, and ≈ 7 % of a render's CPU on this machine),
while a render needs a small, fixed set of commands. Chrome speaks CDP on file
descriptors 3 (in) and 4 (out) when launched with ``--remote-debugging-pipe``;
messages are JSON, each ended by a NUL byte.

One :class:`Chrome` is one browser process and one connection. Calls may come from
any thread: a reader thread matches replies to calls by id and hands events to the
handlers registered for their session. A session ends when its target crashes or
detaches, or when the browser exits; every call waiting on it then fails at once
with :class:`TargetClosedError`, so a renderer killed by the deadline (deadline.py)
frees its caller immediately.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "CdpError",
    "CdpSession",
    "CdpTimeoutError",
    "Chrome",
    "CommandFailedError",
    "TargetClosedError",
]

Event = dict[str, Any]
Handler = Callable[[Event], None]
_PIPE_IN, _PIPE_OUT = 3, 4  # the descriptors Chrome reads commands from and writes to
_READ_SIZE = 1 << 20  # bytes a read asks for; also the size the pipes are asked to hold
_CLOSE_GRACE_S = 5.0


class CdpError(Exception):
    """A DevTools call failed; the subclasses say how."""


class TargetClosedError(CdpError):
    """The page's renderer crashed or was closed, or the browser exited."""


class CommandFailedError(CdpError):
    """Chrome answered a command with an error (bad parameters, no such target, …)."""


class CdpTimeoutError(CdpError):
    """No answer within the call's timeout."""


class _Call:
    __slots__ = ("done", "error", "result", "session")

    def __init__(self, session: str) -> None:
        self.session = session
        self.done = threading.Event()
        self.result: dict[str, Any] = {}
        self.error: CdpError | None = None


class CdpSession:
    """One attached target (a page, a worker, the browser itself: session id "")."""

    def __init__(self, chrome: Chrome, session_id: str) -> None:
        self.chrome = chrome
        self.id = session_id

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Call ``method`` and wait for its result; raises a :class:`CdpError`."""
        return self.chrome.call(self.id, method, params, timeout)

    def post(self, method: str, params: dict[str, Any] | None = None) -> None:
        """Call ``method`` without waiting; a failure is ignored (the page may be gone)."""
        self.chrome.call(self.id, method, params, None, wait=False)

    def on(self, method: str, handler: Handler) -> None:
        """Run ``handler(params)`` on the reader thread for each ``method`` event; it
        must return quickly (hand slow work to another thread)."""
        self.chrome.subscribe(self.id, method, handler)

    @property
    def closed(self) -> bool:
        return self.chrome.session_closed(self.id)


class Chrome:
    """A browser process and its DevTools pipe."""

    def __init__(self, path: str, args: tuple[str, ...] | list[str]) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="framerun-chrome-"))
        self._log = self.profile / "chrome.log"
        to_chrome_r, self._out = _high_pipe()
        self._in, from_chrome_w = _high_pipe()
        self._lock = threading.Lock()  # ids, calls, handlers, closed sessions
        self._write_lock = threading.Lock()
        self._next_id = 0
        self._calls: dict[int, _Call] = {}
        self._handlers: dict[tuple[str, str], list[Handler]] = {}
        self._closed_sessions: set[str] = set()
        self._gone = False
        argv = [
            path,
            *args,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-pipe",
            "--no-startup-window",
        ]
        log_fd = os.open(self._log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            # posix_spawn, not subprocess's preexec_fn: this runs on page threads, where
            # forking a Python process with other threads running is unsafe.
            self.pid = os.posix_spawn(
                path,
                argv,
                dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log_fd, 1),
                    (os.POSIX_SPAWN_DUP2, log_fd, 2),
                    (os.POSIX_SPAWN_DUP2, to_chrome_r, _PIPE_IN),
                    (os.POSIX_SPAWN_DUP2, from_chrome_w, _PIPE_OUT),
                ],
            )
        except OSError:
            for fd in (to_chrome_r, from_chrome_w, self._out, self._in):
                os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        finally:
            os.close(log_fd)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()
        self.browser = CdpSession(self, "")

    # -- calls ------------------------------------------------------------------------

    def call(
        self,
        session: str,
        method: str,
        params: dict[str, Any] | None,
        timeout: float | None,
        *,
        wait: bool = True,
    ) -> dict[str, Any]:
        with self._lock:
            if self._gone or session in self._closed_sessions:
                if not wait:
                    return {}
                raise TargetClosedError(f"{method}: {self._why_closed(session)}")
            self._next_id += 1
            call_id = self._next_id
            call = _Call(session)
            if wait:
                self._calls[call_id] = call
        message: dict[str, Any] = {"id": call_id, "method": method}
        if params:
            message["params"] = params
        if session:
            message["sessionId"] = session
        try:
            self._write(json.dumps(message).encode() + b"\0")
        except OSError:
            self._calls.pop(call_id, None)
            if not wait:
                return {}
            raise TargetClosedError(f"{method}: the browser has exited") from None
        if not wait:
            return {}
        if not call.done.wait(timeout):
            with self._lock:
                self._calls.pop(call_id, None)
            raise CdpTimeoutError(f"{method}: no answer within {timeout:g} s")
        if call.error is not None:
            raise call.error
        return call.result

    def _write(self, data: bytes) -> None:
        with self._write_lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._out, view) :]

    def subscribe(self, session: str, method: str, handler: Handler) -> None:
        with self._lock:
            self._handlers.setdefault((session, method), []).append(handler)

    def session_closed(self, session: str) -> bool:
        return self._gone or session in self._closed_sessions

    def close_session(self, session: str, why: str) -> None:
        """Fail every call waiting on ``session`` and refuse new ones (it crashed or ended)."""
        with self._lock:
            self._closed_sessions.add(session)
            waiting = [(i, c) for i, c in self._calls.items() if c.session == session]
            for call_id, _ in waiting:
                del self._calls[call_id]
            for key in [k for k in self._handlers if k[0] == session]:
                del self._handlers[key]
        for _, call in waiting:
            call.error = TargetClosedError(why)
            call.done.set()

    def _why_closed(self, session: str) -> str:
        return "the browser has exited" if self._gone else "the page has closed or crashed"

    # -- the reader thread ------------------------------------------------------------

    def _read_loop(self) -> None:
        # A frame's reply is megabytes that arrive a pipe's worth at a time: the pieces
        # are joined once, when the message ends (adding each to a bytes buffer copied it
        # over and over: 11.7 ms of CPU for a 2.7 MB reply against 5.2 ms joined once).
        pieces: list[bytes] = []  # of the message being read
        try:
            while chunk := os.read(self._in, _READ_SIZE):
                if b"\0" not in chunk:
                    pieces.append(chunk)
                    continue
                *messages, rest = chunk.split(b"\0")
                messages[0] = b"".join([*pieces, messages[0]])
                pieces = [rest] if rest else []
                for raw in messages:
                    self._dispatch(json.loads(raw))
        except OSError:
            pass
        finally:
            self._exited()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            with self._lock:
                call = self._calls.pop(message["id"], None)
            if call is None:
                return
            if "error" in message:
                error = message["error"]
                call.error = CommandFailedError(f"{error.get('message')} ({error.get('data', '')})")
            else:
                call.result = message.get("result", {})
            call.done.set()
            return
        session, method = message.get("sessionId", ""), message.get("method", "")
        params = message.get("params", {})
        if method == "Inspector.targetCrashed":
            self.close_session(session, "the page's renderer crashed")
        elif method == "Target.detachedFromTarget":
            self.close_session(params.get("sessionId", ""), "the page has closed or crashed")
        with self._lock:
            handlers = list(self._handlers.get((session, method), ()))
        for handler in handlers:
            handler(params)

    def _exited(self) -> None:
        with self._lock:
            self._gone = True
            waiting = list(self._calls.values())
            self._calls.clear()
            self._handlers.clear()
        for call in waiting:
            call.error = TargetClosedError("the browser has exited")
            call.done.set()

    # -- the process ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return not self._gone

    def launch_log(self) -> str:
        """What the browser printed (for errors when it fails to start)."""
        try:
            return self._log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def close(self) -> None:
        """Close the browser, wait for it (killing it after a grace period) and
        delete its profile folder."""
        with contextlib.suppress(CdpError):
            self.browser.send("Browser.close", timeout=_CLOSE_GRACE_S)
        deadline = time.monotonic() + _CLOSE_GRACE_S
        while not _reaped(self.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.02)
        with contextlib.suppress(OSError):
            os.close(self._out)
        self._reader.join(timeout=_CLOSE_GRACE_S)
        with contextlib.suppress(OSError):
            os.close(self._in)
        shutil.rmtree(self.profile, ignore_errors=True)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends sit above the descriptors the child maps (3 and 4), so mapping
    one never overwrites the other; both close on exec."""
    read, write = os.pipe()
    high = (
        fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 10),
        fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, 10),
    )
    os.close(read)
    os.close(write)
    with contextlib.suppress(OSError):  # a hint: fewer, larger reads of a frame's reply
        fcntl.fcntl(high[0], fcntl.F_SETPIPE_SZ, _READ_SIZE)
    return high


def _reaped(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
