"""The emulator's errors: the ones a workflow sees, and the ones its author sees.

Two families, because they reach different people::

    WorkflowDefinitionError (ValueError)   the YAML cannot run: found at deploy, never mid-run
    ├── WorkflowSyntaxError                 what Cloud Workflows itself would reject at deploy
    └── UnsupportedSyntaxError              valid Cloud Workflows outside the emulator's subset

    WorkflowError (Exception)               a runtime error *value*, as ``raise`` / ``except``
                                            see it: ``{message, tags, code?, ...}`` or a string
    ExecutionCancelled (Exception)          the execution was cancelled; no ``except`` catches it

A definition error names the routine and step, so a skipped feature is never silent:
``UnsupportedSyntaxError: step 'wait' (routine 'main'): 'callback' is not supported by
the local emulator``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TAG_AUTH",
    "TAG_CONNECTION",
    "TAG_CONNECTION_FAILED",
    "TAG_HTTP",
    "TAG_INDEX",
    "TAG_KEY",
    "TAG_OPERATION",
    "TAG_PARALLEL_NESTING",
    "TAG_RECURSION",
    "TAG_RESOURCE_LIMIT",
    "TAG_TIMEOUT",
    "TAG_TYPE",
    "TAG_UNHANDLED_BRANCH",
    "TAG_VALUE",
    "TAG_ZERO_DIVISION",
    "ExecutionCancelled",
    "UnsupportedSyntaxError",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowSyntaxError",
    "runtime_error",
]

# The error tags of https://cloud.google.com/workflows/docs/reference/syntax/error-types
# that the emulator raises itself.
TAG_AUTH = "AuthError"
TAG_CONNECTION = "ConnectionError"
TAG_CONNECTION_FAILED = "ConnectionFailedError"
TAG_HTTP = "HttpError"
TAG_INDEX = "IndexError"
TAG_KEY = "KeyError"
TAG_OPERATION = "OperationError"  # a connector's long-running operation ended unsuccessfully
TAG_PARALLEL_NESTING = "ParallelNestingError"
TAG_RECURSION = "RecursionError"
TAG_RESOURCE_LIMIT = "ResourceLimitError"
TAG_TIMEOUT = "TimeoutError"
TAG_TYPE = "TypeError"
TAG_UNHANDLED_BRANCH = "UnhandledBranchError"
TAG_VALUE = "ValueError"
TAG_ZERO_DIVISION = "ZeroDivisionError"


class WorkflowDefinitionError(ValueError):
    """The workflow source cannot be run; raised by the loader, before any step runs."""

    kind = "WorkflowDefinitionError"

    def __init__(self, message: str, *, routine: str | None = None, step: str | None = None):
        self.message = message
        self.routine = routine
        self.step = step
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.step is not None:
            where = f"step '{self.step}'"
            if self.routine is not None:
                where += f" (routine '{self.routine}')"
        elif self.routine is not None:
            where = f"routine '{self.routine}'"
        return f"{self.kind}: {where}: {self.message}" if where else f"{self.kind}: {self.message}"


class WorkflowSyntaxError(WorkflowDefinitionError):
    """Malformed: Cloud Workflows would refuse to deploy this too."""

    kind = "WorkflowSyntaxError"


class UnsupportedSyntaxError(WorkflowDefinitionError):
    """Valid Cloud Workflows that the local emulator does not implement.

    Raised at load time so a workflow never half-runs locally with a feature
    silently skipped; the fix is to stay within the subset or extend the emulator.
    """

    kind = "UnsupportedSyntaxError"


class WorkflowError(Exception):
    """An error value inside a running workflow: what ``raise`` throws and ``except as e`` binds.

    ``payload`` is the Workflows value itself, usually a map ``{message, tags, ...}``
    (the emulator's own errors always are) but a string or any value a ``raise``
    step produced. ``trace`` is the ``(routine, step)`` stack where it was first
    raised, filled in by the interpreter.
    """

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.trace: list[tuple[str, str]] | None = None
        super().__init__(_describe(payload))

    @property
    def tags(self) -> list[str]:
        tags = self.payload.get("tags") if isinstance(self.payload, dict) else None
        return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


class ExecutionCancelled(Exception):
    """The execution was cancelled; unwinds every frame without running ``except`` blocks."""


def runtime_error(tag: str, message: str, **fields: Any) -> WorkflowError:
    """A platform error ``{message, tags: [tag], **fields}``, as Cloud Workflows shapes it."""
    return WorkflowError({"message": message, "tags": [tag], **fields})


def _describe(payload: Any) -> str:
    if isinstance(payload, dict):
        tags = payload.get("tags")
        message = payload.get("message", payload)
        if isinstance(tags, list) and tags:
            return f"{', '.join(str(t) for t in tags)}: {message}"
        return str(message)
    return str(payload)
