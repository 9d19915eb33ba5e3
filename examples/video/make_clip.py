"""Write clip.webm, the source video of this example: one solid colour per frame.

Run it once (scripts/vendor-js.sh does): `.venv/bin/python examples/video/make_clip.py`.
The file is generated rather than committed, and a colour per frame makes any
frame the renderer shows easy to tell from its neighbours.
"""

from __future__ import annotations

import colorsys
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_colour(n: int) -> tuple[int, int, int]:
    """Frame n's RGB: hues a golden angle apart, so neighbouring frames differ a lot."""
    r, g, b = colorsys.hsv_to_rgb((n * 0.381966) % 1.0, 0.8, 0.9)
    return round(r * 255), round(g * 255), round(b * 255)


def make_clip(
    path: Path, *, frames: int = 60, fps: int = 30, width: int = 320, height: int = 240
) -> Path:
    """Encode ``frames`` solid-colour frames as VP9 WebM, which Chromium always plays."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        cc = stream.codec_context
        cc.time_base = Fraction(1, fps)
        # Tagged BT.601 (SMPTE 170M), limited range, so the browser and a decoder convert
        # to RGB alike. Not BT.709: Chromium's software compositor converts that with
        # coarse fixed-point coefficients, ~9 levels off in blue.
        cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc = 1, 6, 6, 6
        # A keyframe every second keeps seeks cheap; constant quality keeps colours exact.
        cc.gop_size = fps
        cc.options = {"crf": "10", "b:v": "0", "deadline": "good", "cpu-used": "8"}
        picture = np.empty((height, width, 3), np.uint8)
        for n in range(frames):
            picture[:] = frame_colour(n)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU601", dst_color_range="MPEG"
            )
            frame.pts, frame.color_range, frame.colorspace = n, 1, 6
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):  # flush the frames the encoder still holds
            container.mux(packet)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("clip.webm")
    print(make_clip(out))
