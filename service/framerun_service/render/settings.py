"""Engine settings, read once from the environment (``FRAMERUN_*``).

The engine's own: the service's settings (``framerun_service.settings``) sit a layer up.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from functools import cache

DEFAULT_CHROME = "/usr/lib/chromium/chromium-headless-shell"
# Chrome's JPEG quality for the fast capture. Measured with bench-peer against lossless
# references (1080p): q95 over q92 gave +0.4-0.7 dB at the same x264 settings, for
# no fps lost within noise; HyperFrames captures at q100.
DEFAULT_JPEG_QUALITY = 95
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
