"""A chunk drawn by several pages at once is the chunk one page draws, byte for byte.

Pages draw interleaved frames and live through the ones between without drawing, so
state kept across animation frames (a counter bumped on every rAF tick) and timers
must come out as in one continuous page; one encoder takes the frames in order.
"""

from __future__ import annotations

import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from framerun_service.core.errors import CompositionTimeoutError, PageScriptError
from framerun_service.render.browser import BrowserSession
from framerun_service.render.chunk import ChunkCancelledError, render_chunk
from framerun_service.render.composition import load_composition
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.local import plan_local
from framerun_service.render.pagepool import PageThreads
from framerun_service.render.plan import Plan
from framerun_service.render.settings import engine_settings
from tests.compositions import MOVERS, write_composition
from tests.videos import decode, png_pixels

# A box that moves one step per animation frame (state across ticks), a timer that
# changes the text at 0.5 s, and a hold at the end (reused frames).
STATEFUL = """
<div id="tick" style="position:absolute;top:150px;width:20px;height:20px;background:#0cf"></div>
<div id="word" style="position:absolute;top:200px;left:20px;color:#fff">one</div>
<script>
  let ticks = 0;
  const tick = document.getElementById("tick");
  function step() {
    ticks++;
    if (ticks < 40) tick.style.left = (ticks * 5) + "px";
    requestAnimationFrame(step);
  }
  requestAnimationFrame(step);
  setTimeout(() => { document.getElementById("word").textContent = "two"; }, 500);
</script>
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = MOVERS["css"] + STATEFUL
    return write_composition(tmp_path_factory.mktemp("pages"), body, duration="2")


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


@pytest.fixture(scope="module")
def pages() -> Iterator[PageThreads]:
    threads = PageThreads(2)
    yield threads
    threads.close()


@pytest.mark.parametrize("fmt", ["mp4", "png-sequence"])
def test_three_pages_draw_the_chunk_one_page_draws(
    project: Path, session: BrowserSession, pages: PageThreads, tmp_path: Path, fmt: str
) -> None:
    comp = load_composition(project)
    plan = plan_local(comp, encoder_settings(fps=Fraction(30), format=fmt), chunk_size=10_000)
    chunk = plan.chunks[0]
    ext = plan.encoder.extension
    one = render_chunk(session, plan, chunk, project, tmp_path / f"one.{ext}")
    three = render_chunk(
        session, plan, chunk, project, tmp_path / f"three.{ext}", extra_pages=pages
    )
    assert one.frames == three.frames == 60
    assert one.reused > 0  # the held end is reused by one page as by three
    if fmt == "mp4":
        assert one.path.read_bytes() == three.path.read_bytes()
        assert len(decode(three.path, keep_frames=False).pts) == 60
    else:  # PNG bytes are not deterministic, their pixels are: compare decoded frames

        def pictures(path: Path) -> list[np.ndarray]:
            with tarfile.open(path) as tar:
                files = [tar.extractfile(m) for m in tar.getmembers() if m.isfile()]
                return [png_pixels(f.read()) for f in files if f is not None]

        a, b = pictures(one.path), pictures(three.path)
        assert len(a) == len(b) == 60
        assert all((x == y).all() for x, y in zip(a, b, strict=True))


def _misbehaving(tmp_path: Path, after_1s: str) -> tuple[Path, Plan]:
    """A 2 s page whose animation frames run ``after_1s`` from 1 s on, planned as one chunk."""
    project = write_composition(
        tmp_path / "p",
        "<script>requestAnimationFrame(function f(ms) {"
        f" if (ms > 1000) {after_1s} requestAnimationFrame(f); }});</script>",
        duration="2",
    )
    plan = plan_local(
        load_composition(project), encoder_settings(fps=Fraction(30)), chunk_size=10_000
    )
    return project, plan


def _assert_nothing_left_and_next_chunk_renders(
    tmp_path: Path, session: BrowserSession, pages: PageThreads
) -> None:
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".*partial")) == []
    ok = write_composition(tmp_path / "ok", MOVERS["css"], duration="0.5")
    plan = plan_local(load_composition(ok), encoder_settings(fps=Fraction(30)), chunk_size=10_000)
    out = tmp_path / "ok.mp4"
    assert render_chunk(session, plan, plan.chunks[0], ok, out, extra_pages=pages).frames == 15


def test_a_failing_page_fails_the_chunk_and_leaves_nothing(
    tmp_path: Path, session: BrowserSession, pages: PageThreads
) -> None:
    project, plan = _misbehaving(tmp_path, "throw new Error('boom at ' + ms);")
    with pytest.raises(PageScriptError, match="boom"):
        render_chunk(
            session, plan, plan.chunks[0], project, tmp_path / "out.mp4", extra_pages=pages
        )
    # The threads' browsers still work for the next chunk.
    _assert_nothing_left_and_next_chunk_renders(tmp_path, session, pages)


def test_a_page_stuck_in_a_loop_fails_the_chunk_as_a_timeout(
    tmp_path: Path, session: BrowserSession
) -> None:
    """Every page's call is watched by its own deadline. The extra page's (2 s) fires
    first and kills every renderer, so the first page fails as crashed: the chunk still
    reports COMPOSITION_TIMEOUT, leaves nothing, and the next chunk renders."""
    project, plan = _misbehaving(tmp_path, "for (;;) {}")
    pages = PageThreads(1, replace(engine_settings(), seek_timeout_s=2.0))
    try:
        with pytest.raises(CompositionTimeoutError, match="did not answer"):
            render_chunk(
                session, plan, plan.chunks[0], project, tmp_path / "out.mp4", extra_pages=pages
            )
        _assert_nothing_left_and_next_chunk_renders(tmp_path, session, pages)
    finally:
        pages.close()


def test_a_cancelled_chunk_stops_and_leaves_nothing(
    tmp_path: Path, project: Path, session: BrowserSession, pages: PageThreads
) -> None:
    """An in-process render cancels its other chunks when one fails or the user
    interrupts it (local.py): they stop at their next frame and write nothing."""
    plan = plan_local(load_composition(project), encoder_settings(fps=Fraction(30)))
    cancel = threading.Event()
    seen: list[int] = []

    def on_frames(n: int) -> None:
        seen.append(n)
        if len(seen) == 5:
            cancel.set()

    with pytest.raises(ChunkCancelledError):
        render_chunk(
            session,
            plan,
            plan.chunks[0],
            project,
            tmp_path / "out.mp4",
            on_frames=on_frames,
            extra_pages=pages,
            cancel=cancel,
        )
    assert len(seen) < plan.chunks[0].frames
    assert list(tmp_path.iterdir()) == []
