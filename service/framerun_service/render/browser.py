"""chrome-headless-shell over CDP: one warm browser, a fresh page per chunk.

The page is served from a virtual HTTPS origin by request interception
(``pageguard.py``), so site files load like a real web site. Every other request
goes through the network guard (``netguard.py``: public https: only, each refusal
fails the render with ASSET_FETCH_FAILED), declared fonts must load
(FONT_FETCH_FAILED, never a fallback font) and WebGL must be SwiftShader
(BROWSER_GPU_NOT_SOFTWARE), so pixels do not depend on the machine. The checks
run when a page opens and after every seek, before its frame is captured.
The browser binary, its flags and its version probe live in ``chrome.py``; the
DevTools pipe in ``cdp.py``; a page's set-up and interception in ``cdppage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framerun_service.core.errors import (
    BrowserCrashedError,
    CompositionTimeoutError,
    PageScriptError,
)
from framerun_service.render.beginframe import BeginFrameCapture, capture_method
from framerun_service.render.cdp import (
    CdpError,
    CdpTimeoutError,
    Chrome,
    TargetClosedError,
)
from framerun_service.render.cdppage import PageTarget
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
from framerun_service.render.chrome import BEGIN_FRAME_ARGS, CHROME_ARGS, browser_version
from framerun_service.render.deadline import page_deadline
from framerun_service.render.intravideo import prepare_intra_copies
from framerun_service.render.netguard import (
    SITE_ORIGIN,
    Fetcher,
    HttpsFetcher,
    Resolver,
    system_resolver,
)
from framerun_service.render.pageguard import PageGuard
from framerun_service.render.pageinit import config_script, init_script_paths, page_config
from framerun_service.render.settings import EngineSettings, engine_settings
from framerun_service.render.videoframes import (
    VideoFrames,
    VideoInfo,
    servable_videos,
)

__all__ = ["BrowserSession", "CompositionPage", "PageSpec"]
# ready() waits for fonts and images; bound it with the real clock (the page's is frozen).
READY_TIMEOUT = "Timeout: ready() did not settle"
READY_JS = f"""(ms) => Promise.race([
  window.__framerun.ready(),
  new Promise((_, reject) => window.__framerun.__internal.real.setTimeout(
    () => reject(new Error("{READY_TIMEOUT}")), ms)),
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
# Real time one pre-roll call may take: few round trips for light pages, and for heavy
# ones (a WebGL scene redrawn each frame) calls still short enough for the seek deadline.
PREROLL_CALL_MS = 1000


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
    # Draw with HeadlessExperimental.beginFrame (beginframe.py) rather than
    # Page.captureScreenshot. The two differ by a level on a few pixels, so a plan
    # fixes one for all its chunks. None: as a plan made with default settings would.
    begin_frame: bool | None = None
    # Capture without loss: <video> pictures reach the page as PNG, not JPEG (videoframes.py).
    lossless: bool = False

    def __post_init__(self) -> None:
        if self.begin_frame is None:
            self.begin_frame = capture_method(self.project_dir, "beginframe") == "beginframe"


@dataclass
class CompositionPage:
    """A loaded composition: seek to a time, then capture."""

    page: PageTarget
    spec: PageSpec
    settings: EngineSettings
    guard: PageGuard
    renderer: str = ""
    fonts: tuple[str, ...] = field(default_factory=tuple)  # families loaded at open
    frames: BeginFrameCapture | None = None  # the beginFrame loop, for such pages
    _last: bytes | None = None  # what capture() returned last, for an unchanged frame

    def seek(self, frame: int) -> None:
        """Show ``frame``; raises if a font failed or a request was refused meanwhile.

        A request a frame starts without awaiting it may be reported at the next
        seek (or :meth:`check`), but never reaches its target either way.
        """
        ms = frame * 1000.0 / self.spec.fps
        self._run(SEEK_JS, ms, f"showing frame {frame}")

    def preroll(self, frames: int, *, start: int = 0) -> None:
        """Move the page's time through frames [``start``, ``frames``) without drawing them.

        A fresh page that is to show frame N first lives through the frames before
        it, so scripts that keep state across ticks reach frame N as they would in
        one continuous render (see runtime.js, "Continuous time"); a page that draws
        every k-th frame lives through the frames between the same way.
        """
        done = start
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
            except CdpError as exc:
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
        except CdpError as exc:
            raise _classify(exc, "evaluating a script in the page") from None

    def check(self) -> None:
        """Raise AssetFetchFailedError if any request has been refused so far."""
        error = self.guard.error()
        if error is not None:
            raise error

    def capture(self, fmt: str, *, jpeg_quality: int = 92) -> bytes:
        """The viewport as ``jpeg`` (fast path) or ``png`` (lossless) bytes."""
        data = self.capture_changed(fmt, jpeg_quality=jpeg_quality)
        if data is None:
            assert self._last is not None  # the first capture of a page always draws
            return self._last
        self._last = data
        return data

    def capture_changed(self, fmt: str, *, jpeg_quality: int = 92) -> bytes | None:
        """As :meth:`capture`, but None when nothing on screen changed since this
        page's previous capture (only beginFrame pages can tell; see beginframe.py),
        so the caller can reuse that frame rather than decode the same pixels again."""
        import base64

        try:
            if self.frames is not None:
                return self.frames.capture(fmt, jpeg_quality)
            params: dict[str, Any] = {"format": fmt, "optimizeForSpeed": True}
            if fmt == "jpeg":
                params["quality"] = jpeg_quality
            data = self.page.send("Page.captureScreenshot", params)["data"]
        except CdpError as exc:
            raise _classify(exc, "capture") from None
        return base64.b64decode(data)

    def close(self) -> None:
        self.page.close()
        self.guard.video_frames.close()


class BrowserSession:
    """A warm browser reused across chunks; each chunk gets a fresh context and page.

    ``resolver`` and ``fetcher`` are the network guard's seam: tests pass fakes to
    simulate DNS answers and redirects without a network. A session belongs to one
    thread at a time (a page thread, pagepool.py); several sessions run side by side.
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
        # One browser per way of drawing: a beginFrame browser cannot screenshot
        # ordinary pages (chrome.py), so each kind of page gets its own.
        self._browsers: dict[bool, Chrome] = {}
        self._renderers: dict[bool, tuple[Chrome, str | None]] = {}  # probed, per browser

    def _ensure(self, begin_frame: bool = True) -> Chrome:
        browser = self._browsers.get(begin_frame)
        if browser is None or not browser.connected:
            if browser is not None:
                browser.close()  # reap the dead one and delete its profile
            browser_version(self.settings.chrome_path)  # clear error if missing
            args = (
                *CHROME_ARGS,
                *(BEGIN_FRAME_ARGS if begin_frame else ()),
                *self.settings.extra_chrome_args,
            )
            browser = self._browsers[begin_frame] = _launch(self.settings.chrome_path, args)
        return browser

    def launch(self, begin_frame: bool = True) -> None:
        """Start the browser now (a warm-up, while something else runs), not at first use."""
        self._ensure(begin_frame)

    def _check_renderer(self, page: PageTarget, browser: Chrome, begin_frame: bool) -> str:
        """The WebGL renderer, checked to be SwiftShader; probed once per browser launch,
        on ``page`` while it is still blank.

        A render's first page is its probe: a page of its own would cost a renderer
        process (≈ 0.3 s) before the first frame.
        """
        known = self._renderers.get(begin_frame)
        if known is None or known[0] is not browser:
            try:
                known = self._renderers[begin_frame] = (browser, page.evaluate(RENDERER_JS))
            except CdpError as exc:
                raise _classify(exc, "checking the WebGL renderer") from None
        return check_gpu_renderer(known[1])

    def open(self, spec: PageSpec) -> CompositionPage:
        """Load the composition, run the checks and wait until it is ready for its first seek."""
        posters = servable_videos(spec.project_dir)
        # Before the load deadline starts: a copy takes seconds, probing a source less.
        prepare_intra_copies(spec.project_dir, shown_as_posters=posters)
        begin_frame = bool(spec.begin_frame)  # decided by __post_init__
        browser = self._ensure(begin_frame)
        guard = PageGuard(
            spec.project_dir,
            resolver=self.resolver,
            fetcher=self.fetcher,
            entry=spec.entry,
            video_frames=VideoFrames(lossless=spec.lossless),
        )
        try:
            page = PageTarget(
                browser,
                width=spec.width,
                height=spec.height,
                begin_frame=begin_frame,
                scripts=_page_scripts(spec, posters),
                listener=guard,
            )
        except CdpError as exc:
            guard.video_frames.close()
            raise _classify(exc, "opening a page") from None
        try:
            return self._load(page, browser, spec, guard)
        except CdpError as exc:  # a call no step classified (the browser died, …)
            page.close()
            guard.video_frames.close()
            raise _classify(exc, "opening a page") from None
        except BaseException:
            page.close()
            guard.video_frames.close()
            raise

    def _load(
        self, page: PageTarget, browser: Chrome, spec: PageSpec, guard: PageGuard
    ) -> CompositionPage:
        renderer = self._check_renderer(page, browser, bool(spec.begin_frame))
        if spec.transparent:
            page.send(
                "Emulation.setDefaultBackgroundColorOverride",
                {"color": {"r": 0, "g": 0, "b": 0, "a": 0}},
            )
        report = self._navigate(page, spec, guard)
        _check_loaded(report, guard, page.errors)
        fonts = loaded_families(report["loaded"])
        frames = BeginFrameCapture(page.send, spec.fps) if spec.begin_frame else None
        return CompositionPage(page, spec, self.settings, guard, renderer, fonts, frames)

    def _navigate(self, page: PageTarget, spec: PageSpec, guard: PageGuard) -> dict[str, Any]:
        """Go to the entry, wait until it is ready and return the page check's report."""
        timeout_s = self.settings.load_timeout_s
        timeout_ms = timeout_s * 1000
        # READY_JS gives up by itself after the load timeout, unless the page's own
        # code never yields: the deadline (after goto and ready both could) covers that.
        with page_deadline(2 * timeout_s + 5) as expired:
            try:
                page.navigate(f"{SITE_ORIGIN}/{spec.entry}", timeout=timeout_s)
                # Polled on a timer: a beginFrame page only draws when asked.
                page.wait_for("() => !!window.__framerun", timeout=timeout_s)
                page.evaluate(READY_JS, timeout_ms)
                if spec.transparent:
                    page.evaluate(TRANSPARENT_BACKGROUND_JS)
                report: dict[str, Any] = page.evaluate(PAGE_CHECK_JS, timeout_ms)
            except CdpError as exc:
                error = (
                    _overran(f"loading '{spec.entry}'", "FRAMERUN_LOAD_TIMEOUT_S")
                    if expired.is_set()
                    else _classify(exc, f"loading '{spec.entry}'")
                )
                # A refused script or font is the likelier cause of a page that never settles.
                if isinstance(error, CompositionTimeoutError):
                    error = guard.error() or error
                raise error from None
        return report

    @property
    def version(self) -> str:
        """The running browser's version, e.g. ``156.0.8078.114``."""
        product = self._ensure().browser.send("Browser.getVersion")["product"]
        return str(product).split("/", 1)[-1]

    def close(self) -> None:
        for browser in self._browsers.values():
            browser.close()
        self._browsers = {}
        self._renderers.clear()


def _launch(path: str, args: tuple[str, ...]) -> Chrome:
    """A browser, answering on its DevTools pipe; one that dies at start says why."""
    try:
        browser = Chrome(path, args)
    except OSError as exc:
        raise BrowserCrashedError(f"the browser at {path} did not start ({exc})") from None
    try:
        browser.browser.send("Browser.getVersion", timeout=30)
    except CdpError:
        log = browser.launch_log().strip().splitlines()
        browser.close()
        raise BrowserCrashedError(
            f"the browser at {path} did not start: {log[-1] if log else 'no output'}; "
            "check FRAMERUN_CHROME and FRAMERUN_CHROME_ARGS"
        ) from None
    return browser


def _page_scripts(spec: PageSpec, posters: dict[str, VideoInfo]) -> list[str]:
    """What every frame of the page runs first: the composition's config, the runtime
    and the adapters; ``posters`` are the site's videos the engine shows as posters
    (videoframes.py)."""
    config = page_config(
        fps=spec.fps,
        width=spec.width,
        height=spec.height,
        variables=spec.variables,
        seed=spec.seed,
        begin_frame=bool(spec.begin_frame),
        posters=posters,
    )
    scripts = [config_script(config)]
    for path in init_script_paths():
        scripts.append(f"{path.read_text()}\n//# sourceURL=framerun/{path.name}")
    return scripts


def _check_loaded(report: dict[str, Any], guard: PageGuard, errors: list[str]) -> None:
    """Raise what makes a loaded page unfit to render: a hardware GPU, a failed font,
    a refused request or a script that threw while loading."""
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


def _raise_font_error(page: PageTarget, guard: PageGuard) -> None:
    """A face failed after the page opened: name it (the full report costs one evaluate)."""
    try:
        report = page.evaluate(PAGE_CHECK_JS, 0)
    except CdpError as exc:
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


def _classify(exc: CdpError, doing: str) -> Exception:
    text = (str(exc).splitlines() or [""])[0]
    if isinstance(exc, TargetClosedError):
        return BrowserCrashedError(f"the browser died while {doing}: {text}")
    if isinstance(exc, CdpTimeoutError) or READY_TIMEOUT in text:
        return CompositionTimeoutError(
            f"the page did not settle while {doing}; check for never-ending loads "
            "or raise FRAMERUN_LOAD_TIMEOUT_S"
        )
    return PageScriptError(f"the page failed while {doing}: {text}")
