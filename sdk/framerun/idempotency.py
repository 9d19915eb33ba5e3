"""Idempotency keys: the same key starts one render, however often (or at once) it is sent.

A key claims ``idempotency/<sha256(key)>.json`` in the bucket with a create-only
write, naming the render it starts and a hash of its request. Of two starts that
race, exactly one write succeeds (``ifGenerationMatch=0``); the other reads the
claim and returns the winner's render once the winner has recorded its execution
(``renders/<id>/executions/…``). A claim made for another request (project
files, config or output key) is refused: the same key must mean the same video.
A start that fails after claiming releases the claim, so the key can be retried.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from framerun.execution_records import latest_execution
from framerun.render_handle import RenderHandle
from framerun_service.core.errors import (
    IdempotencyKeyConflictError,
    InternalError,
    InvalidInputError,
    ObjectNotFoundError,
)
from framerun_service.core.wire import (
    ExecutionRecord,
    IdempotencyClaim,
    PlanRequest,
    idempotency_uri,
    request_uri,
)

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage

# How long a second start waits for the first one to create its execution.
WAIT_FOR_EXECUTION_S = 30.0
POLL_S = 0.1
MAX_KEY_CHARS = 256


def key_hash(key: str) -> str:
    """The key's SHA-256 (hex): any text becomes a safe object name, and keys stay private."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise InvalidInputError(
            f"idempotency_key must be 1–{MAX_KEY_CHARS} characters, e.g. a job id or a UUID"
        )
    return hashlib.sha256(key.encode()).hexdigest()


def request_hash(site_uri: str, config: Mapping[str, Any], output_key: str | None) -> str:
    """What makes two starts "the same request": the site, the config and the output key."""
    body = {"siteUri": site_uri, "config": dict(config), "outputKey": output_key}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(store: Storage, bucket: str, key: str, render_id: str, request: str) -> bool:
    """Claim ``key`` (its hash) for ``render_id``; False if another start holds it."""
    return store.write_json_if_absent(
        idempotency_uri(bucket, key), IdempotencyClaim(render_id, request).to_json()
    )


def release(store: Storage, bucket: str, key: str) -> None:
    """Free the claim after a failed start, so the same key can be tried again."""
    store.delete(idempotency_uri(bucket, key))


def find_started(
    store: Storage,
    bucket: str,
    key: str,
    request: str,
    *,
    wait_s: float = WAIT_FOR_EXECUTION_S,
    sleep: Callable[[float], None] = time.sleep,
) -> RenderHandle | None:
    """The render ``key`` already started, or None when the key is free.

    Waits (up to ``wait_s``) for a racing start to record its execution; returns
    None if that start gave up and released the claim meanwhile.
    """
    uri = idempotency_uri(bucket, key)
    deadline = time.monotonic() + wait_s
    first: IdempotencyClaim | None = None
    while True:
        held = _read(store, uri, IdempotencyClaim.from_json)
        if held is None:
            return None
        if held.request_hash != request:
            raise IdempotencyKeyConflictError(
                f"this idempotency key already started render {held.render_id} with a "
                "different request (project files, config or output key); use a new key for "
                "a new render, or send the same request to get that render back"
            )
        first = first or held
        record = latest_execution(store, bucket, held.render_id)
        if record is not None:
            return _handle(store, bucket, record)
        if time.monotonic() >= deadline:
            raise InternalError(
                f"render {first.render_id} holds this idempotency key but has no execution "
                f"after {wait_s:g}s (its start may have crashed); retry later, or use a new key"
            )
        sleep(POLL_S)


def _handle(store: Storage, bucket: str, record: ExecutionRecord) -> RenderHandle:
    stored = store.read_json(request_uri(bucket, record.render_id))
    request = PlanRequest.from_json({**stored, "renderId": record.render_id}, bucket=bucket)
    return RenderHandle(
        render_id=record.render_id,
        execution_name=record.execution_name,
        output_uri=request.output_uri,
        bucket_name=bucket,
        started_at=datetime.fromisoformat(record.started_at),
    )


def _read(store: Storage, uri: str, parse: Callable[[Any], Any]) -> Any:
    try:
        return parse(store.read_json(uri))
    except ObjectNotFoundError:
        return None
