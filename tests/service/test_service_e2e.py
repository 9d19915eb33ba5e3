"""The Cloud Run service end to end: real gunicorn, fake-gcs-server, real signed tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import framerun
from framerun_service.core.storage import Storage
from framerun_service.render.archive import make_site_archive
from tests.compositions import MOVERS, write_composition
from tests.service.service_harness import (
    INVOKER,
    RunningService,
    forge_token,
)
from tests.videos import decode, min_psnr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = MOVERS["css"] + MOVERS["gsap"].replace('id="b"', 'id="b" style="top:120px"')
    return write_composition(tmp_path_factory.mktemp("site"), body, duration="2", gsap=True)


@pytest.fixture(scope="module")
def site_uri(
    service: RunningService, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    archive = tmp_path_factory.mktemp("archive") / "site.tar.gz"
    site_id = make_site_archive(project, archive)
    uri = f"gs://{service.bucket}/sites/{site_id}/site.tar.gz"
    with Storage.from_env() as store:
        store.upload_file_if_absent(archive, uri, content_type="application/gzip")
    return uri


def _keys(service: RunningService) -> list[str]:
    with Storage.from_env() as store:
        return store.list_keys(f"gs://{service.bucket}/")


def _plan_body(service: RunningService, site_uri: str, render_id: str, **config: Any) -> dict:
    return {
        "Action": "plan",
        "renderId": render_id,
        "siteUri": site_uri,
        "outputUri": f"gs://{service.bucket}/outputs/{render_id}.mp4",
        "config": config,
    }


def test_plan_chunks_out_of_order_twice_and_assemble_match_the_in_process_render(
    service: RunningService, project: Path, site_uri: str, tmp_path: Path
) -> None:
    render_id = f"e2e-{uuid.uuid4().hex[:8]}"
    plan = service.post(_plan_body(service, site_uri, render_id, chunkSize=20))
    assert plan.status_code == 200, plan.text
    p = plan.json()
    assert (p["totalFrames"], p["chunkCount"]) == (60, 3)
    common = {"renderId": render_id, "planUri": p["planUri"], "planHash": p["planHash"]}
    cached = []
    for index in (2, 0, 1, 0):  # out of order, chunk 0 twice
        r = service.post({"Action": "renderChunk", **common, "chunkIndex": index})
        assert r.status_code == 200, r.text
        cached.append(r.json()["cached"])
    assert cached == [False, False, False, True]
    output_uri = f"gs://{service.bucket}/outputs/{render_id}.mp4"
    done = service.post({"Action": "assemble", **common, "chunkCount": 3, "outputUri": output_uri})
    assert done.status_code == 200, done.text
    again = service.post({"Action": "assemble", **common, "chunkCount": 3, "outputUri": output_uri})
    assert again.json()["cached"] is True

    distributed = tmp_path / "distributed.mp4"
    with Storage.from_env() as store:
        store.download_to(output_uri, distributed)
    local = tmp_path / "local.mp4"
    framerun.render(project, local, chunk_size=20, workers=2)
    a, b = decode(distributed), decode(local)
    assert len(a.frames) == len(b.frames) == 60
    assert a.pts == b.pts
    assert min_psnr(a.frames, b.frames) >= 45.0


def test_a_request_with_another_plan_hash_is_refused(
    service: RunningService, site_uri: str
) -> None:
    render_id = f"hash-{uuid.uuid4().hex[:8]}"
    p = service.post(_plan_body(service, site_uri, render_id, chunkSize=30)).json()
    forged = "0" * 64
    r = service.post(
        {
            "Action": "renderChunk",
            "renderId": render_id,
            "planUri": p["planUri"],
            "planHash": forged,
            "chunkIndex": 0,
        }
    )
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "PLAN_HASH_MISMATCH",
        "message": r.json()["error"]["message"],
        "retryable": False,
    }
    assert not [k for k in _keys(service) if f"renders/{render_id}/chunks/" in k]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Action": "explode", "renderId": "x"}, "INVALID_REQUEST"),
        ({"renderId": "x"}, "INVALID_REQUEST"),
        ([1, 2, 3], "INVALID_REQUEST"),
        (
            {
                "Action": "plan",
                "renderId": "../etc",
                "siteUri": "gs://b/k",
                "outputUri": "gs://b/o",
            },
            "INVALID_REQUEST",
        ),
        (
            {
                "Action": "renderChunk",
                "renderId": "r",
                "planUri": "gs://elsewhere/p.json",
                "planHash": "a" * 64,
                "chunkIndex": 0,
            },
            "INVALID_REQUEST",
        ),
        (
            {
                "Action": "renderChunk",
                "renderId": "r",
                "planUri": "PLAN",
                "planHash": "a" * 64,
                "chunkIndex": "zero",
            },
            "INVALID_REQUEST",
        ),
    ],
)
def test_malformed_bodies_get_a_typed_400(service: RunningService, body: Any, code: str) -> None:
    if isinstance(body, dict) and body.get("planUri") == "PLAN":
        body["planUri"] = f"gs://{service.bucket}/renders/r/plan.json"
    before = _keys(service)
    r = service.post(body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["retryable"] is False
    assert "Traceback" not in r.text
    assert _keys(service) == before


def test_bad_composition_config_is_a_typed_400(service: RunningService, site_uri: str) -> None:
    r = service.post(_plan_body(service, site_uri, "badcfg", width=321))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID_CONFIG"
    assert "321" in r.json()["error"]["message"]


def _claims(service: RunningService) -> dict[str, Any]:
    payload = service.token().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _bad_token(service: RunningService, case: str) -> str | None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = {"alg": "RS256", "kid": service.issuer.kid, "typ": "JWT"}
    now = int(time.time())
    if case == "missing":
        return None
    if case == "wrong audience":
        return service.issuer.mint("https://someone-else.run.app", INVOKER)
    if case == "wrong issuer":
        return service.issuer.sign({**_claims(service), "iss": "https://evil.example"})
    if case == "expired":
        return service.issuer.mint(service.url, INVOKER, issued_at=now - 7200, lifetime_s=3600)
    if case == "wrong key":
        return forge_token(header, _claims(service), other_key)
    if case == "unknown kid":
        return forge_token({**header, "kid": "not-a-known-kid"}, _claims(service), other_key)
    if case == "not an invoker":
        return service.issuer.mint(service.url, "stranger@evil.iam.gserviceaccount.com")
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing", 401),
        ("wrong audience", 401),
        ("wrong issuer", 401),
        ("expired", 401),
        ("wrong key", 401),
        ("unknown kid", 401),
        ("not an invoker", 403),
    ],
)
def test_bad_tokens_are_refused_and_nothing_is_written(
    service: RunningService, site_uri: str, case: str, status: int
) -> None:
    before = _keys(service)
    r = service.post(
        _plan_body(service, site_uri, f"auth-{status}"), token=_bad_token(service, case)
    )
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == ("UNAUTHENTICATED" if status == 401 else "FORBIDDEN")
    for leak in ("audience", "issuer", "expired", "kid", "signature", INVOKER):
        assert leak not in err["message"].lower()
    assert _keys(service) == before


def test_request_logs_are_one_json_line_with_render_id_and_trace(service: RunningService) -> None:
    import requests

    requests.post(
        service.url + "/",
        json={"Action": "nope", "renderId": "logcheck"},
        headers={
            "Authorization": f"Bearer {service.token()}",
            "X-Cloud-Trace-Context": "abc123/1;o=1",
        },
        timeout=30,
    )
    lines = [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]
    entry = next(e for e in lines if e.get("renderId") == "logcheck")
    assert entry["status"] == 400 and entry["code"] == "INVALID_REQUEST"
    assert "abc123" in json.dumps(entry)
    assert isinstance(entry["seconds"], float)
