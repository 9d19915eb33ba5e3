"""Cancelling and resuming a distributed render, by its handle or execution name.

Both act on an execution that already exists, so neither builds a request: a
resumed render is a new execution with the old one's argument, hence the same
``renderId``. The service keeps every artifact create-only and keyed by the
render id and plan hash, so the plan is found again and finished chunks answer
from the bucket instead of rendering.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from framerun.execution_records import latest_execution, record_execution
from framerun.executions import (
    CANCELLED,
    FAILED,
    ExecutionsApi,
    execution_status,
    new_execution,
    owned_executions,
    render_refs,
    translated,
)
from framerun.render_handle import RenderHandle, execution_name_of
from framerun.render_request import default_output_key
from framerun.sites import owned_storage
from framerun_service.core.errors import FramerunError, InvalidInputError
from framerun_service.core.wire import ExecutionArgument, PlanRequest

if TYPE_CHECKING:
    from framerun.target import CloudRunTarget
    from framerun_service.core.storage import Storage


def cancel_render(
    handle_or_execution_name: RenderHandle | str,
    *,
    target: CloudRunTarget | None = None,
    executions: ExecutionsApi | None = None,
) -> None:
    """Cancel a running render's execution.

    No new step starts after this; a chunk already being rendered finishes on its
    instance and stays in the bucket (so :func:`resume_render` can reuse it), but
    the output is never assembled. Progress then reports ``cancelled``. A render
    fanned out to child executions (more than 20 chunks in flight) stops too: each
    child reads this execution's state before every chunk and starts no new one.
    """
    name = execution_name_of(handle_or_execution_name)
    with owned_executions(executions, target) as api, translated("cancel execution", name):
        api.cancel_execution(name=name)


def resume_render(
    handle_or_execution_name: RenderHandle | str,
    *,
    target: CloudRunTarget | None = None,
    executions: ExecutionsApi | None = None,
    storage: Storage | None = None,
) -> RenderHandle:
    """Run a failed or cancelled render again under the same ``renderId``.

    A new execution gets the old one's argument ``{renderId, requestUri}``. The plan
    step finds ``plan.json`` already there (and refuses with PLAN_HASH_MISMATCH if
    the site, config, engine or browser changed since: start a new render then);
    every chunk already in the bucket with this plan's hash is reused, not rendered
    again. Returns the new execution's handle; the output URI is unchanged.
    """
    from framerun_service.core.storage import gs_uri

    name = execution_name_of(handle_or_execution_name)
    with owned_executions(executions, target) as api, owned_storage(storage, target) as store:
        with translated("read execution", name):
            previous = api.get_execution(name=name)
        status = execution_status(previous)
        if status not in (FAILED, CANCELLED):
            raise InvalidInputError(
                f"execution {name} is {status}: only a failed or cancelled render can be "
                "resumed (wait for it, or cancel it first)"
            )
        render_id, bucket = render_refs(previous)
        request_uri = ExecutionArgument.from_text(previous.argument).request_uri
        if not store.exists(request_uri):
            raise InvalidInputError(
                f"{request_uri} is gone (cleaned up?), so render {render_id} cannot be "
                "resumed; start a new render"
            )
        output_uri = _stored_output_uri(store, request_uri, render_id, bucket)
        parent = name.rsplit("/executions/", 1)[0]
        with translated("start an execution of", parent):
            execution = api.create_execution(
                parent=parent, execution=new_execution(previous.argument)
            )
        started_at = execution.start_time or datetime.now(UTC)
        first = latest_execution(store, bucket, render_id)
        key = first.idempotency_key if first is not None else ""
        record_execution(store, bucket, render_id, execution.name, started_at, key)
    return RenderHandle(
        render_id=render_id,
        execution_name=execution.name,
        output_uri=output_uri or gs_uri(bucket, default_output_key(render_id)),
        bucket_name=bucket,
        started_at=started_at,
    )


def _stored_output_uri(store: Storage, uri: str, render_id: str, bucket: str) -> str | None:
    """The output the stored request names, or None when the object is not a request."""
    stored = store.read_json(uri)
    if not isinstance(stored, dict):
        return None
    try:
        return PlanRequest.from_json({**stored, "renderId": render_id}, bucket=bucket).output_uri
    except FramerunError:
        return None
