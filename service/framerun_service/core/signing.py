"""Webhook signatures: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over ``"<t>." + body``.

Signing the timestamp with the body lets :func:`verify` refuse replays of an old
delivery; several ``v1=`` values may appear (one per secret while a secret is
rotated). The service signs (``framerun_service.delivery``); a receiver verifies
(re-exported as ``framerun.webhooks``). Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from framerun_service.core.errors import WebhookSignatureError

SIGNATURE_HEADER = "X-Framerun-Signature"
EVENT_ID_HEADER = "X-Framerun-Event-Id"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300


def sign(secret: bytes | str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={int(timestamp)},{SIGNATURE_VERSION}={_digest(secret, body, int(timestamp))}"


def verify(
    secret: bytes | str,
    body: bytes,
    header: str | None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Return if ``header`` signs ``body`` with ``secret`` recently; raise otherwise.

    WebhookSignatureError when the header is missing or malformed, its
    timestamp is more than ``tolerance_s`` away from ``now`` (a replay, or a
    clock to fix), or no signature matches. Comparison is constant-time.
    """
    if not header:
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header: the request is not signed")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            raise WebhookSignatureError(
                f"{SIGNATURE_HEADER} is malformed: expected t=<seconds>,v1=<hex>"
            )
        if name == "t":
            if not value.isdigit():
                raise WebhookSignatureError(f"{SIGNATURE_HEADER} has a non-numeric timestamp")
            timestamp = int(value)
        elif name == SIGNATURE_VERSION:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError(
            f"{SIGNATURE_HEADER} is malformed: expected t=<seconds>,v1=<hex>"
        )
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"webhook timestamp is {abs(current - timestamp):.0f}s from now, over the "
            f"{tolerance_s:g}s tolerance: a replayed delivery, or a clock to sync"
        )
    expected = _digest(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise WebhookSignatureError("webhook signature does not match: check the shared secret")


def _digest(secret: bytes | str, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
