"""One error tree for the whole of framerun.

Every failure a user can meet is a :class:`FramerunError` with a stable
``code`` (shown by the CLI, sent over HTTP, matched by the workflow), a
``retryable`` flag (transient faults are retried, bad input never is) and the
HTTP status it maps to. Subclasses also subclass a builtin where that helps
callers catch them idiomatically::

    FramerunError (never raised itself)   code            retryable  http
    ├── InternalError                     INTERNAL               yes  500 (maybe transient)
    ├── InvalidInputError (ValueError)                      no        400
    │   ├── CompositionNotFoundError      COMPOSITION_NOT_FOUND (also FileNotFoundError)
    │   ├── InvalidCompositionError       INVALID_COMPOSITION
    │   ├── InvalidConfigError            INVALID_CONFIG
    │   ├── VariablesInvalidError         VARIABLES_INVALID
    │   ├── OutputNotWritableError        OUTPUT_NOT_WRITABLE
    │   ├── InvalidRequestError           INVALID_REQUEST (a malformed Action body)
    │   ├── UnsafeArchiveError            UNSAFE_ARCHIVE (zip-slip, links, devices, bombs)
    │   ├── ObjectNotFoundError           OBJECT_NOT_FOUND (also FileNotFoundError)
    │   ├── TargetNotConfiguredError      TARGET_NOT_CONFIGURED (where to render is unknown)
    │   ├── ArgumentTooLargeError         ARGUMENT_TOO_LARGE     no   413
    │   ├── BatchInvalidError             BATCH_INVALID (every bad line, by number)
    │   ├── WorkflowNotFoundError         WORKFLOW_NOT_FOUND     no   404 (also LookupError)
    │   └── ExecutionNotFoundError        EXECUTION_NOT_FOUND    no   404 (also LookupError)
    ├── UnauthenticatedError              UNAUTHENTICATED        no   401
    ├── ForbiddenError                    FORBIDDEN              no   403
    ├── CompositionTimeoutError           COMPOSITION_TIMEOUT    no   422
    ├── PageScriptError                   PAGE_SCRIPT_ERROR      no   422
    ├── FontFetchFailedError              FONT_FETCH_FAILED      no   422 (no fallback fonts)
    ├── AssetFetchFailedError             ASSET_FETCH_FAILED     no   422 (network guard)
    ├── MediaInvalidError                 MEDIA_INVALID          no   422 (<audio>/<video> sources)
    ├── BrowserGpuNotSoftwareError        BROWSER_GPU_NOT_SOFTWARE no 422 (SwiftShader only)
    ├── PlanHashMismatchError             PLAN_HASH_MISMATCH     no   409
    ├── ChunkMismatchError                CHUNK_MISMATCH         no   409
    ├── BrowserCrashedError (RuntimeError) BROWSER_CRASHED       yes  503
    ├── StorageUnavailableError           STORAGE_UNAVAILABLE    yes  503
    ├── StorageAccessDeniedError          STORAGE_ACCESS_DENIED  no   500
    ├── AuthUnavailableError              AUTH_UNAVAILABLE       yes  503
    │   SDK side (the client that starts and watches distributed renders):
    ├── RenderFailedError                 the failure's own code (RENDER_FAILED if none)
    ├── RenderTimeoutError (TimeoutError) RENDER_TIMEOUT         yes  504
    ├── IdempotencyKeyConflictError       IDEMPOTENCY_KEY_CONFLICT no 409 (same key, other request)
    ├── RenderStillRunningError           RENDER_STILL_RUNNING   no   409 (delete: cancel first)
    ├── WorkflowsAccessDeniedError        WORKFLOWS_ACCESS_DENIED no  403
    ├── WorkflowsUnavailableError         WORKFLOWS_UNAVAILABLE  yes  503
    ├── WebhookSignatureError             WEBHOOK_SIGNATURE_INVALID no 401
    ├── WebhookDeliveryError (ConnectionError) WEBHOOK_DELIVERY_FAILED yes 502
    │   Deploy side (`framerun cloudrun deploy|destroy|doctor`):
    ├── ToolNotFoundError (InvalidInputError, FileNotFoundError) TOOL_NOT_FOUND no 400
    ├── DeploySourceNotFoundError (InvalidInputError) DEPLOY_SOURCE_NOT_FOUND no 400
    ├── DeployStepFailedError              DEPLOY_STEP_FAILED     no   502 (names the step)
    └── PermissionCheckFailedError         PERMISSION_CHECK_FAILED no  502

Messages say what is wrong *and* how to fix it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from framerun_service.core.names import camel_case

_SETTING = re.compile(r"<<([a-z][a-z0-9_]*)>>")


def setting(name: str) -> str:
    """A setting named inside an error message, spelled by whoever shows the message.

    The engine serves three surfaces that name one setting three ways: Python
    (``chunk_size``), the service's config and replies (``chunkSize``) and the CLI
    (``--chunk-size``). A message says ``f"{setting('chunk_size')} must be ≥ 1"``;
    ``message`` spells it for Python, ``to_json`` for the wire, ``cli_message`` for
    the command line.
    """
    return f"<<{name}>>"


def _spell(text: str, spelling: Callable[[str], str]) -> str:
    return _SETTING.sub(lambda m: spelling(m.group(1)), text)


class FramerunError(Exception):
    """Root of every framerun error; carries a stable code for machines.

    Each failure raises a subclass, whose class attributes are the one retry
    policy: the service's replies, the workflow's retries and the SDK all read it.
    """

    code: ClassVar[str] = "ERROR"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        self._template = message
        self.message = _spell(message, str)
        super().__init__(self.message)

    @property
    def wire_message(self) -> str:
        """The message as the service replies it: settings by their config keys."""
        return _spell(self._template, camel_case)

    @property
    def cli_message(self) -> str:
        """The message as the CLI prints it: settings by their flags."""
        return _spell(self._template, lambda name: "--" + name.replace("_", "-"))

    def to_json(self) -> dict[str, Any]:
        """The wire shape: ``{"error": {"code", "message", "retryable"}}``."""
        return {
            "error": {"code": self.code, "message": self.wire_message, "retryable": self.retryable}
        }

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class InternalError(FramerunError):
    """Something failed that no typed error covers (a bug, or an unexpected answer).

    Retried, since it may have been transient; one that persists is a bug: the
    traceback is in the service's logs.
    """

    code = "INTERNAL"
    retryable = True
    http_status = 500


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


class FontFetchFailedError(FramerunError):
    """A font the composition declares could not be loaded. Rendering with a
    fallback font would silently change every frame, so the render stops."""

    code = "FONT_FETCH_FAILED"
    http_status = 422


class AssetFetchFailedError(FramerunError):
    """The page asked for something it may not have (the network guard) or that
    does not exist. The message names the URL."""

    code = "ASSET_FETCH_FAILED"
    http_status = 422


class MediaInvalidError(FramerunError):
    """An <audio>/<video> source is missing, undecodable or badly timed."""

    code = "MEDIA_INVALID"
    http_status = 422


class BrowserGpuNotSoftwareError(FramerunError):
    """WebGL is not SwiftShader (or the composition asks for a hardware GPU):
    pixels would depend on the machine, so chunks could not be mixed."""

    code = "BROWSER_GPU_NOT_SOFTWARE"
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


# ---- SDK: starting and watching distributed renders ----------------------------------


class TargetNotConfiguredError(InvalidInputError):
    """A connection value (bucket, project, region, workflow, service URL) is missing."""

    code = "TARGET_NOT_CONFIGURED"


class ArgumentTooLargeError(InvalidInputError):
    """A render request or execution argument over its size cap, refused before any API call.

    The execution argument is capped at 32 KB by the Executions API, which is why it
    carries references only; the request object it points to is capped by framerun
    so a plan request stays a small read for the service.
    """

    code = "ARGUMENT_TOO_LARGE"
    http_status = 413


class BatchInvalidError(InvalidInputError):
    """A batch file with bad lines; lists every problem at once, by line number.

    Nothing is started for a batch with any bad line: fixing one line at a time
    after a partial batch ran would leave a half-rendered set to untangle.
    """

    code = "BATCH_INVALID"
    MAX_LISTED: ClassVar[int] = 20  # in the message; ``problems`` holds them all

    def __init__(self, problems: Sequence[tuple[int, str]], *, source: str = "batch file") -> None:
        self.problems: tuple[tuple[int, str], ...] = tuple(problems)
        shown = self.problems[: self.MAX_LISTED]
        listed = "; ".join(f"line {line}: {text}" for line, text in shown)
        count = len(self.problems)
        if count > len(shown):
            listed += f"; and {count - len(shown)} more"
        super().__init__(
            f"{source} has {count} invalid line{'s' if count != 1 else ''} ({listed}); "
            "fix them and run again (--dry-run checks without starting anything)"
        )


class WorkflowNotFoundError(InvalidInputError, LookupError):
    """The render workflow does not exist where the target says it is."""

    code = "WORKFLOW_NOT_FOUND"
    http_status = 404


class ExecutionNotFoundError(InvalidInputError, LookupError):
    """No execution of that name (a typo, another project, or past its retention)."""

    code = "EXECUTION_NOT_FOUND"
    http_status = 404


class RenderFailedError(FramerunError):
    """A distributed render ended failed or cancelled.

    ``code``, ``retryable`` and ``http_status`` are the failure's own (e.g.
    ``VARIABLES_INVALID`` from the plan step), so callers and the CLI's exit status
    react to the real cause; ``errors`` holds every error record the execution
    reported (``framerun.RenderErrorInfo``).
    """

    code = "RENDER_FAILED"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        http_status: int | None = None,
        errors: Sequence[Any] = (),
        execution_name: str | None = None,
    ) -> None:
        super().__init__(message)
        # Per instance, not per class: one class stands for every remote failure.
        self.code = code or type(self).code  # type: ignore[misc]
        self.retryable = retryable  # type: ignore[misc]
        self.http_status = http_status or type(self).http_status  # type: ignore[misc]
        self.errors: tuple[Any, ...] = tuple(errors)
        self.execution_name = execution_name


class RenderTimeoutError(FramerunError, TimeoutError):
    """The render was still running when the caller stopped waiting.

    The render itself goes on; waiting again (or polling its progress) is safe.
    """

    code = "RENDER_TIMEOUT"
    retryable = True
    http_status = 504


class IdempotencyKeyConflictError(FramerunError):
    """An idempotency key already names a render started with a different request.

    The same key must mean the same render: reusing one for another project,
    config or output would silently return the wrong video.
    """

    code = "IDEMPOTENCY_KEY_CONFLICT"
    http_status = 409


class RenderStillRunningError(FramerunError):
    """A render cannot be deleted while its execution still runs (it would write again)."""

    code = "RENDER_STILL_RUNNING"
    http_status = 409


class WorkflowsAccessDeniedError(FramerunError):
    """The caller's credentials may not start or read executions (or there are none)."""

    code = "WORKFLOWS_ACCESS_DENIED"
    http_status = 403


class WorkflowsUnavailableError(FramerunError):
    """The Executions API was unreachable or answered 429/5xx: transient, so retry."""

    code = "WORKFLOWS_UNAVAILABLE"
    retryable = True
    http_status = 503


class WebhookSignatureError(FramerunError):
    """A webhook whose signature header is missing, malformed, stale or does not match.

    The message stays generic on a mismatch: telling which part differed helps
    only someone forging deliveries.
    """

    code = "WEBHOOK_SIGNATURE_INVALID"
    http_status = 401


class WebhookDeliveryError(FramerunError, ConnectionError):
    """The webhook endpoint could not be reached on any attempt."""

    code = "WEBHOOK_DELIVERY_FAILED"
    retryable = True
    http_status = 502


class ToolNotFoundError(InvalidInputError, FileNotFoundError):
    """A command-line tool that deploy, destroy or doctor runs (gcloud, terraform) is
    not on PATH; the message says where to get it."""

    code = "TOOL_NOT_FOUND"


class DeploySourceNotFoundError(InvalidInputError):
    """No framerun checkout to deploy from: the folder lacks the Dockerfile, the
    ``terraform/`` module or ``workflows/render.yaml``."""

    code = "DEPLOY_SOURCE_NOT_FOUND"


class DeployStepFailedError(FramerunError):
    """A step of ``deploy`` or ``destroy`` failed: a tool exited non-zero.

    ``step`` names the step, and the message ends with the tool's last line on
    stderr, which is where gcloud and terraform say what went wrong.
    """

    code = "DEPLOY_STEP_FAILED"
    http_status = 502

    def __init__(self, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.step = step


class PermissionCheckFailedError(FramerunError):
    """``testIamPermissions`` itself could not be called (no credentials, an
    unreachable API, an unexpected answer), so no permission could be judged."""

    code = "PERMISSION_CHECK_FAILED"
    http_status = 502
