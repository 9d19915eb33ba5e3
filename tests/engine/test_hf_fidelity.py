"""HyperFrames fidelity: each cause found on HyperFrames' own regression fixtures, on this
project's small compositions (``make compat`` measures the fixtures themselves).

1. Fonts: HyperFrames draws Arial with Inter's files, a generic first family as Inter, …
2. Sub-composition CSS keyed on the file's own root id when the host names another id.
3. Continuous time: frame N must not depend on where a chunk starts, even for scripts
   that keep state across ticks (a d3-style timer, anime.js v4 timelines).
4. Alpha: the page's html/body background is dropped in transparent output.
5. Sound of <audio> inside a sub-composition is mixed.
"""

from __future__ import annotations

import shutil
import time
import wave
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import framerun
from framerun_service.render.browser import BrowserSession, PageSpec
from tests.compositions import write_composition
from tests.libs import ANIME, vendor

REPO = Path(__file__).resolve().parents[2]
FONTSOURCE = REPO / "node_modules" / "@fontsource"


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    session = BrowserSession()
    yield session
    session.close()


def shot(session: BrowserSession, project: Path, frame: int = 0, size=(320, 120)) -> np.ndarray:
    """Frame ``frame`` of ``project``, captured losslessly (RGB)."""
    page = session.open(PageSpec(project, "index.html", size[0], size[1], 30.0, {}))
    try:
        page.seek(frame)
        (image,) = av.CodecContext.create("png", "r").decode(av.Packet(page.capture("png")))
        return image.to_ndarray(format="rgb24")
    finally:
        page.close()


# ---- 1. fonts ------------------------------------------------------------------------------

TEXT = (
    '<p style="position:absolute;left:8px;top:10px;margin:0;font-size:36px;color:#fff;'
    '{style}">Hamburgefonts 0123</p>'
)


def text_page(folder: Path, style: str, head: str = "") -> Path:
    return write_composition(
        folder, TEXT.format(style=style), width=320, height=120, duration="1", head=head
    )


def reference_page(folder: Path, family_key: str, weight: str = "400") -> Path:
    """The same text in a face the page declares itself: the npm file HyperFrames embeds."""
    name = f"{family_key}-latin-{weight}-normal.woff2"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FONTSOURCE / family_key / "files" / name, folder / name)
    face = (
        f'<style>@font-face {{ font-family: "Reference"; src: url("{name}") format("woff2");'
        f" font-weight: {weight}; font-style: normal; font-display: block; }}</style>"
    )
    return text_page(folder, f"font-family: Reference; font-weight: {weight}", head=face)


@pytest.mark.parametrize(
    ("style", "family_key"),
    [
        ("font-family: Arial", "inter"),
        ("font-family: 'Helvetica Neue', Helvetica, sans-serif", "inter"),
        ("font-family: sans-serif", "inter"),  # a generic first family becomes Inter
        ("font-family: system-ui, -apple-system, sans-serif", "inter"),
        ("font-family: monospace", "inter"),  # even monospace: Inter goes first
        ("font-family: Futura, sans-serif", "montserrat"),
        ("font-family: 'Arial Black'", "montserrat"),
        ("font-family: Georgia, serif", "eb-garamond"),
        ("font-family: Menlo, monospace", "jetbrains-mono"),
        ("font-family: var(--brand, sans-serif)", "inter"),  # --brand is defined nowhere
    ],
)
def test_families_draw_with_hyperframes_bundled_faces(
    tmp_path: Path, session: BrowserSession, style: str, family_key: str
) -> None:
    drawn = shot(session, text_page(tmp_path / "page", style))
    expected = shot(session, reference_page(tmp_path / "reference", family_key))
    assert np.array_equal(drawn, expected)


def test_a_bold_alias_gets_the_bundled_bold_face(tmp_path: Path, session: BrowserSession) -> None:
    drawn = shot(session, text_page(tmp_path / "page", "font-family: Arial; font-weight: 700"))
    expected = shot(session, reference_page(tmp_path / "reference", "inter", "700"))
    assert np.array_equal(drawn, expected)


def test_a_family_the_page_declares_keeps_its_own_face(
    tmp_path: Path, session: BrowserSession
) -> None:
    """@font-face "Arial" in the page wins over the alias (HyperFrames skips it)."""
    mono = FONTSOURCE / "jetbrains-mono" / "files" / "jetbrains-mono-latin-400-normal.woff2"
    page = tmp_path / "page"
    page.mkdir()
    shutil.copy(mono, page / "mono.woff2")
    head = '<style>@font-face { font-family: "Arial"; src: url("mono.woff2"); }</style>'
    drawn = shot(session, text_page(page, "font-family: Arial", head=head))
    aliased = shot(session, reference_page(tmp_path / "inter", "inter"))
    own = shot(session, reference_page(tmp_path / "mono", "jetbrains-mono"))
    assert np.array_equal(drawn, own)
    assert not np.array_equal(drawn, aliased)


def test_an_unknown_family_falls_back_as_in_the_browser(
    tmp_path: Path, session: BrowserSession
) -> None:
    """Not in the alias table, not declared: no face is injected (HyperFrames would look
    it up on Google Fonts, which a hermetic render does not)."""
    drawn = shot(session, text_page(tmp_path / "page", "font-family: NoSuchFamily123"))
    inter = shot(session, reference_page(tmp_path / "reference", "inter"))
    assert not np.array_equal(drawn, inter)


# ---- 2. sub-composition CSS scoping ----------------------------------------------------------

SCENE = """<template id="captions-template">
  <div data-composition-id="captions" data-width="320" data-height="120">
    <div class="word">HI</div>
    <div class="tag"></div>
    <style>
      [data-composition-id="captions"] { position: relative; width: 320px; height: 120px; }
      [data-composition-id="captions"] .word { position: absolute; left: 200px; top: 20px;
        width: 40px; height: 40px; background: #ff0000; color: transparent; }
      [data-composition-id="captions-layer"] .tag { position: absolute; left: 40px; top: 60px;
        width: 40px; height: 40px; background: #0000ff; }
    </style>
  </div>
</template>"""


def test_css_keyed_on_the_file_root_id_applies_when_the_host_names_another(
    tmp_path: Path, session: BrowserSession
) -> None:
    """Host "captions-layer", file root "captions": HyperFrames keeps the file's root (and
    its id) inside the host, so rules keyed on either id style what they name."""
    project = tmp_path / "p"
    (project / "compositions").mkdir(parents=True)
    (project / "compositions" / "captions.html").write_text(SCENE, encoding="utf-8")
    body = (
        '<div id="host" data-composition-id="captions-layer" '
        'data-composition-src="compositions/captions.html" data-start="0" data-duration="1" '
        'style="position:absolute;inset:0"></div>'
    )
    write_composition(
        project,
        body,
        width=320,
        height=120,
        root_attrs='data-composition-id="main" data-width="320" data-height="120" '
        'data-duration="1"',
    )
    frame = shot(session, project)
    assert tuple(frame[40, 220]) == (255, 0, 0)  # .word, via [data-composition-id="captions"]
    assert tuple(frame[80, 60]) == (0, 0, 255)  # .tag, via the host's id
    assert tuple(frame[40, 100]) == (0, 0, 0)


# ---- 3. continuous time across chunk starts -------------------------------------------------

# A d3-timer-style clock: rAF ticks draw from the timer's own elapsed time, and a
# once-a-second check treats a gap of over a second since the last tick as the page
# having slept, taking it out of the clock (d3-timer's poke/clockSkew).
D3_STYLE_TIMER = """<div id="dot" style="position:absolute;left:0;top:20px;width:8px;height:40px;
  background:#fff"></div>
<script>
  const dot = document.getElementById("dot");
  let last = performance.now(), skew = 0, start = null;
  function tick() {
    const now = performance.now() + skew;
    if (start === null) start = now;
    dot.style.transform = "translateX(" + ((now - start) / 16).toFixed(2) + "px)";
    last = performance.now();
    requestAnimationFrame(tick);
  }
  setInterval(() => {
    const n = performance.now();
    if (n - last > 1000) { skew -= n - last; last = n; }
  }, 1000);
  requestAnimationFrame(tick);
</script>"""

# anime.js v4 timelines positioned by a HyperFrames-style scene function (as HyperFrames'
# animejs-adapter fixture does): two timelines animate the same boxes' transforms, and the
# value a box shows after the first one ends depends on the seeks before it.
ANIME_TIMELINES = """<div id="a" class="b" style="position:absolute;left:20px;top:20px;width:40px;
  height:40px;background:#f80;opacity:0"></div>
<div id="c" class="b" style="position:absolute;left:90px;top:20px;width:40px;height:40px;
  background:#08f;opacity:0"></div>
<script>
  const tl1 = anime.createTimeline({ autoplay: false })
    .add("#a", { opacity: [0, 1], scale: [0, 1], rotate: [90, 0], duration: 500,
                 ease: "out(5)" }, 700)
    .add("#c", { opacity: [0, 1], scale: [0, 1], translateY: [80, 0], duration: 500,
                 ease: "out(3)" }, 900);
  const tl2 = anime.createTimeline({ autoplay: false })
    .add("#a", { skewX: 25, scale: 1.3, duration: 1500, ease: "inOut(3)" }, 200)
    .add("#c", { rotate: -180, translateX: 100, duration: 1800, ease: "inOut(2)" }, 400);
  const scenes = [{ tl: tl1, start: 0, end: 1.5 }, { tl: tl2, start: 1, end: 3 }];
  window.__hfAnime = [{
    seek(ms) {
      const t = ms / 1000;
      for (const s of scenes) {
        if (t >= s.start && t < s.end) s.tl.seek((t - s.start) * 1000);
        else if (t >= s.end) s.tl.seek((s.end - s.start) * 1000);
        else s.tl.seek(0);
      }
    },
  }];
</script>"""


def continuity_project(folder: Path, body: str, *, anime: bool = False) -> Path:
    if anime:
        vendor(folder, ANIME)
    head = '<script src="vendor/anime.umd.min.js"></script>' if anime else ""
    return write_composition(folder, body, width=160, height=80, duration="2.2", head=head)


@pytest.mark.parametrize("kind", ["d3-style timer", "anime.js v4"])
def test_frames_do_not_depend_on_chunking_or_workers(tmp_path: Path, kind: str) -> None:
    """66 frames (2.2 s, past the 1 s sleep threshold) as lossless PNGs: chunks of 1, 7
    and 60 frames, one chunk, 1 and 2 workers — every frame identical."""
    body = D3_STYLE_TIMER if kind == "d3-style timer" else ANIME_TIMELINES
    project = continuity_project(tmp_path / "p", body, anime=kind == "anime.js v4")
    renders = {}
    for chunk_size, workers in [(10_000, 1), (1, 2), (7, 2), (60, 2), (10_000, 2), (7, 1)]:
        out = tmp_path / f"c{chunk_size}-w{workers}"
        framerun.render(project, out, format="png-sequence", chunk_size=chunk_size, workers=workers)
        renders[(chunk_size, workers)] = [
            np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("*.png"))
        ]
    reference = renders[(10_000, 1)]
    assert len(reference) == 66
    assert not np.array_equal(reference[10], reference[60])  # it moves
    for key, frames in renders.items():
        assert len(frames) == 66, key
        different = [
            i
            for i, (a, b) in enumerate(zip(reference, frames, strict=True))
            if not np.array_equal(a, b)
        ]
        assert different == [], f"chunk size {key[0]}, {key[1]} workers: frames {different}"


def test_a_heavy_page_pre_rolls_within_the_seek_deadline(
    tmp_path: Path, session: BrowserSession
) -> None:
    """Each pre-roll call into the page stops after about a second, so a page whose every
    frame is slow (here ~40 ms of script per frame, 6 s for 150 frames) is not mistaken
    for a hung one by the per-call deadline (3 s here)."""
    body = (
        "<script>let n = 0; requestAnimationFrame(function f() { "
        "let x = 0; for (let i = 0; i < 4e7; i++) x += i; n += x > 0 ? 1 : 0; "
        "requestAnimationFrame(f); });</script>"
    )
    project = write_composition(tmp_path / "p", body, width=64, height=48, duration="6")
    page = session.open(PageSpec(project, "index.html", 64, 48, 30.0, {}))
    try:
        page.settings = replace(page.settings, seek_timeout_s=3.0)
        started = time.perf_counter()
        page.preroll(150)
        assert page.evaluate("() => n") == 150
        assert time.perf_counter() - started > 3.0  # longer than one call may take
    finally:
        page.close()


# ---- 4. alpha ------------------------------------------------------------------------------


def test_transparent_output_drops_the_html_and_body_backgrounds(tmp_path: Path) -> None:
    """As HyperFrames makes transparent output: only what is drawn on the page keeps alpha."""
    body = (
        '<div style="position:absolute;left:100px;top:80px;width:60px;height:40px;'
        'background:#0f0"></div>'
    )
    project = write_composition(
        tmp_path / "p",
        body,
        head="<style>html { background: #222 } body { background: #123456 !important }</style>",
    )
    out = tmp_path / "frames"
    framerun.render(project, out, format="png-sequence", transparent=True, frames=(0, 1))
    rgba = np.asarray(Image.open(next(out.glob("*.png"))).convert("RGBA"))
    assert rgba[5, 5, 3] == 0  # the body background is gone
    assert tuple(rgba[100, 130]) == (0, 255, 0, 255)  # the box is opaque


# ---- 5. sound inside a sub-composition -------------------------------------------------------


def write_tone(path: Path, seconds: float, rate: int = 48_000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def test_audio_inside_a_sub_composition_is_mixed_at_its_host_time(tmp_path: Path) -> None:
    """The host starts at 1 s; its file's <audio> plays 0.5 s from the host's start, beside
    the file (compositions/tone.wav), cut at the host's end (2 s)."""
    project = tmp_path / "p"
    (project / "compositions").mkdir(parents=True)
    write_tone(project / "compositions" / "tone.wav", 3.0)
    (project / "compositions" / "sfx.html").write_text(
        '<template id="sfx-template"><div data-composition-id="sfx">'
        '<audio src="tone.wav" data-start="0.5" data-duration="5"></audio></div></template>',
        encoding="utf-8",
    )
    body = (
        '<div data-composition-id="sfx" data-composition-src="compositions/sfx.html" '
        'data-start="1" data-duration="1"></div>'
    )
    write_composition(project, body, duration="3")
    out = tmp_path / "v.mp4"
    framerun.render(project, out)
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        rate = stream.rate
        pcm = np.concatenate([f.to_ndarray().mean(axis=0) for f in container.decode(stream)])

    def loudness(a: float, b: float) -> float:
        return float(np.sqrt(np.mean(pcm[int(a * rate) : int(b * rate)] ** 2)))

    assert loudness(0.1, 1.4) < 0.01  # silent before the clip (host start + 0.5 s)
    assert loudness(1.6, 1.9) > 0.2  # the tone, at 0.5 amplitude (rms 0.35)
    assert loudness(2.1, 2.9) < 0.01  # cut at the host's end
