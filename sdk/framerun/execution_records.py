"""Which executions ran a render: the SDK's create-only records under ``renders/<id>/executions/``.

The service never needs them (an execution's argument names its render); the
SDK does, to go from a render to its execution: ``renders list`` asks the
newest for the status, a second start with the same idempotency key returns
it, a resume adds one. One record per execution, never replaced, like every
other object in the bucket.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from framerun_service.core.errors import InvalidRequestError, ObjectNotFoundError
from framerun_service.core.wire import (
    EXECUTION_RECORD_KEY,
    ExecutionRecord,
    execution_record_uri,
    executions_prefix,
)

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage


def record_execution(
    store: Storage,
    bucket: str,
    render_id: str,
    execution_name: str,
    started_at: datetime,
    idempotency_key: str = "",
) -> None:
    """Write the record of a new execution of ``render_id`` (create-only)."""
    record = ExecutionRecord(render_id, execution_name, started_at.isoformat(), idempotency_key)
    store.write_json_if_absent(
        execution_record_uri(bucket, render_id, execution_name), record.to_json()
    )


def latest_execution(
    store: Storage, bucket: str, render_id: str, keys: Iterable[str] | None = None
) -> ExecutionRecord | None:
    """The newest execution record of ``render_id``, or None if it has none.

    ``keys`` are the render's object keys when the caller has listed them already.
    """
    if keys is None:
        keys = store.list_keys(executions_prefix(bucket, render_id))
    records = []
    for key in keys:
        if EXECUTION_RECORD_KEY.search("/" + key):
            try:
                records.append(ExecutionRecord.from_json(store.read_json(f"gs://{bucket}/{key}")))
            except (ObjectNotFoundError, InvalidRequestError):
                continue  # deleted meanwhile, or not written by framerun
    return max(records, key=lambda r: datetime.fromisoformat(r.started_at), default=None)
