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
    │   └── OutputNotWritableError        OUTPUT_NOT_WRITABLE
    ├── CompositionTimeoutError           COMPOSITION_TIMEOUT    no   422
    ├── PageScriptError                   PAGE_SCRIPT_ERROR      no   422
    ├── PlanHashMismatchError             PLAN_HASH_MISMATCH     no   409
    ├── ChunkMismatchError                CHUNK_MISMATCH         no   409
    └── BrowserCrashedError (RuntimeError) BROWSER_CRASHED       yes  503

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
