"""Options the local and the Cloud Run ``render`` commands share: what the output is."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from framerun_service.core.errors import FramerunError

# Exit codes every framerun command shares: 2 for input to fix, 1 for a failure.
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1

F = TypeVar("F", bound=Callable[..., Any])
FORMAT_CHOICES = ["mp4", "webm", "mov", "png-sequence"]
CODEC_CHOICES = ["h264", "h265"]


def output_format_options(*, format_help: str, codec_default: str | None) -> Callable[[F], F]:
    """``--format``, ``--codec`` and ``--transparent``. ``codec_default=None`` leaves the
    codec to the render config (the Cloud Run command merges flags into a config)."""

    def decorate(command: F) -> F:
        command = click.option(
            "--transparent",
            is_flag=True,
            envvar="FRAMERUN_TRANSPARENT",
            help="Keep the page's transparency (mov: ProRes 4444, webm: VP9 alpha, "
            "png-sequence: RGBA).",
        )(command)
        command = click.option(
            "--codec",
            type=click.Choice(CODEC_CHOICES),
            default=codec_default,
            show_default=codec_default is not None,
            envvar="FRAMERUN_CODEC",
            help="mp4's codec (default h264); h265 is tagged hvc1 for QuickTime and Safari.",
        )(command)
        return click.option(
            "--format",
            "video_format",
            type=click.Choice(FORMAT_CHOICES),
            envvar="FRAMERUN_FORMAT",
            help=format_help,
        )(command)

    return decorate


def fail(exc: FramerunError) -> None:
    """Print a typed error as ``error: <message> [<CODE>]`` and exit with its class's code."""
    click.echo(f"error: {exc.cli_message} [{exc.code}]", err=True)
    sys.exit(EXIT_BAD_INPUT if exc.http_status < 500 else EXIT_FAILED)
