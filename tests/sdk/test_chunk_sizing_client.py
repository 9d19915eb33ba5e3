"""The SDK refuses a chunk size no instance could render before anything is uploaded or
started, and leaves an unset one to the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from framerun.cloudrun import render_to_cloud_run
from framerun.render_validation import validate_render_config
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidConfigError
from tests.compositions import write_composition
from tests.sdk.fakes import FakeExecutions


@pytest.fixture
def hour_of_4k(tmp_path: Path) -> Path:
    return write_composition(
        tmp_path / "site", "<p>hi</p>", width=3840, height=2160, duration="3600"
    )


def test_a_chunk_size_past_the_cap_on_the_largest_instance_is_refused_before_starting(
    hour_of_4k: Path, fake: FakeExecutions
) -> None:
    """Even on 8 vCPUs, 20,000 frames of 4K are predicted past 1800 s: refused with the
    fix, and no API call is made (the target is never even reached)."""
    target = CloudRunTarget.from_values(
        bucket_name="never-used",
        project_id="p",
        location="us-central1",
        workflow_id="w",
        service_url="https://never-used.invalid",
        source="test",
    )
    with pytest.raises(InvalidConfigError) as info:
        render_to_cloud_run(hour_of_4k, target=target, chunk_size=20_000, executions=fake)
    assert info.value.message.startswith("chunk_size 20000 makes chunks of up to")
    assert "on 8 vCPUs" in info.value.message and "use chunk_size ≤ " in info.value.message
    assert fake.calls == []


def test_what_some_instance_could_render_is_left_to_the_service(hour_of_4k: Path) -> None:
    """6000 frames of 4K fit on 8 vCPUs (the service refuses them on fewer), and an unset
    chunk size stays unset on the wire: the service sizes it for its own instance."""
    assert validate_render_config({"chunkSize": 6000}, hour_of_4k).chunk_size == 6000
    assert validate_render_config({}, hour_of_4k).chunk_size is None
