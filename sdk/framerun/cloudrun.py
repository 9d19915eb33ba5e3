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

from framerun.executions import ExecutionsApi, new_execution, owned_executions, translated
from framerun.render_handle import RenderHandle
from framerun.render_request import PreparedRender, prepare_render
from framerun.render_validation import validate_render_config
from framerun.sites import check_site_id, deploy_site, hash_site, owned_storage, require_site
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InternalError, InvalidInputError, OutputNotWritableError

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage


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
        raise InternalError(
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
