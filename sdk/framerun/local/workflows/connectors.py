"""The Workflows executions connector: a workflow starts another and waits for it.

Two functions of ``googleapis.workflowexecutions.v1.projects.locations.workflows.executions``
(https://cloud.google.com/workflows/docs/reference/googleapis/workflowexecutions/Overview):

* ``run`` creates an execution of ``workflow_id`` (``location`` and ``project_id``
  default to the caller's) with ``argument`` (any value; the connector encodes it)
  and waits for it: its decoded result, or ``OperationError`` carrying the child
  execution as ``operation`` when it fails or is cancelled. The wait is capped by
  ``connector_params.timeout`` (default 1800 s, at most one year): ``TimeoutError``.
  An unknown workflow is ``HttpError`` 404 and an argument over the Executions API's
  32 KB is ``HttpError`` 400, as the API answers them.
* ``get`` returns an execution by ``name`` as the REST API shows it
  (``{name, state, argument, result, error, startTime, endTime, workflowRevisionId}``).

Cancelling the caller does not cancel the child (Google does not either): the child
is a separate execution, with its own steps, slots and limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import TAG_TYPE, TAG_VALUE, runtime_error
from .values import is_number, type_name

if TYPE_CHECKING:
    from .runtime import ExecutionContext

__all__ = ["CONNECTOR_ARGS", "EXECUTIONS_GET", "EXECUTIONS_RUN", "call_connector"]

_MODULE = "googleapis.workflowexecutions.v1.projects.locations.workflows.executions"
EXECUTIONS_RUN = f"{_MODULE}.run"
EXECUTIONS_GET = f"{_MODULE}.get"
# Function → (allowed arguments, required arguments).
CONNECTOR_ARGS: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    EXECUTIONS_RUN: (
        frozenset({"workflow_id", "argument", "location", "project_id", "connector_params"}),
        ("workflow_id",),
    ),
    EXECUTIONS_GET: (frozenset({"name", "view", "connector_params"}), ("name",)),
}
DEFAULT_TIMEOUT_S = 1800.0
MAX_TIMEOUT_S = 31_536_000.0  # one year
_CONNECTOR_PARAMS = {"timeout", "skip_polling", "polling_policy", "scopes"}


def call_connector(function: str, args: dict[str, Any], context: ExecutionContext) -> Any:
    """Run ``function`` (one of :data:`CONNECTOR_ARGS`) for the execution ``context``."""
    host = context.executions
    if host is None:
        raise runtime_error(
            TAG_VALUE, f"{function} needs an execution store (run the workflow in the emulator)"
        )
    timeout = _timeout(function, args.get("connector_params"))
    if function == EXECUTIONS_GET:
        return host.describe(_string(function, "name", args["name"]))
    env = context.environment
    workflow_id = _string(function, "workflow_id", args["workflow_id"])
    project = _string(
        function, "project_id", args.get("project_id", env["GOOGLE_CLOUD_PROJECT_ID"])
    )
    location = _string(function, "location", args.get("location", env["GOOGLE_CLOUD_LOCATION"]))
    workflow = f"projects/{project}/locations/{location}/workflows/{workflow_id}"
    return host.run_child(context, workflow, args.get("argument"), timeout)


def _string(function: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise runtime_error(
            TAG_TYPE, f"{function}: '{name}' must be a non-empty string, got {type_name(value)}"
        )
    return value


def _timeout(function: str, params: Any) -> float:
    if params is None:
        return DEFAULT_TIMEOUT_S
    if not isinstance(params, dict):
        raise runtime_error(TAG_TYPE, f"{function}: connector_params must be a map")
    unknown = sorted(set(params) - _CONNECTOR_PARAMS)
    if unknown:
        raise runtime_error(TAG_VALUE, f"{function}: connector_params has no '{unknown[0]}'")
    if params.get("skip_polling"):
        raise runtime_error(
            TAG_VALUE, f"{function}: skip_polling is not emulated (the render waits for children)"
        )
    timeout = params.get("timeout", DEFAULT_TIMEOUT_S)
    if not is_number(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise runtime_error(
            TAG_VALUE,
            f"{function}: connector_params.timeout must be in (0, {int(MAX_TIMEOUT_S)}] s, "
            f"got {timeout!r}",
        )
    return float(timeout)
