"""Preparing a render: its id, the request object and the execution argument.

Pure and IO-free, so a batch can prepare every line (and refuse the whole file)
before the first upload. The full request ``{siteUri, outputUri, config}`` goes
to ``renders/<id>/request.json`` because the Executions API caps an argument at
32 KB and variables can be larger; the argument carries references only,
``{renderId, requestUri}``. Both size caps are enforced here.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framerun.executions import MAX_ARGUMENT_BYTES
from framerun.render_validation import check_output_key
from framerun.sites import site_uri
from framerun_service.core import wire
from framerun_service.core.errors import ArgumentTooLargeError, InvalidConfigError
from framerun_service.core.wire import ExecutionArgument, PlanRequest

if TYPE_CHECKING:
    from framerun.target import CloudRunTarget

# The request object's cap: the service reads it whole into memory for every plan.
MAX_REQUEST_BYTES = 512 * 1024
RENDER_ID_PREFIX = "r-"
DEFAULT_OUTPUT_STEM = "output"


@dataclass(frozen=True)
class PreparedRender:
    """A render checked and ready to start: the request object and the execution argument."""

    render_id: str
    bucket_name: str
    output_uri: str
    request_uri: str
    request: dict[str, Any]
    argument: str


def new_render_id() -> str:
    """``r-`` + 20 hex digits: 80 random bits, unique without coordination."""
    return RENDER_ID_PREFIX + secrets.token_hex(10)


def default_output_key(render_id: str, video_format: str = "mp4") -> str:
    """``renders/<id>/output.<ext>``: a PNG sequence is one ``.tar``."""
    from framerun_service.render.encoding import EXTENSIONS

    # An unknown format is refused by the config check (INVALID_CONFIG), not here.
    return f"renders/{render_id}/{DEFAULT_OUTPUT_STEM}.{EXTENSIONS.get(video_format, 'mp4')}"


def _check_output_suffix(key: str, explicit: Any) -> None:
    """A key whose suffix names no format (``videos/a.avi``) or another format than the
    config's is refused (INVALID_CONFIG) before anything is uploaded."""
    from framerun_service.render.encoding import FORMATS, format_for_output

    format_for_output(key, explicit if explicit in FORMATS else None)


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
    if output_key is not None:
        key = check_output_key(output_key)
        _check_output_suffix(key, config.get("format"))
    else:
        key = default_output_key(render_id, str(config.get("format", "mp4")))
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
    argument = ExecutionArgument(render_id, request_uri).to_text()
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


def canonical_json(obj: Any) -> bytes:
    """The bytes Storage writes for a JSON record (sorted keys, compact), JSON-only values."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError(
            f"the render request is not plain JSON ({exc}); pass only strings, numbers, "
            "booleans, null, lists and objects (no NaN or Infinity)"
        ) from None
