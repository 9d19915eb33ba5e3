"""Runs a loaded workflow: steps, jumps, calls, try/retry/except, loops.

Control flow that is not an error (``return``, ``next``, ``break``,
``continue``) travels as private exceptions, so a ``try`` step (which catches
only :class:`WorkflowError`) never intercepts it, and cancellation
(:class:`ExecutionCancelled`) unwinds every frame without running ``except``.

Parallel steps live in :mod:`.parallel`; HTTP in :mod:`.http_call`; variables
in :mod:`.scope`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .connectors import CONNECTOR_ARGS, call_connector
from .errors import (
    TAG_CONNECTION,
    TAG_CONNECTION_FAILED,
    TAG_HTTP,
    TAG_RECURSION,
    TAG_TIMEOUT,
    TAG_TYPE,
    TAG_VALUE,
    WorkflowError,
    runtime_error,
)
from .functions import call_function
from .http_call import build_request, perform
from .loader import HTTP_METHODS, LOG_SEVERITIES
from .model import (
    AssignBody,
    Block,
    Body,
    CallBody,
    ForBody,
    Loop,
    NextBody,
    ParallelBody,
    RaiseBody,
    RetryPolicy,
    ReturnBody,
    Step,
    StepsBody,
    SwitchBody,
    Target,
    Template,
    TryBody,
    Workflow,
)
from .parallel import run_parallel
from .runtime import ExecutionContext
from .scope import Scope
from .signals import BreakLoop, ContinueLoop, Jump, ReturnValue
from .values import is_number, to_json, type_name

__all__ = ["MAX_CALL_DEPTH", "Frame", "Interpreter", "run_workflow"]

MAX_CALL_DEPTH = 20  # nested subworkflow calls (RecursionError beyond)


def run_workflow(
    workflow: Workflow, argument: Any = None, *, context: ExecutionContext | None = None
) -> Any:
    """Run ``workflow`` to completion on this thread; its result, or raise its WorkflowError."""
    return Interpreter(workflow, context or ExecutionContext()).run(argument)


@dataclass(frozen=True)
class Frame:
    """Where a thread is: the routine, its variables, and how it got there."""

    routine: str
    scope: Scope
    stack: tuple[tuple[str, str], ...]  # the callers' (routine, step), outermost first
    depth: int = 1
    parallel_depth: int = 0
    main_thread: bool = True  # only the main thread's position is reported as current


class _Env:
    """The :class:`~.expressions.Bindings` of one frame."""

    __slots__ = ("context", "scope")

    def __init__(self, scope: Scope, context: ExecutionContext) -> None:
        self.scope = scope
        self.context = context

    def lookup(self, name: str) -> Any:
        return self.scope.get(name)

    def call_function(self, name: str, args: list[Any]) -> Any:
        return call_function(name, args, self.context)


class Interpreter:
    """Runs one execution of ``workflow``; not reusable across executions."""

    def __init__(self, workflow: Workflow, context: ExecutionContext) -> None:
        self.workflow = workflow
        self.context = context

    def run(self, argument: Any = None) -> Any:
        main = self.workflow.main
        variables = {main.params[0].name: argument} if main.params else {}
        scope = Scope(variables, memory_limit=self.context.memory_limit)
        scope.check_memory()
        return self._run_routine(main.block, Frame("main", scope, ()))

    # -- evaluation ---------------------------------------------------------------------

    def evaluate(self, template: Template, frame: Frame) -> Any:
        return template.evaluate(_Env(frame.scope, self.context))

    def _assign(self, target: Target, value: Any, frame: Frame) -> None:
        env = _Env(frame.scope, self.context)
        keys = [key.evaluate(env) for key in target.path]
        frame.scope.assign(target.name, keys, value)

    # -- blocks and steps ---------------------------------------------------------------

    def _run_routine(self, block: Block, frame: Frame) -> Any:
        try:
            self.run_block(block, frame)
        except ReturnValue as done:
            return done.value
        return None

    def run_block(self, block: Block, frame: Frame) -> None:
        """Run ``block``'s steps in order, following ``next`` jumps that land in it."""
        i = 0
        while i < len(block.steps):
            try:
                target = self._run_step(block.steps[i], frame)
            except Jump as jump:
                if jump.target not in block.index:
                    raise
                target = jump.target
            if target is None:
                i += 1
            elif target in block.index:
                i = block.index[target]
            elif target == "end":
                raise ReturnValue(None)
            elif target == "break":
                raise BreakLoop()
            elif target == "continue":
                raise ContinueLoop()
            else:
                raise Jump(target)

    def _run_step(self, step: Step, frame: Frame) -> str | None:
        stack = (*frame.stack, (frame.routine, step.name))
        self.context.enter_step(stack, track=frame.main_thread)
        try:
            target = self._run_body(step.body, step, frame)
        except WorkflowError as err:
            if err.trace is None:
                err.trace = list(stack)
            raise
        return target if target is not None else step.next

    def _run_body(self, body: Body, step: Step, frame: Frame) -> str | None:
        if isinstance(body, AssignBody):
            for target, template in body.items:
                self._assign(target, self.evaluate(template, frame), frame)
        elif isinstance(body, CallBody):
            value = self._call(body, step, frame)
            if body.result is not None:
                self._assign(body.result, value, frame)
        elif isinstance(body, SwitchBody):
            return self._switch(body, frame)
        elif isinstance(body, RaiseBody):
            raise WorkflowError(self.evaluate(body.value, frame))
        elif isinstance(body, ReturnBody):
            raise ReturnValue(self.evaluate(body.value, frame))
        elif isinstance(body, StepsBody):
            self.run_block(body.block, frame)
        elif isinstance(body, TryBody):
            return self._try(body, step, frame)
        elif isinstance(body, ForBody):
            self._for(body.loop, frame)
        elif isinstance(body, ParallelBody):
            run_parallel(self, body, step, frame)
        elif not isinstance(body, NextBody):  # pragma: no cover - the loader builds no other
            raise TypeError(f"unknown step body {body!r}")
        return None

    def _switch(self, body: SwitchBody, frame: Frame) -> str | None:
        for condition in body.conditions:
            matched = self.evaluate(condition.condition, frame)
            if not isinstance(matched, bool):
                raise runtime_error(
                    TAG_TYPE, f"a condition must be a boolean, got {type_name(matched)}"
                )
            if not matched:
                continue
            for target, template in condition.assign:
                self._assign(target, self.evaluate(template, frame), frame)
            if condition.steps is not None:
                self.run_block(condition.steps, frame)
            if condition.returns is not None:
                raise ReturnValue(self.evaluate(condition.returns, frame))
            if condition.raises is not None:
                raise WorkflowError(self.evaluate(condition.raises, frame))
            return condition.next
        return None

    # -- calls --------------------------------------------------------------------------

    def _call(self, body: CallBody, step: Step, frame: Frame) -> Any:
        args = self.evaluate(body.args, frame)
        function = body.function
        if function in HTTP_METHODS:
            request = build_request(HTTP_METHODS[function], args)
            return perform(
                request,
                token_provider=self.context.token_provider,
                cancel=self.context.cancel_event,
            )
        if function in CONNECTOR_ARGS:
            return call_connector(function, args, self.context)
        if function == "sys.log":
            self._log(args, step, frame)
            return None
        if function == "sys.sleep":
            seconds = args["seconds"]
            if not is_number(seconds) or seconds < 0:
                raise runtime_error(TAG_TYPE, f"sys.sleep needs seconds >= 0, got {seconds!r}")
            self.context.wait(float(seconds))
            return None
        return self.call_routine(function, args, frame, step)

    def _log(self, args: dict[str, Any], step: Step, frame: Frame) -> None:
        severity = args.get("severity", "DEFAULT")
        if severity not in LOG_SEVERITIES:
            raise runtime_error(
                TAG_TYPE, f"sys.log severity must be one of {', '.join(LOG_SEVERITIES)}"
            )
        if "json" in args:
            payload = args["json"]
        else:
            value = args["text"] if "text" in args else args["data"]
            payload = value if isinstance(value, str) else to_json(value)
        self.context.record_log(str(severity), payload, frame.routine, step.name)

    def call_routine(self, name: str, args: dict[str, Any], frame: Frame, step: Step) -> Any:
        routine = self.workflow.routines[name]
        if frame.depth >= MAX_CALL_DEPTH:
            raise runtime_error(
                TAG_RECURSION, f"calling '{name}' would nest more than {MAX_CALL_DEPTH} calls"
            )
        variables: dict[str, Any] = {}
        for param in routine.params:
            if param.name in args:
                variables[param.name] = args[param.name]
            elif not param.required:
                variables[param.name] = param.default
            else:
                raise runtime_error(TAG_TYPE, f"'{name}' needs the argument '{param.name}'")
        scope = Scope(variables, caller=frame.scope, memory_limit=self.context.memory_limit)
        scope.check_memory()
        callee = Frame(
            routine=name,
            scope=scope,
            stack=(*frame.stack, (frame.routine, step.name)),
            depth=frame.depth + 1,
            parallel_depth=frame.parallel_depth,
            main_thread=frame.main_thread,
        )
        return self._run_routine(routine.block, callee)

    # -- try / retry / except -----------------------------------------------------------

    def _try(self, body: TryBody, step: Step, frame: Frame) -> str | None:
        attempt = 0
        while True:
            try:
                return self._run_body(body.body, step, frame)  # a switch in it may jump
            except WorkflowError as err:
                if body.retry is not None and self._retry(body.retry, err, attempt, step, frame):
                    attempt += 1
                    continue  # a retry re-runs the whole try block
                if body.handler is None:
                    raise
                error = err
            break
        if body.handler.as_name is not None:
            frame.scope.assign(body.handler.as_name, (), error.payload)
        self.run_block(body.handler.block, frame)
        return None

    def _retry(
        self, policy: RetryPolicy, err: WorkflowError, attempt: int, step: Step, frame: Frame
    ) -> bool:
        """Whether to run the try block again; waits the backoff delay first."""
        max_retries = self.evaluate(policy.max_retries, frame)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise runtime_error(
                TAG_TYPE, f"max_retries must be an integer >= 0, got {max_retries!r}"
            )
        if attempt >= max_retries or not self._predicate(policy.predicate, err, step, frame):
            return False
        initial, limit, multiplier = (
            self.evaluate(t, frame)
            for t in (
                policy.backoff.initial_delay,
                policy.backoff.max_delay,
                policy.backoff.multiplier,
            )
        )
        for name, value in (
            ("initial_delay", initial),
            ("max_delay", limit),
            ("multiplier", multiplier),
        ):
            if not is_number(value) or value < 0:
                raise runtime_error(
                    TAG_VALUE, f"backoff {name} must be a number >= 0, got {value!r}"
                )
        delay = min(initial * multiplier**attempt, limit) if math.isfinite(multiplier) else limit
        self.context.wait(float(delay))
        return True

    def _predicate(self, name: str, err: WorkflowError, step: Step, frame: Frame) -> bool:
        if name in _BUILTIN_PREDICATES:
            return _BUILTIN_PREDICATES[name](err)
        routine = self.workflow.routines[name]
        decision = self.call_routine(name, {routine.params[0].name: err.payload}, frame, step)
        if not isinstance(decision, bool):
            raise runtime_error(
                TAG_TYPE,
                f"retry predicate '{name}' must return a boolean, got {type_name(decision)}",
            )
        return decision

    # -- loops --------------------------------------------------------------------------

    def loop_items(self, loop: Loop, frame: Frame) -> list[Any]:
        """The values a ``for`` visits: its ``in`` list, or every number of its inclusive range."""
        if loop.items is not None:
            items = self.evaluate(loop.items, frame)
            if not isinstance(items, list):
                raise runtime_error(TAG_TYPE, f"'for ... in' needs a list, got {type_name(items)}")
            return items
        assert loop.range is not None
        first, last = (self.evaluate(t, frame) for t in loop.range)
        if not (is_number(first) and is_number(last)):
            raise runtime_error(
                TAG_TYPE,
                f"'range' bounds are numbers, got {type_name(first)} and {type_name(last)}",
            )
        if isinstance(first, int) and isinstance(last, int):
            return list(range(first, last + 1))
        count = max(0, math.floor(last - first) + 1)
        return [first + i for i in range(count)]

    def _for(self, loop: Loop, frame: Frame) -> None:
        items = self.loop_items(loop, frame)
        scope = Scope(parent=frame.scope, memory_limit=self.context.memory_limit)
        inner = replace(frame, scope=scope)
        for index, item in enumerate(items):
            scope.set_local(loop.value, item)
            if loop.index is not None:
                scope.set_local(loop.index, index)
            try:
                self.run_block(loop.block, inner)
            except ContinueLoop:
                continue
            except BreakLoop:
                break


def _tags(err: WorkflowError) -> set[str]:
    return set(err.tags)


def _code(err: WorkflowError) -> Any:
    return err.payload.get("code") if isinstance(err.payload, dict) else None


def _default_retry(err: WorkflowError) -> bool:
    """``http.default_retry_predicate``: 429/502/503/504, connection and timeout errors; not 500."""
    tags = _tags(err)
    if tags & {TAG_CONNECTION, TAG_CONNECTION_FAILED, TAG_TIMEOUT}:
        return True
    return TAG_HTTP in tags and _code(err) in (429, 502, 503, 504)


def _default_retry_non_idempotent(err: WorkflowError) -> bool:
    """``http.default_retry_predicate_non_idempotent``: only what cannot have run twice."""
    tags = _tags(err)
    return TAG_CONNECTION_FAILED in tags or (TAG_HTTP in tags and _code(err) in (429, 503))


_BUILTIN_PREDICATES = {
    "http.default_retry_predicate": _default_retry,
    "http.default_retry_predicate_non_idempotent": _default_retry_non_idempotent,
    "retry.always": lambda err: True,
    "retry.never": lambda err: False,
}
