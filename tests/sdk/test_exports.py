"""The public API: ``framerun.__all__`` sorted and complete, and ``import framerun`` light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import framerun
import framerun_service.core.errors as errors


def test_all_is_sorted() -> None:
    assert framerun.__all__ == sorted(framerun.__all__)


def test_all_is_complete() -> None:
    # dir(): the public names load on first use (PEP 562), so vars() holds only
    # those already touched; every one must resolve.
    public = {
        name
        for name in dir(framerun)
        if not name.startswith("_") and not inspect.ismodule(getattr(framerun, name))
    }
    assert set(framerun.__all__) == public
    assert len(framerun.__all__) == len(set(framerun.__all__))


def test_every_sdk_error_is_exported() -> None:
    sdk_errors = {
        "ArgumentTooLargeError",
        "BatchInvalidError",
        "ExecutionNotFoundError",
        "IdempotencyKeyConflictError",
        "RenderFailedError",
        "RenderStillRunningError",
        "RenderTimeoutError",
        "TargetNotConfiguredError",
        "WebhookDeliveryError",
        "WebhookSignatureError",
        "WorkflowNotFoundError",
        "WorkflowsAccessDeniedError",
        "WorkflowsUnavailableError",
    }
    assert sdk_errors <= set(framerun.__all__)
    for name in sdk_errors:
        cls = getattr(framerun, name)
        assert cls is getattr(errors, name) and issubclass(cls, framerun.FramerunError)


def test_import_is_light() -> None:
    heavy = ("av", "playwright", "flask", "numpy", "grpc", "google.cloud")
    code = (
        "import sys, framerun, framerun.webhooks, framerun.cli; "
        f"print([m for m in sys.modules if m.startswith({heavy!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_framerun_errors_exports_the_whole_error_tree() -> None:
    """Every FramerunError subclass is importable from framerun.errors, so users
    catch errors without reaching into the service package."""
    import inspect

    import framerun.errors
    import framerun_service.core.errors as tree

    defined = {
        name
        for name, obj in vars(tree).items()
        if inspect.isclass(obj) and issubclass(obj, tree.FramerunError)
    }
    assert set(framerun.errors.__all__) == defined
    assert framerun.errors.__all__ == sorted(framerun.errors.__all__)
