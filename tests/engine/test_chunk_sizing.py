"""Automatic chunk sizing and the check of a chosen size (pure, no browser).

The time figures come from throughput.py, so the cap assertions recompute each chunk's
time from ``frame_seconds`` directly rather than through the model under test.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from framerun_service.core.errors import InvalidConfigError
from framerun_service.core.wire import MAX_CHUNKS
from framerun_service.render import chunksizing
from framerun_service.render.chunksizing import (
    CHUNK_BUDGET_S,
    CHUNK_OVERHEAD_S,
    HTTP_POST_CAP_S,
    MIN_CHUNK_FRAMES,
    PREROLL_S_PER_FRAME,
    TARGET_CHUNK_S,
)
from framerun_service.render.composition import Composition
from framerun_service.render.config import RenderConfig
from framerun_service.render.encoding import EncoderSettings
from framerun_service.render.plan import Plan, make_plan
from framerun_service.render.throughput import HEAVY, frame_seconds

ROOT = Path(__file__).resolve().parents[2]
FLOAT_SLACK_S = 1e-6  # the planner rounds 914.9999999 frames to 915
SIZES = {"360p": (640, 360), "1080p": (1920, 1080), "4K": (3840, 2160)}


def video(
    width: int = 1920, height: int = 1080, seconds: float = 600, fps: int = 30
) -> Composition:
    return Composition(
        project_dir=Path("/nonexistent/project"),
        entry="index.html",
        width=width,
        height=height,
        fps=Fraction(fps),
        duration=Fraction(seconds),
        variables={},
    )


def plan(comp: Composition, **kwargs: Any) -> Plan:
    return make_plan(comp, EncoderSettings(), site_hash="a" * 64, browser_version="b", **kwargs)


def heavy_seconds(comp: Composition, vcpus: int, start: int, end: int) -> float:
    """A chunk's wall time from the measured heavy figure, written out independently."""
    per_frame = frame_seconds(comp.width, comp.height, vcpus=vcpus, cost=HEAVY)
    return CHUNK_OVERHEAD_S + start * PREROLL_S_PER_FRAME + (end - start) * per_frame


def assert_exact_balanced_cover(p: Plan) -> None:
    chunks = p.chunks
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert (chunks[0].start, chunks[-1].end) == (p.frame_start, p.frame_end)
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
    sizes = [c.frames for c in chunks]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


# --- automatic sizing: properties ----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    frames=st.integers(1, 220_000),
    fps=st.sampled_from([24, 30, 60]),
    size=st.sampled_from(list(SIZES.values())),
    parallel=st.integers(1, 400),
    vcpus=st.integers(1, 8),
    target=st.one_of(st.none(), st.integers(1, 6000)),
)
def test_auto_chunks_cover_exactly_balance_and_stay_inside_the_budget(
    frames: int,
    fps: int,
    size: tuple[int, int],
    parallel: int,
    vcpus: int,
    target: int | None,
) -> None:
    """Whatever the video and instance: an exact, balanced cover; each chunk predicted
    within half the http.post cap at the heavy cost; targetChunkFrames respected."""
    comp = video(*size, seconds=Fraction(frames, fps), fps=fps)
    try:
        p = plan(
            comp, max_parallel_chunks=parallel, instance_vcpus=vcpus, target_chunk_frames=target
        )
    except InvalidConfigError as exc:  # only a tiny targetChunkFrames may pass the chunk cap
        assert target is not None and -(-frames // target) >= MAX_CHUNKS
        assert "targetChunkFrames" in exc.wire_message
        return
    assert_exact_balanced_cover(p)
    assert p.total_frames == frames
    for c in p.chunks:
        assert heavy_seconds(comp, vcpus, c.start, c.end) <= CHUNK_BUDGET_S + FLOAT_SLACK_S
    if target is not None:
        assert max(c.frames for c in p.chunks) <= target
    assert p.chunk_sizing.startswith("chunk size: auto → ")


@settings(max_examples=300, deadline=None)
@given(
    frames=st.integers(1, 220_000),
    size=st.sampled_from(list(SIZES.values())),
    parallel=st.integers(1, 400),
    vcpus=st.integers(1, 8),
)
def test_auto_count_fills_the_parallelism_in_whole_waves(
    frames: int, size: tuple[int, int], parallel: int, vcpus: int
) -> None:
    """Enough frames: a multiple of max_parallel_chunks, and no fewer waves would fit.
    Too few: fewer chunks, each at least MIN_CHUNK_FRAMES (one chunk if even that is too
    many)."""
    comp = video(*size, seconds=Fraction(frames, 30))
    p = plan(comp, max_parallel_chunks=parallel, instance_vcpus=vcpus)
    count = len(p.chunks)
    assert max(c.frames for c in p.chunks) == -(-frames // count)
    if frames >= parallel * MIN_CHUNK_FRAMES:
        assert count % parallel == 0 and count >= parallel
        if count > parallel:  # one wave fewer would need chunks past the target or budget
            fewer = -(-frames // (count - parallel))
            per_frame = frame_seconds(comp.width, comp.height, vcpus=vcpus, cost=HEAVY)
            assert (
                fewer * per_frame > TARGET_CHUNK_S
                or heavy_seconds(comp, vcpus, frames - fewer, frames) > CHUNK_BUDGET_S
            )
    else:
        assert count <= parallel
        assert count == 1 or frames // count >= MIN_CHUNK_FRAMES


def test_ten_minutes_at_400_parallel_gives_400_chunks_of_45_frames() -> None:
    """The issue's example: fan-out is what turns minutes into seconds."""
    p = plan(video(), max_parallel_chunks=400, instance_vcpus=4)
    assert [c.frames for c in p.chunks] == [45] * 400
    assert p.chunk_sizing.startswith("chunk size: auto → 45 frames (18000 frames over 400 chunks")


def test_auto_plan_uses_the_parallelism_not_the_old_240() -> None:
    """10 min of 1080p30 at the default 16 at once: 16 chunks of 1125, not 75 of 240."""
    p = plan(video(), max_parallel_chunks=16)
    assert [c.frames for c in p.chunks] == [1125] * 16
    assert p.chunk_sizing.startswith("chunk size: auto → 1125 frames (18000 frames over 16")


def test_a_short_video_gets_fewer_chunks_not_tiny_ones() -> None:
    """2 s at 30 fps with 16 at once: 2 chunks of 30 frames, not 16 of 3 or 4."""
    p = plan(video(seconds=2), max_parallel_chunks=16)
    assert [c.frames for c in p.chunks] == [30, 30]
    one = plan(video(seconds=1), max_parallel_chunks=16)
    assert [c.frames for c in one.chunks] == [30]


@pytest.mark.parametrize("minutes", [10, 60])
@pytest.mark.parametrize("name", ["1080p", "4K"])
@pytest.mark.parametrize("vcpus", [1, 2, 4, 8])
@pytest.mark.parametrize("parallel", [1, 16, 20, 400])
def test_the_cap_holds_at_the_heavy_cost_for_long_and_large_videos(
    minutes: int, name: str, vcpus: int, parallel: int
) -> None:
    """Every chunk of 10 or 60 minutes of 1080p or 4K, predicted at the slowest page
    measured, finishes in at most half of Workflows' 1800 s http.post cap."""
    comp = video(*SIZES[name], seconds=minutes * 60)
    p = plan(comp, max_parallel_chunks=parallel, instance_vcpus=vcpus)
    assert_exact_balanced_cover(p)
    worst = max(heavy_seconds(comp, vcpus, c.start, c.end) for c in p.chunks)
    assert worst <= CHUNK_BUDGET_S <= HTTP_POST_CAP_S / 2
    assert len(p.chunks) % parallel == 0


def test_sixty_minutes_of_4k_comes_in_waves_of_the_parallelism() -> None:
    """108,000 4K frames on 4 vCPUs with 16 at once: 16 chunks would take 37 min each,
    so 8 waves of 16 chunks, each under the 300 s target plus start-up and pre-roll."""
    comp = video(3840, 2160, seconds=3600)
    p = plan(comp, max_parallel_chunks=16, instance_vcpus=4)
    assert len(p.chunks) == 128
    assert "8 waves of 16 chunks at once" in p.chunk_sizing
    per_frame = frame_seconds(3840, 2160, vcpus=4, cost=HEAVY)
    assert max(c.frames for c in p.chunks) * per_frame <= TARGET_CHUNK_S


def test_more_vcpus_mean_longer_chunks_fit() -> None:
    """The instance's size is a parameter: one 4K hour on 1 vCPU needs more waves."""
    comp = video(3840, 2160, seconds=3600)
    small, large = (plan(comp, max_parallel_chunks=20, instance_vcpus=v) for v in (1, 8))
    assert len(small.chunks) > len(large.chunks)
    assert "on 1 vCPUs" in small.chunk_sizing and "on 8 vCPUs" in large.chunk_sizing


# --- a chosen size: honoured, or refused with the fix ---------------------------------------


def test_a_chosen_size_inside_the_cap_is_honoured_even_past_the_old_3000() -> None:
    """chunkSize 5000 on 1080p (410 s a chunk at the heavy cost) is what the user gets."""
    p = plan(video(), chunk_size=5000, instance_vcpus=4)
    assert [c.frames for c in p.chunks] == [4500] * 4
    assert p.chunk_sizing.startswith("chunk size: 4500 frames (chunkSize 5000; predicted")


def test_a_chosen_size_past_the_cap_is_refused_with_a_size_that_fits() -> None:
    """An hour of 4K in chunks of 6000 frames: 2048 s predicted for the last chunk."""
    comp = video(3840, 2160, seconds=3600)
    with pytest.raises(InvalidConfigError) as info:
        plan(comp, chunk_size=6000, instance_vcpus=4)
    wire = info.value.wire_message
    assert wire.startswith("chunkSize 6000 makes chunks of up to 6000 frames")
    predicted = heavy_seconds(comp, 4, 102_000, 108_000)
    assert f"predicted to take {predicted:.0f} s" in wire and predicted > HTTP_POST_CAP_S
    assert "1800 s http.post cap" in wire
    assert info.value.cli_message.startswith("--chunk-size 6000")
    fits = int(re.search(r"chunkSize ≤ (\d+)", wire).group(1))  # type: ignore[union-attr]
    ok = plan(comp, chunk_size=fits, instance_vcpus=4)  # the size it names is accepted
    assert max(heavy_seconds(comp, 4, c.start, c.end) for c in ok.chunks) <= CHUNK_BUDGET_S
    with pytest.raises(InvalidConfigError):
        plan(comp, chunk_size=fits * 3, instance_vcpus=4)


def test_the_client_check_refuses_only_what_no_instance_could_render() -> None:
    """At Cloud Run's largest instance (8 vCPUs) the 4K chunk of 6000 fits; at 4 it does not."""
    comp = video(3840, 2160, seconds=3600)
    plan(comp, chunk_size=6000, instance_vcpus=chunksizing.MAX_INSTANCE_VCPUS)
    with pytest.raises(InvalidConfigError):
        plan(comp, chunk_size=6000, instance_vcpus=4)


def test_an_in_process_render_has_no_per_chunk_cap() -> None:
    """instance_vcpus None (framerun render): no Workflows call to fit, any size goes."""
    p = plan(video(3840, 2160, seconds=3600), chunk_size=108_000, instance_vcpus=None)
    assert len(p.chunks) == 1


def test_a_chunk_size_over_target_chunk_frames_is_refused_not_ignored() -> None:
    """Both set, and they disagree: which one wins would be a silent choice."""
    with pytest.raises(InvalidConfigError) as info:
        plan(video(), chunk_size=500, target_chunk_frames=300)
    assert info.value.wire_message.startswith("chunkSize 500 is over targetChunkFrames 300")
    p = plan(video(), chunk_size=300, target_chunk_frames=500)  # agreeing: both honoured
    assert max(c.frames for c in p.chunks) == 300


def test_target_chunk_frames_caps_the_automatic_size() -> None:
    p = plan(video(), max_parallel_chunks=4, target_chunk_frames=1000)
    assert max(c.frames for c in p.chunks) <= 1000 and len(p.chunks) % 4 == 0
    assert "targetChunkFrames 1000" in p.chunk_sizing


def test_too_many_automatic_chunks_names_the_setting_that_caused_them() -> None:
    with pytest.raises(InvalidConfigError, match="raise target_chunk_frames \\(now 1\\)") as info:
        plan(video(seconds=600), target_chunk_frames=1)
    assert "over the limit of 9999" in info.value.wire_message


def test_the_existing_chunk_count_refusal_still_holds_for_a_chosen_size() -> None:
    with pytest.raises(InvalidConfigError, match="raise chunk_size \\(now 1\\)"):
        plan(video(seconds=3600), chunk_size=1)


# --- through the wire config, and visible in plan.json ---------------------------------------


def config_plan(wire: dict[str, Any], comp: Composition) -> Plan:
    config = RenderConfig.from_json(wire)
    return plan(
        comp,
        chunk_size=config.chunk_size,
        target_chunk_frames=config.target_chunk_frames,
        max_parallel_chunks=config.max_parallel_chunks,
        instance_vcpus=4,
    )


def test_wire_chunk_size_absent_is_automatic_and_present_is_honoured() -> None:
    """chunkSize missing (or null) on the wire sizes automatically; a number is used."""
    comp = video()
    assert RenderConfig.from_json({}).chunk_size is None
    auto = config_plan({"maxParallelChunks": 20}, comp)
    assert [c.frames for c in auto.chunks] == [900] * 20
    assert config_plan({"maxParallelChunks": 20, "chunkSize": None}, comp).chunks == auto.chunks
    chosen = config_plan({"maxParallelChunks": 20, "chunkSize": 240}, comp)
    assert [c.frames for c in chosen.chunks] == [240] * 75
    body = chosen.to_json()
    assert body["chunkSizing"].startswith("chunk size: 240 frames (chunkSize 240")
    assert auto.to_json()["chunkSizing"].startswith("chunk size: auto → 900 frames")


def test_the_sizing_note_round_trips_and_is_not_hashed() -> None:
    """plan.json shows how the size was chosen; the chunks, not the note, are hashed."""
    p = plan(video(seconds=20))
    restored = Plan.from_json(p.to_json())
    assert restored.chunk_sizing == p.chunk_sizing != ""
    assert replace(p, chunk_sizing="other").compute_hash() == p.plan_hash


def test_default_instance_vcpus_is_terraforms_default_cpu() -> None:
    """The planner's default instance is the one `terraform apply` deploys."""
    variables = (ROOT / "terraform" / "variables.tf").read_text()
    block = variables[variables.index('variable "cpu"') :]
    default = re.search(r'default\s*=\s*"(\d+)"', block).group(1)  # type: ignore[union-attr]
    assert int(default) == chunksizing.DEFAULT_INSTANCE_VCPUS


def test_the_cap_is_the_timeout_of_the_workflows_chunk_call() -> None:
    """HTTP_POST_CAP_S is render.yaml's own: the render_chunk subworkflow's http.post."""
    workflow = yaml.safe_load((ROOT / "workflows" / "render.yaml").read_text())
    post = workflow["render_chunk"]["steps"][0]["post"]["try"]
    assert post["call"] == "http.post" and post["args"]["body"]["Action"] == "renderChunk"
    assert post["args"]["timeout"] == HTTP_POST_CAP_S
