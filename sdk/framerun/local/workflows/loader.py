"""Workflow YAML → validated :class:`~.model.Workflow`, or an error naming the step.

Everything is checked here, before any step runs: the shape of every step, every
expression's syntax, every function name, every ``next`` target, every called
subworkflow. What Cloud Workflows would refuse raises :class:`WorkflowSyntaxError`;
valid Workflows outside the emulator's subset raises
:class:`UnsupportedSyntaxError`. Nothing is ever skipped silently.

This module reads the structure (subworkflows, steps, control flow); values and
error reporting are in :mod:`.loader_values`, calls and retry policies in
:mod:`.loader_calls`. Their tables are re-exported here for the interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import yaml

from .errors import WorkflowSyntaxError
from .loader_calls import (
    HTTP_METHODS,
    LOG_SEVERITIES,
    RETRY_POLICIES,
    RETRY_PREDICATES,
    CallLoader,
)
from .loader_values import NAME_RE
from .model import (
    AssignBody,
    Block,
    Body,
    Condition,
    Const,
    ExceptClause,
    ForBody,
    Loop,
    NextBody,
    ParallelBody,
    Param,
    RaiseBody,
    ReturnBody,
    Routine,
    Step,
    StepsBody,
    SwitchBody,
    TryBody,
    Workflow,
)
from .yaml_source import load_yaml

__all__ = [
    "HTTP_METHODS",
    "LOG_SEVERITIES",
    "RETRY_POLICIES",
    "RETRY_PREDICATES",
    "load_workflow",
]

MAX_SOURCE_BYTES = 128 * 1024
MAX_CONDITIONS = 50
MAX_BRANCHES = 10
MAX_PARALLEL_DEPTH = 2

_KIND_KEYS: dict[str, set[str]] = {
    "assign": {"assign"},
    "call": {"call", "args", "result"},
    "switch": {"switch"},
    "raise": {"raise"},
    "return": {"return"},
    "steps": {"steps"},
    "try": {"try", "retry", "except"},
    "for": {"for"},
    "parallel": {"parallel"},
}
_ALL_STEP_KEYS = set().union(*_KIND_KEYS.values()) | {"next"}
_SPECIAL_NEXT = ("end", "break", "continue")


def load_workflow(source: str) -> Workflow:
    """Parse and validate workflow source; raises a :class:`WorkflowDefinitionError`."""
    if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise WorkflowSyntaxError(
            f"the source is over Cloud Workflows' {MAX_SOURCE_BYTES // 1024} KB limit"
        )
    try:
        document = load_yaml(source)
    except yaml.YAMLError as exc:
        raise WorkflowSyntaxError(f"not valid YAML: {exc}") from None
    return _Loader(source).workflow(document)


@dataclass(frozen=True)
class _Ctx:
    """Where the loader is: what ``next`` may reach and which loop/parallel encloses it."""

    routine: str
    visible: tuple[frozenset[str], ...] = ()
    loop: str | None = None  # the innermost loop: "for", or "parallel" (a parallel for)
    parallel_depth: int = 0


class _Loader(CallLoader):
    """Reads the structure: subworkflows, step lists, steps and control flow.

    Recursive descent over the YAML document; values, calls and retry policies are
    read by the bases, :class:`.loader_values.ValueLoader` and
    :class:`.loader_calls.CallLoader`.
    """

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source
        self.step_names: set[str] = set()

    # -- workflow and routines ----------------------------------------------------------

    def workflow(self, document: Any) -> Workflow:
        if isinstance(document, list):
            document = {"main": {"steps": document}}
        if not isinstance(document, dict) or not document:
            self._syntax("a workflow is a list of steps or a map of subworkflows with 'main'")
        if "main" not in document:
            self._syntax("the workflow has no 'main' subworkflow")
        routines: dict[str, Routine] = {}
        for name, spec in document.items():
            if not isinstance(name, str) or not NAME_RE.match(name):
                self._syntax(f"invalid subworkflow name {name!r}")
            routines[name] = self._routine(name, spec)
        self.routine = ""
        for ref in self.refs:
            self._check_ref(ref, routines)
        return Workflow(routines, self.source)

    def _routine(self, name: str, spec: Any) -> Routine:
        self.routine, self.step, self.step_names = name, "", set()
        if not isinstance(spec, dict):
            self._syntax("a subworkflow is a map with 'steps' (and optionally 'params')")
        unknown = set(spec) - {"params", "steps"}
        if unknown:
            self._unsupported(f"subworkflow key '{sorted(unknown)[0]}'")
        params = self._params(spec.get("params", []))
        if name == "main" and len(params) > 1:
            self._syntax("'main' takes at most one parameter: the execution argument")
        if "steps" not in spec:
            self._syntax("a subworkflow needs 'steps'")
        block = self._block(spec["steps"], _Ctx(routine=name))
        return Routine(name, params, block)

    def _params(self, raw: Any) -> tuple[Param, ...]:
        if not isinstance(raw, list):
            self._syntax("'params' is a list of names (or {name: default} maps)")
        params: list[Param] = []
        for item in raw:
            if isinstance(item, str):
                params.append(Param(item))
            elif isinstance(item, dict) and len(item) == 1:
                ((pname, default),) = item.items()
                params.append(Param(str(pname), default, required=False))
            else:
                self._syntax(f"invalid parameter {item!r}")
            if not NAME_RE.match(params[-1].name):
                self._syntax(f"invalid parameter name {params[-1].name!r}")
        return tuple(params)

    # -- blocks and steps ---------------------------------------------------------------

    def _block(self, raw: Any, ctx: _Ctx) -> Block:
        if not isinstance(raw, list) or not raw:
            self._syntax("'steps' is a non-empty list of {name: step} maps")
        names: list[str] = []
        for item in raw:
            if not isinstance(item, dict) or len(item) != 1:
                self._syntax(f"each step is a one-key map {{name: step}}, got {item!r}")
            (name,) = item
            if not isinstance(name, str) or not name:
                self._syntax(f"invalid step name {name!r}")
            if name in self.step_names:
                with self._at(name):
                    self._syntax("step names must be unique within a subworkflow")
            if name in _SPECIAL_NEXT:
                with self._at(name):
                    self._syntax(f"'{name}' is reserved for 'next' and cannot name a step")
            self.step_names.add(name)
            names.append(name)
        inner = replace(ctx, visible=(*ctx.visible, frozenset(names)))
        steps = []
        for item in raw:
            ((name, spec),) = item.items()
            with self._at(name):
                steps.append(self._step(name, spec, inner))
        return Block(tuple(steps), {name: i for i, name in enumerate(names)})

    def _step(self, name: str, spec: Any, ctx: _Ctx) -> Step:
        if not isinstance(spec, dict):
            self._syntax("a step is a map such as {assign: [...]} or {call: ..., args: ...}")
        next_ = self._next(spec["next"], ctx) if "next" in spec else None
        body = self._body({k: v for k, v in spec.items() if k != "next"}, ctx)
        if next_ is not None and isinstance(body, RaiseBody | ReturnBody):
            self._syntax("'next' cannot follow 'raise' or 'return'")
        if isinstance(body, NextBody) and next_ is None:
            self._syntax("empty step")
        return Step(name, ctx.routine, body, next_)

    def _body(self, spec: dict[str, Any], ctx: _Ctx) -> Body:
        for key in spec:
            if key not in _ALL_STEP_KEYS:
                self._unsupported(f"'{key}'")
        kinds = [kind for kind in _KIND_KEYS if kind in spec]
        if len(kinds) > 1:
            self._syntax(f"a step does one thing; found both '{kinds[0]}' and '{kinds[1]}'")
        if not kinds:
            stray = sorted(set(spec) - {"next"})
            if stray:
                needs = {"args": "call", "result": "call", "retry": "try", "except": "try"}
                self._syntax(f"'{stray[0]}' needs '{needs.get(stray[0], 'a step kind')}'")
            return NextBody()
        kind = kinds[0]
        extra = sorted(set(spec) - _KIND_KEYS[kind])
        if extra:
            self._syntax(f"'{extra[0]}' cannot be used with '{kind}'")
        if kind == "assign":
            return AssignBody(self._assignments(spec["assign"]))
        if kind == "call":
            return self._call(spec, ctx.routine)
        if kind == "switch":
            return SwitchBody(self._switch(spec["switch"], ctx))
        if kind == "raise":
            return RaiseBody(self._template(spec["raise"]))
        if kind == "return":
            if ctx.parallel_depth:
                self._unsupported("'return' inside a parallel step")
            return ReturnBody(self._template(spec["return"]))
        if kind == "steps":
            return StepsBody(self._block(spec["steps"], ctx))
        if kind == "try":
            return self._try(spec, ctx)
        if kind == "for":
            return ForBody(self._loop(spec["for"], replace(ctx, loop="for")))
        return self._parallel(spec["parallel"], ctx)

    def _next(self, target: Any, ctx: _Ctx) -> str:
        if not isinstance(target, str):
            self._syntax(f"'next' names a step (or end, break, continue), got {target!r}")
        if target == "end":
            if ctx.parallel_depth:
                self._unsupported("'next: end' inside a parallel step")
        elif target == "break":
            if ctx.loop != "for":
                if ctx.loop == "parallel":
                    self._unsupported("'next: break' inside a parallel for")
                self._syntax("'next: break' is only valid inside a for loop")
        elif target == "continue":
            if ctx.loop is None:
                self._syntax("'next: continue' is only valid inside a for loop")
        elif not any(target in names for names in ctx.visible):
            self._syntax(
                f"'next: {target}' names no step this step can reach (steps in the same or "
                "an enclosing list, not across a for loop or parallel branch)"
            )
        return target

    # -- control flow -------------------------------------------------------------------

    def _switch(self, raw: Any, ctx: _Ctx) -> tuple[Condition, ...]:
        if not isinstance(raw, list) or not raw:
            self._syntax("'switch' is a non-empty list of {condition: ..., ...} maps")
        if len(raw) > MAX_CONDITIONS:
            self._syntax(f"at most {MAX_CONDITIONS} conditions per switch")
        conditions = []
        for item in raw:
            if not isinstance(item, dict) or "condition" not in item:
                self._syntax(f"each switch entry needs 'condition', got {item!r}")
            allowed = {"condition", "next", "steps", "assign", "return", "raise"}
            for key in item:
                if key not in allowed:
                    self._unsupported(f"'{key}' in a switch condition")
            if "return" in item and "raise" in item:
                self._syntax("a condition cannot both return and raise")
            if "return" in item and ctx.parallel_depth:
                self._unsupported("'return' inside a parallel step")
            conditions.append(
                Condition(
                    condition=self._template(item["condition"]),
                    next=self._next(item["next"], ctx) if "next" in item else None,
                    steps=self._block(item["steps"], ctx) if "steps" in item else None,
                    assign=self._assignments(item["assign"]) if "assign" in item else (),
                    returns=self._template(item["return"]) if "return" in item else None,
                    raises=self._template(item["raise"]) if "raise" in item else None,
                )
            )
        return tuple(conditions)

    def _try(self, spec: dict[str, Any], ctx: _Ctx) -> TryBody:
        raw = spec["try"]
        if not isinstance(raw, dict):
            self._syntax("'try' is a step body: {call: ...} or {steps: [...]}")
        if "next" in raw:
            self._syntax("put 'next' on the step, not inside 'try'")
        body = self._body(raw, ctx)
        retry = self._retry(spec["retry"], ctx.routine) if "retry" in spec else None
        handler = self._except(spec["except"], ctx) if "except" in spec else None
        return TryBody(body, retry, handler)

    def _except(self, raw: Any, ctx: _Ctx) -> ExceptClause:
        if not isinstance(raw, dict) or "steps" not in raw or set(raw) - {"as", "steps"}:
            self._syntax("'except' is {as: name, steps: [...]}")
        as_name = raw.get("as")
        if as_name is not None and (not isinstance(as_name, str) or not NAME_RE.match(as_name)):
            self._syntax(f"'as' names a variable, got {as_name!r}")
        return ExceptClause(as_name, self._block(raw["steps"], ctx))

    def _loop(self, raw: Any, ctx: _Ctx) -> Loop:
        if not isinstance(raw, dict):
            self._syntax("'for' is {value, index?, in | range, steps}")
        for key in raw:
            if key not in ("value", "index", "in", "range", "steps"):
                self._syntax(f"'for' has no field '{key}'")
        value, index = raw.get("value"), raw.get("index")
        if not isinstance(value, str) or not NAME_RE.match(value):
            self._syntax("'for' needs 'value': the loop variable's name")
        if index is not None and (not isinstance(index, str) or not NAME_RE.match(index)):
            self._syntax("'index' names a variable")
        if ("in" in raw) == ("range" in raw):
            self._syntax("'for' needs exactly one of 'in' and 'range'")
        bounds = None
        if "range" in raw:
            if not isinstance(raw["range"], list) or len(raw["range"]) != 2:
                self._syntax("'range' is [first, last] (both included)")
            bounds = (self._template(raw["range"][0]), self._template(raw["range"][1]))
        items = self._template(raw["in"]) if "in" in raw else None
        if "steps" not in raw:
            self._syntax("'for' needs 'steps'")
        block = self._block(raw["steps"], replace(ctx, visible=()))
        return Loop(value, index, items, bounds, block)

    def _parallel(self, raw: Any, ctx: _Ctx) -> ParallelBody:
        if not isinstance(raw, dict):
            self._syntax("'parallel' is {shared?, concurrency_limit?, branches | for}")
        for key in raw:
            if key not in ("shared", "concurrency_limit", "exception_policy", "branches", "for"):
                self._unsupported(f"'{key}' in a parallel step")
        policy = raw.get("exception_policy", "continueAll")
        if policy != "continueAll":
            self._unsupported(f"exception_policy {policy!r} (continueAll is the only policy)")
        if ctx.parallel_depth >= MAX_PARALLEL_DEPTH:
            self._syntax(
                f"parallel steps nest at most {MAX_PARALLEL_DEPTH} deep (ParallelNestingError)"
            )
        shared = raw.get("shared", [])
        if not isinstance(shared, list) or not all(
            isinstance(n, str) and NAME_RE.match(n) for n in shared
        ):
            self._syntax("'shared' is a list of variable names")
        if ("branches" in raw) == ("for" in raw):
            self._syntax("a parallel step has exactly one of 'branches' and 'for'")
        limit = raw.get("concurrency_limit")
        limit_template = None if limit is None else self._template(limit)
        if isinstance(limit_template, Const) and not (
            isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        ):
            self._syntax("concurrency_limit must be a positive integer")
        # A branch or iteration is a boundary: `next` cannot leave it, and only an
        # iteration may `continue` (which ends it).
        inner = _Ctx(ctx.routine, (), None, ctx.parallel_depth + 1)
        if "for" in raw:
            loop = self._loop(raw["for"], replace(inner, loop="parallel"))
            return ParallelBody(tuple(shared), limit_template, None, loop)
        branches = self._branches(raw["branches"], inner)
        return ParallelBody(tuple(shared), limit_template, branches, None)

    def _branches(self, raw: Any, inner: _Ctx) -> tuple[tuple[str, Block], ...]:
        """Named branches; a branch name shares the namespace of step names."""
        if not isinstance(raw, list) or not raw:
            self._syntax("'branches' is a list of {name: {steps: [...]}} maps")
        if len(raw) > MAX_BRANCHES:
            self._syntax(f"at most {MAX_BRANCHES} branches per parallel step")
        parsed = []
        for item in raw:
            if not isinstance(item, dict) or len(item) != 1:
                self._syntax(
                    f"each branch is a one-key map {{name: {{steps: [...]}}}}, got {item!r}"
                )
            ((name, spec),) = item.items()
            if not isinstance(spec, dict) or set(spec) != {"steps"}:
                self._syntax(f"branch {name!r} is {{steps: [...]}}")
            if name in self.step_names:
                self._syntax(f"branch name {name!r} is already a step name")
            self.step_names.add(str(name))
            parsed.append((str(name), self._block(spec["steps"], inner)))
        return tuple(parsed)
