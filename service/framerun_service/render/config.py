"""A render's configuration as it arrives over the wire (camelCase JSON) or from the CLI.

One place turns it into the engine's inputs: composition overrides, encoder
settings and chunking limits. IO-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framerun_service.core.errors import InvalidConfigError
from framerun_service.render.composition import Overrides
from framerun_service.render.encoding import (
    DEFAULT_CODEC,
    DEFAULT_FORMAT,
    DEFAULT_QUALITY,
    EncoderSettings,
    encoder_settings,
)

_WIRE_NAMES = {
    "composition": "composition",
    "width": "width",
    "height": "height",
    "fps": "fps",
    "duration": "duration",
    "quality": "quality",
    "crf": "crf",
    "bitrate": "bitrate",
    "variables": "variables",
    "strictVariables": "strict_variables",
    "chunkSize": "chunk_size",
    "targetChunkFrames": "target_chunk_frames",
    "maxParallelChunks": "max_parallel_chunks",
    "frames": "frames",
    "webhookUrl": "webhook_url",
    "format": "format",
    "codec": "codec",
    "transparent": "transparent",
}

# Field → wire key: the SDK's keyword arguments (``chunk_size=``) are the fields.
WIRE_KEYS = {field_name: key for key, field_name in _WIRE_NAMES.items()}


@dataclass(frozen=True)
class RenderConfig:
    composition: str = "index.html"
    width: Any = None
    height: Any = None
    fps: Any = None
    duration: Any = None
    quality: str = DEFAULT_QUALITY
    crf: int | None = None
    bitrate: str | int | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    strict_variables: bool = False
    # None: the plan sizes chunks itself (chunksizing.py); a number is honoured or refused.
    chunk_size: int | None = None
    target_chunk_frames: int | None = None  # the most frames an automatic chunk may hold
    # None: the service's default, DEFAULT_MAX_PARALLEL_CHUNKS capped at its instances.
    max_parallel_chunks: int | None = None
    frames: tuple[int, int] | None = None
    format: str = DEFAULT_FORMAT
    codec: str = DEFAULT_CODEC  # mp4 only: h264 | h265
    transparent: bool = False  # keep alpha: mov, webm or png-sequence
    webhook_url: str | None = None  # notified on success and failure; not part of the plan

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RenderConfig:
        """Validate a wire config; unknown keys are refused rather than ignored."""
        unknown = sorted(set(data) - set(_WIRE_NAMES))
        if unknown:
            raise InvalidConfigError(
                f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(_WIRE_NAMES)}"
            )
        kwargs = {_WIRE_NAMES[k]: v for k, v in data.items() if v is not None}
        for name in ("chunk_size", "target_chunk_frames", "max_parallel_chunks"):
            value = kwargs.get(name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise InvalidConfigError(f"{name} must be an integer ≥ 1, got {value!r}")
        if "crf" in kwargs and (
            not isinstance(kwargs["crf"], int) or isinstance(kwargs["crf"], bool)
        ):
            raise InvalidConfigError(f"crf must be an integer, got {kwargs['crf']!r}")
        if not isinstance(kwargs.get("variables", {}), dict):
            raise InvalidConfigError("variables must be an object keyed by variable id")
        if not isinstance(kwargs.get("strict_variables", False), bool):
            raise InvalidConfigError("strictVariables must be true or false")
        if not isinstance(kwargs.get("composition", ""), str):
            raise InvalidConfigError("composition must be a file name")
        if not isinstance(kwargs.get("quality", ""), str):
            raise InvalidConfigError("quality must be draft, standard or high")
        for name in ("format", "codec"):
            if not isinstance(kwargs.get(name, ""), str):
                raise InvalidConfigError(f"{name} must be a string, got {kwargs[name]!r}")
        if not isinstance(kwargs.get("transparent", False), bool):
            raise InvalidConfigError("transparent must be true or false")
        url = kwargs.get("webhook_url")
        if url is not None and (
            not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
            or len(url) > 2048
        ):
            raise InvalidConfigError("webhookUrl must be an http(s) URL of at most 2048 characters")
        if "frames" in kwargs:
            frames = kwargs["frames"]
            if (
                not isinstance(frames, list | tuple)
                or len(frames) != 2
                or not all(isinstance(f, int) and not isinstance(f, bool) for f in frames)
            ):
                raise InvalidConfigError("frames must be [start, end] integers")
            kwargs["frames"] = (frames[0], frames[1])
        return cls(**kwargs)

    def overrides(self) -> Overrides:
        return Overrides(
            width=self.width,
            height=self.height,
            fps=self.fps,
            duration=self.duration,
            variables=dict(self.variables),
            strict_variables=self.strict_variables,
        )

    def encoder(self, fps: Any) -> EncoderSettings:
        return encoder_settings(
            fps=fps,
            quality=self.quality,
            crf=self.crf,
            bitrate=self.bitrate,
            format=self.format,
            codec=self.codec,
            transparent=self.transparent,
        )
