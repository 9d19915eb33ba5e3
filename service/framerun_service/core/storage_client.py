"""The ``google.cloud.storage.Client`` the service uses, and its retry and timeouts.

Kept apart from :class:`~framerun_service.core.storage.Storage` because it is
configuration, read from the environment once: the same code runs against real
Cloud Storage (Application Default Credentials) and against fake-gcs-server in
tests (``google-cloud-storage`` honours ``STORAGE_EMULATOR_HOST``, and the
client then uses anonymous credentials). The reliability tests also shorten the
timeouts and the retry budget from here, to drive a storage outage past the
service's own retries in seconds rather than minutes.
"""

from __future__ import annotations

import os

from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs
from google.cloud.storage.retry import DEFAULT_RETRY

from framerun_service.core.errors import StorageAccessDeniedError

# Retry: google's DEFAULT_RETRY retries exactly the transient faults (429, 408,
# 5xx, connection resets, timeouts) with exponential back-off from 1 s up to 60 s
# per wait and gives up after 120 s in total. Every call Storage makes is
# idempotent (a read, or a write that can only create), so all of them may use it.
#
# Timeout: (connect, read) per HTTP request. Connecting to GCS takes milliseconds;
# a read may wait for an 8 MiB chunk to be taken in, so it gets a minute.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)

# Both can be lowered from the environment (read once, by Storage.from_env): the
# reliability tests use seconds, not minutes, to drive a storage outage past the
# service's own retries. Production leaves them unset.
ENV_TIMEOUT_S = "FRAMERUN_STORAGE_TIMEOUT_S"  # per-request read timeout (connect: min(10, it))
ENV_RETRY_DEADLINE_S = "FRAMERUN_STORAGE_RETRY_DEADLINE_S"  # total retry budget (default 120)


def retry_and_timeout_from_env() -> tuple[Retry, tuple[float, float]]:
    """google's default retry and :data:`DEFAULT_TIMEOUT`, lowered by the environment.

    ``FRAMERUN_STORAGE_TIMEOUT_S`` sets the per-request read timeout (and caps
    the connect timeout); ``FRAMERUN_STORAGE_RETRY_DEADLINE_S`` the total retry
    budget. Unset means the defaults; anything but a positive number is a
    ValueError, so a typo cannot silently mean "no timeout".
    """
    retry, timeout = DEFAULT_RETRY, DEFAULT_TIMEOUT
    read_s = _positive_seconds(ENV_TIMEOUT_S)
    if read_s is not None:
        timeout = (min(DEFAULT_TIMEOUT[0], read_s), read_s)
    deadline_s = _positive_seconds(ENV_RETRY_DEADLINE_S)
    if deadline_s is not None:
        retry = DEFAULT_RETRY.with_timeout(deadline_s)
    return retry, timeout


def client_from_env() -> gcs.Client:
    """A client for the emulator if ``STORAGE_EMULATOR_HOST`` is set, else for GCS.

    Real GCS uses Application Default Credentials (on Cloud Run: the service's
    service account); missing credentials are the operator's to fix, so they
    are a ``StorageAccessDeniedError`` saying how. ``GOOGLE_CLOUD_PROJECT`` is
    used when set (object operations need no project).
    """
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


def disable_bucket_metadata_prefetch(client: gcs.Client) -> None:
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
