"""HyperFrames compositions render unchanged: checked on decoded pixels.

Each composition here is written fresh in HyperFrames' format (a root <div> with
data-composition-id, clips with data-start/data-duration, timelines registered in
window.__timelines, sub-compositions from files) and its expected pixels follow
HyperFrames' own rules. The same compositions rendered by the HyperFrames CLI
(v0.8.170) put every box at the same frames and pixels.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import framerun
from framerun_service.core.errors import InvalidCompositionError, VariablesInvalidError
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.composition import load_composition
from framerun_service.render.variables import parse_declarations, resolve_variables
from tests.compositions import GSAP, REPO
from tests.videos import decode

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
MAGENTA, CYAN = (255, 0, 255), (0, 255, 255)


def hf_project(
    folder: Path,
    body: str,
    *,
    root_attrs: str = 'data-duration="1.2"',
    html_attrs: str = "",
    head: str = "",
    files: dict[str, str] | None = None,
) -> Path:
    """A 320×240 HyperFrames-style project: GSAP in vendor/, the root a <div> in <body>."""
    (folder / "vendor").mkdir(parents=True, exist_ok=True)
    shutil.copy(GSAP, folder / "vendor" / "gsap.min.js")
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "index.html").write_text(
        f"""<!doctype html><html{html_attrs}><head><meta charset="utf-8">
<script src="vendor/gsap.min.js"></script><style>
#root {{ background: #000; }}
.box {{ position: absolute; width: 40px; height: 40px; }}
</style>{head}</head><body>
<div id="root" data-composition-id="main" data-width="320" data-height="240" {root_attrs}>
{body}
</div></body></html>""",
        encoding="utf-8",
    )
    return folder


def span(frame: np.ndarray, row: int, colour: tuple[int, int, int]) -> tuple[int, int] | None:
    """(first, last + 1) column of ``colour`` on ``row``, or None when it is not there."""
    distance = np.abs(frame[row].astype(int) - colour).max(axis=1)
    xs = np.nonzero(distance < 60)[0]
    return (int(xs.min()), int(xs.max()) + 1) if len(xs) >= 4 else None


def assert_at(
    frame: np.ndarray, row: int, colour: tuple[int, int, int], left: float | None
) -> None:
    """A 40 px box of ``colour`` whose left edge is at ``left`` (±2 px), or none at all."""
    found = span(frame, row, colour)
    if left is None:
        assert found is None, f"{colour} should be hidden, found at {found}"
    else:
        assert found is not None, f"{colour} should be at x={left}, found nothing"
        assert found[0] == pytest.approx(left, abs=2), found


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


def seek_frames(session: BrowserSession, project: Path, frames: list[int]) -> dict[int, np.ndarray]:
    """Seek one page to ``frames`` in the given order and capture each (lossless)."""
    page = session.open(PageSpec(project, "index.html", 320, 240, 30.0, {}))
    shots = {}
    try:
        for frame in frames:
            page.seek(frame)
            (image,) = av.CodecContext.create("png", "r").decode(av.Packet(page.capture("png")))
            shots[frame] = image.to_ndarray(format="rgb24")
    finally:
        page.close()
    return shots


# --- plan time: the root's defaults ------------------------------------------------------


def test_missing_fps_is_30_as_in_hyperframes(tmp_path: Path) -> None:
    """HyperFrames' root needs no data-fps; its CLI renders at 30 fps then."""
    comp = load_composition(hf_project(tmp_path, "", root_attrs='data-duration="2"'))
    assert (comp.width, comp.height, comp.fps, comp.total_frames) == (320, 240, 30, 60)


def test_missing_duration_is_where_the_last_clip_ends(tmp_path: Path) -> None:
    """Starts count from the enclosing composition and may name another clip's end."""
    body = """
<div id="a" data-start="0.5" data-duration="0.5"></div>
<div id="b" data-start="a + 0.3" data-duration="0.5"></div>
<div id="c" data-start="a-typo" data-duration="1"></div>
<div id="sub" data-composition-id="sub" data-start="1" data-duration="0.5">
  <div data-start="2" data-duration="9"></div>
</div>
<template><div data-start="0" data-duration="99"></div></template>"""
    comp = load_composition(hf_project(tmp_path, body, root_attrs=""))
    # b: a ends at 1.0, + 0.3 → 1.3..1.8; the clip inside #sub lives in #sub's window;
    # "a-typo" is an unknown id (no spaces), so c starts at 0.
    assert comp.duration == Fraction(9, 5)
    assert comp.total_frames == 54
    assert any("no data-duration" in w and "1.8s" in w for w in comp.warnings)


def test_missing_duration_with_a_timeline_names_the_fix(tmp_path: Path) -> None:
    """HyperFrames would take a registered timeline's length, known only to the page."""
    body = (
        '<div id="a" data-start="0" data-duration="1.5"></div>'
        '<script>window.__timelines["main"] = gsap.timeline({ paused: true });</script>'
    )
    with pytest.raises(InvalidCompositionError) as info:
        load_composition(hf_project(tmp_path, body, root_attrs=""))
    message = info.value.message
    assert 'data-duration="1.5"' in message
    assert "pass duration" in message and "pass --duration" in info.value.cli_message
    assert "window.__timelines" in message


def test_a_template_is_never_the_root_and_root_variables_count(tmp_path: Path) -> None:
    """Sub-composition <template>s are inert; declarations may sit on the root element."""
    decls = [{"id": "title", "type": "string", "label": "Title", "default": "Hi"}]
    project = hf_project(
        tmp_path,
        "",
        root_attrs=f"data-duration=\"1\" data-composition-variables='{json.dumps(decls)}'",
    )
    html = (project / "index.html").read_text()
    html = html.replace(
        "<body>", '<body><template><div data-composition-id="x" data-width="100"></div></template>'
    )
    (project / "index.html").write_text(html)
    comp = load_composition(project)
    assert (comp.width, comp.duration) == (320, 1)
    assert comp.variables == {"title": "Hi"}


def test_font_and_image_variables_are_accepted_as_in_hyperframes() -> None:
    """HyperFrames 0.8 declares font and image variables; values are strings or objects."""
    decls, warnings = parse_declarations(
        json.dumps(
            [
                {"id": "logo", "type": "image", "label": "Logo", "default": "logo.png"},
                {"id": "face", "type": "font", "label": "Font", "default": "Inter"},
            ]
        )
    )
    assert warnings == []
    values = {"logo": {"url": "https://cdn.example/l.png"}, "face": {"name": "X", "source": "x"}}
    resolved, problems = resolve_variables(decls, values, strict=True)
    assert (resolved, problems) == (values, [])
    with pytest.raises(VariablesInvalidError, match="'logo' must be image"):
        resolve_variables(decls, {"logo": {"href": "l.png"}}, strict=True)


# --- seek time ----------------------------------------------------------------------------

# Four clips on their own rows: visible only while t is in [start, start + duration).
TIMING = """
<div id="a" class="box clip" style="left:40px;top:20px;background:#f00"
     data-start="0.5" data-duration="0.5" data-track-index="0"></div>
<div id="short" class="box clip" style="left:40px;top:70px;background:#0f0"
     data-start="0.5" data-duration="0.3" data-track-index="1"></div>
<div id="next" class="box clip" style="left:120px;top:120px;background:#00f"
     data-start="short" data-duration="0.2" data-track-index="2"></div>
<div id="later" class="box clip" style="left:180px;top:170px;background:#ff0"
     data-start="short + 0.1" data-duration="0.2" data-track-index="3"></div>
<div id="flow0" class="clip" style="width:40px;height:20px;background:#0ff"
     data-start="0" data-duration="1.2"></div>
<div id="flow1" class="clip" style="width:40px;height:20px;margin-left:260px;background:#f0f"
     data-start="0" data-duration="1.2"></div>
"""


def test_clips_show_only_in_their_window_and_references_follow_clip_ends(
    tmp_path: Path, out_dir: Path
) -> None:
    """Small chunks: most frames are the first seek of a fresh page."""
    project = hf_project(tmp_path / "timing", TIMING)
    out = out_dir / "v.mp4"
    framerun.render(project, out, workers=2, chunk_size=7)
    frames = decode(out).frames
    assert len(frames) == 36  # 1.2 s at the default 30 fps
    expected = {  # frame: left edge of (red a, green short, blue next, yellow later)
        6: (None, None, None, None),
        18: (40, 40, None, None),
        24: (40, None, 120, None),
        27: (40, None, 120, 180),  # a = [0.5, 1.0) still shows at 0.9 s; short ended at 0.8 s
        30: (None, None, None, 180),  # next = [0.8, 1.0): gone at 1.0 s
        33: (None, None, None, None),  # later = [0.9, 1.1)
    }
    for index, (a, short, nxt, later) in expected.items():
        frame = frames[index]
        assert_at(frame, 40, RED, a)
        assert_at(frame, 90, GREEN, short)
        assert_at(frame, 140, BLUE, nxt)
        assert_at(frame, 190, YELLOW, later)
    # Timed children of the root stack at its top-left instead of flowing down the page.
    for index in (6, 33):
        assert_at(frames[index], 10, CYAN, 0)
        assert_at(frames[index], 10, MAGENTA, 260)


SCENE = """<!doctype html><html><body><template id="scene-template">
<div id="root" data-composition-id="scene" data-width="320" data-height="240">
  <style>
    #root { background: transparent; }
    .sq { position: absolute; left: 0; top: 100px; width: 40px; height: 40px; background: #f0f; }
  </style>
  <div class="sq"></div>
  <script>
    const tl = gsap.timeline({ paused: true });
    tl.to(".sq", { x: 100, duration: 0.5, ease: "none" });
    window.__timelines["scene"] = tl;
  </script>
</div></template></body></html>"""

NESTED = """
<div id="sub" data-composition-id="sub" data-start="0.4" data-duration="0.6">
  <div id="mover" class="box" style="left:0;top:20px;background:#ff0"></div>
  <script>
    const stl = gsap.timeline({ paused: true });
    stl.to("#mover", { x: 200, duration: 0.8, ease: "none" });
    window.__timelines["sub"] = stl;
  </script>
</div>
<div id="scene" data-composition-id="scene" data-composition-src="scenes/scene.html"
     data-start="sub" data-duration="0.5"></div>
<div class="sq" style="position:absolute;left:200px;top:180px;width:40px;height:40px;
     background:#0ff"></div>
<script>window.__timelines["main"] = gsap.timeline({ paused: true });</script>
"""

# frame: left edge of the inline composition's mover (starts at 0.4 s, 200 px per 0.8 s,
# shown until 1.0 s) and of the sub-composition's square (starts when #sub ends, 1.0 s).
NESTED_EXPECTED = {6: (None, None), 18: (50, None), 27: (125, None), 33: (None, 20), 42: (None, 80)}


def check_nested(frame: np.ndarray, index: int) -> None:
    mover, square = NESTED_EXPECTED[index]
    assert_at(frame, 40, YELLOW, mover)
    assert_at(frame, 120, MAGENTA, square)
    # The scene's .sq rule is scoped to the scene: the page's own .sq keeps its colour.
    assert_at(frame, 200, CYAN, 200)


def test_nested_timelines_run_from_their_host_start_in_any_seek_order(
    tmp_path: Path, session: BrowserSession
) -> None:
    """One page, seeking backward and then forward again."""
    project = hf_project(
        tmp_path / "nested", NESTED, root_attrs='data-duration="1.5"',
        files={"scenes/scene.html": SCENE},
    )  # fmt: skip
    order = [42, 27, 6, 33, 18]
    shots = seek_frames(session, project, order)
    for index in order:
        check_nested(shots[index], index)


def test_nested_timelines_render_across_chunks(tmp_path: Path, out_dir: Path) -> None:
    project = hf_project(
        tmp_path / "nested", NESTED, root_attrs='data-duration="1.5"',
        files={"scenes/scene.html": SCENE},
    )  # fmt: skip
    out = out_dir / "v.mp4"
    framerun.render(project, out, workers=2, chunk_size=20)
    frames = decode(out).frames
    for index in (18, 33):
        check_nested(frames[index], index)


VARIABLES = [
    {"id": "accent", "type": "color", "label": "Accent", "default": "#ff0000"},
    {"id": "title", "type": "string", "label": "Title", "default": "Hello"},
]
PANEL = """<!doctype html><html data-composition-variables='[
  {"id": "tint", "type": "color", "label": "Tint", "default": "#ff0000"}]'>
<body><template id="panel-template">
<div id="root" data-composition-id="panel" data-width="320" data-height="240">
  <div class="tinted" style="position:absolute;left:200px;top:140px;width:40px;height:40px"></div>
  <script>
    document.querySelector(".tinted").style.background = window.__hyperframes.getVariables().tint;
  </script>
</div></template></body></html>"""
VARIABLE_BODY = """
<div id="by-api" class="box" style="left:20px;top:20px"></div>
<div id="by-css" class="box" style="left:20px;top:80px;background:var(--accent)"></div>
<div id="panel" data-composition-id="panel" data-composition-src="panel.html"
     data-start="0" data-duration="0.2" data-variable-values='{"tint": "#00ff00"}'></div>
<script>
  const { accent } = window.__hyperframes.getVariables();
  document.getElementById("by-api").style.background = accent;
</script>
"""


def test_variables_reach_scripts_css_and_sub_compositions(tmp_path: Path, out_dir: Path) -> None:
    """getVariables(), var(--id) and a host's data-variable-values all follow the values."""
    project = hf_project(
        tmp_path / "vars", VARIABLE_BODY, root_attrs='data-duration="0.2"',
        html_attrs=f" data-composition-variables='{json.dumps(VARIABLES)}'",
        files={"panel.html": PANEL},
    )  # fmt: skip
    default_out, custom_out = out_dir / "a.mp4", out_dir / "b.mp4"
    framerun.render(project, default_out, workers=1)
    framerun.render(project, custom_out, workers=1, variables={"accent": "#0000ff"})
    for out, accent in ((default_out, RED), (custom_out, BLUE)):
        for index in (0, 5):
            frame = decode(out).frames[index]
            assert_at(frame, 40, accent, 20)  # window.__hyperframes.getVariables()
            assert_at(frame, 100, accent, 20)  # --accent on the composition root
            assert_at(frame, 160, GREEN, 200)  # the panel's own value, not the render's


# --- the examples -------------------------------------------------------------------------


def example(tmp_path: Path, name: str) -> Path:
    """A copy of examples/<name> with GSAP vendored, as scripts/vendor-js.sh would."""
    project = tmp_path / name
    shutil.copytree(REPO / "examples" / name, project, ignore=shutil.ignore_patterns("vendor"))
    (project / "vendor").mkdir()
    shutil.copy(GSAP, project / "vendor" / "gsap.min.js")
    return project


def test_example_hf_titles(tmp_path: Path, out_dir: Path) -> None:
    out = out_dir / "titles.mp4"
    framerun.render(example(tmp_path, "hf-titles"), out, workers=2)
    frames = decode(out).frames
    assert len(frames) == 90
    amber = (255, 204, 0)
    # The bar moves 400 px between 0.5 s and 1.5 s; the badge starts at 2.2 s.
    assert span(frames[30], 208, amber) == pytest.approx((260, 380), abs=2)
    assert span(frames[60], 208, amber) == pytest.approx((460, 580), abs=2)
    assert span(frames[60], 284, amber) is None
    assert span(frames[75], 284, amber) == pytest.approx((60, 108), abs=2)


def test_example_hf_scenes(tmp_path: Path, out_dir: Path) -> None:
    out = out_dir / "scenes.mp4"
    framerun.render(example(tmp_path, "hf-scenes"), out, workers=2)
    frames = decode(out).frames
    assert len(frames) == 90
    red, green = (255, 51, 85), (51, 204, 102)
    # Each scene's square moves 300 px in its first second, from its own start.
    assert span(frames[15], 180, red) == pytest.approx((190, 250), abs=2)
    assert span(frames[15], 180, green) is None
    assert span(frames[60], 180, red) is None
    assert span(frames[60], 180, green) == pytest.approx((190, 250), abs=2)
    # The root's progress bar: 640 px over 3 s.
    assert span(frames[15], 355, (255, 255, 255)) == pytest.approx((0, 107), abs=2)
    assert span(frames[60], 355, (255, 255, 255)) == pytest.approx((0, 427), abs=2)
