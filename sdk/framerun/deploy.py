"""``framerun cloudrun deploy``: the page of commands in docs/deploy-gcp.md, run.

In order (each step streams its tool's output under a header):

1. enable the two APIs the build needs (Terraform enables the rest);
2. create the Artifact Registry repository (named after ``name_prefix``) unless it exists;
3. build and push the image with ``gcloud builds submit``, tagged by a hash of the
   build context, unless an image with that tag is already there;
4. ``terraform init`` in this deployment's own copy of the module
   (:mod:`framerun.deploy_state` says where, and why one folder per deployment);
5. ``terraform apply`` with the variables, then save ``terraform output -json``.

Every step is a no-op when its work is done, so a second deploy of the same
sources with the same flags builds nothing and Terraform reports no changes.
A bucket that ``destroy`` kept is adopted again with ``terraform import``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framerun.deploy_source import DeploySource, content_tag
from framerun.deploy_state import (
    BUCKET_RESOURCE,
    OUTPUTS_FILE,
    TERRAFORM_ENV,
    DeploySettings,
    Echo,
    Steps,
    load_record,
    save_record,
    var_flags,
    write_atomically,
)
from framerun.deploy_tools import ToolRunner
from framerun.target import OUTPUT_BUCKET, OUTPUT_REGION, OUTPUT_SERVICE_URL, OUTPUT_WORKFLOW
from framerun_service.core.errors import DeployStepFailedError, InvalidConfigError

BUILD_APIS = ("artifactregistry.googleapis.com", "cloudbuild.googleapis.com")
OUTPUT_NAMES = (OUTPUT_BUCKET, OUTPUT_SERVICE_URL, OUTPUT_WORKFLOW, OUTPUT_REGION)
# Variables deploy sets itself; --var may not set them a second way.
OWN_VARIABLES = frozenset({"project_id", "region", "name_prefix", "image", "caller_members"})


@dataclass(frozen=True)
class DeployResult:
    """A finished deploy: its outputs, where they were saved, and what it had to do."""

    outputs: dict[str, Any]
    outputs_file: Path
    terraform_dir: Path
    image: str
    built: bool

    def value(self, name: str) -> str:
        raw = self.outputs.get(name, {})
        return str(raw.get("value", "")) if isinstance(raw, Mapping) else str(raw)


def parse_variables(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--var NAME=VALUE`` flags, refused when malformed or when deploy sets NAME itself."""
    parsed = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidConfigError(f"--var {pair!r} must be NAME=VALUE, e.g. --var cpu=8")
        if name in OWN_VARIABLES:
            flag = {
                "project_id": "--project",
                "region": "--region",
                "name_prefix": "--name-prefix",
                "caller_members": "--caller",
                "image": "--source (the image is built from it)",
            }[name]
            raise InvalidConfigError(f"--var {name}=… is set by deploy: use {flag} instead")
        parsed.append((name.strip(), value))
    return tuple(parsed)


def deploy(
    settings: DeploySettings,
    source: DeploySource,
    *,
    gcloud: str,
    terraform: str,
    runner: ToolRunner,
    echo: Echo,
) -> DeployResult:
    """Build, push and apply; see the module docstring for the steps."""
    steps = Steps(5, echo)
    folder = settings.directory
    record = load_record(folder) or {}
    callers = list(settings.callers)

    steps.next("enabling the Artifact Registry and Cloud Build APIs")
    runner.step(
        "enabling APIs",
        [gcloud, "services", "enable", *BUILD_APIS, "--project", settings.project, "--quiet"],
    )

    steps.next(f"image repository {settings.repository} in {settings.region}")
    created = _ensure_repository(settings, gcloud, runner, echo)
    record.update(
        project=settings.project,
        region=settings.region,
        name_prefix=settings.name_prefix,
        repository=settings.repository,
        created_repository=created or bool(record.get("created_repository")),
    )
    save_record(folder, record)  # now, so that destroy deletes it even if a later step fails

    image = settings.image(content_tag(source))
    steps.next(f"building image {image}")
    built = _ensure_image(image, source, settings.project, gcloud, runner, echo)

    terraform_dir = _copy_module(source, folder)
    steps.next(f"terraform init in {terraform_dir}")
    runner.step(
        "terraform init",
        [terraform, "init", "-input=false"],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )

    variables = {
        "project_id": settings.project,
        "region": settings.region,
        "name_prefix": settings.name_prefix,
        "image": image,
        "caller_members": json.dumps(callers),
        **dict(settings.variables),
    }
    record.update(image=image, variables=variables, destroyed=False)
    save_record(folder, record)

    steps.next("terraform apply")
    kept = record.get("kept_bucket")
    if kept:
        _adopt_bucket(kept, settings.project, variables, terraform, terraform_dir, runner, echo)
        record["kept_bucket"] = None
        save_record(folder, record)
    runner.step(
        "terraform apply",
        [terraform, "apply", "-auto-approve", "-input=false", *var_flags(variables)],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )
    outputs = _read_outputs(terraform, terraform_dir, runner)
    outputs_file = folder / OUTPUTS_FILE
    write_atomically(outputs_file, json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    return DeployResult(outputs, outputs_file, terraform_dir, image, built)


def _ensure_repository(
    settings: DeploySettings, gcloud: str, runner: ToolRunner, echo: Echo
) -> bool:
    """Create the image repository unless it exists; True when this call created it."""
    where = ["--location", settings.region, "--project", settings.project]
    described = runner.capture(
        [gcloud, "artifacts", "repositories", "describe", settings.repository, *where]
    )
    if described.ok:
        echo("    exists")
        return False
    runner.step(
        "creating the image repository",
        [
            gcloud, "artifacts", "repositories", "create", settings.repository,
            "--repository-format", "docker", *where, "--quiet",
        ],
    )  # fmt: skip
    return True


def _ensure_image(
    image: str,
    source: DeploySource,
    project: str,
    gcloud: str,
    runner: ToolRunner,
    echo: Echo,
) -> bool:
    """Build and push ``image`` unless its tag (the sources' hash) is already pushed;
    True when this call built it."""
    if runner.capture([gcloud, "artifacts", "docker", "images", "describe", image]).ok:
        echo("    already built from these sources; skipping the build")
        return False
    runner.step(
        "building the image",
        [gcloud, "builds", "submit", str(source.root), "--tag", image, "--project", project,
         "--quiet"],
    )  # fmt: skip
    return True


def _adopt_bucket(
    bucket: str,
    project: str,
    variables: Mapping[str, str],
    terraform: str,
    terraform_dir: Path,
    runner: ToolRunner,
    echo: Echo,
) -> None:
    """Take back the bucket a `destroy` kept, so apply does not try to create it again."""
    listed = runner.capture([terraform, "state", "list"], cwd=terraform_dir)
    if BUCKET_RESOURCE in listed.stdout.split():
        return
    echo(f"    adopting the bucket kept by destroy: gs://{bucket}")
    runner.step(
        "adopting the kept bucket",
        [
            terraform, "import", "-input=false", *var_flags(variables),
            BUCKET_RESOURCE, f"{project}/{bucket}",
        ],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )  # fmt: skip


def _read_outputs(terraform: str, terraform_dir: Path, runner: ToolRunner) -> dict[str, Any]:
    done = runner.capture([terraform, "output", "-json"], cwd=terraform_dir)
    why = (done.stderr.strip().splitlines() or ["no message"])[-1]
    if not done.ok:
        raise DeployStepFailedError(
            f"reading the outputs failed: `terraform output -json` exited {done.returncode}: {why}",
            step="terraform output",
        )
    try:
        outputs = json.loads(done.stdout)
    except json.JSONDecodeError:
        outputs = None
    missing = [n for n in OUTPUT_NAMES if not isinstance(outputs, dict) or n not in outputs]
    if not isinstance(outputs, dict) or missing:
        raise DeployStepFailedError(
            f"`terraform output -json` in {terraform_dir} lacks {', '.join(missing)}: "
            "is the module in --source framerun's terraform/?",
            step="terraform output",
        )
    return outputs


def _copy_module(source: DeploySource, folder: Path) -> Path:
    """This deployment's copy of ``terraform/*.tf`` and ``workflows/render.yaml`` (the
    module reads it as ``../workflows/render.yaml``). Unchanged files are not rewritten."""
    target = folder / "terraform"
    target.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path for path in sorted(source.terraform_dir.glob("*.tf"))}
    for stale in target.glob("*.tf"):
        if stale.name not in wanted:
            stale.unlink()
    for name, path in wanted.items():
        _copy_if_changed(path, target / name)
    _copy_if_changed(source.workflow_file, folder / "workflows" / "render.yaml")
    return target


def _copy_if_changed(src: Path, dest: Path) -> None:
    data = src.read_bytes()
    if dest.is_file() and dest.read_bytes() == data:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(dest, data)


def gcloud_account_member(gcloud: str, runner: ToolRunner) -> str | None:
    """The IAM member of gcloud's logged-in account (``user:…`` or ``serviceAccount:…``)."""
    done = runner.capture([gcloud, "config", "get-value", "account"])
    account = done.stdout.strip() if done.ok else ""
    if not account or account == "(unset)":
        return None
    kind = "serviceAccount" if account.endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{account}"
