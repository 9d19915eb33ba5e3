"""One error tree for the whole of framerun.

Every failure a user can meet is a :class:`FramerunError` with a stable
``code`` (shown by the CLI, sent over HTTP, matched by the workflow), a
``retryable`` flag (transient faults are retried, bad input never is) and the
HTTP status it maps to. Subclasses also subclass a builtin where that helps
callers catch them idiomatically::

    FramerunError                         code            retryable  http
    ├── InvalidInputError (ValueError)                      no        400
    │   ├── CompositionNotFoundError      COMPOSITION_NOT_FOUND (also FileNotFoundError)
    │   ├── InvalidCompositionError       INVALID_COMPOSITION
    │   ├── InvalidConfigError            INVALID_CONFIG
    │   ├── VariablesInvalidError         VARIABLES_INVALID
    │   ├── OutputNotWritableError        OUTPUT_NOT_WRITABLE
    │   ├── InvalidRequestError           INVALID_REQUEST (a malformed Action body)
    │   ├── UnsafeArchiveError            UNSAFE_ARCHIVE (zip-slip, links, devices, bombs)
    │   └── ObjectNotFoundError           OBJECT_NOT_FOUND (also FileNotFoundError)
    ├── UnauthenticatedError              UNAUTHENTICATED        no   401
    ├── ForbiddenError                    FORBIDDEN              no   403
    ├── CompositionTimeoutError           COMPOSITION_TIMEOUT    no   422
    ├── PageScriptError                   PAGE_SCRIPT_ERROR      no   422
    ├── PlanHashMismatchError             PLAN_HASH_MISMATCH     no   409
    ├── ChunkMismatchError                CHUNK_MISMATCH         no   409
    ├── BrowserCrashedError (RuntimeError) BROWSER_CRASHED       yes  503
    ├── StorageUnavailableError           STORAGE_UNAVAILABLE    yes  503
    ├── StorageAccessDeniedError          STORAGE_ACCESS_DENIED  no   500
    └── AuthUnavailableError              AUTH_UNAVAILABLE       yes  503

Messages say what is wrong *and* how to fix it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FramerunError(Exception):
    """Root of every framerun error; carries a stable code for machines."""

    code: ClassVar[str] = "INTERNAL"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """The wire shape: ``{"error": {"code", "message", "retryable"}}``."""
        return {"error": {"code": self.code, "message": self.message, "retryable": self.retryable}}

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class InvalidInputError(FramerunError, ValueError):
    """The request can never succeed as given; retrying is pointless."""

    code = "INVALID_INPUT"
    http_status = 400


class CompositionNotFoundError(InvalidInputError, FileNotFoundError):
    code = "COMPOSITION_NOT_FOUND"


class InvalidCompositionError(InvalidInputError):
    code = "INVALID_COMPOSITION"


class InvalidConfigError(InvalidInputError):
    code = "INVALID_CONFIG"


class VariablesInvalidError(InvalidInputError):
    code = "VARIABLES_INVALID"


class OutputNotWritableError(InvalidInputError, PermissionError):
    code = "OUTPUT_NOT_WRITABLE"


class CompositionTimeoutError(FramerunError):
    """The page never became ready (still loading, or a seek never settled)."""

    code = "COMPOSITION_TIMEOUT"
    http_status = 422


class PageScriptError(FramerunError):
    """The composition's own scripts threw while loading."""

    code = "PAGE_SCRIPT_ERROR"
    http_status = 422


class PlanHashMismatchError(FramerunError):
    code = "PLAN_HASH_MISMATCH"
    http_status = 409


class ChunkMismatchError(FramerunError):
    """Chunks cannot be stream-copied together (different encoder settings)."""

    code = "CHUNK_MISMATCH"
    http_status = 409


class BrowserCrashedError(FramerunError, RuntimeError):
    """The browser died mid-work: transient, so the work is retried."""

    code = "BROWSER_CRASHED"
    retryable = True
    http_status = 503


class InvalidRequestError(InvalidInputError):
    """An Action request body that is malformed (missing fields, wrong types)."""

    code = "INVALID_REQUEST"


class UnsafeArchiveError(InvalidInputError):
    """A site archive that would write outside its folder or exceed the limits."""

    code = "UNSAFE_ARCHIVE"


class ObjectNotFoundError(InvalidInputError, FileNotFoundError):
    """A gs:// object the request names does not exist."""

    code = "OBJECT_NOT_FOUND"
    http_status = 404


class UnauthenticatedError(FramerunError):
    """No valid ID token. The message stays generic: no detail helps an attacker."""

    code = "UNAUTHENTICATED"
    http_status = 401


class ForbiddenError(FramerunError):
    """A valid token of an identity that may not invoke the service."""

    code = "FORBIDDEN"
    http_status = 403


class StorageUnavailableError(FramerunError):
    """Cloud Storage answered 429/5xx or timed out: transient, so retried."""

    code = "STORAGE_UNAVAILABLE"
    retryable = True
    http_status = 503


class StorageAccessDeniedError(FramerunError):
    """Cloud Storage refused the service's own credentials (401/403).

    The service's misconfiguration, not the caller's fault, hence 500 and not
    403 (which would tell the caller that *it* may not do this). Retrying is
    pointless until someone grants the service account
    ``roles/storage.objectAdmin`` on the bucket.
    """

    code = "STORAGE_ACCESS_DENIED"
    http_status = 500


class AuthUnavailableError(FramerunError):
    """The token-signing keys could not be fetched: transient, so retried.

    Not the caller's fault (401/403 would tell a well-behaved caller to stop);
    the certs endpoint was unreachable or answered garbage.
    """

    code = "AUTH_UNAVAILABLE"
    retryable = True
    http_status = 503
