"""Measure the JPEG → BT.709 colour conversion that ChunkEncoder uses (jfifcolour.py)
against the path through RGB it replaced, on captures of ``examples/bench``.

For each frame the page is captured twice, as the render does (JPEG, the plan's
quality) and losslessly (PNG). Each conversion of the JPEG is then decoded back to
RGB and compared with the PNG, by two decoders:

- ``accurate``: swscale with accurate rounding and full chroma interpolation, as a
  player shows the picture;
- ``default``: swscale's default yuv → rgb path (PyAV's ``to_ndarray``), which rounds
  down and leaves every picture ≈ 0.75 level dark; an encode biased up scores
  better under it than an exact one.

Prints one JSON object: CPU ms per frame of each conversion, and mean PSNR (dB) of
each under each decoder. Usage: ``.venv/bin/python scripts/measure_colour.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from framerun_service.render.browser import BrowserSession
from framerun_service.render.chunk import page_spec
from framerun_service.render.composition import load_composition
from framerun_service.render.encode import _FROM_JPEG
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.jfifcolour import JfifToBt709
from framerun_service.render.local import plan_local

PROJECT = Path(__file__).resolve().parent.parent / "examples" / "bench"
ACCURATE = int(Interpolation.BILINEAR) | int(Interpolation.ACCURATE_RND)
ACCURATE |= int(Interpolation.FULL_CHR_H_INT)


def capture_pairs(frames: int) -> list[tuple[bytes, bytes]]:
    """(JPEG, PNG) of ``frames`` frames spread over the composition."""
    comp = load_composition(PROJECT)
    plan = plan_local(comp, encoder_settings(fps=comp.fps, quality="standard"))
    session = BrowserSession()
    pairs = []
    try:
        page = session.open(page_spec(plan, PROJECT))
        step = max(1, comp.total_frames // frames)
        for frame in range(0, step * frames, step):
            page.seek(frame)
            jpeg = page.capture("jpeg", jpeg_quality=plan.jpeg_quality)
            pairs.append((jpeg, page.capture("png")))
        page.close()
    finally:
        session.close()
    return pairs


def through_rgb(frame: av.VideoFrame) -> av.VideoFrame:
    """The conversion jfifcolour.py replaced: JPEG planes → RGB → BT.709 planes."""
    rgb = frame.reformat(format="rgb24", interpolation=_FROM_JPEG, threads=1)
    return rgb.reformat(
        format="yuv420p",
        dst_colorspace=Colorspace.ITU709,
        dst_color_range=ColorRange.MPEG,
        interpolation=_FROM_JPEG,
        threads=1,
    )


def to_rgb(frame: av.VideoFrame, accurate: bool) -> np.ndarray:
    frame.colorspace, frame.color_range = 1, 1  # BT.709 limited, as the encoder tags it
    if not accurate:
        return frame.to_ndarray(format="rgb24")
    return frame.reformat(
        format="rgb24",
        src_colorspace=Colorspace.ITU709,
        src_color_range=ColorRange.MPEG,
        interpolation=ACCURATE,
    ).to_ndarray()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean(np.square(a.astype(np.float64) - b.astype(np.float64))))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args(argv)
    pairs = capture_pairs(args.frames)
    jpeg_decoder = av.CodecContext.create("mjpeg", "r")
    png_decoder = av.CodecContext.create("png", "r")
    jpegs = [jpeg_decoder.decode(av.Packet(jpeg))[0] for jpeg, _ in pairs]
    refs = []
    for _, png in pairs:
        packet = av.Packet(png)
        packet.is_keyframe = True
        refs.append(png_decoder.decode(packet)[0].to_ndarray(format="rgb24"))
    planes = JfifToBt709()
    conversions: dict[str, Callable[[av.VideoFrame], av.VideoFrame]] = {
        "planes": planes.convert,
        "through_rgb": through_rgb,
    }
    result: dict[str, float] = {"frames": len(pairs)}
    for name, convert in conversions.items():
        started = time.process_time()
        converted = [convert(frame) for frame in jpegs]
        result[f"{name}_cpu_ms"] = round((time.process_time() - started) / len(jpegs) * 1e3, 2)
        for decoder in ("accurate", "default"):
            pairs_out = zip(converted, refs, strict=True)
            values = [psnr(to_rgb(f, decoder == "accurate"), r) for f, r in pairs_out]
            result[f"{name}_psnr_{decoder}"] = round(float(np.mean(values)), 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
