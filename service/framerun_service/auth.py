"""Who may call the service: Google-signed OIDC ID tokens from allowed service accounts.

Cloud Run's own IAM check is not relied on (the service may run with
``--allow-unauthenticated`` behind a load balancer, and locally there is no IAM at
all), so every request is verified here, the same way in the cloud and locally:

* ``Authorization: Bearer <JWT>``, the JWT signed RS256 by a key published at
  ``certs_url`` (Google's, or :class:`framerun.local.issuer.LocalIssuer`'s);
* ``iss``, ``aud``, ``exp``/``iat``/``nbf`` checked (401 when wrong);
* ``email`` verified and in the allow-list (403 when not).

There is deliberately no switch that turns verification off: a flag like that ends
up set in production. Locally, point the verifier at the local issuer instead.

Rejections carry generic messages (what failed would help an attacker probe); the
precise reason is logged at INFO on the ``framerun.auth`` logger for operators.

This module parses the token and checks its claims; fetching and caching the
signing keys (x509 certs or JWKS, refreshed on an unknown ``kid``) is
:mod:`framerun_service.auth_keys`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from framerun_service.auth_keys import (
    FETCH_TIMEOUT_S,
    MIN_REFRESH_INTERVAL_S,
    CertsCache,
    UnknownKidError,
    b64url_decode,
)
from framerun_service.auth_keys import UNAVAILABLE_MESSAGE as UNAVAILABLE_MESSAGE  # re-export
from framerun_service.core.errors import ForbiddenError, UnauthenticatedError

log = logging.getLogger("framerun.auth")

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Google documents both spellings of its issuer for ID tokens.
_GOOGLE_ISSUERS = frozenset({GOOGLE_ISSUER, "accounts.google.com"})

ENV_AUDIENCES = "FRAMERUN_AUTH_AUDIENCES"
ENV_ALLOWED_INVOKERS = "FRAMERUN_AUTH_ALLOWED_INVOKERS"
ENV_ISSUER = "FRAMERUN_AUTH_ISSUER"
ENV_CERTS_URL = "FRAMERUN_AUTH_CERTS_URL"

UNAUTHENTICATED_MESSAGE = "missing or invalid ID token"
FORBIDDEN_MESSAGE = "caller is not allowed to invoke this service"
MAX_TOKEN_CHARS = 16 * 1024  # Google ID tokens are ~1 KB; anything huge is not one


@dataclass(frozen=True)
class Identity:
    """The verified caller: who they are and which audience the token was for."""

    email: str
    subject: str
    audience: str


class _Reject(Exception):
    """Internal: why a token was refused (logged, never shown to the caller)."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.forbidden = forbidden


@dataclass(frozen=True)
class OidcVerifier:
    """Verifies ``Authorization: Bearer <ID token>`` headers; thread-safe.

    ``monotonic`` and ``wall_clock`` exist so tests can move time; leave them alone.
    ``min_refresh_interval_s`` bounds how often an unknown ``kid`` (or an expired
    cache) may trigger a fetch of ``certs_url``.
    """

    audiences: tuple[str, ...]
    allowed_emails: frozenset[str]
    issuer: str = GOOGLE_ISSUER
    certs_url: str = GOOGLE_CERTS_URL
    clock_skew_s: int = 10
    min_refresh_interval_s: float = MIN_REFRESH_INTERVAL_S
    fetch_timeout_s: float = FETCH_TIMEOUT_S
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    wall_clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)
    _certs: CertsCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        audiences = _normalise_list(self.audiences, ENV_AUDIENCES, "audiences")
        allowed = _normalise_list(self.allowed_emails, ENV_ALLOWED_INVOKERS, "allowed_emails")
        if not audiences:
            raise ValueError(
                "no token audience configured: set "
                f"{ENV_AUDIENCES} to the service's URL(s), comma-separated"
            )
        if not allowed:
            raise ValueError(
                "no allowed invokers configured: set "
                f"{ENV_ALLOWED_INVOKERS} to the service-account email(s), comma-separated"
            )
        if not self.issuer.strip():
            raise ValueError(f"empty token issuer: set {ENV_ISSUER} (or leave it unset)")
        parts = urlsplit(self.certs_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"certs URL {self.certs_url!r} is not an http(s) URL: fix {ENV_CERTS_URL}"
            )
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            log.warning("certs URL %s is plain http: keys can be tampered with", self.certs_url)
        if self.clock_skew_s < 0:
            raise ValueError("clock_skew_s must be >= 0")
        object.__setattr__(self, "audiences", tuple(audiences))
        object.__setattr__(self, "allowed_emails", frozenset(e.lower() for e in allowed))
        object.__setattr__(self, "issuer", self.issuer.strip())
        object.__setattr__(
            self,
            "_certs",
            CertsCache(
                self.certs_url, self.min_refresh_interval_s, self.fetch_timeout_s, self.monotonic
            ),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OidcVerifier:
        """Build from ``FRAMERUN_AUTH_*`` (lists are comma-separated).

        ``FRAMERUN_AUTH_AUDIENCES`` and ``FRAMERUN_AUTH_ALLOWED_INVOKERS`` are
        required; ``FRAMERUN_AUTH_ISSUER`` / ``FRAMERUN_AUTH_CERTS_URL`` default to
        Google's.
        """
        env = os.environ if env is None else env
        return cls(
            audiences=tuple(_split(env.get(ENV_AUDIENCES, ""))),
            allowed_emails=frozenset(_split(env.get(ENV_ALLOWED_INVOKERS, ""))),
            issuer=env.get(ENV_ISSUER, "").strip() or GOOGLE_ISSUER,
            certs_url=env.get(ENV_CERTS_URL, "").strip() or GOOGLE_CERTS_URL,
        )

    def verify_header(self, authorization: str | None) -> Identity:
        """The caller's identity, or raise.

        Raises UnauthenticatedError (401) for a missing/invalid token,
        ForbiddenError (403) for a valid token of a caller not allowed, and
        AuthUnavailableError (503, retryable) when the signing keys can't be fetched.
        """
        try:
            identity = self._verify(authorization)
        except _Reject as rejected:
            log.info("rejected request: %s", rejected.reason)
            if rejected.forbidden:
                raise ForbiddenError(FORBIDDEN_MESSAGE) from None
            raise UnauthenticatedError(UNAUTHENTICATED_MESSAGE) from None
        log.debug("accepted ID token of %s for %s", identity.email, identity.audience)
        return identity

    # -- the checks, in order -----------------------------------------------------------

    def _verify(self, authorization: str | None) -> Identity:
        token = _bearer_token(authorization)
        header, claims, signing_input, signature = _split_jwt(token)

        alg = header.get("alg")
        if alg != "RS256":
            raise _Reject(f"token alg {alg!r} is not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _Reject("token header has no kid")
        if "crit" in header:
            raise _Reject("token header has a crit parameter (no extensions are understood)")

        try:
            key = self._certs.key_for(kid)
        except UnknownKidError as unknown:
            raise _Reject(str(unknown)) from None
        try:
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _Reject(f"bad signature for kid {kid!r}") from None

        self._check_times(claims)

        iss = claims.get("iss")
        if not self._issuer_ok(iss):
            raise _Reject(f"issuer {iss!r} is not {self.issuer!r}")
        aud = claims.get("aud")
        if not isinstance(aud, str) or aud not in self.audiences:
            raise _Reject(f"audience {aud!r} is not one of {list(self.audiences)}")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _Reject("token has no sub")

        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise _Reject(f"token of sub {sub!r} carries no email", forbidden=True)
        verified = claims.get("email_verified")
        # Google sends a JSON boolean; some older Google flows sent the string "true".
        if verified is not True and verified != "true":
            raise _Reject(f"email {email!r} is not verified", forbidden=True)
        if email.lower() not in self.allowed_emails:
            raise _Reject(f"email {email!r} is not an allowed invoker", forbidden=True)
        return Identity(email=email, subject=sub, audience=aud)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.wall_clock()
        skew = self.clock_skew_s
        exp = _numeric(claims, "exp", required=True)
        iat = _numeric(claims, "iat", required=True)
        nbf = _numeric(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if now > exp + skew:
            raise _Reject(f"token expired {now - exp:.0f}s ago")
        if iat > now + skew:
            raise _Reject(f"token issued {iat - now:.0f}s in the future")
        if nbf is not None and nbf > now + skew:
            raise _Reject(f"token not valid for another {nbf - now:.0f}s (nbf)")
        if exp <= iat:
            raise _Reject("token expires before it was issued")

    def _issuer_ok(self, iss: object) -> bool:
        if not isinstance(iss, str):
            return False
        if self.issuer in _GOOGLE_ISSUERS:
            return iss in _GOOGLE_ISSUERS
        return iss == self.issuer


# -- parsing ---------------------------------------------------------------------------


def _bearer_token(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise _Reject("no Authorization header")
    if len(authorization) > MAX_TOKEN_CHARS:
        raise _Reject(f"Authorization header is {len(authorization)} chars (too long)")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _Reject(f"Authorization scheme {scheme[:20]!r} is not Bearer")
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise _Reject("Bearer value is empty or not a single token")
    return token


def _split_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise _Reject(f"token has {len(parts)} dot-separated parts, not 3 (not a JWS)")
    header = _json_part(parts[0], "header")
    claims = _json_part(parts[1], "payload")
    signature = _b64decode(parts[2], "signature")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _json_part(part: str, what: str) -> dict[str, Any]:
    raw = _b64decode(part, what)
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _Reject(f"token {what} is not JSON") from None
    if not isinstance(value, dict):
        raise _Reject(f"token {what} is not a JSON object")
    return value


def _b64decode(part: str, what: str) -> bytes:
    try:
        return b64url_decode(part)
    except ValueError:
        raise _Reject(f"token {what} is not base64url") from None


def _numeric(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Reject(f"claim {name} is {value!r}, not a number")
    return float(value)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _normalise_list(value: Iterable[str], env_name: str, what: str) -> list[str]:
    if isinstance(value, str):  # a bare string would be iterated char by char
        raise ValueError(f"{what} must be a collection of strings, not a string ({env_name})")
    items = list(value)
    if not all(isinstance(v, str) for v in items):
        raise ValueError(f"{what} must contain only strings ({env_name})")
    return [v.strip() for v in items if v.strip()]
