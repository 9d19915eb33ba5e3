"""Fixtures for the SDK tests: a small project, a target on the emulator bucket, the fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from framerun.target import CloudRunTarget
from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.sdk.fakes import CountingStorage, FakeExecutions

DECLARATIONS = [
    {"id": "title", "type": "string", "label": "Title", "default": "Hello"},
    {"id": "count", "type": "number", "label": "Count", "default": 1},
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A 320×240, 30 fps, 1 s composition declaring a string and a number variable."""
    return write_composition(
        tmp_path / "project", "<div class='box'></div>", variables=DECLARATIONS
    )


@pytest.fixture
def target(gcs_bucket: str) -> CloudRunTarget:
    return CloudRunTarget(
        bucket_name=gcs_bucket,
        project_id="framerun-test",
        location="us-central1",
        workflow_id="framerun-render",
        service_url="https://framerun-render-abc123-uc.a.run.app",
    )


@pytest.fixture
def fake() -> FakeExecutions:
    return FakeExecutions()


@pytest.fixture
def counting(storage: Storage) -> CountingStorage:
    return CountingStorage(storage)
