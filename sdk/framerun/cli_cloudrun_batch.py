"""``framerun cloudrun sites …`` and ``framerun cloudrun render-batch``: many renders at once.

Both serve rendering many videos from one project: ``sites create`` uploads the
project once so renders can share it, and ``render-batch`` renders one video per
line of a JSONL file. :mod:`framerun.cli_cloudrun` adds them to its group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framerun.cli_cloudrun_options import (
    connection_options,
    echo_json,
    errors_as_exit,
    resolve_bucket,
    resolve_target,
    seams_of,
)

if TYPE_CHECKING:
    from framerun.batch import BatchLineResult, BatchReport


# ---- sites ----------------------------------------------------------------------------


@click.group("sites")
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

    with errors_as_exit():
        site = deploy_site(
            project, bucket_name=resolve_bucket(ctx, connection), storage=seams_of(ctx).storage
        )
    if as_json:
        echo_json(site.to_json())
        return
    what = "uploaded" if site.uploaded else "already uploaded"
    click.echo(f"site {site.site_id} {what}: {site.site_uri}")


# ---- render-batch ---------------------------------------------------------------------


@click.command("render-batch")
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

    seams = seams_of(ctx)

    def on_event(line: BatchLineResult) -> None:
        if not as_json:
            click.echo(_describe(line), err=True)

    with errors_as_exit():
        report = run_batch(
            project,
            batch_file,
            target=resolve_target(ctx, connection),
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
    """One line per event, naming the batch line so a failure can be found in the file."""
    what = line.output_key or "?"
    if line.error is not None:
        return f"line {line.line} ({what}): {line.status}: {line.error.message} [{line.error.code}]"
    where = f" → {line.execution_name}" if line.execution_name and line.status == "running" else ""
    return f"line {line.line} ({what}): {line.status}{where}"


def _print_report(report: BatchReport, as_json: bool) -> None:
    """The summary: a count per status, after the invalid lines of a dry run."""
    if as_json:
        echo_json(report.to_json())
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
    """Raise the error that makes the exit non-zero when a line is invalid or failed."""
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
