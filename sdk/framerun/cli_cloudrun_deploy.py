"""``framerun cloudrun deploy | destroy | doctor``: a deployment in one command, and back.

The work is in :mod:`framerun.deploy` (the steps) and :mod:`framerun.doctor` (the
permission check); this module is their flags and their printing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from framerun.cli_cloudrun_options import connection_options, errors_as_exit, resolve_target
from framerun.cli_options import EXIT_FAILED
from framerun.deploy import OUTPUT_NAMES, parse_variables
from framerun.deploy_state import (
    OUTPUTS_FILE,
    DeploySettings,
    default_state_root,
    deployment_dir,
)
from framerun.destroy import load_deployment
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidConfigError, TargetNotConfiguredError

if TYPE_CHECKING:
    from framerun.doctor import PermissionReport

# terraform/variables.tf's rule for name_prefix, checked before a ten-minute build.
_NAME_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


def _deployment_options(command: Any) -> Any:
    """--project, --region, --name-prefix and --state-dir: which deployment."""
    for decorator in reversed(
        [
            click.option("--project", required=True, envvar="FRAMERUN_PROJECT",
                         help="Google Cloud project id to deploy into."),
            click.option("--region", default="us-central1", show_default=True,
                         envvar="FRAMERUN_REGION",
                         help="Region of the service, workflow and bucket."),
            click.option("--name-prefix", default="framerun", show_default=True,
                         envvar="FRAMERUN_NAME_PREFIX",
                         help="Prefix of every resource name (≤ 20 chars, a-z 0-9 -)."),
            click.option("--state-dir", type=click.Path(path_type=Path),
                         envvar="FRAMERUN_DEPLOY_DIR",
                         help="Where deployments keep state and outputs "
                         "(default ~/.cache/framerun/deploy)."),
        ]
    ):  # fmt: skip
        command = decorator(command)
    return command


def _settings(
    project: str,
    region: str,
    name_prefix: str,
    state_dir: Path | None,
    callers: tuple[str, ...] = (),
    variables: tuple[tuple[str, str], ...] = (),
) -> DeploySettings:
    if not _NAME_PREFIX.match(name_prefix):
        raise InvalidConfigError(
            f"--name-prefix {name_prefix!r} must start with a letter and use only a-z, 0-9 "
            "and '-', at most 20 characters (service-account ids must fit)"
        )
    return DeploySettings(
        project=project,
        region=region,
        name_prefix=name_prefix,
        callers=callers,
        variables=variables,
        state_root=state_dir or default_state_root(),
    )


def _runner() -> Any:
    from framerun.deploy_tools import ToolRunner

    return ToolRunner(echo=lambda line, err: click.echo(line, err=err))


@click.command("deploy")
@_deployment_options
@click.option(
    "--caller",
    "callers",
    multiple=True,
    envvar="FRAMERUN_CALLERS",
    help="IAM member allowed to start renders (user:…, serviceAccount:…, group:…); "
    "repeat for more. Default: gcloud's logged-in account.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    envvar="FRAMERUN_TERRAFORM_VARS",
    help="Another variable of terraform/variables.tf, e.g. --var cpu=8; repeatable "
    "(the variable takes them space-separated).",
)
@click.option(
    "--source",
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_SOURCE",
    help="framerun checkout to build and apply (default: the one this framerun "
    "runs from, else the current folder).",
)
def deploy(
    project: str,
    region: str,
    name_prefix: str,
    state_dir: Path | None,
    callers: tuple[str, ...],
    variables: tuple[str, ...],
    source: Path | None,
) -> None:
    """Build and push the image, then apply terraform/: a second run changes nothing."""
    from framerun.deploy import deploy as run_deploy
    from framerun.deploy import gcloud_account_member
    from framerun.deploy_source import find_source
    from framerun.deploy_tools import require_tool

    with errors_as_exit():
        gcloud, terraform = require_tool("gcloud"), require_tool("terraform")
        checkout = find_source(source)
        # Bad flags are refused before any command runs (gcloud is asked for the caller).
        settings = _settings(
            project, region, name_prefix, state_dir, callers, parse_variables(variables)
        )
        runner = _runner()
        if not settings.callers:
            member = gcloud_account_member(gcloud, runner)
            if member is None:
                raise TargetNotConfiguredError(
                    "no caller to grant: gcloud has no logged-in account; run "
                    "`gcloud auth login`, or pass --caller user:you@example.com"
                )
            settings = replace(settings, callers=(member,))
        click.echo(f"deploying {checkout.root} to {project}/{region} as {name_prefix}")
        result = run_deploy(
            settings, checkout, gcloud=gcloud, terraform=terraform, runner=runner, echo=click.echo
        )
    click.echo(f"deployed ({'built' if result.built else 'reused'} {result.image}):")
    for name in OUTPUT_NAMES:
        click.echo(f"  {name:<20}{result.value(name)}")
    click.echo(f"outputs saved to {result.outputs_file}; render with")
    click.echo(
        f"  framerun cloudrun render PROJECT -o video.mp4 --outputs-file {result.outputs_file}"
    )
    click.echo(f"  (or --from-terraform {result.terraform_dir})")
    click.echo(f"check permissions: framerun cloudrun doctor --outputs-file {result.outputs_file}")


@click.command("destroy")
@_deployment_options
@click.option(
    "--delete-bucket",
    is_flag=True,
    envvar="FRAMERUN_DELETE_BUCKET",
    help="Delete the render bucket and every video in it too (kept by default).",
)
@click.option("--yes", is_flag=True, envvar="FRAMERUN_YES", help="Do not ask for confirmation.")
def destroy(
    project: str,
    region: str,
    name_prefix: str,
    state_dir: Path | None,
    delete_bucket: bool,
    yes: bool,
) -> None:
    """Tear down what deploy made; the render bucket stays unless --delete-bucket."""
    from framerun.deploy_tools import require_tool
    from framerun.destroy import destroy as run_destroy

    with errors_as_exit():
        settings = _settings(project, region, name_prefix, state_dir)
        record = load_deployment(settings)
        terraform = require_tool("terraform")
        gcloud = require_tool("gcloud") if record.get("created_repository") else None
        bucket = "the render bucket AND ITS VIDEOS" if delete_bucket else "all but the bucket"
        if not yes:
            click.confirm(
                f"destroy {name_prefix} in {project}/{region} ({bucket})?", abort=True, err=True
            )
        result = run_destroy(
            settings,
            delete_bucket=delete_bucket,
            gcloud=gcloud,
            terraform=terraform,
            runner=_runner(),
            echo=click.echo,
        )
    click.echo(f"destroyed {name_prefix} in {project}/{region}")
    if result.deleted_repository:
        click.echo(f"  deleted image repository {result.deleted_repository}")
    if result.kept_bucket:
        click.echo(f"  kept the render bucket gs://{result.kept_bucket} and its videos;")
        click.echo("  the next deploy adopts it again. To delete it and everything in it:")
        click.echo(f"    gcloud storage rm --recursive gs://{result.kept_bucket}")


@click.command("doctor")
@click.option(
    "--deploy",
    "deployer",
    is_flag=True,
    envvar="FRAMERUN_DOCTOR_DEPLOY",
    help="Also test what deploying and destroying need.",
)
@click.option(
    "--name-prefix",
    default="framerun",
    show_default=True,
    envvar="FRAMERUN_NAME_PREFIX",
    help="With --project/--region: whose outputs deploy saved.",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    envvar="FRAMERUN_DEPLOY_DIR",
    help="Where deploy saved outputs (default ~/.cache/framerun/deploy).",
)
@connection_options
@click.pass_context
def doctor(
    ctx: click.Context,
    deployer: bool,
    name_prefix: str,
    state_dir: Path | None,
    **connection: Any,
) -> None:
    """List every permission your identity lacks to render (or deploy), with its role."""
    from framerun.doctor import check_permissions, service_name_from_url

    with errors_as_exit():
        target = _doctor_target(ctx, connection, name_prefix, state_dir)
        if target is None:
            report = check_permissions(project=connection["gcp_project"], deployer=deployer)
        else:
            name = service_name_from_url(target.service_url, fallback=target.workflow_id)
            report = check_permissions(
                project=target.project_id,
                bucket=target.bucket_name,
                service=f"projects/{target.project_id}/locations/{target.location}/services/{name}",
                workflow=target.workflow_path,
                deployer=deployer,
            )
    _echo_report(report)
    if not report.ok:
        sys.exit(EXIT_FAILED)


def _doctor_target(
    ctx: click.Context, connection: dict[str, Any], name_prefix: str, state_dir: Path | None
) -> CloudRunTarget | None:
    """The whole deployment when the flags, an outputs file, terraform or deploy's saved
    outputs name it; None when only a project is known (before a deploy)."""
    if connection["outputs_file"] or connection["from_terraform"] or connection["bucket"]:
        return resolve_target(ctx, connection)
    project, region = connection["gcp_project"], connection["region"]
    if not project:
        raise TargetNotConfiguredError(
            "doctor needs a deployment or a project: pass --outputs-file, --from-terraform, "
            "or --project (with --region, deploy's saved outputs are used)"
        )
    if region:
        saved = deployment_dir(state_dir or default_state_root(), project, region, name_prefix)
        if (saved / OUTPUTS_FILE).is_file():
            return CloudRunTarget.from_outputs_file(saved / OUTPUTS_FILE)
    return None


def _echo_report(report: PermissionReport) -> None:
    click.echo(f"testing the permissions of {report.identity}")
    for check in report.checks:
        if not check.tested:
            click.echo(f"  {check.kind:<8} {check.name}: {check.note}")
            continue
        if check.missing:
            state = f"{len(check.missing)} of {len(check.tested)} missing"
        else:
            state = f"ok ({len(check.tested)} permissions)"
        note = f" ({check.note})" if check.note else ""
        click.echo(f"  {check.kind:<8} {check.name}: {state}{note}")
    if report.ok:
        click.echo("nothing is missing")
        return
    click.echo("missing:")
    for check, need in report.missing:
        click.echo(f"  {need.permission} on {check.kind} {check.name}: grant {need.role} "
                   f"({need.why})")  # fmt: skip
    roles = sorted({need.role for _, need in report.missing})
    click.echo(f"{len(report.missing)} permissions missing; ask for {', '.join(roles)}", err=True)
