"""``framerun local up|down|status``: the whole cloud stack on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import click

OUTPUT_NAMES = ("render_bucket_name", "service_url", "workflow_name", "region")


def _print_outputs(outputs: dict[str, dict[str, str]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({k: v["value"] for k, v in outputs.items()}, indent=2))
        return
    for name in OUTPUT_NAMES:
        click.echo(f"{name} = {outputs[name]['value']}")


@click.group("local")
def local() -> None:
    """Run the distributed stack (storage, issuer, service, Workflows emulator) on loopback."""


_state_dir = click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_LOCAL_DIR",
    help="Where pids, logs and outputs.json live (default ~/.cache/framerun/local).",
)


@local.command()
@_state_dir
@click.option("--json", "as_json", is_flag=True, help="Print the outputs as JSON.")
def up(state_dir: Path | None, as_json: bool) -> None:
    """Start the stack (idempotent) and print the four Terraform-equivalent outputs."""
    from framerun.local import stack

    try:
        state = stack.up(state_dir)
    except stack.LocalStackError as exc:
        raise click.ClickException(str(exc)) from None
    _print_outputs(state.outputs(), as_json)
    if not as_json:
        where = (state_dir or stack.default_state_dir()) / "outputs.json"
        click.echo(f"outputs: {where} (`framerun cloudrun … --local` reads them)", err=True)


@local.command()
@_state_dir
def down(state_dir: Path | None) -> None:
    """Stop every process of the stack."""
    from framerun.local import stack

    click.echo("stopped" if stack.down(state_dir) else "not running")


@local.command()
@_state_dir
@click.option("--json", "as_json", is_flag=True)
def status(state_dir: Path | None, as_json: bool) -> None:
    """Print the outputs if the stack is up; exit 1 if it is not."""
    from framerun.local import stack

    state = stack.status(state_dir)
    if state is None:
        click.echo("not running", err=True)
        raise SystemExit(1)
    _print_outputs(state.outputs(), as_json)
