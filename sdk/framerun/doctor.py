"""``framerun cloudrun doctor``: may this identity start and follow renders (or deploy)?

It asks Google, with the caller's own Application Default Credentials, which of
the permissions framerun needs the caller holds, through each API's
``testIamPermissions``:

=========  ===================================================================  ========
resource   REST method                                                          API
=========  ===================================================================  ========
project    ``POST /v1/projects/{project}:testIamPermissions``                   Resource Manager
bucket     ``GET /storage/v1/b/{bucket}/iam/testPermissions?permissions=…``     Cloud Storage
service    ``POST /v2/projects/{p}/locations/{r}/services/{s}:testIamPermissions``  Cloud Run
workflow   none: the Workflows API has no IAM methods on a workflow, and
           ``roles/workflows.invoker`` is granted on the project, so the
           workflow's permissions are tested on the project
=========  ===================================================================  ========

Every missing permission is listed with the predefined role that grants it. The
base URL of each API can be overridden (``FRAMERUN_RESOURCEMANAGER_URL``,
``FRAMERUN_STORAGE_API_URL``, ``FRAMERUN_RUN_API_URL``), which is how the tests
point it at a local HTTP server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framerun_service.core.errors import PermissionCheckFailedError

if TYPE_CHECKING:
    from google.auth.transport.requests import AuthorizedSession

ENV_RESOURCEMANAGER_URL = "FRAMERUN_RESOURCEMANAGER_URL"
ENV_STORAGE_API_URL = "FRAMERUN_STORAGE_API_URL"
ENV_RUN_API_URL = "FRAMERUN_RUN_API_URL"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Requirement:
    """One permission framerun needs, the predefined role that grants it, and why."""

    permission: str
    role: str
    why: str


def _needs(role: str, why: str, *permissions: str) -> tuple[Requirement, ...]:
    return tuple(Requirement(p, role, why) for p in permissions)


# The caller (caller_members in terraform/iam.tf): start, follow and cancel renders.
CALLER_WORKFLOW = _needs(
    "roles/workflows.invoker",
    "start, follow and cancel renders",
    "workflows.executions.create",
    "workflows.executions.get",
    "workflows.executions.cancel",
)
CALLER_BUCKET = _needs(
    "roles/storage.objectUser",
    "upload sites and requests, read progress and videos, delete renders",
    "storage.objects.create",
    "storage.objects.get",
    "storage.objects.list",
    "storage.objects.delete",
)
# The deployer (docs/deploy-gcp.md, Prerequisites): create and destroy the deployment.
DEPLOYER_PROJECT = (
    *_needs("roles/serviceusage.serviceUsageAdmin", "enable the APIs",
            "serviceusage.services.enable"),
    *_needs("roles/artifactregistry.admin", "create and delete the image repository",
            "artifactregistry.repositories.create", "artifactregistry.repositories.delete"),
    *_needs("roles/cloudbuild.builds.editor", "gcloud builds submit", "cloudbuild.builds.create"),
    *_needs("roles/storage.admin", "create the render bucket",
            "storage.buckets.create"),
    *_needs("roles/run.admin", "create the Cloud Run service", "run.services.create"),
    *_needs("roles/workflows.admin", "create and delete the workflow",
            "workflows.workflows.create", "workflows.workflows.delete"),
    *_needs("roles/iam.serviceAccountAdmin", "create the renderer and invoker accounts",
            "iam.serviceAccounts.create", "iam.serviceAccounts.delete"),
    *_needs("roles/iam.serviceAccountUser", "run the service and the workflow as them",
            "iam.serviceAccounts.actAs"),
    *_needs("roles/resourcemanager.projectIamAdmin", "project-level role bindings",
            "resourcemanager.projects.setIamPolicy"),
    *_needs("roles/monitoring.alertPolicyEditor", "the runaway-request alert",
            "monitoring.alertPolicies.create", "monitoring.alertPolicies.delete"),
)  # fmt: skip
DEPLOYER_BUCKET = _needs(
    "roles/storage.admin",
    "update, bind and delete the render bucket",
    "storage.buckets.update",
    "storage.buckets.setIamPolicy",
    "storage.buckets.delete",
)
DEPLOYER_SERVICE = _needs(
    "roles/run.admin",
    "update, bind and delete the render service",
    "run.services.update",
    "run.services.setIamPolicy",
    "run.services.delete",
)

WORKFLOW_NOTE = (
    "tested on the project: Workflows has no testIamPermissions, and "
    "roles/workflows.invoker is granted on the project"
)


@dataclass(frozen=True)
class IamEndpoints:
    """Base URLs of the three APIs asked; each can be moved (a test's local server)."""

    resource_manager: str = "https://cloudresourcemanager.googleapis.com"
    storage: str = "https://storage.googleapis.com"
    run: str = "https://run.googleapis.com"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IamEndpoints:
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            resource_manager=(env.get(ENV_RESOURCEMANAGER_URL) or default.resource_manager),
            storage=(env.get(ENV_STORAGE_API_URL) or default.storage),
            run=(env.get(ENV_RUN_API_URL) or default.run),
        )


@dataclass(frozen=True)
class ResourceCheck:
    """What was tested on one resource, and which of it the identity lacks."""

    kind: str  # project | bucket | service | workflow
    name: str
    tested: tuple[Requirement, ...]
    missing: tuple[Requirement, ...]
    note: str | None = None


@dataclass(frozen=True)
class PermissionReport:
    """Every resource tested; ``ok`` when nothing is missing."""

    identity: str
    checks: tuple[ResourceCheck, ...] = field(default_factory=tuple)

    @property
    def missing(self) -> list[tuple[ResourceCheck, Requirement]]:
        return [(check, need) for check in self.checks for need in check.missing]

    @property
    def ok(self) -> bool:
        return not self.missing


_RUN_URL = re.compile(r"^https://(?P<name>[a-z][a-z0-9-]*)-\d+\.[a-z0-9-]+\.run\.app/?$")


def service_name_from_url(service_url: str, fallback: str) -> str:
    """The Cloud Run service's name from its deterministic URL
    (``https://NAME-PROJECT_NUMBER.REGION.run.app``, terraform/run.tf), else ``fallback``
    (the module names the service and the workflow alike: ``<name_prefix>-render``)."""
    matched = _RUN_URL.match(service_url)
    return matched.group("name") if matched else fallback


def check_permissions(
    *,
    project: str,
    bucket: str | None = None,
    service: str | None = None,
    workflow: str | None = None,
    deployer: bool = False,
    session: AuthorizedSession | None = None,
    endpoints: IamEndpoints | None = None,
) -> PermissionReport:
    """Test the caller's permissions on each resource named (``service`` and ``workflow``
    are full resource names). ``deployer`` adds what creating and destroying needs."""
    endpoints = endpoints or IamEndpoints.from_env()
    session = session or authorized_session()
    # Before a deploy there is no bucket to test; the caller's object role comes with it.
    project_needs: list[Requirement] = list(CALLER_WORKFLOW)
    if deployer:
        project_needs += DEPLOYER_PROJECT
    checks = [_project(session, endpoints, project, tuple(project_needs))]
    if workflow is not None:
        checks.append(ResourceCheck("workflow", workflow, (), (), note=WORKFLOW_NOTE))
    if bucket is not None:
        needs = CALLER_BUCKET + (DEPLOYER_BUCKET if deployer else ())
        checks.append(_bucket(session, endpoints, bucket, needs))
    if service is not None and deployer:
        checks.append(_service(session, endpoints, service, DEPLOYER_SERVICE))
    elif service is not None:
        checks.append(
            ResourceCheck(
                "service",
                service,
                (),
                (),
                note="callers need nothing on it, only the workflow calls it; "
                "--deploy tests what a deployer needs",
            )
        )
    return PermissionReport(identity=_identity(session), checks=tuple(checks))


def authorized_session() -> AuthorizedSession:
    """An HTTP session that signs with Application Default Credentials."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError
    from google.auth.transport.requests import AuthorizedSession

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError as exc:
        raise PermissionCheckFailedError(
            f"no Application Default Credentials ({exc}); run "
            "`gcloud auth application-default login`"
        ) from None
    return AuthorizedSession(credentials)


def _project(
    session: AuthorizedSession, endpoints: IamEndpoints, project: str, needs: Sequence[Requirement]
) -> ResourceCheck:
    url = f"{endpoints.resource_manager}/v1/projects/{project}:testIamPermissions"
    status, body = _call(session, "POST", url, json={"permissions": _names(needs)})
    return _judged("project", project, needs, status, body, url)


def _bucket(
    session: AuthorizedSession, endpoints: IamEndpoints, bucket: str, needs: Sequence[Requirement]
) -> ResourceCheck:
    url = f"{endpoints.storage}/storage/v1/b/{bucket}/iam/testPermissions"
    status, body = _call(session, "GET", url, params={"permissions": _names(needs)})
    return _judged("bucket", f"gs://{bucket}", needs, status, body, url)


def _service(
    session: AuthorizedSession, endpoints: IamEndpoints, service: str, needs: Sequence[Requirement]
) -> ResourceCheck:
    url = f"{endpoints.run}/v2/{service}:testIamPermissions"
    status, body = _call(session, "POST", url, json={"permissions": _names(needs)})
    return _judged("service", service, needs, status, body, url)


def _judged(
    kind: str,
    name: str,
    needs: Sequence[Requirement],
    status: int,
    body: Any,
    url: str,
) -> ResourceCheck:
    if status in (403, 404):
        # Resource Manager answers 403 for a project that does not exist, too.
        why = "not found" if status == 404 else "no access at all, or it does not exist"
        return ResourceCheck(
            kind, name, tuple(needs), tuple(needs),
            note=f"{why}: deploy first, or check the project and outputs you passed",
        )  # fmt: skip
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        said = f": {error['message']}" if isinstance(error, dict) and "message" in error else ""
        raise PermissionCheckFailedError(
            f"testIamPermissions on {kind} {name} answered HTTP {status}{said} ({url}); "
            "try again, or check the API is enabled in the project"
        )
    granted = set(body.get("permissions") or [])
    missing = tuple(need for need in needs if need.permission not in granted)
    return ResourceCheck(kind, name, tuple(needs), missing)


def _call(session: AuthorizedSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    from google.auth.exceptions import GoogleAuthError
    from requests import RequestException

    try:
        response = session.request(method, url, timeout=REQUEST_TIMEOUT_S, **kwargs)
    except GoogleAuthError as exc:
        raise PermissionCheckFailedError(
            f"could not get a token for testIamPermissions ({exc}); run "
            "`gcloud auth application-default login`"
        ) from None
    except RequestException as exc:
        raise PermissionCheckFailedError(
            f"could not reach {url} ({type(exc).__name__}); check the network and try again"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def _names(needs: Sequence[Requirement]) -> list[str]:
    return sorted({need.permission for need in needs})


def _identity(session: AuthorizedSession) -> str:
    credentials = session.credentials
    for attribute in ("service_account_email", "account"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and value and value != "default":
            return value
    return "your Application Default Credentials"
