"""Faults inside one service instance: the browser dying mid-chunk, SIGTERM mid-request."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from framerun.local.issuer import LocalIssuer
from framerun_service.core.storage import Storage
from framerun_service.render.archive import make_site_archive
from tests.compositions import MOVERS, write_composition
from tests.service.service_harness import RunningService, start_service, stop_service


@pytest.fixture
def service(fake_gcs: Any, tmp_path: Path) -> Iterator[RunningService]:
    bucket = fake_gcs.create_bucket()
    with LocalIssuer() as issuer:
        running = start_service(bucket, issuer, tmp_path / "svc")
        try:
            yield running
        finally:
            stop_service(running)


@pytest.fixture
def long_plan(service: RunningService, tmp_path: Path) -> dict[str, Any]:
    """A 10 s composition planned as one 300-frame chunk: long enough to interrupt."""
    project = write_composition(tmp_path / "site", MOVERS["css"], duration="10")
    archive = tmp_path / "site.tar.gz"
    site_id = make_site_archive(project, archive)
    site_uri = f"gs://{service.bucket}/sites/{site_id}/site.tar.gz"
    with Storage.from_env() as store:
        store.upload_file_if_absent(archive, site_uri)
    render_id = f"fault-{uuid.uuid4().hex[:8]}"
    r = service.post(
        {
            "Action": "plan",
            "renderId": render_id,
            "siteUri": site_uri,
            "outputUri": f"gs://{service.bucket}/outputs/{render_id}.mp4",
            "config": {"chunkSize": 300},
        }
    )
    assert r.status_code == 200, r.text
    body = r.json()
    return {
        "Action": "renderChunk",
        "renderId": render_id,
        "planUri": body["planUri"],
        "planHash": body["planHash"],
        "chunkIndex": 0,
    }


def _chromes(service: RunningService) -> list[psutil.Process]:
    tree = psutil.Process(service.process.pid).children(recursive=True)
    return [p for p in tree if "chrom" in p.name() or "headless" in p.name()]


def _chunk_keys(service: RunningService, render_id: str) -> list[str]:
    with Storage.from_env() as store:
        return store.list_keys(f"gs://{service.bucket}/renders/{render_id}/chunks/")


def _post_in_background(service: RunningService, body: dict[str, Any]) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["response"] = service.post(body, timeout=120)
        except requests.RequestException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    box["thread"] = thread
    return box


def _wait_for_rendering(service: RunningService, min_seconds: float = 1.0) -> None:
    deadline = time.monotonic() + 30
    while not _chromes(service):
        assert time.monotonic() < deadline, "the browser never started"
        time.sleep(0.05)
    time.sleep(min_seconds)  # the page is loaded and frames are being captured


def test_browser_crash_mid_chunk_is_retryable_and_leaves_no_chunk(
    service: RunningService, long_plan: dict[str, Any]
) -> None:
    call = _post_in_background(service, long_plan)
    _wait_for_rendering(service)
    for proc in _chromes(service):
        proc.kill()
    call["thread"].join(60)
    response = call["response"]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "BROWSER_CRASHED"
    assert response.json()["error"]["retryable"] is True
    assert _chunk_keys(service, long_plan["renderId"]) == []
    # The workflow's retry lands on the same instance: it relaunches the browser.
    retry = service.post(long_plan, timeout=120)
    assert retry.status_code == 200, retry.text
    assert retry.json()["frames"] == 300
    assert len(_chunk_keys(service, long_plan["renderId"])) == 2  # chunk + its record


def test_sigterm_mid_chunk_abandons_it_cleanly(
    service: RunningService, long_plan: dict[str, Any]
) -> None:
    call = _post_in_background(service, long_plan)
    _wait_for_rendering(service)
    chromes = _chromes(service)
    service.process.send_signal(signal.SIGTERM)
    service.process.wait(timeout=30)  # gunicorn's graceful timeout, then it kills the worker
    call["thread"].join(30)
    keys = _chunk_keys(service, long_plan["renderId"])
    if "response" in call and call["response"].status_code == 200:
        assert len(keys) == 2  # it finished within the grace period: a whole chunk
    else:
        assert keys == []  # abandoned: nothing partial
    time.sleep(1)
    assert not [p for p in chromes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
