"""ID tokens for ``auth: {type: OIDC}``: where the emulator gets what Google would mint.

In the cloud, Workflows asks Google for an ID token of the workflow's service
account with the call's audience. Locally, :class:`IssuerTokenProvider` asks the
local issuer (:mod:`framerun.local.issuer`, ``POST /token {"audience", "email"}``)
for the same thing, so the service verifies real signed tokens and keeps auth on.

A token provider is any ``Callable[[str], str]``: audience in, ID token out.
Tests inject their own; failures surface in the workflow as ``AuthError``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["IssuerTokenProvider", "TokenError", "TokenProvider", "no_token_provider"]

TokenProvider = Callable[[str], str]
"""Audience → ID token (a JWT). Raise :class:`TokenError` when none can be had."""

REFRESH_MARGIN_S = 300  # mint a new token this long before the cached one expires


class TokenError(Exception):
    """No ID token could be obtained; the message says what to fix."""


def no_token_provider(audience: str) -> str:
    """The default when none is configured: OIDC calls fail with a message saying how to fix it."""
    raise TokenError(
        f"cannot mint an ID token for {audience}: the emulator has no token provider; "
        "pass --token-url and --invoker-email (or Emulator(token_url=..., invoker_email=...))"
    )


class IssuerTokenProvider:
    """Fetches ID tokens from a local issuer's ``/token`` endpoint, cached per audience.

    :param token_url: the issuer's token endpoint (``LocalIssuer.token_url``).
    :param email: the identity the token asserts: the workflow's service account
        (the invoker the service allows).
    """

    def __init__(self, token_url: str, email: str, *, timeout_s: float = 10.0) -> None:
        self.token_url = token_url
        self.email = email
        self.timeout_s = timeout_s
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, audience: str) -> str:
        with self._lock:
            cached = self._cache.get(audience)
        if cached is not None and cached[1] - REFRESH_MARGIN_S > time.time():
            return cached[0]
        token = self._fetch(audience)
        with self._lock:
            self._cache[audience] = (token, _expiry(token))
        return token

    def _fetch(self, audience: str) -> str:
        body = json.dumps({"audience": audience, "email": self.email}).encode()
        request = urllib.request.Request(
            self.token_url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                document = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:200]
            raise TokenError(
                f"the token issuer at {self.token_url} answered {exc.code}: {detail}"
            ) from None
        except (OSError, ValueError) as exc:
            raise TokenError(
                f"cannot reach the token issuer at {self.token_url} ({exc}): "
                "is the local issuer running (`framerun local up`)?"
            ) from None
        token = document.get("id_token") if isinstance(document, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError(f"the token issuer at {self.token_url} returned no id_token")
        return token


def _expiry(token: str) -> float:
    """The token's ``exp`` (unverified: we only use it to know when to refresh)."""
    try:
        payload = token.split(".")[1]
        claims: Any = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0  # unknown expiry: never reuse
