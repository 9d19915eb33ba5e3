"""The completion webhook: a signed POST to the render's ``webhookUrl``, on success and failure.

The workflow calls the ``notify`` Action once at the end (best effort: a
webhook failure never fails a finished render). The URL is checked before any
connection: https only, and never an address inside the service's network
(loopback, private, link-local such as the metadata server) — the service must
not become a way to reach them. The local stack allows http to loopback. The
host is resolved once, by the page guard's rules (``netguard``), and the POST
connects to that checked address: a second lookup could answer differently
(DNS rebinding).
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from framerun_service.core.errors import InvalidConfigError
from framerun_service.core.storage import Storage
from framerun_service.core.wire import NotifyRequest
from framerun_service.render.netguard import address_reason, system_resolver
from framerun_service.settings import ServiceSettings


def check_webhook_url(url: str, *, allow_loopback: bool) -> str:
    """The one address to deliver ``url`` to; refuse URLs that reach the service's network."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise InvalidConfigError(f"webhookUrl {url!r} has no host")
    addresses = system_resolver(host, parts.port or 443)
    if not addresses:
        raise InvalidConfigError(f"webhookUrl host {host!r} does not resolve")
    if allow_loopback and all(_is_loopback(a) for a in addresses):
        return addresses[0]
    if parts.scheme != "https":
        raise InvalidConfigError("webhookUrl must use https")
    reason = address_reason(host, addresses)
    if reason is not None:
        raise InvalidConfigError(f"webhookUrl is refused: {reason}; use a public https URL")
    return addresses[0]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def notify(storage: Storage, req: NotifyRequest, settings: ServiceSettings) -> dict[str, Any]:
    from framerun_service.delivery import deliver

    request = storage.read_json(req.request_uri)
    url = (request.get("config") or {}).get("webhookUrl") if isinstance(request, dict) else None
    if not url:
        return {"delivered": False, "reason": "no webhookUrl"}
    if not settings.webhook_secret:
        return {"delivered": False, "reason": "FRAMERUN_WEBHOOK_SECRET is not set"}
    address = check_webhook_url(url, allow_loopback=settings.allow_loopback_webhooks)
    payload: dict[str, Any] = {"type": f"render.{req.status}", "renderId": req.render_id}
    if req.status == "succeeded":
        payload.update(outputUri=req.detail.get("outputUri"), bytes=req.detail.get("bytes"))
    else:
        payload["error"] = {k: req.detail.get(k) for k in ("code", "message", "step")}
    # The same render and outcome always carry the same event id, so receivers can dedupe.
    event_id = hashlib.sha256(f"{req.render_id}:{req.status}".encode()).hexdigest()[:32]
    status = deliver(url, payload, settings.webhook_secret, event_id=event_id, address=address)
    return {"delivered": 200 <= status < 300, "status": status, "eventId": event_id}
