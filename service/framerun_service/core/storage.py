"""Cloud Storage for the service's artifacts: plans, site archives, chunks, videos.

Every artifact is addressed by a ``gs://bucket/key`` URI and most are written
once: their keys are derived from content hashes, so a second writer always
holds the same bytes. Writes therefore use ``ifGenerationMatch=0`` ("create,
never replace"), which makes retried and racing Actions safe without locks.

This module is the :class:`Storage` class alone; its helpers each have one job:
``gs_uris`` validates the URIs (and ``gs_uri`` / ``parse_gs_uri`` are
re-exported here, the path callers use), ``storage_client`` builds the google
client from the environment (real GCS, or fake-gcs-server in tests via
``STORAGE_EMULATOR_HOST``), and ``storage_errors`` is the one place failures
become framerun errors: a missing object is ``ObjectNotFoundError``, a transient
fault ``StorageUnavailableError`` (retryable), refused credentials
``StorageAccessDeniedError`` (the service's misconfiguration, not retryable).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY

from framerun_service.core.errors import InvalidRequestError
from framerun_service.core.gs_uris import gs_uri, parse_gs_prefix, parse_gs_uri
from framerun_service.core.storage_client import (
    DEFAULT_TIMEOUT,
    ENV_RETRY_DEADLINE_S,
    ENV_TIMEOUT_S,
    client_from_env,
    disable_bucket_metadata_prefetch,
    retry_and_timeout_from_env,
)
from framerun_service.core.storage_errors import translated

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_RETRY_DEADLINE_S",
    "ENV_TIMEOUT_S",
    "JSON_CONTENT_TYPE",
    "UPLOAD_CHUNK_BYTES",
    "ObjectInfo",
    "Storage",
    "gs_uri",
    "parse_gs_uri",
]

# Uploads above google's 8 MiB multipart limit go resumable, sent in chunks of
# this size. The library holds about two chunks in memory, so its default
# (100 MiB) would cost ~200 MiB per upload; 8 MiB (~16 MiB held) is the chunk
# size GCS still recommends for throughput. Must be a multiple of 256 KiB.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class ObjectInfo:
    """What ``stat`` tells about an object, without downloading it."""

    uri: str
    size: int
    generation: int
    metadata: dict[str, str] = field(default_factory=dict)  # custom x-goog-meta-*
    content_type: str | None = None
    md5_hash: str | None = None  # base64, as GCS reports it; None for composite objects
    crc32c: str | None = None  # base64 of the big-endian CRC32C


class Storage:
    """gs:// objects for the service: read, stat, list, and create-only writes.

    Wraps a ``google.cloud.storage.Client`` (built by :meth:`from_env` when none
    is given). ``retry`` and ``timeout`` apply to every request; tests pass
    small ones to fail fast.
    """

    def __init__(
        self,
        client: gcs.Client | None = None,
        *,
        retry: Retry = DEFAULT_RETRY,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client if client is not None else client_from_env()
        self._retry = retry
        self._timeout = timeout
        disable_bucket_metadata_prefetch(self._client)

    @classmethod
    def from_env(cls) -> Storage:
        """A Storage for this environment: the emulator if ``STORAGE_EMULATOR_HOST`` is set.

        Otherwise Application Default Credentials (on Cloud Run: the service's
        service account). No project is needed for object operations;
        ``GOOGLE_CLOUD_PROJECT`` is used when set. ``FRAMERUN_STORAGE_TIMEOUT_S``
        and ``FRAMERUN_STORAGE_RETRY_DEADLINE_S`` lower the per-request read
        timeout and the total retry budget.
        """
        retry, timeout = retry_and_timeout_from_env()
        return cls(client_from_env(), retry=retry, timeout=timeout)

    @property
    def client(self) -> gcs.Client:
        """The wrapped google client, for the rare caller that needs a raw request."""
        return self._client

    def close(self) -> None:
        """Close the client's pooled connections (left open, GC closes them with a warning)."""
        self._client.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------

    def read_bytes(self, uri: str) -> bytes:
        """The whole object in memory: only for small records (plans, manifests)."""
        blob = self._blob(uri)
        with translated(uri, "read"):
            data: bytes = blob.download_as_bytes(retry=self._retry, timeout=self._timeout)
        return data

    def read_json(self, uri: str) -> Any:
        """A JSON record; InvalidRequestError if the object is not JSON."""
        data = self.read_bytes(uri)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequestError(f"{uri} is not valid JSON: {exc}") from exc
        except RecursionError:
            raise InvalidRequestError(f"{uri} is JSON nested too deeply to read") from None

    def download_to(self, uri: str, path: str | os.PathLike[str]) -> None:
        """Stream the object to ``path`` (never whole in memory), atomically.

        The bytes land in a temporary file next to ``path`` and are renamed over
        it only once complete and checksum-verified, so a failed or interrupted
        download never leaves a truncated file where a good one is expected.
        """
        parse_gs_uri(uri)  # a malformed URI fails before a temporary file exists
        dest = Path(path)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                self.download_into(uri, fh)
            os.replace(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def download_into(self, uri: str, fh: IO[bytes] | io.RawIOBase) -> None:
        """Stream the object into an open file, checksum-verified, under the retry policy.

        The one download path: :meth:`download_to` and the SDK's ``framerun.download``
        (which counts the bytes and places the file by its own rules) both call it.
        """
        blob = self._blob(uri)
        with translated(uri, "read"):
            blob.download_to_file(fh, retry=self._retry, timeout=self._timeout)

    def stat(self, uri: str) -> ObjectInfo | None:
        """The object's size, generation, metadata and checksums; None if absent."""
        bucket, key = parse_gs_uri(uri)
        with translated(uri, "read"):
            blob = self._client.bucket(bucket).get_blob(
                key, retry=self._retry, timeout=self._timeout
            )
        if blob is None:
            return None
        return ObjectInfo(
            uri=uri,
            size=int(blob.size or 0),
            generation=int(blob.generation or 0),
            metadata=dict(blob.metadata or {}),
            content_type=blob.content_type,
            md5_hash=blob.md5_hash,
            crc32c=blob.crc32c,
        )

    def exists(self, uri: str) -> bool:
        """Whether the object is there (one metadata request, no download)."""
        return self.stat(uri) is not None

    def list_keys(self, prefix: str) -> list[str]:
        """Keys (full object names, not URIs) under ``gs://bucket/prefix``, sorted.

        ``prefix`` is a plain string prefix, not a folder: ``gs://b/runs/1``
        also matches ``runs/10/...``; end it with ``/`` to mean a folder.
        """
        bucket, key_prefix = parse_gs_prefix(prefix)
        with translated(prefix, "list"):
            blobs = self._client.list_blobs(
                bucket, prefix=key_prefix, retry=self._retry, timeout=self._timeout
            )
            return sorted(blob.name for blob in blobs)

    # -- create-only writes --------------------------------------------------

    def upload_file_if_absent(
        self,
        path: str | os.PathLike[str],
        uri: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> bool:
        """Upload ``path`` to ``uri`` unless the object exists; never overwrites.

        Returns True if this call created the object, False if it was already
        there. The file is streamed (a resumable upload in 8 MiB chunks when it
        is larger than that), never read whole.

        The object is stat'ed first so a large artifact that already exists is
        not sent again (the common case on a retried Action), and because
        fake-gcs-server ignores ``ifGenerationMatch`` on resumable uploads
        (fsouza/fake-gcs-server#1967). On real GCS the precondition alone is
        what guarantees a racing writer cannot replace the object.

        With retries, a write whose response was lost is retried and then sees
        its own object: False then means "it exists", which is all a
        content-addressed key needs.
        """
        if self.exists(uri):
            return False
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return self._create(uri, fh, size, metadata, content_type)

    def upload_bytes_if_absent(
        self,
        data: bytes,
        uri: str,
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str = "application/octet-stream",
    ) -> bool:
        """Like :meth:`upload_file_if_absent` for bytes already in memory (small records)."""
        return self._create(uri, data, len(data), metadata, content_type)

    def write_json_if_absent(
        self, uri: str, obj: Any, *, metadata: Mapping[str, str] | None = None
    ) -> bool:
        """Create a JSON record (canonical: sorted keys, compact); False if it exists."""
        return self.upload_bytes_if_absent(
            _json_bytes(obj), uri, metadata=metadata, content_type=JSON_CONTENT_TYPE
        )

    def overwrite_json(self, uri: str, obj: Any) -> None:
        """Replace a small *mutable* record (e.g. progress/status): last writer wins.

        The one write that may replace an object, for records whose latest
        value is all that matters. Never use it for artifacts: those are
        content-addressed and created with the ``*_if_absent`` methods. Retried
        like everything else, which is safe because re-sending the same body
        leaves the same content.
        """
        blob = self._blob(uri, for_upload=True)
        with translated(uri, "write"):
            blob.upload_from_string(
                _json_bytes(obj),
                content_type=JSON_CONTENT_TYPE,
                retry=self._retry,
                timeout=self._timeout,
            )

    # -- deletes -------------------------------------------------------------

    def delete(self, uri: str, *, if_generation_match: int | None = None) -> bool:
        """Delete one object; False if it was not there (a retried delete is not an error).

        With ``if_generation_match`` only that generation is deleted, so a record
        replaced since it was read is kept (False then too). Only the SDK's
        ``renders delete`` and a failed start's cleanup call this: the service
        never deletes anything.
        """
        blob = self._blob(uri)
        with translated(uri, "write"):
            try:
                blob.delete(
                    if_generation_match=if_generation_match,
                    retry=self._retry,
                    timeout=self._timeout,
                )
            except (api_exceptions.NotFound, api_exceptions.PreconditionFailed):
                return False
        return True

    # -- internals -----------------------------------------------------------

    def _blob(self, uri: str, *, for_upload: bool = False) -> gcs.Blob:
        """A handle (no request). Only uploads get a chunk size: on a download it
        would switch to chunked downloads, which skip checksum verification."""
        bucket, key = parse_gs_uri(uri)
        chunk_size = UPLOAD_CHUNK_BYTES if for_upload else None
        return self._client.bucket(bucket).blob(key, chunk_size=chunk_size)

    def _create(
        self,
        uri: str,
        source: bytes | IO[bytes],
        size: int,
        metadata: Mapping[str, str] | None,
        content_type: str,
    ) -> bool:
        """One create-only upload; True if created, False on 412 (it exists)."""
        blob = self._blob(uri, for_upload=True)
        if metadata:
            blob.metadata = dict(metadata)
        with translated(uri, "write"):
            try:
                if isinstance(source, bytes):
                    blob.upload_from_string(
                        source,
                        content_type=content_type,
                        if_generation_match=0,
                        retry=self._retry,
                        timeout=self._timeout,
                    )
                else:
                    blob.upload_from_file(
                        source,
                        size=size,
                        content_type=content_type,
                        if_generation_match=0,
                        retry=self._retry,
                        timeout=self._timeout,
                    )
            except api_exceptions.PreconditionFailed:
                return False
        return True


def _json_bytes(obj: Any) -> bytes:
    """Canonical JSON, so equal records are equal bytes (and create-only is consistent)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
