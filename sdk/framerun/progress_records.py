"""What a progress read returns: ``RenderProgress`` and the errors a failed render reported.

Kept apart from the reader (:mod:`framerun.render_progress`) because these are
plain records: the CLI prints them, a batch reports them per line and
``wait_for_render`` turns them into an exception, none of which needs the
reader's clients. The errors come from an execution's ``error.payload``, which
holds what the workflow raised — the service's typed error or the platform's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from framerun.costs import Costs
from framerun.executions import CANCELLED, FAILED, TERMINAL
from framerun_service.core.errors import RenderFailedError

if TYPE_CHECKING:
    from google.cloud.workflows.executions_v1 import Execution


@dataclass(frozen=True)
class RenderErrorInfo:
    """One error a failed execution reported: the service's typed error, or the platform's."""

    code: str
    message: str
    step: str | None = None
    retryable: bool = False
    http_status: int = 0

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase), as ``--json`` output and batch reports print it."""
        return {
            "code": self.code,
            "message": self.message,
            "step": self.step,
            "retryable": self.retryable,
            "httpStatus": self.http_status,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderErrorInfo:
        """Read one raised map (``{code, message, retryable, httpStatus, step}``)."""
        code, status = data.get("code"), data.get("httpStatus")
        if not isinstance(status, int) or isinstance(status, bool):
            # A platform error ({code: <http status>, message, tags}) carries it as code.
            status = code if isinstance(code, int) and not isinstance(code, bool) else 0
        if not isinstance(code, str) or not code:
            # ... and has no code of its own: name it by its first tag, as render.yaml does.
            tags = data.get("tags")
            tag = tags[0] if isinstance(tags, list) and tags else "ERROR"
            code = f"WORKFLOW_{str(tag).upper()}"
        message, step = data.get("message"), data.get("step")
        return cls(
            code=code,
            message=message if isinstance(message, str) else json.dumps(data, sort_keys=True),
            step=step if isinstance(step, str) else None,
            retryable=data.get("retryable") is True,
            http_status=status,
        )


def parse_error_payload(payload: str) -> tuple[RenderErrorInfo, ...]:
    """The errors in an execution's ``error.payload`` (JSON of what the workflow raised)."""
    if not payload:
        return ()
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        return (RenderErrorInfo(code="WORKFLOW_ERROR", message=payload),)
    items = data if isinstance(data, list) else [data]
    errors = []
    for item in items:
        if isinstance(item, Mapping):
            errors.append(RenderErrorInfo.from_json(item))
        else:
            errors.append(RenderErrorInfo(code="WORKFLOW_ERROR", message=str(item)))
    return tuple(errors)


def execution_errors(execution: Execution, status: str) -> tuple[RenderErrorInfo, ...]:
    """The errors of a failed or cancelled execution (none while it runs or once it succeeded)."""
    if status not in (FAILED, CANCELLED):
        return ()
    errors = parse_error_payload(execution.error.payload if execution.error else "")
    if errors or status == CANCELLED:
        return errors
    if execution.state.name == "UNAVAILABLE":
        details = execution.state_error.details if execution.state_error else ""
        return (
            RenderErrorInfo(
                code="WORKFLOW_STATE_UNAVAILABLE",
                message=f"the execution's state is unavailable ({details or 'no details'})",
            ),
        )
    return (RenderErrorInfo(code="RENDER_FAILED", message="the execution failed without an error"),)


@dataclass(frozen=True)
class RenderProgress:
    """A render's state from one read of its execution and its objects.

    ``overall_progress`` = 0.1 once planned + 0.8 × frames_rendered / total_frames
    + 0.1 once assembled. Assembled means ``result.json`` exists (the service writes
    it after the output) or the execution succeeded, so the value reaches 1.0
    exactly when the output exists; it never goes down, because the objects it
    counts only accumulate. ``costs`` covers the requests that ran so far.
    """

    render_id: str
    execution_name: str
    status: str  # running | succeeded | failed | cancelled
    state: str  # the execution's own state: QUEUED, ACTIVE, SUCCEEDED, ...
    overall_progress: float
    chunks_done: int
    chunks_total: int
    frames_rendered: int
    total_frames: int
    output_file: str | None
    output_bytes: int | None
    errors: tuple[RenderErrorInfo, ...]
    costs: Costs
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def done(self) -> bool:
        """Whether the render has ended (succeeded, failed or cancelled): stop polling."""
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase), as ``framerun cloudrun progress --json`` prints it."""
        return {
            "renderId": self.render_id,
            "executionName": self.execution_name,
            "status": self.status,
            "state": self.state,
            "overallProgress": self.overall_progress,
            "chunksDone": self.chunks_done,
            "chunksTotal": self.chunks_total,
            "framesRendered": self.frames_rendered,
            "totalFrames": self.total_frames,
            "outputFile": self.output_file,
            "outputBytes": self.output_bytes,
            "errors": [e.to_json() for e in self.errors],
            "costs": self.costs.to_json(),
            "startedAt": _iso(self.started_at),
            "endedAt": _iso(self.ended_at),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderProgress:
        """Read back what :meth:`to_json` wrote."""
        return cls(
            render_id=data["renderId"],
            execution_name=data["executionName"],
            status=data["status"],
            state=data["state"],
            overall_progress=data["overallProgress"],
            chunks_done=data["chunksDone"],
            chunks_total=data["chunksTotal"],
            frames_rendered=data["framesRendered"],
            total_frames=data["totalFrames"],
            output_file=data.get("outputFile"),
            output_bytes=data.get("outputBytes"),
            errors=tuple(RenderErrorInfo.from_json(e) for e in data.get("errors", [])),
            costs=Costs.from_json(data["costs"]),
            started_at=_from_iso(data.get("startedAt")),
            ended_at=_from_iso(data.get("endedAt")),
        )


def render_failed_error(progress: RenderProgress) -> RenderFailedError:
    """The error for a failed or cancelled render, carrying its first error's code."""
    first = progress.errors[0] if progress.errors else None
    if progress.status == CANCELLED:
        message = f"render {progress.render_id} was cancelled (execution {progress.execution_name})"
        code: str = first.code if first else "RENDER_CANCELLED"
    else:
        where = f" in {first.step}" if first and first.step else ""
        why = first.message if first else "no error was reported"
        message = f"render {progress.render_id} failed{where}: {why}"
        code = first.code if first else "RENDER_FAILED"
    return RenderFailedError(
        message,
        code=code,
        retryable=first.retryable if first else False,
        http_status=first.http_status if first else None,
        errors=progress.errors,
        execution_name=progress.execution_name,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
