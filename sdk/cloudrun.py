"""Distributed renders on Cloud Run + Workflows: start one, read its progress, wait for it.

A render is one execution of ``workflows/render.yaml``. Starting one:

1. the config is validated here, against the project's composition, so a typo
   fails in milliseconds instead of after a cold start;
2. the site is uploaded unless an identical one is already in the bucket;
3. the full request ``{siteUri, outputUri, config}`` is written to
   ``renders/<id>/request.json`` (the Executions API caps an argument at 32 KB,
   variables can be larger), create-only;
4. an execution is created whose argument is references only:
   ``{renderId, requestUri}``.

Progress is read from the execution and from the objects the service writes,
which only ever accumulate: ``plan.json``, one record per chunk, ``result.json``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from framerun.costs import Costs, estimate_costs, estimate_workflow_steps
from framerun.executions import (
    MAX_ARGUMENT_BYTES,
    ExecutionsApi,
    new_execution,
    owned_executions,
    translated,
)
from framerun.sites import (
    check_site_id,
    deploy_site,
    hash_site,
    owned_storage,
    require_site,
    site_uri,
)
from framerun.target import CloudRunTarget
from framerun_service.errors import (
    ArgumentTooLargeError,
    FramerunError,
    InvalidConfigError,
    InvalidInputError,
    ObjectNotFoundError,
    OutputNotWritableError,
    RenderFailedError,
    RenderTimeoutError,
)
from framerun_service.protocol import MAX_CHUNKS, plan_uri, render_prefix, result_uri

if TYPE_CHECKING:
    from framerun_service.render.config import RenderConfig
    from framerun_service.storage import Storage
    from google.cloud.workflows.executions_v1 import Execution

# The request object's cap: the service reads it whole into memory for every plan.
MAX_REQUEST_BYTES = 512 * 1024
RENDER_ID_PREFIX = "r-"
DEFAULT_OUTPUT_NAME = "output.mp4"
REQUEST_OBJECT = "request.json"
# Keys the SDK itself owns: an output there could clash with a content-addressed site.
_RESERVED_PREFIXES = ("sites/",)

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

# overall_progress = PLAN_WEIGHT·planned + FRAMES_WEIGHT·frames_rendered/total_frames
#                    + ASSEMBLE_WEIGHT·assembled
PLAN_WEIGHT = 0.1
FRAMES_WEIGHT = 0.8
ASSEMBLE_WEIGHT = 0.1

DEFAULT_VCPU = 4.0
DEFAULT_MEMORY_GIB = 8.0
# A long wait should not die of one 503; this many failed polls in a row should.
MAX_CONSECUTIVE_POLL_FAILURES = 5

_CHUNK_RECORD = re.compile(r"/chunks/(\d{5})\.json$")


# ---- wire models --------------------------------------------------------------------


@dataclass(frozen=True)
class RenderHandle:
    """A started render: what to poll (``execution_name``) and where the video will be."""

    render_id: str
    execution_name: str
    output_uri: str
    bucket_name: str
    started_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "renderId": self.render_id,
            "executionName": self.execution_name,
            "outputUri": self.output_uri,
            "bucketName": self.bucket_name,
            "startedAt": self.started_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderHandle:
        return cls(
            render_id=data["renderId"],
            execution_name=data["executionName"],
            output_uri=data["outputUri"],
            bucket_name=data["bucketName"],
            started_at=datetime.fromisoformat(data["startedAt"]),
        )


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


# ---- validation ---------------------------------------------------------------------


def validate_render_config(
    config: Mapping[str, Any], project_dir: str | os.PathLike[str] | None = None
) -> RenderConfig:
    """Check a wire config (camelCase) as the service will, before anything is uploaded.

    With ``project_dir`` the composition is loaded with the config's overrides, so
    sizes, fps, duration, variables (strict if asked), the frame range and the
    chunking are checked too — all IO-free except reading the entry HTML.
    """
    from framerun_service.render.composition import load_composition
    from framerun_service.render.config import RenderConfig
    from framerun_service.render.plan import make_plan

    if not isinstance(config, Mapping):
        raise InvalidConfigError(f"config must be an object, got {type(config).__name__}")
    parsed = RenderConfig.from_json(config)
    if project_dir is None:
        return parsed
    comp = load_composition(project_dir, entry=parsed.composition, overrides=parsed.overrides())
    plan = make_plan(
        comp,
        parsed.encoder(comp.fps),
        site_hash="0" * 64,  # placeholders: only the shape of the plan is checked here
        browser_version="unknown",
        frames=parsed.frames,
        chunk_size=parsed.chunk_size,
        target_chunk_frames=parsed.target_chunk_frames,
        max_parallel_chunks=parsed.max_parallel_chunks,
    )
    if len(plan.chunks) >= MAX_CHUNKS:
        raise InvalidConfigError(
            f"{plan.total_frames} frames make {len(plan.chunks)} chunks, over the limit of "
            f"{MAX_CHUNKS - 1}; raise chunkSize (now {parsed.chunk_size})"
        )
    return parsed


def check_output_key(key: str) -> str:
    """A relative object key for the video: no leading '/', no '..', '.' or empty segments."""
    if not isinstance(key, str) or not key:
        raise OutputNotWritableError("the output key must be a non-empty relative object key")
    if key.startswith("/") or "\\" in key:
        raise OutputNotWritableError(
            f"output key {key!r} must be relative to the bucket (no leading '/' or '\\'), "
            "e.g. videos/intro.mp4"
        )
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise OutputNotWritableError(
            f"output key {key!r} has an empty, '.' or '..' segment; use a plain path such as "
            "videos/intro.mp4"
        )
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key) or len(key.encode()) > 900:
        raise OutputNotWritableError(
            f"output key {key!r} has control characters or is over 900 bytes; shorten it"
        )
    if key.startswith(_RESERVED_PREFIXES):
        raise OutputNotWritableError(
            f"output key {key!r} is under {', '.join(_RESERVED_PREFIXES)}, which framerun "
            "keeps for site archives; choose another folder"
        )
    return key


def new_render_id() -> str:
    """``r-`` + 20 hex digits: 80 random bits, unique without coordination."""
    return RENDER_ID_PREFIX + secrets.token_hex(10)


def default_output_key(render_id: str) -> str:
    return f"renders/{render_id}/{DEFAULT_OUTPUT_NAME}"


# ---- starting a render --------------------------------------------------------------


@dataclass(frozen=True)
class PreparedRender:
    """A render checked and ready to start: the request object and the execution argument."""

    render_id: str
    bucket_name: str
    output_uri: str
    request_uri: str
    request: dict[str, Any]
    argument: str


def prepare_render(
    target: CloudRunTarget,
    config: Mapping[str, Any],
    *,
    site_id: str,
    output_key: str | None = None,
) -> PreparedRender:
    """Build the request and argument and enforce both size caps; no IO at all."""
    bucket = target.bucket_name
    render_id = new_render_id()
    key = check_output_key(output_key) if output_key is not None else default_output_key(render_id)
    request = {
        "siteUri": site_uri(bucket, site_id),
        "outputUri": f"gs://{bucket}/{key}",
        "config": dict(config),
    }
    size = len(canonical_json(request))
    if size > MAX_REQUEST_BYTES:
        raise ArgumentTooLargeError(
            f"the render request is {size:,} bytes, over the {MAX_REQUEST_BYTES // 1024} KiB "
            "limit; move large data (images, long lists) into the project folder and pass "
            "file names as variables"
        )
    request_uri = f"{render_prefix(bucket, render_id)}/{REQUEST_OBJECT}"
    argument = json.dumps({"renderId": render_id, "requestUri": request_uri})
    if len(argument.encode()) > MAX_ARGUMENT_BYTES:
        raise ArgumentTooLargeError(
            f"the execution argument is {len(argument.encode()):,} bytes, over the Executions "
            f"API's {MAX_ARGUMENT_BYTES // 1024} KB; use a shorter bucket name"
        )
    return PreparedRender(
        render_id=render_id,
        bucket_name=bucket,
        output_uri=request["outputUri"],
        request_uri=request_uri,
        request=request,
        argument=argument,
    )


def start_prepared(
    prepared: PreparedRender, target: CloudRunTarget, *, storage: Storage, executions: ExecutionsApi
) -> RenderHandle:
    """Refuse an existing output, write ``request.json`` create-only, create the execution."""
    if storage.exists(prepared.output_uri):
        raise OutputNotWritableError(
            f"{prepared.output_uri} already exists; framerun never replaces a video, so "
            "choose another output key (or delete the object)"
        )
    if not storage.write_json_if_absent(prepared.request_uri, prepared.request):
        raise FramerunError(
            f"{prepared.request_uri} already exists (a render id collision); start the render again"
        )
    with translated("start an execution of", target.workflow_path):
        execution = executions.create_execution(
            parent=target.workflow_path, execution=new_execution(prepared.argument)
        )
    return RenderHandle(
        render_id=prepared.render_id,
        execution_name=execution.name,
        output_uri=prepared.output_uri,
        bucket_name=prepared.bucket_name,
        started_at=execution.start_time or datetime.now(UTC),
    )


def render_to_cloud_run(
    project_dir: str | os.PathLike[str] | None,
    config: Mapping[str, Any] | None = None,
    *,
    target: CloudRunTarget | None = None,
    bucket_name: str | None = None,
    project_id: str | None = None,
    location: str | None = None,
    workflow_id: str | None = None,
    service_url: str | None = None,
    site_id: str | None = None,
    output_key: str | None = None,
    executions: ExecutionsApi | None = None,
    storage: Storage | None = None,
) -> RenderHandle:
    """Start a distributed render of ``project_dir`` and return at once with its handle.

    Where to render: ``target=``, or the five connection keywords, or (with
    neither) ``FRAMERUN_*`` variables. ``config`` is the wire config
    (camelCase: ``{"width": 1280, "variables": {...}, "chunkSize": 120}``).
    With ``site_id`` the already-uploaded site is used (``project_dir`` may then
    be None, which skips the composition checks). ``output_key`` defaults to
    ``renders/<render_id>/output.mp4``. Everything that can be checked locally
    is checked before the first API call; ``executions`` and ``storage`` are
    the seams for tests (real clients are built and closed otherwise).
    """
    where = resolve_target(
        target,
        bucket_name=bucket_name,
        project_id=project_id,
        location=location,
        workflow_id=workflow_id,
        service_url=service_url,
    )
    wire = dict(config or {})
    validate_render_config(wire, project_dir)
    if site_id is not None:
        local_site_id = check_site_id(site_id)
    elif project_dir is not None:
        local_site_id = hash_site(project_dir)
    else:
        raise InvalidInputError("pass project_dir (to upload the site) or site_id")
    prepared = prepare_render(where, wire, site_id=local_site_id, output_key=output_key)
    with owned_storage(storage, where) as store, owned_executions(executions, where) as api:
        if site_id is not None:
            require_site(store, where.bucket_name, site_id)
        else:
            assert project_dir is not None
            site = deploy_site(project_dir, target=where, storage=store)
            if site.site_id != local_site_id:  # a file changed since it was hashed
                prepared = replace(prepared, request={**prepared.request, "siteUri": site.site_uri})
        return start_prepared(prepared, where, storage=store, executions=api)


def resolve_target(
    target: CloudRunTarget | None,
    *,
    bucket_name: str | None = None,
    project_id: str | None = None,
    location: str | None = None,
    workflow_id: str | None = None,
    service_url: str | None = None,
) -> CloudRunTarget:
    """``target``, or one from the connection keywords, or from ``FRAMERUN_*``."""
    loose = (bucket_name, project_id, location, workflow_id, service_url)
    if target is not None:
        if any(v is not None for v in loose):
            raise InvalidInputError(
                "pass target= or the connection keywords (bucket_name, project_id, location, "
                "workflow_id, service_url), not both"
            )
        return target
    if all(v is None for v in loose):
        return CloudRunTarget.from_env()
    # The emulator's endpoint, if any, comes from FRAMERUN_EXECUTIONS_ENDPOINT later.
    return CloudRunTarget.from_values(
        bucket_name=bucket_name,
        project_id=project_id,
        location=location,
        workflow_id=workflow_id,
        service_url=service_url,
    )


# ---- progress -----------------------------------------------------------------------


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
        render_id, bucket = _argument_refs(execution)
        status = execution_status(execution)
        # Result first: once it exists every chunk is final, whatever a listing shows.
        result = self._record(result_uri(bucket, render_id))
        envelope = self._record(plan_uri(bucket, render_id))
        planned = envelope is not None
        envelope = envelope if isinstance(envelope, Mapping) else {}
        plan: Mapping[str, Any] = envelope.get("plan") or {}
        total_frames = int(plan.get("frameEnd", 0)) - int(plan.get("frameStart", 0))
        chunks_total = len(plan.get("chunks", []))
        records = self._chunk_records(bucket, render_id) if planned else []
        final = _execution_result(execution) if status == SUCCEEDED else None
        assembled = result is not None or final is not None
        frames = min(sum(int(r.get("frames", 0)) for r in records), total_frames)
        chunks_done = min(len(records), chunks_total)
        if assembled:
            # The assemble step verified every chunk; a record may still be missing.
            frames, chunks_done = total_frames, chunks_total
        if assembled:
            overall = 1.0
        else:
            fraction = frames / total_frames if total_frames > 0 else 0.0
            overall = PLAN_WEIGHT * planned + FRAMES_WEIGHT * fraction
        done = result if isinstance(result, Mapping) else final or {}
        costs = estimate_costs(
            [float(r.get("seconds", 0.0)) for r in records],
            float(envelope.get("seconds", 0.0)) if planned else None,
            float(done.get("seconds", 0.0)) if assembled else None,
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
            output_file=(done.get("outputUri") or envelope.get("outputUri")) if assembled else None,
            output_bytes=done.get("bytes") if assembled else None,
            errors=execution_errors(execution, status),
            costs=costs,
            started_at=execution.start_time,
            ended_at=execution.end_time,
        )

    def _record(self, uri: str) -> Any:
        """A write-once JSON object, or None while it does not exist yet."""
        if uri in self._records:
            return self._records[uri]
        try:
            value = self._storage.read_json(uri)
        except ObjectNotFoundError:
            return None
        self._records[uri] = value
        return value

    def _chunk_records(self, bucket: str, render_id: str) -> list[Mapping[str, Any]]:
        prefix = f"{render_prefix(bucket, render_id)}/chunks/"
        records = []
        for key in self._storage.list_keys(prefix):
            if _CHUNK_RECORD.search("/" + key):
                record = self._record(f"gs://{bucket}/{key}")
                if isinstance(record, Mapping):
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


# ---- helpers ----------------------------------------------------------------------


def canonical_json(obj: Any) -> bytes:
    """The bytes Storage writes for a JSON record (sorted keys, compact), JSON-only values."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(
            f"the render request is not plain JSON ({exc}); pass only strings, numbers, "
            "booleans, null, lists and objects (no NaN or Infinity)"
        ) from None


def _argument_refs(execution: Execution) -> tuple[str, str]:
    """(render id, bucket) from the execution's argument ``{renderId, requestUri}``."""
    from framerun_service.storage import parse_gs_uri

    try:
        argument = json.loads(execution.argument or "{}")
        render_id = argument["renderId"]
        bucket, _ = parse_gs_uri(argument["requestUri"])
    except (json.JSONDecodeError, KeyError, TypeError, FramerunError):
        raise InvalidInputError(
            f"execution {execution.name} is not a framerun render (its argument is not "
            "{renderId, requestUri}); pass an execution started by framerun"
        ) from None
    return str(render_id), bucket


def _execution_result(execution: Execution) -> dict[str, Any]:
    """The workflow's return value ``{outputUri, bytes, planHash, chunkCount}``."""
    try:
        value = json.loads(execution.result or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


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
