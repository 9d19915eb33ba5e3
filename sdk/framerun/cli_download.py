"""The download bar ``framerun cloudrun render -o FILE`` draws on stderr.

Bytes, speed and time left, from :func:`framerun.download`'s ``on_progress``;
disabled for ``--json`` and when stderr is not a terminal, so pipes stay clean.
"""

from __future__ import annotations


class DownloadProgressBar:
    """A context manager; pass :meth:`update` as ``on_progress`` / ``on_download``."""

    def __init__(self, name: str, *, disabled: bool) -> None:
        # rich is imported here, not at module level: only -o draws a bar.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]downloading {task.fields[name]}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=disabled,
            transient=True,
        )
        self._task = self._progress.add_task("download", total=None, name=name)

    def __enter__(self) -> DownloadProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, done: int, total: int) -> None:
        """Redraw with ``done`` of ``total`` bytes."""
        self._progress.update(self._task, completed=done, total=total)
