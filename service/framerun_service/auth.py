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
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from framerun_service.core.errors import AuthUnavailableError, ForbiddenError, UnauthenticatedError

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
UNAVAILABLE_MESSAGE = "cannot verify ID tokens right now (signing keys unavailable); retry later"

DEFAULT_CERTS_TTL_S = 3600.0  # when the certs response has no Cache-Control max-age
MAX_CERTS_TTL_S = 86400.0  # never trust a cached key set for longer than a day
MIN_REFRESH_INTERVAL_S = 30.0  # an attacker spraying random kids must not make us hammer
MAX_STALE_S = 6 * 3600.0  # while the certs URL is down, expired keys stay usable this long
FETCH_TIMEOUT_S = 5.0
MAX_CERTS_BYTES = 1 << 20
MAX_TOKEN_CHARS = 16 * 1024  # Google ID tokens are ~1 KB; anything huge is not one
MIN_RSA_BITS = 2048

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


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
    _certs: _CertsCache = field(init=False, repr=False, compare=False)

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
            _CertsCache(
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

        key = self._certs.key_for(kid)
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
    if not _B64URL.match(part):
        raise _Reject(f"token {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
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


# -- the signing keys ------------------------------------------------------------------


class _CertsCache:
    """The public keys at ``certs_url``, fetched lazily and refreshed sparingly.

    One lock serialises fetches, so concurrent requests after a cold start (or a
    key rotation) cause one fetch, not one per thread. Fetches happen at most once
    per ``min_interval_s``, whether triggered by expiry, an unknown kid or an error.
    """

    def __init__(
        self,
        url: str,
        min_interval_s: float,
        timeout_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._url = url
        self._min_interval_s = min_interval_s
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._expires_at = float("-inf")
        self._last_attempt: float | None = None
        self._last_error: str | None = None

    def key_for(self, kid: str) -> rsa.RSAPublicKey:
        with self._lock:
            now = self._monotonic()
            if now >= self._expires_at and self._may_fetch(now):
                self._refresh(now)
            key = self._keys.get(kid)
            if key is not None:
                return key
            if self._may_fetch(now):
                log.info("unknown kid %r: refreshing signing keys", kid)
                self._refresh(now)
                key = self._keys.get(kid)
                if key is not None:
                    return key
            if not self._keys:  # never fetched successfully: not the caller's fault
                log.warning("no signing keys from %s: %s", self._url, self._last_error)
                raise AuthUnavailableError(UNAVAILABLE_MESSAGE)
            raise _Reject(f"unknown kid {kid!r} (keys: {sorted(self._keys)})")

    def _may_fetch(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= self._min_interval_s

    def _refresh(self, now: float) -> None:
        """Fetch the keys; on failure keep the old ones (they are still Google's)."""
        self._last_attempt = now
        try:
            keys, ttl = _fetch_keys(self._url, self._timeout_s)
        except _FetchError as failed:
            self._last_error = str(failed)
            log.warning("fetching signing keys from %s failed: %s", self._url, failed)
            if self._keys and now > self._expires_at + MAX_STALE_S:
                log.warning("dropping signing keys expired over %.0fs ago", MAX_STALE_S)
                self._keys = {}
            if not self._keys:
                raise AuthUnavailableError(UNAVAILABLE_MESSAGE) from None
            return  # keep serving with the keys we have (Google retires keys slowly)
        self._keys = keys
        self._expires_at = now + ttl
        self._last_error = None
        log.info("fetched %d signing key(s) from %s (ttl %.0fs)", len(keys), self._url, ttl)


class _FetchError(Exception):
    pass


def _fetch_keys(url: str, timeout_s: float) -> tuple[dict[str, rsa.RSAPublicKey], float]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_CERTS_BYTES + 1)
            cache_control = response.headers.get("Cache-Control", "")
    except urllib.error.HTTPError as e:
        e.close()
        raise _FetchError(f"HTTP {e.code}") from None
    except (OSError, ValueError) as e:  # URLError, timeouts, resets are OSErrors
        raise _FetchError(f"{type(e).__name__}: {e}") from None
    if len(body) > MAX_CERTS_BYTES:
        raise _FetchError(f"response larger than {MAX_CERTS_BYTES} bytes")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _FetchError("response is not JSON") from None
    keys = _parse_keys(document)
    if not keys:
        raise _FetchError("response holds no usable RS256 keys")
    return keys, _ttl(cache_control)


def _ttl(cache_control: str) -> float:
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return DEFAULT_CERTS_TTL_S
    return min(float(match.group(1)), MAX_CERTS_TTL_S)


def _parse_keys(document: object) -> dict[str, rsa.RSAPublicKey]:
    """Both formats Google serves: v1 ``{kid: x509 PEM}`` and JWKS ``{"keys": [...]}``."""
    if not isinstance(document, dict):
        raise _FetchError("response is not a JSON object")
    keys: dict[str, rsa.RSAPublicKey] = {}
    if isinstance(document.get("keys"), list):
        for jwk in document["keys"]:
            kid, key = _jwk_key(jwk)
            if kid is not None and key is not None:
                keys[kid] = key
    else:
        for kid, pem in document.items():
            key = _pem_key(kid, pem)
            if key is not None:
                keys[kid] = key
    return keys


def _jwk_key(jwk: object) -> tuple[str | None, rsa.RSAPublicKey | None]:
    if not isinstance(jwk, dict):
        return None, None
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or jwk.get("kty") != "RSA":
        log.info("skipping JWK %r: no kid or not RSA", kid)
        return None, None
    if jwk.get("alg", "RS256") != "RS256" or jwk.get("use", "sig") != "sig":
        log.info("skipping JWK %r: not an RS256 signing key", kid)
        return None, None
    try:
        n = _b64uint(jwk["n"])
        e = _b64uint(jwk["e"])
        key = rsa.RSAPublicNumbers(e, n).public_key()
    except (KeyError, TypeError, ValueError, _Reject):
        log.info("skipping JWK %r: bad n/e", kid)
        return None, None
    return kid, _strong_enough(kid, key)


def _pem_key(kid: object, pem: object) -> rsa.RSAPublicKey | None:
    if not isinstance(kid, str) or not kid or not isinstance(pem, str):
        return None
    try:
        key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
    except (ValueError, UnicodeEncodeError):
        log.info("skipping cert %r: not an x509 PEM certificate", kid)
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        log.info("skipping cert %r: not an RSA key", kid)
        return None
    return _strong_enough(kid, key)


def _strong_enough(kid: str, key: rsa.RSAPublicKey) -> rsa.RSAPublicKey | None:
    if key.key_size < MIN_RSA_BITS:
        log.info("skipping key %r: %d-bit RSA is too weak", kid, key.key_size)
        return None
    return key


def _b64uint(value: object) -> int:
    if not isinstance(value, str) or not value:
        raise ValueError("not a base64url string")
    return int.from_bytes(_b64decode(value, "JWK member"), "big")
