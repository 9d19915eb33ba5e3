"""Third-party animation libraries in test compositions, and frames captured in any order."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import av
import numpy as np

from framerun_service.render.browser import BrowserSession, PageSpec

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
# The same files scripts/vendor-js.sh copies into the examples.
ANIME = NODE_MODULES / "animejs" / "dist" / "bundles" / "anime.umd.min.js"
LOTTIE = NODE_MODULES / "lottie-web" / "build" / "player" / "lottie.min.js"
THREE = (
    NODE_MODULES / "three" / "build" / "three.module.js",
    NODE_MODULES / "three" / "build" / "three.core.js",  # three.module.js imports it
)
MAKE_CLIP = REPO / "examples" / "video" / "make_clip.py"


def vendor(folder: Path, *files: Path) -> None:
    """Copy library files into ``folder/vendor/``, as scripts/vendor-js.sh does for examples."""
    (folder / "vendor").mkdir(parents=True, exist_ok=True)
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing: run `make setup` (scripts/vendor-js.sh)")
        shutil.copy(file, folder / "vendor" / file.name)


@cache
def make_clip_module() -> ModuleType:
    """examples/video/make_clip.py, which writes the solid-colour source video."""
    spec = importlib.util.spec_from_file_location("make_clip", MAKE_CLIP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lottie_square(*, top: float, width: int = 320, height: int = 240) -> dict[str, Any]:
    """A Lottie animation (30 fps, 30 frames): a red 40 px square at ``top`` moving
    its left edge 0 → 200 px, linearly, over 1 s (frame f: x = 200·f/30)."""

    def static(value: Any) -> dict[str, Any]:
        return {"a": 0, "k": value}

    y = top + 20  # the rectangle is drawn centred on the layer's position
    linear = {"i": {"x": [1], "y": [1]}, "o": {"x": [0], "y": [0]}}
    return {
        "v": "5.7.4",
        "fr": 30,
        "ip": 0,
        "op": 30,
        "w": width,
        "h": height,
        "nm": "square",
        "ddd": 0,
        "assets": [],
        "layers": [
            {
                "ddd": 0,
                "ind": 1,
                "ty": 4,
                "nm": "square",
                "sr": 1,
                "ks": {
                    "o": static(100),
                    "r": static(0),
                    "p": {
                        "a": 1,
                        "k": [{"t": 0, "s": [20, y, 0], **linear}, {"t": 30, "s": [220, y, 0]}],
                    },
                    "a": static([0, 0, 0]),
                    "s": static([100, 100, 100]),
                },
                "ao": 0,
                "shapes": [
                    {
                        "ty": "gr",
                        "nm": "box",
                        "it": [
                            {
                                "ty": "rc",
                                "nm": "rect",
                                "d": 1,
                                "s": static([40, 40]),
                                "p": static([0, 0]),
                                "r": static(0),
                            },
                            {
                                "ty": "fl",
                                "nm": "fill",
                                "c": static([1, 0, 0, 1]),
                                "o": static(100),
                                "r": 1,
                            },
                            {
                                "ty": "tr",
                                "p": static([0, 0]),
                                "a": static([0, 0]),
                                "s": static([100, 100]),
                                "r": static(0),
                                "o": static(100),
                                "sk": static(0),
                                "sa": static(0),
                            },
                        ],
                    }
                ],
                "ip": 0,
                "op": 30,
                "st": 0,
                "bm": 0,
            }
        ],
    }


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def capture_frames(
    project: Path, frames: Iterable[int], *, width: int = 320, height: int = 240, fps: float = 30.0
) -> dict[int, np.ndarray]:
    """RGB pixels of ``frames``, seeked and captured (PNG) in the given order in one page.

    Also fails if the page's runtime recorded an error (an adapter that threw or timed out).
    """
    session = BrowserSession()
    try:
        page = session.open(PageSpec(project, "index.html", width, height, fps, {}))
        try:
            out = {}
            for frame in frames:
                page.seek(frame)
                packet = av.Packet(page.capture("png"))
                packet.is_keyframe = True
                (decoded,) = av.CodecContext.create("png", "r").decode(packet)
                out[frame] = decoded.to_ndarray(format="rgb24")
            errors = page.page.evaluate("() => window.__framerun.errors")
            assert not errors, f"the runtime recorded errors: {errors}"
            return out
        finally:
            page.close()
    finally:
        session.close()


def red_box_left(frame: np.ndarray, row: int) -> float:
    """Left edge (px) of a 40 px wide red box crossing ``row``, from the centroid of red."""
    line = frame[row].astype(float)
    redness = np.clip(line[:, 0] - line[:, 1], 0, None)
    assert redness.sum() > 40 * 100, f"red box not found on row {row}"
    centre = float((redness * np.arange(len(redness))).sum() / redness.sum())
    return centre - 20 + 0.5
