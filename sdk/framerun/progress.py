"""A rich progress bar for long renders: frames done, fps, ETA."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RenderProgressBar:
    """Context manager fed by the renderer's ``on_plan`` and ``on_frames`` callbacks."""

    def __init__(self, *, disabled: bool = False) -> None:
        self._progress = Progress(
            TextColumn("[bold]rendering"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:>5.1f} fps"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=disabled,
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> RenderProgressBar:
        self._progress.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, plan: Any) -> None:
        self._task = self._progress.add_task("render", total=plan.total_frames, fps=0.0)

    def advance(self, frames: int) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, frames)
        task = self._progress.tasks[0]
        self._progress.update(self._task, fps=task.speed or 0.0)
