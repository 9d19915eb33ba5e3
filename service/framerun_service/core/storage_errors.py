"""The one mapping from Cloud Storage client failures to framerun's typed errors.

``google-cloud-storage`` fails in many shapes: ``google.api_core`` HTTP
exceptions, resumable-media ``InvalidResponse``, ``requests``/``urllib3``
transport errors, ``google.auth`` credential errors and ``RetryError`` once the
retry budget is spent. Callers of :class:`~framerun_service.core.storage.Storage`
must only ever see framerun errors, so every GCS call runs inside
:func:`translated`, and the decision lives in one place (:func:`translate`):

* a missing object (or bucket) is ``ObjectNotFoundError``;
* a transient fault, still failing after google's own retries, is
  ``StorageUnavailableError`` (retryable: "try again later");
* refused credentials are ``StorageAccessDeniedError`` (the service's
  misconfiguration, not retryable), with the role to grant;
* any other HTTP status is ``InternalError``; anything unrecognised is a bug
  and propagates unchanged.
"""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator

import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage import exceptions as media_exceptions

from framerun_service.core.errors import (
    FramerunError,
    InternalError,
    ObjectNotFoundError,
    StorageAccessDeniedError,
    StorageUnavailableError,
)

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


@contextlib.contextmanager
def translated(uri: str, action: str) -> Iterator[None]:
    """Run a GCS call, turning its failures into framerun errors (see :func:`translate`).

    ``action`` ("read", "write", "list") is the verb the messages use. Framerun
    errors raised inside pass through untouched; unrecognised exceptions too.
    """
    try:
        yield
    except FramerunError:
        raise
    except Exception as exc:
        mapped = translate(exc, uri, action)
        if mapped is None:
            raise
        raise mapped from exc


def translate(exc: BaseException, uri: str, action: str) -> FramerunError | None:
    """The one mapping from google/requests failures to framerun errors.

    None for anything unrecognised (a bug here, re-raised as is).
    """
    bucket = uri[len("gs://") :].partition("/")[0]
    if isinstance(exc, api_exceptions.RetryError):
        return _retries_exhausted(exc, uri, action)
    if isinstance(exc, _TRANSIENT_TYPES):
        return StorageUnavailableError(
            f"Cloud Storage unreachable to {action} {uri} ({type(exc).__name__}: {exc}); "
            "try again later"
        )
    if isinstance(exc, auth_exceptions.GoogleAuthError):  # e.g. a token refresh refused
        return _credentials_failed(exc, uri, action, bucket)
    status = _status_of(exc)
    if status is None:
        return None
    return _from_status(status, exc, uri, action, bucket)


def _retries_exhausted(
    exc: api_exceptions.RetryError, uri: str, action: str
) -> StorageUnavailableError:
    """Google's retry budget ran out: name the last fault, since it is what kept failing."""
    cause = exc.cause
    why = f"{type(cause).__name__}: {cause}" if cause is not None else exc.message
    return StorageUnavailableError(
        f"Cloud Storage kept failing to {action} {uri} until the retry budget ran out "
        f"({why}); try again later"
    )


def _credentials_failed(
    exc: auth_exceptions.GoogleAuthError, uri: str, action: str, bucket: str
) -> FramerunError:
    """No token: retryable if google says so, otherwise the service account needs fixing."""
    if exc.retryable:
        return StorageUnavailableError(
            f"could not get credentials to {action} {uri} ({exc}); try again later"
        )
    return StorageAccessDeniedError(
        f"could not get credentials to {action} {uri} ({exc}): check the service's "
        f"service account and its roles/storage.objectAdmin on bucket {bucket!r}"
    )


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        return exc.code
    if isinstance(exc, media_exceptions.InvalidResponse):
        return int(exc.response.status_code)
    return None


def _from_status(
    status: int, exc: BaseException, uri: str, action: str, bucket: str
) -> FramerunError:
    """An HTTP status GCS answered with, as the error that tells the caller what to do."""
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
