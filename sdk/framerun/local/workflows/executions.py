"""Deployed workflows and their executions: the Executions API's model, minus the wire.

:class:`ExecutionStore` does what the Executions service does (create, get,
cancel, list) and runs each execution on a background thread; the gRPC layer
(:mod:`.grpc_service`) only translates. Records render as the library's own
proto-plus :class:`Execution`, so emulator and cloud answers have one shape:
``argument``/``result``/``error.payload`` are JSON *strings*, ``state`` goes
ACTIVE → SUCCEEDED | FAILED | CANCELLED, and ``status.current_steps`` shows
where a running execution is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.cloud.workflows.executions_v1.types import executions as pb

from .errors import (
    TAG_HTTP,
    TAG_OPERATION,
    TAG_TIMEOUT,
    ExecutionCancelled,
    WorkflowError,
    runtime_error,
)
from .interpreter import Interpreter
from .loader import load_workflow
from .model import Workflow
from .runtime import ExecutionContext
from .tokens import TokenProvider, no_token_provider
from .values import to_json

__all__ = [
    "MAX_ARGUMENT_BYTES",
    "ApiError",
    "Deployment",
    "ExecutionRecord",
    "ExecutionStore",
    "FailedPreconditionError",
    "InvalidArgumentError",
    "NotFoundError",
    "UnimplementedError",
]

MAX_ARGUMENT_BYTES = 32 * 1024  # the Executions API's cap on `argument`
_WORKFLOW_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/workflows/([^/]+)$")

log = logging.getLogger("framerun.local.workflows")


class ApiError(Exception):
    """An Executions API error; the gRPC layer maps each subclass to a status code."""


class NotFoundError(ApiError, LookupError):
    pass


class InvalidArgumentError(ApiError, ValueError):
    pass


class FailedPreconditionError(ApiError):
    pass


class UnimplementedError(ApiError):
    pass


@dataclass(frozen=True)
class Deployment:
    """A deployed workflow: its source, loaded, and its user environment variables."""

    workflow_id: str
    workflow: Workflow
    env: Mapping[str, str]
    revision_id: str


@dataclass
class ExecutionRecord:
    """One execution; mutable state is guarded by ``lock`` (the runner thread writes it)."""

    name: str
    deployment: Deployment
    argument: str
    context: ExecutionContext
    labels: dict[str, str] = field(default_factory=dict)
    call_log_level: int = 0
    sequence: int = 0  # creation order, to list executions started in the same microsecond
    state: str = "ACTIVE"
    result: str | None = None
    error_payload: str | None = None
    error_context: str = ""
    error_trace: list[tuple[str, str]] = field(default_factory=list)
    start_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    end_time: datetime | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def execution_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    def finish(self, state: str, *, result: str | None = None, error: Any = None) -> bool:
        """Move to a terminal state; False if it already was in one (cancel won the race)."""
        with self.lock:
            if self.state != "ACTIVE":
                return False
            self.state = state
            self.result = result
            if error is not None:
                payload, context, trace = error
                self.error_payload, self.error_context, self.error_trace = payload, context, trace
            self.end_time = datetime.now(UTC)
        self.done.set()
        return True

    def to_proto(self, view: int = pb.ExecutionView.FULL) -> pb.Execution:
        with self.lock:
            execution = pb.Execution(
                name=self.name,
                state=getattr(pb.Execution.State, self.state),
                start_time=self.start_time,
                workflow_revision_id=self.deployment.revision_id,
            )
            if self.end_time is not None:
                execution.end_time = self.end_time
                execution.duration = self.end_time - self.start_time
            if view == pb.ExecutionView.BASIC:
                return execution
            execution.argument = self.argument
            execution.labels = dict(self.labels)
            execution.call_log_level = pb.Execution.CallLogLevel(self.call_log_level)
            if self.result is not None:
                execution.result = self.result
            if self.error_payload is not None:
                execution.error = pb.Execution.Error(
                    payload=self.error_payload,
                    context=self.error_context,
                    stack_trace=pb.Execution.StackTrace(
                        elements=[
                            pb.Execution.StackTraceElement(step=step, routine=routine)
                            for routine, step in reversed(self.error_trace)
                        ]
                    ),
                )
            if self.state == "ACTIVE":
                execution.status = pb.Execution.Status(
                    current_steps=[
                        pb.Execution.Status.Step(routine=routine, step=step)
                        for routine, step in self.context.current_steps
                    ]
                )
        return execution


class ExecutionStore:
    """Deployed workflows and every execution of them, runnable without any server.

    :param token_provider: mints ID tokens for ``auth: {type: OIDC}`` calls.
    :param service_account: reported as ``GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME``.
    :param sleep: injected into every execution (tests: record backoff delays).
    """

    def __init__(
        self,
        *,
        project: str,
        location: str,
        token_provider: TokenProvider = no_token_provider,
        service_account: str | None = None,
        sleep: Any = None,
    ) -> None:
        self.project = project
        self.location = location
        self.token_provider = token_provider
        self.service_account = service_account
        self.sleep = sleep
        self._deployments: dict[str, Deployment] = {}
        self._executions: dict[str, ExecutionRecord] = {}
        self._lock = threading.Lock()

    # -- workflows ----------------------------------------------------------------------

    def workflow_name(self, workflow_id: str) -> str:
        return f"projects/{self.project}/locations/{self.location}/workflows/{workflow_id}"

    def deploy(
        self, workflow_id: str, source: str, env: Mapping[str, str] | None = None
    ) -> Deployment:
        """Load and validate ``source`` (raises WorkflowDefinitionError) and (re)deploy it."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,127}", workflow_id):
            raise ValueError(f"invalid workflow id {workflow_id!r}: letters, digits, - and _")
        env = dict(env or {})
        for name in env:
            if name.startswith(("GOOGLE_", "WORKFLOWS_")):
                raise ValueError(
                    f"user environment variable {name!r}: names starting with GOOGLE_ or "
                    "WORKFLOWS_ are reserved by Cloud Workflows"
                )
        workflow = load_workflow(source)
        with self._lock:
            previous = self._deployments.get(workflow_id)
            number = int(previous.revision_id.split("-")[0]) + 1 if previous else 1
            digest = hashlib.sha256(source.encode()).hexdigest()[:3]
            deployment = Deployment(workflow_id, workflow, env, f"{number:06d}-{digest}")
            self._deployments[workflow_id] = deployment
        log.info("deployed workflow %s (revision %s)", workflow_id, deployment.revision_id)
        return deployment

    def _deployment(self, parent: str) -> Deployment:
        match = _WORKFLOW_RE.match(parent)
        if match is None:
            raise InvalidArgumentError(
                f"{parent!r} is not projects/PROJECT/locations/LOCATION/workflows/WORKFLOW"
            )
        project, location, workflow_id = match.groups()
        with self._lock:
            deployment = self._deployments.get(workflow_id)
            known = sorted(self._deployments)
        if deployment is None or (project, location) != (self.project, self.location):
            deployed = ", ".join(self.workflow_name(w) for w in known) or "none"
            raise NotFoundError(f"workflow {parent} is not deployed here (deployed: {deployed})")
        return deployment

    # -- executions ---------------------------------------------------------------------

    def create(
        self,
        parent: str,
        argument: str = "",
        *,
        labels: Mapping[str, str] | None = None,
        call_log_level: int = 0,
    ) -> ExecutionRecord:
        """Start an execution of ``parent`` on a background thread and return its record."""
        deployment = self._deployment(parent)
        if len(argument.encode("utf-8")) > MAX_ARGUMENT_BYTES:
            raise InvalidArgumentError(
                f"the argument is {len(argument.encode())} bytes; the Executions API allows "
                f"{MAX_ARGUMENT_BYTES} (32 KB): pass references (gs:// URIs), not data"
            )
        try:
            value = json.loads(argument) if argument.strip() else None
        except ValueError as exc:
            raise InvalidArgumentError(f"the argument is not valid JSON: {exc}") from None
        execution_id = str(uuid.uuid4())
        environment = {
            **deployment.env,
            "GOOGLE_CLOUD_PROJECT_ID": self.project,
            "GOOGLE_CLOUD_LOCATION": self.location,
            "GOOGLE_CLOUD_WORKFLOW_ID": deployment.workflow_id,
            "GOOGLE_CLOUD_WORKFLOW_REVISION_ID": deployment.revision_id,
            "GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID": execution_id,
        }
        if self.service_account:
            environment["GOOGLE_CLOUD_SERVICE_ACCOUNT_NAME"] = self.service_account
        context = ExecutionContext(
            environment=environment,
            token_provider=self.token_provider,
            sleep=self.sleep,
            executions=self,
        )
        record = ExecutionRecord(
            name=f"{parent}/executions/{execution_id}",
            deployment=deployment,
            argument=argument,
            context=context,
            labels=dict(labels or {}),
            call_log_level=call_log_level,
        )
        with self._lock:
            record.sequence = len(self._executions)
            self._executions[record.name] = record
        record.thread = threading.Thread(
            target=self._run, args=(record, value), name=f"execution-{execution_id}", daemon=True
        )
        record.thread.start()
        return record

    def get(self, name: str) -> ExecutionRecord:
        with self._lock:
            record = self._executions.get(name)
        if record is None:
            raise NotFoundError(f"execution {name} not found")
        return record

    def cancel(self, name: str) -> ExecutionRecord:
        """Mark CANCELLED now; the runner stops at its next step boundary or HTTP poll."""
        record = self.get(name)
        record.context.cancel()
        if not record.finish("CANCELLED"):
            raise FailedPreconditionError(f"execution {name} is already {record.state}")
        log.info("cancelled execution %s", name)
        return record

    def list_executions(self, parent: str) -> list[ExecutionRecord]:
        """Executions of ``parent``, newest first (as the Executions API lists them)."""
        self._deployment(parent)
        prefix = f"{parent}/executions/"
        with self._lock:
            records = [r for n, r in self._executions.items() if n.startswith(prefix)]
        return sorted(records, key=lambda r: (r.start_time, r.sequence), reverse=True)

    def wait(self, name: str, timeout: float | None = None) -> ExecutionRecord:
        """Block until the execution is no longer ACTIVE (tests, ``run``-style callers)."""
        record = self.get(name)
        if not record.done.wait(timeout):
            raise TimeoutError(f"execution {name} still {record.state} after {timeout} s")
        return record

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every active execution and give the runners ``timeout`` to unwind."""
        with self._lock:
            records = list(self._executions.values())
        for record in records:
            record.context.cancel()
            record.finish("CANCELLED")
        for record in records:
            if record.thread is not None:
                record.thread.join(timeout)

    # -- the executions connector (connectors.py) ----------------------------------------

    def run_child(
        self, parent: ExecutionContext, workflow: str, argument: Any, timeout: float
    ) -> Any:
        """Start an execution of ``workflow`` and wait for it, as the ``run`` connector does.

        The caller's cancel flag ends the wait (the child runs on, as on Google); the
        child's failure or cancellation is ``OperationError`` with the child as
        ``operation``; API refusals are the ``HttpError`` the connector would see.
        """
        text = "" if argument is None else to_json(argument)
        try:
            record = self.create(workflow, text)
        except NotFoundError as exc:
            raise runtime_error(TAG_HTTP, str(exc), code=404) from None
        except InvalidArgumentError as exc:
            raise runtime_error(TAG_HTTP, str(exc), code=400) from None
        deadline = parent.clock() + timeout
        while not record.done.wait(0.1):
            parent.check_cancelled()
            if parent.clock() > deadline:
                raise runtime_error(
                    TAG_TIMEOUT,
                    f"execution {record.name} did not finish within the connector's "
                    f"{timeout:g} s (connector_params.timeout)",
                )
        if record.state == "SUCCEEDED":
            return json.loads(record.result) if record.result else None
        raise runtime_error(
            TAG_OPERATION,
            f"Execution {record.name} finished {record.state}.",
            operation=self.describe(record.name),
        )

    def describe(self, name: str) -> dict[str, Any]:
        """An execution as the REST API (and the ``get`` connector) shows it."""
        try:
            record = self.get(name)
        except NotFoundError as exc:
            raise runtime_error(TAG_HTTP, str(exc), code=404) from None
        with record.lock:
            view: dict[str, Any] = {
                "name": record.name,
                "state": record.state,
                "argument": record.argument,
                "startTime": record.start_time.isoformat(),
                "workflowRevisionId": record.deployment.revision_id,
            }
            if record.end_time is not None:
                view["endTime"] = record.end_time.isoformat()
            if record.result is not None:
                view["result"] = record.result
            if record.error_payload is not None:
                view["error"] = {"payload": record.error_payload, "context": record.error_context}
        return view

    # -- the runner ---------------------------------------------------------------------

    def _run(self, record: ExecutionRecord, argument: Any) -> None:
        try:
            value = Interpreter(record.deployment.workflow, record.context).run(argument)
            record.finish("SUCCEEDED", result=to_json(value))
        except WorkflowError as err:
            record.finish("FAILED", error=_error_fields(err))
        except ExecutionCancelled:
            record.finish("CANCELLED")
        except Exception as exc:  # an emulator bug: fail the execution loudly, keep serving
            log.exception("execution %s crashed the emulator", record.name)
            payload = {"message": f"local emulator error: {exc!r}", "tags": ["SystemError"]}
            record.finish("FAILED", error=(to_json(payload), "", []))
        log.info("execution %s: %s", record.name, record.state)


def _error_fields(err: WorkflowError) -> tuple[str, str, list[tuple[str, str]]]:
    """``error.payload`` (JSON), ``error.context`` (human text) and the step trace."""
    trace = list(err.trace or [])
    lines = [str(err)]
    lines += [f'in step "{step}", routine "{routine}"' for routine, step in reversed(trace)]
    return to_json(err.payload), "\n".join(lines), trace
