"""WebM (VP9) through the same plan → chunk → assemble path as MP4."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import framerun
from tests.compositions import MOVERS, write_composition
from tests.engine.test_render_output import red_box_left
from tests.videos import decode, min_psnr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composition(tmp_path_factory.mktemp("webm"), MOVERS["css"], duration="1")


def test_webm_output_is_vp9_with_exact_frames_and_positions(project: Path, out_dir: Path) -> None:
    out = out_dir / "v.webm"
    framerun.render(project, out, chunk_size=10, workers=2)
    video = decode(out)
    assert (video.codec, video.width, video.height, video.pix_fmt) == ("vp9", 320, 240, "yuv420p")
    assert len(video.frames) == 30
    assert all(b > a for a, b in zip(video.pts, video.pts[1:], strict=False))
    assert (video.color_range, video.colorspace) == (1, 1)
    assert red_box_left(video.frames[15]) == pytest.approx(100.0, abs=2)


@pytest.mark.parametrize("chunk_size", [7, 13])
def test_webm_chunkings_match_a_single_chunk(project: Path, out_dir: Path, chunk_size: int) -> None:
    whole, chunked = out_dir / "whole.webm", out_dir / f"c{chunk_size}.webm"
    framerun.render(project, whole, chunk_size=1000, quality="high", workers=1)
    framerun.render(project, chunked, chunk_size=chunk_size, quality="high", workers=2)
    a, b = decode(whole), decode(chunked)
    assert len(a.frames) == len(b.frames) == 30
    assert min_psnr(a.frames, b.frames) >= 40.0


def test_format_must_match_the_output_name(project: Path, out_dir: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "framerun.cli",
            "render",
            str(project),
            "-o",
            str(out_dir / "v.mp4"),
            "--format",
            "webm",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip().endswith("[INVALID_CONFIG]") and "--format webm" in run.stderr
    assert list(out_dir.iterdir()) == []
