"""Threads that each keep a warm browser, for the pages a chunk draws beside its own.

One page keeps about one core busy (the renderer draws while the encoder encodes
the frame before), so a chunk on a bigger instance draws with several pages at
once (``chunk.py``). Playwright's sync objects belong to the thread that made
them, so each extra page lives on a thread of its own, with its own browser,
kept across chunks as the caller's session is.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from framerun_service.render.browser import BrowserSession
from framerun_service.render.settings import EngineSettings

__all__ = ["PageThreads"]

T = TypeVar("T")
_Task = tuple[Callable[[BrowserSession], object], "Future[object]"] | None


class _PageThread:
    """One thread, one browser session; runs the tasks given to it, in order."""

    def __init__(self, name: str, settings: EngineSettings | None) -> None:
        self._settings = settings
        self._inbox: queue.Queue[_Task] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, task: Callable[[BrowserSession], T]) -> Future[T]:
        future: Future[T] = Future()
        self._inbox.put((task, future))  # type: ignore[arg-type]
        return future

    def _run(self) -> None:
        session = BrowserSession(self._settings)
        try:
            while (item := self._inbox.get()) is not None:
                task, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(task(session))
                    except BaseException as exc:
                        future.set_exception(exc)
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def close(self) -> None:
        self._inbox.put(None)
        self._thread.join(timeout=30)


class PageThreads:
    """``count`` page threads; :meth:`submit` gives task ``i`` to thread ``i``.

    Their browsers use ``settings`` (the engine's, read from the environment, by default).
    """

    def __init__(self, count: int, settings: EngineSettings | None = None) -> None:
        self._threads = [_PageThread(f"page-{i + 1}", settings) for i in range(count)]

    @property
    def count(self) -> int:
        return len(self._threads)

    def submit(self, index: int, task: Callable[[BrowserSession], T]) -> Future[T]:
        return self._threads[index].submit(task)

    def close(self) -> None:
        for thread in self._threads:
            thread.close()
