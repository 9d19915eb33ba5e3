"""Chunked renders assemble into the same video as a single-chunk render."""

from __future__ import annotations

from pathlib import Path

import pytest

import framerun
from framerun_service.core.errors import ChunkMismatchError
from framerun_service.render.assemble import assemble
from framerun_service.render.browser import BrowserSession
from framerun_service.render.chunk import chunk_tag, render_chunk
from framerun_service.render.composition import load_composition
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.plan import make_plan
from tests.compositions import MOVERS, write_composition
from tests.videos import decode, min_psnr

FRAMES = 60


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = MOVERS["css"] + MOVERS["gsap"].replace('id="b"', 'id="b" style="top:120px"')
    return write_composition(tmp_path_factory.mktemp("chunking"), body, duration="2", gsap=True)


@pytest.fixture(scope="module")
def single_chunk(project: Path, tmp_path_factory: pytest.TempPathFactory) -> list:
    out = tmp_path_factory.mktemp("ref") / "ref.mp4"
    framerun.render(project, out, quality="high", chunk_size=10_000, workers=1)
    return decode(out).frames


@pytest.mark.parametrize("chunk_size", [1, 7, 30, 10_000])
def test_any_chunk_size_matches_a_single_chunk_render(
    project: Path, single_chunk: list, out_dir: Path, chunk_size: int
) -> None:
    out = out_dir / f"c{chunk_size}.mp4"
    framerun.render(project, out, quality="high", chunk_size=chunk_size, workers=2)
    video = decode(out)
    assert len(video.frames) == FRAMES
    assert all(b > a for a, b in zip(video.pts, video.pts[1:], strict=False))
    assert video.pts[0] == 0
    assert min_psnr(video.frames, single_chunk) >= 45.0


@pytest.mark.parametrize(
    ("crfs", "site_hashes", "reason"),
    [
        ((18, 30), ("s", "s"), "different settings"),  # SPS/PPS differ
        ((18, 18), ("s", "t"), "different plan"),  # same SPS/PPS, another plan's tag
    ],
)
def test_assemble_refuses_chunks_from_a_different_plan(
    project: Path, tmp_path: Path, crfs: tuple[int, int], site_hashes: tuple[str, str], reason: str
) -> None:
    comp = load_composition(project)
    plans = [
        make_plan(
            comp,
            encoder_settings(fps=comp.fps, crf=crf),
            site_hash=site,
            browser_version="b",
            chunk_size=30,
        )
        for crf, site in zip(crfs, site_hashes, strict=True)
    ]
    session = BrowserSession()
    try:
        first = render_chunk(session, plans[0], plans[0].chunks[0], project, tmp_path / "0.mp4")
        second = render_chunk(session, plans[1], plans[1].chunks[1], project, tmp_path / "1.mp4")
    finally:
        session.close()
    out = tmp_path / "out.mp4"
    with pytest.raises(ChunkMismatchError, match=reason):
        assemble(
            [first.path, second.path], out, fps=comp.fps, plan_tag=chunk_tag(plans[0].plan_hash)
        )
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
