"""Attacks from inside a composition, through the running service (gunicorn, real
tokens, fake-gcs): a page that tries to read the metadata server's token, a
loopback service, a private range or a local file is refused with
ASSET_FETCH_FAILED naming the URL, the loopback server sees no connection, and
nothing is written to the bucket.

The same defence is tested request type by request type (fetch, img, script,
CSS, XHR, WebSocket, WebRTC, service workers) and through an injected resolver
and fetcher (DNS answers and redirects to the metadata server) in
``tests/engine/test_network_guard.py``; here it is proved end to end, at plan
time (the probe) and at chunk time (a request only one frame in the middle makes).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.service.service_harness import RunningService, upload_site

METADATA = "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"


class CountingServer(ThreadingHTTPServer):
    """A loopback 'internal service' holding a secret; counts every connection."""

    def __init__(self) -> None:
        self.hits: list[Any] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"secret")

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.hits.append(client_address)
        return True


@pytest.fixture(scope="module")
def internal() -> Iterator[CountingServer]:
    server = CountingServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def targets(port: int) -> dict[str, str]:
    return {
        "metadata-ip": METADATA,
        "metadata-name": "http://metadata.google.internal/computeMetadata/v1/project/project-id",
        "metadata-https": "https://metadata.google.internal/computeMetadata/v1/",
        "loopback": f"http://127.0.0.1:{port}/secret",
        "loopback-https": f"https://127.0.0.1:{port}/secret",
        "dns-to-loopback": f"https://localhost:{port}/secret",
        "private": "https://10.0.0.1/internal",
        "link-local": "https://169.254.1.1/",
        "file": "file:///etc/passwd",
    }


def post_plan(service: RunningService, project: Path, tmp_path: Path) -> tuple[Any, str]:
    site_uri = upload_site(service, project, tmp_path / "archive")
    render_id = f"net-{uuid.uuid4().hex[:8]}"
    response = service.post(
        {
            "Action": "plan",
            "renderId": render_id,
            "siteUri": site_uri,
            "outputUri": f"gs://{service.bucket}/outputs/{render_id}.mp4",
            "config": {"chunkSize": 10},
        }
    )
    return response, render_id


def render_objects(service: RunningService, render_id: str) -> list[str]:
    with Storage.from_env() as store:
        names = [b.name for b in store.client.list_blobs(service.bucket)]
    return [n for n in names if render_id in n]


@pytest.mark.parametrize(
    "target",
    sorted(targets(0)),
)
def test_a_composition_cannot_reach_internal_addresses(
    service: RunningService,
    internal: CountingServer,
    tmp_path: Path,
    target: str,
) -> None:
    url = targets(internal.server_address[1])[target]
    body = f"<img src='{url}'><script>fetch('{url}').catch(() => {{}});</script>"
    project = write_composition(tmp_path / "site", body, width=64, height=48)
    response, render_id = post_plan(service, project, tmp_path)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "ASSET_FETCH_FAILED"
    assert url.split("://")[1].split("/")[0] in error["message"]  # names the host it refused
    assert internal.hits == []
    assert render_objects(service, render_id) == []


def test_a_request_one_mid_render_frame_makes_fails_that_chunk_and_later_ones(
    service: RunningService, internal: CountingServer, tmp_path: Path
) -> None:
    """The plan's probe shows the first and last frames only; a request made at
    t ≈ 0.5 s alone gets past it and must be caught by the chunk that shows it —
    and by every later chunk, which lives through that moment again before its own
    first frame (continuous time) — and none of them writes a chunk object."""
    url = f"http://127.0.0.1:{internal.server_address[1]}/secret"
    script = (
        "<script>requestAnimationFrame(function f(t) {"
        f" if (t > 490 && t < 520) fetch('{url}').catch(() => {{}});"
        " requestAnimationFrame(f); });</script>"
    )
    project = write_composition(tmp_path / "site", script, width=64, height=48)
    response, render_id = post_plan(service, project, tmp_path)
    assert response.status_code == 200, response.text
    plan = response.json()
    common = {"renderId": render_id, "planUri": plan["planUri"], "planHash": plan["planHash"]}
    codes = {}
    for index in range(plan["chunkCount"]):
        reply = service.post({"Action": "renderChunk", **common, "chunkIndex": index})
        codes[index] = reply.status_code
        if reply.status_code != 200:
            assert reply.json()["error"]["code"] == "ASSET_FETCH_FAILED", reply.text
            assert "127.0.0.1" in reply.json()["error"]["message"]
    # Frames 10–19 hold t ≈ 0.5 s: that chunk and the one after fail, the first renders.
    assert codes == {0: 200, 1: 422, 2: 422}
    assert internal.hits == []
    chunk_objects = [n for n in render_objects(service, render_id) if n.endswith(".mp4")]
    assert sorted(n.rsplit("/", 1)[1] for n in chunk_objects) == ["00000.mp4"]
