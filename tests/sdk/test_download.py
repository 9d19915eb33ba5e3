"""framerun.download(): a gs:// output to a local file, atomically, through the target's storage.

Against fake-gcs-server behind the real google-cloud-storage client, with
``STORAGE_EMULATOR_HOST`` unset: the target alone says where storage is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import framerun
from framerun.download import check_destination
from framerun.target import CloudRunTarget
from framerun_service.core.errors import ObjectNotFoundError, OutputNotWritableError
from framerun_service.core.storage import Storage
from tests.gcs_emulator import FakeGcs

# Over the client's 8 MiB chunk? No: a few MiB is enough to see several progress calls.
PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture
def local_target(
    fake_gcs: FakeGcs, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> CloudRunTarget:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    return CloudRunTarget(
        bucket_name=gcs_bucket,
        project_id="framerun-test",
        location="local",
        workflow_id="render",
        service_url="http://127.0.0.1:1",
        storage_emulator_host=fake_gcs.url,
    )


@pytest.fixture
def uri(fake_gcs: FakeGcs, gcs_bucket: str) -> str:
    uri = f"gs://{gcs_bucket}/renders/r-1/output.mp4"
    with fake_gcs.client() as client:
        Storage(client).upload_bytes_if_absent(PAYLOAD, uri)
    return uri


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_downloads_the_bytes_with_progress_through_the_targets_storage(
    local_target: CloudRunTarget, uri: str, tmp_path: Path
) -> None:
    assert "STORAGE_EMULATOR_HOST" not in os.environ
    seen: list[tuple[int, int]] = []
    path = framerun.download(
        uri,
        tmp_path / "video.mp4",
        target=local_target,
        on_progress=lambda d, t: seen.append((d, t)),
    )
    assert path == tmp_path / "video.mp4"
    assert path.read_bytes() == PAYLOAD
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # bytes only grow
    assert len(seen) > 2
    assert _leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not mkstemp's 0600


def test_a_folder_destination_takes_the_objects_name(
    local_target: CloudRunTarget, uri: str, tmp_path: Path
) -> None:
    path = framerun.download(uri, tmp_path, target=local_target)
    assert path == tmp_path / "output.mp4" and path.read_bytes() == PAYLOAD


def test_an_existing_file_is_kept_unless_overwrite(
    local_target: CloudRunTarget, uri: str, tmp_path: Path
) -> None:
    dest = tmp_path / "video.mp4"
    dest.write_bytes(b"mine")
    with pytest.raises(OutputNotWritableError, match="overwrite=True"):
        framerun.download(uri, dest, target=local_target)
    with pytest.raises(OutputNotWritableError):
        check_destination(dest)
    assert dest.read_bytes() == b"mine"
    framerun.download(uri, dest, target=local_target, overwrite=True)
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(tmp_path) == []


def test_a_missing_object_is_a_typed_error_and_leaves_nothing(
    local_target: CloudRunTarget, gcs_bucket: str, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFoundError, match="has not finished"):
        framerun.download(
            f"gs://{gcs_bucket}/renders/r-x/output.mp4", tmp_path / "v.mp4", target=local_target
        )
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_or_missing_folder_is_refused_before_any_transfer(
    local_target: CloudRunTarget, uri: str, tmp_path: Path
) -> None:
    with pytest.raises(OutputNotWritableError, match="does not exist"):
        framerun.download(uri, tmp_path / "nope" / "v.mp4", target=local_target)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores modes
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(OutputNotWritableError, match="not writable"):
            framerun.download(uri, locked / "v.mp4", target=local_target)
    finally:
        locked.chmod(0o700)


def test_a_failed_transfer_leaves_no_partial_file(
    local_target: CloudRunTarget, uri: str, tmp_path: Path
) -> None:
    def stop_midway(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        framerun.download(uri, tmp_path / "v.mp4", target=local_target, on_progress=stop_midway)
    assert list(tmp_path.iterdir()) == []
