"""The Cloud Run service: ``POST /`` runs an Action, ``GET /healthz`` answers probes.

Each POST must carry a Google-signed OIDC ID token from an allowed invoker;
the body's ``Action`` selects plan, renderChunk or assemble. Every failure is
``{"error": {"code", "message", "retryable"}}`` with a 4xx (bad input, never
retried) or a 5xx/429 (transient, retried by the workflow).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from framerun_service import actions, logs, notify
from framerun_service.auth import OidcVerifier
from framerun_service.errors import FramerunError, InvalidRequestError
from framerun_service.protocol import (
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
from framerun_service.settings import ServiceSettings
from framerun_service.storage import Storage
from werkzeug.exceptions import HTTPException


def create_app(
    settings: ServiceSettings | None = None,
    *,
    storage: Storage | None = None,
    verifier: OidcVerifier | None = None,
    engine: actions.Engine | None = None,
) -> Flask:
    """Build the app; each dependency can be injected, else it is read from the environment."""
    settings = settings or ServiceSettings.from_env()
    storage = storage or Storage.from_env()
    verifier = verifier or OidcVerifier.from_env()
    engine = engine or actions.Engine(work_dir=Path(settings.work_dir))
    logs.configure()

    app = Flask("framerun_service")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["framerun.engine"] = engine
    bucket = settings.render_bucket

    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
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

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/")
    def run_action() -> tuple[Response, int]:
        started = time.perf_counter()
        fields: dict[str, Any] = logs.trace_field(
            request.headers.get(TRACE_HEADER), settings.project_id
        )
        try:
            verifier.verify_header(request.headers.get("Authorization"))
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise InvalidRequestError("the body must be a JSON object with an 'Action'")
            action = body.get("Action")
            fields.update(
                action=action, renderId=body.get("renderId"), chunk=body.get("chunkIndex")
            )
            if action not in handlers:
                raise InvalidRequestError(
                    f"unknown Action {str(action)[:40]!r}; expected one of {', '.join(ACTIONS)}"
                )
            result = handlers[action](body)
            status = 200
            payload: dict[str, Any] = result
            level = logging.INFO
        except FramerunError as exc:
            status, payload, level = exc.http_status, exc.to_json(), logging.WARNING
            fields.update(code=exc.code)
        except Exception:
            logging.getLogger("framerun.request").exception("unhandled error")
            status = 500
            payload = {
                "error": {
                    "code": "INTERNAL",
                    "message": "internal error; see the service logs",
                    "retryable": True,
                }
            }
            level = logging.ERROR
            fields.update(code="INTERNAL")
        fields.update(status=status, seconds=round(time.perf_counter() - started, 3))
        logs.log_request(level, f"{fields.get('action')} {status}", **fields)
        return jsonify(payload), status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = {413: "REQUEST_TOO_LARGE", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
            status, "INVALID_REQUEST"
        )
        return jsonify(
            {"error": {"code": code, "message": exc.description or exc.name, "retryable": False}}
        ), status

    return app
