"""The Chrome binary framerun renders with: its launch flags and its version probe.

Kept apart from the session so the planner-side callers (plan hashing, plan checks)
can ask which browser renders without pulling in the page machinery, and so every
flag that shapes the pixels sits in one place with the reason it is there.
"""

from __future__ import annotations

import subprocess
from functools import cache

from framerun_service.core.errors import InvalidConfigError
from framerun_service.render.settings import engine_settings

__all__ = ["BEGIN_FRAME_ARGS", "CHROME_ARGS", "browser_version"]

# The switches Playwright launched Chrome with while framerun drove the browser through
# it (chromiumSwitches.ts, headless): kept so pixels, fonts, colours and timing stay
# exactly as they were. Among them, what shapes a frame: --force-color-profile=srgb,
# PaintHolding disabled (no held first paint), CDPScreenshotNewSurface, the hover and
# pointer settings, and no background throttling of timers or renderers.
_AUTOMATION_ARGS = (
    "--disable-field-trial-config",
    "--disable-background-networking",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    "--disable-component-update",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,"
    "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,"
    "ThirdPartyStoragePartitioning,AvoidCorsURLLoaderRestartOnRedirect,OptimizationHints,"
    "NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch",
    "--enable-features=CDPScreenshotNewSurface,SkipListAccountsWithoutGaiaCookies",
    "--allow-pre-commit-input",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-renderer-backgrounding",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--no-first-run",
    "--password-store=basic",
    "--use-mock-keychain",
    "--no-service-autorun",
    "--disable-search-engine-choice-screen",
    "--unsafely-disable-devtools-self-xss-warnings",
    "--disable-stack-profiler",
    "--disable-infobars",
    "--disable-sync",
    "--headless",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,"
    "primaryPointerType=4,availablePointerTypes=4",
)

CHROME_ARGS = (
    *_AUTOMATION_ARGS,
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

# Frames drawn only when the renderer asks (HeadlessExperimental.beginFrame): one call
# runs the whole pipeline (main thread, raster, compositor) for the frame just seeked
# and returns its pixels, and reports whether anything on screen changed, which lets
# an unchanged frame be reused instead of drawn again. A browser launched with these
# serves only pages created with beginFrame control: Page.captureScreenshot on an
# ordinary page waits forever for a frame, so such pages get a browser without them.
BEGIN_FRAME_ARGS = (
    "--enable-begin-frame-control",
    "--run-all-compositor-stages-before-draw",
    "--disable-new-content-rendering-timeout",
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
