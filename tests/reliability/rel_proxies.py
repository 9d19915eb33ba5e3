"""Fault-injecting loopback proxies for the reliability suite.

Two of them sit in the local stack's wires::

    Workflows emulator ──► ServiceProxy ──► gunicorn service ──► StorageProxy ──► fake-gcs-server

* :class:`StorageProxy` sees every Cloud Storage request the service makes (the
  service's ``STORAGE_EMULATOR_HOST`` points at it). A test's ``hook`` decides per
  request: forward it, answer 503, hold it for a while (a storage that stops
  answering), drop it, or run something (SIGKILL the workers) before or after
  the request reaches storage. Every exchange is logged, so a test can count the
  faults served and check that no object was ever created twice.
* :class:`ServiceProxy` sees every Action the workflow sends. It records each
  one (with the service's ``cached`` flag, so chunk renders can be counted), can
  answer in the service's place, and can deliver a request twice at once.

When the upstream connection breaks (a SIGKILLed worker), both proxies close the
client's connection without an answer, exactly what the client would have seen
without a proxy in between.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UPSTREAM_TIMEOUT_S = 300.0
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-length",
}
_UPLOAD_NAME = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Directive:
    """What a hook wants done with one request (the default: just forward it)."""

    respond: int | None = None  # answer with this status instead of forwarding
    body: bytes = b""
    hold_until: float | None = None  # time.monotonic() before which it is not forwarded
    wait: threading.Event | None = None  # ... or until this is set (bounded by hold_until)
    before: Callable[[], None] | None = None  # run just before forwarding
    after: Callable[[], None] | None = None  # run once upstream answered, before replying
    drop: bool = False  # close the connection without an answer, never forward
    duplicate: bool = False  # ServiceProxy: deliver twice concurrently, reply with the first


FORWARD = Directive()


@dataclass
class Exchange:
    """One request seen by a proxy and what became of it."""

    method: str
    path: str
    kind: str  # storage: upload | download | stat | list | other; service: the Action
    name: str | None  # storage: the object name; service: renderId
    chunk: int | None = None
    status: int | None = None  # None: no answer (dropped, or the upstream died)
    injected: bool = False
    cached: bool | None = None
    generation: int | None = None  # storage uploads: the generation created
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    response: Any = None  # service: the parsed JSON answer


class _Proxy:
    """A threaded HTTP/1.1 proxy to one upstream ``http://host:port``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self.log: list[Exchange] = []
        self.hook: Callable[[Exchange], Directive | None] | None = None
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name=f"proxy {self.url}", daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        with self.lock:
            self.hook = None
            self.log = []

    def exchanges(self) -> list[Exchange]:
        with self.lock:
            return list(self.log)

    # -- one request ----------------------------------------------------------------------

    def describe(self, method: str, path: str, body: bytes) -> Exchange:
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        exchange = self.describe(handler.command, handler.path, body)
        with self.lock:
            self.log.append(exchange)
            hook = self.hook
        directive = (hook(exchange) if hook is not None else None) or FORWARD
        if directive.drop:
            exchange.ended = time.monotonic()
            handler.close_connection = True
            return
        if directive.respond is not None:
            exchange.status, exchange.injected = directive.respond, True
            exchange.ended = time.monotonic()
            _reply(
                handler, directive.respond, [("Content-Type", "application/json")], directive.body
            )
            return
        _hold(directive)
        if directive.before is not None:
            directive.before()
        answer = self.forward(handler, body, exchange, directive)
        if directive.after is not None:
            directive.after()
        exchange.ended = time.monotonic()
        if answer is None:  # the upstream died mid-request: so does our answer
            handler.close_connection = True
            return
        status, headers, data = answer
        exchange.status = status
        self.observe(exchange, data)
        _reply(handler, status, headers, data)

    def forward(
        self,
        handler: BaseHTTPRequestHandler,
        body: bytes,
        exchange: Exchange,
        directive: Directive,
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        return _send(self.upstream, handler.command, handler.path, handler.headers, body)

    def observe(self, exchange: Exchange, data: bytes) -> None:
        pass


class StorageProxy(_Proxy):
    """In front of fake-gcs-server: the service's every Cloud Storage request."""

    def describe(self, method: str, path: str, body: bytes) -> Exchange:
        parts = urllib.parse.urlsplit(path)
        segments = parts.path.split("/")
        name: str | None = None
        if parts.path.startswith("/upload/"):
            kind = "upload"
            query = urllib.parse.parse_qs(parts.query)
            if "name" in query:
                name = query["name"][0]
            else:
                match = _UPLOAD_NAME.search(body[:4096])
                name = json.loads(b'"' + match.group(1) + b'"') if match else None
        elif "/o/" in parts.path:
            name = urllib.parse.unquote(parts.path.split("/o/", 1)[1])
            kind = "download" if segments[1] == "download" else "stat"
            if method not in ("GET", "HEAD"):
                kind = "other"
        elif parts.path.endswith("/o"):
            kind = "list"
        else:
            kind = "other"
        return Exchange(method, path, kind, name)

    def observe(self, exchange: Exchange, data: bytes) -> None:
        if exchange.kind == "upload" and exchange.status == 200:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                exchange.generation = int(json.loads(data)["generation"])

    def uploads(self, name: str) -> list[Exchange]:
        return [e for e in self.exchanges() if e.kind == "upload" and e.name == name]


class ServiceProxy(_Proxy):
    """Between the Workflows emulator and the service: every Action the workflow sends."""

    def describe(self, method: str, path: str, body: bytes) -> Exchange:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        request = request if isinstance(request, dict) else {}
        chunk = request.get("chunkIndex")
        return Exchange(
            method,
            path,
            str(request.get("Action")),
            request.get("renderId"),
            chunk if isinstance(chunk, int) else None,
        )

    def forward(
        self,
        handler: BaseHTTPRequestHandler,
        body: bytes,
        exchange: Exchange,
        directive: Directive,
    ) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if not directive.duplicate:
            return super().forward(handler, body, exchange, directive)
        twin = Exchange(
            exchange.method, exchange.path, exchange.kind, exchange.name, exchange.chunk
        )
        with self.lock:
            self.log.append(twin)
        answers: list[Any] = [None, None]

        def send(slot: int) -> None:
            answers[slot] = _send(
                self.upstream, handler.command, handler.path, handler.headers, body
            )

        threads = [threading.Thread(target=send, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(UPSTREAM_TIMEOUT_S)
        if answers[1] is not None:
            twin.status, twin.ended = answers[1][0], time.monotonic()
            self.observe(twin, answers[1][2])
        return answers[0]

    def observe(self, exchange: Exchange, data: bytes) -> None:
        with contextlib.suppress(ValueError):
            exchange.response = json.loads(data)
            if isinstance(exchange.response, dict):
                cached = exchange.response.get("cached")
                exchange.cached = cached if isinstance(cached, bool) else None

    def actions(self, render_id: str | None = None, kind: str | None = None) -> list[Exchange]:
        return [
            e
            for e in self.exchanges()
            if (render_id is None or e.name == render_id) and (kind is None or e.kind == kind)
        ]

    def chunk_renders(self, render_id: str) -> list[int]:
        """Chunk indices the service really rendered (answered 200, not from the bucket)."""
        return sorted(
            e.chunk
            for e in self.actions(render_id, "renderChunk")
            if e.status == 200 and e.cached is False and e.chunk is not None
        )


def running_proxies(
    storage_upstream: str, service_upstream: str = ""
) -> tuple[StorageProxy, ServiceProxy]:
    storage, service = StorageProxy(storage_upstream), ServiceProxy(service_upstream)
    storage.start()
    service.start()
    return storage, service


def error_body(code: str, message: str, *, retryable: bool) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "retryable": retryable}}
    ).encode()


# -- plumbing ------------------------------------------------------------------------------


def _hold(directive: Directive) -> None:
    if directive.wait is not None:
        bound = directive.hold_until or time.monotonic() + UPSTREAM_TIMEOUT_S
        directive.wait.wait(max(0.0, bound - time.monotonic()))
    elif directive.hold_until is not None:
        time.sleep(max(0.0, directive.hold_until - time.monotonic()))


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _send(
    upstream: str, method: str, path: str, headers: Any, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    parts = urllib.parse.urlsplit(upstream)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=UPSTREAM_TIMEOUT_S
    )
    forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
    forwarded["Content-Length"] = str(len(body))
    try:
        connection.request(
            method, path, body=body if body or method != "GET" else None, headers=forwarded
        )
        response = connection.getresponse()
        data = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return response.status, kept, data
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _reply(
    handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], data: bytes
) -> None:
    try:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)
    except OSError:  # the client gave up (a timeout, or it was killed): nothing to tell
        handler.close_connection = True
