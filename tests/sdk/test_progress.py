"""get_render_progress / wait_for_render against objects written step by step to the emulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from google.cloud.workflows.executions_v1 import Execution

from framerun.cloudrun import render_to_cloud_run
from framerun.executions import CANCELLED, FAILED, RUNNING, SUCCEEDED
from framerun.progress_records import RenderProgress, parse_error_payload
from framerun.render_handle import RenderHandle
from framerun.render_progress import get_render_progress, wait_for_render
from framerun.target import CloudRunTarget
from framerun_service.core.errors import (
    ExecutionNotFoundError,
    InvalidInputError,
    RenderFailedError,
    RenderTimeoutError,
)
from framerun_service.core.storage import Storage
from framerun_service.core.wire import (
    PLAN_HASH_METADATA,
    ChunkRecord,
    ExecutionArgument,
    PlanEnvelope,
    ResultRecord,
    chunk_record_uri,
    chunk_uri,
    plan_uri,
    render_prefix,
    request_uri,
    result_uri,
)
from tests.sdk.fakes import FakeExecutions, State

RENDER_ID = "r-0123456789abcdef0123"
PLAN_HASH = "ab" * 32
CHUNKS = [[0, 30], [30, 60], [60, 90]]


class RenderObjects:
    """Writes a render's objects as the service does (its wire records), in its order."""

    def __init__(self, storage: Storage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket
        self.output_uri = f"{render_prefix(bucket, RENDER_ID)}/output.mp4"

    def _write(self, uri: str, record: PlanEnvelope | ChunkRecord | ResultRecord) -> None:
        self.storage.write_json_if_absent(
            uri, record.to_json(), metadata={PLAN_HASH_METADATA: PLAN_HASH}
        )

    def plan(self) -> None:
        plan = {"frameStart": 0, "frameEnd": 90, "chunks": CHUNKS, "planHash": PLAN_HASH}
        site = f"gs://{self.bucket}/sites/{'0' * 64}/site.tar.gz"
        envelope = PlanEnvelope(RENDER_ID, site, self.output_uri, plan, seconds=0.0)
        self._write(plan_uri(self.bucket, RENDER_ID), envelope)

    def chunk(self, index: int) -> None:
        start, end = CHUNKS[index]
        self.storage.upload_bytes_if_absent(b"mp4", chunk_uri(self.bucket, RENDER_ID, index))
        record = ChunkRecord(index, end - start, 2.5, start, end)
        self._write(chunk_record_uri(self.bucket, RENDER_ID, index), record)

    def output(self) -> None:
        self.storage.upload_bytes_if_absent(b"x" * 1234, self.output_uri)

    def result(self) -> None:
        record = ResultRecord(self.output_uri, 1234, 90, 1.25, PLAN_HASH)
        self._write(result_uri(self.bucket, RENDER_ID), record)

    def workflow_result(self, size: int) -> dict[str, Any]:
        """What workflows/render.yaml returns when the render succeeds."""
        return {
            "outputUri": self.output_uri,
            "bytes": size,
            "planHash": PLAN_HASH,
            "chunkCount": len(CHUNKS),
        }


@pytest.fixture
def objects(storage: Storage, gcs_bucket: str) -> RenderObjects:
    return RenderObjects(storage, gcs_bucket)


def _argument(bucket: str) -> dict[str, str]:
    return ExecutionArgument(RENDER_ID, request_uri(bucket, RENDER_ID)).to_json()


def test_progress_is_monotonic_and_reaches_one_exactly_with_result_json(
    objects: RenderObjects, fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    name = fake.add(_argument(gcs_bucket))

    def poll() -> RenderProgress:
        return get_render_progress(name, executions=fake, storage=storage)

    seen = [poll()]
    assert seen[0].overall_progress == 0.0 and seen[0].chunks_total == 0
    objects.plan()
    seen.append(poll())
    assert seen[-1].overall_progress == pytest.approx(0.1)
    assert (seen[-1].chunks_total, seen[-1].total_frames) == (3, 90)
    for index in range(3):
        objects.chunk(index)
        seen.append(poll())
        assert seen[-1].chunks_done == index + 1
        assert seen[-1].frames_rendered == 30 * (index + 1)
    objects.output()
    seen.append(poll())  # the output exists, result.json does not: not yet 1.0
    assert seen[-1].overall_progress == pytest.approx(0.9) and seen[-1].output_file is None
    objects.result()
    seen.append(poll())  # still ACTIVE, but result.json is written after the output
    assert seen[-1].overall_progress == 1.0
    assert seen[-1].output_file == objects.output_uri and seen[-1].output_bytes == 1234
    fake.finish(name, State.SUCCEEDED, result=objects.workflow_result(1234))
    seen.append(poll())

    values = [p.overall_progress for p in seen]
    assert values == sorted(values)
    assert [v for v in values if v == 1.0] == values[-2:]
    assert [p.status for p in seen] == [RUNNING] * (len(seen) - 1) + [SUCCEEDED]
    costs = [p.costs.total_usd for p in seen]
    assert costs == sorted(costs) and costs[-1] > 0
    assert seen[-1].ended_at is not None and seen[-1].started_at is not None
    assert RenderProgress.from_json(json.loads(json.dumps(seen[-1].to_json()))) == seen[-1]


def test_each_poll_is_one_get_execution(
    objects: RenderObjects, fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    name = fake.add(_argument(gcs_bucket))
    objects.plan()
    get_render_progress(name, executions=fake, storage=storage)
    assert fake.calls == [("get", name)]


def test_succeeded_execution_is_complete_even_without_records(
    fake: FakeExecutions, storage: Storage, gcs_bucket: str, objects: RenderObjects
) -> None:
    # The assemble step returns early (cached) when the output exists, writing no
    # result.json; a succeeded execution still means the output exists.
    objects.plan()
    name = fake.add(_argument(gcs_bucket), State.SUCCEEDED)
    fake.finish(name, State.SUCCEEDED, result=objects.workflow_result(9))
    progress = get_render_progress(name, executions=fake, storage=storage)
    assert progress.overall_progress == 1.0
    assert (progress.chunks_done, progress.frames_rendered) == (3, 90)
    assert (progress.output_file, progress.output_bytes) == (objects.output_uri, 9)


def test_failed_execution_reports_the_service_code(
    objects: RenderObjects, fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    name = fake.add(_argument(gcs_bucket))
    objects.plan()
    objects.chunk(0)
    payload = {
        "code": "PAGE_SCRIPT_ERROR",
        "message": "the composition threw: ReferenceError: gsap is not defined",
        "retryable": False,
        "httpStatus": 422,
        "step": "renderChunk 1",
    }
    fake.finish(name, State.FAILED, payload=payload)
    progress = get_render_progress(name, executions=fake, storage=storage)
    assert progress.status == FAILED
    assert [e.code for e in progress.errors] == ["PAGE_SCRIPT_ERROR"]
    assert progress.errors[0].step == "renderChunk 1" and progress.errors[0].http_status == 422
    assert progress.overall_progress == pytest.approx(0.1 + 0.8 / 3)

    with pytest.raises(RenderFailedError, match="renderChunk 1") as caught:
        wait_for_render(name, executions=fake, storage=storage, sleep=lambda s: None)
    assert caught.value.code == "PAGE_SCRIPT_ERROR"
    assert caught.value.http_status == 422 and not caught.value.retryable
    assert caught.value.errors == progress.errors
    assert str(caught.value).endswith("[PAGE_SCRIPT_ERROR]")


def test_cancelled_execution(fake: FakeExecutions, storage: Storage, gcs_bucket: str) -> None:
    name = fake.add(_argument(gcs_bucket))
    fake.cancel_execution(name=name)
    assert get_render_progress(name, executions=fake, storage=storage).status == CANCELLED
    with pytest.raises(RenderFailedError, match="cancelled") as caught:
        wait_for_render(name, executions=fake, storage=storage, sleep=lambda s: None)
    assert caught.value.code == "RENDER_CANCELLED"


def test_wait_polls_until_done_and_reports_each_poll(
    project: Any, target: CloudRunTarget, storage: Storage
) -> None:
    fake = FakeExecutions(polls_to_finish=3)
    handle = render_to_cloud_run(project, {}, target=target, executions=fake, storage=storage)
    seen: list[RenderProgress] = []
    sleeps: list[float] = []
    final = wait_for_render(
        handle,
        poll_interval_s=0.5,
        on_progress=seen.append,
        executions=fake,
        storage=storage,
        sleep=sleeps.append,
    )
    assert final.status == SUCCEEDED and final.overall_progress == 1.0
    assert [p.status for p in seen] == [RUNNING, RUNNING, SUCCEEDED]
    assert sleeps == [0.5, 0.5]
    assert RenderHandle.from_json(handle.to_json()) == handle


def test_wait_times_out_and_the_render_goes_on(
    fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    name = fake.add(_argument(gcs_bucket))
    with pytest.raises(RenderTimeoutError, match="still running") as caught:
        wait_for_render(name, timeout_s=0.0, executions=fake, storage=storage)
    assert caught.value.retryable and isinstance(caught.value, TimeoutError)
    assert fake.executions[name].state == State.ACTIVE


def test_unknown_execution_and_foreign_execution(fake: FakeExecutions, storage: Storage) -> None:
    with pytest.raises(ExecutionNotFoundError, match="does not exist"):
        get_render_progress(
            "projects/p/locations/l/workflows/w/executions/nope", executions=fake, storage=storage
        )
    name = fake.add({"something": "else"})
    with pytest.raises(InvalidInputError, match="not a framerun render"):
        get_render_progress(name, executions=fake, storage=storage)


def test_error_payload_shapes() -> None:
    (typed,) = parse_error_payload(
        '{"code":"VARIABLES_INVALID","message":"m","retryable":false,"httpStatus":400,"step":"plan"}'
    )
    assert (typed.code, typed.step, typed.http_status) == ("VARIABLES_INVALID", "plan", 400)
    (platform,) = parse_error_payload(
        '{"message":"Request timed out","tags":["TimeoutError"],"code":504}'
    )
    assert (platform.code, platform.http_status) == ("WORKFLOW_TIMEOUTERROR", 504)
    (text,) = parse_error_payload("plain words")
    assert (text.code, text.message) == ("WORKFLOW_ERROR", "plain words")
    assert parse_error_payload("") == ()
    assert len(parse_error_payload('[{"code":"A","message":"a"},{"code":"B","message":"b"}]')) == 2


def test_costs_in_progress_add_up(
    objects: RenderObjects, fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    name = fake.add(_argument(gcs_bucket))
    objects.plan()
    for index in range(3):
        objects.chunk(index)
    objects.output()
    objects.result()
    costs = get_render_progress(name, executions=fake, storage=storage, vcpu=2, memory_gib=4).costs
    parts = (
        costs.cloud_run_vcpu_usd
        + costs.cloud_run_memory_usd
        + costs.cloud_run_requests_usd
        + costs.workflows_usd
    )
    assert parts == costs.total_usd > 0
    # 3 chunks × 2.5 s + plan 0 s + assemble 1.3 s (1.25 rounded up to 100 ms) = 8.8 s
    assert costs.cloud_run_vcpu_usd == Decimal("8.8") * 2 * Decimal("0.000024")
    # render.yaml on one execution: 11 + 3 steps per chunk (checked against the emulator
    # in tests/workflow/test_wf_fanout.py)
    assert costs.workflows_usd == Decimal(11 + 3 * 3) * Decimal("0.01") / 1000


def test_wait_polls_through_transient_errors(
    fake: FakeExecutions, storage: Storage, gcs_bucket: str
) -> None:
    from framerun_service.core.errors import WorkflowsUnavailableError

    name = fake.add(_argument(gcs_bucket))
    failures = iter([True, True, False])

    class Flaky:
        def get_execution(self, *, name: str) -> Execution:
            if next(failures, False):
                raise WorkflowsUnavailableError("Executions API answered 503; try again later")
            fake.finish(name, State.SUCCEEDED)
            return fake.get_execution(name=name)

    progress = wait_for_render(name, executions=Flaky(), storage=storage, sleep=lambda s: None)  # type: ignore[arg-type]
    assert progress.status == SUCCEEDED
