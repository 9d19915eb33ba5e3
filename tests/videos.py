"""Decode videos for assertions: frames as RGB arrays, timestamps, PSNR."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass
class DecodedVideo:
    codec: str
    width: int
    height: int
    pix_fmt: str
    frames: list[np.ndarray]  # RGB uint8, decoded with the stream's own colour tags
    pts: list[int]
    time_base: Fraction
    duration_s: float
    color_range: int
    colorspace: int


def decode(path: Path, *, keep_frames: bool = True) -> DecodedVideo:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        frames, pts = [], []
        for frame in container.decode(stream):
            pts.append(frame.pts)
            if keep_frames:
                frames.append(frame.to_ndarray(format="rgb24"))
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        return DecodedVideo(
            codec=cc.name,
            width=cc.width,
            height=cc.height,
            pix_fmt=cc.pix_fmt,
            frames=frames,
            pts=pts,
            time_base=stream.time_base,
            duration_s=duration,
            color_range=cc.color_range,
            colorspace=cc.colorspace,
        )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def min_psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert len(a) == len(b), f"frame counts differ: {len(a)} vs {len(b)}"
    return min(psnr(x, y) for x, y in zip(a, b, strict=True))


def x_of_color(frame: np.ndarray, rgb: tuple[int, int, int], *, tol: int = 40) -> float:
    """Left edge (px, sub-pixel by coverage) of the region matching ``rgb`` in a frame."""
    mask = np.all(np.abs(frame.astype(int) - np.array(rgb)) <= tol, axis=2)
    cols = np.nonzero(mask.any(axis=0))[0]
    assert cols.size, f"colour {rgb} not found in frame"
    return float(cols[0])


def png_pixels(data: bytes) -> np.ndarray:
    """RGB pixels of one PNG (as the browser captured it)."""
    packet = av.Packet(data)
    packet.is_keyframe = True  # else ffmpeg's PNG decoder adds it onto the previous picture
    (frame,) = av.CodecContext.create("png", "r").decode(packet)
    return frame.to_ndarray(format="rgb24")
