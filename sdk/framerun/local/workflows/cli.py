"""``python -m framerun.local.workflows``: the emulator as a process (``framerun local up``).

::

    python -m framerun.local.workflows --port 8788 \\
        --workflow render=workflows/render.yaml \\
        --env FRAMERUN_SERVICE_URL=http://127.0.0.1:8080 \\
        --token-url http://127.0.0.1:9000/token \\
        --invoker-email workflow-invoker@framerun-local.iam.gserviceaccount.com

Prints ``workflows emulator listening on HOST:PORT`` once serving, and runs until
SIGTERM or SIGINT. Every option also reads a ``FRAMERUN_WORKFLOWS_*`` variable.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from pathlib import Path

import click

from .emulator import DEFAULT_LOCATION, DEFAULT_PROJECT, Emulator
from .errors import WorkflowDefinitionError

__all__ = ["main", "serve"]


def serve(
    *,
    workflows: Mapping[str, str | Path],
    port: int = 0,
    env: Mapping[str, str] | None = None,
    token_url: str | None = None,
    invoker_email: str | None = None,
    project: str = DEFAULT_PROJECT,
    location: str = DEFAULT_LOCATION,
    stop: threading.Event | None = None,
) -> None:
    """Deploy ``workflows`` (id → YAML path), serve until ``stop`` is set or a signal arrives.

    ``env`` is given to every workflow as its user environment variables.
    """
    emulator = Emulator(
        project=project, location=location, token_url=token_url, invoker_email=invoker_email
    )
    for workflow_id, path in workflows.items():
        emulator.deploy(workflow_id, Path(path).read_text(encoding="utf-8"), env)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    address = emulator.start(port)
    click.echo(f"workflows emulator listening on {address}")
    for workflow_id in workflows:
        click.echo(f"  {emulator.workflow_name(workflow_id)}")
    try:
        stop.wait()
    finally:
        emulator.stop()


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {value!r}", param_hint=what)
        pairs[name] = rest
    return pairs


@click.command(context_settings={"auto_envvar_prefix": "FRAMERUN_WORKFLOWS"})
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--workflow",
    "workflow_specs",
    multiple=True,
    required=True,
    metavar="ID=PATH",
    help="Deploy the YAML at PATH as workflow ID (repeatable).",
)
@click.option(
    "--env", "env_specs", multiple=True, metavar="NAME=VALUE", help="A user env var (repeatable)."
)
@click.option("--token-url", help="The local issuer's token endpoint, for auth: {type: OIDC}.")
@click.option("--invoker-email", help="The service account the minted ID tokens assert.")
@click.option("--project", default=DEFAULT_PROJECT, show_default=True)
@click.option("--location", default=DEFAULT_LOCATION, show_default=True)
@click.option("--log-level", default="INFO", show_default=True)
def main(
    port: int,
    workflow_specs: tuple[str, ...],
    env_specs: tuple[str, ...],
    token_url: str | None,
    invoker_email: str | None,
    project: str,
    location: str,
    log_level: str,
) -> None:
    """Serve the Cloud Workflows Executions API (gRPC) on 127.0.0.1."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        serve(
            workflows=_pairs(workflow_specs, "--workflow"),
            port=port,
            env=_pairs(env_specs, "--env"),
            token_url=token_url,
            invoker_email=invoker_email,
            project=project,
            location=location,
        )
    except (WorkflowDefinitionError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
