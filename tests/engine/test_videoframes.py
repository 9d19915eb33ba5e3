"""<video> pictures decoded by the engine and shown as posters (render/videoframes.py).

The picture for a time is the frame on screen then, whatever was asked before
(in order, backward, a jump ahead); pages whose every video is a poster are drawn
with beginFrame, and the rest keep the screenshot path; the picture a render
captures is the one the element showed when Chrome played it.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from framerun_service.render.beginframe import capture_method
from framerun_service.render.videoframes import VideoFrames, servable_videos
from tests.compositions import write_composition
from tests.libs import make_clip_module
from tests.videos import decode, psnr

FPS = 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 30 fps, one solid colour per frame; keyframes every 30 frames, so a seek
    back lands on a keyframe before the target and must decode forward from it."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    source = decode(make_clip_module().make_clip(path.with_suffix(".webm"), frames=120)).frames
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.options = {"g": "30", "crf": "10", "preset": "ultrafast"}
        cc = stream.codec_context  # BT.601 limited, as the WebM: decoded alike everywhere
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 6, 6, 6
        for index, rgb in enumerate(source):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def source(clip: Path) -> list[np.ndarray]:
    return decode(clip).frames


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("lossless", [True, False])
def test_each_time_gets_the_frame_on_screen_then_in_any_order(
    clip: Path, source: list[np.ndarray], lossless: bool
) -> None:
    frames = VideoFrames(lossless=lossless)
    # In order, backward across a keyframe, a jump ahead past the seek threshold,
    # the same frame twice, before the first frame and past the end.
    asks = [(0, 0.004), (1, 0.037), (2, 0.070), (45, 1.504), (31, 1.037), (100, 3.337)]
    asks += [(100, 3.34), (0, -1.0), (119, 9.0), (3, 0.104)]
    try:
        for index, t in asks:
            picture = _pixels(frames.picture(clip, t))
            assert psnr(picture, source[index]) >= (45 if lossless else 38), (index, t)
            others = [psnr(picture, source[i]) for i in range(len(source)) if i != index]
            assert max(others) < psnr(picture, source[index]), (index, t)
    finally:
        frames.close()
    assert frames.content_type == ("image/png" if lossless else "image/jpeg")


def test_only_videos_the_engine_can_show_are_posters(tmp_path: Path, clip: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "notes.mp4").write_text("not a video")
    assert set(servable_videos(tmp_path)) == {"/clip.mp4"}


@pytest.mark.parametrize(
    ("body", "method"),
    [
        ('<video src="clip.mp4"></video>', "beginframe"),
        ('<video src="./clip.mp4?x=1" muted></video>', "beginframe"),
        ('<video src="https://example.com/clip.mp4"></video>', "screenshot"),
        ('<video><source src="clip.mp4"></video>', "screenshot"),
        ('<video src="notes.mp4"></video>', "screenshot"),
        ("<script>document.createElement('video')</script>", "screenshot"),
    ],
)
def test_pages_with_only_poster_videos_are_drawn_with_beginframe(
    tmp_path: Path, clip: Path, body: str, method: str
) -> None:
    (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "notes.mp4").write_text("not a video")
    project = write_composition(tmp_path, body)
    assert capture_method(project, "beginframe") == method
    assert capture_method(project, "screenshot") == "screenshot"


def test_a_sub_composition_video_resolves_as_hyperframes_inlines_it(
    tmp_path: Path, clip: Path
) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "clip.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "compositions").mkdir()
    (tmp_path / "compositions" / "scene.html").write_text(
        '<template><video src="media/clip.mp4"></video></template>'
    )
    project = write_composition(tmp_path, '<div data-composition-src="compositions/scene.html">')
    assert capture_method(project, "beginframe") == "beginframe"
