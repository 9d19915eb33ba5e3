"""The real workflows/render.yaml, run by the emulator, against the real service.

SDK → Executions gRPC (emulator) → http.post with OIDC tokens from the local
issuer → a counting, fault-injecting loopback proxy → the service under
gunicorn → fake-gcs-server. Outputs are compared with in-process renders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import framerun
from framerun.local.issuer import LocalIssuer
from framerun.target import CloudRunTarget
from framerun_service.core.storage import Storage
from tests.compositions import MOVERS, write_composition
from tests.service.service_harness import WEBHOOK_SECRET, start_service, stop_service
from tests.videos import decode, min_psnr
from tests.workflow.proxy import ServiceProxy, running_proxy
from tests.workflow.wf_harness import render_workflow

REPO = Path(__file__).resolve().parents[2]


def _fast_sleep(seconds: float) -> None:
    """Retry backoff really waits, but 20× shorter: the schedule itself is unit-tested."""
    time.sleep(seconds / 20)


@pytest.fixture(scope="module")
def stack(fake_gcs: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    bucket = fake_gcs.create_bucket()
    with LocalIssuer() as issuer, running_proxy("") as proxy:
        service = start_service(
            bucket, issuer, tmp_path_factory.mktemp("svc"), extra_audiences=(proxy.url,)
        )
        proxy.target = service.url
        try:
            with render_workflow(
                issuer,
                service_url=proxy.url,
                bucket=bucket,
                storage_host=fake_gcs.url,
                sleep=_fast_sleep,
            ) as (_, target):
                yield target, proxy
        finally:
            stop_service(service)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = MOVERS["css"] + MOVERS["gsap"].replace('id="b"', 'id="b" style="top:120px"')
    return write_composition(tmp_path_factory.mktemp("site"), body, duration="2", gsap=True)


def _render(target: CloudRunTarget, project: Path, config: dict[str, Any], out: Path) -> list:
    """Render through the stack; check progress on every poll; return the progress samples."""
    samples: list[framerun.RenderProgress] = []
    handle = framerun.render_to_cloud_run(project, config, target=target)

    def on_progress(p: framerun.RenderProgress) -> None:
        with Storage.from_env() as store:
            exists = store.exists(handle.output_uri)
        # Never 1.0 before the output exists. (The converse cannot be checked at a
        # poll: the output is uploaded just before result.json, which 1.0 reads,
        # and the existence check runs after the progress was read.)
        if p.overall_progress == 1.0:
            assert exists, p
        samples.append(p)

    final = framerun.wait_for_render(
        handle, target=target, on_progress=on_progress, poll_interval_s=0.2, timeout_s=240
    )
    samples.append(final)
    with Storage.from_env() as store:
        store.download_to(final.output_file, out)
    return samples


@pytest.mark.parametrize("chunk_size", [7, 30, 1000])
def test_chunk_sizes_match_the_in_process_render(
    stack: tuple, project: Path, tmp_path: Path, chunk_size: int
) -> None:
    target, _ = stack
    config = {"chunkSize": chunk_size, "quality": "high"}
    samples = _render(target, project, config, tmp_path / "distributed.mp4")
    framerun.render(project, tmp_path / "local.mp4", chunk_size=chunk_size, quality="high")
    _assert_same_video(tmp_path / "distributed.mp4", tmp_path / "local.mp4", frames=60)
    _assert_progress_never_goes_back(samples)
    final = samples[-1]
    assert final.status == "succeeded" and final.overall_progress == 1.0
    assert final.chunks_done == final.chunks_total == -(-60 // chunk_size)
    assert final.costs.total_usd > 0
    _assert_costs_add_up(final.costs)


def _assert_same_video(distributed: Path, local: Path, *, frames: int) -> None:
    """Same frame count and timestamps, every frame within 45 dB of the in-process one."""
    a, b = decode(distributed), decode(local)
    assert len(a.frames) == len(b.frames) == frames
    assert a.pts == b.pts
    assert min_psnr(a.frames, b.frames) >= 45.0


def _assert_progress_never_goes_back(samples: list[framerun.RenderProgress]) -> None:
    progress = [s.overall_progress for s in samples]
    assert progress == sorted(progress), "progress must never go back"


def _chunks_rendered(proxy: ServiceProxy, *, since: int) -> list[int]:
    """The chunk indexes the proxy saw renderChunk for after its ``since``-th action."""
    return sorted(c for a, c, _ in proxy.actions[since:] if a == "renderChunk")


def _assert_costs_add_up(costs: framerun.Costs) -> None:
    parts = (
        costs.cloud_run_vcpu_usd
        + costs.cloud_run_memory_usd
        + costs.cloud_run_requests_usd
        + costs.workflows_usd
    )
    assert parts == costs.total_usd


def test_webm_renders_through_the_stack_like_in_process(
    stack: tuple, project: Path, tmp_path: Path
) -> None:
    target, _ = stack
    samples = _render(target, project, {"chunkSize": 20, "format": "webm"}, tmp_path / "d.webm")
    assert samples[-1].output_file.endswith(".webm")
    framerun.render(project, tmp_path / "l.webm", chunk_size=20)
    a, b = decode(tmp_path / "d.webm"), decode(tmp_path / "l.webm")
    assert a.codec == "vp9" and len(a.frames) == len(b.frames) == 60
    assert min_psnr(a.frames, b.frames) >= 45.0


def test_a_chunk_failing_twice_with_503_is_retried_to_the_right_video(
    stack: tuple, project: Path, tmp_path: Path
) -> None:
    target, proxy = stack
    proxy.failures[1] = 2
    _render(target, project, {"chunkSize": 20, "quality": "high"}, tmp_path / "d.mp4")
    attempts = [
        status
        for action, chunk, status in list(proxy.actions)
        if action == "renderChunk" and chunk == 1
    ]
    assert attempts[-3:] == [503, 503, 200]
    framerun.render(project, tmp_path / "l.mp4", chunk_size=20, quality="high")
    a, b = decode(tmp_path / "d.mp4"), decode(tmp_path / "l.mp4")
    assert len(a.frames) == 60 and min_psnr(a.frames, b.frames) >= 45.0


def test_a_typed_4xx_fails_the_execution_with_its_code(stack: tuple, tmp_path: Path) -> None:
    target, _ = stack
    broken = write_composition(
        tmp_path / "broken", '<script>throw new Error("boom")</script>', duration="0.2"
    )
    handle = framerun.render_to_cloud_run(broken, {}, target=target)
    with pytest.raises(framerun.RenderFailedError) as failure:
        framerun.wait_for_render(handle, target=target, poll_interval_s=0.2, timeout_s=120)
    assert failure.value.code == "PAGE_SCRIPT_ERROR"
    progress = framerun.get_render_progress(handle.execution_name, target=target)
    assert progress.status == "failed"
    assert [e.code for e in progress.errors] == ["PAGE_SCRIPT_ERROR"]
    assert progress.output_file is None


def test_concurrency_limit_is_honoured(stack: tuple, project: Path, tmp_path: Path) -> None:
    target, proxy = stack
    proxy.max_in_flight_chunks = 0
    config = {"chunkSize": 6, "maxParallelChunks": 2, "duration": 1.2}  # 36 frames, 6 chunks
    _render(target, project, config, tmp_path / "c.mp4")
    assert proxy.max_in_flight_chunks == 2  # parallel, and never more than the limit


def test_sixty_chunks_in_flight_render_through_child_executions(
    stack: tuple, tmp_path: Path
) -> None:
    """Past Workflows' 20 branches per execution: 100 chunks, 60 at a time, one video."""
    target, proxy = stack
    site = write_composition(tmp_path / "site", MOVERS["css"], fps="25", duration="4")
    proxy.max_in_flight_chunks = 0
    before = len(proxy.actions)
    config = {"chunkSize": 1, "maxParallelChunks": 60, "quality": "high"}
    samples = _render(target, site, config, tmp_path / "d.mp4")
    # More than one execution's 20 at once, never more than asked for.
    assert 20 < proxy.max_in_flight_chunks <= 60
    # every chunk once: none rendered twice
    assert _chunks_rendered(proxy, since=before) == list(range(100))
    framerun.render(site, tmp_path / "l.mp4", quality="high")
    _assert_same_video(tmp_path / "d.mp4", tmp_path / "l.mp4", frames=100)
    _assert_progress_never_goes_back(samples)
    final = samples[-1]
    assert final.status == "succeeded" and final.chunks_done == final.chunks_total == 100
    _assert_costs_add_up(final.costs)


def test_without_a_chunk_size_the_plan_sizes_chunks_and_the_video_matches(
    stack: tuple, tmp_path: Path
) -> None:
    """No chunkSize: 100 frames with 3 at once are 3 chunks (34, 33, 33), rendered
    through the workflow to the same video as the in-process render."""
    target, proxy = stack
    site = write_composition(tmp_path / "site", MOVERS["css"], fps="25", duration="4")
    before = len(proxy.actions)
    config = {"maxParallelChunks": 3, "quality": "high"}
    samples = _render(target, site, config, tmp_path / "d.mp4")
    assert _chunks_rendered(proxy, since=before) == [0, 1, 2]
    assert samples[-1].chunks_done == samples[-1].chunks_total == 3
    framerun.render(site, tmp_path / "l.mp4", quality="high")
    _assert_same_video(tmp_path / "d.mp4", tmp_path / "l.mp4", frames=100)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A webhook receiver on loopback that records raw requests."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(received: list, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(received) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(received) == count


def test_webhook_on_success_is_signed_and_a_tampered_body_fails_verification(
    stack: tuple, project: Path, tmp_path: Path, receiver: tuple
) -> None:
    import json

    from framerun import webhooks
    from framerun_service.core.errors import WebhookSignatureError

    target, _ = stack
    url, received = receiver
    handle = framerun.render_to_cloud_run(project, {"webhookUrl": url}, target=target)
    framerun.wait_for_render(handle, target=target, poll_interval_s=0.2, timeout_s=240)
    _wait_for(received, 1)
    headers, body = received[0]
    webhooks.verify(WEBHOOK_SECRET, body, headers.get(webhooks.SIGNATURE_HEADER))
    event = json.loads(body)
    assert event["type"] == "render.succeeded"
    assert (event["renderId"], event["outputUri"]) == (handle.render_id, handle.output_uri)
    tampered = body.replace(b"render.succeeded", b"render.failed!!")
    with pytest.raises(WebhookSignatureError):
        webhooks.verify(WEBHOOK_SECRET, tampered, headers.get(webhooks.SIGNATURE_HEADER))


def test_webhook_on_failure_carries_the_error_code(
    stack: tuple, tmp_path: Path, receiver: tuple
) -> None:
    import json

    target, _ = stack
    url, received = receiver
    broken = write_composition(
        tmp_path / "broken", '<script>throw new Error("x")</script>', duration="0.2"
    )
    handle = framerun.render_to_cloud_run(broken, {"webhookUrl": url}, target=target)
    with pytest.raises(framerun.RenderFailedError):
        framerun.wait_for_render(handle, target=target, poll_interval_s=0.2, timeout_s=120)
    _wait_for(received, 1)
    event = json.loads(received[0][1])
    assert event["type"] == "render.failed"
    assert event["error"]["code"] == "PAGE_SCRIPT_ERROR"


def test_the_proxy_really_sits_in_the_path(stack: tuple) -> None:
    """Guards the tests above: every Action went through the counting proxy."""
    _, proxy = stack
    assert isinstance(proxy, ServiceProxy)
    assert {a for a, _, _ in proxy.actions} >= {"plan", "renderChunk", "assemble"}
