"""Helpers for the Workflows emulator tests: run YAML snippets, and a tiny HTTP server.

:class:`FakeServer` answers with a test-supplied function and measures what the
emulator's semantics promise: how many requests were in flight at once (the
parallel ``concurrency_limit``), and every request it saw, in order.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from framerun.local.issuer import LocalIssuer
from framerun.local.workflows import (
    Emulator,
    ExecutionContext,
    WorkflowError,
    load_workflow,
    run_workflow,
)
from framerun.target import CloudRunTarget
from tests.service.service_harness import INVOKER


def run(source: str, argument: Any = None, **context: Any) -> Any:
    """Load ``source`` (dedented) and run it; ``context`` goes to :class:`ExecutionContext`."""
    workflow = load_workflow(textwrap.dedent(source))
    return run_workflow(workflow, argument, context=ExecutionContext(**context))


def fail(source: str, argument: Any = None, **context: Any) -> Any:
    """Run ``source`` expecting it to fail; the error payload."""
    with pytest.raises(WorkflowError) as info:
        run(source, argument, **context)
    return info.value.payload


class SleepRecorder:
    """Stands in for real waiting: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)


class _WideServer(ThreadingHTTPServer):
    """A listen backlog for hundreds of simultaneous connections (the default 5 refuses
    some when a fan-out opens 60 at once, and the workflow then retries them)."""

    request_queue_size = 512


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # parsed JSON when it was JSON, else text (None when empty)


Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


class FakeServer:
    """An HTTP server on 127.0.0.1 whose answers come from ``handler(request)``.

    ``handler`` returns ``(status, body)`` or ``(status, body, headers)``; a dict
    or list body goes as JSON, a string as text/plain. ``delay_s`` holds each
    request open that long, so concurrency is observable.
    """

    def __init__(self, handler: Callable[[Request], Reply], *, delay_s: float = 0.0) -> None:
        self.handler = handler
        self.delay_s = delay_s
        self.requests: list[Request] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = _WideServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _serve(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return self.handler(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                body: Any = None
                if raw:
                    text = raw.decode()
                    body = json.loads(text) if "json" in headers.get("content-type", "") else text
                reply = fake._serve(Request(self.command, self.path, headers, body))
                status, payload = reply[0], reply[1]
                extra = reply[2] if len(reply) == 3 else {}
                if isinstance(payload, dict | list):
                    data, kind = json.dumps(payload).encode(), "application/json"
                else:
                    data, kind = ("" if payload is None else str(payload)).encode(), "text/plain"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout or cancel test): expected

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# ---- the real render workflow on the emulator, for full-stack tests -----------------

STACK_PROJECT, STACK_LOCATION = "framerun-test", "local"
_REPO = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def render_workflow(
    issuer: LocalIssuer,
    *,
    service_url: str,
    bucket: str,
    storage_host: str,
    sleep: Callable[[float], None],
) -> Iterator[tuple[Emulator, CloudRunTarget]]:
    """``workflows/render.yaml`` deployed on a started emulator that calls ``service_url``
    with the issuer's tokens, and the target an SDK renders to; stopped on exit."""
    emulator = Emulator(
        project=STACK_PROJECT,
        location=STACK_LOCATION,
        token_url=issuer.token_url,
        invoker_email=INVOKER,
        sleep=sleep,
    )
    try:
        emulator.deploy(
            "render",
            (_REPO / "workflows" / "render.yaml").read_text(),
            {"FRAMERUN_SERVICE_URL": service_url},
        )
        target = CloudRunTarget(
            bucket,
            STACK_PROJECT,
            STACK_LOCATION,
            "render",
            service_url,
            executions_endpoint=emulator.start(),
            storage_emulator_host=storage_host,
        )
        yield emulator, target
    finally:
        emulator.stop()
