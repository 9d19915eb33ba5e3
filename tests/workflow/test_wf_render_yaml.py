"""The real ``workflows/render.yaml``, unchanged, against a fake service with real auth.

The fake answers ``plan`` / ``renderChunk`` / ``assemble`` with canned JSON, but
verifies every request's bearer token with the service's own verifier against a
real :class:`LocalIssuer`, so the emulator's token path is exercised end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framerun.local.issuer import LocalIssuer
from framerun.local.workflows import IssuerTokenProvider
from framerun.local.workflows.executions import ExecutionRecord, ExecutionStore
from framerun_service.auth import OidcVerifier
from framerun_service.core.errors import FramerunError
from tests.workflow.wf_harness import FakeServer, Request, SleepRecorder

RENDER_YAML = Path(__file__).resolve().parents[2] / "workflows" / "render.yaml"
INVOKER = "workflow-invoker@framerun-test.iam.gserviceaccount.com"
ARGUMENT = {"renderId": "r-1", "requestUri": "gs://bucket/renders/r-1/request.json"}
CHUNKS = 8
MAX_PARALLEL = 3
PLAN = {
    "planUri": "gs://bucket/renders/r-1/plan.json",
    "planHash": "sha256:abc",
    "chunkCount": CHUNKS,
    "maxParallelChunks": MAX_PARALLEL,
    "outputUri": "gs://bucket/out/video.mp4",
    "groups": [],  # up to 20 chunks in flight: the render's own execution renders them
}


class FakeService:
    """Canned Action answers; ``script[(action, chunk)]`` queues special replies."""

    def __init__(self, verifier: OidcVerifier, plan: dict[str, Any] | None = None) -> None:
        self.verifier = verifier
        self.plan = plan or PLAN
        self.chunk_delay_s = 0.05  # long enough for the limit to bite
        self.script: dict[tuple[str, int | None], list[tuple[int, Any]]] = {}
        self.chunks: list[int] = []
        self.actions: list[str] = []
        self.bodies: dict[str, Any] = {}
        self.chunks_in_flight = 0
        self.max_chunks_in_flight = 0
        self.identities: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> tuple[int, Any]:
        try:
            identity = self.verifier.verify_header(request.headers.get("authorization"))
        except FramerunError as exc:
            return exc.http_status, exc.to_json()
        body = request.body
        action, chunk = body["Action"], body.get("chunkIndex")
        with self._lock:
            self.identities.add((identity.email, identity.audience))
            self.actions.append(action)
            self.bodies[action] = body
            if action == "renderChunk":
                self.chunks.append(chunk)
            queued = self.script.get((action, chunk))
            if queued:
                return queued.pop(0)
        if action == "plan":
            return 200, self.plan
        if action == "renderChunk":
            return self._render_chunk(chunk)
        if action == "notify":
            return 200, {"delivered": False, "reason": "no webhookUrl"}
        return 200, {"outputUri": body["outputUri"], "bytes": 123456}

    def _render_chunk(self, chunk: int) -> tuple[int, Any]:
        with self._lock:
            self.chunks_in_flight += 1
            self.max_chunks_in_flight = max(self.max_chunks_in_flight, self.chunks_in_flight)
        try:
            threading.Event().wait(self.chunk_delay_s)
            return 200, {"chunkUri": f"gs://bucket/renders/r-1/chunk-{chunk}.mp4"}
        finally:
            with self._lock:
                self.chunks_in_flight -= 1


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


@pytest.fixture
def service(issuer: LocalIssuer) -> Iterator[tuple[FakeService, FakeServer]]:
    holder: dict[str, FakeService] = {}
    server = FakeServer(lambda request: holder["service"](request))
    verifier = OidcVerifier(
        audiences=(server.url,),
        allowed_emails=frozenset({INVOKER}),
        issuer=issuer.url,
        certs_url=issuer.certs_url,
    )
    holder["service"] = FakeService(verifier)
    yield holder["service"], server
    server.close()


def execute(
    issuer: LocalIssuer, service_url: str, *, email: str = INVOKER
) -> tuple[ExecutionRecord, SleepRecorder]:
    sleep = SleepRecorder()
    store = ExecutionStore(
        project="p",
        location="l",
        token_provider=IssuerTokenProvider(issuer.token_url, email),
        sleep=sleep,
    )
    store.deploy("render", RENDER_YAML.read_text(), {"FRAMERUN_SERVICE_URL": service_url})
    record = store.create(store.workflow_name("render"), json.dumps(ARGUMENT))
    return store.wait(record.name, timeout=20), sleep


def error_of(record: ExecutionRecord) -> dict[str, Any]:
    assert record.state == "FAILED", record.result
    assert record.error_payload is not None
    payload: dict[str, Any] = json.loads(record.error_payload)
    return payload


def test_render_succeeds(issuer: LocalIssuer, service: tuple[FakeService, FakeServer]) -> None:
    fake, server = service
    record, sleep = execute(issuer, server.url)
    assert record.state == "SUCCEEDED", record.error_payload
    assert json.loads(record.result or "") == {
        "outputUri": PLAN["outputUri"],
        "bytes": 123456,
        "planHash": PLAN["planHash"],
        "chunkCount": CHUNKS,
    }
    assert sorted(fake.chunks) == list(range(CHUNKS))  # every chunk, once
    assert 2 <= fake.max_chunks_in_flight <= MAX_PARALLEL
    assert fake.actions[0] == "plan" and fake.actions[-2:] == ["assemble", "notify"]
    assert fake.identities == {(INVOKER, server.url)}  # real tokens, verified
    assert fake.bodies["plan"] == {"Action": "plan", **ARGUMENT}
    assert fake.bodies["assemble"] == {
        "Action": "assemble",
        "renderId": "r-1",
        "planUri": PLAN["planUri"],
        "planHash": PLAN["planHash"],
        "chunkCount": CHUNKS,
        "outputUri": PLAN["outputUri"],
    }
    assert all(r.path == "/" for r in server.requests)
    logged = [e.payload for e in record.context.logs]
    assert logged == [{"renderId": "r-1", "planHash": PLAN["planHash"], "chunkCount": CHUNKS}]
    assert sleep.delays == []


def test_transient_chunk_failure_is_retried(
    issuer: LocalIssuer, service: tuple[FakeService, FakeServer]
) -> None:
    fake, server = service
    busy = {"error": {"code": "BROWSER_CRASHED", "message": "retry", "retryable": True}}
    fake.script[("renderChunk", 5)] = [(503, busy), (503, busy)]
    record, sleep = execute(issuer, server.url)
    assert record.state == "SUCCEEDED", record.error_payload
    assert fake.chunks.count(5) == 3
    assert sorted(set(fake.chunks)) == list(range(CHUNKS))
    assert sleep.delays == [2, 4]  # render.yaml's backoff: initial 2 s, x2


def test_typed_chunk_error_fails_the_execution(
    issuer: LocalIssuer, service: tuple[FakeService, FakeServer]
) -> None:
    fake, server = service
    font = {"error": {"code": "FONT_FETCH_FAILED", "message": "font 404", "retryable": False}}
    fake.script[("renderChunk", 2)] = [(400, font)]
    record, sleep = execute(issuer, server.url)
    assert error_of(record) == {
        "code": "FONT_FETCH_FAILED",
        "message": "font 404",
        "retryable": False,
        "httpStatus": 400,
        "step": "renderChunk 2",
    }
    assert fake.chunks.count(2) == 1  # a 4xx is never retried
    assert "assemble" not in fake.actions
    assert sleep.delays == []


def test_plan_error_fails_with_its_code(
    issuer: LocalIssuer, service: tuple[FakeService, FakeServer]
) -> None:
    fake, server = service
    bad = {"error": {"code": "INVALID_REQUEST", "message": "no site", "retryable": False}}
    fake.script[("plan", None)] = [(400, bad)]
    record, _ = execute(issuer, server.url)
    payload = error_of(record)
    assert (payload["code"], payload["step"], payload["httpStatus"]) == (
        "INVALID_REQUEST",
        "plan",
        400,
    )
    assert fake.actions == ["plan", "notify"]  # the failure is still notified
    assert "failPlan" in record.error_context


def test_a_token_for_another_identity_is_refused_by_the_service(
    issuer: LocalIssuer, service: tuple[FakeService, FakeServer]
) -> None:
    fake, server = service
    record, _ = execute(issuer, server.url, email="intruder@example.com")
    payload = error_of(record)
    assert (payload["code"], payload["httpStatus"]) == ("FORBIDDEN", 403)
    assert fake.actions == []


def test_service_down_is_retried_then_fails(issuer: LocalIssuer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    record, sleep = execute(issuer, url)
    payload = error_of(record)
    assert payload["code"] == "WORKFLOW_CONNECTIONFAILEDERROR"
    assert (payload["step"], payload["httpStatus"], payload["retryable"]) == ("plan", 0, False)
    assert sleep.delays == [2, 4, 8, 16, 32]
