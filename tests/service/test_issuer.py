"""The local issuer, over real HTTP: it must look like Google's token service.

The strongest check is that google-auth's own verifier accepts its tokens: that is
what "the service verifies local tokens exactly as in the cloud" rests on.
"""

from __future__ import annotations

import base64
import json
import stat
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import id_token

from framerun.local.issuer import KEY_FILE, LocalIssuer

AUDIENCE = "https://framerun-abc123-uc.a.run.app"
EMAIL = "workflows@proj.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


def get_json(url: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), dict(e.headers)


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def decode_part(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def google_verify(token: str, certs_url: str, audience: str = AUDIENCE) -> dict[str, Any]:
    """google-auth's own check, with a session we close (no ResourceWarning)."""
    with requests.Session() as session:
        request = google.auth.transport.requests.Request(session=session)
        return dict(id_token.verify_token(token, request, audience=audience, certs_url=certs_url))


def test_serves_v1_certs_with_a_cert_for_the_kid(issuer: LocalIssuer) -> None:
    status, certs, headers = get_json(issuer.certs_url)
    assert status == 200
    assert list(certs) == [issuer.kid]
    assert "max-age=" in headers["Cache-Control"]
    cert = x509.load_pem_x509_certificate(certs[issuer.kid].encode())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048


def test_jwks_holds_the_same_key_as_the_cert(issuer: LocalIssuer) -> None:
    status, jwks, _ = get_json(issuer.jwks_url)
    assert status == 200
    [jwk] = jwks["keys"]
    assert {k: jwk[k] for k in ("kid", "kty", "alg", "use")} == {
        "kid": issuer.kid,
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
    }
    cert = x509.load_pem_x509_certificate(issuer.certs_document()[issuer.kid].encode())
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    numbers = public_key.public_numbers()
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["n"] + "=="), "big") == numbers.n
    assert int.from_bytes(base64.urlsafe_b64decode(jwk["e"] + "=="), "big") == numbers.e


def test_openid_configuration_names_issuer_and_jwks(issuer: LocalIssuer) -> None:
    status, config, _ = get_json(f"{issuer.url}/.well-known/openid-configuration")
    assert status == 200
    assert config["issuer"] == issuer.url
    assert config["jwks_uri"] == issuer.jwks_url
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


def test_post_token_returns_a_google_compatible_id_token(issuer: LocalIssuer) -> None:
    status, body = post(
        issuer.token_url, json.dumps({"audience": AUDIENCE, "email": EMAIL}).encode()
    )
    assert status == 200
    token = body["id_token"]
    header = decode_part(token.split(".")[0])
    assert header == {"alg": "RS256", "kid": issuer.kid, "typ": "JWT"}

    claims = google_verify(token, issuer.certs_url)
    assert claims["iss"] == issuer.url
    assert claims["aud"] == AUDIENCE
    assert claims["email"] == EMAIL
    assert claims["email_verified"] is True
    assert claims["sub"] == claims["azp"]
    assert claims["sub"].isdigit()
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60


def test_google_auth_rejects_a_wrong_audience(issuer: LocalIssuer) -> None:
    token = issuer.mint(AUDIENCE, EMAIL)
    with pytest.raises(ValueError, match="audience"):
        google_verify(token, issuer.certs_url, audience="https://other.example")


def test_mint_options(issuer: LocalIssuer) -> None:
    token = issuer.mint(
        AUDIENCE,
        EMAIL,
        lifetime_s=60,
        email_verified=False,
        issued_at=1_700_000_000,
        extra_claims={"nbf": 1_700_000_000, "iss": "https://elsewhere"},
    )
    claims = decode_part(token.split(".")[1])
    assert claims["iat"] == 1_700_000_000
    assert claims["exp"] == 1_700_000_060
    assert claims["email_verified"] is False
    assert claims["nbf"] == 1_700_000_000
    assert claims["iss"] == "https://elsewhere"
    # Same email, same subject: a stable id like a service account's unique id.
    assert claims["sub"] == decode_part(issuer.mint("x", EMAIL).split(".")[1])["sub"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"audience": "x"}',
        b'{"email": "a@b"}',
        b'{"audience": 1, "email": "a@b"}',
    ],
)
def test_post_token_rejects_bad_bodies(issuer: LocalIssuer, body: bytes) -> None:
    status, answer = post(issuer.token_url, body)
    assert status == 400
    assert "audience" in answer["error"]


def test_unknown_paths_are_404(issuer: LocalIssuer) -> None:
    status, _, _ = get_json(f"{issuer.url}/nope")
    assert status == 404
    status, _ = post(f"{issuer.url}/certs", b"{}")
    assert status == 404


def test_key_persists_across_restart_with_a_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "issuer"
    with LocalIssuer(state) as first:
        kid = first.kid
        port = first.port
        token = first.mint(AUDIENCE, EMAIL)
    key_file = state / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == [KEY_FILE]  # no temp files left behind

    # Same state dir and port: same kid and issuer URL, so old tokens still verify.
    with LocalIssuer(state, port=port) as second:
        assert second.kid == kid
        assert google_verify(token, second.certs_url)["iss"] == second.url

    with LocalIssuer() as ephemeral:
        assert ephemeral.kid != kid


def test_stop_frees_the_port_and_is_idempotent() -> None:
    issuer = LocalIssuer().start()
    url = issuer.certs_url
    issuer.stop()
    issuer.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
    with pytest.raises(RuntimeError, match="start"):
        _ = issuer.url
