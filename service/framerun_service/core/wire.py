"""The Action protocol between the workflow and the service: wire models and object keys.

Frozen snake_case dataclasses with one ``from_json`` boundary each; the JSON on
the wire is camelCase because Cloud Workflows' YAML reads it. Validation here is
IO-free: a malformed body is an ``InvalidRequestError`` (400, never retried).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framerun_service.core.errors import InvalidRequestError

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


# ---- object layout: one place that names every key ---------------------------------


def render_prefix(bucket: str, render_id: str) -> str:
    return f"gs://{bucket}/renders/{render_id}"


def plan_uri(bucket: str, render_id: str) -> str:
    return f"{render_prefix(bucket, render_id)}/plan.json"


def chunk_uri(bucket: str, render_id: str, index: int, extension: str = "mp4") -> str:
    return f"{render_prefix(bucket, render_id)}/chunks/{index:05d}.{extension}"


def chunk_record_uri(bucket: str, render_id: str, index: int) -> str:
    return f"{render_prefix(bucket, render_id)}/chunks/{index:05d}.json"


def result_uri(bucket: str, render_id: str) -> str:
    return f"{render_prefix(bucket, render_id)}/result.json"


# ---- field readers --------------------------------------------------------------------


def _field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise InvalidRequestError(f"'{name}' is required")
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
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
