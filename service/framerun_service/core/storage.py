"""Cloud Storage for the service's artifacts: plans, site archives, chunks, videos.

Every artifact is addressed by a ``gs://bucket/key`` URI and most are written
once: their keys are derived from content hashes, so a second writer always
holds the same bytes. Writes therefore use ``ifGenerationMatch=0`` ("create,
never replace"), which makes retried and racing Actions safe without locks.

The same code runs against real Cloud Storage and against fake-gcs-server in
tests: ``google-cloud-storage`` honours ``STORAGE_EMULATOR_HOST``, and
:meth:`Storage.from_env` then uses anonymous credentials.

Failures leave this module only as framerun errors, translated in one place
(:func:`_translate`): a missing object is ``ObjectNotFoundError``, a transient
fault ``StorageUnavailableError`` (retryable), refused credentials
``StorageAccessDeniedError`` (the service's misconfiguration, not retryable).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage import exceptions as media_exceptions
from google.cloud.storage.retry import DEFAULT_RETRY

from framerun_service.core.errors import (
    FramerunError,
    InternalError,
    InvalidRequestError,
    ObjectNotFoundError,
    StorageAccessDeniedError,
    StorageUnavailableError,
)

# Retry: google's DEFAULT_RETRY retries exactly the transient faults (429, 408,
# 5xx, connection resets, timeouts) with exponential back-off from 1 s up to 60 s
# per wait and gives up after 120 s in total. Every call below is idempotent (a
# read, or a write that can only create), so all of them may use it.
#
# Timeout: (connect, read) per HTTP request. Connecting to GCS takes milliseconds;
# a read may wait for an 8 MiB chunk to be taken in, so it gets a minute.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)

# Both can be lowered from the environment (read once, by Storage.from_env): the
# reliability tests use seconds, not minutes, to drive a storage outage past the
# service's own retries. Production leaves them unset.
ENV_TIMEOUT_S = "FRAMERUN_STORAGE_TIMEOUT_S"  # per-request read timeout (connect: min(10, it))
ENV_RETRY_DEADLINE_S = "FRAMERUN_STORAGE_RETRY_DEADLINE_S"  # total retry budget (default 120)

# Uploads above google's 8 MiB multipart limit go resumable, sent in chunks of
# this size. The library holds about two chunks in memory, so its default
# (100 MiB) would cost ~200 MiB per upload; 8 MiB (~16 MiB held) is the chunk
# size GCS still recommends for throughput. Must be a multiple of 256 KiB.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

JSON_CONTENT_TYPE = "application/json"

_BUCKET_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_MAX_KEY_BYTES = 1024

# Status codes and exception types google itself retries (google.cloud.storage.retry):
# still failing once the retry budget is spent means "try again later".
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    http.client.BadStatusLine,
    http.client.IncompleteRead,
    http.client.ResponseNotReady,
    urllib3.exceptions.PoolError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    auth_exceptions.TransportError,  # the token endpoint was unreachable
    media_exceptions.DataCorruption,  # checksum mismatch in transit: transfer again
)


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


def parse_gs_uri(uri: str) -> tuple[str, str]:
    """Split ``gs://bucket/key`` into ``(bucket, key)``, refusing anything else.

    URIs arrive in Action requests, so they are validated before use: a valid
    bucket name, a non-empty key of at most 1024 bytes, no empty, ``.`` or ``..``
    segments and no control characters (nothing that could alias another key).
    """
    bucket, key = _split_gs_uri(uri)
    _check_key(uri, key, allow_trailing_slash=False)
    if not key:
        raise InvalidRequestError(f"{uri!r} names no object: expected gs://bucket/key")
    return bucket, key


def gs_uri(bucket: str, key: str) -> str:
    """The ``gs://`` URI of ``key`` in ``bucket`` (validated like any other)."""
    uri = f"gs://{bucket}/{key}"
    parse_gs_uri(uri)
    return uri


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
        self._client = client if client is not None else _client_from_env()
        self._retry = retry
        self._timeout = timeout
        _disable_bucket_metadata_prefetch(self._client)

    @classmethod
    def from_env(cls) -> Storage:
        """A Storage for this environment: the emulator if ``STORAGE_EMULATOR_HOST`` is set.

        Otherwise Application Default Credentials (on Cloud Run: the service's
        service account). No project is needed for object operations;
        ``GOOGLE_CLOUD_PROJECT`` is used when set. ``FRAMERUN_STORAGE_TIMEOUT_S``
        and ``FRAMERUN_STORAGE_RETRY_DEADLINE_S`` lower the per-request read
        timeout and the total retry budget.
        """
        retry, timeout = DEFAULT_RETRY, DEFAULT_TIMEOUT
        read_s = _positive_seconds(ENV_TIMEOUT_S)
        if read_s is not None:
            timeout = (min(DEFAULT_TIMEOUT[0], read_s), read_s)
        deadline_s = _positive_seconds(ENV_RETRY_DEADLINE_S)
        if deadline_s is not None:
            retry = DEFAULT_RETRY.with_timeout(deadline_s)
        return cls(_client_from_env(), retry=retry, timeout=timeout)

    @property
    def client(self) -> gcs.Client:
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
        with _translated(uri, "read"):
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
        blob = self._blob(uri)
        dest = Path(path)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh, _translated(uri, "read"):
                blob.download_to_file(fh, retry=self._retry, timeout=self._timeout)
            os.replace(tmp_name, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def stat(self, uri: str) -> ObjectInfo | None:
        """The object's size, generation, metadata and checksums; None if absent."""
        bucket, key = parse_gs_uri(uri)
        with _translated(uri, "read"):
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
        return self.stat(uri) is not None

    def list_keys(self, prefix: str) -> list[str]:
        """Keys (full object names, not URIs) under ``gs://bucket/prefix``, sorted.

        ``prefix`` is a plain string prefix, not a folder: ``gs://b/runs/1``
        also matches ``runs/10/...``; end it with ``/`` to mean a folder.
        """
        bucket, key_prefix = _split_gs_uri(prefix)
        _check_key(prefix, key_prefix, allow_trailing_slash=True)
        with _translated(prefix, "list"):
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
        with _translated(uri, "write"):
            blob.upload_from_string(
                _json_bytes(obj),
                content_type=JSON_CONTENT_TYPE,
                retry=self._retry,
                timeout=self._timeout,
            )

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
        with _translated(uri, "write"):
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


def _positive_seconds(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{name}={raw!r} must be a positive number of seconds (or unset)")
    return value


def _client_from_env() -> gcs.Client:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return gcs.Client(
            project=project or "framerun-emulator", credentials=AnonymousCredentials()
        )
    try:
        return gcs.Client(project=project)
    except auth_exceptions.DefaultCredentialsError as exc:
        raise StorageAccessDeniedError(
            "no Google credentials for Cloud Storage: run on Cloud Run with a service "
            "account, or set GOOGLE_APPLICATION_CREDENTIALS / `gcloud auth "
            f"application-default login` ({exc})"
        ) from exc


def _disable_bucket_metadata_prefetch(client: gcs.Client) -> None:
    """Stop the client's hidden ``GET /b/<bucket>`` on the first call per bucket.

    google-cloud-storage 3.x fetches each bucket's metadata in a background
    thread only to label OpenTelemetry spans, even with tracing off. That is an
    extra request the service account may not be allowed (roles/storage.objectAdmin
    lacks storage.buckets.get), retried for up to two minutes in a thread nobody
    waits for. The library's only switch is a process-wide env var
    (DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA); this turns it off for
    this client alone. Every use of the attribute is guarded by a truthiness
    check, so if a later version renames it, this does nothing.
    """
    if getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None


def _json_bytes(obj: Any) -> bytes:
    """Canonical JSON, so equal records are equal bytes (and create-only is consistent)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _split_gs_uri(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise InvalidRequestError(f"{uri!r} is not a gs:// URI: expected gs://bucket/key")
    bucket, _, key = uri[len("gs://") :].partition("/")
    if not _valid_bucket_name(bucket):
        raise InvalidRequestError(
            f"{uri!r} has an invalid bucket name {bucket!r}: 3-63 characters of a-z, 0-9, "
            "'-', '_' and '.', starting and ending with a letter or digit"
        )
    return bucket, key


def _valid_bucket_name(name: str) -> bool:
    """GCS bucket naming rules (dotted names may reach 222 characters)."""
    if not _BUCKET_NAME.fullmatch(name) or _IPV4.fullmatch(name):
        return False
    if name.startswith("goog") or "google" in name or ".." in name:
        return False
    if "." in name:
        return len(name) <= 222 and all(0 < len(part) <= 63 for part in name.split("."))
    return 3 <= len(name) <= 63


def _check_key(uri: str, key: str, *, allow_trailing_slash: bool) -> None:
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(f"{uri!r}: object names must be valid UTF-8") from None
    if len(encoded) > _MAX_KEY_BYTES:
        raise InvalidRequestError(f"{uri!r}: object names are at most {_MAX_KEY_BYTES} bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidRequestError(f"{uri!r}: object names may not contain control characters")
    if not key:
        return
    segments = key.split("/")
    if allow_trailing_slash and segments[-1] == "":
        segments = segments[:-1]
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidRequestError(
                f"{uri!r}: object names may not contain empty, '.' or '..' path segments"
            )


@contextlib.contextmanager
def _translated(uri: str, action: str) -> Iterator[None]:
    """Run a GCS call, turning its failures into framerun errors (see ``_translate``)."""
    try:
        yield
    except FramerunError:
        raise
    except Exception as exc:
        mapped = _translate(exc, uri, action)
        if mapped is None:
            raise
        raise mapped from exc


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return exc.code
    if isinstance(exc, media_exceptions.InvalidResponse):
        return int(exc.response.status_code)
    return None


def _translate(exc: BaseException, uri: str, action: str) -> FramerunError | None:
    """The one mapping from google/requests failures to framerun errors.

    None for anything unrecognised (a bug here, re-raised as is).
    """
    bucket = uri[len("gs://") :].partition("/")[0]
    if isinstance(exc, api_exceptions.RetryError):
        cause = exc.cause
        why = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
        return StorageUnavailableError(
            f"Cloud Storage kept failing to {action} {uri} until the retry budget ran out "
            f"({why}); try again later"
        )
    if isinstance(exc, _TRANSIENT_TYPES):
        return StorageUnavailableError(
            f"Cloud Storage unreachable to {action} {uri} ({type(exc).__name__}: {exc}); "
            "try again later"
        )
    if isinstance(exc, auth_exceptions.GoogleAuthError):  # e.g. a token refresh refused
        if exc.retryable:
            return StorageUnavailableError(
                f"could not get credentials to {action} {uri} ({exc}); try again later"
            )
        return StorageAccessDeniedError(
            f"could not get credentials to {action} {uri} ({exc}): check the service's "
            f"service account and its roles/storage.objectAdmin on bucket {bucket!r}"
        )
    status = _status_of(exc)
    if status is None:
        return None
    if status == 404:
        if action == "read":
            return ObjectNotFoundError(
                f"{uri} does not exist (or bucket {bucket!r} does not): check the URI"
            )
        return ObjectNotFoundError(
            f"cannot {action} {uri}: bucket {bucket!r} does not exist; check the URI"
        )
    if status in (401, 403):
        return StorageAccessDeniedError(
            f"Cloud Storage denied the service access to {action} {uri} ({status}): grant "
            f"the service's service account roles/storage.objectAdmin on bucket {bucket!r}"
        )
    if status in _TRANSIENT_STATUS:
        return StorageUnavailableError(
            f"Cloud Storage answered {status} to {action} {uri}; try again later"
        )
    return InternalError(f"Cloud Storage refused to {action} {uri} ({status}: {exc})")
