"""The renders in a bucket: list them, look at one, delete one.

Read from the records a render leaves under ``renders/<id>/`` — ``request.json``
(the output it names), ``plan.json``, one record per chunk, ``result.json``
(size) and the SDK's execution records (the newest execution's state is the
status) — through the same ``wire`` classes the service writes them with. Costs
come from the records' seconds (:mod:`framerun.costs`), as progress reads do.

Deleting removes exactly one render: its ``renders/<id>/`` objects, its output
(wherever its request put it) and its idempotency claim. Never a site archive
(sites are shared by every render of the same files) and never another render's
objects. A render still running is refused: its execution would write again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from framerun.costs import Costs, envelope_groups, estimate_costs, estimate_workflow_steps
from framerun.execution_records import latest_execution
from framerun.executions import (
    RUNNING,
    SUCCEEDED,
    ExecutionsApi,
    execution_status,
    owned_executions,
    translated,
)
from framerun.sites import owned_storage
from framerun_service.core.errors import (
    ExecutionNotFoundError,
    InvalidInputError,
    InvalidRequestError,
    ObjectNotFoundError,
    RenderStillRunningError,
)
from framerun_service.core.wire import (
    CHUNK_RECORD_KEY,
    RENDERS_PREFIX,
    REQUEST_OBJECT,
    SITES_PREFIX,
    ChunkRecord,
    ExecutionRecord,
    IdempotencyClaim,
    PlanEnvelope,
    PlanRequest,
    ResultRecord,
    check_render_id,
    idempotency_uri,
)

if TYPE_CHECKING:
    from framerun.target import CloudRunTarget
    from framerun_service.core.storage import Storage

UNKNOWN = "unknown"  # no execution recorded and no result: nothing says how it went
DEFAULT_VCPU = 4.0
DEFAULT_MEMORY_GIB = 8.0

RecordT = TypeVar("RecordT")


@dataclass(frozen=True)
class RenderSummary:
    """One render as the bucket and its execution tell it.

    ``status`` is running | succeeded | failed | cancelled, or unknown when no
    execution was recorded (a render started by an older SDK) and no result exists.
    """

    render_id: str
    status: str
    output_uri: str | None
    output_bytes: int | None
    total_frames: int
    chunks_done: int
    chunks_total: int
    costs: Costs
    execution_name: str | None
    started_at: datetime | None
    object_count: int

    def to_json(self) -> dict[str, Any]:
        """The wire form (camelCase), as ``renders list/get --json`` prints it."""
        return {
            "renderId": self.render_id,
            "status": self.status,
            "outputUri": self.output_uri,
            "outputBytes": self.output_bytes,
            "totalFrames": self.total_frames,
            "chunksDone": self.chunks_done,
            "chunksTotal": self.chunks_total,
            "costs": self.costs.to_json(),
            "executionName": self.execution_name,
            "startedAt": self.started_at.isoformat() if self.started_at else None,
            "objectCount": self.object_count,
        }


@dataclass(frozen=True)
class DeletedRender:
    """What ``delete_render`` removed (URIs, output first)."""

    render_id: str
    deleted: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"renderId": self.render_id, "deleted": list(self.deleted)}


def list_renders(
    *,
    target: CloudRunTarget | None = None,
    storage: Storage | None = None,
    executions: ExecutionsApi | None = None,
    vcpu: float = DEFAULT_VCPU,
    memory_gib: float = DEFAULT_MEMORY_GIB,
) -> list[RenderSummary]:
    """Every render in the target's bucket, newest first.

    One listing of ``renders/``, the records of each render, and one
    ``get_execution`` per render that recorded its execution.
    """
    bucket = _bucket(target)
    with owned_storage(storage, target) as store, owned_executions(executions, target) as api:
        keys = store.list_keys(f"gs://{bucket}/{RENDERS_PREFIX}")
        by_render: dict[str, list[str]] = {}
        for key in keys:
            render_id, slash, _ = key[len(RENDERS_PREFIX) :].partition("/")
            if slash and _is_render_id(render_id):  # renders/<id>/…, nothing else
                by_render.setdefault(render_id, []).append(key)
        reader = _Reader(store, api, bucket, vcpu=vcpu, memory_gib=memory_gib)
        summaries = [reader.summary(rid, rkeys) for rid, rkeys in by_render.items()]
    return sorted(
        summaries,
        key=lambda s: s.started_at.timestamp() if s.started_at else float("-inf"),
        reverse=True,
    )


def get_render(
    render_id: str,
    *,
    target: CloudRunTarget | None = None,
    storage: Storage | None = None,
    executions: ExecutionsApi | None = None,
    vcpu: float = DEFAULT_VCPU,
    memory_gib: float = DEFAULT_MEMORY_GIB,
) -> RenderSummary:
    """One render; ObjectNotFoundError when the bucket has nothing of it."""
    bucket = _bucket(target)
    check_render_id(render_id)
    with owned_storage(storage, target) as store, owned_executions(executions, target) as api:
        keys = _render_keys(store, bucket, render_id)
        return _Reader(store, api, bucket, vcpu=vcpu, memory_gib=memory_gib).summary(
            render_id, keys
        )


def delete_render(
    render_id: str,
    *,
    target: CloudRunTarget | None = None,
    storage: Storage | None = None,
    executions: ExecutionsApi | None = None,
) -> DeletedRender:
    """Delete one render's objects: ``renders/<id>/``, its output and its idempotency claim.

    Refused (RenderStillRunningError) while its execution runs: cancel it first.
    Site archives and other renders' objects are never touched.
    """
    bucket = _bucket(target)
    check_render_id(render_id)
    with owned_storage(storage, target) as store, owned_executions(executions, target) as api:
        keys = _render_keys(store, bucket, render_id)
        reader = _Reader(store, api, bucket)
        summary = reader.summary(render_id, keys)
        if summary.status == RUNNING:
            raise RenderStillRunningError(
                f"render {render_id} is still running (execution {summary.execution_name}): "
                f"cancel it first (`framerun cloudrun cancel {summary.execution_name}`), "
                "then delete it"
            )
        doomed = [*_outside_objects(store, reader, bucket, render_id, summary)]
        # request.json last: a delete cut short can be run again and still find the output.
        request_key = f"{RENDERS_PREFIX}{render_id}/{REQUEST_OBJECT}"
        doomed += [f"gs://{bucket}/{k}" for k in keys if k != request_key]
        doomed += [f"gs://{bucket}/{k}" for k in keys if k == request_key]
        deleted = tuple(uri for uri in doomed if store.delete(uri))
    return DeletedRender(render_id=render_id, deleted=deleted)


def _outside_objects(
    store: Storage, reader: _Reader, bucket: str, render_id: str, summary: RenderSummary
) -> Iterator[str]:
    """The render's objects outside its folder: a custom output key, its idempotency claim."""
    own = f"gs://{bucket}/{RENDERS_PREFIX}{render_id}/"
    output = summary.output_uri
    if output and output.startswith(f"gs://{bucket}/") and not output.startswith(own):
        key = output[len(f"gs://{bucket}/") :]
        # Only a key the SDK would have accepted as an output: never a site, never a
        # key inside another render's folder.
        if not key.startswith((SITES_PREFIX, RENDERS_PREFIX)):
            yield output
    record = latest_execution(store, bucket, render_id)
    if record is not None and record.idempotency_key:
        claim_uri = idempotency_uri(bucket, record.idempotency_key)
        claim = reader.record(claim_uri, IdempotencyClaim.from_json)
        if claim is not None and claim.render_id == render_id:
            yield claim_uri


def _is_render_id(text: str) -> bool:
    try:
        check_render_id(text)
    except InvalidInputError:
        return False
    return True


def _bucket(target: CloudRunTarget | None) -> str:
    if target is None:
        from framerun.target import CloudRunTarget

        target = CloudRunTarget.from_env()
    return target.bucket_name


def _render_keys(store: Storage, bucket: str, render_id: str) -> list[str]:
    keys = store.list_keys(f"gs://{bucket}/{RENDERS_PREFIX}{render_id}/")
    if not keys:
        raise ObjectNotFoundError(
            f"no render {render_id} in bucket {bucket}: `framerun cloudrun renders list` "
            "shows the renders there"
        )
    return keys


class _Reader:
    """Reads one render's records and asks its execution for the status."""

    def __init__(
        self,
        store: Storage,
        api: ExecutionsApi,
        bucket: str,
        *,
        vcpu: float = DEFAULT_VCPU,
        memory_gib: float = DEFAULT_MEMORY_GIB,
    ) -> None:
        self._store, self._api, self._bucket = store, api, bucket
        self._vcpu, self._memory_gib = vcpu, memory_gib

    def record(self, uri: str, parse: Callable[[Any], RecordT]) -> RecordT | None:
        """A record, or None if it is missing or malformed (one bad object must not hide
        every other render from a listing)."""
        try:
            return parse(self._store.read_json(uri))
        except (ObjectNotFoundError, InvalidRequestError):
            return None

    def summary(self, render_id: str, keys: list[str]) -> RenderSummary:
        folder = f"gs://{self._bucket}/{RENDERS_PREFIX}{render_id}/"
        present = {key.rsplit("/", 1)[-1] for key in keys}
        request = self._request(folder, render_id) if REQUEST_OBJECT in present else None
        envelope = (
            self.record(f"{folder}plan.json", PlanEnvelope.from_json)
            if "plan.json" in present
            else None
        )
        result = (
            self.record(f"{folder}result.json", ResultRecord.from_json)
            if "result.json" in present
            else None
        )
        chunks = [
            record
            for key in keys
            if CHUNK_RECORD_KEY.search("/" + key)
            and (record := self.record(f"gs://{self._bucket}/{key}", ChunkRecord.from_json))
        ]
        execution = latest_execution(self._store, self._bucket, render_id, keys)
        status = self._status(execution, result)
        planned, assembled = envelope is not None, result is not None
        costs = estimate_costs(
            [c.seconds for c in chunks],
            envelope.seconds if envelope else None,
            result.seconds if result else None,
            vcpu=self._vcpu,
            memory_gib=self._memory_gib,
            workflow_steps=estimate_workflow_steps(
                len(chunks),
                groups=envelope_groups(envelope),
                planned=planned,
                assembled=assembled,
            ),
        )
        chunks_total = envelope.chunk_count if envelope else 0
        output_uri = result.output_uri if result else (request.output_uri if request else None)
        return RenderSummary(
            render_id=render_id,
            status=status,
            output_uri=output_uri,
            output_bytes=result.bytes if result else None,
            total_frames=envelope.total_frames if envelope else 0,
            chunks_done=chunks_total if assembled else min(len(chunks), chunks_total),
            chunks_total=chunks_total,
            costs=costs,
            execution_name=execution.execution_name if execution else None,
            started_at=datetime.fromisoformat(execution.started_at) if execution else None,
            object_count=len(keys),
        )

    def _request(self, folder: str, render_id: str) -> PlanRequest | None:
        stored = self.record(f"{folder}{REQUEST_OBJECT}", lambda data: data)
        if not isinstance(stored, dict):
            return None
        try:
            return PlanRequest.from_json({**stored, "renderId": render_id}, bucket=self._bucket)
        except InvalidRequestError:
            return None

    def _status(self, execution: ExecutionRecord | None, result: ResultRecord | None) -> str:
        if execution is not None:
            name = execution.execution_name
            try:
                with translated("read execution", name):
                    return execution_status(self._api.get_execution(name=name))
            except ExecutionNotFoundError:  # executions expire (Workflows keeps 90 days)
                pass
        return SUCCEEDED if result is not None else UNKNOWN
