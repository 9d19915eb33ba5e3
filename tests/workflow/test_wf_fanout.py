"""Fan-out past 20 chunks in flight: the real ``workflows/render.yaml`` through the emulator.

Cloud Workflows runs at most 20 branches at once per execution, so past 20 the render
execution starts one child execution per group of chunks (``render/fanout.py``) and
assembles once they are all done. The fake service here answers at once, so the
tests can count what the workflow does: which path ran, how many chunks were in
flight, that every chunk ran exactly once, what a failure or a cancel does, and
that the steps billed match ``costs.estimate_workflow_steps``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from framerun.costs import estimate_workflow_steps
from framerun.local.issuer import LocalIssuer
from framerun.local.workflows import IssuerTokenProvider
from framerun.local.workflows.executions import ExecutionRecord, ExecutionStore
from framerun_service.auth import OidcVerifier
from framerun_service.render.fanout import chunk_groups
from tests.workflow.test_wf_render_yaml import (
    ARGUMENT,
    INVOKER,
    PLAN,
    RENDER_YAML,
    FakeService,
)
from tests.workflow.wf_harness import FakeServer, SleepRecorder


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


class Render:
    """One render workflow run against a fake service planned for ``chunks`` / ``parallel``."""

    def __init__(self, issuer: LocalIssuer, chunks: int, parallel: int) -> None:
        self.groups = chunk_groups(chunks, parallel)
        plan = {
            **PLAN,
            "chunkCount": chunks,
            "maxParallelChunks": parallel,
            "groups": [group.to_json() for group in self.groups],
        }
        holder: dict[str, FakeService] = {}
        self.server = FakeServer(lambda request: holder["service"](request))
        verifier = OidcVerifier(
            audiences=(self.server.url,),
            allowed_emails=frozenset({INVOKER}),
            issuer=issuer.url,
            certs_url=issuer.certs_url,
        )
        self.service = holder["service"] = FakeService(verifier, plan)
        self.sleep = SleepRecorder()
        self.store = ExecutionStore(
            project="p",
            location="l",
            token_provider=IssuerTokenProvider(issuer.token_url, INVOKER),
            sleep=self.sleep,
        )
        self.store.deploy(
            "render", RENDER_YAML.read_text(), {"FRAMERUN_SERVICE_URL": self.server.url}
        )

    def start(self) -> ExecutionRecord:
        return self.store.create(self.store.workflow_name("render"), json.dumps(ARGUMENT))

    def run(self) -> ExecutionRecord:
        return self.store.wait(self.start().name, timeout=120)

    def executions(self) -> list[ExecutionRecord]:
        return self.store.list_executions(self.store.workflow_name("render"))

    def children(self) -> list[ExecutionRecord]:
        return [e for e in self.executions() if "group" in json.loads(e.argument)]

    def close(self) -> None:
        self.store.shutdown()
        self.server.close()


@pytest.fixture
def render(issuer: LocalIssuer, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Render] = []

    def make(chunks: int, parallel: int) -> Render:
        made.append(Render(issuer, chunks, parallel))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_sixty_in_flight_run_in_three_child_executions(render: Any) -> None:
    job = render(100, 60)
    job.service.chunk_delay_s = 0.2
    record = job.run()
    assert record.state == "SUCCEEDED", record.error_payload
    assert json.loads(record.result or "") == {
        "outputUri": PLAN["outputUri"],
        "bytes": 123456,
        "planHash": PLAN["planHash"],
        "chunkCount": 100,
    }
    assert sorted(job.service.chunks) == list(range(100))  # every chunk, exactly once
    assert 20 < job.service.max_chunks_in_flight <= 60
    children = job.children()
    assert len(job.executions()) == 4 and len(children) == 3  # the fan-out path ran
    assert sorted(json.loads(c.argument)["group"]["first"] for c in children) == [0, 34, 67]
    assert all(c.state == "SUCCEEDED" for c in children)
    assert all(json.loads(c.argument)["parent"] == record.name for c in children)
    assert job.service.actions.count("assemble") == 1 and job.service.actions[0] == "plan"
    assert job.service.actions[-1] == "notify"  # the completion webhook, once, at the end
    assert job.service.bodies["notify"]["status"] == "succeeded"
    steps = sum(e.context.steps_run for e in job.executions())
    assert steps == estimate_workflow_steps(100, groups=3)


def test_twenty_in_flight_stay_in_the_renders_own_execution(render: Any) -> None:
    job = render(30, 20)
    job.service.chunk_delay_s = 0.2
    record = job.run()
    assert record.state == "SUCCEEDED", record.error_payload
    assert len(job.executions()) == 1 and job.children() == []  # today's single path
    assert sorted(job.service.chunks) == list(range(30))
    assert job.service.max_chunks_in_flight == 20
    assert record.context.steps_run == estimate_workflow_steps(30)


def test_a_typed_chunk_failure_in_a_child_fails_the_render_with_its_code(render: Any) -> None:
    job = render(100, 60)
    # The other chunks take 0.5 s, chunk 50 fails at once: its group's queued chunks
    # (54-66) wait for a slot long after the failure is known, even on a loaded machine
    # (at 0.05 s a busy CI run had started all 33 before the failure came back).
    job.service.chunk_delay_s = 0.5
    font = {"error": {"code": "FONT_FETCH_FAILED", "message": "font 404", "retryable": False}}
    job.service.script[("renderChunk", 50)] = [(400, font)]
    record = job.run()
    assert record.state == "FAILED"
    assert json.loads(record.error_payload or "") == {
        "code": "FONT_FETCH_FAILED",
        "message": "font 404",
        "retryable": False,
        "httpStatus": 400,
        "step": "renderChunk 50",
    }
    assert job.service.chunks.count(50) == 1  # a 4xx is never retried
    assert "assemble" not in job.service.actions
    assert job.service.bodies["notify"]["status"] == "failed"
    assert job.service.bodies["notify"]["detail"]["code"] == "FONT_FETCH_FAILED"
    failed_group = next(c for c in job.children() if json.loads(c.argument)["group"]["first"] == 34)
    assert failed_group.state == "SUCCEEDED"  # it reported the failure in its result
    assert json.loads(failed_group.result or "")["failure"]["code"] == "FONT_FETCH_FAILED"
    # its own queued chunks did not start after the failure
    assert len([c for c in job.service.chunks if 34 <= c <= 66]) < 33


def test_a_transient_chunk_failure_in_a_child_is_retried(render: Any) -> None:
    job = render(100, 60)
    busy = {"error": {"code": "BROWSER_CRASHED", "message": "retry", "retryable": True}}
    job.service.script[("renderChunk", 90)] = [(503, busy), (503, busy)]
    record = job.run()
    assert record.state == "SUCCEEDED", record.error_payload
    assert job.service.chunks.count(90) == 3
    assert sorted(set(job.service.chunks)) == list(range(100))
    assert job.sleep.delays == [2, 4]  # render.yaml's backoff, as in one execution


def test_cancelling_the_render_stops_its_children(render: Any) -> None:
    job = render(200, 40)
    job.service.chunk_delay_s = 0.3
    record = job.start()
    deadline = time.monotonic() + 30
    while len(job.service.chunks) < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    job.store.cancel(record.name)
    started_at_cancel = len(job.service.chunks)
    for child in job.children():
        job.store.wait(child.name, timeout=30)
    assert job.store.get(record.name).state == "CANCELLED"
    # Nothing new starts once the parent is cancelled: at most the chunks already
    # past their parent check (one per slot) still go out.
    assert len(job.service.chunks) <= started_at_cancel + 40
    assert len(job.service.chunks) < 200
    assert "assemble" not in job.service.actions
