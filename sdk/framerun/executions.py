"""The Workflows Executions API: the one client, and the seam tests replace it through.

Every render starts as an execution of the render workflow and is watched by
reading that execution. The SDK always talks through Google's own
``ExecutionsClient``: against Google, or — when the target names an
``executions_endpoint`` — against the local Workflows emulator, which serves the
same gRPC API. One client code path, so what passes locally passes in the cloud.

:class:`ExecutionsApi` is the subset of the client the SDK calls; tests inject
an in-memory fake through it. ``google-cloud-workflows`` and ``grpcio`` (the
``local`` extra) load only when a real client is built.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from framerun.target import ENV_EXECUTIONS_ENDPOINT, CloudRunTarget
from framerun_service.core.errors import (
    ExecutionNotFoundError,
    FramerunError,
    InternalError,
    InvalidInputError,
    InvalidRequestError,
    WorkflowNotFoundError,
    WorkflowsAccessDeniedError,
    WorkflowsUnavailableError,
)
from framerun_service.core.wire import ExecutionArgument

if TYPE_CHECKING:
    from google.cloud.workflows.executions_v1 import Execution

# The Executions API caps an execution's argument at 32 KB; the render workflow's
# argument holds references only, far below it.
MAX_ARGUMENT_BYTES = 32 * 1024

_INSTALL_HINT = "pip install 'framerun[cloud]' (google-cloud-workflows and grpcio)"


class ExecutionsApi(Protocol):
    """What the SDK calls on ``google.cloud.workflows.executions_v1.ExecutionsClient``.

    Keyword-only, as the SDK calls them, so the real client and a test fake both fit.
    """

    def create_execution(self, *, parent: str, execution: Execution) -> Execution: ...

    def get_execution(self, *, name: str) -> Execution: ...

    def cancel_execution(self, *, name: str) -> Execution: ...


def workflow_path(target: CloudRunTarget) -> str:
    """``projects/P/locations/L/workflows/W``: the parent of the workflow's executions."""
    return target.workflow_path


def executions_client(target: CloudRunTarget | None = None, *, endpoint: str | None = None) -> Any:
    """A real ``ExecutionsClient``: Google's API, or the local emulator's.

    With an executions endpoint (``endpoint``, else the target's, else
    ``FRAMERUN_EXECUTIONS_ENDPOINT``) the same client class talks plain gRPC to
    that ``host:port``; the emulator needs no credentials. Otherwise Google's
    API with Application Default Credentials. Close it (``with client:``) when done.
    """
    endpoint = endpoint or (target.executions_endpoint if target is not None else None)
    endpoint = endpoint or os.environ.get(ENV_EXECUTIONS_ENDPOINT) or None
    try:
        from google.cloud.workflows.executions_v1 import ExecutionsClient
        from google.cloud.workflows.executions_v1.services.executions.transports import (
            ExecutionsGrpcTransport,
        )
    except ImportError as exc:
        raise WorkflowsUnavailableError(
            f"the Workflows client library is not installed ({exc.name}): {_INSTALL_HINT}"
        ) from None
    if endpoint:
        import grpc

        channel = grpc.insecure_channel(endpoint)
        return ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel))
    from google.auth import exceptions as auth_exceptions

    try:
        return ExecutionsClient()
    except auth_exceptions.DefaultCredentialsError as exc:
        raise WorkflowsAccessDeniedError(
            "no Google credentials to call the Workflows Executions API: run "
            "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
            f"({exc})"
        ) from None


def new_execution(argument: str) -> Execution:
    """An ``Execution`` message carrying ``argument`` (JSON text), ready to create."""
    try:
        from google.cloud.workflows.executions_v1 import Execution
    except ImportError as exc:
        raise WorkflowsUnavailableError(
            f"the Workflows client library is not installed ({exc.name}): {_INSTALL_HINT}"
        ) from None
    return Execution(argument=argument)


def close_client(client: Any) -> None:
    """Close a client this SDK built (its gRPC channel); fakes without ``transport`` pass."""
    transport = getattr(client, "transport", None)
    close = getattr(transport, "close", None)
    if callable(close):
        close()


@contextlib.contextmanager
def owned_executions(
    executions: ExecutionsApi | None, target: CloudRunTarget | None
) -> Iterator[ExecutionsApi]:
    """The caller's client as is, or one built for ``target`` and closed afterwards."""
    if executions is not None:
        yield executions
        return
    client = executions_client(target)
    try:
        yield client
    finally:
        close_client(client)


@contextlib.contextmanager
def translated(action: str, name: str) -> Iterator[None]:
    """Turn google.api_core errors from one Executions call into framerun errors.

    ``action`` is "start an execution of" or "read execution"; ``name`` the
    workflow or execution resource name, so each message names what to fix.
    """
    try:
        yield
    except FramerunError:
        raise
    except Exception as exc:
        mapped = _translate(exc, action, name)
        if mapped is None:
            raise
        raise mapped from exc


def _translate(exc: Exception, action: str, name: str) -> FramerunError | None:
    try:
        from google.api_core import exceptions as api
    except ImportError:  # pragma: no cover - google-api-core comes with the client
        return None
    if isinstance(exc, api.NotFound):
        if action.startswith("start"):
            return WorkflowNotFoundError(
                f"workflow {name} does not exist: deploy it (`terraform apply`) or fix "
                "--project/--region/--workflow"
            )
        return ExecutionNotFoundError(
            f"execution {name} does not exist: check the name (it is printed by "
            "`framerun cloudrun render`) and the project"
        )
    if isinstance(exc, api.Unauthenticated | api.PermissionDenied):
        return WorkflowsAccessDeniedError(
            f"not allowed to {action} {name} ({exc.message}): grant your account "
            "roles/workflows.invoker (to start) or roles/workflows.viewer (to watch)"
        )
    if isinstance(exc, api.InvalidArgument):
        return InvalidRequestError(f"the Executions API refused to {action} {name}: {exc.message}")
    if isinstance(exc, api.FailedPrecondition):  # e.g. cancelling an execution that ended
        return InvalidInputError(
            f"cannot {action} {name} ({exc.message}); `framerun cloudrun progress` shows its state"
        )
    if isinstance(
        exc,
        api.ServiceUnavailable
        | api.DeadlineExceeded
        | api.TooManyRequests
        | api.InternalServerError
        | api.ResourceExhausted
        | api.RetryError,
    ):
        return WorkflowsUnavailableError(
            f"the Executions API could not {action} {name} ({type(exc).__name__}: {exc}); "
            "try again later"
        )
    if isinstance(exc, api.GoogleAPICallError):
        return InternalError(f"the Executions API could not {action} {name}: {exc}")
    return None


# ---- an execution, as a render ------------------------------------------------------

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

_STATUS = {
    "STATE_UNSPECIFIED": RUNNING,
    "QUEUED": RUNNING,
    "ACTIVE": RUNNING,
    "SUCCEEDED": SUCCEEDED,
    "FAILED": FAILED,
    "UNAVAILABLE": FAILED,  # the execution's data is gone: it will never report again
    "CANCELLED": CANCELLED,
}


def execution_status(execution: Execution) -> str:
    """running | succeeded | failed | cancelled, from the execution's state."""
    return _STATUS.get(execution.state.name, RUNNING)


def render_refs(execution: Execution) -> tuple[str, str]:
    """(render id, bucket) from the execution's argument ``{renderId, requestUri}``."""
    from framerun_service.core.storage import parse_gs_uri

    try:
        argument = ExecutionArgument.from_text(execution.argument)
        bucket, _ = parse_gs_uri(argument.request_uri)
    except FramerunError:
        raise InvalidInputError(
            f"execution {execution.name} is not a framerun render (its argument is not "
            "{renderId, requestUri}); pass an execution started by framerun"
        ) from None
    return argument.render_id, bucket
