"""A local Cloud Workflows: the interpreter for framerun's subset, and the Executions API.

Runs ``workflows/render.yaml`` unchanged against a local service, with the same
semantics the cloud applies (retries re-run the whole ``try``, parallel
``concurrency_limit`` is a real bound, JSON bodies, error tags), the same limits
(20 branches or iterations at once per execution, 10 branches per step, nesting 2
deep, 100,000 steps, 512 KB of variables, 2 MB responses, 128 KB of source, 50
conditions, call depth 20, 32 KB arguments), the executions connector's ``run`` and
``get`` (child executions, ``connectors.py``), and refuses anything outside the subset
when the workflow loads rather than half-running it. Layers, each usable alone:

* :func:`load_workflow` → :class:`Workflow` (validated), :func:`run_workflow` /
  :class:`Interpreter` with an :class:`ExecutionContext` (tests, scripts);
* :class:`ExecutionStore`: deployments and background executions, no server;
* :class:`Emulator`: the store behind the ``google.cloud.workflows.executions.v1``
  gRPC service, which the library's ``ExecutionsClient`` uses unchanged;
* :func:`serve` / ``python -m framerun.local.workflows``: the emulator as a process.

The interpreter needs only PyYAML; the gRPC layers (``Emulator``, ``ExecutionStore``,
``serve``) import grpc and google-cloud-workflows when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ExecutionCancelled as ExecutionCancelled
from .errors import UnsupportedSyntaxError as UnsupportedSyntaxError
from .errors import WorkflowDefinitionError as WorkflowDefinitionError
from .errors import WorkflowError as WorkflowError
from .errors import WorkflowSyntaxError as WorkflowSyntaxError
from .interpreter import Interpreter as Interpreter
from .interpreter import run_workflow as run_workflow
from .loader import load_workflow as load_workflow
from .model import Workflow as Workflow
from .runtime import ExecutionContext as ExecutionContext
from .runtime import LogEntry as LogEntry
from .tokens import IssuerTokenProvider as IssuerTokenProvider
from .tokens import TokenError as TokenError
from .tokens import TokenProvider as TokenProvider

if TYPE_CHECKING:
    from .cli import serve as serve
    from .emulator import Emulator as Emulator
    from .executions import ExecutionStore as ExecutionStore

__all__ = [
    "Emulator",
    "ExecutionCancelled",
    "ExecutionContext",
    "ExecutionStore",
    "Interpreter",
    "IssuerTokenProvider",
    "LogEntry",
    "TokenError",
    "TokenProvider",
    "UnsupportedSyntaxError",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowError",
    "WorkflowSyntaxError",
    "load_workflow",
    "run_workflow",
    "serve",
]

_LAZY = {"Emulator": ".emulator", "ExecutionStore": ".executions", "serve": ".cli"}


def __getattr__(name: str) -> Any:
    """Import the gRPC-backed names on first use, so the interpreter stays light."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
