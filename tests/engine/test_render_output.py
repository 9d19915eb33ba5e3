"""What a render must produce, checked by decoding the video."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import framerun
from tests.compositions import MOVERS, write_composition
from tests.videos import decode


def red_box_left(frame: np.ndarray, row: int = 60) -> float:
    """Left edge of the 40 px red box, from the centroid of red along one row.

    The centroid is immune to chroma blur at the edges, so it is exact to well
    under a pixel.
    """
    line = frame[row].astype(float)
    redness = np.clip(line[:, 0] - line[:, 1], 0, None)
    assert redness.sum() > 40 * 100, "red box not found on the row"
    centre = float((redness * np.arange(len(redness))).sum() / redness.sum())
    return centre - 20 + 0.5


# HyperFrames' count: a part frame is a frame (1.01 s at 30 fps is 31; 2 s at 30000/1001
# fps is 59.94 frames: 60).
@pytest.mark.parametrize(
    ("fps", "duration", "frames"),
    [("30", "1", 30), ("30000/1001", "2", 60), ("30", "1.01", 31)],
)
def test_output_has_exact_frames_timestamps_and_colour_tags(
    tmp_path: Path, out_dir: Path, fps: str, duration: str, frames: int
) -> None:
    project = write_composition(tmp_path / "p", MOVERS["css"], fps=fps, duration=duration)
    out = out_dir / "v.mp4"
    framerun.render(project, out, workers=2, chunk_size=13)
    video = decode(out)
    assert (video.codec, video.width, video.height, video.pix_fmt) == ("h264", 320, 240, "yuv420p")
    assert len(video.frames) == frames
    assert all(b > a for a, b in zip(video.pts, video.pts[1:], strict=False))
    frame_s = 1 / float(Fraction(fps))
    assert video.duration_s == pytest.approx(frames * frame_s, abs=frame_s / 2)
    assert (video.color_range, video.colorspace) == (1, 1)  # MPEG range, BT.709 matrix


def test_solid_colour_survives_capture_conversion_and_encoding(
    tmp_path: Path, out_dir: Path
) -> None:
    body = (
        '<div style="position:absolute;left:40px;top:40px;width:160px;height:120px;'
        'background:#3366cc"></div>'
    )
    project = write_composition(tmp_path / "p", body, duration="0.2")
    out = out_dir / "v.mp4"
    framerun.render(project, out, workers=1)
    for frame in decode(out).frames:
        patch = frame[70:130, 70:170].reshape(-1, 3).astype(int)
        assert np.abs(patch - (0x33, 0x66, 0xCC)).max() <= 3, patch.mean(axis=0)


@pytest.mark.parametrize("kind", sorted(MOVERS))
def test_moving_element_is_where_its_animation_says(
    tmp_path: Path, out_dir: Path, kind: str
) -> None:
    project = write_composition(tmp_path / kind, MOVERS[kind], gsap=kind.startswith("gsap"))
    out = out_dir / "v.mp4"
    framerun.render(project, out, workers=2, chunk_size=10)
    frames = decode(out).frames
    assert len(frames) == 30
    # 0 → 200 px over 1 s, linear: x = 200·t at t = frame / 30.
    for frame_index, expected_x in [(0, 0.0), (15, 100.0), (24, 160.0)]:
        assert red_box_left(frames[frame_index]) == pytest.approx(expected_x, abs=2), frame_index


def test_variables_change_the_rendered_pixels(tmp_path: Path, out_dir: Path) -> None:
    variables = [{"id": "bg", "type": "color", "label": "Background", "default": "#00ff00"}]
    body = (
        "<script>document.body.style.background = window.__hyperframes.getVariables().bg;</script>"
    )
    project = write_composition(tmp_path / "p", body, duration="0.1", variables=variables)
    default_out, custom_out = out_dir / "a.mp4", out_dir / "b.mp4"
    framerun.render(project, default_out, workers=1)
    framerun.render(project, custom_out, workers=1, variables={"bg": "#0000ff"})
    default_px = decode(default_out).frames[0][120, 160].astype(int)
    custom_px = decode(custom_out).frames[0][120, 160].astype(int)
    assert np.abs(default_px - (0, 255, 0)).max() <= 4
    assert np.abs(custom_px - (0, 0, 255)).max() <= 4


def test_root_attributes_on_html_set_the_size_fps_and_duration(
    tmp_path: Path, out_dir: Path
) -> None:
    """``<html data-composition-id data-width …>``, as some HyperFrames projects write it: the
    document's first [data-composition-id] is HyperFrames' root, and framerun's."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "index.html").write_text(
        '<!doctype html><html data-composition-id="main" data-width="192" data-height="108" '
        'data-fps="12" data-duration="0.5"><head><style>html, body { margin: 0; background: '
        "#3366cc }</style></head><body></body></html>",
        encoding="utf-8",
    )
    out = out_dir / "v.mp4"
    result = framerun.render(project, out, workers=1)
    # The engine's own clock: the first frame comes after start-up and before the end.
    assert 0 < result.first_frame_s < result.seconds
    video = decode(out)
    assert (video.width, video.height, len(video.frames)) == (192, 108, 6)
    assert video.duration_s == pytest.approx(0.5, abs=1 / 24)
    assert np.abs(video.frames[-1][54, 96].astype(int) - (0x33, 0x66, 0xCC)).max() <= 8


def test_the_summary_gives_the_time_to_the_first_frame(tmp_path: Path, out_dir: Path) -> None:
    """``rendered N frames in T s (F fps; first frame after S s)``, with 0 < S ≤ T."""
    from click.testing import CliRunner

    from framerun.cli import main

    project = write_composition(tmp_path / "p", MOVERS["css"], duration="0.3")
    result = CliRunner().invoke(main, ["render", str(project), "-o", str(out_dir / "v.mp4"), "-q"])
    assert result.exit_code == 0, result.output
    match = re.search(
        r"rendered 9 frames in ([0-9.]+)s \([0-9.]+ fps; first frame after ([0-9.]+)s\) → ",
        result.stdout,
    )
    assert match, result.stdout
    total, first = float(match[1]), float(match[2])
    assert 0 < first <= total


def test_hello_pushes_the_bar_below_a_title_that_wraps(tmp_path: Path) -> None:
    """``make demo``'s title wraps onto more lines than one; the bar must stay below it."""
    from tests.videos import png_pixels

    repo = Path(__file__).resolve().parents[2]
    title = "Hello from the cloud (locally), rendered in chunks on Cloud Run"
    out = tmp_path / "frames/"
    framerun.render(
        repo / "examples" / "hello", f"{out}/", frames=(100, 101), variables={"title": title}
    )
    (png,) = sorted(out.iterdir())
    frame = png_pixels(png.read_bytes()).astype(int)
    white = np.all(frame > 235, axis=2)  # the title's glyphs
    yellow = (frame[..., 0] > 220) & (frame[..., 1] > 170) & (frame[..., 2] < 90)  # bar, dot
    text_rows, bar_rows = np.nonzero(white.any(axis=1))[0], np.nonzero(yellow.sum(axis=1) > 600)[0]
    assert bar_rows.size and text_rows.size
    assert text_rows.max() - text_rows.min() > 200  # it did wrap: three lines of 84 px type
    assert text_rows.max() < bar_rows.min(), "the bar crosses the title"
    assert not white[:, 1200:].any(), "the title runs past the right margin"
