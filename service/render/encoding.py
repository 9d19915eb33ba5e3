"""Encoder settings: quality presets → one frozen description every chunk encodes with.

Pure data, no PyAV import, so the planner can hash it. Identical settings are
what make chunks stream-copyable: same SPS/PPS, same timebase, IDR first.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from framerun_service.errors import InvalidConfigError

QUALITIES = ("draft", "standard", "high")
DEFAULT_QUALITY = "standard"
# preset, crf per quality. Measured on 1080p bench frames here: superfast is
# 11 ms of CPU per frame against veryfast's 16–19 ms, for +4 % bytes at crf 20,
# so "standard" keeps encoding a small share of what capture costs.
_PRESETS: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("superfast", 20),
    "high": ("faster", 16),
}
KEYFRAME_INTERVAL_S = 2
_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that shapes the bitstream. Part of the plan hash."""

    codec: str = "libx264"
    container: str = "mp4"
    pix_fmt: str = "yuv420p"
    preset: str = "superfast"
    crf: int | None = 20
    bitrate: int | None = None
    keyint: int = 60
    threads: int = 1  # fixed: x264 output depends on its thread count

    def x264_params(self) -> str:
        """Closed GOP, no B-frames (dts == pts, so concat is a plain offset), BT.709 VUI."""
        return ":".join(
            [
                f"keyint={self.keyint}",
                f"min-keyint={min(self.keyint, 25)}",
                "scenecut=0",
                "open-gop=0",
                "bframes=0",
                "colorprim=bt709",
                "transfer=bt709",
                "colormatrix=bt709",
                f"threads={self.threads}",
            ]
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncoderSettings:
        return cls(**data)


def parse_bitrate(raw: str | int) -> int:
    """'5M', '2500k' or plain bits per second → bits per second."""
    match = _BITRATE.match(str(raw))
    if not match:
        raise InvalidConfigError(f"bitrate {raw!r} is not like 5M, 2500k or 800000")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    if not 50_000 <= value <= 500_000_000:
        raise InvalidConfigError(f"bitrate {raw} is out of range; use 50k–500M")
    return int(value)


def encoder_settings(
    *,
    fps: Fraction,
    quality: str = DEFAULT_QUALITY,
    crf: int | None = None,
    bitrate: str | int | None = None,
) -> EncoderSettings:
    """Resolve user-facing quality knobs into exact encoder settings."""
    if quality not in QUALITIES:
        raise InvalidConfigError(
            f"quality {quality!r} is unknown; use one of {', '.join(QUALITIES)}"
        )
    if crf is not None and bitrate is not None:
        raise InvalidConfigError("--crf and --bitrate are mutually exclusive; pass only one")
    preset, default_crf = _PRESETS[quality]
    if crf is not None and not 0 <= crf <= 51:
        raise InvalidConfigError(f"crf {crf} is out of range; use 0–51 (lower is better)")
    keyint = max(1, round(fps * KEYFRAME_INTERVAL_S))
    if bitrate is not None:
        return EncoderSettings(
            preset=preset, crf=None, bitrate=parse_bitrate(bitrate), keyint=keyint
        )
    return EncoderSettings(preset=preset, crf=default_crf if crf is None else crf, keyint=keyint)
