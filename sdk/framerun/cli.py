"""The ``framerun`` command line.

Every failure prints one line — ``error: <what and how to fix> [CODE]`` — and
exits 2 for bad input, 1 for anything else. Every option can also come from a
``FRAMERUN_*`` environment variable.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import click

from framerun.cli_options import fail, output_format_options
from framerun.errors import FramerunError, VariablesInvalidError


def _load_variables(inline: str | None, file: Path | None) -> dict[str, Any]:
    from framerun_service.render.variables import parse_values_json

    values: dict[str, Any] = {}
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise VariablesInvalidError(
                f"cannot read --variables-file '{file}': {exc.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise VariablesInvalidError(
                f"--variables-file '{file}' is not UTF-8 text; save it as UTF-8 JSON"
            ) from None
        values.update(parse_values_json(text, source=f"--variables-file {file}"))
    if inline is not None:
        values.update(parse_values_json(inline, source="--variables"))
    return values


class _LazyGroup(click.Group):
    """A group whose subcommand groups are imported only when used: ``framerun render``
    must not pay for importing the cloud, preview and scaffolding commands (and the
    Google and HTTP clients behind them) before its first frame."""

    LAZY: ClassVar[dict[str, str]] = {
        "bench": "framerun.cli_bench:bench",
        "cloudrun": "framerun.cli_cloudrun:cloudrun",
        "local": "framerun.cli_local:local",
        "init": "framerun.cli_init:init",
        "preview": "framerun.cli_preview:preview",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.LAZY.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        import importlib

        module, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="framerun")
def main() -> None:
    """Render HTML compositions to video."""


@main.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    # A str, not a Path: a trailing "/" (a folder of PNGs) must survive to format_for_output.
    type=click.Path(),
    envvar="FRAMERUN_OUTPUT",
    help="Output file (.mp4, .webm, .mov, .tar) or, for --format png-sequence, a new folder.",
)
@click.option(
    "--composition",
    default="index.html",
    show_default=True,
    envvar="FRAMERUN_COMPOSITION",
    help="Entry HTML file inside PROJECT.",
)
@click.option("--width", type=str, envvar="FRAMERUN_WIDTH", help="Override data-width.")
@click.option("--height", type=str, envvar="FRAMERUN_HEIGHT", help="Override data-height.")
@click.option(
    "--fps", type=str, envvar="FRAMERUN_FPS", help="Override data-fps (e.g. 30 or 30000/1001)."
)
@click.option(
    "--duration", type=str, envvar="FRAMERUN_DURATION", help="Override data-duration (seconds)."
)
@click.option(
    "--quality",
    type=click.Choice(["draft", "standard", "high"]),
    default="standard",
    show_default=True,
    envvar="FRAMERUN_QUALITY",
)
@click.option(
    "--crf",
    type=int,
    envvar="FRAMERUN_CRF",
    help="CRF, 0–51 for mp4, 0–63 for webm (not with --bitrate; not for mov or png-sequence).",
)
@click.option(
    "--bitrate",
    type=str,
    envvar="FRAMERUN_BITRATE",
    help="Target bitrate such as 8M (not with --crf).",
)
@click.option(
    "--variables",
    "variables_json",
    type=str,
    envvar="FRAMERUN_VARIABLES",
    help="JSON object of variable values.",
)
@click.option(
    "--variables-file",
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_VARIABLES_FILE",
    help="File holding a JSON object of values.",
)
@click.option(
    "--strict-variables",
    is_flag=True,
    envvar="FRAMERUN_STRICT_VARIABLES",
    help="Reject unknown or mistyped variables.",
)
@click.option(
    "--workers",
    type=int,
    envvar="FRAMERUN_WORKERS",
    help="Pages drawing at once, one browser each (default: CPU cores).",
)
@click.option(
    "--frames",
    "frame_range",
    type=str,
    envvar="FRAMERUN_FRAMES",
    help="Render only frames A:B (B exclusive).",
)
@click.option(
    "--chunk-size", type=int, envvar="FRAMERUN_CHUNK_SIZE", help="Frames per chunk (default 240)."
)
@output_format_options(
    format_help="mp4 (H.264/H.265), webm (VP9), mov (ProRes) or png-sequence (lossless PNGs); "
    "default: the output's suffix, a trailing / meaning png-sequence.",
    codec_default="h264",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def render(
    project: Path,
    output: str,
    composition: str,
    width: str | None,
    height: str | None,
    fps: str | None,
    duration: str | None,
    quality: str,
    crf: int | None,
    bitrate: str | None,
    variables_json: str | None,
    variables_file: Path | None,
    strict_variables: bool,
    workers: int | None,
    frame_range: str | None,
    chunk_size: int | None,
    video_format: str | None,
    codec: str,
    transparent: bool,
    quiet: bool,
) -> None:
    """Render PROJECT (a folder with an HTML composition) to a video, or to numbered
    PNGs, on this machine."""
    from framerun.progress import RenderProgressBar
    from framerun.render import parse_frame_range
    from framerun.render import render as do_render

    started = time.perf_counter()
    try:
        variables = _load_variables(variables_json, variables_file)
        frames = parse_frame_range(frame_range) if frame_range else None
        # Off a terminal the bar draws nothing but still prints a blank line on
        # stop, which would break the one-line error contract.
        with RenderProgressBar(disabled=quiet or not sys.stderr.isatty()) as bar:
            result = do_render(
                project,
                output,
                composition=composition,
                width=width,
                height=height,
                fps=fps,
                duration=duration,
                quality=quality,
                crf=crf,
                bitrate=bitrate,
                variables=variables,
                strict_variables=strict_variables,
                workers=workers,
                frames=frames,
                chunk_size=chunk_size,
                format=video_format,
                codec=codec,
                transparent=transparent,
                on_plan=bar.start,
                on_frames=bar.advance,
            )
    except FramerunError as exc:
        fail(exc)
        return
    wall = time.perf_counter() - started
    if not quiet:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"rendered {result.frames} frames in {wall:.1f}s ({result.frames / wall:.1f} fps; "
        f"first frame after {result.first_frame_s:.1f}s) "
        f"→ {result.output} ({result.bytes / 1e6:.2f} MB)"
    )


if __name__ == "__main__":
    main()
