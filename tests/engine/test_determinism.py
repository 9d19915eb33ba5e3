"""Frame N is the same pixels whoever renders it, whatever it rendered before."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

import framerun
from framerun_service.render.browser import BrowserSession, PageSpec
from tests.compositions import MOVERS, write_composition
from tests.videos import decode

# CSS, GSAP and a canvas that draws Math.random() noise on virtual time: every
# source of history-dependence the runtime must neutralise.
MIXED = (
    MOVERS["css"] + '<div id="g" style="position:absolute;left:0;top:120px;width:30px;height:30px;'
    'background:#00ff00"></div><canvas id="n" width="120" height="60" '
    'style="position:absolute;left:180px;top:160px"></canvas><script>'
    'gsap.to("#g", {x: 250, rotation: 90, duration: 2, ease: "power1.inOut"});'
    "const nctx = document.getElementById('n').getContext('2d');"
    "requestAnimationFrame(function noise(ts) { nctx.clearRect(0, 0, 120, 60);"
    "  for (let i = 0; i < 40; i++) { nctx.fillStyle = `hsl(${Math.random() * 360},80%,50%)`;"
    "    nctx.fillRect(Math.random() * 120, Math.random() * 60, 8, 8); }"
    "  nctx.fillStyle = '#fff'; nctx.fillText((ts / 1000).toFixed(3), 4, 12);"
    "  requestAnimationFrame(noise); });</script>"
)


def _png_pixels(png: bytes) -> bytes:
    """Decoded RGBA pixels: Chrome's PNG encoder may compress equal pixels differently."""
    (frame,) = av.CodecContext.create("png", "r").decode(av.Packet(png))
    return frame.to_ndarray(format="rgba").tobytes()


def _png_frames(project: Path, frames: range) -> dict[int, bytes]:
    session = BrowserSession()
    try:
        page = session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}))
        try:
            out = {}
            for frame in frames:
                page.seek(frame)
                out[frame] = _png_pixels(page.capture("png"))
            return out
        finally:
            page.close()
    finally:
        session.close()


def test_frames_rendered_alone_match_the_same_frames_in_a_full_render(tmp_path: Path) -> None:
    project = write_composition(tmp_path / "p", MIXED, duration="2", gsap=True)
    full = _png_frames(project, range(0, 40))
    alone = _png_frames(project, range(27, 33))
    for frame, png in alone.items():
        assert png == full[frame], f"frame {frame} differs when rendered alone"  # bit-exact
    assert len({full[f] for f in range(27, 33)}) == 6, "frames should differ from each other"


def test_one_and_two_workers_decode_to_identical_frames(tmp_path: Path, out_dir: Path) -> None:
    project = write_composition(tmp_path / "p", MIXED, duration="2", gsap=True)
    one, two = out_dir / "one.mp4", out_dir / "two.mp4"
    framerun.render(project, one, workers=1, chunk_size=20)
    framerun.render(project, two, workers=2, chunk_size=20)
    a, b = decode(one), decode(two)
    assert len(a.frames) == len(b.frames) == 60
    assert a.pts == b.pts
    for i, (x, y) in enumerate(zip(a.frames, b.frames, strict=True)):
        assert np.array_equal(x, y), f"frame {i} differs between 1 and 2 workers"
