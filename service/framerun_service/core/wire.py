"""Everything that crosses a process boundary: object keys, Action requests and replies,
the execution argument and the records a render leaves in its folder.

Frozen snake_case dataclasses with one ``from_json``/``to_json`` boundary each; the
JSON is camelCase because Cloud Workflows' YAML reads it. The service writes these
records and the client reads them back through the same classes, so no key is
spelled twice. Validation here is IO-free: a malformed body is an
``InvalidRequestError`` (400, never retried).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from framerun_service.core.errors import InvalidInputError, InvalidRequestError
from framerun_service.core.names import camel_case

# The most chunks one render may have (a plan refuses more; a request naming one beyond is
# malformed).
MAX_CHUNKS = 10_000

ACTION_PLAN = "plan"
ACTION_RENDER_CHUNK = "renderChunk"
ACTION_ASSEMBLE = "assemble"
ACTION_NOTIFY = "notify"
ACTIONS = (ACTION_PLAN, ACTION_RENDER_CHUNK, ACTION_ASSEMBLE, ACTION_NOTIFY)
NOTIFY_STATUSES = ("succeeded", "failed")

TRACE_HEADER = "X-Cloud-Trace-Context"
PLAN_HASH_METADATA = "framerun-plan-hash"

_RENDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_GS_URI = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])/(.+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SITE_ID = _SHA256  # a site's id is its tree hash
CHUNK_RECORD_KEY = re.compile(r"/chunks/(\d{5})\.json$")
REQUEST_OBJECT = "request.json"
SITE_ARCHIVE_NAME = "site.tar.gz"
SITES_PREFIX = "sites/"
RENDERS_PREFIX = "renders/"
# The SDK's idempotency claims: ``idempotency/<sha256 of the key>.json`` → a render id.
IDEMPOTENCY_PREFIX = "idempotency/"
# renders/<id>/executions/<execution id>/execution.json: one create-only record per
# execution (a resume adds one); the name ends in a letter, so the chunk lifecycle rule
# (keys under renders/ ending in "<digit>.json") never deletes it.
EXECUTION_RECORD_KEY = re.compile(r"/executions/[^/]+/execution\.json$")
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


# ---- object layout: one place that names every key ---------------------------------


def render_prefix(bucket: str, render_id: str) -> str:
    return f"gs://{bucket}/renders/{render_id}"


def plan_uri(bucket: str, render_id: str) -> str:
    return f"{render_prefix(bucket, render_id)}/plan.json"


def chunk_uri(bucket: str, render_id: str, index: int, extension: str = "mp4") -> str:
    return f"{render_prefix(bucket, render_id)}/chunks/{index:05d}.{extension}"


def chunk_records_prefix(bucket: str, render_id: str) -> str:
    """The prefix to list for a render's chunks and their records (``CHUNK_RECORD_KEY``)."""
    return f"{render_prefix(bucket, render_id)}/chunks/"


def chunk_record_uri(bucket: str, render_id: str, index: int) -> str:
    return f"{render_prefix(bucket, render_id)}/chunks/{index:05d}.json"


def result_uri(bucket: str, render_id: str) -> str:
    return f"{render_prefix(bucket, render_id)}/result.json"


def request_uri(bucket: str, render_id: str) -> str:
    """The full render request, which the execution argument refers to."""
    return f"{render_prefix(bucket, render_id)}/{REQUEST_OBJECT}"


def executions_prefix(bucket: str, render_id: str) -> str:
    """The prefix to list for a render's execution records (``EXECUTION_RECORD_KEY``)."""
    return f"{render_prefix(bucket, render_id)}/executions/"


def execution_record_uri(bucket: str, render_id: str, execution_name: str) -> str:
    """The SDK's record of one execution of the render (written when it starts or resumes it)."""
    execution_id = execution_name.rsplit("/", 1)[-1]
    if not _EXECUTION_ID.match(execution_id):
        raise InvalidInputError(f"execution {execution_name!r} has no usable id")
    return f"{executions_prefix(bucket, render_id)}{execution_id}/execution.json"


def idempotency_uri(bucket: str, key_hash: str) -> str:
    """The claim an idempotency key makes: ``key_hash`` is the key's SHA-256 (hex)."""
    if not _SHA256.match(key_hash):
        raise InvalidInputError("an idempotency claim is named by the key's SHA-256 (hex)")
    return f"gs://{bucket}/{IDEMPOTENCY_PREFIX}{key_hash}.json"


def check_render_id(render_id: str) -> str:
    """A render id as the service accepts it (``r-`` + hex when the SDK made it)."""
    if not isinstance(render_id, str) or not _RENDER_ID.match(render_id):
        raise InvalidInputError(
            f"{render_id!r} is not a render id (1–64 letters, digits, '-' or '_'); use the id "
            "`framerun cloudrun renders list` prints"
        )
    return render_id


def check_site_id(site_id: str) -> str:
    """A site's id is its tree hash: 64 lowercase hex digits."""
    if not isinstance(site_id, str) or not _SITE_ID.match(site_id):
        raise InvalidInputError(
            f"site id {site_id!r} is not a site id (64 lowercase hex digits); use the id "
            "`framerun cloudrun sites create` printed"
        )
    return site_id


def site_key(site_id: str) -> str:
    """``sites/<site_id>/site.tar.gz``: where a site's archive lives in the bucket."""
    return f"{SITES_PREFIX}{check_site_id(site_id)}/{SITE_ARCHIVE_NAME}"


def site_uri(bucket: str, site_id: str) -> str:
    return f"gs://{bucket}/{site_key(site_id)}"


# ---- field readers --------------------------------------------------------------------


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise InvalidRequestError(f"'{name}' is required")
    value = body[name]
    if not _is_kind(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InvalidRequestError(f"'{name}' must be a {expected}, got {type(value).__name__}")
    return value


def _render_id(body: Mapping[str, Any]) -> str:
    value = _field(body, "renderId", str)
    if not _RENDER_ID.match(value):
        raise InvalidRequestError(
            "'renderId' must be 1–64 letters, digits, '-' or '_' (starting with a letter/digit)"
        )
    return value


def gs_uri_field(body: Mapping[str, Any], name: str, bucket: str) -> str:
    value = _field(body, name, str)
    match = _GS_URI.match(value)
    if not match or len(value) > 1024 or ".." in value.split("/"):
        raise InvalidRequestError(f"'{name}' must be a gs://bucket/key URI")
    if match.group(1) != bucket:
        raise InvalidRequestError(f"'{name}' must be in the render bucket gs://{bucket}")
    return value


def _plan_hash(body: Mapping[str, Any]) -> str:
    value = _field(body, "planHash", str)
    if not _SHA256.match(value):
        raise InvalidRequestError("'planHash' must be 64 lowercase hex digits")
    return value


def _index(body: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = _field(body, name, int)
    if not minimum <= value < MAX_CHUNKS:
        raise InvalidRequestError(f"'{name}' must be in {minimum}–{MAX_CHUNKS - 1}")
    return int(value)


# ---- requests -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRequest:
    render_id: str
    site_uri: str
    output_uri: str
    config: dict[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, bucket: str) -> PlanRequest:
        config = body.get("config", {})
        if not isinstance(config, dict):
            raise InvalidRequestError("'config' must be an object")
        return cls(
            render_id=_render_id(body),
            site_uri=gs_uri_field(body, "siteUri", bucket),
            output_uri=gs_uri_field(body, "outputUri", bucket),
            config=config,
        )

    def stored_json(self) -> dict[str, Any]:
        """``renders/<id>/request.json``: the request the execution argument refers to."""
        return {"siteUri": self.site_uri, "outputUri": self.output_uri, "config": self.config}


@dataclass(frozen=True)
class RenderChunkRequest:
    render_id: str
    plan_uri: str
    plan_hash: str
    chunk_index: int

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, bucket: str) -> RenderChunkRequest:
        return cls(
            render_id=_render_id(body),
            plan_uri=gs_uri_field(body, "planUri", bucket),
            plan_hash=_plan_hash(body),
            chunk_index=_index(body, "chunkIndex", minimum=0),
        )


@dataclass(frozen=True)
class AssembleRequest:
    render_id: str
    plan_uri: str
    plan_hash: str
    chunk_count: int
    output_uri: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, bucket: str) -> AssembleRequest:
        return cls(
            render_id=_render_id(body),
            plan_uri=gs_uri_field(body, "planUri", bucket),
            plan_hash=_plan_hash(body),
            chunk_count=_index(body, "chunkCount", minimum=1),
            output_uri=gs_uri_field(body, "outputUri", bucket),
        )


@dataclass(frozen=True)
class NotifyRequest:
    """The workflow's last word on a render: deliver the completion webhook, if any."""

    render_id: str
    request_uri: str
    status: str
    detail: dict[str, Any]

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, bucket: str) -> NotifyRequest:
        status = _field(body, "status", str)
        if status not in NOTIFY_STATUSES:
            raise InvalidRequestError(f"'status' must be one of {', '.join(NOTIFY_STATUSES)}")
        detail = body.get("detail", {})
        if not isinstance(detail, dict):
            raise InvalidRequestError("'detail' must be an object")
        return cls(
            render_id=_render_id(body),
            request_uri=gs_uri_field(body, "requestUri", bucket),
            status=status,
            detail=detail,
        )


# ---- the execution argument and the render's records ---------------------------------
#
# Each record is a frozen dataclass whose fields, camelCased, are its JSON keys: one
# codec (``_Record``) writes and reads them all, checking each value's type on the way
# in, so no key is spelled twice and no record shape is written by hand.

_KINDS: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
    "dict[str, Any]": dict,
    "list[str]": list,
    "list[dict[str, Any]]": list,
}


class _Record:
    """JSON for a dataclass record: field ``chunk_index`` is key ``chunkIndex``."""

    _what: ClassVar[str] = "a record"

    def to_json(self) -> dict[str, Any]:
        return {camel_case(f.name): getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def to_text(self) -> str:
        return json.dumps(self.to_json())

    @classmethod
    def from_json(cls, data: Any) -> Self:
        if not isinstance(data, Mapping):
            raise _record_error(cls._what, "(the whole object)")
        values: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            key, kind = camel_case(f.name), _KINDS[str(f.type)]
            value: Any = data.get(key)
            if not _is_kind(value, kind):
                raise _record_error(cls._what, key)
            values[f.name] = float(value) if str(f.type) == "float" else value
        return cls(**values)

    @classmethod
    def from_text(cls, text: str | None) -> Self:
        """The record from its JSON text (as an execution's argument or result carries it)."""
        try:
            data = json.loads(text or "{}")
        except json.JSONDecodeError:
            raise _record_error(cls._what, "(not JSON)") from None
        return cls.from_json(data)


def _is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that a bool is not a number."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _record_error(what: str, name: str) -> InvalidRequestError:
    return InvalidRequestError(f"{what} is malformed at '{name}'; was it written by framerun?")


@dataclass(frozen=True)
class ExecutionArgument(_Record):
    """A render execution's argument: references only (the Executions API caps it at 32 KB)."""

    _what = "the execution argument"
    render_id: str
    request_uri: str


@dataclass(frozen=True)
class PlanEnvelope(_Record):
    """``renders/<id>/plan.json``: the engine's plan (its own JSON) and where it came from."""

    _what = "plan.json"
    render_id: str
    site_uri: str
    output_uri: str
    plan: dict[str, Any]
    seconds: float  # planning time, for cost accounting

    @property
    def plan_hash(self) -> str:
        return str(self.plan.get("planHash", ""))

    @property
    def total_frames(self) -> int:
        return int(self.plan.get("frameEnd", 0)) - int(self.plan.get("frameStart", 0))

    @property
    def chunk_count(self) -> int:
        return len(self.plan.get("chunks", []))

    @property
    def max_parallel_chunks(self) -> int:
        return int(self.plan.get("maxParallelChunks", 1))


@dataclass(frozen=True)
class ChunkRecord(_Record):
    """``renders/<id>/chunks/NNNNN.json``: one finished chunk (progress and costs read it)."""

    _what = "a chunk record"
    chunk_index: int
    frames: int
    seconds: float
    start: int
    end: int


@dataclass(frozen=True)
class ResultRecord(_Record):
    """``renders/<id>/result.json``: the output, written once it exists."""

    _what = "result.json"
    output_uri: str
    bytes: int
    frames: int
    seconds: float
    plan_hash: str


@dataclass(frozen=True)
class ExecutionRecord(_Record):
    """``renders/<id>/executions/<execution id>/execution.json``: one execution of a render.

    Written create-only by the SDK (not the service) when it starts a render, and
    again for each resume; the newest says which execution to ask for the
    render's status. ``idempotency_key`` is the SHA-256 of the key the render was
    started with ("" for none), so deleting the render frees its claim.
    """

    _what = "execution.json"
    render_id: str
    execution_name: str
    started_at: str  # ISO 8601
    idempotency_key: str


@dataclass(frozen=True)
class IdempotencyClaim(_Record):
    """``idempotency/<sha256>.json``: which render a key started, and for which request."""

    _what = "an idempotency claim"
    render_id: str
    request_hash: str


@dataclass(frozen=True)
class WorkflowResult(_Record):
    """The render workflow's return value (``workflows/render.yaml`` builds it)."""

    _what = "the workflow's result"
    output_uri: str
    bytes: int
    plan_hash: str
    chunk_count: int


# ---- the Actions' replies (workflows/render.yaml reads these keys) --------------------


@dataclass(frozen=True)
class PlanReply(_Record):
    plan_uri: str
    plan_hash: str
    total_frames: int
    chunk_count: int
    output_uri: str
    max_parallel_chunks: int
    warnings: list[str]
    # The child executions past 20 chunks in flight (render/fanout.py): [] for one
    # execution, else one {first, last, maxParallel} per child.
    groups: list[dict[str, Any]]


@dataclass(frozen=True)
class ChunkReply:
    record: ChunkRecord
    cached: bool

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "cached": self.cached}


@dataclass(frozen=True)
class AssembleReply(_Record):
    output_uri: str
    bytes: int
    seconds: float
    cached: bool
