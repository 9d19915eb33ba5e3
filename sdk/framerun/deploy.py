"""``framerun cloudrun deploy`` and ``destroy``: the page of commands in docs/deploy-gcp.md, run.

Deploy, in order (each step streams its tool's output under a header):

1. enable the two APIs the build needs (Terraform enables the rest);
2. create the Artifact Registry repository (named after ``name_prefix``) unless it exists;
3. build and push the image with ``gcloud builds submit``, tagged by a hash of the
   build context, unless an image with that tag is already there;
4. ``terraform init`` in this deployment's own copy of the module;
5. ``terraform apply`` with the variables, then save ``terraform output -json``.

Every step is a no-op when its work is done, so a second deploy of the same
sources with the same flags builds nothing and Terraform reports no changes.

Each deployment (project, region, name prefix) has a folder of its own under
``~/.cache/framerun/deploy`` (``FRAMERUN_DEPLOY_DIR``): a copy of ``terraform/``
and ``workflows/render.yaml`` with the Terraform state next to it, ``deploy.json``
(what deploy made and with which variables, which ``destroy`` needs) and
``outputs.json`` (for ``--outputs-file``). A shared checkout's ``terraform/``
would hold one state for every project; a folder per deployment cannot mix them
up, and works from a read-only install.

Destroy removes what deploy made, in reverse, but keeps the render bucket (and
the videos in it) unless asked: it takes the bucket out of Terraform's state
before ``terraform destroy``, and the next deploy adopts it again with
``terraform import``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framerun.deploy_source import DeploySource, content_tag
from framerun.deploy_tools import ToolRunner
from framerun.target import OUTPUT_BUCKET, OUTPUT_REGION, OUTPUT_SERVICE_URL, OUTPUT_WORKFLOW
from framerun_service.core.errors import (
    DeployStepFailedError,
    InvalidConfigError,
    TargetNotConfiguredError,
)

ENV_DEPLOY_DIR = "FRAMERUN_DEPLOY_DIR"
RECORD_FILE = "deploy.json"
OUTPUTS_FILE = "outputs.json"
BUILD_APIS = ("artifactregistry.googleapis.com", "cloudbuild.googleapis.com")
IMAGE_NAME = "framerun"
BUCKET_RESOURCE = "google_storage_bucket.renders"  # terraform/storage.tf
OUTPUT_NAMES = (OUTPUT_BUCKET, OUTPUT_SERVICE_URL, OUTPUT_WORKFLOW, OUTPUT_REGION)
# Terraform prints less "what to do next" advice when it knows a program runs it.
TERRAFORM_ENV = {"TF_IN_AUTOMATION": "1"}
# Variables deploy sets itself; --var may not set them a second way.
OWN_VARIABLES = frozenset({"project_id", "region", "name_prefix", "image", "caller_members"})

Echo = Callable[[str], None]


def default_state_root() -> Path:
    """Where deployments' folders live: ``FRAMERUN_DEPLOY_DIR``, else the user's cache."""
    return Path(os.environ.get(ENV_DEPLOY_DIR) or Path.home() / ".cache" / "framerun" / "deploy")


def deployment_dir(state_root: Path, project: str, region: str, name_prefix: str) -> Path:
    """The folder of one deployment: state, record and outputs."""
    return state_root / f"{project}.{region}.{name_prefix}"


@dataclass(frozen=True)
class DeploySettings:
    """What one deploy is asked to do; the same settings give the same deployment."""

    project: str
    region: str
    name_prefix: str = "framerun"
    callers: tuple[str, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # extra terraform -var NAME=VALUE, in order
    state_root: Path = field(default_factory=default_state_root)

    @property
    def repository(self) -> str:
        """The Artifact Registry repository: one per name prefix, so two deployments in
        one project and region never delete each other's images."""
        return self.name_prefix

    def image(self, tag: str) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}/{IMAGE_NAME}:{tag}"

    @property
    def directory(self) -> Path:
        return deployment_dir(self.state_root, self.project, self.region, self.name_prefix)


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


@dataclass(frozen=True)
class DestroyResult:
    """A finished destroy: the bucket left behind (None if it was deleted too)."""

    kept_bucket: str | None
    deleted_repository: str | None


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


# ---- deploy ---------------------------------------------------------------------------


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
    steps = _Steps(5, echo)
    folder = settings.directory
    record = _load_record(folder) or {}
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
    _save_record(folder, record)  # now, so that destroy deletes it even if a later step fails

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
    _save_record(folder, record)

    steps.next("terraform apply")
    kept = record.get("kept_bucket")
    if kept:
        _adopt_bucket(kept, settings.project, variables, terraform, terraform_dir, runner, echo)
        record["kept_bucket"] = None
        _save_record(folder, record)
    runner.step(
        "terraform apply",
        [terraform, "apply", "-auto-approve", "-input=false", *_var_flags(variables)],
        cwd=terraform_dir,
        extra_env=TERRAFORM_ENV,
    )
    outputs = _read_outputs(terraform, terraform_dir, runner)
    outputs_file = folder / OUTPUTS_FILE
    _write_atomically(outputs_file, json.dumps(outputs, indent=2, sort_keys=True) + "\n")
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
            terraform, "import", "-input=false", *_var_flags(variables),
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
    _write_atomically(dest, data)


# ---- destroy --------------------------------------------------------------------------


def load_deployment(settings: DeploySettings) -> dict[str, Any]:
    """The record of what deploy made for these settings, or a typed error saying none is."""
    record = _load_record(settings.directory) or {}
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
    """Tear down what :func:`deploy` made; keep the bucket unless ``delete_bucket``.

    A deploy that stopped before Terraform made only the image repository, so only
    that is deleted.
    """
    folder = settings.directory
    record = load_deployment(settings)
    repository = record.get("repository") if record.get("created_repository") else None
    with_state = _has_terraform_state(record)
    steps = _Steps((3 if with_state else 0) + (1 if repository else 0), echo)
    kept: str | None = None
    if with_state:
        kept = _destroy_terraform(
            record, folder, delete_bucket=delete_bucket, terraform=terraform, runner=runner,
            steps=steps,
        )  # fmt: skip
        record.update(destroyed=True, kept_bucket=kept)
        _save_record(folder, record)
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
        _save_record(folder, record)
    return DestroyResult(kept_bucket=kept, deleted_repository=repository)


def _destroy_terraform(
    record: Mapping[str, Any],
    folder: Path,
    *,
    delete_bucket: bool,
    terraform: str,
    runner: ToolRunner,
    steps: _Steps,
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
            [terraform, "apply", "-auto-approve", "-input=false", *_var_flags(variables)],
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
        [terraform, "destroy", "-auto-approve", "-input=false", *_var_flags(variables)],
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


# ---- shared ---------------------------------------------------------------------------


class _Steps:
    """Numbered step headers: ``[2/5] image repository …``."""

    def __init__(self, total: int, echo: Echo) -> None:
        self.total, self.done, self.echo = total, 0, echo

    def next(self, what: str) -> None:
        self.done += 1
        self.echo(f"[{self.done}/{self.total}] {what} …")


def _var_flags(variables: Mapping[str, str]) -> list[str]:
    return [arg for name, value in variables.items() for arg in ("-var", f"{name}={value}")]


def _load_record(folder: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TargetNotConfiguredError(
            f"cannot read {folder / RECORD_FILE} ({exc}); restore it, or remove {folder} "
            "if that deployment no longer exists"
        ) from None
    return loaded if isinstance(loaded, dict) else None


def _save_record(folder: Path, record: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomically(folder / RECORD_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _write_atomically(path: Path, data: str | bytes) -> None:
    """Write to a temp file beside ``path`` and rename it: no half-written file."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def gcloud_account_member(gcloud: str, runner: ToolRunner) -> str | None:
    """The IAM member of gcloud's logged-in account (``user:…`` or ``serviceAccount:…``)."""
    done = runner.capture([gcloud, "config", "get-value", "account"])
    account = done.stdout.strip() if done.ok else ""
    if not account or account == "(unset)":
        return None
    kind = "serviceAccount" if account.endswith(".gserviceaccount.com") else "user"
    return f"{kind}:{account}"


__all__ = [
    "DeployResult",
    "DeploySettings",
    "DestroyResult",
    "default_state_root",
    "deploy",
    "deployment_dir",
    "destroy",
    "gcloud_account_member",
    "load_deployment",
    "parse_variables",
]
