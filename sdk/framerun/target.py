"""Where distributed renders run: one bucket, one workflow, one Cloud Run service.

A :class:`CloudRunTarget` is read once — from ``FRAMERUN_*`` variables, from
``terraform output -json`` of the deployment, or from a file of the same shape
(``framerun local up`` writes one for the local stack) — and then passed around
whole, so no function needs five connection arguments.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framerun import local_state
from framerun_service.core.errors import TargetNotConfiguredError

ENV_BUCKET = "FRAMERUN_BUCKET"
ENV_PROJECT = "FRAMERUN_PROJECT"
ENV_REGION = "FRAMERUN_REGION"
ENV_WORKFLOW = "FRAMERUN_WORKFLOW"
ENV_SERVICE_URL = "FRAMERUN_SERVICE_URL"
# Set only for the local stack: host:port of the Workflows emulator's gRPC server.
ENV_EXECUTIONS_ENDPOINT = "FRAMERUN_EXECUTIONS_ENDPOINT"

# Terraform output names (infra/ declares them; the local stack writes the same).
OUTPUT_BUCKET = "render_bucket_name"
OUTPUT_SERVICE_URL = "service_url"
OUTPUT_WORKFLOW = "workflow_name"
OUTPUT_REGION = "region"
OUTPUT_EXECUTIONS_ENDPOINT = "executions_endpoint"
OUTPUT_STORAGE_EMULATOR_HOST = "storage_emulator_host"  # local stack only

TERRAFORM_TIMEOUT_S = 120.0

_WORKFLOW_RESOURCE = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/workflows/(?P<workflow>[^/]+)$"
)


@dataclass(frozen=True)
class CloudRunTarget:
    """A deployed framerun: the render bucket, the workflow that runs renders, the service.

    ``service_url`` is the render service the workflow calls (the workflow reads
    its own copy from its environment; the SDK keeps it to show and check).
    ``executions_endpoint`` is None for Google's Executions API, or the
    ``host:port`` of the local Workflows emulator; ``storage_emulator_host`` is
    None for Cloud Storage (or ``STORAGE_EMULATOR_HOST``), or the local stack's
    fake-gcs-server URL.
    """

    bucket_name: str
    project_id: str
    location: str
    workflow_id: str
    service_url: str
    executions_endpoint: str | None = None
    storage_emulator_host: str | None = None

    @property
    def workflow_path(self) -> str:
        """The workflow's resource name, the parent of its executions."""
        return f"projects/{self.project_id}/locations/{self.location}/workflows/{self.workflow_id}"

    # -- sources -----------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CloudRunTarget:
        """Read ``FRAMERUN_BUCKET``, ``_PROJECT``, ``_REGION``, ``_WORKFLOW``, ``_SERVICE_URL``.

        ``FRAMERUN_WORKFLOW`` may also be the full resource name
        ``projects/P/locations/L/workflows/W``; project and region then come from it.
        """
        env = os.environ if environ is None else environ
        return _build(
            bucket=env.get(ENV_BUCKET),
            workflow=env.get(ENV_WORKFLOW),
            region=env.get(ENV_REGION),
            project=env.get(ENV_PROJECT),
            service_url=env.get(ENV_SERVICE_URL),
            executions_endpoint=env.get(ENV_EXECUTIONS_ENDPOINT),
            source="the environment",
        )

    @classmethod
    def from_terraform(
        cls, directory: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> CloudRunTarget:
        """Run ``terraform output -json`` in ``directory`` and read the deployment's outputs.

        Outputs used: ``render_bucket_name``, ``service_url``, ``workflow_name``,
        ``region`` (and ``executions_endpoint`` when present). The project comes
        from ``workflow_name`` when it is a full resource name, else from
        ``FRAMERUN_PROJECT``.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise TargetNotConfiguredError(
                f"--from-terraform {folder} is not a folder: pass the folder you ran "
                "`terraform apply` in"
            )
        terraform = shutil.which("terraform")
        if terraform is None:
            raise TargetNotConfiguredError(
                "terraform is not on PATH: install it, or pass --outputs-file FILE (the JSON "
                "`terraform output -json` prints) or the FRAMERUN_* variables"
            )
        try:
            done = subprocess.run(
                [terraform, "output", "-json"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=TERRAFORM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TargetNotConfiguredError(
                f"`terraform output -json` in {folder} took over {TERRAFORM_TIMEOUT_S:.0f}s "
                "(a state lock?); save its output once and pass --outputs-file"
            ) from None
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise TargetNotConfiguredError(
                f"`terraform output -json` failed in {folder} ({why}); run `terraform init` "
                "and `terraform apply` there first"
            )
        outputs = _parse_outputs(done.stdout, source=f"`terraform output -json` in {folder}")
        return cls.from_outputs(outputs, source=f"terraform outputs in {folder}", environ=environ)

    @classmethod
    def local(cls, state_dir: str | os.PathLike[str] | None = None) -> CloudRunTarget:
        """The running local stack (``framerun local up``), storage emulator included.

        Reads what the stack wrote in ``state_dir`` (default ``FRAMERUN_LOCAL_DIR``,
        else ``~/.cache/framerun/local``) and checks its processes still run, so
        a stale file from a stopped stack is not taken for a running one. The
        target carries the fake-gcs-server URL: nobody sets
        ``STORAGE_EMULATOR_HOST`` by hand.
        """
        folder = Path(state_dir) if state_dir is not None else local_state.default_state_dir()
        outputs = local_state.running_outputs(folder)
        if outputs is None:
            raise TargetNotConfiguredError(
                f"the local stack is not running (nothing live in {folder}): start it with "
                "`framerun local up`" + ("" if state_dir is None else f" --state-dir {folder}")
            )
        return cls.from_outputs(outputs, source=f"the local stack in {folder}", environ={})

    @classmethod
    def from_outputs_file(
        cls, path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> CloudRunTarget:
        """Read a file shaped like ``terraform output -json``: ``{"name": {"value": …}}``."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise TargetNotConfiguredError(
                f"cannot read outputs file {file} ({exc.strerror}); start the local stack "
                "(`framerun local up`) or save `terraform output -json` there"
            ) from None
        outputs = _parse_outputs(text, source=f"outputs file {file}")
        return cls.from_outputs(outputs, source=f"outputs file {file}", environ=environ)

    @classmethod
    def from_outputs(
        cls,
        outputs: Mapping[str, Any],
        *,
        source: str = "terraform outputs",
        environ: Mapping[str, str] | None = None,
    ) -> CloudRunTarget:
        """The target named by terraform outputs (``{"name": {"value": …}}`` or plain values)."""
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            raw = outputs.get(name)
            if isinstance(raw, Mapping):
                raw = raw.get("value")
            if raw is None:
                return None
            if not isinstance(raw, str):
                raise TargetNotConfiguredError(
                    f"output {name!r} in {source} must be a string, got {type(raw).__name__}"
                )
            return raw

        return _build(
            bucket=value(OUTPUT_BUCKET),
            workflow=value(OUTPUT_WORKFLOW),
            region=value(OUTPUT_REGION) or env.get(ENV_REGION),
            project=env.get(ENV_PROJECT),
            service_url=value(OUTPUT_SERVICE_URL),
            executions_endpoint=value(OUTPUT_EXECUTIONS_ENDPOINT)
            or env.get(ENV_EXECUTIONS_ENDPOINT),
            storage_emulator_host=value(OUTPUT_STORAGE_EMULATOR_HOST),
            source=source,
        )

    @classmethod
    def from_values(
        cls,
        *,
        bucket_name: str | None,
        project_id: str | None,
        location: str | None,
        workflow_id: str | None,
        service_url: str | None,
        executions_endpoint: str | None = None,
        source: str = "the arguments",
    ) -> CloudRunTarget:
        """A target from loose values, with one error naming every missing one and its source.

        ``workflow_id`` may be a full resource name; project and location then come from it.
        """
        return _build(
            bucket=bucket_name,
            workflow=workflow_id,
            region=location,
            project=project_id,
            service_url=service_url,
            executions_endpoint=executions_endpoint,
            source=source,
        )

    # -- wire ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "bucketName": self.bucket_name,
            "projectId": self.project_id,
            "location": self.location,
            "workflowId": self.workflow_id,
            "serviceUrl": self.service_url,
            "executionsEndpoint": self.executions_endpoint,
            "storageEmulatorHost": self.storage_emulator_host,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CloudRunTarget:
        return _build(
            bucket=data.get("bucketName"),
            workflow=data.get("workflowId"),
            region=data.get("location"),
            project=data.get("projectId"),
            service_url=data.get("serviceUrl"),
            executions_endpoint=data.get("executionsEndpoint"),
            storage_emulator_host=data.get("storageEmulatorHost"),
            source="the target JSON",
        )


def _parse_outputs(text: str, *, source: str) -> Mapping[str, Any]:
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TargetNotConfiguredError(f"{source} is not JSON ({exc})") from None
    if not isinstance(outputs, dict):
        raise TargetNotConfiguredError(f"{source} must be a JSON object of outputs")
    return outputs


# What to tell a user for each missing value: where it comes from, everywhere.
_HOW_TO_SET = {
    "bucket_name": f"--bucket, {ENV_BUCKET} or the terraform output {OUTPUT_BUCKET!r}",
    "project_id": (
        f"--project or {ENV_PROJECT} (or a full workflow name projects/P/locations/L/workflows/W)"
    ),
    "location": f"--region, {ENV_REGION} or the terraform output {OUTPUT_REGION!r}",
    "workflow_id": f"--workflow, {ENV_WORKFLOW} or the terraform output {OUTPUT_WORKFLOW!r}",
    "service_url": (
        f"--service-url, {ENV_SERVICE_URL} or the terraform output {OUTPUT_SERVICE_URL!r}"
    ),
}


def _build(
    *,
    bucket: str | None,
    workflow: str | None,
    region: str | None,
    project: str | None,
    service_url: str | None,
    executions_endpoint: str | None,
    source: str,
    storage_emulator_host: str | None = None,
) -> CloudRunTarget:
    workflow_id = workflow or None
    if workflow_id is not None and (match := _WORKFLOW_RESOURCE.match(workflow_id)):
        # A full resource name pins project and region; they win over loose values.
        project, region, workflow_id = match["project"], match["location"], match["workflow"]
    elif workflow_id is not None and "/" in workflow_id:
        raise TargetNotConfiguredError(
            f"workflow {workflow_id!r} from {source} is neither an id nor a resource name "
            "projects/P/locations/L/workflows/W"
        )
    values = {
        "bucket_name": bucket or None,
        "project_id": project or None,
        "location": region or None,
        "workflow_id": workflow_id,
        "service_url": service_url or None,
    }
    missing = [name for name, value in values.items() if value is None]
    if missing:
        how = "; ".join(f"{name}: set {_HOW_TO_SET[name]}" for name in missing)
        raise TargetNotConfiguredError(f"missing {', '.join(missing)} in {source}: {how}")
    return CloudRunTarget(
        bucket_name=str(values["bucket_name"]),
        project_id=str(values["project_id"]),
        location=str(values["location"]),
        workflow_id=str(values["workflow_id"]),
        service_url=str(values["service_url"]),
        executions_endpoint=executions_endpoint or None,
        storage_emulator_host=storage_emulator_host or None,
    )
