"""``framerun preview PROJECT``: look at a composition, frame by frame, before rendering it."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from framerun.cli_options import fail
from framerun.errors import FramerunError
from framerun.preview import DEFAULT_PREVIEW_PORT
from framerun.preview import preview as serve_preview

if TYPE_CHECKING:
    from framerun_service.render.preview import PreviewServer


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "--composition",
    default="index.html",
    show_default=True,
    envvar="FRAMERUN_COMPOSITION",
    help="Entry HTML file inside PROJECT.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PREVIEW_PORT,
    show_default=True,
    envvar="FRAMERUN_PREVIEW_PORT",
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    envvar="FRAMERUN_PREVIEW_HOST",
    help="Address to listen on (the preview has no authentication: keep it local).",
)
@click.option(
    "--no-open",
    is_flag=True,
    envvar="FRAMERUN_PREVIEW_NO_OPEN",
    help="Do not open a browser; just print the URL.",
)
def preview(project: Path, composition: str, port: int, host: str, no_open: bool) -> None:
    """Preview PROJECT in the browser: scrub, play and step through its frames and try its
    variables, with the page guard, fonts and runtime a render uses. Ctrl-C stops it."""

    def ready(server: PreviewServer) -> None:
        c = server.composition
        click.echo(
            f"previewing {c.entry} ({c.width}×{c.height}, {c.fps} fps, {c.total_frames} "
            f"frames) at {server.url}  (Ctrl-C to stop)"
        )
        for warning in c.warnings:
            click.echo(f"warning: {warning}", err=True)

    # Ctrl-C is how a preview ends, so it must raise KeyboardInterrupt even when this
    # process inherited SIGINT ignored (Python then installs no handler): a test suite's
    # worker, a job started with `&`, … left the preview unstoppable but by SIGKILL.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        serve_preview(
            project,
            composition=composition,
            host=host,
            port=port,
            open_browser=not no_open,
            on_ready=ready,
        )
    except FramerunError as exc:
        fail(exc)
    except KeyboardInterrupt:
        click.echo("preview stopped")
