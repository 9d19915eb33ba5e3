"""Library adapters (framerun_service/render/adapters/): Anime.js, Lottie, Three.js and <video>.

Each page seeks a later frame before an earlier one: seeks are absolute, so
frame N must look the same whatever the page showed before it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.compositions import write_composition
from tests.libs import (
    ANIME,
    LOTTIE,
    THREE,
    capture_frames,
    lottie_square,
    make_clip_module,
    red_box_left,
    vendor,
    write_json,
)
from tests.videos import decode, psnr

ROW_A, ROW_B = 60, 160  # the two boxes: top 40 px and top 140 px, 40 px tall


def x_at(frame: int, *, born_s: float = 0.0) -> float:
    """Left edge of a box moving 0 → 200 px over 1 s, linearly, from ``born_s``."""
    return 200 * min(max(frame / 30 - born_s, 0.0), 1.0)


def test_anime_animations_play_on_virtual_time_from_their_birth(tmp_path: Path) -> None:
    project = tmp_path / "anime"
    vendor(project, ANIME)
    body = (
        '<div class="box" id="a"></div><div class="box" id="b" style="top:140px"></div><script>'
        'anime.animate("#a", {x: 200, duration: 1000, ease: "linear"});'
        # Born at 300 ms: its clock starts then, as in a browser.
        'setTimeout(() => anime.animate("#b", {x: 200, duration: 1000, ease: "linear"}), 300);'
        "</script>"
    )
    write_composition(project, body, head='<script src="vendor/anime.umd.min.js"></script>')
    frames = capture_frames(project, [24, 6])
    for n, pixels in frames.items():
        assert red_box_left(pixels, ROW_A) == pytest.approx(x_at(n), abs=2), n
        assert red_box_left(pixels, ROW_B) == pytest.approx(x_at(n, born_s=0.3), abs=2), n


def test_lottie_animations_hold_or_loop_past_their_end(tmp_path: Path) -> None:
    project = tmp_path / "lottie"
    vendor(project, LOTTIE)
    write_json(project / "square.json", lottie_square(top=40))
    layer = 'style="position:absolute;left:0;top:0;width:320px;height:240px"'
    body = (
        f'<div id="once" {layer}></div><div id="looping" {layer}></div><script>'
        # Loaded from a file (ready() waits for it) and played once...
        'lottie.loadAnimation({container: document.getElementById("once"), renderer: "svg",'
        ' loop: false, autoplay: true, path: "square.json"});'
        # ...and inline, looping.
        'lottie.loadAnimation({container: document.getElementById("looping"), renderer: "svg",'
        f" loop: true, autoplay: true, animationData: {json.dumps(lottie_square(top=140))}}});"
        "</script>"
    )
    write_composition(project, body, head='<script src="vendor/lottie.min.js"></script>')
    frames = capture_frames(project, [24, 6, 40])
    for n in (24, 6):
        assert red_box_left(frames[n], ROW_A) == pytest.approx(x_at(n), abs=2), n
        assert red_box_left(frames[n], ROW_B) == pytest.approx(x_at(n), abs=2), n
    # 40 frames into a 30-frame animation: held on its last frame (29), or looped to frame 10.
    assert red_box_left(frames[40], ROW_A) == pytest.approx(200 * 29 / 30, abs=2)
    assert red_box_left(frames[40], ROW_B) == pytest.approx(200 * 10 / 30, abs=2)


THREE_SCENE = """
import * as THREE from "./vendor/three.module.js";
// A red 40 px square on a black 320x120 canvas, in pixel units (y down).
function scene(canvas, top) {
  const renderer = new THREE.WebGLRenderer({ canvas });
  renderer.setPixelRatio(1);
  renderer.setSize(320, 120, false);
  const camera = new THREE.OrthographicCamera(0, 320, 0, -120, -1, 1);
  const world = new THREE.Scene();
  const box = new THREE.Mesh(new THREE.PlaneGeometry(40, 40),
                             new THREE.MeshBasicMaterial({ color: 0xff0000 }));
  world.add(box);
  return (x) => { box.position.set(x + 20, -(top + 20), 0); renderer.render(world, camera); };
}
// A render loop timed by THREE.Timer (performance.now()): virtual time, no adapter needed.
const drawA = scene(document.getElementById("a"), 40);
const timer = new THREE.Timer();
requestAnimationFrame(function loop() {
  timer.update();
  drawA(200 * Math.min(timer.getElapsed(), 1));
  requestAnimationFrame(loop);
});
// HyperFrames' convention: render when told the time.
const drawB = scene(document.getElementById("b"), 20);
const renderAt = (t) => drawB(200 * Math.min(t, 1));
window.addEventListener("hf-seek", (e) => renderAt(e.detail.time));
renderAt(window.__hfThreeTime || 0);
"""


def test_three_scenes_render_on_virtual_time_and_hf_seek(tmp_path: Path) -> None:
    project = tmp_path / "three"
    vendor(project, *THREE)
    body = (
        '<canvas id="a" style="position:absolute;left:0;top:0;width:320px;height:120px"></canvas>'
        '<canvas id="b" style="position:absolute;left:0;top:120px;width:320px;height:120px">'
        f'</canvas><script type="module">{THREE_SCENE}</script>'
    )
    write_composition(project, body)
    frames = capture_frames(project, [24, 6])
    for n, pixels in frames.items():
        assert red_box_left(pixels, ROW_A) == pytest.approx(x_at(n), abs=2), n
        assert red_box_left(pixels, ROW_B) == pytest.approx(x_at(n), abs=2), n


# ---------------------------------------------------------------- <video>


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s, 30 fps VP9 WebM, one solid colour per frame (examples/video/make_clip.py)."""
    path = tmp_path_factory.mktemp("clip") / "clip.webm"
    return make_clip_module().make_clip(path, frames=60, fps=30)


@pytest.fixture(scope="module")
def source(clip: Path) -> list[np.ndarray]:
    return decode(clip).frames


def video_page(folder: Path, clip: Path, body: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "clip.webm").write_bytes(clip.read_bytes())
    style = "<style>video { position: absolute; top: 0; height: 240px; object-fit: fill; }</style>"
    return write_composition(folder, body, head=style)


def test_video_shows_source_frame_n_at_frame_n(
    tmp_path: Path, clip: Path, source: list[np.ndarray]
) -> None:
    body = '<video src="clip.webm" style="width:320px"></video>'
    project = video_page(tmp_path / "p", clip, body)
    # 2 and 5 are frames whose WebM timestamps are rounded up (67 ms, 167 ms):
    # seeking to exactly n/30 would show frame n - 1.
    order = [24, 6, 2, 29, 5, 15]
    frames = capture_frames(project, order)
    for n in order:
        assert psnr(frames[n], source[n]) >= 35, n


def test_video_timing_attributes_place_hide_and_loop_the_clip(
    tmp_path: Path, clip: Path, source: list[np.ndarray]
) -> None:
    body = (
        # Left: shown from 0.2 s for 0.5 s, starting 0.5 s into the source; and
        # preload="none", which must not stop it from loading.
        '<video src="clip.webm" preload="none" data-start="0.2" data-media-start="0.5" '
        'data-duration="0.5" style="left:0;width:160px"></video>'
        # Right: from 1.5 s into the 2 s source, looping back to 1.5 s.
        '<video src="clip.webm" loop data-media-start="1.5" style="left:160px;width:160px">'
        "</video>"
    )
    project = video_page(tmp_path / "p", clip, body)
    frames = capture_frames(project, [24, 12, 3, 9])

    def left(n: int) -> np.ndarray:
        return frames[n][:, :160]

    def right(n: int) -> np.ndarray:
        return frames[n][:, 160:]

    # Left clip: hidden before 0.2 s and after 0.7 s; t = 0.3 s shows 0.6 s, 0.4 s shows 0.7 s.
    assert left(3).max() <= 8 and left(24).max() <= 8, "clip visible outside its window"
    assert psnr(left(9), source[18][:, :160]) >= 35
    assert psnr(left(12), source[21][:, :160]) >= 35
    # Right clip: 1.5 + t, wrapping after 2 s: t = 0.4 s → 1.9 s, t = 0.8 s → 1.8 s.
    assert psnr(right(12), source[57][:, :160]) >= 35
    assert psnr(right(24), source[54][:, :160]) >= 35


def test_scripts_that_seek_a_taken_over_video_get_its_events_and_the_engine_keeps_the_picture(
    tmp_path: Path, clip: Path, source: list[np.ndarray]
) -> None:
    """The engine shows this video's pictures itself (it loses its source); a script
    that seeks it and waits for 'seeked' must not wait forever, and the picture
    stays the composition time's. The box turns green once the script saw it all."""
    body = (
        '<video id="v" src="clip.webm" style="width:320px"></video>'
        '<div id="box" style="position:absolute;left:0;top:0;width:20px;height:20px;'
        'background:red"></div><script>'
        "const v = document.getElementById('v'), box = document.getElementById('box');"
        "setTimeout(() => window.__framerun.delay(new Promise((ok) => {"
        "  v.addEventListener('seeked', ok, {once: true}); v.currentTime = 1.5; })"
        "  .then(() => { if (v.readyState >= 1 && v.currentTime === 1.5 && v.duration === 2)"
        "    box.style.background = 'lime'; })), 100);"
        "</script>"
    )
    project = video_page(tmp_path / "p", clip, body)
    frames = capture_frames(project, [3, 9])  # the script seeks during frame 3 (100 ms)
    assert tuple(frames[9][10, 10]) == (0, 255, 0), "the script's seek never settled"
    below_box = (slice(40, None), slice(None))
    assert psnr(frames[9][below_box], source[9][below_box]) >= 35


# ---------------------------------------------------------------- examples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["anime", "lottie", "three", "video"])
def test_example_renders_without_runtime_errors(name: str) -> None:
    folder = EXAMPLES / name
    needed = folder / ("clip.webm" if name == "video" else "vendor")
    if not needed.exists():
        pytest.fail(f"{needed} is missing: run scripts/vendor-js.sh (make setup runs it)")
    frames = capture_frames(folder, [45, 15], width=640, height=360)
    assert not np.array_equal(frames[45], frames[15]), f"examples/{name} does not move"
