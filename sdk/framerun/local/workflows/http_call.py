"""``http.get`` / ``http.post`` / ``http.request``: Cloud Workflows' HTTP calls, locally.

The result is ``{body, code, headers}`` with JSON bodies parsed and header names
lowercased; any non-2xx answer raises an ``HttpError`` carrying the same fields.
Transport failures raise what Workflows raises, because retry predicates match
on those tags: ``ConnectionFailedError`` (refused, unresolvable),
``ConnectionError`` (reset mid-call), ``TimeoutError``.

The request runs on its own thread while the caller polls the execution's
cancel flag, so cancelling an execution aborts a 30-minute ``renderChunk`` wait
at once (the socket is shut down) instead of when the service answers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import (
    TAG_AUTH,
    TAG_CONNECTION,
    TAG_CONNECTION_FAILED,
    TAG_HTTP,
    TAG_RESOURCE_LIMIT,
    TAG_TIMEOUT,
    TAG_TYPE,
    TAG_VALUE,
    ExecutionCancelled,
    WorkflowError,
    runtime_error,
)
from .tokens import TokenProvider
from .values import is_number, to_json, type_name

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MAX_RESPONSE_BYTES",
    "MAX_TIMEOUT_S",
    "HttpRequest",
    "build_request",
    "perform",
]

DEFAULT_TIMEOUT_S = 300
MAX_TIMEOUT_S = 1800
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
USER_AGENT = (
    "framerun-local-workflows GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)"
)
CANCEL_POLL_S = 0.05


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    audience: str | None = None  # set: attach an OIDC ID token for this audience


def build_request(method: str | None, args: Mapping[str, Any]) -> HttpRequest:
    """Check the evaluated call ``args``; wrong types raise TypeError-tagged errors."""
    if method is None:
        method = args.get("method")
        if not isinstance(method, str) or not method:
            raise runtime_error(TAG_TYPE, "http.request needs a string 'method'")
    url = args.get("url")
    if not isinstance(url, str) or not url:
        raise runtime_error(TAG_TYPE, f"'url' must be a string, got {type_name(url)}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise runtime_error(TAG_VALUE, f"'url' must be an absolute http(s) URL, got {url!r}")
    query = args.get("query")
    if query is not None:
        url = _with_query(url, query)

    timeout = args.get("timeout", DEFAULT_TIMEOUT_S)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_S
    if not is_number(timeout) or timeout <= 0:
        raise runtime_error(
            TAG_TYPE, f"'timeout' must be a positive number of seconds: {timeout!r}"
        )
    if timeout > MAX_TIMEOUT_S:
        raise runtime_error(
            TAG_VALUE,
            f"'timeout' is {timeout} s; Cloud Workflows allows at most {MAX_TIMEOUT_S} s per "
            "HTTP call: split the work into shorter requests",
        )

    headers = _headers(args.get("headers"))
    body = _encode_body(args.get("body"), headers)

    audience = None
    auth = args.get("auth")
    if auth is not None:
        if not isinstance(auth, dict) or auth.get("type") != "OIDC":
            raise runtime_error(TAG_TYPE, "'auth' must be {type: OIDC, audience?: string}")
        audience = auth.get("audience")
        if audience is None:
            audience = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        if not isinstance(audience, str) or not audience:
            raise runtime_error(TAG_TYPE, "auth 'audience' must be a string")
    return HttpRequest(method.upper(), url, headers, body, float(timeout), audience)


def perform(
    request: HttpRequest, *, token_provider: TokenProvider, cancel: threading.Event
) -> dict[str, Any]:
    """Send ``request``; the Workflows result map, or raise the Workflows error."""
    headers = dict(request.headers)
    if request.audience is not None:
        try:
            token = token_provider(request.audience)
        except Exception as exc:
            raise runtime_error(TAG_AUTH, f"could not get an ID token: {exc}") from None
        headers["Authorization"] = f"Bearer {token}"
    status, reason, response_headers, data = _exchange(request, headers, cancel)
    result = {
        "body": _decode_body(data, response_headers),
        "code": status,
        "headers": response_headers,
    }
    if not 200 <= status < 300:
        raise WorkflowError(
            {
                "message": f"HTTP server responded with error code {status}"
                + (f" ({reason})" if reason else ""),
                "code": status,
                "headers": response_headers,
                "body": result["body"],
                "tags": [TAG_HTTP],
            }
        )
    return result


# -- the exchange ----------------------------------------------------------------------


def _exchange(
    request: HttpRequest, headers: dict[str, str], cancel: threading.Event
) -> tuple[int, str, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(request.url)
    host = parts.hostname or ""
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, parts.port, timeout=request.timeout_s, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=request.timeout_s)
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            connection.request(request.method, target, body=request.body, headers=headers)
            response = connection.getresponse()
            data = response.read(MAX_RESPONSE_BYTES + 1)
            outcome["response"] = (response.status, response.reason, response.getheaders(), data)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=run, name=f"http {request.method} {host}", daemon=True)
    worker.start()
    deadline = time.monotonic() + request.timeout_s
    while not done.wait(CANCEL_POLL_S):
        if cancel.is_set():
            _abort(connection)
            raise ExecutionCancelled()
        if time.monotonic() > deadline:
            _abort(connection)
            raise _timeout(request)
    if "error" in outcome:
        raise _transport_error(outcome["error"], request) from None
    status, reason, raw_headers, data = outcome["response"]
    if len(data) > MAX_RESPONSE_BYTES:
        raise runtime_error(
            TAG_RESOURCE_LIMIT,
            f"the response of {request.method} {request.url} is over Cloud Workflows' 2 MB "
            "limit: return a reference (a gs:// URI) instead",
        )
    merged: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return int(status), str(reason or ""), merged, bytes(data)


def _abort(connection: http.client.HTTPConnection) -> None:
    """Unblock the worker thread now: shutting the socket down wakes a blocked recv."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _timeout(request: HttpRequest) -> WorkflowError:
    return runtime_error(
        TAG_TIMEOUT,
        f"{request.method} {request.url} did not answer within {request.timeout_s:g} s",
    )


def _transport_error(exc: BaseException, request: HttpRequest) -> WorkflowError:
    where = f"{request.method} {request.url}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return _timeout(request)
    if isinstance(exc, ConnectionRefusedError):
        return runtime_error(TAG_CONNECTION_FAILED, f"connection refused: {where}")
    if isinstance(exc, socket.gaierror):
        return runtime_error(TAG_CONNECTION_FAILED, f"cannot resolve the host of {where}: {exc}")
    if isinstance(exc, OSError | http.client.HTTPException):
        return runtime_error(TAG_CONNECTION, f"connection error during {where}: {exc!r}")
    raise exc


# -- bodies and headers ----------------------------------------------------------------


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {"User-Agent": USER_AGENT}
    if not isinstance(raw, dict):
        raise runtime_error(TAG_TYPE, f"'headers' must be a map, got {type_name(raw)}")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, str):
            headers[name] = value
        elif is_number(value) or isinstance(value, bool):
            headers[name] = to_json(value)
        else:
            raise runtime_error(
                TAG_TYPE, f"header {name!r} must be a string, got {type_name(value)}"
            )
    agent = next((k for k in headers if k.lower() == "user-agent"), None)
    if agent is None:
        headers["User-Agent"] = USER_AGENT
    else:
        headers[agent] = f"{headers[agent]} {USER_AGENT}"
    return headers


def _content_type(headers: Mapping[str, str]) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == "content-type"), None)


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    """Without a Content-Type the body goes as JSON, as Workflows sends it."""
    if body is None:
        return None
    content_type = _content_type(headers)
    if content_type is None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        return to_json(body).encode("utf-8")
    kind = content_type.split(";")[0].strip().lower()
    if isinstance(body, str) and not kind.endswith("json"):
        return body.encode("utf-8")
    if kind == "application/x-www-form-urlencoded" and isinstance(body, dict):
        return urllib.parse.urlencode({k: _scalar(v) for k, v in body.items()}).encode()
    if kind.endswith("json"):
        return to_json(body).encode("utf-8")
    raise runtime_error(TAG_TYPE, f"cannot send a {type_name(body)} body as {content_type}")


def _decode_body(data: bytes, headers: Mapping[str, str]) -> Any:
    if not data:
        return None
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    text = data.decode("utf-8", "replace")
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _with_query(url: str, query: Any) -> str:
    if not isinstance(query, dict):
        raise runtime_error(TAG_TYPE, f"'query' must be a map, got {type_name(query)}")
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, _scalar(item)))
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{separator}{urllib.parse.urlencode(pairs)}"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if is_number(value) or isinstance(value, bool):
        return to_json(value)
    raise runtime_error(TAG_TYPE, f"query and form values are scalars, got {type_name(value)}")
