"""How many frames each chunk of a distributed render gets: the automatic size, and the
check of a size the user chose. IO-free; ``plan.make_plan`` calls it.

A chunk is one ``http.post`` from Cloud Workflows to one Cloud Run instance, and
Workflows ends that call at 1800 s. So a chunk's predicted wall time, at the slowest
page measured (``throughput.HEAVY``) on the instance's vCPUs, plus what every chunk pays
before its first frame, must stay well inside it. Within that, the automatic size
fills the parallelism: 18,000 frames with ``max_parallel_chunks`` 400 are 400 chunks of
45 frames, not 75 of 240, because chunks run at once and wall time is the longest one.

The numbers (docs/architecture.md, "Chunk sizing", says why in one place):

- ``CHUNK_BUDGET_S`` = half the cap, 900 s: the heavy figure is one page measured on
  one machine; half leaves room for a page twice as heavy, a slower host, or the
  retries inside a chunk, before Workflows kills the call.
- ``CHUNK_OVERHEAD_S`` = 60 s a chunk besides its frames, a bound rather than an
  estimate: the cost model (``framerun.costmodel``) puts a cold start at about 6 s (5 s
  documented platform start, 0.44 s service start, 0.43 s first chunk with Chrome's
  launch, measured), but a request may also wait for an instance (Cloud Run's
  autoscaling holds it up to 10 s), a page may take until ``FRAMERUN_LOAD_TIMEOUT_S``
  (30 s) to load, and a large site or chunk takes longer to move.
- ``PREROLL_S_PER_FRAME`` = 0.2 ms: a chunk starting at frame N first lives through
  frames 0…N−1 without drawing them (``runtime.js`` preroll). Measured on one page
  (3000 frames each): 0.163 ms a frame on examples/bench (``make bench`` reports it as
  ``preroll_ms_per_frame``), 0.124 ms on css-motion. A page whose scripts do heavy work
  at every tick pre-rolls slower; this bound does not cover that.
- ``TARGET_CHUNK_S`` = 300 s of predicted render time: when the parallelism cannot
  absorb a video in chunks that short, it gets whole waves of ``max_parallel_chunks``
  chunks instead of fewer, longer ones. A retried chunk then repeats at most 5 minutes,
  and one slow instance delays the end by as much.
- ``MIN_CHUNK_FRAMES`` = 30: each chunk pays a page start (0.13–0.2 s warm, about 1 s
  with the browser's launch, measured), its pre-roll, its own closed GOP (a keyframe)
  and a workflow branch. 30 frames are 2.5 s of heavy 1080p on 4 vCPUs, so a warm start
  stays under a tenth of it, and at 30 fps a keyframe at most every second. A shorter
  video gets fewer chunks than the parallelism, never shorter ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from framerun_service.core.errors import InvalidConfigError, setting
from framerun_service.render.throughput import HEAVY, FrameCost, frame_seconds

__all__ = [
    "CHUNK_BUDGET_S",
    "CHUNK_OVERHEAD_S",
    "DEFAULT_INSTANCE_VCPUS",
    "HTTP_POST_CAP_S",
    "MAX_INSTANCE_VCPUS",
    "MIN_CHUNK_FRAMES",
    "PREROLL_S_PER_FRAME",
    "TARGET_CHUNK_S",
    "ChunkModel",
    "ChunkSizing",
    "auto_chunk_sizing",
    "check_chunk_size",
]

HTTP_POST_CAP_S = 1800.0  # Cloud Workflows' longest http.post (timeout: 1800 in render.yaml)
CHUNK_BUDGET_S = HTTP_POST_CAP_S / 2  # what an automatic chunk may be predicted to take
CHUNK_OVERHEAD_S = 60.0  # cold start, site download, page load, upload: once per chunk
PREROLL_S_PER_FRAME = 0.0002  # measured 0.163 ms (bench), 0.124 ms (css-motion); rounded up
TARGET_CHUNK_S = 300.0  # predicted render time an automatic chunk aims at, at most
MIN_CHUNK_FRAMES = 30  # fewer frames than this, and a chunk is mostly fixed costs
DEFAULT_INSTANCE_VCPUS = 4  # terraform/variables.tf's default `cpu`
MAX_INSTANCE_VCPUS = 8  # Cloud Run's largest instance: a client that cannot know the size


@dataclass(frozen=True)
class ChunkModel:
    """One chunk's predicted wall time on one instance: the model both checks use.

    ``cost`` is the per-frame figure (``throughput.HEAVY``: the slowest page measured),
    ``vcpus`` the instance's (one page per vCPU draws a chunk).
    """

    width: int
    height: int
    vcpus: int
    cost: FrameCost = HEAVY

    @property
    def frame_s(self) -> float:
        return frame_seconds(self.width, self.height, vcpus=self.vcpus, cost=self.cost)

    def seconds(self, start: int, end: int) -> float:
        """Predicted wall seconds of the chunk [start, end): start-up, pre-roll, frames."""
        return CHUNK_OVERHEAD_S + start * PREROLL_S_PER_FRAME + (end - start) * self.frame_s

    def frames_within(self, seconds: float, *, frame_end: int) -> int:
        """The most frames a chunk ending by ``frame_end`` may hold and be predicted to
        finish within ``seconds`` (its pre-roll counted up to ``frame_end``: a bound)."""
        room = seconds - CHUNK_OVERHEAD_S - frame_end * PREROLL_S_PER_FRAME
        return max(0, _whole(room / self.frame_s))

    def describe(self) -> str:
        size, fps = f"{self.width}×{self.height}", 1 / self.frame_s
        return f"{size}, {self.cost.name} page: {fps:.1f} fps on {self.vcpus} vCPUs"


@dataclass(frozen=True)
class ChunkSizing:
    """How many chunks a render gets and why: ``count`` balanced chunks of at most
    ``size`` frames. ``reason`` is shown in plan.json and the service's log."""

    count: int
    size: int
    auto: bool
    reason: str

    def describe(self) -> str:
        mode = "auto → " if self.auto else ""
        return f"chunk size: {mode}{self.size} frames ({self.reason})"


def auto_chunk_sizing(
    start: int,
    end: int,
    *,
    max_parallel_chunks: int,
    model: ChunkModel | None,
    max_frames: int | None = None,
) -> ChunkSizing:
    """The chunk count for [start, end) when the user gave no chunk size.

    One wave of ``max_parallel_chunks`` chunks if each share fits the target time (fewer
    chunks, none under ``MIN_CHUNK_FRAMES``, when the frames do not fill them); otherwise
    whole waves of ``max_parallel_chunks``. ``max_frames`` (``targetChunkFrames``) caps
    the size; ``model`` None (an in-process render: no per-call cap) sizes by frames only.
    """
    total = end - start
    if total < 1:
        raise InvalidConfigError(f"frame range {start}:{end} is empty")
    if max_parallel_chunks < 1:
        raise InvalidConfigError(f"maxParallelChunks must be ≥ 1, got {max_parallel_chunks}")
    upper, bound = _upper_bound(end, model, max_frames)
    fewest = -(-total // upper)
    per_wave = -(-total // max_parallel_chunks)
    if per_wave <= upper:
        floor_frames = min(MIN_CHUNK_FRAMES, upper)
        count = max(fewest, min(max_parallel_chunks, max(1, total // floor_frames)))
        if count == max_parallel_chunks:
            why = f"{total} frames over {_chunks(count)} at once"
        else:
            why = (
                f"{total} frames make {_chunks(count)} of at least {floor_frames} frames, "
                f"fewer than the {max_parallel_chunks} that may run at once"
            )
    else:
        waves = -(-total // (max_parallel_chunks * upper))
        count = min(total, waves * max_parallel_chunks)
        why = f"{waves} waves of {_chunks(max_parallel_chunks)} at once, each {bound}"
    size = -(-total // count)
    if model is not None:
        longest = model.seconds(end - size, end)
        why += f"; predicted ≤ {longest:.0f} s a chunk at {model.describe()}"
    return ChunkSizing(count=count, size=size, auto=True, reason=why)


def _whole(frames: float) -> int:
    """Whole frames in ``frames``, where 914.9999999 (300 s at 1/3.05 s a frame) is 915."""
    return math.floor(frames + 1e-9)


def _chunks(count: int) -> str:
    return f"{count} chunk{'' if count == 1 else 's'}"


def _upper_bound(end: int, model: ChunkModel | None, max_frames: int | None) -> tuple[int, str]:
    """The most frames an automatic chunk may hold, and the bound that set it."""
    bounds: list[tuple[int, str]] = []
    if max_frames is not None:
        bounds.append((max_frames, f"≤ targetChunkFrames {max_frames}"))
    if model is not None:
        fits = model.frames_within(CHUNK_BUDGET_S, frame_end=end)
        if fits < 1:
            raise InvalidConfigError(
                f"even a 1-frame chunk ending at frame {end} is predicted over the "
                f"{CHUNK_BUDGET_S:.0f} s a chunk may take (start-up {CHUNK_OVERHEAD_S:.0f} s, "
                f"pre-roll {end * PREROLL_S_PER_FRAME:.0f} s, {model.describe()}); render "
                f"it in parts with {setting('frames')}, smaller, or on more vCPUs"
            )
        target = max(MIN_CHUNK_FRAMES, _whole(TARGET_CHUNK_S / model.frame_s))
        bounds.append((target, f"≤ {TARGET_CHUNK_S:.0f} s of rendering"))
        bounds.append((fits, f"≤ {CHUNK_BUDGET_S:.0f} s with start-up and pre-roll"))
    if not bounds:
        return end, "unbounded"  # in-process, nothing set: one wave always fits
    return min(bounds, key=lambda b: b[0])


def check_chunk_size(
    chunk_size: int, chunks: list[tuple[int, int]], *, model: ChunkModel
) -> ChunkSizing:
    """Refuse a chosen ``chunk_size`` whose longest chunk would pass the ``http.post`` cap.

    ``chunks`` are the (start, end) it splits into. The refusal names the value, the
    predicted seconds and the largest size that fits the automatic budget.
    """
    start, end = max(chunks, key=lambda c: model.seconds(*c))
    predicted = model.seconds(start, end)
    size = max(e - s for s, e in chunks)
    if predicted > HTTP_POST_CAP_S:
        fits = model.frames_within(CHUNK_BUDGET_S, frame_end=chunks[-1][1])
        fix = (
            f"use {setting('chunk_size')} ≤ {fits}, or leave it unset to size chunks automatically"
            if fits >= 1
            else f"render it in parts with {setting('frames')}, smaller, or on more vCPUs"
        )
        raise InvalidConfigError(
            f"{setting('chunk_size')} {chunk_size} makes chunks of up to {size} frames; frames "
            f"{start}–{end - 1} are predicted to take {predicted:.0f} s ({model.describe()}, "
            f"plus {CHUNK_OVERHEAD_S:.0f} s start-up and the pre-roll), over Cloud Workflows' "
            f"{HTTP_POST_CAP_S:.0f} s http.post cap; {fix}"
        )
    reason = f"chunkSize {chunk_size}; predicted ≤ {predicted:.0f} s a chunk at {model.describe()}"
    return ChunkSizing(count=len(chunks), size=size, auto=False, reason=reason)
