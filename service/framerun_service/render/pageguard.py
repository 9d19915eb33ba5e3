"""The page's only way out: answers every request a composition's page makes.

The page is served from a virtual HTTPS origin by request interception, so site
files load like a real web site (fonts, modules, fetch, media byte ranges). This
module is where those answers are made: site files (with HyperFrames' font rules
applied to the entry document and sub-compositions), bundled font faces, public
https: URLs fetched through the network guard (``netguard.py`` decides what is
allowed) and refusals for everything else, collected so the render can fail with
ASSET_FETCH_FAILED naming them. It knows nothing of seeking or capturing frames.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import av

from framerun_service.core.errors import AssetFetchFailedError
from framerun_service.render.fontrules import compile_fonts
from framerun_service.render.fontset import face_path
from framerun_service.render.intravideo import VIDEO_SUFFIXES, intra_copy
from framerun_service.render.netguard import (
    FIX,
    Fetcher,
    Kind,
    Refusal,
    RefusedError,
    Resolver,
    classify,
    console_urls,
    display_url,
    guarded_fetch,
)
from framerun_service.render.site import (
    RangeNotSatisfiableError,
    byte_range,
    read_range,
    resolve_site_path,
)
from framerun_service.render.subcomp import rewrite_asset_paths
from framerun_service.render.videoframes import FRAME_PATH, VideoFrames, probe_video
from framerun_service.render.webrequest import GuardAnswer, GuardRequest

__all__ = ["GuardAnswer", "GuardRequest", "PageGuard"]

IGNORED_MISSING = frozenset({"/favicon.ico"})
# The HyperFrames adapter marks its fetches of sub-composition files with this header:
# they get the font rules HyperFrames applies when it inlines them.
COMPOSITION_HEADER = "x-framerun-composition"
MAX_LISTED = 5


MAX_RANGE_BYTES = 2 * 1024 * 1024


NOT_FOUND = GuardAnswer(404, {}, b"not found")


class PageGuard:
    """One page's network: serves the site, fetches allowed https: URLs, records refusals.

    It is the page's listener (cdppage.py): every request the page makes is paused
    and answered here. Requests interception never sees (file: and mixed content
    refused by Chrome itself, fetch() of unsupported schemes) are caught from failed
    loads and console messages; WebSockets are recorded as refused, and the browser's
    proxy (chrome.py) keeps them from connecting.

    The entry document and the sub-composition files are served with HyperFrames'
    font rules applied (``fontrules.py``); the bundled faces they name come from
    the font set.
    """

    def __init__(
        self,
        project_dir: Path,
        *,
        resolver: Resolver,
        fetcher: Fetcher,
        entry: str = "",
        video_frames: VideoFrames | None = None,
    ) -> None:
        self.project_dir = project_dir
        self.entry = entry
        self.resolver = resolver
        self.fetcher = fetcher
        self.video_frames = video_frames or VideoFrames(lossless=False)
        self._refusals: dict[str, Refusal] = {}

    @property
    def refusals(self) -> list[Refusal]:
        return list(self._refusals.values())

    def refuse(self, url: str, reason: str, resource_type: str = "") -> None:
        self._refusals.setdefault(url, Refusal(url, reason, resource_type))

    def answer(self, request: GuardRequest) -> GuardAnswer:
        """What the page gets for ``request``: the one place the guard's rules are applied.

        The render's paused requests (cdppage.py) and the preview's HTTP server (``preview.py``)
        both answer through here, so a preview loads exactly what a render loads.
        """
        decision = classify(request.url)
        try:
            if decision.kind is Kind.SITE:
                return self._serve_site(request)
            if decision.kind is Kind.FONTS:
                return self._serve_font(request)
            if decision.kind is Kind.FETCH:
                return self._fetch(request)
            self.refuse(request.url, decision.reason, request.resource_type)
            return GuardAnswer.refused("blockedbyclient")
        except OSError as exc:  # a site file that vanished or is unreadable
            self.refuse(request.url, f"could not be read ({exc.strerror or exc})")
            return GuardAnswer.refused("failed")

    def _serve_site(self, request: GuardRequest) -> GuardAnswer:
        url = urlsplit(request.url)
        url_path = unquote(url.path)
        if url_path.startswith(FRAME_PATH + "/"):
            return self._serve_video_frame(request, url_path.removeprefix(FRAME_PATH), url.query)
        path = resolve_site_path(self.project_dir, url_path)
        if path is None:
            if url_path not in IGNORED_MISSING:
                self.refuse(request.url, "not in the composition folder", request.resource_type)
            return NOT_FOUND
        compiled = self._compiled(request, path, url_path)
        if compiled is not None:
            return GuardAnswer(200, {"content-type": "text/html; charset=utf-8"}, compiled)
        if (
            request.resource_type == "media"
            and path.suffix.lower() in VIDEO_SUFFIXES
            and probe_video(path) is None  # shown as a poster, never seeked (videoframes.py)
        ):
            path = intra_copy(path) or path  # every frame a keyframe: seeks decode one frame
        size = path.stat().st_size
        headers = {
            "content-type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "accept-ranges": "bytes",
        }
        try:
            span = byte_range(request.header("range"), size)
        except RangeNotSatisfiableError:
            return GuardAnswer(416, {"content-range": f"bytes */{size}"}, b"")
        if span is None:
            return GuardAnswer(200, headers, path.read_bytes())
        first, last = span
        # Media asks for "bytes=N-" at every seek; the rest of a big file each time would
        # cross the DevTools pipe as base64 again and again. A shorter answer is valid
        # HTTP, and the media cache asks for more when it needs it.
        last = min(last, first + MAX_RANGE_BYTES - 1)
        headers["content-range"] = f"bytes {first}-{last}/{size}"
        return GuardAnswer(206, headers, read_range(path, first, last))

    def _serve_video_frame(self, request: GuardRequest, site_path: str, query: str) -> GuardAnswer:
        """A ``<video>``'s picture at ``?t=`` seconds into the source (videoframes.py)."""
        path = resolve_site_path(self.project_dir, site_path)
        try:
            t = float(parse_qs(query)["t"][0])
            if path is None or probe_video(path) is None:
                raise ValueError(f"{site_path} is not a video of the composition folder")
            body = self.video_frames.picture(path, t)
        except (KeyError, ValueError, av.FFmpegError) as exc:
            self.refuse(request.url, f"no picture of the video ({exc})", request.resource_type)
            return NOT_FOUND
        return GuardAnswer(200, {"content-type": self.video_frames.content_type}, body)

    def _compiled(self, request: GuardRequest, path: Path, url_path: str) -> bytes | None:
        """The entry document or a sub-composition file with the font rules applied, else None."""
        if path.suffix.lower() not in (".html", ".htm"):
            return None
        entry = request.entry_navigation and url_path.lstrip("/") == self.entry
        if not entry and request.header(COMPOSITION_HEADER) != "1":
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return None  # not text HyperFrames could compile either: served as it is
        if not entry:
            text = rewrite_asset_paths(text, url_path.lstrip("/"), self._site_has)
        return compile_fonts(text, entry=entry).encode("utf-8")

    def _site_has(self, rel: str) -> bool:
        return resolve_site_path(self.project_dir, rel) is not None

    def _serve_font(self, request: GuardRequest) -> GuardAnswer:
        path = face_path(unquote(urlsplit(request.url).path).lstrip("/"))
        if path is None:
            self.refuse(request.url, "not a bundled font face", request.resource_type)
            return NOT_FOUND
        return GuardAnswer(
            200,
            {"content-type": "font/woff2", "access-control-allow-origin": "*"},
            path.read_bytes(),
        )

    def _fetch(self, request: GuardRequest) -> GuardAnswer:
        try:
            response = guarded_fetch(
                request.method,
                request.url,
                list(request.headers.items()),
                request.body,
                resolver=self.resolver,
                fetcher=self.fetcher,
            )
        except RefusedError as exc:
            reason = (
                exc.reason if exc.url == request.url else f"redirects to {exc.url}: {exc.reason}"
            )
            self.refuse(request.url, reason, request.resource_type)
            return GuardAnswer.refused("blockedbyclient")
        if response.status >= 400:
            self.refuse(request.url, f"answered HTTP {response.status}", request.resource_type)
        return GuardAnswer(response.status, dict(response.headers), response.body)

    def websocket(self, url: str) -> None:
        """A WebSocket the page opened: never served (the browser's proxy refuses it)."""
        self.refuse(url, classify(url).reason or "WebSockets are not served", "websocket")

    def request_failed(self, url: str, resource_type: str) -> None:
        """A request that failed before interception saw it (Chrome refused it itself)."""
        decision = classify(url)
        if decision.kind is Kind.BLOCK:
            self.refuse(url, decision.reason, resource_type)

    def console(self, text: str) -> None:
        """A console message: Chrome names there what it refused to load (file:, mixed content)."""
        for url in console_urls(text):
            decision = classify(url)
            if decision.kind is Kind.BLOCK:
                self.refuse(url, decision.reason)

    def error(self) -> AssetFetchFailedError | None:
        """The refusals so far as one error (None if there were none)."""
        refusals = self.refusals
        if not refusals:
            return None
        listed = "; ".join(f"{display_url(r.url)} ({r.reason})" for r in refusals[:MAX_LISTED])
        if len(refusals) > MAX_LISTED:
            listed += f"; and {len(refusals) - MAX_LISTED} more"
        missing = all(r.reason == "not in the composition folder" for r in refusals)
        fix = "add the files to the composition folder or fix their paths" if missing else FIX
        noun = "URL" if len(refusals) == 1 else "URLs"
        return AssetFetchFailedError(
            f"the page requested {len(refusals)} {noun} it could not load: {listed}; {fix}"
        )
