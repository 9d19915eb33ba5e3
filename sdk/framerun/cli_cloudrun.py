"""``framerun cloudrun …``: start, watch, cancel and resume distributed renders.

Where to render comes from, in this order: flags; then ``--local`` (the running
local stack), ``--outputs-file`` or ``--from-terraform``; then ``FRAMERUN_*``
variables (every option has one).
Failures print one line, ``error: … [CODE]``, and exit 2 for bad input, 1 otherwise.

Tests (and embedders) inject an Executions client and a Storage by invoking the
group with ``obj=CloudRunSeams(...)``; without one, real clients are built.

The options and plumbing the subcommands share are in
:mod:`framerun.cli_cloudrun_options`; ``sites`` and ``render-batch`` are in
:mod:`framerun.cli_cloudrun_batch`, ``renders list|get|delete`` in
:mod:`framerun.cli_cloudrun_renders`; the ``--wait`` bar is :mod:`framerun.cli_progress`,
the ``-o`` download bar :mod:`framerun.cli_download`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framerun.cli_cloudrun_batch import render_batch, sites
from framerun.cli_cloudrun_deploy import deploy, destroy, doctor
from framerun.cli_cloudrun_options import (
    CloudRunSeams,
    connection_options,
    echo_json,
    errors_as_exit,
    names_whole_target,
    resolve_target,
    seams_of,
)
from framerun.cli_cloudrun_renders import renders
from framerun.cli_options import output_format_options
from framerun.cli_progress import CloudRenderProgressBar
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidConfigError

if TYPE_CHECKING:
    from framerun.progress_records import RenderProgress
    from framerun.render_handle import RenderHandle

__all__ = ["EXIT_INTERRUPTED", "CloudRunSeams", "cloudrun"]

EXIT_INTERRUPTED = 130


@click.group("cloudrun")
def cloudrun() -> None:
    """Render on Cloud Run + Workflows (or the local stack): distributed, in parallel."""


cloudrun.add_command(sites)
cloudrun.add_command(render_batch)
cloudrun.add_command(renders)
cloudrun.add_command(deploy)
cloudrun.add_command(destroy)
cloudrun.add_command(doctor)


# ---- render ---------------------------------------------------------------------------


@cloudrun.command("render")
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_OUTPUT",
    help="Wait, then download the video to this file; its suffix picks the format "
    "(.mp4, .webm, .mov, .tar) as in `framerun render`.",
)
@click.option(
    "--overwrite", is_flag=True, envvar="FRAMERUN_OVERWRITE", help="Replace an existing -o file."
)
@click.option("--site-id", envvar="FRAMERUN_SITE_ID", help="Use this uploaded site.")
@click.option(
    "--output-key",
    envvar="FRAMERUN_OUTPUT_KEY",
    help="Object key of the video in the bucket (default renders/<id>/output.mp4).",
)
@click.option(
    "--config-json",
    envvar="FRAMERUN_CONFIG_JSON",
    help='Render config as JSON, e.g. \'{"width": 1280, "chunkSize": 120}\'.',
)
@click.option(
    "--variables", "variables_json", envvar="FRAMERUN_VARIABLES", help="JSON object of values."
)
@click.option(
    "--idempotency-key",
    envvar="FRAMERUN_IDEMPOTENCY_KEY",
    help="Starting again with the same key returns the same render instead of a second one.",
)
@output_format_options(
    format_help="mp4, webm, mov (ProRes) or png-sequence (one .tar of PNGs); "
    "default: -o's or --output-key's suffix, else mp4. Overrides the config's format.",
    codec_default=None,
)
@click.option("--wait", is_flag=True, envvar="FRAMERUN_WAIT", help="Follow it to the end.")
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@click.option(
    "--poll-interval", type=float, default=2.0, show_default=True, envvar="FRAMERUN_POLL_INTERVAL"
)
@click.option("--timeout", type=float, envvar="FRAMERUN_TIMEOUT", help="Stop waiting after N s.")
@connection_options
@click.pass_context
def render(
    ctx: click.Context,
    project: Path,
    output: Path | None,
    overwrite: bool,
    site_id: str | None,
    output_key: str | None,
    config_json: str | None,
    variables_json: str | None,
    idempotency_key: str | None,
    video_format: str | None,
    codec: str | None,
    transparent: bool,
    wait: bool,
    as_json: bool,
    poll_interval: float,
    timeout: float | None,
    **connection: Any,
) -> None:
    """Start a distributed render of PROJECT; with --wait, follow it to the end; with
    -o FILE, also download the video there."""
    from framerun.cloudrun import render_to_cloud_run
    from framerun.download import check_destination

    seams = seams_of(ctx)
    quiet = as_json or not sys.stderr.isatty()
    with errors_as_exit():
        target = resolve_target(ctx, connection)
        config = _with_format(
            _config(config_json, variables_json),
            names=[str(name) for name in (output, output_key) if name is not None],
            video_format=video_format,
            codec=codec,
            transparent=transparent,
        )
        if output is not None:  # refuse a taken name before paying for the render
            check_destination(output, overwrite=overwrite)
        handle = render_to_cloud_run(
            project,
            config,
            target=target,
            site_id=site_id,
            output_key=output_key,
            idempotency_key=idempotency_key,
            executions=seams.executions,
            storage=seams.storage,
        )
        if not wait and output is None:
            _echo_started(handle, as_json)
            return
        final = _wait_with_bar(
            handle,
            target=target,
            seams=seams,
            poll_interval=poll_interval,
            timeout=timeout,
            bar_disabled=quiet,
        )
        saved = None
        if output is not None:
            saved = _download_with_bar(
                final.output_file or handle.output_uri,
                output,
                target=target,
                seams=seams,
                overwrite=overwrite,
                bar_disabled=quiet,
            )
    if as_json:
        echo_json({**final.to_json(), "downloadedTo": str(saved) if saved else None})
        return
    _echo_rendered(final, handle)
    if saved is not None:
        click.echo(f"saved {saved}")


def _download_with_bar(
    uri: str,
    output: Path,
    *,
    target: CloudRunTarget,
    seams: CloudRunSeams,
    overwrite: bool,
    bar_disabled: bool,
) -> Path:
    """Download the finished render under a bytes/speed bar (after the render bar is gone)."""
    from framerun.cli_download import DownloadProgressBar
    from framerun.download import download

    with DownloadProgressBar(output.name, disabled=bar_disabled) as bar:
        return download(
            uri,
            output,
            target=target,
            storage=seams.storage,
            on_progress=bar.update,
            overwrite=overwrite,
        )


def _echo_started(handle: RenderHandle, as_json: bool) -> None:
    """Without --wait: the render's handle, and the command that follows it."""
    if as_json:
        echo_json(handle.to_json())
    else:
        click.echo(f"started render {handle.render_id} → {handle.output_uri}")
        click.echo(f"follow it: framerun cloudrun progress {handle.execution_name}")


def _wait_with_bar(
    handle: RenderHandle,
    *,
    target: CloudRunTarget,
    seams: CloudRunSeams,
    poll_interval: float,
    timeout: float | None,
    bar_disabled: bool,
) -> RenderProgress:
    """Follow the render to its end under a progress bar. Ctrl-C stops only the
    waiting (the render goes on in the cloud), so say how to pick it up again."""
    from framerun.render_progress import wait_for_render

    try:
        with CloudRenderProgressBar(disabled=bar_disabled) as bar:
            return wait_for_render(
                handle,
                poll_interval_s=poll_interval,
                timeout_s=timeout,
                on_progress=bar.update,
                executions=seams.executions,
                storage=seams.storage,
                target=target,
            )
    except KeyboardInterrupt:
        click.echo(
            f"stopped waiting; render {handle.render_id} goes on: "
            f"framerun cloudrun progress {handle.execution_name}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)


def _echo_rendered(final: RenderProgress, handle: RenderHandle) -> None:
    """The one-line summary of a finished render: frames, chunks, time, file, cost."""
    took = ""
    if final.started_at is not None and final.ended_at is not None:
        took = f" in {(final.ended_at - final.started_at).total_seconds():.1f}s"
    size = f" ({final.output_bytes / 1e6:.2f} MB)" if final.output_bytes is not None else ""
    click.echo(
        f"rendered {final.total_frames} frames in {final.chunks_total} chunks{took} → "
        f"{final.output_file or handle.output_uri}{size}, est. {final.costs.display_cost}"
    )


def _config(config_json: str | None, variables_json: str | None) -> dict[str, Any]:
    """The render config from --config-json, with --variables merged over its own."""
    from framerun_service.render.variables import parse_values_json

    config: dict[str, Any] = {}
    if config_json is not None:
        try:
            loaded = json.loads(config_json)
        except json.JSONDecodeError as exc:
            raise InvalidConfigError(f"--config-json is not JSON ({exc.msg}); quote it") from None
        if not isinstance(loaded, dict):
            raise InvalidConfigError('--config-json must be a JSON object, e.g. {"width": 1280}')
        config = loaded
    if variables_json is not None:
        variables = parse_values_json(variables_json, source="--variables")
        base = config.get("variables") or {}
        if not isinstance(base, dict):
            raise InvalidConfigError("--config-json's variables must be an object")
        config = {**config, "variables": {**base, **variables}}
    return config


def _with_format(
    config: dict[str, Any],
    *,
    names: list[str],
    video_format: str | None,
    codec: str | None,
    transparent: bool,
) -> dict[str, Any]:
    """The flags over the config's format, codec and transparent, and the format the
    output's names ask for (``-o out.webm`` or a .webm key renders WebM, not MP4)."""
    from framerun.cloudrun import with_output_format

    config = dict(config)
    if video_format is not None:
        config["format"] = video_format
    if codec is not None:
        config["codec"] = codec
    if transparent:
        config["transparent"] = True
    for name in names:
        if isinstance(config.get("format"), str | None):
            config = with_output_format(config, name)
    return config


# ---- progress -------------------------------------------------------------------------


@cloudrun.command("progress")
@click.argument("execution")
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@click.option("--vcpu", type=float, default=4.0, show_default=True, envvar="FRAMERUN_VCPU")
@click.option(
    "--memory-gib", type=float, default=8.0, show_default=True, envvar="FRAMERUN_MEMORY_GIB"
)
@connection_options
@click.pass_context
def progress(
    ctx: click.Context,
    execution: str,
    as_json: bool,
    vcpu: float,
    memory_gib: float,
    **connection: Any,
) -> None:
    """Show how far the render of EXECUTION (its full resource name) has got."""
    from framerun.executions import close_client, executions_client
    from framerun.render_progress import get_render_progress

    seams = seams_of(ctx)
    with errors_as_exit():
        # --local, a file or terraform names the whole stack (emulator endpoints included);
        # else only the executions endpoint matters: the execution's argument names the bucket.
        target = resolve_target(ctx, connection) if names_whole_target(connection) else None
        executions, owned = seams.executions, None
        if executions is None and target is None:
            owned = executions = executions_client(endpoint=connection["executions_endpoint"])
        try:
            state = get_render_progress(
                execution,
                executions=executions,
                storage=seams.storage,
                target=target,
                vcpu=vcpu,
                memory_gib=memory_gib,
            )
        finally:
            if owned is not None:
                close_client(owned)
    if as_json:
        echo_json(state.to_json())
        return
    _echo_progress(state)


def _echo_progress(state: RenderProgress) -> None:
    """The human-readable progress report: status, chunks and frames, output, cost, errors."""
    click.echo(
        f"render {state.render_id}: {state.status} ({state.state}) {state.overall_progress:.0%}"
    )
    click.echo(
        f"  chunks {state.chunks_done}/{state.chunks_total} · "
        f"frames {state.frames_rendered}/{state.total_frames}"
    )
    if state.output_file:
        size = f" ({state.output_bytes / 1e6:.2f} MB)" if state.output_bytes is not None else ""
        click.echo(f"  output {state.output_file}{size}")
    click.echo(f"  cost   {state.costs.display_cost} (estimate at list prices)")
    for error in state.errors:
        where = f" in {error.step}" if error.step else ""
        click.echo(f"  error{where}: {error.message} [{error.code}]")


@cloudrun.command("cancel")
@click.argument("execution")
@connection_options
@click.pass_context
def cancel(ctx: click.Context, execution: str, **connection: Any) -> None:
    """Cancel the render of EXECUTION. Finished chunks stay in the bucket for `resume`."""
    from framerun.render_control import cancel_render

    seams = seams_of(ctx)
    with errors_as_exit():
        cancel_render(
            execution, target=resolve_target(ctx, connection), executions=seams.executions
        )
    click.echo(f"cancelled {execution}")


@cloudrun.command("resume")
@click.argument("execution")
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@connection_options
@click.pass_context
def resume(ctx: click.Context, execution: str, as_json: bool, **connection: Any) -> None:
    """Run a failed or cancelled render again; chunks already rendered are reused."""
    from framerun.render_control import resume_render

    seams = seams_of(ctx)
    with errors_as_exit():
        handle = resume_render(
            execution,
            target=resolve_target(ctx, connection),
            executions=seams.executions,
            storage=seams.storage,
        )
    if as_json:
        echo_json(handle.to_json())
        return
    click.echo(f"resumed render {handle.render_id}: {handle.execution_name}")
    click.echo(f"  output {handle.output_uri}")
