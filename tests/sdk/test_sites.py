"""deploy_site: content-addressed, so an unchanged tree is never archived or uploaded again."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from framerun.sites import SITE_HASH_METADATA, SiteHandle, deploy_site, site_key
from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidInputError, TargetNotConfiguredError
from framerun_service.core.storage import Storage
from framerun_service.render.site import site_tree_hash
from tests.sdk.fakes import CountingStorage


def test_first_deploy_uploads_the_archive(
    project: Path, target: CloudRunTarget, storage: Storage, tmp_path: Path
) -> None:
    site = deploy_site(project, target=target, storage=storage)
    assert site.uploaded
    assert site.site_id == site_tree_hash(project)
    assert site.site_uri == f"gs://{target.bucket_name}/{site_key(site.site_id)}"
    info = storage.stat(site.site_uri)
    assert info is not None and info.metadata[SITE_HASH_METADATA] == site.site_id
    archive = tmp_path / "site.tar.gz"
    storage.download_to(site.site_uri, archive)
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["index.html"]
    assert SiteHandle.from_json(site.to_json()) == site


def test_unchanged_tree_is_not_uploaded_again(
    project: Path,
    target: CloudRunTarget,
    counting: CountingStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = deploy_site(project, bucket_name=target.bucket_name, storage=counting)
    assert counting.calls["upload_file_if_absent"] == 1
    counting.calls.clear()

    def no_archive(*args: object, **kwargs: object) -> str:
        raise AssertionError("an unchanged site must not even be archived")

    monkeypatch.setattr("framerun_service.render.archive.make_site_archive", no_archive)
    again = deploy_site(project, bucket_name=target.bucket_name, storage=counting)
    assert again == SiteHandle(first.site_id, first.site_uri, uploaded=False)
    assert dict(counting.calls) == {"exists": 1}  # one stat, no upload


def test_a_changed_file_changes_the_site_id(
    project: Path, target: CloudRunTarget, counting: CountingStorage
) -> None:
    first = deploy_site(project, target=target, storage=counting)
    (project / "extra.css").write_text("body { color: red }")
    second = deploy_site(project, target=target, storage=counting)
    assert second.site_id != first.site_id and second.uploaded
    assert counting.calls["upload_file_if_absent"] == 2


def test_needs_a_bucket_and_a_folder(tmp_path: Path, target: CloudRunTarget) -> None:
    with pytest.raises(TargetNotConfiguredError, match="bucket"):
        deploy_site(tmp_path)
    with pytest.raises(InvalidInputError, match="not a folder"):
        deploy_site(tmp_path / "missing", target=target)
    with pytest.raises(InvalidInputError, match="no files"):
        deploy_site(tmp_path, target=target)
    with pytest.raises(InvalidInputError, match="contradicts"):
        deploy_site(tmp_path, target=target, bucket_name="another-bucket")
