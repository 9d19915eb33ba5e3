"""The plan Action sizes chunks for its own instance (FRAMERUN_CHUNK_PAGES vCPUs), shows
the choice in plan.json and its log, and refuses a chunkSize past the http.post cap."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framerun.local.issuer import LocalIssuer
from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.service.service_harness import RunningService, start_service, stop_service, upload_site

VCPUS = 3  # not the planner's default (4), nor this machine's cores (2)
MAX_INSTANCES = 30  # the service's max_instance_count, as Terraform passes it


@pytest.fixture(scope="module")
def service(fake_gcs: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    bucket = fake_gcs.create_bucket()
    with LocalIssuer() as issuer:
        running = start_service(
            bucket,
            issuer,
            tmp_path_factory.mktemp("service"),
            extra_env={
                "FRAMERUN_CHUNK_PAGES": str(VCPUS),
                "FRAMERUN_MAX_INSTANCES": str(MAX_INSTANCES),
            },
        )
        try:
            yield running
        finally:
            stop_service(running)


def plan_body(service: RunningService, site_uri: str, config: dict[str, Any]) -> dict[str, Any]:
    render_id = f"sizing-{uuid.uuid4().hex[:8]}"
    return {
        "Action": "plan",
        "renderId": render_id,
        "siteUri": site_uri,
        "outputUri": f"gs://{service.bucket}/outputs/{render_id}.mp4",
        "config": config,
    }


def test_no_chunk_size_is_sized_for_this_instance_and_shown(
    service: RunningService, tmp_path: Path
) -> None:
    """4 s at 30 fps with 2 at once: 2 chunks of 60 frames, predicted on 3 vCPUs."""
    project = write_composition(tmp_path / "site", "<p>hi</p>", width=64, height=48, duration="4")
    body = plan_body(
        service, upload_site(service, project, tmp_path / "a"), {"maxParallelChunks": 2}
    )
    reply = service.post(body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["chunkCount"] == 2
    with Storage.from_env() as store:
        stored = store.read_json(reply.json()["planUri"])
    note = stored["plan"]["chunkSizing"]
    assert note.startswith("chunk size: auto → 60 frames (120 frames over 2 chunks at once")
    assert f"on {VCPUS} vCPUs" in note
    logged = [json.loads(line)["message"] for line in service.log().splitlines() if line[:1] == "{"]
    assert f"render {body['renderId']}: {note}" in logged


def test_a_chunk_size_past_the_cap_is_refused_before_anything_is_stored(
    service: RunningService, tmp_path: Path
) -> None:
    """An hour of 4K in one chunk on 3 vCPUs: refused by the plan with the fix, 400."""
    project = write_composition(
        tmp_path / "site", "<p>hi</p>", width=3840, height=2160, duration="3600"
    )
    body = plan_body(service, upload_site(service, project, tmp_path / "a"), {"chunkSize": 10_000})
    reply = service.post(body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_CONFIG" and error["retryable"] is False
    message = error["message"]
    # 108,000 frames in 11 balanced chunks of at most 10,000: the largest is 9819.
    assert message.startswith("chunkSize 10000 makes chunks of up to 9819 frames; frames ")
    assert f"on {VCPUS} vCPUs" in message and "1800 s http.post cap" in message
    assert "use chunkSize ≤ " in message
    with Storage.from_env() as store:
        assert not store.list_keys(f"gs://{service.bucket}/renders/{body['renderId']}/")


def test_more_chunks_at_once_than_instances_is_refused_with_the_fix(
    service: RunningService, tmp_path: Path
) -> None:
    """31 at once on a service of 30 instances: chunks would queue and meet 429s."""
    project = write_composition(tmp_path / "site", "<p>hi</p>", width=64, height=48, duration="4")
    site = upload_site(service, project, tmp_path / "a")
    reply = service.post(plan_body(service, site, {"maxParallelChunks": MAX_INSTANCES + 1}))
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_CONFIG" and error["retryable"] is False
    assert (
        "max_instance_count" in error["message"]
        and "lower maxParallelChunks to 30" in (error["message"])
    )
    ok = service.post(plan_body(service, site, {"maxParallelChunks": MAX_INSTANCES}))
    assert ok.status_code == 200, ok.text
