"""The progress bar ``framerun cloudrun render --wait`` draws on stderr.

A distributed render reports progress per poll, not per frame, so this bar shows
what a poll knows: the overall fraction, chunks done out of the total and the cost
so far. The local renderer's per-frame bar is :mod:`framerun.progress`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framerun.progress_records import RenderProgress


class CloudRenderProgressBar:
    """Overall progress, chunks done/total and the cost so far, on stderr.

    A context manager; pass its :meth:`update` as ``wait_for_render``'s
    ``on_progress``. ``disabled`` keeps stderr clean for JSON output and pipes.
    """

    def __init__(self, *, disabled: bool) -> None:
        # rich is imported here, not at module level: only --wait draws a bar.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]rendering"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("chunks {task.fields[chunks]}"),
            TextColumn("{task.fields[cost]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=disabled,
            transient=True,
        )
        self._task = self._progress.add_task("render", total=1.0, chunks="–", cost="$0.00")

    def __enter__(self) -> CloudRenderProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, progress: RenderProgress) -> None:
        """Redraw from one poll's snapshot ("–" until the plan knows the chunk count)."""
        chunks = f"{progress.chunks_done}/{progress.chunks_total}" if progress.chunks_total else "–"
        self._progress.update(
            self._task,
            completed=progress.overall_progress,
            chunks=chunks,
            cost=progress.costs.display_cost,
        )
