"""Progress of a distributed render: one Executions API call, then objects in the bucket.

Split from ``cloudrun.py`` (which starts renders); see ``RenderProgress`` for the weights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from framerun.costs import Costs, estimate_costs, estimate_workflow_steps
from framerun.executions import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    TERMINAL,
    ExecutionsApi,
    execution_status,
    owned_executions,
    render_refs,
    translated,
)
from framerun.sites import (
    owned_storage,
)
from framerun.target import CloudRunTarget
from framerun_service.core.errors import (
    FramerunError,
    ObjectNotFoundError,
    RenderFailedError,
    RenderTimeoutError,
)
from framerun_service.core.wire import (
    CHUNK_RECORD_KEY,
    ChunkRecord,
    PlanEnvelope,
    ResultRecord,
    WorkflowResult,
    chunk_records_prefix,
    plan_uri,
    result_uri,
)

if TYPE_CHECKING:
    from google.cloud.workflows.executions_v1 import Execution

    from framerun_service.core.storage import Storage

# The request object's cap: the service reads it whole into memory for every plan.
from framerun.cloudrun import RenderHandle

# overall_progress = PLAN_WEIGHT·planned + FRAMES_WEIGHT·frames_rendered/total_frames
#                    + ASSEMBLE_WEIGHT·assembled
PLAN_WEIGHT = 0.1
FRAMES_WEIGHT = 0.8
ASSEMBLE_WEIGHT = 0.1

DEFAULT_VCPU = 4.0
DEFAULT_MEMORY_GIB = 8.0
# A long wait should not die of one 503; this many failed polls in a row should.
MAX_CONSECUTIVE_POLL_FAILURES = 5

RecordT = TypeVar("RecordT")


@dataclass(frozen=True)
class RenderErrorInfo:
    """One error a failed execution reported: the service's typed error, or the platform's."""

    code: str
    message: str
    step: str | None = None
    retryable: bool = False
    http_status: int = 0

    def to_json(self) -> dict[str, Any]:
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
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
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


# ---- progress -----------------------------------------------------------------------


class ProgressReader:
    """Reads progress, remembering records already read.

    Plan, chunk records and result are written once and never change, so each is
    downloaded once per reader; a poll then costs one ``get_execution``, one
    listing and the new records only.
    """

    def __init__(
        self,
        executions: ExecutionsApi,
        storage: Storage,
        *,
        vcpu: float = DEFAULT_VCPU,
        memory_gib: float = DEFAULT_MEMORY_GIB,
    ) -> None:
        self._api = executions
        self._storage = storage
        self._vcpu = vcpu
        self._memory_gib = memory_gib
        self._records: dict[str, Any] = {}

    def read(self, execution_name: str) -> RenderProgress:
        with translated("read execution", execution_name):
            execution = self._api.get_execution(name=execution_name)
        render_id, bucket = render_refs(execution)
        status = execution_status(execution)
        # Result first: once it exists every chunk is final, whatever a listing shows.
        result = self._record(result_uri(bucket, render_id), ResultRecord.from_json)
        envelope = self._record(plan_uri(bucket, render_id), PlanEnvelope.from_json)
        planned = envelope is not None
        total_frames = envelope.total_frames if envelope else 0
        chunks_total = envelope.chunk_count if envelope else 0
        records = self._chunk_records(bucket, render_id) if planned else []
        final = _execution_result(execution) if status == SUCCEEDED else None
        # A succeeded execution means the output exists, whatever records are missing.
        assembled = result is not None or status == SUCCEEDED
        frames = min(sum(r.frames for r in records), total_frames)
        chunks_done = min(len(records), chunks_total)
        if assembled:
            # The assemble step verified every chunk; a record may still be missing.
            frames, chunks_done = total_frames, chunks_total
        if assembled:
            overall = 1.0
        else:
            fraction = frames / total_frames if total_frames > 0 else 0.0
            overall = PLAN_WEIGHT * planned + FRAMES_WEIGHT * fraction
        output_uri, output_bytes, assemble_s = _assembled(result, final, envelope)
        costs = estimate_costs(
            [r.seconds for r in records],
            envelope.seconds if envelope else None,
            assemble_s if assembled else None,
            vcpu=self._vcpu,
            memory_gib=self._memory_gib,
            workflow_steps=estimate_workflow_steps(
                len(records), planned=planned, assembled=assembled
            ),
        )
        return RenderProgress(
            render_id=render_id,
            execution_name=execution.name or execution_name,
            status=status,
            state=execution.state.name,
            overall_progress=overall,
            chunks_done=chunks_done,
            chunks_total=chunks_total,
            frames_rendered=frames,
            total_frames=total_frames,
            output_file=output_uri if assembled else None,
            output_bytes=output_bytes if assembled else None,
            errors=execution_errors(execution, status),
            costs=costs,
            started_at=execution.start_time,
            ended_at=execution.end_time,
        )

    def _record(self, uri: str, parse: Callable[[Any], RecordT]) -> RecordT | None:
        """A write-once record, or None while it does not exist yet (kept once read)."""
        if uri in self._records:
            return cast(RecordT, self._records[uri])
        try:
            value = parse(self._storage.read_json(uri))
        except ObjectNotFoundError:
            return None
        self._records[uri] = value
        return value

    def _chunk_records(self, bucket: str, render_id: str) -> list[ChunkRecord]:
        records = []
        for key in self._storage.list_keys(chunk_records_prefix(bucket, render_id)):
            if CHUNK_RECORD_KEY.search("/" + key):
                record = self._record(f"gs://{bucket}/{key}", ChunkRecord.from_json)
                if record is not None:
                    records.append(record)
        return records


def get_render_progress(
    execution_name: str,
    *,
    executions: ExecutionsApi | None = None,
    storage: Storage | None = None,
    target: CloudRunTarget | None = None,
    vcpu: float = DEFAULT_VCPU,
    memory_gib: float = DEFAULT_MEMORY_GIB,
) -> RenderProgress:
    """One read of a render: a single ``get_execution``, then its objects.

    ``overall_progress`` weighs planning 0.1, rendering 0.8 (by frames) and
    assembling 0.1; it only grows and is 1.0 exactly once the output exists
    (see :class:`RenderProgress`). ``vcpu``/``memory_gib`` are the service's
    limits, for the cost estimate. ``target`` only matters for its emulator
    endpoints when no clients are given.
    """
    with owned_executions(executions, target) as api, owned_storage(storage, target) as store:
        return ProgressReader(api, store, vcpu=vcpu, memory_gib=memory_gib).read(execution_name)


def wait_for_render(
    handle_or_execution_name: RenderHandle | str,
    *,
    poll_interval_s: float = 2.0,
    timeout_s: float | None = None,
    on_progress: Callable[[RenderProgress], None] | None = None,
    executions: ExecutionsApi | None = None,
    storage: Storage | None = None,
    target: CloudRunTarget | None = None,
    vcpu: float = DEFAULT_VCPU,
    memory_gib: float = DEFAULT_MEMORY_GIB,
    sleep: Callable[[float], None] = time.sleep,
) -> RenderProgress:
    """Poll until the render ends; return its final progress if it succeeded.

    Raises RenderFailedError (with the failure's ``code`` and all ``errors``) if it
    failed or was cancelled, RenderTimeoutError after ``timeout_s`` (the render
    keeps running). Transient API errors are polled through, up to
    ``MAX_CONSECUTIVE_POLL_FAILURES`` in a row.
    """
    name = (
        handle_or_execution_name.execution_name
        if isinstance(handle_or_execution_name, RenderHandle)
        else handle_or_execution_name
    )
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    failures = 0
    with owned_executions(executions, target) as api, owned_storage(storage, target) as store:
        reader = ProgressReader(api, store, vcpu=vcpu, memory_gib=memory_gib)
        while True:
            try:
                progress = reader.read(name)
            except FramerunError as exc:
                failures += 1
                if not exc.retryable or failures >= MAX_CONSECUTIVE_POLL_FAILURES:
                    raise
            else:
                failures = 0
                if on_progress is not None:
                    on_progress(progress)
                if progress.status == SUCCEEDED:
                    return progress
                if progress.status in TERMINAL:
                    raise render_failed_error(progress)
            if deadline is not None and time.monotonic() >= deadline:
                raise RenderTimeoutError(
                    f"execution {name} was still running after {timeout_s:g}s; it goes on: "
                    "wait again, or follow it with `framerun cloudrun progress`"
                )
            wait = poll_interval_s
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            sleep(wait)


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


def _execution_result(execution: Execution) -> WorkflowResult | None:
    """The workflow's return value, or None if the execution carries none we can read."""
    try:
        return WorkflowResult.from_json(execution.result)
    except FramerunError:
        return None


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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _assembled(
    result: ResultRecord | None, final: WorkflowResult | None, envelope: PlanEnvelope | None
) -> tuple[str | None, int | None, float]:
    """(output URI, bytes, assemble seconds): from result.json, else the workflow's result."""
    if result is not None:
        return result.output_uri, result.bytes, result.seconds
    if final is not None:
        return final.output_uri, final.bytes, 0.0
    return (envelope.output_uri if envelope else None), None, 0.0
