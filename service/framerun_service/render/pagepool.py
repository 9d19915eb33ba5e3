"""Threads that each keep a warm browser: the pages of a chunk, or the chunks of a render.

Every page that draws at the same time as another lives on a thread of its own,
with its own browser (one Chrome process each, so pages never queue behind one
another's compositor), kept across tasks. Two shapes use them:

- :class:`PageThreads`: task ``i`` goes to thread ``i``. The service draws one
  chunk with one page per core (``chunk.py`` ``extra_pages``).
- :class:`PagePool`: each task goes to the first free thread. An in-process
  render draws its chunks side by side (``local.py``). Threads, not processes:
  nothing is spawned or imported again, and one Python process holds the
  engine, so a short render starts sooner and a render takes less memory.
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

__all__ = ["PagePool", "PageThreads"]

T = TypeVar("T")
_Task = tuple[Callable[[BrowserSession], object], "Future[object]"] | None
_Inbox = queue.Queue[_Task]


def _submit(inbox: _Inbox, task: Callable[[BrowserSession], T]) -> Future[T]:
    future: Future[T] = Future()
    inbox.put((task, future))  # type: ignore[arg-type]
    return future


class _PageThread:
    """One thread, one browser session; runs the tasks it takes from ``inbox``, in order.

    With ``warm``, it launches its browser as soon as it starts, so the browser is
    up by the time the first task comes (a launch failure surfaces at that task).
    """

    def __init__(
        self, name: str, settings: EngineSettings | None, inbox: _Inbox, *, warm: bool
    ) -> None:
        self._settings = settings
        self._inbox = inbox
        self._warm = warm
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        session = BrowserSession(self._settings)
        try:
            if self._warm:
                with contextlib.suppress(Exception):
                    session.launch()
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

    def join(self) -> None:
        self._thread.join(timeout=30)


class PageThreads:
    """``count`` page threads; :meth:`submit` gives task ``i`` to thread ``i``.

    Their browsers use ``settings`` (the engine's, read from the environment, by default).
    """

    def __init__(
        self, count: int, settings: EngineSettings | None = None, *, warm: bool = False
    ) -> None:
        self._inboxes: list[_Inbox] = [queue.Queue() for _ in range(count)]
        self._threads = [
            _PageThread(f"page-{i + 1}", settings, inbox, warm=warm)
            for i, inbox in enumerate(self._inboxes)
        ]

    @property
    def count(self) -> int:
        return len(self._threads)

    def submit(self, index: int, task: Callable[[BrowserSession], T]) -> Future[T]:
        return _submit(self._inboxes[index], task)

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for thread in self._threads:
            thread.join()


class PagePool:
    """``count`` page threads, warm from the start, taking tasks from one queue."""

    def __init__(self, count: int, settings: EngineSettings | None = None) -> None:
        self._inbox: _Inbox = queue.Queue()
        self._threads = [
            _PageThread(f"pages-{i + 1}", settings, self._inbox, warm=True) for i in range(count)
        ]

    def submit(self, task: Callable[[BrowserSession], T]) -> Future[T]:
        return _submit(self._inbox, task)

    def close(self) -> None:
        """Cancel the tasks not started, let the running ones end, close every browser."""
        with contextlib.suppress(queue.Empty):
            while True:
                item = self._inbox.get_nowait()
                if item is not None:
                    item[1].cancel()
        for _ in self._threads:
            self._inbox.put(None)
        for thread in self._threads:
            thread.join()
