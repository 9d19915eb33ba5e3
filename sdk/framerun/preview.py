"""``framerun preview``'s Python side: serve a composition for preview and open the browser.

The server is the engine's (``framerun_service.render.preview``): it answers the page
with the render's own page guard, fonts and runtime, so what the preview shows is
what a render captures. Imported lazily, so ``import framerun`` stays light.
"""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framerun_service.render.preview import PreviewServer

__all__ = ["DEFAULT_PREVIEW_PORT", "preview", "start_preview"]

DEFAULT_PREVIEW_PORT = 4800


def start_preview(
    project: str | Path,
    *,
    composition: str = "index.html",
    host: str = "127.0.0.1",
    port: int = DEFAULT_PREVIEW_PORT,
) -> PreviewServer:
    """Start serving ``project``'s preview on a background thread; ``.url`` is the page,
    ``.close()`` stops it (or use it as a context manager). ``port=0`` picks a free port.

    Raises the errors ``framerun.render`` raises for a project it cannot load, and
    InvalidConfigError when the address is taken.
    """
    from framerun_service.render.preview import PreviewServer

    return PreviewServer(project, entry=composition, host=host, port=port).start()


def preview(
    project: str | Path,
    *,
    composition: str = "index.html",
    host: str = "127.0.0.1",
    port: int = DEFAULT_PREVIEW_PORT,
    open_browser: bool = True,
    on_ready: Callable[[PreviewServer], None] | None = None,
) -> None:
    """Serve ``project``'s preview until Ctrl-C, opening the default browser on it."""
    from framerun_service.render.preview import PreviewServer

    server = PreviewServer(project, entry=composition, host=host, port=port)
    try:
        if on_ready is not None:
            on_ready(server)
        if open_browser:
            webbrowser.open(server.url)
        server.serve_forever()
    finally:
        server.close()
