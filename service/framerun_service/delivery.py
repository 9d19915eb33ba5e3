"""Completion webhooks, delivered by the service: signed JSON POSTs with retries.

Every attempt of one delivery carries the same ``X-Framerun-Event-Id``, so a
receiver can drop duplicates that retries produce; redirects are never followed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from framerun_service.core.errors import WebhookDeliveryError
from framerun_service.core.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

USER_AGENT = "framerun-webhooks/1"

# Worth another attempt: the receiver is overloaded or failing, not refusing us.
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook is delivered to the URL given, never to where a redirect points
    (which could be the metadata server or another internal address)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def deliver(
    url: str,
    payload: Mapping[str, Any],
    secret: bytes | str,
    *,
    attempts: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 5.0,
    event_id: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as signed JSON to ``url``; return the final HTTP status.

    Retries connection errors, timeouts, 429 and 5xx up to ``attempts`` times in
    all, waiting ``backoff_s`` × 2ⁿ (or the receiver's ``Retry-After``, up to
    30 s); each attempt is signed afresh (a new timestamp) with the same event
    id. Any other status is final at once. When retries run out, returns the last
    status received; if no attempt got an answer at all, raises WebhookDeliveryError.
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
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                SIGNATURE_HEADER: sign(secret, body, int(time.time())),
                EVENT_ID_HEADER: event,
            },
        )
        try:
            with _NO_REDIRECTS.open(request, timeout=timeout_s) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                status = exc.code
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            if status not in _RETRY_STATUS:
                return status
            last_error = f"HTTP {status}"
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            last_error = f"{type(exc).__name__}: {reason}"
    if status is not None:
        return status
    raise WebhookDeliveryError(
        f"could not deliver the webhook to {url} in {attempts} attempt(s) ({last_error}); "
        "check that the endpoint is up and reachable"
    )


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
