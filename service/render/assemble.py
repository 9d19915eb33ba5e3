"""Assemble chunks into one MP4 by stream copy — never a re-encode.

Each chunk starts with an IDR and was encoded with identical settings, so
concatenation is a remux: packet timestamps are offset by the running end
time of the chunks before it. Chunks whose codec parameters or extradata
(SPS/PPS) differ are refused. The output is written under a temporary name
with ``+faststart`` and renamed into place only once complete.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from framerun_service.errors import ChunkMismatchError


@dataclass(frozen=True)
class AssembleResult:
    path: Path
    frames: int
    bytes: int
    duration_s: float


def _signature(stream: av.video.stream.VideoStream) -> tuple[object, ...]:
    cc = stream.codec_context
    return (
        cc.name,
        cc.width,
        cc.height,
        cc.pix_fmt,
        stream.time_base,
        stream.average_rate,
        bytes(cc.extradata or b""),
    )


def assemble(
    chunk_paths: Sequence[Path], out_path: Path, *, fps: Fraction, plan_tag: str | None = None
) -> AssembleResult:
    """Concatenate ``chunk_paths`` (in order) into ``out_path``.

    ``plan_tag`` is the metadata every chunk of the plan must carry (see
    ``chunk.chunk_tag``); without it, the chunks must at least agree with each other.
    """
    if not chunk_paths:
        raise ChunkMismatchError("no chunks to assemble")
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    frame_duration = Fraction(1) / fps
    inputs = [av.open(str(p)) for p in chunk_paths]
    try:
        first = inputs[0].streams.video[0]
        expected = _signature(first)
        tag = plan_tag if plan_tag is not None else _plan_tag_of(inputs[0])
        for path, container in zip(chunk_paths, inputs, strict=True):
            sig = _signature(container.streams.video[0])
            if sig != expected:
                raise ChunkMismatchError(
                    f"chunk {path.name} was encoded with different settings than "
                    f"{chunk_paths[0].name} ({_diff(expected, sig)}); "
                    "re-render it from the same plan"
                )
        for path, container in zip(chunk_paths, inputs, strict=True):
            if _plan_tag_of(container) != tag:
                raise ChunkMismatchError(
                    f"chunk {path.name} belongs to a different plan "
                    f"({_plan_tag_of(container) or 'untagged'}, expected {tag}); "
                    "re-render it from the same plan"
                )
        frames = _remux(inputs, tmp_path, frame_duration, tag, webm=out_path.suffix == ".webm")
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        for container in inputs:
            container.close()
    os.replace(tmp_path, out_path)
    return AssembleResult(out_path, frames, out_path.stat().st_size, float(frames * frame_duration))


def _remux(
    inputs: list[av.container.InputContainer],
    tmp_path: Path,
    frame_duration: Fraction,
    tag: str,
    *,
    webm: bool,
) -> int:
    # The container follows the output's name: .webm is WebM, anything else MP4
    # (with the index up front, +faststart, so players start before the download ends).
    if webm:
        output = av.open(str(tmp_path), "w", format="webm")
    else:
        output = av.open(str(tmp_path), "w", format="mp4", options={"movflags": "+faststart"})
    output.metadata["comment"] = tag
    out_stream = output.add_stream_from_template(inputs[0].streams.video[0])
    offset = 0  # in the chunks' time base units
    frames = 0
    try:
        for container in inputs:
            stream = container.streams.video[0]
            tb = stream.time_base
            step = round(frame_duration / tb)
            end = offset
            for packet in container.demux(stream):
                if packet.dts is None:  # flush packet
                    continue
                packet.pts += offset
                packet.dts += offset
                end = max(end, packet.pts + (packet.duration or step))
                packet.stream = out_stream
                output.mux(packet)
                frames += 1
            offset = end
    finally:
        output.close()
    return frames


def _plan_tag_of(container: av.container.InputContainer) -> str:
    """The chunk's plan tag; Matroska upper-cases tag names (COMMENT), MP4 does not."""
    return {k.lower(): v for k, v in container.metadata.items()}.get("comment", "")


def _diff(a: tuple[object, ...], b: tuple[object, ...]) -> str:
    names = ("codec", "width", "height", "pix_fmt", "time_base", "rate", "extradata")
    return (
        ", ".join(
            f"{n}: {x!r} vs {y!r}"
            for n, x, y in zip(names, a, b, strict=True)
            if x != y and n != "extradata"
        )
        or "SPS/PPS differ"
    )
