"""Frames drawn on demand with ``HeadlessExperimental.beginFrame``, unchanged ones reused.

A page created with beginFrame control draws nothing by itself: each call runs the
main thread, raster and compositor once for the time just seeked and, when asked,
returns the pixels (≈20 % less CPU per 1080p frame here than
``Page.captureScreenshot``). A call without a screenshot also reports whether
anything on screen changed (``hasDamage``), for ≈4 ms instead of ≈50, and that is
what lets a frame that shows exactly what the previous one showed (a held title, a
pause between scenes) reuse its pixels instead of being drawn and encoded again.

The damage report is trusted only under two rules measured on this browser:

- A call that returns a screenshot always reports damage and leaves damage behind
  for the next call. So after a screenshot, one call with nothing seeked in between
  (the *absorb*) clears it, and only then does a *probe* (seek, then a call without
  a screenshot) tell whether that seek changed anything.
- A probe costs a frame's drawing when the frame did change (≈10 ms more than a
  screenshot alone). So probes back off on pages that keep changing: after a probe
  finds damage the next one waits 2, then 4, … up to :data:`MAX_PROBE_GAP` frames,
  and a probe that finds none brings back probing every frame. An animated page
  pays about one probe in 16 frames; a still one draws nothing but probes.

Reuse never depends on guessing what the page does: a frame is reused only when the
browser said nothing on screen changed since the frame whose pixels are reused.

Pages that play ``<video>`` in the element are drawn with ``Page.captureScreenshot``
instead (:func:`capture_method`): after a seek, a video's new frame reaches the
screen only with a video-frame callback, which needs frames the page draws by
itself; a beginFrame draw right after 'seeked' showed a stale frame on backward
seeks. The videos the engine decodes itself and shows as posters (videoframes.py)
are images to the page, and beginFrame draws them like any other.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from framerun_service.core.errors import BrowserCrashedError
from framerun_service.render.netguard import SITE_ORIGIN
from framerun_service.render.site import iter_site_files, resolve_site_path
from framerun_service.render.subcomp import asset_path
from framerun_service.render.videoframes import servable_videos

__all__ = ["MAX_PROBE_GAP", "BeginFrameCapture", "capture_method"]

MAX_PROBE_GAP = 16
# A <video> a script makes, and a <video> tag in markup (its attributes in group 1).
_SCRIPTED_VIDEO = re.compile(rb"createElement\(\s*[\"'`]video[\"'`]", re.IGNORECASE)
_VIDEO_TAG = re.compile(rb"<video\b([^>]*)>", re.IGNORECASE)
_SRC = re.compile(rb"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_SCANNED = (".html", ".htm", ".js", ".mjs", ".svg")
_MARKUP = (".html", ".htm")


def capture_method(project_dir: Path, configured: str) -> str:
    """How the plan's frames are drawn: ``configured`` (FRAMERUN_CAPTURE), except that
    a site that may play a ``<video>`` in the element is screenshotted (see the module
    doc). Videos the engine shows as posters (videoframes.py) do not count: a ``<video
    src>`` in markup whose file it can decode. Over-matching only costs speed."""
    if configured == "screenshot":
        return configured
    posters = servable_videos(project_dir)
    for rel, path in iter_site_files(project_dir):
        if not rel.lower().endswith(_SCANNED):
            continue
        text = path.read_bytes()
        if _SCRIPTED_VIDEO.search(text):
            return "screenshot"
        for tag in _VIDEO_TAG.finditer(text):
            shown = _poster_paths(project_dir, rel, tag[1]) & posters.keys()
            if not rel.lower().endswith(_MARKUP) or not shown:
                return "screenshot"
    return configured


def _poster_paths(project_dir: Path, rel: str, attributes: bytes) -> set[str]:
    """Where a ``<video>`` tag's src may point on the site origin: from the file at
    ``rel``, or from the root when it is a sub-composition HyperFrames inlines."""
    found = _SRC.search(attributes)
    if found is None:
        return set()
    src = html.unescape(next(g for g in found.groups() if g is not None).decode("utf-8", "replace"))
    src = src.strip()
    inlined = asset_path(rel, src, lambda p: resolve_site_path(project_dir, p) is not None)
    paths = set()
    for url in (urljoin(f"{SITE_ORIGIN}/{quote(rel)}", src), urljoin(f"{SITE_ORIGIN}/", inlined)):
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == SITE_ORIGIN:
            paths.add(unquote(parts.path))
    return paths


class BeginFrameCapture:
    """The frame loop of one beginFrame-controlled page: ``capture`` after each seek."""

    def __init__(self, send: Any, fps: float, *, reuse: bool = True) -> None:
        self._send = send  # CDPSession.send of the page
        self._reuse = reuse  # False: draw every frame (a reference to check reuse against)
        self._interval_ms = 1000.0 / fps
        self._ticks_ms = 0.0
        # What the previous picture was encoded as; None before the first. Only a
        # picture in the format and quality asked for can stand in for the next.
        self._drawn_as: tuple[str, int] | None = None
        self._gap = 1  # frames between probes
        self._wait = 0  # frames still to capture directly before the next probe
        self.reused = 0  # frames answered from the previous frame's pixels
        self.drawn = 0  # frames drawn and returned

    def capture(self, fmt: str, quality: int) -> bytes | None:
        """The pixels of the frame just seeked, or None: the previous frame's pixels
        are still exactly what is on screen, in the same format and quality."""
        if self._reuse and self._drawn_as == (fmt, quality) and self._wait == 0:
            if not self._begin({})["hasDamage"]:
                self.reused += 1
                self._gap = 1
                return None
            self._gap = min(2 * self._gap, MAX_PROBE_GAP)
            self._wait = self._gap - 1
        elif self._wait > 0:
            self._wait -= 1
        screenshot: dict[str, Any] = {"format": fmt, "optimizeForSpeed": True}
        if fmt == "jpeg":
            screenshot["quality"] = quality
        reply = self._begin({"screenshot": screenshot})
        data = reply.get("screenshotData")
        if data is None:  # no damage although a screenshot was asked for: draw again
            data = self._begin({"screenshot": screenshot}).get("screenshotData")
            if data is None:
                raise BrowserCrashedError(
                    "the browser drew no picture for a frame twice in a row; retry the render"
                )
        self._drawn_as = (fmt, quality)
        self.drawn += 1
        if self._reuse and self._wait == 0:
            self._begin({})  # absorb the damage the screenshot leaves for the next probe
        return base64.b64decode(data)

    def _begin(self, params: dict[str, Any]) -> dict[str, Any]:
        self._ticks_ms += self._interval_ms
        reply: dict[str, Any] = self._send(
            "HeadlessExperimental.beginFrame",
            {"frameTimeTicks": self._ticks_ms, "interval": self._interval_ms, **params},
        )
        return reply
