"""jfifcolour.py: a decoded JPEG's BT.601 full-range planes → BT.709 limited range, exactly.

The reference is the conversion written out in floating point: the chroma of a
2×2 block corrects its four luma samples (the same chroma sample a JPEG decoder
would give each of them), then each plane is scaled to limited range and rounded.
The filter computes in fixed point, so a sample within a hair of a half level may
round the other way: random planes put ≈ 0.15 % of samples there, a page's far fewer.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from framerun_service.render.encode import ChunkEncoder
from framerun_service.render.encoding import encoder_settings
from framerun_service.render.jfifcolour import JfifToBt709


def _matrix(kr: float, kb: float) -> np.ndarray:
    """R'G'B' → Y'CbCr (chroma in −0.5…0.5 of full scale) for luma weights kr, kb."""
    kg = 1 - kr - kb
    return np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ]
    )


BT601_TO_BT709 = _matrix(0.2126, 0.0722) @ np.linalg.inv(_matrix(0.299, 0.114))


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out.append(rows[:, : plane.width])
    return out


def _jfif_frame(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> av.VideoFrame:
    frame = av.VideoFrame(y.shape[1], y.shape[0], "yuvj420p")
    for target, source in zip(_planes(frame), (y, cb, cr), strict=True):
        np.copyto(target, source)
    return frame


def _ideal(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> list[np.ndarray]:
    m = BT601_TO_BT709
    u, v = cb.astype(np.float64) - 128, cr.astype(np.float64) - 128
    u_full, v_full = (np.repeat(np.repeat(c, 2, 0), 2, 1) for c in (u, v))
    luma = y + m[0, 1] * u_full + m[0, 2] * v_full
    planes = [
        16 + luma * 219 / 255,
        128 + (m[1, 1] * u + m[1, 2] * v) * 224 / 255,
        128 + (m[2, 1] * u + m[2, 2] * v) * 224 / 255,
    ]
    return [np.clip(np.round(p), 0, 255) for p in planes]


def _random_planes(seed: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [(height, width), (height // 2, width // 2), (height // 2, width // 2)]
    return [rng.integers(0, 256, size, dtype=np.uint8) for size in sizes]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_conversion_equals_the_rounded_ideal_one(seed: int) -> None:
    y, cb, cr = _random_planes(seed)
    out = JfifToBt709().convert(_jfif_frame(y, cb, cr))
    assert out.format.name == "yuv420p"
    for got, want in zip(_planes(out), _ideal(y, cb, cr), strict=True):
        diff = np.abs(got - want)
        assert diff.max() <= 1
        assert np.mean(diff > 0) < 0.005


def test_a_converter_follows_a_change_of_size() -> None:
    converter = JfifToBt709()
    for width, height in [(96, 64), (64, 32), (96, 64)]:
        y, cb, cr = _random_planes(width, width, height)
        out = converter.convert(_jfif_frame(y, cb, cr))
        assert (out.width, out.height) == (width, height)
        assert np.abs(_planes(out)[0] - _ideal(y, cb, cr)[0]).max() <= 1


@pytest.mark.parametrize(
    ("fmt", "width", "pix_fmt", "handled"),
    [
        ("yuvj420p", 96, "yuv420p", True),
        ("yuvj420p", 95, "yuv420p", False),  # odd: a chroma sample covers one column
        ("yuvj444p", 96, "yuv420p", False),  # the filter cannot subsample
        ("yuvj420p", 96, "yuv422p10le", False),  # ProRes: through RGB
    ],
)
def test_only_the_exact_case_takes_the_plane_path(
    fmt: str, width: int, pix_fmt: str, handled: bool
) -> None:
    assert JfifToBt709.handles(av.VideoFrame(width, 64, fmt), pix_fmt) is handled


def _jpeg(rgb: np.ndarray) -> bytes:
    """A JFIF 4:2:0 JPEG of ``rgb``, as FFmpeg's encoder writes one at top quality."""
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = rgb.shape[1], rgb.shape[0], "yuvj420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"qmin": "1", "qmax": "1"}
    codec.qscale = 1  # type: ignore[attr-defined]
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(
        bytes(p) for p in codec.encode(None)
    )


@pytest.mark.parametrize(("pix_fmt_of", "fmt"), [("plane path", "mp4"), ("RGB path", "mov")])
def test_both_paths_encode_a_jpeg_to_the_same_colours(
    tmp_path: Path, pix_fmt_of: str, fmt: str
) -> None:
    """Flat colour fields through ChunkEncoder come out as the same BT.709 values
    whichever path converted them (H.264's 4:2:0 and ProRes' 4:2:2 both keep a flat
    field flat), within a level of what the ideal conversion gives."""
    colours = [(230, 40, 40), (40, 200, 60), (30, 60, 220), (128, 128, 128), (250, 250, 20)]
    rgb = np.zeros((64, 160, 3), np.uint8)
    for n, colour in enumerate(colours):
        rgb[:, n * 32 : (n + 1) * 32] = colour
    data = _jpeg(rgb)
    settings = encoder_settings(fps=Fraction(30), format=fmt, quality="high")
    out = tmp_path / f"out.{settings.extension}"
    encoder = ChunkEncoder(out, settings, width=160, height=64, fps=Fraction(30))
    encoder.add_jpeg(data)
    encoder.close()
    with av.open(str(out)) as container:
        (frame,) = list(container.decode(video=0))
    decoded = av.CodecContext.create("mjpeg", "r").decode(av.Packet(data))[0]
    y, cb, cr = (p.copy() for p in _planes(decoded))
    want_y = _ideal(y, cb, cr)[0]
    got_y = np.frombuffer(frame.planes[0], np.uint8 if fmt == "mp4" else np.uint16)
    got_y = got_y.reshape(frame.planes[0].height, -1)[:, :160].astype(np.float64)
    if fmt == "mov":
        got_y = got_y / 4  # 10-bit
    centres = [n * 32 + 16 for n in range(len(colours))]
    diff = np.abs(got_y[32, centres] - want_y[32, centres])
    assert diff.max() <= 1.0, f"{pix_fmt_of}: luma off by {diff.max():.2f} levels"
