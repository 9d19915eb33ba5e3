"""render_to_cloud_run: checks locally, uploads the site, writes request.json, starts one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from framerun.cloudrun import render_to_cloud_run
from framerun.executions import MAX_ARGUMENT_BYTES
from framerun.render_request import MAX_REQUEST_BYTES
from framerun.render_validation import check_output_key, validate_render_config
from framerun.target import CloudRunTarget
from framerun_service.core.errors import (
    ArgumentTooLargeError,
    InvalidCompositionError,
    InvalidConfigError,
    InvalidInputError,
    ObjectNotFoundError,
    OutputNotWritableError,
    TargetNotConfiguredError,
    VariablesInvalidError,
)
from framerun_service.core.storage import Storage
from tests.sdk.fakes import CountingStorage, FakeExecutions


def _objects(storage: Storage, bucket: str) -> list[str]:
    return storage.list_keys(f"gs://{bucket}/")


def test_writes_request_and_creates_one_execution_with_references_only(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    config = {"chunkSize": 10, "variables": {"title": "Hi"}}
    handle = render_to_cloud_run(project, config, target=target, executions=fake, storage=storage)

    assert fake.creates() == [target.workflow_path]
    execution = fake.executions[handle.execution_name]
    argument = json.loads(execution.argument)
    assert set(argument) == {"renderId", "requestUri"}  # references only
    assert len(execution.argument.encode()) <= MAX_ARGUMENT_BYTES
    assert argument["renderId"] == handle.render_id
    assert handle.render_id.startswith("r-") and len(handle.render_id) == 22
    assert argument["requestUri"] == (
        f"gs://{target.bucket_name}/renders/{handle.render_id}/request.json"
    )

    request = storage.read_json(argument["requestUri"])
    assert set(request) == {"siteUri", "outputUri", "config"}
    assert request["config"] == config
    assert (
        request["outputUri"]
        == handle.output_uri
        == (f"gs://{target.bucket_name}/renders/{handle.render_id}/output.mp4")
    )
    assert storage.exists(request["siteUri"])  # the site was uploaded first
    assert handle.bucket_name == target.bucket_name
    assert handle.started_at.tzinfo is not None


def test_output_key_and_existing_site_id(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    first = render_to_cloud_run(project, {}, target=target, executions=fake, storage=storage)
    site_uri = storage.read_json(
        json.loads(fake.executions[first.execution_name].argument)["requestUri"]
    )["siteUri"]
    site_id = site_uri.split("/")[-2]

    second = render_to_cloud_run(
        None,
        {},
        target=target,
        site_id=site_id,
        output_key="videos/intro.mp4",
        executions=fake,
        storage=storage,
    )
    assert second.output_uri == f"gs://{target.bucket_name}/videos/intro.mp4"
    assert len(fake.creates()) == 2


def test_connection_keywords_are_an_alternative_to_target(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    render_to_cloud_run(
        project,
        {},
        bucket_name=target.bucket_name,
        project_id="p1",
        location="europe-west1",
        workflow_id="render",
        service_url="https://svc.a.run.app",
        executions=fake,
        storage=storage,
    )
    assert fake.creates() == ["projects/p1/locations/europe-west1/workflows/render"]
    with pytest.raises(InvalidInputError, match="not both"):
        render_to_cloud_run(project, {}, target=target, bucket_name="x", executions=fake)
    with pytest.raises(TargetNotConfiguredError, match="service_url"):
        render_to_cloud_run(
            project,
            {},
            bucket_name="b",
            project_id="p",
            location="l",
            workflow_id="w",
            executions=fake,
        )


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"width": 333}, InvalidConfigError),  # odd
        ({"width": 100_000}, InvalidConfigError),
        ({"chunkSize": 0}, InvalidConfigError),
        ({"frames": [0, 999]}, InvalidConfigError),  # past the 30 frames of the video
        ({"colour": "red"}, InvalidConfigError),  # unknown key
        ({"quality": "ultra"}, InvalidConfigError),
        ({"variables": {"count": "three"}, "strictVariables": True}, VariablesInvalidError),
        ({"composition": "missing.html"}, InvalidInputError),
    ],
)
def test_bad_config_fails_before_any_call(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    counting: CountingStorage,
    config: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        render_to_cloud_run(project, config, target=target, executions=fake, storage=counting)
    assert fake.calls == []
    assert counting.total == 0
    assert _objects(counting.inner, target.bucket_name) == []


def test_bad_composition_is_refused_locally(
    tmp_path: Path, target: CloudRunTarget, fake: FakeExecutions, counting: CountingStorage
) -> None:
    (tmp_path / "index.html").write_text("<html><body><div data-width='320'></div></body></html>")
    with pytest.raises(InvalidCompositionError, match="data-height"):
        render_to_cloud_run(tmp_path, {}, target=target, executions=fake, storage=counting)
    assert fake.calls == [] and counting.total == 0


def test_request_over_512_kib_is_refused_before_any_call(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, counting: CountingStorage
) -> None:
    config = {"variables": {"title": "x" * MAX_REQUEST_BYTES}}
    with pytest.raises(ArgumentTooLargeError, match="512 KiB") as caught:
        render_to_cloud_run(project, config, target=target, executions=fake, storage=counting)
    assert caught.value.code == "ARGUMENT_TOO_LARGE"
    assert fake.calls == []
    assert counting.total == 0


def test_request_just_under_the_cap_is_accepted(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    config = {"variables": {"title": "x" * (MAX_REQUEST_BYTES - 1024)}}
    handle = render_to_cloud_run(project, config, target=target, executions=fake, storage=storage)
    argument = fake.executions[handle.execution_name].argument
    assert len(argument.encode()) < 200  # the big values travel in request.json, not here


def test_non_json_values_are_refused(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, counting: CountingStorage
) -> None:
    with pytest.raises(InvalidConfigError, match="NaN"):
        render_to_cloud_run(
            project,
            {"variables": {"count": float("nan")}},
            target=target,
            executions=fake,
            storage=counting,
        )
    assert fake.calls == [] and counting.total == 0


def test_existing_output_is_never_replaced(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    storage.upload_bytes_if_absent(b"old", f"gs://{target.bucket_name}/videos/a.mp4")
    with pytest.raises(OutputNotWritableError, match="already exists"):
        render_to_cloud_run(
            project, {}, target=target, output_key="videos/a.mp4", executions=fake, storage=storage
        )
    assert fake.creates() == []


def test_unknown_site_id_names_the_fix(
    target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    with pytest.raises(ObjectNotFoundError, match="sites create"):
        render_to_cloud_run(
            None, {}, target=target, site_id="a" * 64, executions=fake, storage=storage
        )
    with pytest.raises(InvalidInputError, match="site id"):
        render_to_cloud_run(None, {}, target=target, site_id="nope", executions=fake)
    assert fake.calls == []


@pytest.mark.parametrize(
    "key", ["", "/abs.mp4", "a/../b.mp4", "a//b.mp4", "./a.mp4", "sites/x.mp4", "a\\b.mp4"]
)
def test_bad_output_keys(key: str) -> None:
    with pytest.raises(OutputNotWritableError):
        check_output_key(key)


def test_validate_without_project_checks_the_config_only() -> None:
    assert validate_render_config({"chunkSize": 5}).chunk_size == 5
    with pytest.raises(InvalidConfigError):
        validate_render_config({"chunkSize": "5"})


def test_target_from_the_environment_by_default(
    project: Path,
    target: CloudRunTarget,
    fake: FakeExecutions,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAMERUN_BUCKET", target.bucket_name)
    monkeypatch.setenv("FRAMERUN_WORKFLOW", "projects/pe/locations/le/workflows/we")
    monkeypatch.setenv("FRAMERUN_SERVICE_URL", target.service_url)
    render_to_cloud_run(project, executions=fake, storage=storage)
    assert fake.creates() == ["projects/pe/locations/le/workflows/we"]


def test_an_output_key_whose_suffix_names_no_format_is_refused(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, counting: CountingStorage
) -> None:
    """``videos/v.avi`` would hold an MP4: refused (INVALID_CONFIG) before anything is uploaded."""
    with pytest.raises(InvalidConfigError, match=r"\.avi.*\.mp4, \.webm, \.mov, \.tar"):
        render_to_cloud_run(
            project, {}, target=target, output_key="videos/v.avi", executions=fake, storage=counting
        )
    assert fake.calls == [] and counting.total == 0
