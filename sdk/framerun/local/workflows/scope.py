"""Variables: routine scopes, loop scopes, parallel branches and their shared variables.

Cloud Workflows gives each subworkflow call its own variables, lets a ``for`` loop
see (and update) its routine's variables while keeping the ones it creates
private, and runs each parallel branch on a private *copy* of its parent's
variables except the ``shared`` ones, whose every read and write is atomic.

Values are never mutated in place: assigning ``a.b.c`` copies the containers
along that path and stores a new root. So handing a branch a shallow copy of
the parent's variables is a correct deep copy, and a value read from a shared
variable can never change under the reader's feet.

Each scope keeps the JSON size of its variables as they are written, so checking
the 512 KB memory limit after an assignment costs a sum, not a re-encode.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from .errors import TAG_INDEX, TAG_KEY, TAG_RESOURCE_LIMIT, TAG_TYPE, runtime_error
from .values import json_size, type_name

__all__ = ["MAX_MEMORY_BYTES", "BranchScope", "Scope", "set_path"]

MAX_MEMORY_BYTES = 512 * 1024  # variables + arguments, per Cloud Workflows' quotas


class Scope:
    """The variables of one routine call, or of one ``for`` loop inside it.

    :param parent: the enclosing scope a ``for`` loop reads and updates.
    :param caller: the calling routine's scope; only counted towards the memory limit.
    """

    def __init__(
        self,
        variables: dict[str, Any] | None = None,
        *,
        parent: Scope | None = None,
        caller: Scope | None = None,
        memory_limit: int = MAX_MEMORY_BYTES,
    ) -> None:
        self._vars: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        self._parent = parent
        self._caller = caller
        self.memory_limit = memory_limit
        for name, value in (variables or {}).items():
            self._store(name, value)

    # -- the chain ----------------------------------------------------------------------

    def _holds(self, name: str) -> bool:
        return name in self._vars

    def _holder(self, name: str) -> Scope | None:
        scope: Scope | None = self
        while scope is not None:
            if scope._holds(name):
                return scope
            scope = scope._parent
        return None

    def _read(self, name: str) -> Any:
        return self._vars[name]

    def _store(self, name: str, value: Any) -> None:
        self._vars[name] = value
        self._sizes[name] = json_size(name) + json_size(value)

    def _guard(self, name: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def _chain(self) -> Iterator[Scope]:
        """This scope, its parents, and (for the memory limit) its callers' chains."""
        scope: Scope | None = self
        while scope is not None:
            yield scope
            if isinstance(scope, BranchScope):
                yield from scope.shared_from._chain()
            if scope._parent is None and scope._caller is not None:
                scope = scope._caller
            else:
                scope = scope._parent

    # -- reading ------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        return self._holder(name) is not None

    def get(self, name: str) -> Any:
        holder = self._holder(name)
        if holder is None:
            raise runtime_error(TAG_KEY, f"variable '{name}' is not defined")
        return holder._read(name)

    def snapshot(self, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Every variable visible here (inner scopes win), for a parallel branch's copy."""
        chain: list[Scope] = []
        scope: Scope | None = self
        while scope is not None:
            chain.append(scope)
            scope = scope._parent
        names: dict[str, Scope] = {}
        for scope in reversed(chain):
            for name in scope._names():
                names[name] = scope
        return {n: s._read(n) for n, s in names.items() if n not in exclude}

    def _names(self) -> Sequence[str]:
        return list(self._vars)

    # -- writing ------------------------------------------------------------------------

    def set_local(self, name: str, value: Any) -> None:
        """Create or overwrite ``name`` in this scope itself (loop variables)."""
        self._store(name, value)
        self.check_memory()

    def assign(self, name: str, path: Sequence[Any], value: Any) -> None:
        """``name`` (or ``name.path...``) = value; a new variable lands in this scope."""
        holder = self._holder(name)
        if not path:
            (holder or self)._store(name, value)
        else:
            if holder is None:
                raise runtime_error(TAG_KEY, f"variable '{name}' is not defined")
            with holder._guard(name):  # read-modify-write of a shared variable is atomic
                holder._store(name, set_path(holder._read(name), path, value))
        self.check_memory()

    def memory_bytes(self) -> int:
        seen: set[int] = set()
        total = 0
        for scope in self._chain():
            if id(scope) not in seen:
                seen.add(id(scope))
                total += scope._own_bytes()
        return total

    def _own_bytes(self) -> int:
        return sum(self._sizes.values())

    def check_memory(self) -> None:
        used = self.memory_bytes()
        if used > self.memory_limit:
            raise runtime_error(
                TAG_RESOURCE_LIMIT,
                f"variables use {used} bytes; Cloud Workflows allows {self.memory_limit} "
                "(512 KB): keep large data in Cloud Storage and pass references",
            )


class BranchScope(Scope):
    """One parallel branch or iteration: a private copy, plus shared variables by reference.

    Reads and writes of a ``shared`` name go to the parent's variable under the
    parallel step's lock, so each is atomic; everything else is branch-local.
    """

    def __init__(
        self,
        shared_from: Scope,
        shared: frozenset[str],
        lock: threading.RLock,
        variables: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(memory_limit=shared_from.memory_limit)
        self.shared_from = shared_from
        self.shared = shared
        self.lock = lock
        # The copies start out counted at zero: until the branch overwrites them they
        # are the parent's values (the same objects), already counted there.
        for name, value in (variables or {}).items():
            self._vars[name] = value
            self._sizes[name] = 0

    def _holds(self, name: str) -> bool:
        return name in self.shared or name in self._vars

    def _read(self, name: str) -> Any:
        if name in self.shared:
            with self.lock:
                return self.shared_from.get(name)
        return self._vars[name]

    def _store(self, name: str, value: Any) -> None:
        if name in self.shared:
            with self.lock:
                self.shared_from.assign(name, (), value)
        else:
            super()._store(name, value)

    def _guard(self, name: str) -> contextlib.AbstractContextManager[Any]:
        return self.lock if name in self.shared else contextlib.nullcontext()

    def _names(self) -> Sequence[str]:
        return [*self.shared, *self._vars]


def set_path(container: Any, path: Sequence[Any], value: Any) -> Any:
    """A copy of ``container`` with ``value`` at ``path``; missing map keys along it are created."""
    key, rest = path[0], path[1:]
    if isinstance(container, dict):
        if not isinstance(key, str):
            raise runtime_error(TAG_TYPE, f"map keys are strings, got {type_name(key)} {key!r}")
        updated = dict(container)
        if rest:
            child = container.get(key, {})
            updated[key] = set_path(child, rest, value)
        else:
            updated[key] = value
        return updated
    if isinstance(container, list):
        if isinstance(key, bool) or not isinstance(key, int):
            raise runtime_error(TAG_TYPE, f"list indexes are integers, got {type_name(key)}")
        if not 0 <= key < len(container):
            raise runtime_error(
                TAG_INDEX, f"list index {key} out of range (length {len(container)})"
            )
        items = list(container)
        items[key] = set_path(container[key], rest, value) if rest else value
        return items
    raise runtime_error(TAG_TYPE, f"cannot assign [{key!r}] inside a {type_name(container)}")
