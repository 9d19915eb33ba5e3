"""A composition whose own callbacks throw mid-render fails with PAGE_SCRIPT_ERROR.

The runtime catches exceptions from timers, rAF callbacks and adapters so one bad
callback cannot stall a seek; the frame after one would be silently wrong, so
the render stops and names the error instead.
"""

from __future__ import annotations

from pathlib import Path

import framerun
import pytest
from framerun_service.errors import PageScriptError

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
