"""Frame reuse (beginframe.py): a frame is reused only when nothing on screen changed.

The composition changes in every way a page can without a timeline: a CSS animation,
a timer that rewrites text, one pixel lit for a single frame, a canvas drawn from
animation frames at two frames only, and holds in between. Each frame drawn with
reuse must equal the same frame drawn fresh; a capture that ignores the browser's
damage report must not (else this test could not see reuse go wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from framerun_service.render.beginframe import BeginFrameCapture
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.composition import load_composition
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.local import render_local
from tests.compositions import write_composition
from tests.videos import decode, png_pixels, psnr

FRAMES = 90
# Frames that differ from the one before: the box moves (16–30), the word changes
# (45), the pixel lights (60) and goes out (61), the canvas is drawn (70, 71).
CHANGES = {*range(16, 31), 45, 60, 61, 70, 71}
BODY = """
<style>
  body { margin: 0; background: #203040; }
  #box { position: absolute; left: 10px; top: 10px; width: 40px; height: 40px;
         background: #e44; animation: move 0.5s linear 0.5s 1 both; }
  @keyframes move { from { transform: translateX(0); } to { transform: translateX(200px); } }
  #word { position: absolute; left: 20px; top: 120px; font: 20px sans-serif; color: #fff; }
  #pixel { position: absolute; left: 300px; top: 200px; width: 1px; height: 1px;
           background: #203040; }
  canvas { position: absolute; left: 200px; top: 150px; }
</style>
<div id="box"></div><div id="word">A</div><div id="pixel"></div>
<canvas id="c" width="60" height="40"></canvas>
<script>
  const pixel = document.getElementById("pixel");
  setTimeout(() => { document.getElementById("word").textContent = "B"; }, 1500);
  setTimeout(() => { pixel.style.background = "#ff0"; }, 2000);  // frame 60 only
  setTimeout(() => { pixel.style.background = "#203040"; }, 2020);
  const ctx = document.getElementById("c").getContext("2d");
  function draw(ms) {
    const frame = Math.round(ms * 30 / 1000);
    if (frame === 70 || frame === 71) {
      ctx.fillStyle = frame === 70 ? "#0f0" : "#00f";
      ctx.fillRect(frame === 70 ? 0 : 30, 0, 30, 40);
    }
    requestAnimationFrame(draw);
  }
  requestAnimationFrame(draw);
</script>
"""


class BlindCapture(BeginFrameCapture):
    """Reuse gone wrong: every probe is told nothing changed."""

    def _begin(self, params: dict[str, Any]) -> dict[str, Any]:
        reply = super()._begin(params)
        return reply if "screenshot" in params else {**reply, "hasDamage": False}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composition(tmp_path_factory.mktemp("reuse") / "p", BODY, duration="3")


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


def _draw(
    session: BrowserSession, project: Path, capture: Callable[..., BeginFrameCapture]
) -> tuple[list[np.ndarray], BeginFrameCapture]:
    page = session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}, begin_frame=True))
    try:
        page.frames = capture(page.page.send, 30.0)
        frames = []
        for frame in range(FRAMES):
            page.seek(frame)
            frames.append(png_pixels(page.capture("png")))
        return frames, page.frames
    finally:
        page.close()


@pytest.fixture(scope="module")
def fresh(session: BrowserSession, project: Path) -> list[np.ndarray]:
    frames, _ = _draw(session, project, lambda send, fps: BeginFrameCapture(send, fps, reuse=False))
    changed = {n for n in range(1, FRAMES) if not np.array_equal(frames[n], frames[n - 1])}
    assert changed == CHANGES, "the composition does not change where this test expects"
    return frames


def test_reused_frames_equal_frames_drawn_fresh(
    session: BrowserSession, project: Path, fresh: list[np.ndarray]
) -> None:
    frames, capture = _draw(session, project, BeginFrameCapture)
    wrong = [n for n in range(FRAMES) if not np.array_equal(frames[n], fresh[n])]
    assert wrong == [], f"frames {wrong} differ from the same frames drawn fresh"
    # Most of the 90 frames are holds: reuse must actually happen.
    assert capture.reused >= 45, f"only {capture.reused} frames reused"
    assert capture.reused + capture.drawn == FRAMES


def test_the_check_sees_a_capture_that_ignores_changes(
    session: BrowserSession, project: Path, fresh: list[np.ndarray]
) -> None:
    frames, _ = _draw(session, project, BlindCapture)
    wrong = {n for n in range(FRAMES) if not np.array_equal(frames[n], fresh[n])}
    assert wrong, "a capture that ignores every change went unnoticed"
    assert {60, 70} <= wrong


@pytest.mark.parametrize("fmt", ["png-sequence", "mp4"])
def test_a_render_with_holds_encodes_every_frame(
    tmp_path: Path, project: Path, fresh: list[np.ndarray], fmt: str
) -> None:
    """Reused frames go through the encoders' repeat path, in chunks of any start."""
    comp = load_composition(project)
    settings = encoder_settings(fps=Fraction(30), format=fmt, quality="high")
    out = tmp_path / ("frames" if fmt == "png-sequence" else "out.mp4")
    render_local(comp, settings, out, workers=2, chunk_size=40)
    if fmt == "png-sequence":
        frames = [png_pixels(p.read_bytes()) for p in sorted(out.glob("*.png"))]
        assert len(frames) == FRAMES
        wrong = [n for n in range(FRAMES) if not np.array_equal(frames[n], fresh[n])]
        assert wrong == [], f"frames {wrong} differ from the same frames drawn fresh"
    else:
        video = decode(out)
        assert len(video.frames) == FRAMES
        worst = min(range(FRAMES), key=lambda n: psnr(video.frames[n], fresh[n]))
        assert psnr(video.frames[worst], fresh[worst]) >= 40, f"frame {worst}"


def test_a_held_frame_asked_for_in_another_format_is_drawn_again(
    session: BrowserSession, project: Path
) -> None:
    """Reuse stands in the previous picture's bytes: only bytes of the format and
    quality asked for may stand in (frame 0 is a hold: nothing moves until 16)."""
    page = session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}, begin_frame=True))
    try:
        page.seek(0)
        assert page.capture("png").startswith(b"\x89PNG")
        page.seek(0)
        jpeg = page.capture("jpeg", jpeg_quality=80)
        assert jpeg.startswith(b"\xff\xd8"), "a PNG came back for a JPEG"
        page.seek(0)
        assert page.capture("jpeg", jpeg_quality=95) != jpeg, "quality 80's bytes for 95"
        page.seek(1)
        assert page.capture("jpeg", jpeg_quality=95).startswith(b"\xff\xd8")
        assert page.frames is not None and page.frames.reused == 1  # frame 1: same as 0
    finally:
        page.close()
