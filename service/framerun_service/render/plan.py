"""The plan: which frames each chunk renders, and a hash that pins everything.

IO-free. The plan hash covers the site tree hash, the composition, the encoder
settings, the engine version, the browser version and the font set, so a chunk rendered by a
different build or against a different site is refused instead of silently mixed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from framerun_service.core.errors import InvalidConfigError, setting
from framerun_service.core.version import ENGINE_VERSION
from framerun_service.core.wire import MAX_CHUNKS
from framerun_service.render.chunksizing import (
    DEFAULT_INSTANCE_VCPUS,
    ChunkModel,
    ChunkSizing,
    auto_chunk_sizing,
    check_chunk_size,
)
from framerun_service.render.composition import Composition
from framerun_service.render.encoding import PNG_SEQUENCE, EncoderSettings
from framerun_service.render.fanout import check_max_parallel_chunks
from framerun_service.render.media import MediaClip
from framerun_service.render.settings import DEFAULT_JPEG_QUALITY

# The in-process render's chunks (render/local.py, `framerun render`): 240 frames, and
# never over 3000. A distributed render sizes its own (chunksizing.py) unless told.
DEFAULT_CHUNK_SIZE = 240
DEFAULT_TARGET_CHUNK_FRAMES = 3000
DEFAULT_MAX_PARALLEL_CHUNKS = 16
_HASH_PREFIX = b"framerun-plan-v1\0"
# Chunk objects are numbered with five digits, and each chunk is one workflow branch.


@dataclass(frozen=True)
class ChunkSpec:
    index: int
    start: int  # first frame, inclusive
    end: int  # last frame, exclusive

    @property
    def frames(self) -> int:
        return self.end - self.start


def split_frames(
    start: int,
    end: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    target_chunk_frames: int = DEFAULT_TARGET_CHUNK_FRAMES,
    chunk_multiple: int = 1,
) -> tuple[ChunkSpec, ...]:
    """Split [start, end) into the fewest chunks of at most min(chunk_size, target) frames.

    Sizes differ by at most one frame, so parallel workers finish together. With
    ``chunk_multiple`` = N the count is rounded up to a multiple of N (as far as
    frames allow), so N workers get equal shares instead of one finishing alone.
    """
    if end <= start:
        raise InvalidConfigError(f"frame range {start}:{end} is empty")
    if chunk_size < 1 or target_chunk_frames < 1 or chunk_multiple < 1:
        raise InvalidConfigError("chunk_size, target_chunk_frames and chunk_multiple must be ≥ 1")
    limit = min(chunk_size, target_chunk_frames)
    total = end - start
    count = -(-total // limit)
    return split_even(start, end, min(total, -(-count // chunk_multiple) * chunk_multiple))


def split_even(start: int, end: int, count: int) -> tuple[ChunkSpec, ...]:
    """Split [start, end) into ``count`` contiguous chunks whose sizes differ by at most one.

    Larger chunks come first, so the last chunk (the longest pre-roll) is never the
    larger one.
    """
    total = end - start
    if not 1 <= count <= total:
        raise InvalidConfigError(f"cannot split frames {start}:{end} into {count} chunks")
    base, extra = divmod(total, count)
    chunks, cursor = [], start
    for i in range(count):
        size = base + (1 if i < extra else 0)
        chunks.append(ChunkSpec(i, cursor, cursor + size))
        cursor += size
    return tuple(chunks)


def frame_range(composition: Composition, frames: tuple[int, int] | None) -> tuple[int, int]:
    """The [start, end) to render, checked against the video (callers check it early too)."""
    total = composition.total_frames
    start, end = frames if frames is not None else (0, total)
    if not 0 <= start < end <= total:
        raise InvalidConfigError(
            f"{setting('frames')} {start}:{end} is outside the video's frames 0:{total}"
        )
    return start, end


@dataclass(frozen=True)
class Plan:
    entry: str
    width: int
    height: int
    fps: Fraction
    frame_start: int
    frame_end: int
    variables: dict[str, Any]
    encoder: EncoderSettings
    chunks: tuple[ChunkSpec, ...]
    max_parallel_chunks: int
    site_hash: str
    engine_version: str
    browser_version: str
    # The bundled font faces' version (fontset.py): the same page with other faces
    # draws other text, so a chunk must be drawn with the plan's faces.
    font_set: str = ""
    # The <audio>/<video> clips mixed once at assemble (empty for silent videos
    # and for formats without audio). Their source bytes are in the site hash.
    audio: tuple[MediaClip, ...] = ()
    # How frames leave the browser: both change pixels, so both are hashed, and a
    # chunk is captured with the plan's values, never the instance's.
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    chrome_args: tuple[str, ...] = ()
    capture_method: str = "beginframe"  # settings.CAPTURE_METHODS
    plan_hash: str = ""
    # How the chunk size was chosen ("chunk size: auto → 45 frames (…)"), for people
    # reading plan.json. Not hashed: the chunks it chose are.
    chunk_sizing: str = ""

    @property
    def total_frames(self) -> int:
        return self.frame_end - self.frame_start

    def to_json(self) -> dict[str, Any]:
        body = self._hashed_fields()
        body["planHash"] = self.plan_hash
        if self.chunk_sizing:
            body["chunkSizing"] = self.chunk_sizing
        return body

    def _hashed_fields(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "width": self.width,
            "height": self.height,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "frameStart": self.frame_start,
            "frameEnd": self.frame_end,
            "variables": self.variables,
            "encoder": self.encoder.to_json(),
            "chunks": [[c.start, c.end] for c in self.chunks],
            "maxParallelChunks": self.max_parallel_chunks,
            "siteHash": self.site_hash,
            "engineVersion": self.engine_version,
            "browserVersion": self.browser_version,
            "fontSet": self.font_set,
            "audio": [clip.to_json() for clip in self.audio],
            "capture": {
                "jpegQuality": self.jpeg_quality,
                "chromeArgs": list(self.chrome_args),
                "method": self.capture_method,
            },
        }

    def compute_hash(self) -> str:
        canonical = json.dumps(self._hashed_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(_HASH_PREFIX + canonical.encode()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        chunks = tuple(ChunkSpec(i, s, e) for i, (s, e) in enumerate(data["chunks"]))
        return cls(
            entry=data["entry"],
            width=data["width"],
            height=data["height"],
            fps=Fraction(data["fps"]),
            frame_start=data["frameStart"],
            frame_end=data["frameEnd"],
            variables=data["variables"],
            encoder=EncoderSettings.from_json(data["encoder"]),
            chunks=chunks,
            max_parallel_chunks=data["maxParallelChunks"],
            site_hash=data["siteHash"],
            engine_version=data["engineVersion"],
            browser_version=data["browserVersion"],
            font_set=data.get("fontSet", ""),
            audio=tuple(MediaClip.from_json(c) for c in data.get("audio", [])),
            jpeg_quality=data["capture"]["jpegQuality"],
            chrome_args=tuple(data["capture"]["chromeArgs"]),
            capture_method=data["capture"]["method"],
            plan_hash=data.get("planHash", ""),
            chunk_sizing=data.get("chunkSizing", ""),
        )


def make_plan(
    composition: Composition,
    encoder: EncoderSettings,
    *,
    site_hash: str,
    browser_version: str,
    font_set: str = "",
    frames: tuple[int, int] | None = None,
    chunk_size: int | None = None,
    target_chunk_frames: int | None = None,
    max_parallel_chunks: int = DEFAULT_MAX_PARALLEL_CHUNKS,
    chunk_multiple: int = 1,
    instance_vcpus: int | None = DEFAULT_INSTANCE_VCPUS,
    audio: tuple[MediaClip, ...] = (),
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    chrome_args: tuple[str, ...] = (),
    capture_method: str = "beginframe",
) -> Plan:
    """Freeze a render: the frame range, its chunks, and the hash over all inputs.

    ``chunk_size`` None sizes chunks automatically (chunksizing.py) from the frames,
    ``max_parallel_chunks`` and the predicted time of a chunk on an instance of
    ``instance_vcpus``; ``target_chunk_frames`` caps that size. A chosen size is
    refused if a chunk would pass the ``http.post`` cap. ``instance_vcpus`` None is an
    in-process render: no per-chunk cap. ``chunk_multiple`` (in-process, with a chosen
    size) rounds the count up to a multiple of the workers.
    ``audio`` is dropped for formats that carry no sound (png-sequence).
    """
    start, end = frame_range(composition, frames)
    check_max_parallel_chunks(max_parallel_chunks)
    model = (
        None
        if instance_vcpus is None
        else ChunkModel(composition.width, composition.height, instance_vcpus)
    )
    chunks, sizing = _chunks(
        start,
        end,
        chunk_size=chunk_size,
        target_chunk_frames=target_chunk_frames,
        max_parallel_chunks=max_parallel_chunks,
        chunk_multiple=chunk_multiple,
        model=model,
    )
    plan = Plan(
        entry=composition.entry,
        width=composition.width,
        height=composition.height,
        fps=composition.fps,
        frame_start=start,
        frame_end=end,
        variables=dict(composition.variables),
        encoder=encoder,
        chunks=chunks,
        max_parallel_chunks=max_parallel_chunks,
        site_hash=site_hash,
        engine_version=ENGINE_VERSION,
        browser_version=browser_version,
        font_set=font_set,
        audio=() if encoder.container == PNG_SEQUENCE else audio,
        jpeg_quality=jpeg_quality,
        chrome_args=tuple(chrome_args),
        capture_method=capture_method,
        chunk_sizing=sizing.describe(),
    )
    return _with_hash(plan)


def _chunks(
    start: int,
    end: int,
    *,
    chunk_size: int | None,
    target_chunk_frames: int | None,
    max_parallel_chunks: int,
    chunk_multiple: int,
    model: ChunkModel | None,
) -> tuple[tuple[ChunkSpec, ...], ChunkSizing]:
    """The chunks of [start, end), sized automatically or as chosen, within the limits."""
    if target_chunk_frames is not None and target_chunk_frames < 1:
        raise InvalidConfigError(
            f"{setting('target_chunk_frames')} must be ≥ 1, got {target_chunk_frames}"
        )
    if chunk_size is None:
        sizing = auto_chunk_sizing(
            start,
            end,
            max_parallel_chunks=max_parallel_chunks,
            model=model,
            max_frames=target_chunk_frames,
        )
        chunks = split_even(start, end, sizing.count)
        fix = (
            f"raise {setting('target_chunk_frames')} (now {target_chunk_frames})"
            if target_chunk_frames is not None
            else f"render it in parts with {setting('frames')}"
        )
    else:
        if target_chunk_frames is not None and chunk_size > target_chunk_frames:
            raise InvalidConfigError(
                f"{setting('chunk_size')} {chunk_size} is over {setting('target_chunk_frames')} "
                f"{target_chunk_frames}, the most frames a chunk may hold; give "
                f"{setting('chunk_size')} alone for that size, or "
                f"{setting('target_chunk_frames')} alone to cap the automatic size"
            )
        chunks = split_frames(
            start,
            end,
            chunk_size=chunk_size,
            target_chunk_frames=chunk_size,
            chunk_multiple=chunk_multiple,
        )
        sizing = ChunkSizing(len(chunks), chunks[0].frames, False, f"chunkSize {chunk_size}")
        fix = f"raise {setting('chunk_size')} (now {chunk_size})"
    if len(chunks) >= MAX_CHUNKS:
        raise InvalidConfigError(
            f"{end - start} frames make {len(chunks)} chunks, over the limit of "
            f"{MAX_CHUNKS - 1}; {fix}"
        )
    if chunk_size is not None and model is not None:
        sizing = check_chunk_size(chunk_size, [(c.start, c.end) for c in chunks], model=model)
    return chunks, sizing


def _with_hash(plan: Plan) -> Plan:
    from dataclasses import replace

    return replace(plan, plan_hash=plan.compute_hash())
