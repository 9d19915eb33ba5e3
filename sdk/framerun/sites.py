"""Sites: a project folder uploaded once, addressed by the hash of its files.

The site id *is* the tree hash (:func:`framerun_service.render.site.site_tree_hash`),
so an unchanged folder maps to the same object and is never uploaded twice: the
tree is hashed first (cheap, local), the object stat'ed, and the archive built and
uploaded only when the object is missing. Changing any file changes the id.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framerun.target import CloudRunTarget
from framerun_service.core.errors import InvalidInputError, ObjectNotFoundError
from framerun_service.core.wire import SITE_ARCHIVE_NAME as SITE_ARCHIVE_NAME
from framerun_service.core.wire import check_site_id as check_site_id
from framerun_service.core.wire import site_key as site_key
from framerun_service.core.wire import site_uri as site_uri

if TYPE_CHECKING:
    from framerun_service.core.storage import Storage

SITE_HASH_METADATA = "framerun-site-hash"


@dataclass(frozen=True)
class SiteHandle:
    """A site in the bucket; ``uploaded`` is False when it was already there."""

    site_id: str
    site_uri: str
    uploaded: bool

    def to_json(self) -> dict[str, Any]:
        return {"siteId": self.site_id, "siteUri": self.site_uri, "uploaded": self.uploaded}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteHandle:
        return cls(site_id=data["siteId"], site_uri=data["siteUri"], uploaded=data["uploaded"])


def hash_site(project_dir: str | os.PathLike[str]) -> str:
    """The site id of a project folder, computed locally (no upload, no network)."""
    from framerun_service.render.site import iter_site_files, site_tree_hash

    root = Path(project_dir)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder: pass the project folder to deploy")
    if next(iter_site_files(root), None) is None:
        raise InvalidInputError(f"{root} has no files to deploy: pass the project folder")
    return site_tree_hash(root)


def deploy_site(
    project_dir: str | os.PathLike[str],
    *,
    target: CloudRunTarget | None = None,
    bucket_name: str | None = None,
    storage: Storage | None = None,
) -> SiteHandle:
    """Upload the project folder as a site unless an identical one is already there.

    Pass ``target`` or ``bucket_name``. ``storage`` defaults to
    ``Storage.from_env()`` (Application Default Credentials, or the emulator
    named by ``STORAGE_EMULATOR_HOST``).
    """
    bucket = _bucket(target, bucket_name)
    site_id = hash_site(project_dir)
    with owned_storage(storage, target) as store:
        uri = site_uri(bucket, site_id)
        if store.exists(uri):
            return SiteHandle(site_id=site_id, site_uri=uri, uploaded=False)
        from framerun_service.render.archive import make_site_archive

        with tempfile.TemporaryDirectory(prefix="framerun-site-") as tmp:
            archive = Path(tmp) / SITE_ARCHIVE_NAME
            # The archive re-hashes the tree; if a file changed since, its id wins.
            archived_id = make_site_archive(project_dir, archive)
            uri = site_uri(bucket, archived_id)
            created = store.upload_file_if_absent(
                archive,
                uri,
                content_type="application/gzip",
                metadata={SITE_HASH_METADATA: archived_id},
            )
        return SiteHandle(site_id=archived_id, site_uri=uri, uploaded=created)


def require_site(storage: Storage, bucket_name: str, site_id: str) -> str:
    """The site's URI, or ObjectNotFoundError saying how to upload it."""
    uri = site_uri(bucket_name, site_id)
    if not storage.exists(uri):
        raise ObjectNotFoundError(
            f"site {site_id[:12]}… is not in bucket {bucket_name} ({uri}): upload it with "
            "`framerun cloudrun sites create PROJECT` or drop --site-id"
        )
    return uri


def _bucket(target: CloudRunTarget | None, bucket_name: str | None) -> str:
    if target is not None and bucket_name is not None and target.bucket_name != bucket_name:
        raise InvalidInputError(
            f"bucket_name {bucket_name!r} contradicts the target's {target.bucket_name!r}; "
            "pass one of them"
        )
    bucket = bucket_name or (target.bucket_name if target is not None else None)
    if not bucket:
        from framerun_service.core.errors import TargetNotConfiguredError

        raise TargetNotConfiguredError(
            "no bucket to deploy the site to: pass target= or bucket_name= (CLI: --bucket or "
            "FRAMERUN_BUCKET)"
        )
    return bucket


@contextlib.contextmanager
def owned_storage(
    storage: Storage | None, target: CloudRunTarget | None = None
) -> Iterator[Storage]:
    """The caller's Storage as is, or one built here and closed afterwards.

    Built for the target's ``storage_emulator_host`` (the local stack) when it
    names one, else ``Storage.from_env()`` (Cloud Storage, or ``STORAGE_EMULATOR_HOST``).
    """
    if storage is not None:
        yield storage
        return
    from framerun_service.core.storage import Storage

    if target is not None and target.storage_emulator_host:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(
            project=target.project_id,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": target.storage_emulator_host},
        )
        owned = Storage(client)
    else:
        owned = Storage.from_env()
    with owned:
        yield owned
