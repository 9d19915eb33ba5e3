"""How long a frame takes to render on one instance: the measured figures, in one place.

IO-free. The planner sizes chunks with these figures (a chunk must finish well inside
Cloud Workflows' 1800 s ``http.post`` cap) and ``framerun bench --model`` predicts a
render's wall time and cost from them. Each figure names the measurement it comes from,
so a new measurement changes one number here.

A chunk draws with one page per vCPU (``FRAMERUN_CHUNK_PAGES``) and one in-order
encoder, so its frame rate scales with the vCPUs it is given; ``make bench`` measures
1.95 cores busy for one chunk on 2 cores. Cost per frame scales with the pixels drawn,
down to a floor: below about a quarter of 1080p the per-frame round trips (seek,
beginFrame, encode call) dominate, not the painting.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FULL_HD_PIXELS",
    "HEAVY",
    "TYPICAL",
    "FrameCost",
    "frame_seconds",
]

FULL_HD_PIXELS = 1920 * 1080
_SMALL_FRAME_FLOOR = 0.25  # of a 1080p frame's cost, however small the frame


@dataclass(frozen=True)
class FrameCost:
    """Frames per second one vCPU renders at 1080p, and where the figure was measured."""

    name: str
    fps_per_vcpu_1080p: float
    source: str


# make bench (fd3bde3): examples/bench, 1920×1080, one chunk on 2 pages: 13.21 fps on
# 2 cores (capture, JPEG decode and x264 included).
TYPICAL = FrameCost("typical", 13.21 / 2, "make bench, examples/bench 1080p, one chunk, 2 pages")
# make bench-peer (d5e7f07): css-motion, the slowest 1080p page of the 18 (heavy
# paint: blurs, gradients, many layers), 6.1 fps for the whole render on 2 cores.
HEAVY = FrameCost("heavy", 6.1 / 2, "make bench-peer, css-motion 1080p, whole render, 2 cores")


def frame_seconds(width: int, height: int, *, vcpus: int, cost: FrameCost = TYPICAL) -> float:
    """Wall seconds per frame for one chunk drawn on ``vcpus`` cores at ``width``×``height``."""
    if width < 1 or height < 1 or vcpus < 1:
        raise ValueError(f"width, height and vcpus must be ≥ 1, got {width}×{height}, {vcpus}")
    scale = max(width * height / FULL_HD_PIXELS, _SMALL_FRAME_FLOOR)
    return scale / (cost.fps_per_vcpu_1080p * vcpus)
