"""What every composition page gets before its own scripts: the config, the runtime, the adapters.

A render adds these as scripts every new document runs first (``browser.py``); the preview writes
them into the documents it serves (``preview.py``). Both take them from here, so
the page a preview shows runs the same runtime with the same config as a render.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from framerun_service.render.videoframes import FRAME_PATH, VideoInfo

__all__ = ["ADAPTERS_DIR", "RUNTIME_JS", "config_script", "init_script_paths", "page_config"]

RUNTIME_JS = Path(__file__).with_name("runtime.js")
# One file per animation library, each registering itself with the runtime.
ADAPTERS_DIR = Path(__file__).with_name("adapters")


def page_config(
    *,
    fps: float,
    width: int,
    height: int,
    variables: dict[str, Any],
    seed: int,
    begin_frame: bool,
    posters: dict[str, VideoInfo],
) -> dict[str, Any]:
    """``window.__FRAMERUN_CONFIG__``: what runtime.js and the adapters read at load;
    ``posters`` are the site's videos the engine shows as posters (videoframes.py)."""
    return {
        "fps": fps,
        "width": width,
        "height": height,
        "variables": variables,
        "seed": seed,
        "beginFrame": begin_frame,
        # The sources shown as posters (videoframes.py), by their path on the site origin.
        "videoFrames": {
            "path": FRAME_PATH,
            "sources": {site_path: asdict(info) for site_path, info in posters.items()},
        },
    }


def config_script(config: dict[str, Any]) -> str:
    """The config as a script; safe inside an HTML ``<script>`` element too."""
    text = json.dumps(config).replace("<", "\\u003c")  # no "</script>" in a variable's value
    return f"window.__FRAMERUN_CONFIG__ = {text};"


def init_script_paths() -> list[Path]:
    """The runtime, then every adapter, in the order the page must run them."""
    return [RUNTIME_JS, *sorted(ADAPTERS_DIR.glob("*.js"))]
