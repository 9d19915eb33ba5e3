"""Test doubles for the SDK's seams: an in-memory Executions API and a counting Storage.

The fake returns real ``Execution`` messages, so the SDK reads exactly the fields
the real API fills; the real client against the Workflows emulator is covered
end to end in tests/workflow/.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud.workflows.executions_v1 import Execution

from framerun_service.core.storage import Storage

State = Execution.State
TERMINAL = {State.SUCCEEDED, State.FAILED, State.CANCELLED}


class FakeExecutions:
    """An in-memory ExecutionsApi that records every call.

    With ``polls_to_finish`` set, each execution ends after that many
    ``get_execution`` calls, as ``outcome(execution)`` decides: ``(state, payload)``
    (SUCCEEDED with no payload by default). ``max_active`` is the most executions
    that were ever non-terminal at once.
    """

    def __init__(
        self,
        *,
        polls_to_finish: int | None = None,
        outcome: Callable[[Execution], tuple[Any, dict[str, Any] | None]] | None = None,
    ) -> None:
        self.calls: list[tuple[str, str]] = []
        self.executions: dict[str, Execution] = {}
        self.polls: Counter[str] = Counter()
        self.max_active = 0
        self._ids = itertools.count(1)
        self._polls_to_finish = polls_to_finish
        self._outcome = outcome or (lambda execution: (State.SUCCEEDED, None))

    # -- the API subset -------------------------------------------------------------------

    def create_execution(self, *, parent: str, execution: Execution) -> Execution:
        self.calls.append(("create", parent))
        name = f"{parent}/executions/e{next(self._ids):04d}"
        self.executions[name] = Execution(
            name=name,
            argument=execution.argument,
            state=State.ACTIVE,
            start_time=datetime.now(UTC),
        )
        self.max_active = max(self.max_active, self.active())
        return self._copy(name)

    def get_execution(self, *, name: str) -> Execution:
        self.calls.append(("get", name))
        if name not in self.executions:
            raise api_exceptions.NotFound(f"execution {name} not found")
        self.polls[name] += 1
        execution = self.executions[name]
        if (
            self._polls_to_finish is not None
            and execution.state not in TERMINAL
            and self.polls[name] >= self._polls_to_finish
        ):
            state, payload = self._outcome(execution)
            self.finish(name, state, payload=payload)
        return self._copy(name)

    def cancel_execution(self, *, name: str) -> Execution:
        self.calls.append(("cancel", name))
        self.finish(name, State.CANCELLED)
        return self._copy(name)

    # -- test controls --------------------------------------------------------------------

    def add(self, argument: dict[str, Any], state: Any = State.ACTIVE) -> str:
        """An execution started elsewhere (e.g. by a test writing objects itself)."""
        name = f"projects/p/locations/l/workflows/w/executions/x{next(self._ids):04d}"
        self.executions[name] = Execution(
            name=name, argument=json.dumps(argument), state=state, start_time=datetime.now(UTC)
        )
        return name

    def finish(
        self,
        name: str,
        state: Any,
        *,
        payload: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        execution = self.executions[name]
        execution.state = state
        execution.end_time = datetime.now(UTC)
        if payload is not None:
            execution.error = Execution.Error(payload=json.dumps(payload))
        if result is not None:
            execution.result = json.dumps(result)

    def active(self) -> int:
        return sum(1 for e in self.executions.values() if e.state not in TERMINAL)

    def creates(self) -> list[str]:
        return [target for call, target in self.calls if call == "create"]

    def _copy(self, name: str) -> Execution:
        return Execution.deserialize(Execution.serialize(self.executions[name]))


class CountingStorage:
    """A Storage that counts each method call (uploads, stats, reads) and passes it on."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted

    @property
    def total(self) -> int:
        return sum(self.calls.values())
