"""One execution's environment: its settings, cancel flag, step budget, logs and position.

The interpreter is pure control flow; everything an execution touches outside
its variables goes through :class:`ExecutionContext`, so tests can inject the
sleep, the clock and the token provider, and the Executions API can read
``current_steps`` and ``logs`` while the execution runs on another thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from .errors import TAG_RESOURCE_LIMIT, ExecutionCancelled, runtime_error
from .scope import MAX_MEMORY_BYTES
from .tokens import TokenProvider, no_token_provider
from .values import to_json

__all__ = [
    "MAX_CONCURRENT_BRANCHES",
    "MAX_STEPS",
    "ExecutionContext",
    "ExecutionsHost",
    "LogEntry",
]

MAX_STEPS = 100_000  # steps per execution, per Cloud Workflows' quotas
# Branches and iterations of parallel steps running at once, per execution (quotas
# page; a parallel step's concurrency_limit applies "within a single workflow
# execution"): more wait in a queue, whatever the steps' own limits say.
MAX_CONCURRENT_BRANCHES = 20


class ExecutionsHost(Protocol):
    """What the Workflows executions connector calls: the emulator's execution store."""

    def run_child(
        self, parent: ExecutionContext, workflow: str, argument: Any, timeout: float
    ) -> Any: ...

    def describe(self, name: str) -> dict[str, Any]: ...


log = logging.getLogger("framerun.local.workflows")

_LOG_LEVELS = {
    "DEFAULT": logging.INFO,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "NOTICE": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "ALERT": logging.CRITICAL,
    "EMERGENCY": logging.CRITICAL,
}


@dataclass(frozen=True)
class LogEntry:
    """One ``sys.log`` call, as Cloud Logging would record it."""

    time: datetime
    severity: str
    payload: Any  # a string (text/data) or any value (json)
    routine: str
    step: str


@dataclass
class ExecutionContext:
    """Everything one execution needs besides its workflow and variables.

    :param environment: what ``sys.get_env`` reads: the ``GOOGLE_CLOUD_*`` built-ins
        plus the workflow's user variables.
    :param token_provider: audience → ID token, for ``auth: {type: OIDC}``.
    :param sleep: replaces real waiting in ``sys.sleep`` and retry backoff (tests
        pass a recorder); the default waits on the cancel flag, so cancel is prompt.
    """

    environment: Mapping[str, str] = field(default_factory=dict)
    token_provider: TokenProvider = no_token_provider
    sleep: Callable[[float], None] | None = None
    clock: Callable[[], float] = time.time
    cancel_event: threading.Event = field(default_factory=threading.Event)
    max_steps: int = MAX_STEPS
    memory_limit: int = MAX_MEMORY_BYTES
    # The executions connector's backend; None outside an execution store.
    executions: ExecutionsHost | None = None
    # One slot per running branch or iteration of any parallel step in this execution.
    branch_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MAX_CONCURRENT_BRANCHES)
    )
    logs: list[LogEntry] = field(default_factory=list, init=False)
    steps_run: int = field(default=0, init=False)
    _current: tuple[tuple[str, str], ...] = field(default=(), init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # what functions.SystemAccess needs
    def now(self) -> float:
        return self.clock()

    # -- progress -----------------------------------------------------------------------

    def enter_step(self, stack: tuple[tuple[str, str], ...], *, track: bool) -> None:
        """Count a step (ResourceLimitError past the budget); record it if ``track``."""
        self.check_cancelled()
        with self._lock:
            self.steps_run += 1
            over = self.steps_run > self.max_steps
            if track:
                self._current = stack
        if over:
            raise runtime_error(
                TAG_RESOURCE_LIMIT,
                f"the execution ran more than {self.max_steps} steps (Cloud Workflows' limit)",
            )

    @property
    def current_steps(self) -> tuple[tuple[str, str], ...]:
        """``(routine, step)`` from ``main`` down to the step running on the main thread."""
        with self._lock:
            return self._current

    # -- cancellation and time ----------------------------------------------------------

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise ExecutionCancelled()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` (``sys.sleep``, retry backoff); cancellation interrupts it."""
        if self.sleep is not None:
            self.sleep(seconds)
        elif self.cancel_event.wait(max(0.0, seconds)):
            raise ExecutionCancelled()
        self.check_cancelled()

    # -- logs ---------------------------------------------------------------------------

    def record_log(self, severity: str, payload: Any, routine: str, step: str) -> None:
        entry = LogEntry(
            datetime.fromtimestamp(self.clock(), UTC), severity, payload, routine, step
        )
        with self._lock:
            self.logs.append(entry)
        text = payload if isinstance(payload, str) else to_json(payload)
        execution = self.environment.get("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID", "-")
        log.log(
            _LOG_LEVELS.get(severity, logging.INFO), "[%s %s.%s] %s", execution, routine, step, text
        )
