"""The plan: chunk splitting and the hash that pins a render (pure, no browser)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framerun_service.core.errors import InvalidConfigError
from framerun_service.render import plan as plan_module
from framerun_service.render.composition import Composition
from framerun_service.render.encoding import EncoderSettings
from framerun_service.render.plan import Plan, make_plan, split_frames

SITE_HASH = "a" * 64
BROWSER = "Chromium 130.0.0.0"


def composition(**changes: Any) -> Composition:
    """A 2 s, 30 fps composition built directly: the planner never reads files."""
    base = Composition(
        project_dir=Path("/nonexistent/project"),
        entry="index.html",
        width=320,
        height=240,
        fps=Fraction(30),
        duration=Fraction(2),
        variables={"title": "Hi", "count": 3},
    )
    return replace(base, **changes)


def plan(
    comp: Composition | None = None,
    encoder: EncoderSettings | None = None,
    **kwargs: Any,
) -> Plan:
    kwargs.setdefault("site_hash", SITE_HASH)
    kwargs.setdefault("browser_version", BROWSER)
    return make_plan(comp or composition(), encoder or EncoderSettings(), **kwargs)


# --- split_frames -------------------------------------------------------------------------

ranges = st.tuples(st.integers(0, 10_000), st.integers(1, 20_000)).map(
    lambda t: (t[0], t[0] + t[1])
)
limits = st.integers(1, 5_000)


@given(ranges, limits, limits)
def test_split_frames_is_an_exact_contiguous_cover(
    frame_range: tuple[int, int], chunk_size: int, target: int
) -> None:
    """Chunks must tile [start, end) exactly, or frames are lost or rendered twice."""
    start, end = frame_range
    chunks = split_frames(start, end, chunk_size=chunk_size, target_chunk_frames=target)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].start == start
    assert chunks[-1].end == end
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.end == nxt.start  # contiguous, hence no overlap and no gap
    assert all(c.frames >= 1 for c in chunks)
    assert sum(c.frames for c in chunks) == end - start
    covered = [f for c in chunks for f in range(c.start, c.end)]
    if end - start <= 2_000:  # full enumeration only where it stays cheap
        assert covered == list(range(start, end))


@given(ranges, limits, limits)
def test_split_frames_is_balanced_minimal_and_bounded(
    frame_range: tuple[int, int], chunk_size: int, target: int
) -> None:
    """Equal-ish chunks finish together; the fewest chunks means the fewest browser pages."""
    start, end = frame_range
    total = end - start
    limit = min(chunk_size, target)
    chunks = split_frames(start, end, chunk_size=chunk_size, target_chunk_frames=target)
    sizes = [c.frames for c in chunks]
    assert max(sizes) - min(sizes) <= 1
    assert max(sizes) <= limit
    # Minimal: one chunk fewer could not hold the frames even at the limit.
    assert len(chunks) == -(-total // limit)
    assert (len(chunks) - 1) * limit < total


@given(ranges, limits, st.integers(1, 64))
def test_split_frames_rounds_the_count_up_to_a_multiple_for_balanced_workers(
    frame_range: tuple[int, int], chunk_size: int, multiple: int
) -> None:
    """N workers get equal shares: the count is a multiple of N unless frames run out."""
    start, end = frame_range
    total = end - start
    chunks = split_frames(start, end, chunk_size=chunk_size, chunk_multiple=multiple)
    sizes = [c.frames for c in chunks]
    assert sum(sizes) == total and max(sizes) - min(sizes) <= 1
    assert max(sizes) <= chunk_size
    assert len(chunks) % multiple == 0 or len(chunks) == total
    fewest = -(-total // min(chunk_size, plan_module.DEFAULT_TARGET_CHUNK_FRAMES))
    assert len(chunks) == min(total, -(-fewest // multiple) * multiple)


def test_split_frames_examples() -> None:
    """A worked example pins the order: larger chunks come first."""
    chunks = split_frames(10, 20, chunk_size=4)
    assert [(c.start, c.end) for c in chunks] == [(10, 14), (14, 17), (17, 20)]
    assert [(c.start, c.end) for c in split_frames(0, 5, chunk_size=240)] == [(0, 5)]


@pytest.mark.parametrize(
    ("start", "end", "chunk_size", "target"),
    [(5, 5, 10, 10), (6, 5, 10, 10), (0, 10, 0, 10), (0, 10, 10, 0), (0, 10, -3, 10)],
)
def test_split_frames_rejects_empty_ranges_and_bad_limits(
    start: int, end: int, chunk_size: int, target: int
) -> None:
    """A zero or negative limit would loop forever or divide by zero."""
    with pytest.raises(InvalidConfigError):
        split_frames(start, end, chunk_size=chunk_size, target_chunk_frames=target)


# --- make_plan and the hash ---------------------------------------------------------------


def test_plan_hash_is_stable_for_equal_inputs() -> None:
    """Workers recompute the hash independently; equal inputs must agree byte for byte."""
    a = plan()
    b = plan(composition(variables={"count": 3, "title": "Hi"}))  # key order is irrelevant
    assert a.plan_hash == b.plan_hash
    assert len(a.plan_hash) == 64
    assert a.compute_hash() == a.plan_hash


def test_plan_covers_the_video_by_default() -> None:
    """Without --frames the plan is the whole video, 2 s × 30 fps."""
    p = plan(chunk_size=25)
    assert (p.frame_start, p.frame_end, p.total_frames) == (0, 60, 60)
    assert sum(c.frames for c in p.chunks) == 60
    assert p.engine_version == plan_module.ENGINE_VERSION


CHANGES: dict[str, dict[str, Any]] = {
    "site hash": {"site_hash": "b" * 64},
    "variable value": {"comp": composition(variables={"title": "Bye", "count": 3})},
    "variable added": {"comp": composition(variables={"title": "Hi", "count": 3, "x": 1})},
    "variable type": {"comp": composition(variables={"title": "Hi", "count": 3.0})},
    "encoder crf": {"encoder": EncoderSettings(crf=21)},
    "encoder preset": {"encoder": EncoderSettings(preset="ultrafast")},
    "browser version": {"browser_version": "Chromium 131.0.0.0"},
    "fps": {"comp": composition(fps=Fraction(30000, 1001))},
    "size": {"comp": composition(width=322)},
    "entry": {"comp": composition(entry="other.html")},
    "frames": {"frames": (0, 59)},
    "chunk size": {"chunk_size": 7},
    "max parallel": {"max_parallel_chunks": 3},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_plan_hash_changes_with_every_input(change: dict[str, Any]) -> None:
    """A chunk rendered under any different input must be refused, so each input is hashed."""
    assert plan(**change).plan_hash != plan().plan_hash


def test_plan_hash_changes_with_engine_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks from different engine builds must never be mixed."""
    before = plan().plan_hash
    monkeypatch.setattr(plan_module, "ENGINE_VERSION", "9.9.9")
    after = plan()
    assert after.engine_version == "9.9.9"
    assert after.plan_hash != before


def test_chunk_size_is_hashed_through_the_split() -> None:
    """The hash pins chunk boundaries, not the knob: sizes giving the same split agree."""
    assert plan(chunk_size=240).plan_hash == plan(chunk_size=300).plan_hash  # both one chunk
    assert plan(chunk_size=30).plan_hash != plan(chunk_size=240).plan_hash


@pytest.mark.parametrize(
    "comp",
    [
        composition(),
        composition(fps=Fraction(30000, 1001), duration=Fraction(10)),
        composition(variables={"s": "é ✓", "n": 0.1, "b": True, "l": [1, None], "d": {"k": 1}}),
    ],
    ids=["plain", "ntsc", "rich-variables"],
)
def test_plan_json_round_trip_preserves_the_hash(comp: Composition) -> None:
    """Workers receive the plan as JSON and re-verify its hash; the trip must be lossless."""
    original = plan(comp, EncoderSettings(crf=None, bitrate=5_000_000), chunk_size=17)
    wire = json.loads(json.dumps(original.to_json()))
    restored = Plan.from_json(wire)
    assert restored.plan_hash == original.plan_hash
    assert restored.compute_hash() == original.plan_hash
    assert restored.fps == comp.fps
    assert restored.chunks == original.chunks
    assert restored.encoder == original.encoder


def test_tampered_plan_json_no_longer_matches_its_hash() -> None:
    """The hash is what catches a plan edited in transit."""
    wire = plan().to_json()
    wire["variables"] = {**wire["variables"], "title": "tampered"}
    restored = Plan.from_json(wire)
    assert restored.compute_hash() != restored.plan_hash


@pytest.mark.parametrize("frames", [(0, 61), (60, 61), (-1, 10), (10, 10), (20, 10)])
def test_frames_outside_the_video_are_invalid_config(frames: tuple[int, int]) -> None:
    """The frames must lie inside 0:total_frames; the message names the setting as each
    surface spells it (Python keyword, config key, CLI flag) and the bounds."""
    with pytest.raises(InvalidConfigError, match=r"^frames .* 0:60") as info:
        plan(frames=frames)
    assert info.value.cli_message.startswith("--frames ")
    assert info.value.to_json()["error"]["message"].startswith("frames ")


def test_frames_inside_the_video_are_planned() -> None:
    """A sub-range plans only its own frames."""
    p = plan(frames=(10, 60), chunk_size=20)
    assert (p.frame_start, p.frame_end) == (10, 60)
    assert [(c.start, c.end) for c in p.chunks] == [(10, 27), (27, 44), (44, 60)]


def test_max_parallel_chunks_must_be_positive() -> None:
    """Zero parallelism would stall the workflow forever."""
    with pytest.raises(InvalidConfigError):
        plan(max_parallel_chunks=0)
