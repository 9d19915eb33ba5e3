"""``framerun cloudrun …``: start, watch and batch distributed renders.

Where to render comes from, in this order: flags; then ``--outputs-file`` or
``--from-terraform``; then ``FRAMERUN_*`` variables (every option has one).
Failures print one line, ``error: … [CODE]``, and exit 2 for bad input, 1 otherwise.

Tests (and embedders) inject an Executions client and a Storage by invoking the
group with ``obj=CloudRunSeams(...)``; without one, real clients are built.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from framerun.cli_options import fail, output_format_options
from framerun.target import CloudRunTarget
from framerun_service.core.errors import FramerunError, InvalidConfigError, TargetNotConfiguredError

if TYPE_CHECKING:
    from framerun.batch import BatchLineResult, BatchReport
    from framerun.executions import ExecutionsApi
    from framerun.render_progress import RenderProgress
    from framerun_service.core.storage import Storage

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERRUPTED = 130

# option name → (CloudRunTarget field, flag, env var)
_CONNECTION = {
    "bucket": ("bucket_name", "--bucket", "FRAMERUN_BUCKET"),
    "gcp_project": ("project_id", "--project", "FRAMERUN_PROJECT"),  # PROJECT is the folder
    "region": ("location", "--region", "FRAMERUN_REGION"),
    "workflow": ("workflow_id", "--workflow", "FRAMERUN_WORKFLOW"),
    "service_url": ("service_url", "--service-url", "FRAMERUN_SERVICE_URL"),
    "executions_endpoint": (
        "executions_endpoint",
        "--executions-endpoint",
        "FRAMERUN_EXECUTIONS_ENDPOINT",
    ),
}
_HELP = {
    "bucket": "Render bucket (terraform output render_bucket_name).",
    "gcp_project": "Google Cloud project id.",
    "region": "Region of the workflow, e.g. us-central1.",
    "workflow": "Workflow id, or projects/P/locations/L/workflows/W.",
    "service_url": "URL of the render service (terraform output service_url).",
    "executions_endpoint": "host:port of the local Workflows emulator (local stack only).",
}


@dataclass(frozen=True)
class CloudRunSeams:
    """Clients to use instead of real ones: ``main(obj=CloudRunSeams(executions=fake))``."""

    executions: ExecutionsApi | None = None
    storage: Storage | None = None


def connection_options(command: F) -> F:
    for name, (_, flag, env) in reversed(_CONNECTION.items()):
        command = click.option(flag, name, envvar=env, help=_HELP[name])(command)
    command = click.option(
        "--outputs-file",
        type=click.Path(path_type=Path),
        envvar="FRAMERUN_OUTPUTS_FILE",
        help="JSON as `terraform output -json` prints it (the local stack writes one).",
    )(command)
    command = click.option(
        "--from-terraform",
        type=click.Path(path_type=Path),
        envvar="FRAMERUN_TERRAFORM_DIR",
        help="Folder to run `terraform output -json` in.",
    )(command)
    return command


def _target(ctx: click.Context, params: dict[str, Any]) -> CloudRunTarget:
    """Flags beat the outputs file / terraform, which beat FRAMERUN_* variables."""
    if params["outputs_file"] is not None:
        base = CloudRunTarget.from_outputs_file(params["outputs_file"])
    elif params["from_terraform"] is not None:
        base = CloudRunTarget.from_terraform(params["from_terraform"])
    else:
        values = {field: params[name] for name, (field, _, _) in _CONNECTION.items()}
        return CloudRunTarget.from_values(**values, source="flags and FRAMERUN_* variables")
    flags = {
        field: params[name]
        for name, (field, _, _) in _CONNECTION.items()
        if params[name] is not None
        and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    return replace(base, **flags)


def _seams(ctx: click.Context) -> CloudRunSeams:
    return ctx.find_object(CloudRunSeams) or CloudRunSeams()


@contextmanager
def _errors_as_exit() -> Iterator[None]:
    try:
        yield
    except FramerunError as exc:
        fail(exc)


def _json_out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group("cloudrun")
def cloudrun() -> None:
    """Render on Cloud Run + Workflows (or the local stack): distributed, in parallel."""


# ---- render ---------------------------------------------------------------------------


@cloudrun.command("render")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--site-id", envvar="FRAMERUN_SITE_ID", help="Use this uploaded site.")
@click.option(
    "--output-key",
    envvar="FRAMERUN_OUTPUT_KEY",
    help="Object key of the video (default renders/<id>/output.mp4).",
)
@click.option(
    "--config-json",
    envvar="FRAMERUN_CONFIG_JSON",
    help='Render config as JSON, e.g. \'{"width": 1280, "chunkSize": 120}\'.',
)
@click.option(
    "--variables", "variables_json", envvar="FRAMERUN_VARIABLES", help="JSON object of values."
)
@output_format_options(
    format_help="mp4, webm, mov (ProRes) or png-sequence (one .tar of PNGs); "
    "default: --output-key's suffix, else mp4. Overrides the config's format.",
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
    site_id: str | None,
    output_key: str | None,
    config_json: str | None,
    variables_json: str | None,
    video_format: str | None,
    codec: str | None,
    transparent: bool,
    wait: bool,
    as_json: bool,
    poll_interval: float,
    timeout: float | None,
    **connection: Any,
) -> None:
    """Start a distributed render of PROJECT; with --wait, follow it to the end."""
    from framerun.cloudrun import render_to_cloud_run
    from framerun.render_progress import wait_for_render

    seams = _seams(ctx)
    with _errors_as_exit():
        target = _target(ctx, connection)
        config = _with_format(
            _config(config_json, variables_json),
            output_key=output_key,
            video_format=video_format,
            codec=codec,
            transparent=transparent,
        )
        handle = render_to_cloud_run(
            project,
            config,
            target=target,
            site_id=site_id,
            output_key=output_key,
            executions=seams.executions,
            storage=seams.storage,
        )
        if not wait:
            if as_json:
                _json_out(handle.to_json())
            else:
                click.echo(f"started render {handle.render_id} → {handle.output_uri}")
                click.echo(f"follow it: framerun cloudrun progress {handle.execution_name}")
            return
        try:
            with _ProgressBar(disabled=as_json or not sys.stderr.isatty()) as bar:
                final = wait_for_render(
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
    if as_json:
        _json_out(final.to_json())
        return
    took = ""
    if final.started_at is not None and final.ended_at is not None:
        took = f" in {(final.ended_at - final.started_at).total_seconds():.1f}s"
    size = f" ({final.output_bytes / 1e6:.2f} MB)" if final.output_bytes is not None else ""
    click.echo(
        f"rendered {final.total_frames} frames in {final.chunks_total} chunks{took} → "
        f"{final.output_file or handle.output_uri}{size}, est. {final.costs.display_cost}"
    )


def _config(config_json: str | None, variables_json: str | None) -> dict[str, Any]:
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
    output_key: str | None,
    video_format: str | None,
    codec: str | None,
    transparent: bool,
) -> dict[str, Any]:
    """The flags over the config's format, codec and transparent, and the format the
    output key's suffix names (a .webm key gets WebM bytes, not MP4)."""
    from framerun_service.render.encoding import format_for_output

    config = dict(config)
    if video_format is not None:
        config["format"] = video_format
    if codec is not None:
        config["codec"] = codec
    if transparent:
        config["transparent"] = True
    explicit = config.get("format")
    if output_key is not None and (explicit is None or isinstance(explicit, str)):
        config["format"] = format_for_output(output_key, explicit)
        if explicit is None and config["format"] == "mp4":
            del config["format"]  # the default: keep the config as the user wrote it
    return config


class _ProgressBar:
    """Overall progress, chunks done/total and the cost so far, on stderr."""

    def __init__(self, *, disabled: bool) -> None:
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

    def __enter__(self) -> _ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def update(self, progress: RenderProgress) -> None:
        chunks = f"{progress.chunks_done}/{progress.chunks_total}" if progress.chunks_total else "–"
        self._progress.update(
            self._task,
            completed=progress.overall_progress,
            chunks=chunks,
            cost=progress.costs.display_cost,
        )


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

    seams = _seams(ctx)
    with _errors_as_exit():
        # A file or terraform names the whole stack (emulator endpoints included); else
        # only the executions endpoint matters: the execution's argument names the bucket.
        from_file = connection["outputs_file"] or connection["from_terraform"]
        target = _target(ctx, connection) if from_file else None
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
        _json_out(state.to_json())
        return
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
    from framerun.cloudrun import cancel_render

    seams = _seams(ctx)
    with _errors_as_exit():
        cancel_render(execution, target=_target(ctx, connection), executions=seams.executions)
    click.echo(f"cancelled {execution}")


@cloudrun.command("resume")
@click.argument("execution")
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@connection_options
@click.pass_context
def resume(ctx: click.Context, execution: str, as_json: bool, **connection: Any) -> None:
    """Run a failed or cancelled render again; chunks already rendered are reused."""
    from framerun.cloudrun import resume_render

    seams = _seams(ctx)
    with _errors_as_exit():
        handle = resume_render(
            execution,
            target=_target(ctx, connection),
            executions=seams.executions,
            storage=seams.storage,
        )
    if as_json:
        _json_out(handle.to_json())
        return
    click.echo(f"resumed render {handle.render_id}: {handle.execution_name}")
    click.echo(f"  output {handle.output_uri}")


# ---- sites ----------------------------------------------------------------------------


@cloudrun.group("sites")
def sites() -> None:
    """Upload project folders as content-addressed sites."""


@sites.command("create")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@connection_options
@click.pass_context
def sites_create(ctx: click.Context, project: Path, as_json: bool, **connection: Any) -> None:
    """Upload PROJECT as a site (skipped when the same files are already there)."""
    from framerun.sites import deploy_site

    with _errors_as_exit():
        site = deploy_site(
            project, bucket_name=_bucket(ctx, connection), storage=_seams(ctx).storage
        )
    if as_json:
        _json_out(site.to_json())
        return
    what = "uploaded" if site.uploaded else "already uploaded"
    click.echo(f"site {site.site_id} {what}: {site.site_uri}")


def _bucket(ctx: click.Context, params: dict[str, Any]) -> str:
    """Only the bucket, which is all a site upload needs."""
    if params["outputs_file"] is not None or params["from_terraform"] is not None:
        return _target(ctx, params).bucket_name
    bucket: str | None = params["bucket"]
    if not bucket:
        raise TargetNotConfiguredError(
            "no bucket to upload to: pass --bucket, FRAMERUN_BUCKET, --outputs-file or "
            "--from-terraform"
        )
    return bucket


# ---- render-batch ---------------------------------------------------------------------


@cloudrun.command("render-batch")
@click.argument("project", type=click.Path(path_type=Path))
@click.option(
    "--batch",
    "batch_file",
    required=True,
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_BATCH",
    help="JSONL file: one {outputKey, variables, config?} per line.",
)
@click.option(
    "--max-concurrent",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    envvar="FRAMERUN_MAX_CONCURRENT",
    help="Executions in flight at once.",
)
@click.option("--dry-run", is_flag=True, envvar="FRAMERUN_DRY_RUN", help="Only check the lines.")
@click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")
@click.option(
    "--poll-interval", type=float, default=2.0, show_default=True, envvar="FRAMERUN_POLL_INTERVAL"
)
@connection_options
@click.pass_context
def render_batch(
    ctx: click.Context,
    project: Path,
    batch_file: Path,
    max_concurrent: int,
    dry_run: bool,
    as_json: bool,
    poll_interval: float,
    **connection: Any,
) -> None:
    """Render one video per line of --batch, at most --max-concurrent at a time."""
    from framerun.batch import render_batch as run_batch

    seams = _seams(ctx)

    def on_event(line: BatchLineResult) -> None:
        if not as_json:
            click.echo(_describe(line), err=True)

    with _errors_as_exit():
        report = run_batch(
            project,
            batch_file,
            target=_target(ctx, connection),
            max_concurrent=max_concurrent,
            dry_run=dry_run,
            executions=seams.executions,
            storage=seams.storage,
            poll_interval_s=poll_interval,
            on_event=on_event,
        )
        _print_report(report, as_json)
        if not report.ok:
            _fail_report(report)


def _describe(line: BatchLineResult) -> str:
    what = line.output_key or "?"
    if line.error is not None:
        return f"line {line.line} ({what}): {line.status}: {line.error.message} [{line.error.code}]"
    where = f" → {line.execution_name}" if line.execution_name and line.status == "running" else ""
    return f"line {line.line} ({what}): {line.status}{where}"


def _print_report(report: BatchReport, as_json: bool) -> None:
    if as_json:
        _json_out(report.to_json())
        return
    if report.dry_run:
        for line in report.lines:
            if line.status != "valid":
                click.echo(_describe(line))
    counts: dict[str, int] = {}
    for line in report.lines:
        counts[line.status] = counts.get(line.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"{'dry run' if report.dry_run else 'batch'}: {summary}")


def _fail_report(report: BatchReport) -> None:
    from framerun_service.core.errors import BatchInvalidError, RenderFailedError

    if report.dry_run:
        problems = [(x.line, x.error.message if x.error else x.status) for x in report.lines]
        bad = [p for p, x in zip(problems, report.lines, strict=True) if x.status != "valid"]
        raise BatchInvalidError(bad)
    failed = [x for x in report.lines if x.status != "succeeded"]
    raise RenderFailedError(
        f"{len(failed)} of {len(report.lines)} renders did not succeed (first: "
        f"{_describe(failed[0])}); rerun those lines",
        code="BATCH_FAILED",
    )
