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
FORMATS = ("mp4", "webm")
DEFAULT_FORMAT = "mp4"
CONTENT_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}
# preset, crf per quality. Measured on 1080p bench frames here: superfast is
# 11 ms of CPU per frame against veryfast's 16–19 ms, for +4 % bytes at crf 20,
# so "standard" keeps encoding a small share of what capture costs.
_PRESETS: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("superfast", 20),
    "high": ("faster", 16),
}
# VP9 (webm): deadline, cpu-used, crf per quality. Alt-ref frames and lag are off
# so every chunk is closed and concatenates by stream copy.
_VP9_PRESETS: dict[str, tuple[str, int, int]] = {
    "draft": ("realtime", 8, 40),
    "standard": ("realtime", 6, 32),
    "high": ("good", 4, 20),
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
    speed: int | None = None  # VP9 cpu-used

    @property
    def extension(self) -> str:
        return self.container

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.container]

    def codec_options(self) -> dict[str, str]:
        """The encoder's options: closed GOP and identical headers in every chunk."""
        if self.codec == "libvpx-vp9":
            options = {
                "deadline": self.preset,
                "cpu-used": str(self.speed or 6),
                "g": str(self.keyint),
                "auto-alt-ref": "0",
                "lag-in-frames": "0",
                "row-mt": "0",
            }
            if self.bitrate is None:
                options.update(crf=str(self.crf), b="0")
            return options
        options = {"preset": self.preset, "x264-params": self.x264_params()}
        if self.bitrate is None:
            options["crf"] = str(self.crf)
        return options

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
    format: str = DEFAULT_FORMAT,
) -> EncoderSettings:
    """Resolve user-facing quality knobs into exact encoder settings."""
    if quality not in QUALITIES:
        raise InvalidConfigError(
            f"quality {quality!r} is unknown; use one of {', '.join(QUALITIES)}"
        )
    if format not in FORMATS:
        raise InvalidConfigError(f"format {format!r} is unknown; use one of {', '.join(FORMATS)}")
    if crf is not None and bitrate is not None:
        raise InvalidConfigError("--crf and --bitrate are mutually exclusive; pass only one")
    max_crf = 63 if format == "webm" else 51
    if crf is not None and not 0 <= crf <= max_crf:
        raise InvalidConfigError(f"crf {crf} is out of range; use 0–{max_crf} (lower is better)")
    keyint = max(1, round(fps * KEYFRAME_INTERVAL_S))
    rate = parse_bitrate(bitrate) if bitrate is not None else None
    if format == "webm":
        deadline, speed, default_crf = _VP9_PRESETS[quality]
        return EncoderSettings(
            codec="libvpx-vp9",
            container="webm",
            preset=deadline,
            speed=speed,
            crf=None if rate else (default_crf if crf is None else crf),
            bitrate=rate,
            keyint=keyint,
        )
    preset, default_crf = _PRESETS[quality]
    return EncoderSettings(
        preset=preset,
        crf=None if rate else (default_crf if crf is None else crf),
        bitrate=rate,
        keyint=keyint,
    )


def format_for_output(path: str, explicit: str | None = None) -> str:
    """The container an output path asks for (its suffix), checked against ``--format``."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    inferred = suffix if suffix in FORMATS else None
    if explicit is not None and inferred is not None and explicit != inferred:
        raise InvalidConfigError(
            f"--format {explicit} does not match the output name '{path}'; "
            f"name it .{explicit} or pass --format {inferred}"
        )
    return explicit or inferred or DEFAULT_FORMAT
