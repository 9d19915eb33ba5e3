"""The loaded workflow: immutable, validated definitions the interpreter walks.

The loader (:mod:`.loader`) turns YAML into these once; the interpreter never
looks at raw YAML, so every shape question is answered at deploy time. Values
that may hold ``${...}`` are :class:`Template` trees with pre-parsed expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .expressions import Bindings, Node

__all__ = [
    "AssignBody",
    "Backoff",
    "Block",
    "Body",
    "CallBody",
    "Condition",
    "Const",
    "ExceptClause",
    "ExprTemplate",
    "ForBody",
    "ListTemplate",
    "Loop",
    "MapTemplate",
    "NextBody",
    "ParallelBody",
    "Param",
    "RaiseBody",
    "RetryPolicy",
    "ReturnBody",
    "Routine",
    "Step",
    "StepsBody",
    "SwitchBody",
    "Target",
    "Template",
    "TryBody",
    "Workflow",
]


# -- values that may contain expressions ----------------------------------------------


class Template:
    """A YAML value in which any string ``${...}`` is an expression."""

    def evaluate(self, env: Bindings) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Const(Template):
    """A literal; shared between evaluations, which is safe because values are never mutated."""

    value: Any

    def evaluate(self, env: Bindings) -> Any:
        return self.value


@dataclass(frozen=True)
class ExprTemplate(Template):
    node: Node
    source: str

    def evaluate(self, env: Bindings) -> Any:
        return self.node.evaluate(env)


@dataclass(frozen=True)
class ListTemplate(Template):
    items: tuple[Template, ...]

    def evaluate(self, env: Bindings) -> Any:
        return [item.evaluate(env) for item in self.items]


@dataclass(frozen=True)
class MapTemplate(Template):
    entries: tuple[tuple[str, Template], ...]

    def evaluate(self, env: Bindings) -> Any:
        return {key: value.evaluate(env) for key, value in self.entries}

    def names(self) -> list[str]:
        return [key for key, _ in self.entries]

    def get(self, key: str) -> Template | None:
        return next((value for k, value in self.entries if k == key), None)


@dataclass(frozen=True)
class Target:
    """An assignment target: ``name`` then a path of keys (``a.b``, ``a["k"]``, ``l[i]``)."""

    name: str
    path: tuple[Node, ...]
    source: str


# -- steps -----------------------------------------------------------------------------


class Body:
    """What a step does; one subclass per step kind."""


@dataclass(frozen=True)
class Step:
    name: str
    routine: str
    body: Body
    next: str | None = None


@dataclass(frozen=True)
class Block:
    """A list of steps, indexed by name so ``next`` can jump within it."""

    steps: tuple[Step, ...]
    index: dict[str, int] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class NextBody(Body):
    """A step with only ``next``: a jump."""


@dataclass(frozen=True)
class AssignBody(Body):
    items: tuple[tuple[Target, Template], ...]


@dataclass(frozen=True)
class CallBody(Body):
    function: str  # http.post, sys.log, sys.sleep or a routine name
    args: MapTemplate
    result: Target | None


@dataclass(frozen=True)
class Condition:
    condition: Template
    next: str | None = None
    steps: Block | None = None
    assign: tuple[tuple[Target, Template], ...] = ()
    returns: Template | None = None  # Const(None) returns null; None means no return
    raises: Template | None = None


@dataclass(frozen=True)
class SwitchBody(Body):
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class RaiseBody(Body):
    value: Template


@dataclass(frozen=True)
class ReturnBody(Body):
    value: Template


@dataclass(frozen=True)
class StepsBody(Body):
    block: Block


@dataclass(frozen=True)
class Backoff:
    initial_delay: Template
    max_delay: Template
    multiplier: Template


@dataclass(frozen=True)
class RetryPolicy:
    """``predicate`` is a routine name or a built-in such as ``http.default_retry_predicate``."""

    predicate: str
    max_retries: Template
    backoff: Backoff


@dataclass(frozen=True)
class ExceptClause:
    as_name: str | None
    block: Block


@dataclass(frozen=True)
class TryBody(Body):
    body: Body
    retry: RetryPolicy | None
    handler: ExceptClause | None


@dataclass(frozen=True)
class Loop:
    """``for``: ``value`` (and ``index``) over ``items`` or the inclusive ``range``."""

    value: str
    index: str | None
    items: Template | None
    range: tuple[Template, Template] | None
    block: Block


@dataclass(frozen=True)
class ForBody(Body):
    loop: Loop


@dataclass(frozen=True)
class ParallelBody(Body):
    shared: tuple[str, ...]
    concurrency_limit: Template | None
    branches: tuple[tuple[str, Block], ...] | None
    loop: Loop | None


# -- routines --------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    default: Any = None
    required: bool = True


@dataclass(frozen=True)
class Routine:
    name: str
    params: tuple[Param, ...]
    block: Block


@dataclass(frozen=True)
class Workflow:
    """A loaded, validated workflow: ``main`` plus its subworkflows."""

    routines: dict[str, Routine] = field(compare=False, hash=False)
    source: str = ""

    @property
    def main(self) -> Routine:
        return self.routines["main"]
