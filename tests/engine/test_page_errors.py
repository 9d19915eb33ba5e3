"""A composition whose own callbacks throw mid-render fails with PAGE_SCRIPT_ERROR.

The runtime catches exceptions from timers, rAF callbacks and adapters so one bad
callback cannot stall a seek; the frame after one would be silently wrong, so
the render stops and names the error instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import framerun
from framerun_service.core.errors import PageScriptError
from tests.compositions import write_composition

THROWERS = {
    "timer": "setTimeout(() => { throw new Error('boom from a timer'); }, 500);",
    "raf": (
        "requestAnimationFrame(function tick(t) {"
        " if (t > 400) throw new Error('boom from rAF'); requestAnimationFrame(tick); });"
    ),
}


@pytest.mark.parametrize("where", sorted(THROWERS))
def test_a_callback_that_throws_mid_render_fails_the_render(tmp_path: Path, where: str) -> None:
    project = write_composition(
        tmp_path / "site", f'<div class="box"></div><script>{THROWERS[where]}</script>'
    )
    out = tmp_path / "out.mp4"
    with pytest.raises(PageScriptError, match="boom from") as caught:
        framerun.render(project, out, workers=1)
    assert "frame 1" in str(caught.value)  # 0.4–0.5 s at 30 fps: frames 12–15
    assert not out.exists()


def test_frames_before_the_throw_still_render(tmp_path: Path) -> None:
    project = write_composition(
        tmp_path / "site", f'<div class="box"></div><script>{THROWERS["timer"]}</script>'
    )
    result = framerun.render(project, tmp_path / "out.mp4", frames=(0, 10), workers=1)
    assert result.frames == 10


def test_a_frame_callback_that_never_returns_is_a_timeout_and_the_browser_survives(
    tmp_path: Path,
) -> None:
    """Playwright's evaluate has no timeout: the page deadline kills the stuck renderer."""
    from dataclasses import replace

    from framerun_service.core.errors import CompositionTimeoutError
    from framerun_service.render.browser import BrowserSession, PageSpec
    from framerun_service.render.settings import engine_settings

    stuck = write_composition(
        tmp_path / "stuck",
        "<script>requestAnimationFrame(function f(t) { if (t > 100) for (;;) {}"
        " requestAnimationFrame(f); });</script>",
    )
    fine = write_composition(tmp_path / "fine", '<div class="box"></div>')
    session = BrowserSession(replace(engine_settings(), seek_timeout_s=2.0))
    try:
        page = session.open(PageSpec(stuck, "index.html", 320, 240, 30.0, {}))
        page.seek(0)
        with pytest.raises(CompositionTimeoutError, match="did not answer"):
            page.seek(10)
        page.close()
        again = session.open(PageSpec(fine, "index.html", 320, 240, 30.0, {}))
        again.seek(5)
        assert again.capture("png")[:4] == b"\x89PNG"
        again.close()
    finally:
        session.close()
