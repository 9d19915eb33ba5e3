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

A render that failed or was cancelled can be resumed (:func:`resume_render`): a new
execution with the same argument, so the same ``renderId``. The service keeps
every artifact create-only and keyed by the render id and plan hash, so the plan
is found again and finished chunks answer from the bucket instead of rendering.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from framerun_service.core import wire
from framerun_service.core.errors import (
    ArgumentTooLargeError,
    FramerunError,
    InternalError,
    InvalidConfigError,
    InvalidInputError,
    OutputNotWritableError,
)
from framerun_service.core.wire import ExecutionArgument, PlanRequest

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage
    from framerun_service.render.config import RenderConfig

# The request object's cap: the service reads it whole into memory for every plan.
MAX_REQUEST_BYTES = 512 * 1024
RENDER_ID_PREFIX = "r-"
DEFAULT_OUTPUT_STEM = "output"
# Keys the SDK itself owns: an output there could clash with a content-addressed site.
_RESERVED_PREFIXES = (wire.SITES_PREFIX,)


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
    comp = load_composition(
        Path(project_dir), entry=parsed.composition, overrides=parsed.overrides()
    )
    # The plan the service will make, to its limits (the chunk cap among them).
    make_plan(
        comp,
        parsed.encoder(comp.fps),
        site_hash="0" * 64,  # placeholders: only the shape of the plan is checked here
        browser_version="unknown",
        frames=parsed.frames,
        chunk_size=parsed.chunk_size,
        target_chunk_frames=parsed.target_chunk_frames,
        max_parallel_chunks=parsed.max_parallel_chunks,
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


def default_output_key(render_id: str, video_format: str = "mp4") -> str:
    """``renders/<id>/output.<ext>``: a PNG sequence is one ``.tar``."""
    from framerun_service.render.encoding import EXTENSIONS

    # An unknown format is refused by the config check (INVALID_CONFIG), not here.
    return f"renders/{render_id}/{DEFAULT_OUTPUT_STEM}.{EXTENSIONS.get(video_format, 'mp4')}"


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
    key = (
        check_output_key(output_key)
        if output_key is not None
        else default_output_key(render_id, str(config.get("format", "mp4")))
    )
    plan_request = PlanRequest(
        render_id=render_id,
        site_uri=site_uri(bucket, site_id),
        output_uri=f"gs://{bucket}/{key}",
        config=dict(config),
    )
    request = plan_request.stored_json()
    size = len(canonical_json(request))
    if size > MAX_REQUEST_BYTES:
        raise ArgumentTooLargeError(
            f"the render request is {size:,} bytes, over the {MAX_REQUEST_BYTES // 1024} KiB "
            "limit; move large data (images, long lists) into the project folder and pass "
            "file names as variables"
        )
    request_uri = wire.request_uri(bucket, render_id)
    argument = ExecutionArgument(render_id, request_uri).to_json()
    if len(argument.encode()) > MAX_ARGUMENT_BYTES:
        raise ArgumentTooLargeError(
            f"the execution argument is {len(argument.encode()):,} bytes, over the Executions "
            f"API's {MAX_ARGUMENT_BYTES // 1024} KB; use a shorter bucket name"
        )
    return PreparedRender(
        render_id=render_id,
        bucket_name=bucket,
        output_uri=plan_request.output_uri,
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


def cancel_render(
    handle_or_execution_name: RenderHandle | str,
    *,
    target: CloudRunTarget | None = None,
    executions: ExecutionsApi | None = None,
) -> None:
    """Cancel a running render's execution.

    No new step starts after this; a chunk already being rendered finishes on its
    instance and stays in the bucket (so :func:`resume_render` can reuse it), but
    the output is never assembled. Progress then reports ``cancelled``.
    """
    name = _execution_name(handle_or_execution_name)
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
    from framerun.executions import CANCELLED, FAILED, execution_status, render_refs
    from framerun_service.core.storage import gs_uri

    name = _execution_name(handle_or_execution_name)
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
        request_uri = ExecutionArgument.from_json(previous.argument).request_uri
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
    return RenderHandle(
        render_id=render_id,
        execution_name=execution.name,
        output_uri=output_uri or gs_uri(bucket, default_output_key(render_id)),
        bucket_name=bucket,
        started_at=execution.start_time or datetime.now(UTC),
    )


def _execution_name(handle_or_execution_name: RenderHandle | str) -> str:
    if isinstance(handle_or_execution_name, RenderHandle):
        return handle_or_execution_name.execution_name
    return handle_or_execution_name


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


def _stored_output_uri(store: Storage, uri: str, render_id: str, bucket: str) -> str | None:
    """The output the stored request names, or None when the object is not a request."""
    stored = store.read_json(uri)
    if not isinstance(stored, dict):
        return None
    try:
        return PlanRequest.from_json({**stored, "renderId": render_id}, bucket=bucket).output_uri
    except FramerunError:
        return None
