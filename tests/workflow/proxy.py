"""A loopback proxy between the Workflows emulator and the service: counts and injects faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class _WideServer(ThreadingHTTPServer):
    """A listen backlog for hundreds of simultaneous connections (the default 5 refuses
    some when a fan-out opens 60 at once, and the workflow then retries them)."""

    request_queue_size = 512


@dataclass
class ServiceProxy:
    """Forwards POSTs to ``target``; records Actions; answers injected 503s first."""

    target: str
    url: str = ""
    actions: list[tuple[str, int | None, int]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight_chunks: int = 0
    failures: dict[int, int] = field(default_factory=dict)  # chunkIndex → 503s to send
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, authorization: str | None) -> tuple[int, bytes]:
        request = json.loads(body or b"{}")
        action, chunk = request.get("Action"), request.get("chunkIndex")
        with self._lock:
            if action == "renderChunk" and self.failures.get(chunk, 0) > 0:
                self.failures[chunk] -= 1
                self.actions.append((action, chunk, 503))
                error = {"code": "STORAGE_UNAVAILABLE", "message": "injected", "retryable": True}
                return 503, json.dumps({"error": error}).encode()
            if action == "renderChunk":
                self.in_flight += 1
                self.max_in_flight_chunks = max(self.max_in_flight_chunks, self.in_flight)
        try:
            headers = {"Content-Type": "application/json"}
            if authorization:
                headers["Authorization"] = authorization
            response = requests.post(self.target + "/", data=body, headers=headers, timeout=300)
        finally:
            if action == "renderChunk":
                with self._lock:
                    self.in_flight -= 1
        with self._lock:
            self.actions.append((action, chunk, response.status_code))
        return response.status_code, response.content


@contextmanager
def running_proxy(target: str) -> Iterator[ServiceProxy]:
    proxy = ServiceProxy(target)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, payload = proxy.handle(body, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = _WideServer(("127.0.0.1", 0), Handler)
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
