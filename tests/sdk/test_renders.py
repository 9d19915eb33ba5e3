"""renders list|get|delete: what is in the bucket, and deleting exactly one render.

The renders are started by the SDK against fake-gcs-server (the executions are
the in-memory fake); the service's records are then written through the same
``wire`` classes the service writes them with. The real stack runs the same
commands in tests/sdk/test_cli_local.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import framerun
from framerun.cli import main
from framerun.cli_cloudrun import CloudRunSeams
from framerun.render_handle import RenderHandle
from framerun.render_validation import check_output_key
from framerun.target import CloudRunTarget
from framerun_service.core.errors import (
    ObjectNotFoundError,
    OutputNotWritableError,
    RenderStillRunningError,
)
from framerun_service.core.storage import Storage
from framerun_service.core.wire import (
    ChunkRecord,
    PlanEnvelope,
    ResultRecord,
    chunk_record_uri,
    chunk_uri,
    plan_uri,
    result_uri,
)
from tests.sdk.fakes import FakeExecutions, State


def _finish(
    handle: RenderHandle, storage: Storage, fake: FakeExecutions, *, size: int, chunks: int = 2
) -> None:
    """What the service leaves behind for a render that succeeded (and the execution's end)."""
    bucket, rid = handle.bucket_name, handle.render_id
    plan = {"planHash": "a" * 64, "frameStart": 0, "frameEnd": 30, "chunks": [{}] * chunks}
    envelope = PlanEnvelope(rid, "gs://x/site", handle.output_uri, plan, 1.5)
    storage.write_json_if_absent(plan_uri(bucket, rid), envelope.to_json())
    for i in range(chunks):
        storage.upload_bytes_if_absent(b"chunk", chunk_uri(bucket, rid, i))
        record = ChunkRecord(i, 30 // chunks, 4.0, i * 15, i * 15 + 15)
        storage.write_json_if_absent(chunk_record_uri(bucket, rid, i), record.to_json())
    storage.upload_bytes_if_absent(b"v" * size, handle.output_uri)
    result = ResultRecord(handle.output_uri, size, 30, 0.5, "a" * 64)
    storage.write_json_if_absent(result_uri(bucket, rid), result.to_json())
    fake.finish(handle.execution_name, State.SUCCEEDED)


def _keys(storage: Storage, bucket: str) -> list[str]:
    return storage.list_keys(f"gs://{bucket}/")


@pytest.fixture
def two(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> tuple[RenderHandle, RenderHandle]:
    """A finished render with a custom output key and an idempotency key, then another one."""
    first = framerun.render_to_cloud_run(
        project,
        target=target,
        output_key="videos/first.mp4",
        idempotency_key="job-1",
        executions=fake,
        storage=storage,
    )
    _finish(first, storage, fake, size=2_000_000)
    second = framerun.render_to_cloud_run(project, target=target, executions=fake, storage=storage)
    _finish(second, storage, fake, size=1_000)
    return first, second


def test_list_shows_status_output_size_and_cost_newest_first(
    two: tuple[RenderHandle, RenderHandle],
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    storage: Storage,
) -> None:
    first, second = two
    running = framerun.render_to_cloud_run(project, target=target, executions=fake, storage=storage)
    found = framerun.list_renders(target=target, storage=storage, executions=fake)
    assert [s.render_id for s in found] == [running.render_id, second.render_id, first.render_id]
    by_id = {s.render_id: s for s in found}
    done = by_id[first.render_id]
    assert done.status == "succeeded"
    assert done.output_uri == f"gs://{target.bucket_name}/videos/first.mp4"
    assert done.output_bytes == 2_000_000
    assert (done.chunks_done, done.chunks_total, done.total_frames) == (2, 2, 30)
    assert done.costs.total_usd > 0
    assert done.execution_name == first.execution_name
    assert by_id[running.render_id].status == "running"
    assert by_id[running.render_id].output_bytes is None
    got = framerun.get_render(first.render_id, target=target, storage=storage, executions=fake)
    assert got == done


def test_delete_removes_one_render_its_custom_output_and_claim_and_nothing_else(
    two: tuple[RenderHandle, RenderHandle],
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    storage: Storage,
) -> None:
    first, second = two
    bucket = target.bucket_name
    before = _keys(storage, bucket)
    done = framerun.delete_render(first.render_id, target=target, storage=storage, executions=fake)
    after = _keys(storage, bucket)
    gone = sorted(set(before) - set(after))
    assert gone == sorted(uri.removeprefix(f"gs://{bucket}/") for uri in done.deleted)
    claims = [k for k in before if k.startswith("idempotency/")]
    own = [k for k in before if k.startswith(f"renders/{first.render_id}/")]
    assert len(claims) == 1 and len(own) >= 7  # request, execution, plan, 2+2 chunks, result
    assert gone == sorted([*own, *claims, "videos/first.mp4"])
    # Everything else stays: the shared site, the other render, its output.
    assert any(k.startswith("sites/") for k in after)
    assert sorted(after) == sorted(set(before) - set(gone))
    assert any(second.render_id in k for k in after)
    with pytest.raises(ObjectNotFoundError, match="renders list"):
        framerun.get_render(first.render_id, target=target, storage=storage, executions=fake)
    # The key and the output name are free again: they start a new render.
    again = framerun.render_to_cloud_run(
        project,
        target=target,
        output_key="videos/first.mp4",
        idempotency_key="job-1",
        executions=fake,
        storage=storage,
    )
    assert again.render_id != first.render_id


def test_a_running_render_is_not_deleted(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    handle = framerun.render_to_cloud_run(project, target=target, executions=fake, storage=storage)
    before = _keys(storage, target.bucket_name)
    with pytest.raises(RenderStillRunningError, match="cancel it first") as info:
        framerun.delete_render(handle.render_id, target=target, storage=storage, executions=fake)
    assert handle.execution_name in str(info.value)
    assert _keys(storage, target.bucket_name) == before
    fake.cancel_execution(name=handle.execution_name)
    framerun.delete_render(handle.render_id, target=target, storage=storage, executions=fake)
    assert not any(handle.render_id in k for k in _keys(storage, target.bucket_name))


def _cli(target: CloudRunTarget, fake: FakeExecutions, storage: Storage, *args: str):
    env = {
        "FRAMERUN_BUCKET": target.bucket_name,
        "FRAMERUN_PROJECT": target.project_id,
        "FRAMERUN_REGION": target.location,
        "FRAMERUN_WORKFLOW": target.workflow_id,
        "FRAMERUN_SERVICE_URL": target.service_url,
    }
    return CliRunner().invoke(
        main,
        ["cloudrun", "renders", *args],
        obj=CloudRunSeams(executions=fake, storage=storage),
        env=env,
    )


def test_the_cli_lists_gets_and_deletes(
    two: tuple[RenderHandle, RenderHandle],
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    storage: Storage,
) -> None:
    first, second = two
    listed = _cli(target, fake, storage, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["renderId"] for r in rows] == [second.render_id, first.render_id]
    assert rows[1]["status"] == "succeeded" and rows[1]["outputBytes"] == 2_000_000
    table = _cli(target, fake, storage, "list")
    assert first.render_id in table.output and "2.00 MB" in table.output
    got = _cli(target, fake, storage, "get", first.render_id)
    assert "succeeded" in got.output and "videos/first.mp4" in got.output
    running = framerun.render_to_cloud_run(project, target=target, executions=fake, storage=storage)
    refused = _cli(target, fake, storage, "delete", running.render_id)
    assert refused.exit_code == 2
    assert "cancel it first" in refused.output and "[RENDER_STILL_RUNNING]" in refused.output
    deleted = _cli(target, fake, storage, "delete", first.render_id, "--json")
    assert deleted.exit_code == 0, deleted.output
    assert f"gs://{target.bucket_name}/videos/first.mp4" in json.loads(deleted.output)["deleted"]
    missing = _cli(target, fake, storage, "get", first.render_id)
    assert missing.exit_code == 2 and "[OBJECT_NOT_FOUND]" in missing.output


def test_wait_for_render_downloads_the_output_once_it_succeeded(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage, tmp_path: Path
) -> None:
    handle = framerun.render_to_cloud_run(project, target=target, executions=fake, storage=storage)
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    with pytest.raises(OutputNotWritableError):  # refused before a single poll
        framerun.wait_for_render(handle, executions=fake, storage=storage, download_to=taken)
    assert fake.polls[handle.execution_name] == 0
    _finish(handle, storage, fake, size=4321)
    seen: list[int] = []
    final = framerun.wait_for_render(
        handle,
        executions=fake,
        storage=storage,
        download_to=tmp_path / "video.mp4",
        on_download=lambda done, total: seen.append(done),
    )
    assert final.status == "succeeded"
    assert (tmp_path / "video.mp4").read_bytes() == b"v" * 4321 and seen[-1] == 4321


def test_a_stray_object_under_renders_is_not_a_render(
    two: tuple[RenderHandle, RenderHandle],
    target: CloudRunTarget,
    fake: FakeExecutions,
    storage: Storage,
) -> None:
    storage.upload_bytes_if_absent(b"x", f"gs://{target.bucket_name}/renders/notes.txt")
    found = framerun.list_renders(target=target, storage=storage, executions=fake)
    assert sorted(s.render_id for s in found) == sorted(h.render_id for h in two)
    with pytest.raises(OutputNotWritableError, match="renders' own objects"):
        check_output_key("renders/mine.mp4")
