"""chrome-headless-shell through Playwright: one warm browser, a fresh page per chunk.

The page is served from a virtual HTTPS origin by request interception, so site
files load like a real web site (fonts, modules, fetch) and every other request
is refused and reported. Software GL (SwiftShader) only, so pixels do not
depend on the machine's GPU.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from framerun_service.errors import (
    BrowserCrashedError,
    CompositionTimeoutError,
    InvalidConfigError,
    PageScriptError,
)
from framerun_service.render.site import resolve_site_path
from framerun_service.settings import EngineSettings, engine_settings
from playwright.sync_api import Browser, Error, Page, Playwright, Route, sync_playwright

SITE_ORIGIN = "https://site.framerun.invalid"
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
    # Software compositing: compositing through SwiftShader GL cost ~160 ms of
    # CPU per 1080p frame in the GPU process, the software compositor ~45 ms.
    # WebGL still renders through SwiftShader.
    "--disable-gpu-compositing",
)


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


@dataclass
class CompositionPage:
    """A loaded composition: seek to a time, then capture."""

    page: Page
    cdp: Any
    spec: PageSpec
    settings: EngineSettings
    blocked: list[str] = field(default_factory=list)

    def seek(self, frame: int) -> None:
        ms = frame * 1000.0 / self.spec.fps
        try:
            self.page.evaluate("ms => window.__framerun.seek(ms)", ms)
        except Error as exc:
            raise _classify(exc, f"seek to frame {frame}") from None

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
    """A warm browser reused across chunks; each chunk gets a fresh context and page."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or engine_settings()
        self._pw: Playwright | None = None
        self._browser: Browser | None = None

    def _ensure(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            browser_version(self.settings.chrome_path)  # clear error if missing
            if self._pw is None:
                self._pw = sync_playwright().start()
            self._browser = self._pw.chromium.launch(
                executable_path=self.settings.chrome_path, args=list(CHROME_ARGS)
            )
        return self._browser

    def open(self, spec: PageSpec) -> CompositionPage:
        """Load the composition and wait until it is ready for its first seek."""
        browser = self._ensure()
        try:
            context = browser.new_context(
                viewport={"width": spec.width, "height": spec.height},
                # Dates and number formats must not depend on the worker's locale.
                timezone_id="UTC",
                locale="en-US",
                device_scale_factor=1,
            )
        except Error as exc:
            raise _classify(exc, "opening a page") from None
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
        blocked: list[str] = []
        context.route("**/*", lambda route: _serve(route, spec.project_dir, blocked))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        cdp = context.new_cdp_session(page)
        if spec.transparent:
            cdp.send(
                "Emulation.setDefaultBackgroundColorOverride",
                {"color": {"r": 0, "g": 0, "b": 0, "a": 0}},
            )
        timeout_ms = self.settings.load_timeout_s * 1000
        try:
            page.goto(f"{SITE_ORIGIN}/{spec.entry}", wait_until="load", timeout=timeout_ms)
            page.wait_for_function("() => !!window.__framerun", timeout=timeout_ms)
            page.evaluate("() => window.__framerun.ready()")
        except Error as exc:
            context.close()
            raise _classify(exc, f"loading '{spec.entry}'") from None
        if errors:
            context.close()
            raise PageScriptError(
                f"the composition threw while loading: {errors[0]}; fix the script error"
            )
        page.set_default_timeout(self.settings.seek_timeout_s * 1000)
        return CompositionPage(page, cdp, spec, self.settings, blocked)

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


def _serve(route: Route, project_dir: Path, blocked: list[str]) -> None:
    """Fulfil site requests from the project folder; refuse everything else."""
    url = route.request.url
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != SITE_ORIGIN:
        blocked.append(url)
        route.abort("blockedbyclient")
        return
    path = resolve_site_path(project_dir, unquote(parts.path))
    if path is None:
        route.fulfill(status=404, body=b"not found")
        return
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    route.fulfill(status=200, body=path.read_bytes(), headers={"content-type": ctype})


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
