"""The public keys ID tokens are signed with: fetched from a certs URL, cached, refreshed.

:mod:`framerun_service.auth` checks a token's claims; this module only answers
"which RSA key has this ``kid``?". The keys are published at ``certs_url`` (Google's,
or :class:`framerun.local.issuer.LocalIssuer`'s), in either format Google serves:
v1 ``{kid: x509 PEM}`` or JWKS ``{"keys": [...]}``. Only RS256 signing keys of at
least 2048 bits are kept.

Fetching is a network call on the request path, so it is rationed: keys are cached
for the response's ``Cache-Control: max-age`` (capped at a day), an unknown ``kid``
(a key rotation) triggers at most one refresh per ``min_interval_s`` (so a caller
spraying random kids cannot make the service hammer the URL), and while the URL is
down the old keys stay usable for :data:`MAX_STALE_S` (Google retires keys slowly).
With no key at all, verification is impossible, which is not the caller's fault:
``AuthUnavailableError`` (503, retryable).

Log records go to the ``framerun.auth`` logger, like the verifier's, so operators
read one stream for everything about authentication.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from framerun_service.core.errors import AuthUnavailableError

log = logging.getLogger("framerun.auth")

UNAVAILABLE_MESSAGE = "cannot verify ID tokens right now (signing keys unavailable); retry later"

DEFAULT_CERTS_TTL_S = 3600.0  # when the certs response has no Cache-Control max-age
MAX_CERTS_TTL_S = 86400.0  # never trust a cached key set for longer than a day
MIN_REFRESH_INTERVAL_S = 30.0  # an attacker spraying random kids must not make us hammer
MAX_STALE_S = 6 * 3600.0  # while the certs URL is down, expired keys stay usable this long
FETCH_TIMEOUT_S = 5.0
MAX_CERTS_BYTES = 1 << 20
MIN_RSA_BITS = 2048

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)


class UnknownKidError(Exception):
    """No key has this ``kid``, even after a refresh: the token's fault (a 401).

    The message says which kid and which keys there are; the verifier logs it and
    shows the caller only a generic refusal.
    """


def b64url_decode(value: str) -> bytes:
    """Unpadded base64url, the encoding of both JWS parts and JWK members.

    Strict: anything outside the base64url alphabet is a ValueError rather than
    being skipped, so a mangled token cannot decode to something else.
    """
    if not _B64URL.match(value):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))  # binascii.Error too


class CertsCache:
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
        """The key for ``kid``, refreshing the set if it expired or lacks that kid.

        Raises UnknownKidError when no key has ``kid``, and AuthUnavailableError
        when there are no keys at all (the certs URL never answered usefully).
        """
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
            raise UnknownKidError(f"unknown kid {kid!r} (keys: {sorted(self._keys)})")

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
    except (KeyError, TypeError, ValueError):
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
    return int.from_bytes(b64url_decode(value), "big")
