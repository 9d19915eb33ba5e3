"""Completion webhooks, delivered by the service: signed JSON POSTs with retries.

Every attempt of one delivery carries the same ``X-Framerun-Event-Id``, so a
receiver can drop duplicates that retries produce. Redirects are never followed,
and the connection goes to the address the URL was checked at (``address``), not
to a fresh lookup of its host.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from framerun_service.core.errors import WebhookDeliveryError
from framerun_service.core.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from framerun_service.render.netguard import pinned_connection

USER_AGENT = "framerun-webhooks/1"

# Worth another attempt: the receiver is overloaded or failing, not refusing us.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
_TLS = ssl.create_default_context()


def deliver(
    url: str,
    payload: Mapping[str, Any],
    secret: bytes | str,
    *,
    attempts: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 5.0,
    event_id: str | None = None,
    address: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as signed JSON to ``url``; return the final HTTP status.

    Retries connection errors, timeouts, 429 and 5xx up to ``attempts`` times in
    all, waiting ``backoff_s`` × 2ⁿ (or the receiver's ``Retry-After``, up to
    30 s); each attempt is signed afresh (a new timestamp) with the same event
    id. Any other status is final at once. When retries run out, returns the last
    status received; if no attempt got an answer at all, raises WebhookDeliveryError.
    ``address`` is where the URL's host was checked to be (``notify.check_webhook_url``);
    the service always passes it. Without it each attempt resolves the host itself.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be ≥ 1, got {attempts}")
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    event = event_id or uuid.uuid4().hex
    last_error = "no attempt made"
    status: int | None = None
    retry_after: float | None = None
    for attempt in range(attempts):
        if attempt:
            sleep(_delay(backoff_s, attempt, retry_after))
            retry_after = None
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(secret, body, int(time.time())),
            EVENT_ID_HEADER: event,
        }
        try:
            status, retry_header = _post(url, address, body, headers, timeout_s)
        except (OSError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
            continue
        if status not in _RETRY_STATUS:
            return status
        retry_after = _retry_after(retry_header)
        last_error = f"HTTP {status}"
    if status is not None:
        return status
    raise WebhookDeliveryError(
        f"could not deliver the webhook to {url} in {attempts} attempt(s) ({last_error}); "
        "check that the endpoint is up and reachable"
    )


def _post(
    url: str, address: str | None, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int, str | None]:
    """One POST, connected to ``address`` (TLS still checks the URL's host name)."""
    conn, path = pinned_connection(url, address, timeout_s=timeout_s, tls=_TLS)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        conn.close()


def _delay(backoff_s: float, attempt: int, retry_after: float | None) -> float:
    delay = backoff_s * 2 ** (attempt - 1)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (HTTP dates are ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
