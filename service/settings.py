"""Engine settings, read once from the environment (``FRAMERUN_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

DEFAULT_CHROME = "/usr/lib/chromium/chromium-headless-shell"


@dataclass(frozen=True)
class EngineSettings:
    chrome_path: str = DEFAULT_CHROME
    load_timeout_s: float = 30.0  # page load + fonts/images before the first frame
    seek_timeout_s: float = 10.0  # one seek settling
    jpeg_quality: int = 92

    @classmethod
    def from_env(cls) -> EngineSettings:
        env = os.environ
        return cls(
            chrome_path=env.get("FRAMERUN_CHROME", DEFAULT_CHROME),
            load_timeout_s=float(env.get("FRAMERUN_LOAD_TIMEOUT_S", cls.load_timeout_s)),
            seek_timeout_s=float(env.get("FRAMERUN_SEEK_TIMEOUT_S", cls.seek_timeout_s)),
            jpeg_quality=int(env.get("FRAMERUN_JPEG_QUALITY", cls.jpeg_quality)),
        )


@cache
def engine_settings() -> EngineSettings:
    return EngineSettings.from_env()
