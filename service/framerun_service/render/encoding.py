"""Encoder settings: format, codec and quality → one frozen description every chunk encodes with.

Pure data, no PyAV import, so the planner can hash it. Identical settings are
what make chunks stream-copyable: same parameter sets, same timebase, a
keyframe first. One table per codec says how a quality preset maps onto it:

    format        codec            capture          pixels (opaque / alpha)
    mp4           H.264 (libx264)  JPEG             yuv420p
    mp4 --codec h265  H.265 (libx265, hvc1)  JPEG   yuv420p
    webm          VP9 (libvpx-vp9) JPEG / PNG       yuv420p / yuva420p
    mov           ProRes (prores_ks) JPEG / PNG     yuv422p10le HQ / yuva444p10le 4444
    png-sequence  PNG as captured  PNG              RGB / RGBA
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from typing import Any

from framerun_service.core.errors import InvalidConfigError, setting

QUALITIES = ("draft", "standard", "high")
DEFAULT_QUALITY = "standard"
FORMATS = ("mp4", "webm", "mov", "png-sequence")
DEFAULT_FORMAT = "mp4"
PNG_SEQUENCE = "png-sequence"
CODECS = ("h264", "h265")  # the choice mp4 offers; every other format has one codec
DEFAULT_CODEC = "h264"
# What a chunk and the output are stored as. A PNG sequence travels as an
# uncompressed tar of numbered PNGs (locally the output is a folder instead).
EXTENSIONS = {"mp4": "mp4", "webm": "webm", "mov": "mov", PNG_SEQUENCE: "tar"}
CONTENT_TYPES = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    PNG_SEQUENCE: "application/x-tar",
}
# x264/x265: preset, crf per quality. Measured on 1080p bench frames here: superfast
# is 11 ms of CPU per frame against veryfast's 16–19 ms, so "standard" keeps encoding
# a small share of what capture costs. Its crf 18 was chosen by PSNR against lossless
# references (bench-peer pages, JPEG q95 capture): css-motion 40.3 dB at crf 18 against
# 39.7 at 20, for files about 1.4x larger than at crf 20. A slower preset at the same
# crf measured lower PSNR (veryfast crf 16: 40.0) and cost up to 16 % fps where
# encoding competes with capture.
#
# "standard" also takes HyperFrames' adaptive quantization (_X264_AQ): aq-mode=3,
# auto-variance biased towards dark pictures, at strength 0.8. Measured on the 18
# bench-peer pages, mean PSNR against their lossless references, the same captures
# re-encoded (superfast crf 18): q95 JPEG + the preset's variance AQ (before) ->
# q100 (settings.py) -> q100 + aq-mode=3:aq-strength=0.8 (now); HyperFrames in ():
#   blank-demo 67.45 -> 66.92 -> 75.48 (75.39); iframe-render-compat 47.60 -> 47.78 -> 48.06 (47.93)
#   warm-grain 42.92 -> 43.81 -> 44.14; video-demo 41.65 -> 42.30 -> 43.05
#   css-motion 40.29 -> 40.51 -> 40.78; animejs-adapter 42.04 -> 42.13 -> 42.19
#   audio-mux-parity 52.50 -> 52.91 -> 53.35; css-spinner-render-compat 51.41 -> 51.56 -> 51.82
#   font-variant-numeric 47.83 -> 48.08 -> 48.29; gsap-call-render-seek 44.57 -> 45.03 -> 45.12
#   nested-subcomp-depth-3 40.43 -> 40.62 -> 40.70; pip-video-late-host 53.95 -> 54.49 -> 55.35
#   raf-ball-render-compat 54.19 -> 54.47 -> 55.09; style-1-prod 34.41 -> 34.51 -> 34.57
#   style-12-prod 39.16 -> 39.30 -> 39.40; sub-comp-class-selector 39.68 -> 39.86 -> 39.91
#   sub-comp-t0 41.59 -> 41.78 -> 41.83; timed-descendant-visibility 41.92 -> 42.98 -> 43.08
# blank-demo is light text on #0a0a0a, still for 10 s: the encoder sees one picture
# and then repeats. With variance AQ, x264 stopped sharpening it at 64-68 dB whatever
# the preset (medium crf 16: 67.3); with the dark bias the repeats refine it to 75.5
# within two frames, as HyperFrames' medium does (its per-frame 63.0, 67.2, 75.3 are
# reproduced exactly). q95 capture alone capped it at 69.6 dB even with lossless x264.
# Files: 71.7 -> 75.1 MB over the 18 (-13 % css-motion to +165 % gsap-call-render-seek,
# that one from q100). aq-mode=2 gave up to 0.2 dB more for files up to 2x; strength
# 1.0 measured below 0.8 on 15 of the 18. CPU: none (ChunkEncoder on css-motion's 300
# q100 captures, medians of 3 alternating runs: 68.7 ms a frame before, 66.7 after).
_PRESETS: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 28),
    "standard": ("superfast", 18),
    # crf 14: at 16 a render cut into 7-frame chunks measured 44.2 dB (min over
    # frames) against the same frames in one chunk (x264's mbtree sees less of the
    # future in a short chunk); at 14, 45.9 dB. "high" must not depend on chunking.
    "high": ("faster", 14),
}
# x264's adaptive-quantization params per quality (see above); absent: the preset's.
_X264_AQ: dict[str, str] = {"standard": "aq-mode=3:aq-strength=0.8"}
# x265's docs put its default crf 28 level with x264's 23, so these sit 4 higher.
_X265_PRESETS: dict[str, tuple[str, int]] = {
    "draft": ("ultrafast", 32),
    "standard": ("superfast", 22),
    "high": ("faster", 20),
}
# VP9 (webm): deadline, cpu-used, crf per quality. Alt-ref frames and lag are off
# so every chunk is closed and concatenates by stream copy.
_VP9_PRESETS: dict[str, tuple[str, int, int]] = {
    "draft": ("realtime", 8, 40),
    "standard": ("realtime", 6, 32),
    "high": ("good", 4, 20),
}
# VP9 with alpha: the realtime deadline codes a flat transparent area as alpha 1,
# not 0, at most crfs (measured with libvpx here); "good" keeps it exactly 0 for
# about twice realtime's CPU (~7 ms against ~3.5 ms a frame at 640×360).
_VP9_ALPHA_PRESETS: dict[str, tuple[str, int, int]] = {
    "draft": ("good", 5, 40),
    "standard": ("good", 5, 32),
    "high": ("good", 4, 20),
}
PRORES_HQ, PRORES_4444 = 3, 4  # prores_ks profiles
KEYFRAME_INTERVAL_S = 2
_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that shapes the bitstream. Part of the plan hash."""

    codec: str = "libx264"  # libx264 | libx265 | libvpx-vp9 | prores_ks | png
    container: str = "mp4"  # the format: one of FORMATS
    pix_fmt: str = "yuv420p"
    preset: str = "superfast"
    crf: int | None = 20
    bitrate: int | None = None
    keyint: int = 60
    threads: int = 1  # fixed: x264/x265 output depends on the thread count
    speed: int | None = None  # VP9 cpu-used
    profile: int | None = None  # ProRes profile
    alpha: bool = False  # keep transparency: capture PNG on a transparent page
    capture: str = "jpeg"  # how frames leave the browser: jpeg (fast) or png (lossless)
    aq: str = ""  # x264 adaptive-quantization params (_X264_AQ); "" = the preset's

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.container]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.container]

    @property
    def capture_format(self) -> str:
        """JPEG is the fast path; see ``capture_for`` for when frames travel as PNG."""
        return self.capture

    @property
    def codec_tag(self) -> str | None:
        """``hvc1``: parameter sets in the sample entry, which QuickTime and Safari require."""
        return "hvc1" if self.codec == "libx265" else None

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
        if self.codec == "prores_ks":
            # Intra-only: every frame is a keyframe, so any chunking concatenates.
            # "apl0" is the vendor Apple's own tools write; some NLEs look for it.
            return {"profile": str(self.profile), "vendor": "apl0"}
        if self.codec == "libx265":
            options = {"preset": self.preset, "x265-params": self.x265_params()}
        else:
            options = {"preset": self.preset, "x264-params": self.x264_params()}
        if self.bitrate is None:
            options["crf"] = str(self.crf)
        return options

    def _gop_params(self) -> list[str]:
        """Closed GOP, no B-frames (dts == pts, so concat is a plain offset), BT.709 VUI."""
        return [
            f"keyint={self.keyint}",
            f"min-keyint={min(self.keyint, 25)}",
            "scenecut=0",
            "open-gop=0",
            "bframes=0",
            "colorprim=bt709",
            "transfer=bt709",
            "colormatrix=bt709",
        ]

    def x264_params(self) -> str:
        aq = [self.aq] if self.aq else []
        return ":".join([*self._gop_params(), *aq, f"threads={self.threads}"])

    def x265_params(self) -> str:
        # One pool thread and one frame thread: x265's output depends on both,
        # and every chunk must write the same VPS/SPS/PPS. log-level=error keeps
        # its banner off stderr (the CLI prints one line on failure).
        return ":".join(
            [
                *self._gop_params(),
                f"pools={self.threads}",
                f"frame-threads={self.threads}",
                "log-level=error",
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
    codec: str = DEFAULT_CODEC,
    transparent: bool = False,
) -> EncoderSettings:
    """Resolve user-facing knobs into exact encoder settings; refuse combinations that
    cannot work, saying which flag to change."""
    _check_choices(quality=quality, format=format, codec=codec, transparent=transparent)
    if crf is not None and bitrate is not None:
        raise InvalidConfigError(
            f"{setting('crf')} and {setting('bitrate')} are mutually exclusive; pass only one"
        )
    if format in ("mov", PNG_SEQUENCE) and (crf is not None or bitrate is not None):
        what = (
            "ProRes (mov) has a fixed quality per profile"
            if format == "mov"
            else ("png-sequence is lossless")
        )
        raise InvalidConfigError(
            f"{setting('crf')} and {setting('bitrate')} do not apply: {what}; drop them"
        )
    max_crf = 63 if format == "webm" else 51
    if crf is not None and not 0 <= crf <= max_crf:
        raise InvalidConfigError(f"crf {crf} is out of range; use 0–{max_crf} (lower is better)")
    keyint = max(1, round(fps * KEYFRAME_INTERVAL_S))
    rate = parse_bitrate(bitrate) if bitrate is not None else None
    settings = _format_settings(
        quality=quality,
        crf=crf,
        rate=rate,
        format=format,
        codec=codec,
        transparent=transparent,
        keyint=keyint,
    )
    return replace(settings, capture=capture_for(quality, format, transparent))


def capture_for(quality: str, format: str, transparent: bool) -> str:
    """PNG when the output keeps what JPEG would lose, else the fast JPEG path.

    Chrome's JPEG (4:2:0, q92) alone measures ~39 dB against a PNG capture on sharp
    saturated edges, which would cap every output below that. Alpha and PNG
    sequences need PNG; ProRes is a mastering format; ``high`` promises the
    encoder's quality, not the capture's. ``draft`` and ``standard`` stay on JPEG,
    about twice as fast to capture at 1080p.
    """
    lossless = transparent or format in ("mov", PNG_SEQUENCE) or quality == "high"
    return "png" if lossless else "jpeg"


def _format_settings(
    *,
    quality: str,
    crf: int | None,
    rate: int | None,
    format: str,
    codec: str,
    transparent: bool,
    keyint: int,
) -> EncoderSettings:
    if format == PNG_SEQUENCE:
        return EncoderSettings(
            codec="png",
            container=PNG_SEQUENCE,
            pix_fmt="rgba" if transparent else "rgb24",
            preset="",
            crf=None,
            keyint=1,
            alpha=transparent,
        )
    if format == "mov":
        return EncoderSettings(
            codec="prores_ks",
            container="mov",
            pix_fmt="yuva444p10le" if transparent else "yuv422p10le",
            preset="",
            crf=None,
            keyint=1,
            profile=PRORES_4444 if transparent else PRORES_HQ,
            alpha=transparent,
        )
    if format == "webm":
        presets = _VP9_ALPHA_PRESETS if transparent else _VP9_PRESETS
        deadline, speed, default_crf = presets[quality]
        return EncoderSettings(
            codec="libvpx-vp9",
            container="webm",
            pix_fmt="yuva420p" if transparent else "yuv420p",
            preset=deadline,
            speed=speed,
            crf=None if rate else (default_crf if crf is None else crf),
            bitrate=rate,
            keyint=keyint,
            alpha=transparent,
        )
    preset, default_crf = (_X265_PRESETS if codec == "h265" else _PRESETS)[quality]
    return EncoderSettings(
        codec="libx265" if codec == "h265" else "libx264",
        preset=preset,
        crf=None if rate else (default_crf if crf is None else crf),
        bitrate=rate,
        keyint=keyint,
        aq="" if codec == "h265" else _X264_AQ.get(quality, ""),
    )


def _check_choices(*, quality: str, format: str, codec: str, transparent: bool) -> None:
    if quality not in QUALITIES:
        raise InvalidConfigError(
            f"quality {quality!r} is unknown; use one of {', '.join(QUALITIES)}"
        )
    if format not in FORMATS:
        raise InvalidConfigError(f"format {format!r} is unknown; use one of {', '.join(FORMATS)}")
    if codec not in CODECS:
        raise InvalidConfigError(f"codec {codec!r} is unknown; use one of {', '.join(CODECS)}")
    if codec != DEFAULT_CODEC and format != "mp4":
        raise InvalidConfigError(
            f"{setting('codec')} {codec} is only for mp4 ({format} has one codec of its own); "
            f"drop {setting('codec')} or set {setting('format')} mp4"
        )
    if not isinstance(transparent, bool):
        raise InvalidConfigError(f"transparent must be true or false, got {transparent!r}")
    if transparent and format == "mp4":
        raise InvalidConfigError(
            f"mp4 (H.264/H.265) cannot carry transparency; set {setting('format')} mov "
            f"(ProRes 4444), webm (VP9 with alpha) or png-sequence, or drop "
            f"{setting('transparent')}"
        )


def format_for_output(path: str, explicit: str | None = None) -> str:
    """The format an output path asks for, checked against ``--format``.

    ``.mp4``, ``.webm`` and ``.mov`` name a video, ``.tar`` a PNG sequence in one
    tar, and a trailing ``/`` a folder of PNGs. A name without a suffix takes
    ``--format`` (mp4 when there is none). Any other suffix is refused: ``out.avi``
    would otherwise hold an MP4 under a name that promises something else.
    """
    if explicit is not None and explicit not in FORMATS:
        raise InvalidConfigError(f"format {explicit!r} is unknown; use one of {', '.join(FORMATS)}")
    if path.endswith(("/", os.sep)):
        inferred: str | None = PNG_SEQUENCE
        described = "names a folder"
    else:
        base = os.path.basename(path)
        suffix = base.rsplit(".", 1)[-1].lower() if "." in base else ""
        inferred = {ext: fmt for fmt, ext in EXTENSIONS.items()}.get(suffix)
        described = f"ends in .{suffix}"
        if suffix and inferred is None:
            known = ", ".join(f".{ext}" for ext in EXTENSIONS.values())
            raise InvalidConfigError(
                f"the output name '{path}' ends in .{suffix}, which names no format framerun "
                f"writes; end it in one of {known}, or in / for a folder of PNGs"
            )
    if explicit is not None and inferred is not None and explicit != inferred:
        fix = (
            "name it .tar, or a folder (no suffix, or ending in /)"
            if explicit == PNG_SEQUENCE
            else f"name it .{EXTENSIONS[explicit]}"
        )
        raise InvalidConfigError(
            f"{setting('format')} {explicit} does not match the output name '{path}' "
            f"(it {described}); {fix} or set {setting('format')} {inferred}"
        )
    return explicit or inferred or DEFAULT_FORMAT
