"""Fail-closed page checks: every declared font loaded, software GL only.

A fallback font or a GPU-dependent WebGL renderer would not fail a render, it
would quietly change its pixels (and make chunks from different machines
disagree), so both stop the render instead. The in-page parts are small JS
snippets evaluated by the browser layer; the decisions are pure functions here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framerun_service.core.errors import BrowserGpuNotSoftwareError, FontFetchFailedError
from framerun_service.render.netguard import Refusal, display_url

SOFTWARE_RENDERER = "SwiftShader"

# Run once per browser launch, in a throwaway page the composition cannot tamper with.
RENDERER_JS = """() => {
  const gl = document.createElement("canvas").getContext("webgl");
  if (!gl) return null;
  const ext = gl.getExtension("WEBGL_debug_renderer_info");
  const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  const lose = gl.getExtension("WEBGL_lose_context");
  if (lose) lose.loseContext();
  return renderer;
}"""

# After ready(): force-load every FontFace (declared-but-unused faces too: a frame
# may need them later), then report what failed and where each family's @font-face
# points (CSSOM; cross-origin sheets are unreadable and skipped).
PAGE_CHECK_JS = """async (timeoutMs) => {
  const unquote = (s) => String(s || "").trim().replace(/^(["'])(.*)\\1$/, "$2");
  const hardware = [];
  for (const el of document.querySelectorAll("[data-gpu-mode]")) {
    if (el.getAttribute("data-gpu-mode").trim().toLowerCase() === "hardware") {
      hardware.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""));
    }
  }
  const faces = document.fonts ? Array.from(document.fonts) : [];
  const settle = (f) => (f.status === "unloaded" ? f.load() : f.loaded).catch(() => null);
  // The runtime freezes the page's timers; bound the wait with the real one.
  const fr = window.__framerun;
  const realTimeout = (fr && fr.__internal && fr.__internal.real.setTimeout) || setTimeout;
  await Promise.race([
    Promise.all(faces.map(settle)),
    new Promise((resolve) => realTimeout(resolve, timeoutMs)),
  ]);
  const sources = {};
  const visit = (rules, base) => {
    for (const rule of rules) {
      if (rule instanceof CSSFontFaceRule) {
        const family = unquote(rule.style.getPropertyValue("font-family"));
        const src = rule.style.getPropertyValue("src");
        for (const m of src.matchAll(/url\\(\\s*(["']?)(.*?)\\1\\s*\\)/g)) {
          const list = (sources[family] = sources[family] || []);
          try { list.push(new URL(m[2], base).href); } catch (e) { /* not a URL */ }
        }
      } else if (rule.styleSheet) {
        try { visit(rule.styleSheet.cssRules, rule.styleSheet.href || base); } catch (e) {}
      } else if (rule.cssRules) {
        visit(rule.cssRules, base);
      }
    }
  };
  for (const sheet of Array.from(document.styleSheets)) {
    try { visit(sheet.cssRules, sheet.href || document.baseURI); } catch (e) { /* cross-origin */ }
  }
  const face = (f) => ({ family: unquote(f.family), status: f.status });
  return {
    hardware,
    failed: faces.filter((f) => f.status !== "loaded").map(face),
    loaded: faces.filter((f) => f.status === "loaded").map(face),
    sources,
  };
}"""

# The seek, then a cheap look for faces that failed since (a frame added them).
# One round trip per frame: seek, then report a failed font and the first exception a
# page callback (timer, rAF, adapter) threw, which the runtime caught and recorded.
SEEK_JS = """async (ms) => {
  await window.__framerun.seek(ms);
  const fontFailed = document.fonts
    ? Array.from(document.fonts).some((f) => f.status === "error") : false;
  const errors = window.__framerun.errors;
  return { fontFailed, error: errors.length ? String(errors[0]) : null };
}"""


# Pre-roll: move time through frames [from, to) without drawing them (runtime.js), for
# at most budgetMs of real time, then report as SEEK_JS does, with the next frame to do.
PREROLL_JS = """async ([from, to, budgetMs]) => {
  const next = await window.__framerun.preroll(from, to, budgetMs);
  const fontFailed = document.fonts
    ? Array.from(document.fonts).some((f) => f.status === "error") : false;
  const errors = window.__framerun.errors;
  return { next, fontFailed, error: errors.length ? String(errors[0]) : null };
}"""


def check_gpu_renderer(renderer: str | None) -> str:
    """The WebGL renderer string if it is SwiftShader; else BrowserGpuNotSoftwareError."""
    if renderer is None:
        raise BrowserGpuNotSoftwareError(
            "WebGL is unavailable in the browser, so it cannot be confirmed to be "
            f"{SOFTWARE_RENDERER}; do not pass --disable-webgl or a --use-angle other than "
            "swiftshader (check FRAMERUN_CHROME_ARGS)"
        )
    if SOFTWARE_RENDERER.lower() not in renderer.lower():
        raise BrowserGpuNotSoftwareError(
            f"WebGL renders on {renderer!r}, not {SOFTWARE_RENDERER}: pixels would depend on "
            "the machine's GPU; launch chrome-headless-shell with --use-angle=swiftshader "
            "(check FRAMERUN_CHROME_ARGS)"
        )
    return renderer


def check_gpu_mode(hardware_elements: Sequence[str]) -> None:
    """A composition that asks for a hardware GPU cannot be rendered here."""
    if hardware_elements:
        raise BrowserGpuNotSoftwareError(
            f'<{hardware_elements[0]}> has data-gpu-mode="hardware", but framerun renders '
            "WebGL with SwiftShader only (so every machine draws the same pixels); remove "
            'the attribute or set data-gpu-mode="software"'
        )


def font_error(
    failed: Sequence[Mapping[str, Any]],
    sources: Mapping[str, Sequence[str]],
    refusals: Sequence[Refusal],
) -> FontFetchFailedError | None:
    """FontFetchFailedError naming each failed family and where it came from, or None.

    The URL comes from the family's @font-face rule when the page can read it, else
    from the font requests the network guard refused.
    """
    if not failed:
        return None
    why = {r.url: r.reason for r in refusals}
    refused_fonts = [r.url for r in refusals if r.resource_type == "font"]
    families = list(dict.fromkeys(str(face["family"]) for face in failed))
    stuck = {str(face["family"]) for face in failed if face.get("status") != "error"}
    parts = []
    for family in families[:3]:
        urls = list(dict.fromkeys(sources.get(family) or refused_fonts))
        fallback = (
            "still loading at FRAMERUN_LOAD_TIMEOUT_S"
            if family in stuck
            else "fetched but not a font the browser can decode"
        )
        where = ", ".join(f"{display_url(u)} ({why.get(u, fallback)})" for u in urls)
        parts.append(f'"{family}" from {where or "its source"}')
    more = f" (and {len(families) - 3} more)" if len(families) > 3 else ""
    return FontFetchFailedError(
        f"font {'; '.join(parts)}{more} could not be loaded; framerun never falls back to "
        "another font: put the font file in the composition folder (or fix the @font-face "
        "src or the stylesheet URL) and render again"
    )


def loaded_families(loaded: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted({str(face["family"]) for face in loaded}))
