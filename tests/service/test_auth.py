"""OidcVerifier against real RS256 tokens from a LocalIssuer, over real HTTP (no mocks).

Every refusal must be the right class and code with the *generic* message, while the
precise reason goes to the ``framerun.auth`` log. Fetches of the certs URL are
counted with a small certs server, and the verifier's monotonic clock is a fake so
"within 30 s" is exact rather than slept through.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from framerun.local.issuer import KEY_FILE, LocalIssuer
from framerun_service.auth import (
    ENV_ALLOWED_INVOKERS,
    ENV_AUDIENCES,
    ENV_CERTS_URL,
    FORBIDDEN_MESSAGE,
    GOOGLE_CERTS_URL,
    GOOGLE_ISSUER,
    UNAUTHENTICATED_MESSAGE,
    Identity,
    OidcVerifier,
)
from framerun_service.core.errors import AuthUnavailableError, ForbiddenError, UnauthenticatedError

AUDIENCE = "https://framerun-abc123-uc.a.run.app"
ALLOWED = "workflows@proj.iam.gserviceaccount.com"
STRANGER = "someone@proj.iam.gserviceaccount.com"


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("issuer")


@pytest.fixture(scope="module")
def issuer(issuer_state: Path) -> Iterator[LocalIssuer]:
    with LocalIssuer(issuer_state) as running:
        yield running


@pytest.fixture(scope="module")
def issuer_key(issuer: LocalIssuer, issuer_state: Path) -> rsa.RSAPrivateKey:
    """The issuer's own private key (from its state dir), to hand-build signed tokens."""
    key = serialization.load_pem_private_key((issuer_state / KEY_FILE).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CertsServer:
    """Serves a certs document it can change, and counts the GETs it answers."""

    def __init__(self, document: dict[str, Any], cache_control: str | None = None) -> None:
        self.document = document
        self.cache_control = cache_control
        self.status = 200
        self.delay_s = 0.0
        self.hits = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.hits += 1
                time.sleep(outer.delay_s)
                data = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if outer.cache_control is not None:
                    self.send_header("Cache-Control", outer.cache_control)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/certs"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def certs_server(issuer: LocalIssuer) -> Iterator[CertsServer]:
    server = CertsServer(issuer.certs_document())
    yield server
    server.close()


def make_verifier(local: LocalIssuer, **overrides: Any) -> OidcVerifier:
    config: dict[str, Any] = {
        "audiences": (AUDIENCE,),
        "allowed_emails": frozenset({ALLOWED}),
        "issuer": local.url,
        "certs_url": local.certs_url,
    }
    config.update(overrides)
    return OidcVerifier(**config)


@pytest.fixture(scope="module")
def verifier(issuer: LocalIssuer) -> OidcVerifier:
    return make_verifier(issuer)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def good_claims(issuer: LocalIssuer, **changes: Any) -> dict[str, Any]:
    return {**claims_of(issuer.mint(AUDIENCE, ALLOWED)), **changes}


def rsa_token(
    key: rsa.RSAPrivateKey,
    header: dict[str, Any],
    claims: dict[str, Any],
    algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), algorithm or hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def public_pem(issuer: LocalIssuer) -> bytes:
    cert = x509.load_pem_x509_certificate(issuer.certs_document()[issuer.kid].encode())
    return cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_token(issuer: LocalIssuer, secret: bytes) -> str:
    """The classic confusion attack: HMAC keyed with the (public) RSA key."""
    header = {"alg": "HS256", "kid": issuer.kid, "typ": "JWT"}
    signing_input = f"{b64json(header)}.{b64json(good_claims(issuer))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def unsigned_token(issuer: LocalIssuer, alg: str) -> str:
    header = {"alg": alg, "kid": issuer.kid, "typ": "JWT"}
    return f"{b64json(header)}.{b64json(good_claims(issuer))}."


def tampered(issuer: LocalIssuer) -> str:
    header, _, signature = issuer.mint(AUDIENCE, ALLOWED).split(".")
    payload = b64json(good_claims(issuer, email="admin@proj.iam.gserviceaccount.com"))
    return f"{header}.{payload}.{signature}"


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- acceptance ------------------------------------------------------------------------


def test_accepts_a_good_token(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    token = issuer.mint(AUDIENCE, ALLOWED)
    identity = verifier.verify_header(bearer(token))
    assert identity == Identity(email=ALLOWED, subject=claims_of(token)["sub"], audience=AUDIENCE)


def test_accepts_any_configured_audience_and_case_of_scheme_and_email(
    issuer: LocalIssuer,
) -> None:
    verifier = make_verifier(
        issuer, audiences=("https://a.example", AUDIENCE), allowed_emails=frozenset({ALLOWED})
    )
    token = issuer.mint(AUDIENCE, ALLOWED.upper())
    assert verifier.verify_header(f"bearer  {token} ").audience == AUDIENCE
    other = issuer.mint("https://a.example", ALLOWED)
    assert verifier.verify_header(bearer(other)).audience == "https://a.example"


def test_expired_within_skew_is_accepted(issuer: LocalIssuer, verifier: OidcVerifier) -> None:
    expired_5s_ago = issuer.mint(AUDIENCE, ALLOWED, issued_at=time.time() - 3605)
    assert verifier.verify_header(bearer(expired_5s_ago)).email == ALLOWED
    issued_5s_ahead = issuer.mint(AUDIENCE, ALLOWED, issued_at=time.time() + 5)
    assert verifier.verify_header(bearer(issued_5s_ahead)).email == ALLOWED


def test_jwks_format_certs_url_works(issuer: LocalIssuer) -> None:
    verifier = make_verifier(issuer, certs_url=issuer.jwks_url)
    assert verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED))).email == ALLOWED


def test_unusable_keys_in_a_jwks_are_skipped(issuer: LocalIssuer) -> None:
    [good] = issuer.jwks_document()["keys"]
    document = {
        "keys": [
            {"kid": "ec", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
            {**good, "kid": "rs512", "alg": "RS512"},
            {**good, "kid": "broken", "n": "!!"},
            "not an object",
            good,
        ]
    }
    server = CertsServer(document)
    try:
        verifier = make_verifier(issuer, certs_url=server.url)
        assert verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED))).email == ALLOWED
    finally:
        server.close()


def test_google_issuer_accepts_both_documented_spellings(issuer: LocalIssuer) -> None:
    verifier = make_verifier(issuer, issuer=GOOGLE_ISSUER)
    for iss in ("https://accounts.google.com", "accounts.google.com"):
        token = issuer.mint(AUDIENCE, ALLOWED, extra_claims={"iss": iss})
        assert verifier.verify_header(bearer(token)).email == ALLOWED
    token = issuer.mint(AUDIENCE, ALLOWED, extra_claims={"iss": "http://accounts.google.com"})
    with pytest.raises(UnauthenticatedError):
        verifier.verify_header(bearer(token))


# -- 401s ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    issuer: rsa.RSAPrivateKey
    other: rsa.RSAPrivateKey


@dataclass(frozen=True)
class Bad:
    """One refused Authorization header and the reason the log must give."""

    name: str
    header: Callable[[LocalIssuer, Keys], str | None]
    logged: str


def _mint(audience: str = AUDIENCE, **kwargs: Any) -> Callable[[LocalIssuer, Keys], str]:
    def header(issuer: LocalIssuer, _: Keys) -> str:
        return bearer(issuer.mint(audience, ALLOWED, **kwargs))

    return header


def _signed(
    header: Callable[[LocalIssuer], dict[str, Any]],
    claims: Callable[[LocalIssuer], dict[str, Any]] = good_claims,
    algorithm: hashes.HashAlgorithm | None = None,
    *,
    own_key: bool = True,
) -> Callable[[LocalIssuer, Keys], str]:
    """A token hand-built and signed by the issuer's key (own_key) or another key."""

    def build(issuer: LocalIssuer, keys: Keys) -> str:
        key = keys.issuer if own_key else keys.other
        return bearer(rsa_token(key, header(issuer), claims(issuer), algorithm))

    return build


def _kid(issuer: LocalIssuer) -> dict[str, Any]:
    return {"alg": "RS256", "kid": issuer.kid, "typ": "JWT"}


NOW = time.time  # evaluated per test, when the token is built

BAD = [
    Bad("missing header", lambda i, k: None, "no Authorization header"),
    Bad("empty header", lambda i, k: "", "no Authorization header"),
    Bad("basic auth", lambda i, k: "Basic dXNlcjpwYXNz", "not Bearer"),
    Bad("bare token", lambda i, k: i.mint(AUDIENCE, ALLOWED), "not Bearer"),
    Bad("bearer without token", lambda i, k: "Bearer", "empty"),
    Bad("two tokens", lambda i, k: f"Bearer {i.mint(AUDIENCE, ALLOWED)} x", "single token"),
    Bad("garbage", lambda i, k: "Bearer garbage", "not 3"),
    Bad("not JSON", lambda i, k: "Bearer YWJj.YWJj.c", "not JSON"),
    Bad("not a JSON object", lambda i, k: "Bearer WzFd.e30.c", "not a JSON object"),
    Bad("bad base64 length", lambda i, k: "Bearer a.b.c", "not base64url"),
    Bad("not base64", lambda i, k: "Bearer a*.b.c", "not base64url"),
    Bad("huge", lambda i, k: "Bearer " + "a" * 20_000, "too long"),
    Bad("alg none", lambda i, k: bearer(unsigned_token(i, "none")), "'none' is not RS256"),
    Bad("alg None", lambda i, k: bearer(unsigned_token(i, "None")), "is not RS256"),
    Bad(
        "alg none, no kid",
        lambda i, k: bearer(f"{b64json({'alg': 'none'})}.{b64json(good_claims(i))}."),
        "is not RS256",
    ),
    Bad("HS256 keyed with public key", lambda i, k: bearer(hs256_token(i, public_pem(i))), "HS256"),
    Bad(
        "HS256 keyed with cert",
        lambda i, k: bearer(hs256_token(i, i.certs_document()[i.kid].encode())),
        "HS256",
    ),
    Bad(
        "RS512 with the right key",
        _signed(lambda i: {**_kid(i), "alg": "RS512"}, algorithm=hashes.SHA512()),
        "RS512",
    ),
    Bad("no kid", _signed(lambda i: {"alg": "RS256", "typ": "JWT"}), "no kid"),
    Bad("crit header", _signed(lambda i: {**_kid(i), "crit": ["exp"]}), "crit"),
    Bad("wrong key, same kid", _signed(_kid, own_key=False), "bad signature"),
    Bad("tampered payload", lambda i, k: bearer(tampered(i)), "bad signature"),
    Bad("wrong audience", _mint(audience="https://other.example"), "audience"),
    Bad("wrong issuer", _mint(extra_claims={"iss": "https://evil.example"}), "issuer"),
    Bad("google issuer", _mint(extra_claims={"iss": "accounts.google.com"}), "issuer"),
    Bad("expired", lambda i, k: _mint(issued_at=NOW() - 3660)(i, k), "expired"),
    Bad("future iat", lambda i, k: _mint(issued_at=NOW() + 60)(i, k), "future"),
    Bad(
        "future nbf",
        lambda i, k: _mint(extra_claims={"nbf": int(NOW()) + 60})(i, k),
        "nbf",
    ),
    Bad("no exp", _signed(_kid, lambda i: {**good_claims(i), "exp": None}), "claim exp"),
    Bad("string exp", _signed(_kid, lambda i: good_claims(i, exp="9999999999")), "claim exp"),
    Bad("bool iat", _signed(_kid, lambda i: good_claims(i, iat=True)), "claim iat"),
    Bad(
        "exp before iat",
        _signed(_kid, lambda i: good_claims(i, exp=good_claims(i)["iat"])),
        "before",
    ),
    Bad("no sub", _signed(_kid, lambda i: good_claims(i, sub="")), "no sub"),
    Bad("list audience", _mint(extra_claims={"aud": [AUDIENCE]}), "audience"),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_refused_with_401_and_a_generic_message(
    issuer: LocalIssuer,
    issuer_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    verifier: OidcVerifier,
    bad: Bad,
    caplog: pytest.LogCaptureFixture,
) -> None:
    header = bad.header(issuer, Keys(issuer=issuer_key, other=other_key))
    caplog.set_level(logging.INFO, logger="framerun.auth")
    with pytest.raises(UnauthenticatedError) as caught:
        verifier.verify_header(header)
    error = caught.value
    assert error.code == "UNAUTHENTICATED"
    assert error.http_status == 401
    assert not error.retryable
    assert error.message == UNAUTHENTICATED_MESSAGE  # nothing about which check failed
    assert error.__cause__ is None and error.__suppress_context__
    reasons = [r.getMessage() for r in caplog.records if r.name == "framerun.auth"]
    assert any(bad.logged in reason for reason in reasons), reasons


# -- 403s ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "verified", "logged"),
    [
        (STRANGER, True, "not an allowed invoker"),
        (ALLOWED, False, "not verified"),
        (ALLOWED, "false", "not verified"),
        ("", True, "no email"),
    ],
)
def test_valid_token_of_a_caller_not_allowed_is_403(
    issuer: LocalIssuer,
    verifier: OidcVerifier,
    email: str,
    verified: object,
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = issuer.mint(AUDIENCE, email, extra_claims={"email_verified": verified})
    caplog.set_level(logging.INFO, logger="framerun.auth")
    with pytest.raises(ForbiddenError) as caught:
        verifier.verify_header(bearer(token))
    assert caught.value.code == "FORBIDDEN"
    assert caught.value.http_status == 403
    assert caught.value.message == FORBIDDEN_MESSAGE
    assert caught.value.to_json() == {
        "error": {"code": "FORBIDDEN", "message": FORBIDDEN_MESSAGE, "retryable": False}
    }
    assert any(logged in r.getMessage() for r in caplog.records if r.name == "framerun.auth")


def test_a_not_allowed_caller_with_a_bad_token_is_401_not_403(
    issuer: LocalIssuer, verifier: OidcVerifier
) -> None:
    """Identity claims of an unverified token must not leak into the answer."""
    token = issuer.mint("https://other.example", STRANGER)
    with pytest.raises(UnauthenticatedError):
        verifier.verify_header(bearer(token))


# -- the certs cache -------------------------------------------------------------------


def test_unknown_kid_refreshes_once_then_is_rate_limited(
    issuer: LocalIssuer, other_key: rsa.RSAPrivateKey, certs_server: CertsServer
) -> None:
    clock = FakeMonotonic()
    verifier = make_verifier(issuer, certs_url=certs_server.url, monotonic=clock)
    verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))
    assert certs_server.hits == 1

    clock.now += 31  # past the rate limit, well within the cache's max-age
    unknown = rsa_token(other_key, {"alg": "RS256", "kid": "unknown-1"}, good_claims(issuer))
    with pytest.raises(UnauthenticatedError):
        verifier.verify_header(bearer(unknown))
    assert certs_server.hits == 2  # exactly one refresh

    clock.now += 29  # a second unknown kid within 30 s of that refresh: no fetch
    unknown = rsa_token(other_key, {"alg": "RS256", "kid": "unknown-2"}, good_claims(issuer))
    for _ in range(5):
        with pytest.raises(UnauthenticatedError):
            verifier.verify_header(bearer(unknown))
    assert certs_server.hits == 2

    verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))  # known kids still fine
    assert certs_server.hits == 2


def test_unknown_kid_first_request_costs_one_fetch(
    issuer: LocalIssuer, other_key: rsa.RSAPrivateKey, certs_server: CertsServer
) -> None:
    verifier = make_verifier(issuer, certs_url=certs_server.url, monotonic=FakeMonotonic())
    unknown = rsa_token(other_key, {"alg": "RS256", "kid": "unknown"}, good_claims(issuer))
    with pytest.raises(UnauthenticatedError):
        verifier.verify_header(bearer(unknown))
    assert certs_server.hits == 1


def test_a_rotated_in_key_is_picked_up_by_the_refresh(
    issuer: LocalIssuer, certs_server: CertsServer
) -> None:
    clock = FakeMonotonic()
    verifier = make_verifier(issuer, certs_url=certs_server.url, monotonic=clock)
    verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))
    with LocalIssuer() as rotated:
        certs_server.document = {**issuer.certs_document(), **rotated.certs_document()}
        token = rotated.mint(AUDIENCE, ALLOWED, extra_claims={"iss": issuer.url})
        with pytest.raises(UnauthenticatedError):  # refresh rate-limited: 0 s since the fetch
            verifier.verify_header(bearer(token))
        clock.now += 30
        assert verifier.verify_header(bearer(token)).email == ALLOWED
    assert certs_server.hits == 2


@pytest.mark.parametrize(("cache_control", "ttl"), [("public, max-age=100", 100), (None, 3600)])
def test_certs_cache_honours_max_age_else_one_hour(
    issuer: LocalIssuer, cache_control: str | None, ttl: int
) -> None:
    server = CertsServer(issuer.certs_document(), cache_control=cache_control)
    try:
        clock = FakeMonotonic()
        verifier = make_verifier(issuer, certs_url=server.url, monotonic=clock)
        token = bearer(issuer.mint(AUDIENCE, ALLOWED))
        verifier.verify_header(token)
        clock.now += ttl - 1
        verifier.verify_header(token)
        assert server.hits == 1
        clock.now += 2
        verifier.verify_header(token)
        assert server.hits == 2
    finally:
        server.close()


def test_unreachable_certs_is_503_retryable(issuer: LocalIssuer) -> None:
    server = CertsServer({})
    dead_url = server.url
    server.close()
    verifier = make_verifier(issuer, certs_url=dead_url, fetch_timeout_s=2)
    with pytest.raises(AuthUnavailableError) as caught:
        verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))
    assert caught.value.code == "AUTH_UNAVAILABLE"
    assert caught.value.http_status == 503
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("status", "document"), [(500, {}), (200, {}), (200, {"kid": "not a cert"}), (200, [1])]
)
def test_a_broken_certs_answer_is_503(issuer: LocalIssuer, status: int, document: Any) -> None:
    server = CertsServer(document)
    server.status = status
    try:
        verifier = make_verifier(issuer, certs_url=server.url)
        with pytest.raises(AuthUnavailableError):
            verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))
    finally:
        server.close()


def test_an_outage_after_a_good_fetch_keeps_the_known_keys(
    issuer: LocalIssuer, certs_server: CertsServer
) -> None:
    clock = FakeMonotonic()
    verifier = make_verifier(issuer, certs_url=certs_server.url, monotonic=clock)
    token = bearer(issuer.mint(AUDIENCE, ALLOWED))
    verifier.verify_header(token)
    certs_server.status = 503
    clock.now += 3601  # expired: a refetch is attempted, fails, the old keys stay
    assert verifier.verify_header(token).email == ALLOWED
    assert certs_server.hits == 2
    clock.now += 7 * 3600  # but not forever
    with pytest.raises(AuthUnavailableError):
        verifier.verify_header(token)


def test_twenty_threads_at_once_cost_one_fetch(
    issuer: LocalIssuer, certs_server: CertsServer
) -> None:
    certs_server.delay_s = 0.2  # a slow certs endpoint widens the race window
    verifier = make_verifier(issuer, certs_url=certs_server.url)
    tokens = [bearer(issuer.mint(AUDIENCE, ALLOWED)) for _ in range(20)]
    barrier = threading.Barrier(20)

    def verify(token: str) -> Identity:
        barrier.wait(timeout=10)
        return verifier.verify_header(token)

    with ThreadPoolExecutor(max_workers=20) as pool:
        identities = list(pool.map(verify, tokens))
    assert all(identity.email == ALLOWED for identity in identities)
    assert certs_server.hits == 1


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "env_var"),
    [
        ({"allowed_emails": frozenset()}, ENV_ALLOWED_INVOKERS),
        ({"allowed_emails": frozenset({" "})}, ENV_ALLOWED_INVOKERS),
        ({"audiences": ()}, ENV_AUDIENCES),
        ({"audiences": AUDIENCE}, ENV_AUDIENCES),  # a bare string, not a tuple
        ({"certs_url": "file:///etc/passwd"}, ENV_CERTS_URL),
    ],
)
def test_misconfiguration_fails_at_construction(
    issuer: LocalIssuer, overrides: dict[str, Any], env_var: str
) -> None:
    with pytest.raises(ValueError, match=env_var):
        make_verifier(issuer, **overrides)


def test_from_env_reads_comma_separated_lists() -> None:
    verifier = OidcVerifier.from_env(
        {
            ENV_AUDIENCES: f" {AUDIENCE} , https://b.example,",
            ENV_ALLOWED_INVOKERS: f"{ALLOWED},{STRANGER}",
        }
    )
    assert verifier.audiences == (AUDIENCE, "https://b.example")
    assert verifier.allowed_emails == frozenset({ALLOWED, STRANGER})
    assert verifier.issuer == GOOGLE_ISSUER
    assert verifier.certs_url == GOOGLE_CERTS_URL


def test_from_env_points_at_a_local_issuer(issuer: LocalIssuer) -> None:
    verifier = OidcVerifier.from_env(
        {
            ENV_AUDIENCES: AUDIENCE,
            ENV_ALLOWED_INVOKERS: ALLOWED,
            "FRAMERUN_AUTH_ISSUER": issuer.url,
            ENV_CERTS_URL: issuer.certs_url,
        }
    )
    assert verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED))).email == ALLOWED


@pytest.mark.parametrize("missing", [ENV_AUDIENCES, ENV_ALLOWED_INVOKERS])
def test_from_env_requires_audiences_and_invokers(missing: str) -> None:
    env = {ENV_AUDIENCES: AUDIENCE, ENV_ALLOWED_INVOKERS: ALLOWED}
    del env[missing]
    with pytest.raises(ValueError, match=missing):
        OidcVerifier.from_env(env)


def test_there_is_no_off_switch() -> None:
    fields = set(OidcVerifier.__dataclass_fields__)
    assert not any(word in name for name in fields for word in ("disable", "skip", "insecure"))


def test_ec_certs_are_not_used(issuer: LocalIssuer) -> None:
    """Only RSA keys can verify RS256; an EC cert for the kid is skipped, not trusted."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC))
        .sign(ec_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    server = CertsServer({issuer.kid: pem})
    try:
        verifier = make_verifier(issuer, certs_url=server.url)
        with pytest.raises(AuthUnavailableError):  # no usable key at all
            verifier.verify_header(bearer(issuer.mint(AUDIENCE, ALLOWED)))
    finally:
        server.close()
