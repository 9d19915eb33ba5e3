"""Engine settings, read once from the environment (``FRAMERUN_*``).

The engine's own: the service's settings (``framerun_service.settings``) sit a layer up.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import cache

DEFAULT_CHROME = "/usr/lib/chromium/chromium-headless-shell"
# Chrome's JPEG quality for the fast capture: q100, as HyperFrames'. Measured with
# bench-peer against lossless references (1080p): q95 capped a still page (blank-demo,
# light text on #0a0a0a) at 69.6 dB even with lossless x264 (q100: 78.3), and
# iframe-render-compat at 47.8 (q100: 48.3), below HyperFrames' 75.4 and 47.9. At the
# same x264 settings q100 raised 17 of the 18 pages by 0.1-1.1 dB (blank-demo needs
# encoding.py's AQ too). Cost: bigger JPEGs to decode. ChunkEncoder CPU a frame (same
# captures at q95/q100, medians of 3 alternating runs): css-motion 60.8 -> 66.6 ms (decode
# alone 7.8 -> 12.5), iframe-render-compat 40.6 -> 39.7 ms (decode alone 4.6 -> 5.1).
# But on a paint-heavy page the q100 JPEGs are 2.6x bigger (css-motion: 623 kB a frame
# against 239) and the whole render's CPU (Chrome + Python, 300 frames, 2 alternating
# pairs on a loaded machine) measured 34.1/36.9 s at q95 against 46.8/50.1 s at q100:
# q100 costs fps there. (q95 over q92 had given +0.4-0.7 dB.)
DEFAULT_JPEG_QUALITY = 100
# How frames are drawn (beginframe.py): "beginframe" (faster, and unchanged frames are
# reused) needs chrome-headless-shell; "screenshot" works with any Chromium.
CAPTURE_METHODS = ("beginframe", "screenshot")


@dataclass(frozen=True)
class EngineSettings:
    chrome_path: str = DEFAULT_CHROME
    load_timeout_s: float = 30.0  # page load + fonts/images before the first frame
    seek_timeout_s: float = 10.0  # one seek settling
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    capture_method: str = CAPTURE_METHODS[0]
    # Appended to the engine's Chrome flags (diagnostics, tests); shell-quoted.
    extra_chrome_args: tuple[str, ...] = ()
    fetch_timeout_s: float = 20.0  # one https: request the page makes (per redirect hop)
    max_fetch_bytes: int = 256 * 1024 * 1024  # one https: response the page loads

    @classmethod
    def from_env(cls) -> EngineSettings:
        env = os.environ
        return cls(
            chrome_path=env.get("FRAMERUN_CHROME", DEFAULT_CHROME),
            load_timeout_s=float(env.get("FRAMERUN_LOAD_TIMEOUT_S", cls.load_timeout_s)),
            seek_timeout_s=float(env.get("FRAMERUN_SEEK_TIMEOUT_S", cls.seek_timeout_s)),
            jpeg_quality=int(env.get("FRAMERUN_JPEG_QUALITY", cls.jpeg_quality)),
            capture_method=_capture_method(env.get("FRAMERUN_CAPTURE", cls.capture_method)),
            extra_chrome_args=tuple(shlex.split(env.get("FRAMERUN_CHROME_ARGS", ""))),
            fetch_timeout_s=float(env.get("FRAMERUN_FETCH_TIMEOUT_S", cls.fetch_timeout_s)),
            max_fetch_bytes=int(env.get("FRAMERUN_MAX_FETCH_BYTES", cls.max_fetch_bytes)),
        )


def _capture_method(value: str) -> str:
    if value not in CAPTURE_METHODS:
        from framerun_service.core.errors import InvalidConfigError

        raise InvalidConfigError(
            f"FRAMERUN_CAPTURE is '{value}'; use one of {', '.join(CAPTURE_METHODS)}"
        )
    return value


@cache
def engine_settings() -> EngineSettings:
    return EngineSettings.from_env()
