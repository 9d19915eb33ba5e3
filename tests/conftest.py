from __future__ import annotations

from pathlib import Path

import pytest

from tests.compositions import GSAP


@pytest.fixture(scope="session", autouse=True)
def _vendored_js() -> None:
    if not GSAP.is_file():
        pytest.fail("node_modules/gsap is missing: run `make setup` (it runs scripts/vendor-js.sh)")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    return out


# fake-gcs-server fixtures, shared by the service, workflow, sdk and reliability tests.
from tests.gcs_emulator import fake_gcs, gcs_bucket, storage  # noqa: E402, F401

# A gunicorn service on its own bucket, per test module (tests may define their own).
from tests.service.service_harness import service  # noqa: E402, F401
