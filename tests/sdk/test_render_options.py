"""render_to_cloud_run(**settings): framerun.render()'s names, checked before any upload."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

import framerun
from framerun.cloudrun import render_to_cloud_run
from framerun.render_options import merge_render_options
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidConfigError, VariablesInvalidError
from framerun_service.core.storage import Storage
from framerun_service.render.config import RenderConfig
from tests.sdk.fakes import FakeExecutions

# framerun.render()'s parameters that are about this machine, not the render.
LOCAL_ONLY = {"project_dir", "output", "workers", "on_plan", "on_frames"}


def _stored_config(storage: Storage, fake: FakeExecutions, name: str) -> dict:
    request_uri = json.loads(fake.executions[name].argument)["requestUri"]
    return storage.read_json(request_uri)["config"]


def test_every_render_setting_has_the_same_keyword_as_framerun_render() -> None:
    local = set(inspect.signature(framerun.render).parameters) - LOCAL_ONLY
    cloud = set(inspect.signature(render_to_cloud_run).parameters)
    assert local <= cloud
    # ... and every field the wire config knows is a keyword too.
    assert set(RenderConfig.__dataclass_fields__) <= cloud


def test_keywords_become_the_wire_config(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    handle = render_to_cloud_run(
        project,
        target=target,
        executions=fake,
        storage=storage,
        chunk_size=10,
        variables={"title": "Hi"},
        strict_variables=True,
        frames=(0, 15),
        max_parallel_chunks=3,
        quality="high",
        format="webm",
    )
    assert _stored_config(storage, fake, handle.execution_name) == {
        "chunkSize": 10,
        "variables": {"title": "Hi"},
        "strictVariables": True,
        "frames": [0, 15],
        "maxParallelChunks": 3,
        "quality": "high",
        "format": "webm",
    }
    assert handle.output_uri.endswith("/output.webm")


def test_the_dict_and_keywords_together_must_agree(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    handle = render_to_cloud_run(
        project,
        {"chunkSize": 10},
        chunk_size=10,
        fps=15,
        target=target,
        executions=fake,
        storage=storage,
    )
    assert _stored_config(storage, fake, handle.execution_name) == {"chunkSize": 10, "fps": 15}
    before = storage.list_keys(f"gs://{target.bucket_name}/")
    with pytest.raises(InvalidConfigError, match="chunk_size=20 contradicts") as info:
        render_to_cloud_run(
            project,
            {"chunkSize": 10},
            chunk_size=20,
            target=target,
            executions=fake,
            storage=storage,
        )
    assert info.value.code == "INVALID_CONFIG"
    assert storage.list_keys(f"gs://{target.bucket_name}/") == before
    assert len(fake.creates()) == 1


def test_keywords_are_checked_against_the_composition_before_any_upload(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    with pytest.raises(VariablesInvalidError):
        render_to_cloud_run(
            project,
            variables={"count": "many"},
            strict_variables=True,
            target=target,
            executions=fake,
            storage=storage,
        )
    with pytest.raises(InvalidConfigError):
        render_to_cloud_run(project, width=333, target=target, executions=fake, storage=storage)
    assert storage.list_keys(f"gs://{target.bucket_name}/") == []
    assert fake.creates() == []


def test_an_output_keys_suffix_picks_the_format(
    project: Path, target: CloudRunTarget, fake: FakeExecutions, storage: Storage
) -> None:
    handle = render_to_cloud_run(
        project, output_key="videos/a.webm", target=target, executions=fake, storage=storage
    )
    assert _stored_config(storage, fake, handle.execution_name) == {"format": "webm"}
    with pytest.raises(InvalidConfigError):
        render_to_cloud_run(
            project,
            format="mov",
            output_key="videos/b.webm",
            target=target,
            executions=fake,
            storage=storage,
        )


def test_merge_refuses_a_name_that_is_no_setting() -> None:
    with pytest.raises(InvalidConfigError, match="not a render setting"):
        merge_render_options({}, {"chunksize": 3})
    assert merge_render_options({"frames": [0, 3]}, {"frames": (0, 3)}) == {"frames": [0, 3]}
