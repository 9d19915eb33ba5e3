"""Distributed renders on Cloud Run + Workflows: starting one.

A render is one execution of ``workflows/render.yaml``. Starting one:

1. the config is validated (:mod:`framerun.render_validation`), against the
   project's composition, so a typo fails in milliseconds instead of after a
   cold start;
2. the site is uploaded unless an identical one is already in the bucket;
3. the full request ``{siteUri, outputUri, config}`` (built by
   :mod:`framerun.render_request`) is written to ``renders/<id>/request.json``
   (the Executions API caps an argument at 32 KB, variables can be larger),
   create-only;
4. an execution is created whose argument is references only:
   ``{renderId, requestUri}``.

Progress is read from the execution and from the objects the service writes,
which only ever accumulate: ``plan.json``, one record per chunk, ``result.json``
(:mod:`framerun.render_progress`). A render that failed or was cancelled can be
resumed under the same ``renderId`` (:mod:`framerun.render_control`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from framerun import idempotency
from framerun.execution_records import record_execution
from framerun.executions import ExecutionsApi, new_execution, owned_executions, translated
from framerun.render_handle import RenderHandle
from framerun.render_options import merge_render_options
from framerun.render_request import PreparedRender, prepare_render
from framerun.render_validation import validate_render_config
from framerun.sites import check_site_id, deploy_site, hash_site, owned_storage, require_site
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InternalError, InvalidInputError, OutputNotWritableError

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage


def start_prepared(
    prepared: PreparedRender,
    target: CloudRunTarget,
    *,
    storage: Storage,
    executions: ExecutionsApi,
    idempotency_key_hash: str = "",
) -> RenderHandle:
    """Refuse an existing output, write ``request.json`` create-only, create the execution,
    then record it (what ``renders list`` and a second start with the same key read)."""
    if storage.exists(prepared.output_uri):
        raise OutputNotWritableError(
            f"{prepared.output_uri} already exists; framerun never replaces a video, so "
            "choose another output key (or delete the object)"
        )
    if not storage.write_json_if_absent(prepared.request_uri, prepared.request):
        raise InternalError(
            f"{prepared.request_uri} already exists (a render id collision); start the render again"
        )
    with translated("start an execution of", target.workflow_path):
        execution = executions.create_execution(
            parent=target.workflow_path, execution=new_execution(prepared.argument)
        )
    started_at = execution.start_time or datetime.now(UTC)
    record_execution(
        storage,
        prepared.bucket_name,
        prepared.render_id,
        execution.name,
        started_at,
        idempotency_key_hash,
    )
    return RenderHandle(
        render_id=prepared.render_id,
        execution_name=execution.name,
        output_uri=prepared.output_uri,
        bucket_name=prepared.bucket_name,
        started_at=started_at,
    )


def render_to_cloud_run(
    project_dir: str | os.PathLike[str] | None,
    config: Mapping[str, Any] | None = None,
    *,
    composition: str | None = None,
    width: int | str | None = None,
    height: int | str | None = None,
    fps: str | float | None = None,
    duration: str | float | None = None,
    quality: str | None = None,
    crf: int | None = None,
    bitrate: str | None = None,
    variables: Mapping[str, Any] | None = None,
    strict_variables: bool | None = None,
    frames: tuple[int, int] | None = None,
    chunk_size: int | None = None,
    format: str | None = None,
    codec: str | None = None,
    transparent: bool | None = None,
    target_chunk_frames: int | None = None,
    max_parallel_chunks: int | None = None,
    webhook_url: str | None = None,
    idempotency_key: str | None = None,
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

    The render settings are keywords with ``framerun.render()``'s names
    (``width``, ``fps``, ``quality``, ``variables``, ``chunk_size``, ``format``, …)
    plus the distributed ones (``max_parallel_chunks``, ``target_chunk_frames``,
    ``webhook_url``). ``config``, the wire config (camelCase:
    ``{"chunkSize": 120}``), is still accepted; a setting given both ways with
    different values is INVALID_CONFIG. ``format`` defaults to ``output_key``'s
    suffix (else mp4). Without ``chunk_size`` the service sizes chunks itself (to fill
    ``max_parallel_chunks``, each well inside the 1800 s Workflows call cap); a
    ``chunk_size`` that no instance could render within the cap is INVALID_CONFIG.

    ``idempotency_key``: starting again with the same key (same bucket) returns
    the render it started — the same render id and execution, whatever its state
    — instead of a second render, even when both starts race; the same key with
    another request is IdempotencyKeyConflictError.

    Where to render: ``target=`` (e.g. ``CloudRunTarget.local()``), or the five
    connection keywords, or (with neither) ``FRAMERUN_*`` variables. With
    ``site_id`` the already-uploaded site is used (``project_dir`` may then be
    None, which skips the composition checks). ``output_key`` defaults to
    ``renders/<render_id>/output.<ext>``. Everything that can be checked locally
    is checked before the first API call; ``executions`` and ``storage`` are the
    seams for tests (real clients are built and closed otherwise).
    """
    where = resolve_target(
        target,
        bucket_name=bucket_name,
        project_id=project_id,
        location=location,
        workflow_id=workflow_id,
        service_url=service_url,
    )
    options = {
        "composition": composition,
        "width": width,
        "height": height,
        "fps": fps,
        "duration": duration,
        "quality": quality,
        "crf": crf,
        "bitrate": bitrate,
        "variables": variables,
        "strict_variables": strict_variables,
        "frames": frames,
        "chunk_size": chunk_size,
        "format": format,
        "codec": codec,
        "transparent": transparent,
        "target_chunk_frames": target_chunk_frames,
        "max_parallel_chunks": max_parallel_chunks,
        "webhook_url": webhook_url,
    }
    wire = merge_render_options(config, options)
    if output_key is not None and isinstance(wire.get("format"), str | None):
        wire = with_output_format(wire, output_key)
    validate_render_config(wire, project_dir)
    key = idempotency.key_hash(idempotency_key) if idempotency_key is not None else ""
    if site_id is not None:
        local_site_id = check_site_id(site_id)
    elif project_dir is not None:
        local_site_id = hash_site(project_dir)
    else:
        raise InvalidInputError("pass project_dir (to upload the site) or site_id")
    prepared = prepare_render(where, wire, site_id=local_site_id, output_key=output_key)
    fingerprint = idempotency.request_hash(prepared.request["siteUri"], wire, output_key)
    with owned_storage(storage, where) as store, owned_executions(executions, where) as api:
        bucket = where.bucket_name
        for _ in range(MAX_CLAIM_ATTEMPTS if key else 1):
            if key and (found := idempotency.find_started(store, bucket, key, fingerprint)):
                return found
            prepared = _upload_site(prepared, project_dir, site_id, where, store, local_site_id)
            if not key or idempotency.claim(store, bucket, key, prepared.render_id, fingerprint):
                break
        else:
            raise InternalError(
                "another start with this idempotency key kept failing; try again later"
            )
        try:
            return start_prepared(
                prepared, where, storage=store, executions=api, idempotency_key_hash=key
            )
        except BaseException:
            if key:
                idempotency.release(store, bucket, key)
            raise


# A claim can be released by a start that failed just as another one read it.
MAX_CLAIM_ATTEMPTS = 3


def _upload_site(
    prepared: PreparedRender,
    project_dir: str | os.PathLike[str] | None,
    site_id: str | None,
    where: CloudRunTarget,
    store: Storage,
    local_site_id: str,
) -> PreparedRender:
    """Upload the site (or require the given one); follow a file that changed since hashing."""
    if site_id is not None:
        require_site(store, where.bucket_name, site_id)
        return prepared
    assert project_dir is not None
    site = deploy_site(project_dir, target=where, storage=store)
    if site.site_id != local_site_id:  # a file changed since it was hashed
        return replace(prepared, request={**prepared.request, "siteUri": site.site_uri})
    return prepared


def with_output_format(config: Mapping[str, Any], output: str) -> dict[str, Any]:
    """The format an output's name asks for (``.webm`` → WebM), checked against the config's.

    The default (mp4) is left out so the config stays as the user wrote it.
    """
    from framerun_service.render.encoding import format_for_output

    wire = dict(config)
    explicit = wire.get("format")
    wire["format"] = format_for_output(output, explicit)
    if explicit is None and wire["format"] == "mp4":
        del wire["format"]
    return wire


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
