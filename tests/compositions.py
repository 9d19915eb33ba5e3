"""Build small test compositions on the fly (tiny sizes keep the suite fast)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GSAP = REPO / "node_modules" / "gsap" / "dist" / "gsap.min.js"


def write_composition(
    folder: Path,
    body: str,
    *,
    width: int = 320,
    height: int = 240,
    fps: str = "30",
    duration: str = "1",
    head: str = "",
    variables: list[dict[str, Any]] | None = None,
    gsap: bool = False,
    root_attrs: str | None = None,
) -> Path:
    """Write ``folder/index.html`` with a root element carrying the given attributes."""
    folder.mkdir(parents=True, exist_ok=True)
    if gsap:
        (folder / "vendor").mkdir(exist_ok=True)
        shutil.copy(GSAP, folder / "vendor" / "gsap.min.js")
        head += '<script src="vendor/gsap.min.js"></script>'
    decl = f" data-composition-variables='{json.dumps(variables)}'" if variables else ""
    attrs = (
        root_attrs
        if root_attrs is not None
        else (
            f'data-width="{width}" data-height="{height}" '
            f'data-fps="{fps}" data-duration="{duration}"'
        )
    )
    (folder / "index.html").write_text(
        f"""<!doctype html><html{decl}><head><meta charset="utf-8"><style>
html, body {{ margin: 0; width: {width}px; height: {height}px; overflow: hidden;
  background: #000; }}
.box {{ position: absolute; left: 0; top: 40px; width: 40px; height: 40px; background: #ff0000; }}
</style>{head}</head><body data-composition-id="t" {attrs}>{body}</body></html>""",
        encoding="utf-8",
    )
    return folder


# An element translating 0 → 200 px over 1 s, linear, in each animation system.
MOVERS = {
    "css": (
        '<div class="box" style="animation: mv 1s linear forwards"></div>'
        "<style>@keyframes mv { from { transform: translateX(0) } "
        "to { transform: translateX(200px) } }</style>"
    ),
    "waapi": (
        '<div class="box" id="b"></div><script>document.getElementById("b").animate('
        '[{transform: "translateX(0)"}, {transform: "translateX(200px)"}], '
        '{duration: 1000, easing: "linear", fill: "forwards"});</script>'
    ),
    "gsap": (
        '<div class="box" id="b"></div><script>'
        'gsap.to("#b", {x: 200, duration: 1, ease: "none"});</script>'
    ),
    "gsap-standalone": (
        '<div class="box" id="b"></div><script>'
        "const tl = gsap.timeline({paused: true});"
        'tl.to("#b", {x: 200, duration: 1, ease: "none"});'
        "window.__timelines = {main: tl};</script>"
    ),
    "canvas-raf": (
        '<canvas id="c" width="320" height="240" style="position:absolute;left:0;top:0">'
        "</canvas><script>const ctx = document.getElementById('c').getContext('2d');"
        "requestAnimationFrame(function draw(ts) {"
        "ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 320, 240);"
        "ctx.fillStyle = '#ff0000'; ctx.fillRect(200 * Math.min(ts / 1000, 1), 40, 40, 40);"
        "requestAnimationFrame(draw); });</script>"
    ),
}
