"""chrome-headless-shell through Playwright: one warm browser, a fresh page per chunk.

The page is served from a virtual HTTPS origin by request interception, so site
files load like a real web site (fonts, modules, fetch, media byte ranges). Every
other request goes through the network guard (``netguard.py``: public https:
only, each refusal fails the render with ASSET_FETCH_FAILED), declared fonts must
load (FONT_FETCH_FAILED, never a fallback font) and WebGL must be SwiftShader
(BROWSER_GPU_NOT_SOFTWARE), so pixels do not depend on the machine. The checks
run when a page opens and after every seek, before its frame is captured.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import re
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Request,
    Route,
    WebSocketRoute,
    sync_playwright,
)

from framerun_service.core.errors import (
    AssetFetchFailedError,
    BrowserCrashedError,
    CompositionTimeoutError,
    InvalidConfigError,
    PageScriptError,
)
from framerun_service.render.checks import (
    PAGE_CHECK_JS,
    PREROLL_JS,
    RENDERER_JS,
    SEEK_JS,
    check_gpu_mode,
    check_gpu_renderer,
    font_error,
    loaded_families,
)
from framerun_service.render.deadline import page_deadline
from framerun_service.render.fontrules import compile_fonts
from framerun_service.render.fontset import face_path
from framerun_service.render.netguard import (
    FIX,
    SITE_ORIGIN,
    Fetcher,
    HttpsFetcher,
    Kind,
    Refusal,
    RefusedError,
    Resolver,
    classify,
    console_urls,
    display_url,
    guarded_fetch,
    system_resolver,
)
from framerun_service.render.settings import EngineSettings, engine_settings
from framerun_service.render.site import (
    RangeNotSatisfiableError,
    byte_range,
    read_range,
    resolve_site_path,
)
from framerun_service.render.subcomp import rewrite_asset_paths

__all__ = ["SITE_ORIGIN", "BrowserSession", "CompositionPage", "PageSpec", "browser_version"]
RUNTIME_JS = Path(__file__).with_name("runtime.js")
# One file per animation library, each registering itself with the runtime.
ADAPTERS_DIR = Path(__file__).with_name("adapters")
CHROME_ARGS = (
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--font-render-hinting=none",
    "--disable-lcd-text",
    "--hide-scrollbars",
    "--mute-audio",
    # Animations must only move when the runtime seeks them: no compositor-thread
    # animation or scrolling that could show a stale or half-advanced frame.
    "--disable-threaded-animation",
    "--disable-threaded-scrolling",
    "--disable-checker-imaging",
    # Re-raster whole tiles: a partial re-raster keeps the anti-aliased fringe an element
    # left in the tile at earlier frames (a rotating box's old edges), so a frame's pixels
    # would depend on the frames drawn before it in the same page, i.e. on the chunking.
    "--disable-partial-raster",
    # Software compositing: compositing through SwiftShader GL cost ~160 ms of
    # CPU per 1080p frame in the GPU process, the software compositor ~45 ms.
    # WebGL still renders through SwiftShader.
    "--disable-gpu-compositing",
    # Defence in depth behind the request guard: whatever escapes interception
    # (preconnects, DNS prefetch, WebRTC) goes to a proxy that is not there, and
    # WebRTC may not send UDP around it (it reached loopback STUN servers without).
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
# ready() waits for fonts and images; bound it with the real clock (the page's is frozen).
READY_JS = """(ms) => Promise.race([
  window.__framerun.ready(),
  new Promise((_, reject) => window.__framerun.__internal.real.setTimeout(
    () => reject(new Error("Timeout: ready() did not settle")), ms)),
])"""
# Transparent output, as HyperFrames makes it (engine initTransparentBackground): the page's
# own html/body backgrounds are dropped, so only what is drawn on them keeps alpha.
TRANSPARENT_BACKGROUND_JS = """() => {
  const style = document.createElement("style");
  style.setAttribute("data-framerun-transparent", "");
  style.textContent = "html,body{background:transparent !important;" +
    "background-color:transparent !important;background-image:none !important;}";
  (document.head || document.documentElement).appendChild(style);
}"""
IGNORED_MISSING = frozenset({"/favicon.ico"})
# The HyperFrames adapter marks its fetches of sub-composition files with this header:
# they get the font rules HyperFrames applies when it inlines them.
COMPOSITION_HEADER = "x-framerun-composition"
MAX_LISTED = 5
# Real time one pre-roll call may take: few round trips for light pages, and for heavy
# ones (a WebGL scene redrawn each frame) calls still short enough for the seek deadline.
PREROLL_CALL_MS = 1000


@cache
def browser_version(chrome_path: str | None = None) -> str:
    """The browser's version string (part of the plan hash)."""
    path = chrome_path or engine_settings().chrome_path
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise InvalidConfigError(
            f"browser not found at {path}; run `make setup` (installs chromium-headless-shell) "
            "or set FRAMERUN_CHROME"
        ) from None
    return out.stdout.strip() or out.stderr.strip() or "unknown"


@dataclass
class PageSpec:
    """What a page needs to show a composition."""

    project_dir: Path
    entry: str
    width: int
    height: int
    fps: float
    variables: dict[str, Any]
    transparent: bool = False
    seed: int = 0


class PageGuard:
    """One page's network: serves the site, fetches allowed https: URLs, records refusals.

    Requests the route never sees (file: and mixed content refused by Chrome
    itself, fetch() of unsupported schemes) are caught from ``requestfailed`` and
    console events; WebSockets are intercepted and closed before they connect.

    The entry document and the sub-composition files are served with HyperFrames'
    font rules applied (``fontrules.py``); the bundled faces they name come from
    the font set.
    """

    def __init__(
        self, project_dir: Path, *, resolver: Resolver, fetcher: Fetcher, entry: str = ""
    ) -> None:
        self.project_dir = project_dir
        self.entry = entry
        self.resolver = resolver
        self.fetcher = fetcher
        self._refusals: dict[str, Refusal] = {}

    @property
    def refusals(self) -> list[Refusal]:
        return list(self._refusals.values())

    def refuse(self, url: str, reason: str, resource_type: str = "") -> None:
        self._refusals.setdefault(url, Refusal(url, reason, resource_type))

    def attach(self, context: BrowserContext, page: Page) -> None:
        context.route("**/*", self.route)
        context.route_web_socket(re.compile(".*"), self.websocket)
        page.on("requestfailed", self.request_failed)
        page.on("console", self.console)

    def route(self, route: Route) -> None:
        request = route.request
        decision = classify(request.url)
        try:
            if decision.kind is Kind.SITE:
                self._serve_site(route)
            elif decision.kind is Kind.FONTS:
                self._serve_font(route)
            elif decision.kind is Kind.FETCH:
                self._fetch(route)
            else:
                self.refuse(request.url, decision.reason, request.resource_type)
                route.abort("blockedbyclient")
        except OSError as exc:  # a site file that vanished or is unreadable
            self.refuse(request.url, f"could not be read ({exc.strerror or exc})")
            with contextlib.suppress(Error):
                route.abort("failed")
        except Error:
            pass  # the page closed while the answer was on its way

    def _serve_site(self, route: Route) -> None:
        request = route.request
        url_path = unquote(urlsplit(request.url).path)
        path = resolve_site_path(self.project_dir, url_path)
        if path is None:
            if url_path not in IGNORED_MISSING:
                self.refuse(request.url, "not in the composition folder", request.resource_type)
            route.fulfill(status=404, body=b"not found")
            return
        compiled = self._compiled(request, path, url_path)
        if compiled is not None:
            route.fulfill(status=200, content_type="text/html; charset=utf-8", body=compiled)
            return
        size = path.stat().st_size
        headers = {
            "content-type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "accept-ranges": "bytes",
        }
        try:
            span = byte_range(request.headers.get("range"), size)
        except RangeNotSatisfiableError:
            route.fulfill(status=416, headers={"content-range": f"bytes */{size}"}, body=b"")
            return
        if span is None:
            route.fulfill(status=200, headers=headers, body=path.read_bytes())
            return
        first, last = span
        headers["content-range"] = f"bytes {first}-{last}/{size}"
        route.fulfill(status=206, headers=headers, body=read_range(path, first, last))

    def _compiled(self, request: Request, path: Path, url_path: str) -> bytes | None:
        """The entry document or a sub-composition file with the font rules applied, else None."""
        if path.suffix.lower() not in (".html", ".htm"):
            return None
        entry = (
            request.is_navigation_request()
            and request.frame.parent_frame is None
            and url_path.lstrip("/") == self.entry
        )
        if not entry and request.headers.get(COMPOSITION_HEADER) != "1":
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

    def _serve_font(self, route: Route) -> None:
        request = route.request
        path = face_path(unquote(urlsplit(request.url).path).lstrip("/"))
        if path is None:
            self.refuse(request.url, "not a bundled font face", request.resource_type)
            route.fulfill(status=404, body=b"not found")
            return
        route.fulfill(
            status=200,
            headers={"content-type": "font/woff2", "access-control-allow-origin": "*"},
            body=path.read_bytes(),
        )

    def _fetch(self, route: Route) -> None:
        request = route.request
        try:
            response = guarded_fetch(
                request.method,
                request.url,
                list(request.headers.items()),
                request.post_data_buffer,
                resolver=self.resolver,
                fetcher=self.fetcher,
            )
        except RefusedError as exc:
            reason = (
                exc.reason if exc.url == request.url else f"redirects to {exc.url}: {exc.reason}"
            )
            self.refuse(request.url, reason, request.resource_type)
            route.abort("blockedbyclient")
            return
        if response.status >= 400:
            self.refuse(request.url, f"answered HTTP {response.status}", request.resource_type)
        route.fulfill(status=response.status, headers=dict(response.headers), body=response.body)

    def websocket(self, ws: WebSocketRoute) -> None:
        # Not connected to the server: the page gets a closed socket.
        self.refuse(ws.url, classify(ws.url).reason, "websocket")
        ws.close(code=1008, reason="blocked by framerun")

    def request_failed(self, request: Request) -> None:
        decision = classify(request.url)
        if decision.kind is Kind.BLOCK:
            self.refuse(request.url, decision.reason, request.resource_type)

    def console(self, message: ConsoleMessage) -> None:
        for url in console_urls(message.text):
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


@dataclass
class CompositionPage:
    """A loaded composition: seek to a time, then capture."""

    page: Page
    cdp: Any
    spec: PageSpec
    settings: EngineSettings
    guard: PageGuard
    renderer: str = ""
    fonts: tuple[str, ...] = field(default_factory=tuple)  # families loaded at open

    def seek(self, frame: int) -> None:
        """Show ``frame``; raises if a font failed or a request was refused meanwhile.

        A request a frame starts without awaiting it may be reported at the next
        seek (or :meth:`check`), but never reaches its target either way.
        """
        ms = frame * 1000.0 / self.spec.fps
        self._run(SEEK_JS, ms, f"showing frame {frame}")

    def preroll(self, frames: int) -> None:
        """Move the page's time through frames [0, ``frames``) without drawing them.

        A fresh page that is to show frame N first lives through the frames before
        it, so scripts that keep state across ticks reach frame N as they would in
        one continuous render (see runtime.js, "Continuous time").
        """
        done = 0
        while done < frames:
            doing = f"moving time through frames {done}–{frames - 1}"
            done = self._run(PREROLL_JS, [done, frames, PREROLL_CALL_MS], doing)["next"]

    def _run(self, script: str, arg: Any, doing: str) -> dict[str, Any]:
        """One seek-like call; raises if it overran (one frame's worth of work must fit
        FRAMERUN_SEEK_TIMEOUT_S), a font failed, a request was refused or a page callback
        threw meanwhile."""
        with page_deadline(self.settings.seek_timeout_s) as expired:
            try:
                state = self.page.evaluate(script, arg)
            except Error as exc:
                if expired.is_set():
                    raise _overran(doing, "FRAMERUN_SEEK_TIMEOUT_S") from None
                raise _classify(exc, doing) from None
        if state["fontFailed"]:
            _raise_font_error(self.page, self.guard)
        self.check()
        if state["error"]:
            # A frame drawn after a callback threw would be silently wrong.
            first = state["error"].splitlines()[0]
            raise PageScriptError(
                f"the composition threw while {doing}: {first}; fix the script error"
            )
        return state

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        """Run a JS function in the page; browser failures become framerun errors."""
        try:
            return self.page.evaluate(expression, arg)
        except Error as exc:
            raise _classify(exc, "evaluating a script in the page") from None

    def check(self) -> None:
        """Raise AssetFetchFailedError if any request has been refused so far."""
        error = self.guard.error()
        if error is not None:
            raise error

    def capture(self, fmt: str, *, jpeg_quality: int = 92) -> bytes:
        """One screenshot of the viewport: ``jpeg`` (fast path) or ``png`` (lossless)."""
        import base64

        params: dict[str, Any] = {"format": fmt, "optimizeForSpeed": True}
        if fmt == "jpeg":
            params["quality"] = jpeg_quality
        try:
            data = self.cdp.send("Page.captureScreenshot", params)["data"]
        except Error as exc:
            raise _classify(exc, "capture") from None
        return base64.b64decode(data)

    def close(self) -> None:
        with contextlib.suppress(Error):
            self.page.context.close()


class BrowserSession:
    """A warm browser reused across chunks; each chunk gets a fresh context and page.

    ``resolver`` and ``fetcher`` are the network guard's seam: tests pass fakes to
    simulate DNS answers and redirects without a network.
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        resolver: Resolver | None = None,
        fetcher: Fetcher | None = None,
    ) -> None:
        self.settings = settings or engine_settings()
        self.resolver = resolver or system_resolver
        self.fetcher = fetcher or HttpsFetcher(
            timeout_s=self.settings.fetch_timeout_s, max_bytes=self.settings.max_fetch_bytes
        )
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._renderer: tuple[Browser, str | None] | None = None

    def _ensure(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            browser_version(self.settings.chrome_path)  # clear error if missing
            if self._pw is None:
                self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=self.settings.chrome_path,
                args=[*CHROME_ARGS, *self.settings.extra_chrome_args],
            )
        return self._browser

    def gpu_renderer(self) -> str:
        """The WebGL renderer, checked to be SwiftShader; probed once per browser launch."""
        browser = self._ensure()
        if self._renderer is None or self._renderer[0] is not browser:
            try:
                context = browser.new_context()
                try:
                    renderer = context.new_page().evaluate(RENDERER_JS)
                finally:
                    context.close()
            except Error as exc:
                raise _classify(exc, "checking the WebGL renderer") from None
            self._renderer = (browser, renderer)
        return check_gpu_renderer(self._renderer[1])

    def open(self, spec: PageSpec) -> CompositionPage:
        """Load the composition, run the checks and wait until it is ready for its first seek."""
        renderer = self.gpu_renderer()
        try:
            context = self._ensure().new_context(
                viewport={"width": spec.width, "height": spec.height},
                # Dates and number formats must not depend on the worker's locale.
                timezone_id="UTC",
                locale="en-US",
                device_scale_factor=1,
                # A service worker's requests would bypass the request guard.
                service_workers="block",
            )
        except Error as exc:
            raise _classify(exc, "opening a page") from None
        try:
            return self._load(context, spec, renderer)
        except BaseException:
            with contextlib.suppress(Error):
                context.close()
            raise

    def _load(self, context: BrowserContext, spec: PageSpec, renderer: str) -> CompositionPage:
        config = {
            "fps": spec.fps,
            "width": spec.width,
            "height": spec.height,
            "variables": spec.variables,
            "seed": spec.seed,
        }
        context.add_init_script(script=f"window.__FRAMERUN_CONFIG__ = {json.dumps(config)};")
        context.add_init_script(path=str(RUNTIME_JS))
        for adapter in sorted(ADAPTERS_DIR.glob("*.js")):
            context.add_init_script(path=str(adapter))
        guard = PageGuard(
            spec.project_dir, resolver=self.resolver, fetcher=self.fetcher, entry=spec.entry
        )
        page = context.new_page()
        guard.attach(context, page)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        cdp = context.new_cdp_session(page)
        if spec.transparent:
            cdp.send(
                "Emulation.setDefaultBackgroundColorOverride",
                {"color": {"r": 0, "g": 0, "b": 0, "a": 0}},
            )
        timeout_ms = self.settings.load_timeout_s * 1000
        # READY_JS gives up by itself after the load timeout, unless the page's own
        # code never yields: the deadline (after goto and ready both could) covers that.
        with page_deadline(2 * self.settings.load_timeout_s + 5) as expired:
            try:
                page.goto(f"{SITE_ORIGIN}/{spec.entry}", wait_until="load", timeout=timeout_ms)
                page.wait_for_function("() => !!window.__framerun", timeout=timeout_ms)
                page.evaluate(READY_JS, timeout_ms)
                if spec.transparent:
                    page.evaluate(TRANSPARENT_BACKGROUND_JS)
                report = page.evaluate(PAGE_CHECK_JS, timeout_ms)
            except Error as exc:
                error = (
                    _overran(f"loading '{spec.entry}'", "FRAMERUN_LOAD_TIMEOUT_S")
                    if expired.is_set()
                    else _classify(exc, f"loading '{spec.entry}'")
                )
                # A refused script or font is the likelier cause of a page that never settles.
                if isinstance(error, CompositionTimeoutError):
                    error = guard.error() or error
                raise error from None
        check_gpu_mode(report["hardware"])
        font_failure = font_error(report["failed"], report["sources"], guard.refusals)
        if font_failure is not None:
            raise font_failure
        refused = guard.error()
        if refused is not None:
            raise refused
        if errors:
            raise PageScriptError(
                f"the composition threw while loading: {errors[0]}; fix the script error"
            )
        page.set_default_timeout(self.settings.seek_timeout_s * 1000)
        fonts = loaded_families(report["loaded"])
        return CompositionPage(page, cdp, spec, self.settings, guard, renderer, fonts)

    @property
    def version(self) -> str:
        return self._ensure().version

    def close(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(Error):
                self._browser.close()
        if self._pw is not None:
            self._pw.stop()
        self._browser = self._pw = None
        self._renderer = None


def _raise_font_error(page: Page, guard: PageGuard) -> None:
    """A face failed after the page opened: name it (the full report costs one evaluate)."""
    try:
        report = page.evaluate(PAGE_CHECK_JS, 0)
    except Error as exc:
        raise _classify(exc, "checking fonts") from None
    failed = [face for face in report["failed"] if face["status"] == "error"]  # not in flight
    error = font_error(failed, report["sources"], guard.refusals)
    if error is not None:
        raise error


def _overran(doing: str, setting: str) -> CompositionTimeoutError:
    return CompositionTimeoutError(
        f"the page did not answer while {doing} (a script that never yields, or a "
        f"promise that never settles); fix the composition or raise {setting}"
    )


def _classify(exc: Error, doing: str) -> Exception:
    text = str(exc)
    if "Timeout" in text or "timeout" in text:
        return CompositionTimeoutError(
            f"the page did not settle while {doing}; check for never-ending loads "
            "or raise FRAMERUN_LOAD_TIMEOUT_S"
        )
    if "closed" in text or "crash" in text.lower() or "disconnected" in text:
        return BrowserCrashedError(f"the browser died while {doing}: {text.splitlines()[0]}")
    return PageScriptError(f"the page failed while {doing}: {text.splitlines()[0]}")
