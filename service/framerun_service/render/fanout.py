"""How the render workflow fans chunks out past Cloud Workflows' 20 concurrent branches.

IO-free. Cloud Workflows runs at most 20 branches or iterations of parallel steps at
once *per execution* (https://cloud.google.com/workflows/quotas; a parallel step's
``concurrency_limit`` is "the maximum number of branches and iterations that can
concurrently execute within a single workflow execution"). So one execution renders
at most 20 chunks at a time, whatever its steps look like. Past that, the render
execution (the parent) starts child executions of the same workflow through the
Workflows executions connector, one per *group* of consecutive chunks, each running
its own parallel step; the parent's own parallel step waits for the groups (≤ 20),
then assembles once. 20 children of 20 make the ceiling of 400 chunks in flight.

With ``max_parallel_chunks`` ≤ 20 (or no more chunks than one execution can run)
there are no groups and the workflow takes the single-execution path unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framerun_service.core.errors import InvalidConfigError

__all__ = [
    "BRANCHES_PER_EXECUTION",
    "MAX_PARALLEL_CHUNKS",
    "ChunkGroup",
    "check_max_parallel_chunks",
    "chunk_groups",
]

BRANCHES_PER_EXECUTION = 20  # Cloud Workflows' cap on concurrent branches + iterations
MAX_PARALLEL_CHUNKS = BRANCHES_PER_EXECUTION * BRANCHES_PER_EXECUTION  # 20 children × 20


@dataclass(frozen=True)
class ChunkGroup:
    """Chunks ``first``…``last`` (both included), rendered ``max_parallel`` at a time by one
    child execution."""

    first: int
    last: int
    max_parallel: int

    @property
    def chunks(self) -> int:
        return self.last - self.first + 1

    def to_json(self) -> dict[str, Any]:
        return {"first": self.first, "last": self.last, "maxParallel": self.max_parallel}


def check_max_parallel_chunks(value: int) -> None:
    """Refuse a ``maxParallelChunks`` the workflow cannot run, saying what it can."""
    if not 1 <= value <= MAX_PARALLEL_CHUNKS:
        raise InvalidConfigError(
            f"maxParallelChunks {value} is out of range; use 1–{MAX_PARALLEL_CHUNKS} "
            f"(up to {BRANCHES_PER_EXECUTION} run in the render's own execution, more in "
            f"child executions of {BRANCHES_PER_EXECUTION} each)"
        )


def chunk_groups(chunk_count: int, max_parallel_chunks: int) -> tuple[ChunkGroup, ...]:
    """The child executions of a render: () when the render's own execution suffices.

    ``ceil(parallel / 20)`` groups share the parallelism (limits differ by at most one)
    and the chunks (counts differ by at most one), so the groups finish together and
    at most ``max_parallel_chunks`` chunks are ever in flight.
    """
    check_max_parallel_chunks(max_parallel_chunks)
    if chunk_count < 1:
        raise InvalidConfigError(f"a render has at least one chunk, got {chunk_count}")
    parallel = min(max_parallel_chunks, chunk_count)
    if parallel <= BRANCHES_PER_EXECUTION:
        return ()
    count = -(-parallel // BRANCHES_PER_EXECUTION)
    limit_base, limit_extra = divmod(parallel, count)
    size_base, size_extra = divmod(chunk_count, count)
    groups, first = [], 0
    for i in range(count):
        size = size_base + (1 if i < size_extra else 0)
        limit = limit_base + (1 if i < limit_extra else 0)
        groups.append(ChunkGroup(first, first + size - 1, limit))
        first += size
    return tuple(groups)
