"""Attacks on the running service: forged and misused tokens, hostile site archives,
variables that try to escape into the page.

Every request goes over HTTP to the service under gunicorn, signed by the local
issuer (or forged), and each body is one that *would* write to the bucket if it
were accepted: a plan of a real site. So "refused" is checked twice: the typed
401/403/400, and an unchanged bucket.

The page network guard (metadata server, loopback, private ranges, file://,
redirects and DNS names resolving to them) is tested separately; see
docs/reliability.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import tarfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.compositions import write_composition
from tests.reliability.rel_stack import RelStack, assert_typed_error, post, upload_site
from tests.service.service_harness import INVOKER, forge_token
from tests.videos import decode

# ---- tokens -----------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(stack: RelStack, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": stack.issuer.url,
        "aud": stack.service.url,
        "sub": "1234567890",
        "email": INVOKER,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}." + _b64(
        signature
    )


def _hs256_with_the_public_key(stack: RelStack) -> str:
    """Key confusion: HMAC-signed with the published certificate as the secret."""
    public = requests.get(stack.issuer.certs_url, timeout=10).json()[stack.issuer.kid].encode()
    header = {"alg": "HS256", "kid": stack.issuer.kid, "typ": "JWT"}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(stack)).encode())}"
    )
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


TOKENS: dict[str, tuple[Callable[[RelStack], str | None], int]] = {
    "no token": (lambda s: None, 401),
    "not a JWT": (lambda s: "not-a-jwt", 401),
    "alg none": (
        lambda s: _unsigned({"alg": "none", "kid": s.issuer.kid, "typ": "JWT"}, _claims(s)),
        401,
    ),
    "alg none, valid signature segment copied": (
        lambda s: _unsigned(
            {"alg": "none", "kid": s.issuer.kid},
            _claims(s),
            base64.urlsafe_b64decode(s.service.token().split(".")[2] + "=="),
        ),
        401,
    ),
    "HS256 signed with the public key": (_hs256_with_the_public_key, 401),
    "another audience": (lambda s: s.issuer.mint("https://other.example.run.app", INVOKER), 401),
    "another issuer": (lambda s: s.issuer.sign(_claims(s, iss="https://evil.example")), 401),
    "signed by another key, same kid": (
        lambda s: forge_token(
            {"alg": "RS256", "kid": s.issuer.kid, "typ": "JWT"},
            _claims(s),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ),
        401,
    ),
    "expired 11 s ago (a captured token replayed)": (
        lambda s: s.issuer.mint(
            s.service.url, INVOKER, issued_at=time.time() - 3611, lifetime_s=3600
        ),
        401,
    ),
    "issued in the future": (
        lambda s: s.issuer.mint(s.service.url, INVOKER, issued_at=time.time() + 600),
        401,
    ),
    "valid token of a non-invoker account": (
        lambda s: s.issuer.mint(s.service.url, "attacker@evil-project.iam.gserviceaccount.com"),
        403,
    ),
    "invoker email not verified": (
        lambda s: s.issuer.mint(s.service.url, INVOKER, email_verified=False),
        403,
    ),
}


@pytest.fixture(scope="module")
def plan_body(stack: RelStack, project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A plan of a real site: accepted, it would write renders/<id>/plan.json."""
    site = upload_site(stack, project, tmp_path_factory.mktemp("attack-site"))
    return {
        "Action": "plan",
        "renderId": "attack-target",
        "siteUri": site,
        "outputUri": f"gs://{stack.bucket}/attack/out.mp4",
        "config": {},
    }


def test_the_attack_body_is_accepted_with_a_good_token(stack: RelStack, plan_body: dict) -> None:
    """Guards the token cases: the same body with a valid token does write."""
    body = {**plan_body, "renderId": f"attack-control-{uuid.uuid4().hex[:8]}"}
    response = post(stack, body)
    assert response.status_code == 200, response.text
    assert f"renders/{body['renderId']}/plan.json" in stack.objects("renders/")


@pytest.mark.parametrize("case", list(TOKENS))
def test_a_bad_token_is_refused_and_nothing_is_written(
    stack: RelStack, plan_body: dict, case: str, figures: dict
) -> None:
    make, status = TOKENS[case]
    before = stack.objects()
    error = assert_typed_error(post(stack, plan_body, token=make(stack)), status)
    assert error["code"] == {401: "UNAUTHENTICATED", 403: "FORBIDDEN"}[status]
    # Generic: nothing says which check failed.
    assert error["message"] in (
        "missing or invalid ID token",
        "caller is not allowed to invoke this service",
    )
    assert stack.objects() == before
    figures.setdefault("attacks", {})[f"token: {case}"] = f"refused {status}"


# ---- hostile site archives ----------------------------------------------------------------


def _tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def _file(name: str, data: bytes = b"<html></html>") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return info, None


INDEX = _file(
    "index.html",
    b'<html><body data-width="160" data-height="120" data-fps="30" data-duration="1">'
    b"</body></html>",
)


def _declared_size_bomb() -> bytes:
    """One member whose header claims 1.5 GiB (over the per-file limit); ~100 bytes gzipped."""
    info = tarfile.TarInfo("index.html")
    info.size = 3 * 2**29
    return _gzip(info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 65536)


def _pax_header_bomb() -> bytes:
    """A 64 MiB PAX extended header (tarfile reads a header whole): ~64 KiB gzipped."""
    value_size = 64 * 2**20
    line = f" comment={'A' * value_size}\n"
    length = len(line) + len(str(len(line)))
    length += len(str(length)) - len(str(len(line)))
    record = f"{length}{line}".encode()
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = len(record)
    padding = b"\0" * (-len(record) % 512)
    return _gzip(info.tobuf(tarfile.USTAR_FORMAT) + record + padding + b"\0" * 1024)


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=9, mtime=0)


def _archives(marker: str) -> dict[str, bytes]:
    return {
        "zip-slip ../": _tar_gz([INDEX, _file(f"../../../../{marker}/pwned.txt", b"pwned")]),
        "zip-slip nested a/../../": _tar_gz([INDEX, _file(f"a/../../{marker}/pwned.txt")]),
        "absolute path": _tar_gz([INDEX, _file(f"/tmp/{marker}/pwned.txt", b"pwned")]),
        "symlink to /etc/passwd": _tar_gz(
            [INDEX, _special("passwd.txt", tarfile.SYMTYPE, "/etc/passwd")]
        ),
        "symlink dir then write through it": _tar_gz(
            [
                INDEX,
                _special("d", tarfile.SYMTYPE, f"/tmp/{marker}"),
                _file("d/pwned.txt", b"pwned"),
            ]
        ),
        "hard link to /etc/passwd": _tar_gz(
            [INDEX, _special("passwd.txt", tarfile.LNKTYPE, "/etc/passwd")]
        ),
        "character device": _tar_gz([INDEX, _special("null", tarfile.CHRTYPE)]),
        "block device": _tar_gz([INDEX, _special("sda", tarfile.BLKTYPE)]),
        "fifo": _tar_gz([INDEX, _special("pipe", tarfile.FIFOTYPE)]),
        "bomb: header claims 1.5 GiB": _declared_size_bomb(),
        "bomb: 64 MiB PAX header": _pax_header_bomb(),
        "not gzip": b"PK\x03\x04 a zip, not a tar.gz",
    }


ARCHIVE_CASES = list(_archives("x"))


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_a_hostile_site_archive_is_refused_and_nothing_escapes(
    stack: RelStack, case: str, figures: dict
) -> None:
    marker = f"framerun-escape-{uuid.uuid4().hex[:12]}"
    archive = _archives(marker)[case]
    site_uri = f"gs://{stack.bucket}/sites/{hashlib.sha256(archive).hexdigest()}/site.tar.gz"
    with stack.storage() as store:
        store.upload_bytes_if_absent(archive, site_uri, content_type="application/gzip")
    sites_before = set(stack.work_dir.glob("pid-*/sites/**/*"))
    before = stack.objects()
    render_id = f"archive-{uuid.uuid4().hex[:8]}"
    body = {
        "Action": "plan",
        "renderId": render_id,
        "siteUri": site_uri,
        "outputUri": f"gs://{stack.bucket}/attack/{render_id}.mp4",
        "config": {},
    }
    started = time.monotonic()
    error = assert_typed_error(post(stack, body), 400)
    seconds = time.monotonic() - started
    assert error["code"] == "UNSAFE_ARCHIVE", error
    assert stack.objects() == before
    # Nothing was written outside (or inside: extraction is all or nothing).
    escaped = [Path("/tmp", marker), *stack.work_dir.parents[1].rglob(f"*{marker}*")]
    assert [p for p in escaped if p.exists()] == [], escaped
    # Not even an empty site-* folder is left behind.
    after = set(stack.work_dir.glob("pid-*/sites/**/*"))
    assert after == sites_before, after - sites_before
    assert seconds < 10
    figures.setdefault("attacks", {})[f"archive: {case}"] = (
        f"refused UNSAFE_ARCHIVE in {seconds:.2f}s"
    )


# ---- variables that try to escape into the page -----------------------------------------

PAYLOADS = [
    "</script><script>window.__pwned = 1</script>",
    '"}; window.__pwned = 1; //',
    "'); window.__pwned = 1; ('",
    "\u2028window.__pwned = 1;\u2029",
    '<img src=x onerror="window.__pwned = 1">',
    "${window.__pwned = 1}",
    "\\u0022; window.__pwned = 1; //",
    "<!-- --><script>window.__pwned = 1</script>",
]


def test_variables_carrying_html_and_js_stay_data(
    stack: RelStack, tmp_path: Path, figures: dict
) -> None:
    """The page paints green only if no payload ran and each variable reads back
    exactly as sent; red otherwise. Rendered through the whole stack."""
    declared = [
        {"id": f"v{i}", "type": "string", "label": f"v{i}", "default": ""}
        for i in range(len(PAYLOADS))
    ]
    expected = base64.b64encode(json.dumps(PAYLOADS).encode()).decode()
    body = f"""<div id="out" style="position:absolute;inset:0;background:#ff0000"></div>
<div id="text" style="position:absolute;left:0;top:0;font-size:6px;color:#000"></div>
<script>
  const bytes = Uint8Array.from(atob("{expected}"), c => c.charCodeAt(0));
  const want = JSON.parse(new TextDecoder().decode(bytes));
  const got = window.__framerun.getVariables();
  const same = want.every((w, i) => got["v" + i] === w);
  document.getElementById("text").textContent = Object.values(got).join(" ");
  requestAnimationFrame(() => {{
    const clean = same && window.__pwned === undefined && !document.querySelector("img");
    document.getElementById("out").style.background = clean ? "#00ff00" : "#ff0000";
  }});
</script>"""
    project = write_composition(
        tmp_path / "vars", body, width=160, height=120, duration="0.2", variables=declared
    )
    variables = {f"v{i}": payload for i, payload in enumerate(PAYLOADS)}
    handle = stack.start(project, {"variables": variables, "strictVariables": True})
    stack.wait(handle, timeout_s=120)
    video = decode(stack.download(handle.output_uri, tmp_path / "vars.mp4"))
    frame = video.frames[-1].astype(int)
    lower = frame[60:, :, :]  # below the text line
    green = np.mean(lower[..., 1]) - np.mean(lower[..., 0])
    assert green > 150, f"the page saw an injection or changed values (mean G-R {green:.0f})"
    figures.setdefault("attacks", {})["variables: HTML/JS payloads"] = (
        f"{len(PAYLOADS)} payloads stayed data"
    )
