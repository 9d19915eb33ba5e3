"""A local stand-in for Google's ID-token service, so auth works locally exactly as in the cloud.

The service verifies every request's OIDC ID token (``framerun_service.auth``) and has
no switch to turn that off. Locally there is no Google to sign tokens, so this issuer
plays its part: it signs RS256 ID tokens with its own RSA key and publishes the public
key the way Google does, so the service only needs a different issuer and certs URL::

    GET  /certs                             {kid: x509 certificate PEM}  (Google's v1)
    GET  /jwks                              {"keys": [JWK]}              (Google's v3)
    GET  /.well-known/openid-configuration  issuer, jwks_uri, ...
    POST /token  {"audience", "email"}      {"id_token": "<JWT>"}

``POST /token`` is what the local Workflows emulator calls for ``auth: {type: OIDC}``.
Anyone who can reach the port can mint tokens, so it binds to 127.0.0.1 by default:
never expose it.

``iss`` is the issuer's own URL (``http://127.0.0.1:PORT``); pass a fixed ``port``
when tokens or settings must survive a restart, and a ``state_dir`` to keep the key.

Only the standard library is imported at module level; ``cryptography`` (part of
the service extra) loads when an issuer is created.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

log = logging.getLogger("framerun.local.issuer")

KEY_FILE = "issuer-key.pem"
MAX_TOKEN_REQUEST_BYTES = 64 * 1024
CERTS_MAX_AGE_S = 300  # short: a restarted issuer without a state dir has a new key


class LocalIssuer:
    """Signs Google-style OIDC ID tokens and serves its keys over HTTP on localhost.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. :meth:`mint`
    works without the server running; the token's ``iss`` needs the URL, though,
    so it does require :meth:`start` first.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        self._key = _load_or_create_key(Path(state_dir) if state_dir is not None else None)
        public_der = _public_der(self._key)
        self.kid: str = hashlib.sha256(public_der).hexdigest()[:16]
        self._cert_pem = _self_signed_cert_pem(self._key, self.kid)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        """Start serving in a daemon thread; returns self (``issuer = LocalIssuer().start()``)."""
        if self._server is not None:
            raise RuntimeError("LocalIssuer is already running")
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits up to one poll
            name=f"local-issuer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("local OIDC issuer at %s (kid %s)", self.url, self.kid)
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalIssuer:
        return self if self._server is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalIssuer is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The issuer URL: the ``iss`` of every token, and the base of the endpoints."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def certs_url(self) -> str:
        """Google v1 format; what ``FRAMERUN_AUTH_CERTS_URL`` should be set to."""
        return f"{self.url}/certs"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    # -- documents ---------------------------------------------------------------------

    def certs_document(self) -> dict[str, str]:
        """Google's v1 format: ``{kid: x509 certificate PEM}``."""
        return {self.kid: self._cert_pem}

    def jwks_document(self) -> dict[str, list[dict[str, str]]]:
        """Google's v3 format (RFC 7517): ``{"keys": [{kid, kty, alg, use, n, e}]}``."""
        numbers = self._key.public_key().public_numbers()
        jwk = {
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": _b64url(_uint_bytes(numbers.n)),
            "e": _b64url(_uint_bytes(numbers.e)),
        }
        return {"keys": [jwk]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "iss", "sub"],
        }

    # -- tokens ------------------------------------------------------------------------

    def mint(
        self,
        audience: str,
        email: str,
        *,
        lifetime_s: int = 3600,
        email_verified: bool = True,
        extra_claims: Mapping[str, Any] | None = None,
        issued_at: float | None = None,
    ) -> str:
        """An RS256 ID token shaped like the ones Google issues to service accounts.

        ``sub``/``azp`` are a stable numeric id derived from ``email`` (Google uses the
        service account's unique id). ``extra_claims`` are applied last, so tests can
        override any standard claim too.
        """
        iat = int(time.time() if issued_at is None else issued_at)
        subject = str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:9], "big"))
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": audience,
            "azp": subject,
            "sub": subject,
            "email": email,
            "email_verified": email_verified,
            "iat": iat,
            "exp": iat + int(lifetime_s),
        }
        claims.update(extra_claims or {})
        return self.sign(claims)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Sign arbitrary ``claims`` with this issuer's key (header ``{alg, kid, typ}``)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = f"{_b64json(header)}.{_b64json(dict(claims))}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


# -- HTTP ------------------------------------------------------------------------------


def _make_handler(issuer: LocalIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "framerun-local-issuer"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/certs":
                max_age = f"public, max-age={CERTS_MAX_AGE_S}"
                self._json(200, issuer.certs_document(), cache_control=max_age)
            elif path == "/jwks":
                max_age = f"public, max-age={CERTS_MAX_AGE_S}"
                self._json(200, issuer.jwks_document(), cache_control=max_age)
            elif path == "/.well-known/openid-configuration":
                self._json(200, issuer.openid_configuration())
            else:
                self._json(404, {"error": f"no such endpoint: GET {path}"})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != "/token":
                self._json(404, {"error": f"no such endpoint: POST {path}"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 < length <= MAX_TOKEN_REQUEST_BYTES:
                self._json(400, {"error": 'send a JSON body: {"audience": ..., "email": ...}'})
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                body = None
            audience = body.get("audience") if isinstance(body, dict) else None
            email = body.get("email") if isinstance(body, dict) else None
            if not (isinstance(audience, str) and audience and isinstance(email, str) and email):
                self._json(400, {"error": 'body must be {"audience": str, "email": str}'})
                return
            self._json(200, {"id_token": issuer.mint(audience, email)})

        def _json(self, status: int, body: object, *, cache_control: str = "no-store") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", cache_control)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


# -- keys ------------------------------------------------------------------------------


def _load_or_create_key(state_dir: Path | None) -> RSAPrivateKey:
    """The issuer's RSA key: from ``state_dir/issuer-key.pem``, else newly generated.

    With a state dir a restarted issuer keeps its kid, so tokens minted before the
    restart (and a verifier's cached certs) stay valid.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = state_dir / KEY_FILE if state_dir is not None else None
    if path is not None and path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key: delete it")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path is None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{KEY_FILE}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)  # atomic create-if-absent: a concurrent issuer's key wins
    except FileExistsError:
        return _load_or_create_key(state_dir)
    finally:
        tmp.unlink()
    return key


def _public_der(key: RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _self_signed_cert_pem(key: RSAPrivateKey, kid: str) -> str:
    """Google's v1 certs are x509 certificates, so ours are too (self-signed, 10 years)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"framerun-local-issuer-{kid}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _uint_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())
