"""Probe a composition at plan time: open it once, so fonts, the network guard and the
GPU check fail the *plan* rather than chunk 7 of a distributed render.

Opening the page runs every check (see ``browser.py``); seeking frame 0 and,
when given, the last frame runs the per-frame ones (a frame's script may fetch
or add a font). The report says what the page showed us; it changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from framerun_service.render.browser import BrowserSession, PageSpec

# HyperFrames' convention (window.__timelines), then GSAP's root timeline: what the
# page's own animations say the composition lasts, in seconds.
DURATION_JS = """() => {
  let best = null;
  const consider = (tl) => {
    try {
      const d = Number(tl && typeof tl.duration === "function" ? tl.duration() : NaN);
      if (d > 0 && (best === null || d > best)) best = d;
    } catch (e) { /* not a timeline */ }
  };
  const timelines = window.__timelines;
  if (timelines && typeof timelines === "object") Object.values(timelines).forEach(consider);
  const gsap = window.gsap;
  if (best === null && gsap && gsap.globalTimeline) consider(gsap.globalTimeline);
  return best;
}"""


@dataclass(frozen=True)
class ProbeReport:
    renderer: str  # the WebGL renderer (always SwiftShader: anything else raised)
    fonts: tuple[str, ...]  # font families the page declared and loaded, sorted
    duration_s: float | None  # what the page's timelines say, if it has any
    frames: tuple[int, ...]  # the frames that were seeked
    seconds: float  # wall time of the probe


def probe_composition(
    session: BrowserSession, spec: PageSpec, *, last_frame: int | None = None
) -> ProbeReport:
    """Open ``spec``, seek frame 0 (and ``last_frame``), close; raise what a render would.

    Raises FontFetchFailedError, AssetFetchFailedError, BrowserGpuNotSoftwareError,
    PageScriptError or CompositionTimeoutError exactly as rendering the same frames would.
    """
    started = time.perf_counter()
    page = session.open(spec)
    try:
        frames = [0] if not last_frame else [0, last_frame]
        for frame in frames:
            page.seek(frame)
        duration = page.evaluate(DURATION_JS)
        page.check()
    finally:
        page.close()
    return ProbeReport(
        renderer=page.renderer,
        fonts=page.fonts,
        duration_s=float(duration) if duration is not None else None,
        frames=tuple(frames),
        seconds=time.perf_counter() - started,
    )
