"""idempotency_key=: the same key starts one render, sent twice or twice at once.

Against fake-gcs-server (which honours ``ifGenerationMatch=0`` on the small
records the claim uses) and the Workflows emulator behind the real gRPC
client. The workflow deployed here only echoes its argument: what is counted
is executions, not videos.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from framerun.cloudrun import render_to_cloud_run
from framerun.local.workflows import Emulator
from framerun.render_handle import RenderHandle
from framerun.target import CloudRunTarget
from framerun_service.core.errors import IdempotencyKeyConflictError, OutputNotWritableError
from framerun_service.core.storage import Storage
from tests.gcs_emulator import FakeGcs

ECHO = """
main:
  params: [args]
  steps:
    - done:
        return: ${args.renderId}
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(project="framerun-test", location="local") as running:
        running.deploy("render", ECHO)
        running.start()
        yield running


@pytest.fixture
def stack_target(fake_gcs: FakeGcs, gcs_bucket: str, emulator: Emulator) -> CloudRunTarget:
    return CloudRunTarget(
        bucket_name=gcs_bucket,
        project_id="framerun-test",
        location="local",
        workflow_id="render",
        service_url="http://127.0.0.1:1",
        executions_endpoint=emulator.address,
        storage_emulator_host=fake_gcs.url,
    )


def _executions(emulator: Emulator, target: CloudRunTarget) -> list[str]:
    """The executions of this test's renders (the module's emulator is shared)."""
    records = emulator.store.list_executions(target.workflow_path)
    return [r.name for r in records if target.bucket_name in str(r.argument)]


def _requests(storage: Storage, bucket: str) -> list[str]:
    return [k for k in storage.list_keys(f"gs://{bucket}/renders/") if k.endswith("request.json")]


def test_the_same_key_twice_returns_the_same_render(
    project: Path, stack_target: CloudRunTarget, emulator: Emulator, storage: Storage
) -> None:
    first = render_to_cloud_run(
        project, target=stack_target, chunk_size=10, idempotency_key="job-1"
    )
    # Even once the output exists (a finished render), the key returns that render.
    storage.upload_bytes_if_absent(b"video", first.output_uri)
    again = render_to_cloud_run(
        project, target=stack_target, chunk_size=10, idempotency_key="job-1"
    )
    assert again == first
    assert _executions(emulator, stack_target) == [first.execution_name]
    assert len(_requests(storage, stack_target.bucket_name)) == 1
    other = render_to_cloud_run(
        project, target=stack_target, chunk_size=10, idempotency_key="job-2"
    )
    assert other.render_id != first.render_id
    assert len(_executions(emulator, stack_target)) == 2


def _race(project: Path, target: CloudRunTarget, key: str) -> list[RenderHandle]:
    """Two starts with one key, released at the same instant from two threads."""
    barrier = threading.Barrier(2)
    handles: list[RenderHandle] = []
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            handles.append(
                render_to_cloud_run(project, {"chunkSize": 10}, target=target, idempotency_key=key)
            )
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    return handles


def test_two_starts_racing_with_one_key_make_one_execution(
    project: Path, stack_target: CloudRunTarget, emulator: Emulator, storage: Storage
) -> None:
    for attempt in range(3):
        handles = _race(project, stack_target, f"race-{attempt}")
        assert len(handles) == 2 and handles[0] == handles[1]
    assert len(_executions(emulator, stack_target)) == 3
    assert len(_requests(storage, stack_target.bucket_name)) == 3


def test_the_same_key_with_another_request_is_refused(
    project: Path, stack_target: CloudRunTarget, emulator: Emulator
) -> None:
    render_to_cloud_run(project, target=stack_target, chunk_size=10, idempotency_key="job-1")
    with pytest.raises(IdempotencyKeyConflictError, match="different request") as info:
        render_to_cloud_run(project, target=stack_target, chunk_size=20, idempotency_key="job-1")
    assert info.value.code == "IDEMPOTENCY_KEY_CONFLICT"
    assert len(_executions(emulator, stack_target)) == 1


def test_a_start_that_fails_frees_its_key(
    project: Path, stack_target: CloudRunTarget, emulator: Emulator, storage: Storage
) -> None:
    taken = f"gs://{stack_target.bucket_name}/videos/taken.mp4"
    storage.upload_bytes_if_absent(b"someone else's", taken)
    with pytest.raises(OutputNotWritableError):
        render_to_cloud_run(
            project, target=stack_target, output_key="videos/taken.mp4", idempotency_key="k"
        )
    assert storage.list_keys(f"gs://{stack_target.bucket_name}/idempotency/") == []
    storage.delete(taken)
    handle = render_to_cloud_run(
        project, target=stack_target, output_key="videos/taken.mp4", idempotency_key="k"
    )
    assert _executions(emulator, stack_target) == [handle.execution_name]
