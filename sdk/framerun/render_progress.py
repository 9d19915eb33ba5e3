"""Progress of a distributed render: one Executions API call, then objects in the bucket.

Reading is separate from starting (:mod:`framerun.cloudrun`) because a render is
usually watched from elsewhere — another process, the CLI, a batch — with only
its execution name. The records a read returns are in
:mod:`framerun.progress_records`; see ``RenderProgress`` there for the weights.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from framerun.costs import envelope_groups, estimate_costs, estimate_workflow_steps
from framerun.download import check_destination, download
from framerun.executions import (
    SUCCEEDED,
    TERMINAL,
    ExecutionsApi,
    execution_status,
    owned_executions,
    render_refs,
    translated,
)
from framerun.progress_records import RenderProgress, execution_errors, render_failed_error
from framerun.render_handle import RenderHandle, execution_name_of
from framerun.sites import owned_storage
from framerun.target import CloudRunTarget
from framerun_service.core.errors import FramerunError, ObjectNotFoundError, RenderTimeoutError
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
        """One poll: the execution first, then the records this reader has not seen yet."""
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
        frames, chunks_done, overall = _counted(
            records, total_frames, chunks_total, planned=planned, assembled=assembled
        )
        output_uri, output_bytes, assemble_s = _assembled(result, final, envelope)
        costs = estimate_costs(
            [r.seconds for r in records],
            envelope.seconds if envelope else None,
            assemble_s if assembled else None,
            vcpu=self._vcpu,
            memory_gib=self._memory_gib,
            workflow_steps=estimate_workflow_steps(
                len(records),
                groups=envelope_groups(envelope),
                planned=planned,
                assembled=assembled,
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
    download_to: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    on_download: Callable[[int, int], None] | None = None,
) -> RenderProgress:
    """Poll until the render ends; return its final progress if it succeeded.

    With ``download_to`` the output is then downloaded there (see
    :func:`framerun.download`: atomic, an existing file kept unless
    ``overwrite``; ``on_download(done, total)`` in bytes), before this returns.

    Raises RenderFailedError (with the failure's ``code`` and all ``errors``) if it
    failed or was cancelled, RenderTimeoutError after ``timeout_s`` (the render
    keeps running). Transient API errors are polled through, up to
    ``MAX_CONSECUTIVE_POLL_FAILURES`` in a row.
    """
    name = execution_name_of(handle_or_execution_name)
    if download_to is not None:
        check_destination(download_to, overwrite=overwrite)
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
                    if download_to is not None:
                        _download_output(progress, name, download_to, store, overwrite, on_download)
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


def _download_output(
    progress: RenderProgress,
    name: str,
    dest: str | os.PathLike[str],
    store: Storage,
    overwrite: bool,
    on_download: Callable[[int, int], None] | None,
) -> None:
    if progress.output_file is None:  # pragma: no cover - a succeeded render names its output
        raise ObjectNotFoundError(f"execution {name} succeeded without naming its output")
    download(
        progress.output_file, dest, storage=store, on_progress=on_download, overwrite=overwrite
    )


def _counted(
    records: list[ChunkRecord],
    total_frames: int,
    chunks_total: int,
    *,
    planned: bool,
    assembled: bool,
) -> tuple[int, int, float]:
    """(frames rendered, chunks done, overall progress), never past the plan's totals.

    Complete once assembled, whatever records are missing, so that 1.0 means
    exactly that the output exists.
    """
    if assembled:
        # The assemble step verified every chunk; a record may still be missing.
        return total_frames, chunks_total, 1.0
    frames = min(sum(r.frames for r in records), total_frames)
    chunks_done = min(len(records), chunks_total)
    fraction = frames / total_frames if total_frames > 0 else 0.0
    return frames, chunks_done, PLAN_WEIGHT * planned + FRAMES_WEIGHT * fraction


def _execution_result(execution: Execution) -> WorkflowResult | None:
    """The workflow's return value, or None if the execution carries none we can read."""
    try:
        return WorkflowResult.from_text(execution.result)
    except FramerunError:
        return None


def _assembled(
    result: ResultRecord | None, final: WorkflowResult | None, envelope: PlanEnvelope | None
) -> tuple[str | None, int | None, float]:
    """(output URI, bytes, assemble seconds): from result.json, else the workflow's result."""
    if result is not None:
        return result.output_uri, result.bytes, result.seconds
    if final is not None:
        return final.output_uri, final.bytes, 0.0
    return (envelope.output_uri if envelope else None), None, 0.0
