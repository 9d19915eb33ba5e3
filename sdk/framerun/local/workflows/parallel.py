"""``parallel`` steps: branches or a parallel ``for``, really run concurrently.

Each branch or iteration runs on a worker of a thread pool sized by
``concurrency_limit`` (default and ceiling 20), so the limit is a true bound on
in-flight work, not a hint: with a limit of 2, the third HTTP call starts only when
one of the first two has finished. On top of that, every branch or iteration holds
one of the execution's 20 slots while it runs (``ExecutionContext.branch_slots``):
Cloud Workflows runs at most 20 at once *per execution*, so two parallel steps side
by side, or nested ones, share 20, and the rest queue. A branch that waits on a
nested parallel step gives its slot back while it waits (it runs nothing), so
nesting cannot deadlock on its own slots.

Semantics (https://cloud.google.com/workflows/docs/reference/syntax/parallel-steps):

* ``shared`` variables must exist before the step; each read and write of one is
  atomic. Every other variable is a branch-local copy, discarded at the end.
* ``exception_policy: continueAll`` (the only one): a failing branch does not
  stop the others; once *all* have finished, the failures surface together as
  ``{tags: [UnhandledBranchError], message, branches: [{id, error}]}``.
* Nesting is at most 2 deep (``ParallelNestingError``), including through calls.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import (
    TAG_KEY,
    TAG_PARALLEL_NESTING,
    TAG_TYPE,
    TAG_UNHANDLED_BRANCH,
    ExecutionCancelled,
    WorkflowError,
    runtime_error,
)
from .loader import MAX_PARALLEL_DEPTH
from .model import Block, ParallelBody, Step
from .runtime import MAX_CONCURRENT_BRANCHES, ExecutionContext
from .scope import BranchScope
from .signals import ContinueLoop
from .values import type_name

if TYPE_CHECKING:
    from .interpreter import Frame, Interpreter

__all__ = ["MAX_CONCURRENT_BRANCHES", "run_parallel"]

_SLOT_POLL_S = 0.2  # how often a queued branch looks at the cancel flag


@dataclass(frozen=True)
class _Job:
    id: str  # the branch name, or the iteration's index
    block: Block
    bindings: tuple[tuple[str, Any], ...] = ()  # the loop variable (and index)


def run_parallel(interp: Interpreter, body: ParallelBody, step: Step, frame: Frame) -> None:
    """Run every branch or iteration; raise UnhandledBranchError after all have finished."""
    if frame.parallel_depth >= MAX_PARALLEL_DEPTH:
        raise runtime_error(
            TAG_PARALLEL_NESTING,
            f"parallel step '{step.name}' would nest parallel steps more than "
            f"{MAX_PARALLEL_DEPTH} deep",
        )
    for name in body.shared:
        if not frame.scope.has(name):
            raise runtime_error(
                TAG_KEY,
                f"shared variable '{name}' of parallel step '{step.name}' must be assigned "
                "before the step (for example to null in an earlier assign)",
            )
    limit = _concurrency_limit(interp, body, frame)
    jobs = _jobs(interp, body, frame)
    shared = frozenset(body.shared)
    lock = threading.RLock()
    snapshot = frame.scope.snapshot(exclude=shared)

    context = interp.context

    def run(job: _Job) -> None:
        scope = BranchScope(frame.scope, shared, lock, snapshot)
        for name, value in job.bindings:
            scope.set_local(name, value)
        branch = replace(
            frame, scope=scope, parallel_depth=frame.parallel_depth + 1, main_thread=False
        )
        _take_slot(context)
        try:
            with contextlib.suppress(ContinueLoop):  # `next: continue` ends this iteration
                interp.run_block(job.block, branch)
        finally:
            context.branch_slots.release()

    if not jobs:
        return
    workers = max(1, min(limit, MAX_CONCURRENT_BRANCHES, len(jobs)))
    nested = frame.parallel_depth > 0  # this thread is a branch holding a slot
    if nested:
        context.branch_slots.release()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix=f"parallel-{step.name}") as pool:
            futures = [(job, pool.submit(run, job)) for job in jobs]
            outcomes = [(job, future.exception()) for job, future in futures]
    finally:
        if nested:
            _take_slot(context, cancellable=False)

    failures: list[dict[str, Any]] = []
    for job, exc in outcomes:
        if exc is None:
            continue
        if isinstance(exc, ExecutionCancelled):
            raise ExecutionCancelled()
        if not isinstance(exc, WorkflowError):
            raise exc  # an emulator bug: surface it, do not dress it as a workflow error
        failures.append({"id": job.id, "error": exc.payload})
    if failures:
        first = failures[0]["error"]
        first_message = first.get("message", first) if isinstance(first, dict) else first
        raise runtime_error(
            TAG_UNHANDLED_BRANCH,
            f"{len(failures)} of {len(jobs)} branches or iterations of parallel step "
            f"'{step.name}' raised an unhandled error (first, {failures[0]['id']}: "
            f"{first_message})",
            branches=failures,
        )


def _take_slot(context: ExecutionContext, *, cancellable: bool = True) -> None:
    """Wait for one of the execution's branch slots; a cancel ends the wait."""
    while not context.branch_slots.acquire(timeout=_SLOT_POLL_S):
        if cancellable:
            context.check_cancelled()


def _concurrency_limit(interp: Interpreter, body: ParallelBody, frame: Frame) -> int:
    if body.concurrency_limit is None:
        return MAX_CONCURRENT_BRANCHES
    limit = interp.evaluate(body.concurrency_limit, frame)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise runtime_error(
            TAG_TYPE,
            f"concurrency_limit must be a positive integer, got {type_name(limit)} {limit!r}",
        )
    return limit


def _jobs(interp: Interpreter, body: ParallelBody, frame: Frame) -> list[_Job]:
    if body.branches is not None:
        return [_Job(name, block) for name, block in body.branches]
    loop = body.loop
    assert loop is not None
    jobs = []
    for index, item in enumerate(interp.loop_items(loop, frame)):
        bindings: list[tuple[str, Any]] = [(loop.value, item)]
        if loop.index is not None:
            bindings.append((loop.index, index))
        jobs.append(_Job(str(index), loop.block, tuple(bindings)))
    return jobs
