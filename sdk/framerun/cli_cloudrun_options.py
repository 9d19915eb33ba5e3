"""What every ``framerun cloudrun`` subcommand shares: where to render, with which clients.

Where to render comes from, in this order: flags; then ``--outputs-file`` or
``--from-terraform``; then ``FRAMERUN_*`` variables (every option has one).
The clients are real ones unless the group was invoked with
``obj=CloudRunSeams(...)`` (tests and embedders inject fakes that way).
Also here: the one-line error exit and the JSON printer all subcommands use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from framerun.cli_options import fail
from framerun.target import CloudRunTarget
from framerun_service.core.errors import FramerunError, TargetNotConfiguredError

if TYPE_CHECKING:
    from framerun.executions import ExecutionsApi
    from framerun_service.core.storage import Storage

F = TypeVar("F", bound=Callable[..., Any])

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
    """Add the flags that name the target; each has a ``FRAMERUN_*`` variable too."""
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
    return click.option(
        "--local",
        "use_local",
        is_flag=True,
        envvar="FRAMERUN_USE_LOCAL",
        help="Use the running local stack (`framerun local up`; FRAMERUN_LOCAL_DIR).",
    )(command)


def resolve_target(ctx: click.Context, params: dict[str, Any]) -> CloudRunTarget:
    """Flags beat --local / the outputs file / terraform, which beat FRAMERUN_* variables."""
    if params["use_local"]:
        base = CloudRunTarget.local()
    elif params["outputs_file"] is not None:
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


def resolve_bucket(ctx: click.Context, params: dict[str, Any]) -> str:
    """Only the bucket, which is all a site upload needs."""
    if names_whole_target(params):
        return resolve_target(ctx, params).bucket_name
    bucket: str | None = params["bucket"]
    if not bucket:
        raise TargetNotConfiguredError(
            "no bucket to upload to: pass --bucket, FRAMERUN_BUCKET, --local, --outputs-file "
            "or --from-terraform"
        )
    return bucket


def names_whole_target(params: dict[str, Any]) -> bool:
    """Whether --local, --outputs-file or --from-terraform names the whole target."""
    return bool(
        params["use_local"]
        or params["outputs_file"] is not None
        or params["from_terraform"] is not None
    )


def seams_of(ctx: click.Context) -> CloudRunSeams:
    """The injected clients, or an empty set (real clients get built) when none were."""
    return ctx.find_object(CloudRunSeams) or CloudRunSeams()


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Turn a :class:`FramerunError` into the one-line ``error: … [CODE]`` exit."""
    try:
        yield
    except FramerunError as exc:
        fail(exc)


def echo_json(data: Any) -> None:
    """``--json`` output: indented and key-sorted, so it diffs and greps well."""
    click.echo(json.dumps(data, indent=2, sort_keys=True))
