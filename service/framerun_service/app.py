"""The Cloud Run service: ``POST /`` runs an Action, ``GET /healthz`` answers probes.

Each POST must carry a Google-signed OIDC ID token from an allowed invoker;
the body's ``Action`` selects plan, renderChunk or assemble. Every failure is
``{"error": {"code", "message", "retryable"}}`` with a 4xx (bad input, never
retried) or a 5xx/429 (transient, retried by the workflow).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from framerun_service import actions, logs, notify
from framerun_service.auth import OidcVerifier
from framerun_service.core.errors import FramerunError, InternalError, InvalidRequestError
from framerun_service.core.storage import Storage
from framerun_service.core.wire import (
    ACTION_ASSEMBLE,
    ACTION_NOTIFY,
    ACTION_PLAN,
    ACTION_RENDER_CHUNK,
    ACTIONS,
    TRACE_HEADER,
    AssembleRequest,
    NotifyRequest,
    RenderChunkRequest,
)
from framerun_service.engine_state import Engine
from framerun_service.settings import ServiceSettings

# Real Action bodies nest three levels (body → config → variables); anything far
# deeper is an attack on the parser or on code that walks the body recursively.
MAX_JSON_DEPTH = 32
_LOGGED_CHARS = 80  # request fields echoed into logs are cut to this


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def create_app(
    settings: ServiceSettings | None = None,
    *,
    storage: Storage | None = None,
    verifier: OidcVerifier | None = None,
    engine: Engine | None = None,
) -> Flask:
    """Build the app; each dependency can be injected, else it is read from the environment."""
    settings = settings or ServiceSettings.from_env()
    storage = storage or Storage.from_env()
    verifier = verifier or OidcVerifier.from_env()
    engine = engine or Engine(
        work_dir=Path(settings.work_dir),
        chunk_pages=settings.chunk_pages,
        max_instances=settings.max_instances,
    )
    logs.configure()

    app = Flask("framerun_service")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["framerun.engine"] = engine  # gunicorn_conf closes it when the worker exits
    handlers = _action_handlers(storage, engine, settings)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/")
    def run_action() -> tuple[Response, int]:
        return _answer_action(handlers, verifier, settings)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(_http_error_json(exc)), exc.code or 500

    return app


def _action_handlers(
    storage: Storage, engine: Engine, settings: ServiceSettings
) -> dict[str, Handler]:
    """Each Action's handler: parse its body for this bucket, then run it.

    Every request names objects in the one render bucket the service is configured
    for; the parsers refuse any other.
    """
    bucket = settings.render_bucket
    return {
        ACTION_PLAN: lambda b: actions.plan(
            storage, engine, actions.plan_request(storage, b, bucket=bucket), bucket=bucket
        ),
        ACTION_RENDER_CHUNK: lambda b: actions.render_chunk(
            storage, engine, RenderChunkRequest.from_json(b, bucket=bucket), bucket=bucket
        ),
        ACTION_NOTIFY: lambda b: notify.notify(
            storage, NotifyRequest.from_json(b, bucket=bucket), settings
        ),
        ACTION_ASSEMBLE: lambda b: actions.assemble(
            storage, engine, AssembleRequest.from_json(b, bucket=bucket), bucket=bucket
        ),
    }


def _answer_action(
    handlers: dict[str, Handler], verifier: OidcVerifier, settings: ServiceSettings
) -> tuple[Response, int]:
    """Run the request's Action and answer it; every outcome logs one structured line."""
    started = time.perf_counter()
    fields: dict[str, Any] = logs.trace_field(
        request.headers.get(TRACE_HEADER), settings.project_id
    )
    try:
        payload = _dispatch(handlers, verifier, fields)
        status, level = 200, logging.INFO
    except Exception as exc:
        status, payload, level = _error_reply(exc, fields)
    fields.update(status=status, seconds=round(time.perf_counter() - started, 3))
    logs.log_request(level, f"{fields.get('action')} {status}", **fields)
    return jsonify(payload), status


def _dispatch(
    handlers: dict[str, Handler], verifier: OidcVerifier, fields: dict[str, Any]
) -> dict[str, Any]:
    """Check the caller, read the body, and run the handler its ``Action`` names.

    The caller is verified before the body is read, so an unauthenticated request
    costs no parsing; what identifies the request is added to the log ``fields``.
    """
    verifier.verify_header(request.headers.get("Authorization"))
    body = _json_body()
    action = body.get("Action")
    fields.update(
        action=_loggable(action),
        renderId=_loggable(body.get("renderId")),
        chunk=_loggable(body.get("chunkIndex")),
    )
    if not isinstance(action, str) or action not in handlers:
        raise InvalidRequestError(
            f"unknown Action {str(action)[:40]!r}; expected one of {', '.join(ACTIONS)}"
        )
    return handlers[action](body)


def _error_reply(exc: Exception, fields: dict[str, Any]) -> tuple[int, dict[str, Any], int]:
    """A failure as (HTTP status, error body, log level); its code goes into ``fields``.

    Typed errors keep their status (4xx never retried, 5xx/429 retried by the
    workflow); anything unexpected is a 500 whose details stay in the service logs.
    Call it from an ``except`` block: an unexpected error is logged with its traceback.
    """
    if isinstance(exc, FramerunError):
        fields.update(code=exc.code)
        return exc.http_status, exc.to_json(), logging.WARNING
    if isinstance(exc, HTTPException):  # e.g. 413 while reading an oversized body
        payload = _http_error_json(exc)
        fields.update(code=payload["error"]["code"])
        return exc.code or 400, payload, logging.WARNING
    logging.getLogger("framerun.request").exception("unhandled error")
    internal = InternalError("internal error; see the service logs")
    fields.update(code=internal.code)
    return 500, internal.to_json(), logging.ERROR


def _http_error_json(exc: HTTPException) -> dict[str, Any]:
    status = exc.code or 500
    code = {413: "REQUEST_TOO_LARGE", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
        status, "INVALID_REQUEST"
    )
    message = exc.description or exc.name
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = (
            f"the request body is over the {limit}-byte limit; pass large data by "
            "reference (requestUri naming an object in the render bucket)"
        )
    return {"error": {"code": code, "message": message, "retryable": False}}


def _json_body() -> dict[str, Any]:
    """The request body as a JSON object, or InvalidRequestError saying what is wrong.

    Stricter than ``request.get_json``: JSON only (no ``NaN``/``Infinity``, which
    Python's parser accepts and nothing downstream expects), UTF-8, at most
    ``MAX_JSON_DEPTH`` levels deep. Reading past ``MAX_CONTENT_LENGTH`` raises
    werkzeug's 413, answered as ``REQUEST_TOO_LARGE``.
    """
    if not request.is_json:
        raise InvalidRequestError(
            "the body must be a JSON object with an 'Action' (Content-Type: application/json)"
        )
    data = request.get_data(cache=False)
    try:
        body = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidRequestError(
            f"the JSON body is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as exc:  # also UnicodeDecodeError
        raise InvalidRequestError(f"the body is not valid UTF-8 JSON: {str(exc)[:120]}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object with an 'Action'")
    if _depth_exceeds(body, MAX_JSON_DEPTH):
        raise InvalidRequestError(
            f"the JSON body is nested too deeply (the limit is {MAX_JSON_DEPTH} levels)"
        )
    return body


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON; send a finite number or null")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/objects more than ``limit`` levels (iterative)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _loggable(value: Any) -> Any:
    """A request field as it may appear in a log line: short, and valid JSON."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 1 << 53 else str(value)[:_LOGGED_CHARS]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value[:_LOGGED_CHARS]
    return f"<{type(value).__name__}>"
