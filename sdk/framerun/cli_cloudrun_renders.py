"""``framerun cloudrun renders list|get|delete``: the renders in the bucket.

Thin over :mod:`framerun.renders`: status, output, size and cost per render, and
deleting one render's objects (never a site archive, never another render's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from framerun.cli_cloudrun_options import (
    connection_options,
    echo_json,
    errors_as_exit,
    resolve_target,
    seams_of,
)

if TYPE_CHECKING:
    from framerun.renders import RenderSummary

_json = click.option("--json", "as_json", is_flag=True, envvar="FRAMERUN_JSON", help="Print JSON.")


@click.group("renders")
def renders() -> None:
    """List, show and delete the renders in the bucket."""


@renders.command("list")
@_json
@connection_options
@click.pass_context
def list_command(ctx: click.Context, as_json: bool, **connection: Any) -> None:
    """Every render in the bucket, newest first: status, output, size, cost."""
    from framerun.renders import list_renders

    seams = seams_of(ctx)
    with errors_as_exit():
        found = list_renders(
            target=resolve_target(ctx, connection),
            storage=seams.storage,
            executions=seams.executions,
        )
    if as_json:
        echo_json([summary.to_json() for summary in found])
        return
    if not found:
        click.echo("no renders in the bucket")
        return
    click.echo(f"{'RENDER':<24} {'STATUS':<10} {'STARTED':<20} {'SIZE':>9} {'COST':>8}  OUTPUT")
    for summary in found:
        started = summary.started_at.strftime("%Y-%m-%d %H:%M:%S") if summary.started_at else "–"
        click.echo(
            f"{summary.render_id:<24} {summary.status:<10} {started:<20} "
            f"{_size(summary.output_bytes):>9} {summary.costs.display_cost:>8}  "
            f"{summary.output_uri or '–'}"
        )


@renders.command("get")
@click.argument("render_id")
@_json
@connection_options
@click.pass_context
def get_command(ctx: click.Context, render_id: str, as_json: bool, **connection: Any) -> None:
    """One render (RENDER_ID as `renders list` prints it)."""
    from framerun.renders import get_render

    seams = seams_of(ctx)
    with errors_as_exit():
        summary = get_render(
            render_id,
            target=resolve_target(ctx, connection),
            storage=seams.storage,
            executions=seams.executions,
        )
    if as_json:
        echo_json(summary.to_json())
        return
    _echo_summary(summary)


@renders.command("delete")
@click.argument("render_id")
@_json
@connection_options
@click.pass_context
def delete_command(ctx: click.Context, render_id: str, as_json: bool, **connection: Any) -> None:
    """Delete one render's objects and its output (a running render: cancel it first)."""
    from framerun.renders import delete_render

    seams = seams_of(ctx)
    with errors_as_exit():
        done = delete_render(
            render_id,
            target=resolve_target(ctx, connection),
            storage=seams.storage,
            executions=seams.executions,
        )
    if as_json:
        echo_json(done.to_json())
        return
    click.echo(f"deleted render {render_id}: {len(done.deleted)} objects")


def _echo_summary(summary: RenderSummary) -> None:
    click.echo(f"render {summary.render_id}: {summary.status}")
    click.echo(f"  execution {summary.execution_name or '–'}")
    if summary.started_at:
        click.echo(f"  started   {summary.started_at.isoformat()}")
    click.echo(
        f"  chunks    {summary.chunks_done}/{summary.chunks_total} · frames {summary.total_frames}"
    )
    click.echo(f"  output    {summary.output_uri or '–'} ({_size(summary.output_bytes)})")
    click.echo(f"  cost      {summary.costs.display_cost} (estimate at list prices)")
    click.echo(f"  objects   {summary.object_count}")


def _size(size: int | None) -> str:
    return "–" if size is None else f"{size / 1e6:.2f} MB"
