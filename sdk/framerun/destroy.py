"""``framerun cloudrun destroy``: tear down what ``deploy`` made, keeping the bucket.

In the deployment's folder (:mod:`framerun.deploy_state`): ``terraform init``,
then ``terraform destroy`` with the variables deploy recorded, then the image
repository if deploy created it. The render bucket and its videos stay unless
asked: the bucket is taken out of Terraform's state (``terraform state rm``)
before the destroy, and the next deploy adopts it again. With ``delete_bucket``,
an apply with ``bucket_force_destroy=true`` lets the destroy delete it, objects
and all. A deploy that stopped before Terraform made only the repository, so
only that is deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framerun.deploy_state import (
    BUCKET_RESOURCE,
    ENV_DEPLOY_DIR,
    OUTPUTS_FILE,
    TERRAFORM_ENV,
    DeploySettings,
    Echo,
    Steps,
    load_record,
    save_record,
    var_flags,
)
from framerun.deploy_tools import ToolRunner
from framerun.target import OUTPUT_BUCKET
from framerun_service.core.errors import TargetNotConfiguredError


@dataclass(frozen=True)
class DestroyResult:
    """A finished destroy: the bucket left behind (None if it was deleted too)."""

    kept_bucket: str | None
    deleted_repository: str | None


def load_deployment(settings: DeploySettings) -> dict[str, Any]:
    """The record of what deploy made for these settings, or a typed error saying none is."""
    record = load_record(settings.directory) or {}
    if not (_has_terraform_state(record) or record.get("created_repository")):
        raise TargetNotConfiguredError(
            f"no deployment of {settings.name_prefix} in {settings.project}/{settings.region} "
            f"is recorded in {settings.directory}: nothing to destroy (pass --name-prefix or "
            f"--state-dir / {ENV_DEPLOY_DIR} if deploy used other ones)"
        )
    return record


def _has_terraform_state(record: Mapping[str, Any]) -> bool:
    """Deploy got as far as Terraform (its variables are recorded) and no destroy since."""
    return "variables" in record and not record.get("destroyed")


def destroy(
    settings: DeploySettings,
    *,
    delete_bucket: bool,
    gcloud: str | None,
    terraform: str,
    runner: ToolRunner,
    echo: Echo,
) -> DestroyResult:
    """Tear down what deploy made; keep the bucket unless ``delete_bucket``."""
    folder = settings.directory
    record = load_deployment(settings)
    repository = record.get("repository") if record.get("created_repository") else None
    with_state = _has_terraform_state(record)
    steps = Steps((3 if with_state else 0) + (1 if repository else 0), echo)
    kept: str | None = None
    if with_state:
        kept = _destroy_terraform(
            record, folder, delete_bucket=delete_bucket, terraform=terraform, runner=runner,
            steps=steps,
        )  # fmt: skip
        record.update(destroyed=True, kept_bucket=kept)
        save_record(folder, record)
        (folder / OUTPUTS_FILE).unlink(missing_ok=True)

    if repository:
        steps.next(f"deleting image repository {repository} (deploy created it)")
        assert gcloud is not None
        runner.step(
            "deleting the image repository",
            [
                gcloud, "artifacts", "repositories", "delete", repository,
                "--location", settings.region, "--project", settings.project, "--quiet",
            ],
        )  # fmt: skip
        record["created_repository"] = False
        save_record(folder, record)
    return DestroyResult(kept_bucket=kept, deleted_repository=repository)


def _destroy_terraform(
    record: Mapping[str, Any],
    folder: Path,
    *,
    delete_bucket: bool,
    terraform: str,
    runner: ToolRunner,
    steps: Steps,
) -> str | None:
    """``terraform destroy`` with the recorded variables; returns the bucket kept, if any."""
    terraform_dir = folder / "terraform"
    variables: dict[str, str] = dict(record["variables"])
    steps.next(f"terraform init in {terraform_dir}")
    runner.step(
        "terraform init",
        [terraform, "init", "-input=false"],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )

    kept: str | None = None
    if delete_bucket:
        steps.next("letting terraform delete the bucket and the videos in it")
        variables["bucket_force_destroy"] = "true"
        runner.step(
            "allowing the bucket's deletion",
            [terraform, "apply", "-auto-approve", "-input=false", *var_flags(variables)],
            cwd=terraform_dir,
            extra_env=TERRAFORM_ENV,
        )
    else:
        steps.next("keeping the render bucket (and its videos) out of the teardown")
        listed = runner.capture([terraform, "state", "list"], cwd=terraform_dir)
        if BUCKET_RESOURCE in listed.stdout.split():
            kept = _saved_bucket(folder) or _bucket_in_state(terraform, terraform_dir, runner)
            runner.step(
                "keeping the bucket",
                [terraform, "state", "rm", BUCKET_RESOURCE],
                cwd=terraform_dir,
                extra_env=TERRAFORM_ENV,
            )
        else:
            kept = record.get("kept_bucket")

    steps.next("terraform destroy")
    runner.step(
        "terraform destroy",
        [terraform, "destroy", "-auto-approve", "-input=false", *var_flags(variables)],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )
    return kept


_STATE_NAME = re.compile(r'^ {4}name\s*=\s*"([^"]+)"', re.MULTILINE)  # top-level attribute


def _bucket_in_state(terraform: str, terraform_dir: Path, runner: ToolRunner) -> str | None:
    """The bucket's name from the state, when no outputs were saved (an apply that
    failed after creating the bucket)."""
    shown = runner.capture([terraform, "state", "show", "-no-color", BUCKET_RESOURCE],
                           cwd=terraform_dir)  # fmt: skip
    matched = _STATE_NAME.search(shown.stdout) if shown.ok else None
    return matched.group(1) if matched else None


def _saved_bucket(folder: Path) -> str | None:
    try:
        outputs = json.loads((folder / OUTPUTS_FILE).read_text(encoding="utf-8"))
        return str(outputs[OUTPUT_BUCKET]["value"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
