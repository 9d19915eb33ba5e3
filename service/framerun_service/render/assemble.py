"""Assemble chunks into one output by stream copy — never a re-encode.

Each chunk starts with a keyframe and was encoded with identical settings, so
concatenation is a remux: packet timestamps are offset by the running end
time of the chunks before it. Chunks whose codec parameters or extradata
(SPS/PPS, or H.265's VPS/SPS/PPS) differ are refused. The output is written
under a temporary name (MP4 and MOV with ``+faststart``) and renamed into
place only once complete. PNG-sequence chunks are tars, concatenated member by
member (see ``pngseq``).

An already-encoded audio file (the mixer's AAC or Opus) can be copied in too,
also without a re-encode. Its packets are merged with the video's by
timestamp, one packet of each in hand: fed one stream after the other, the
muxer's interleaving queue would hold the whole first stream, so memory would
grow with the video's length.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from framerun_service.core.errors import ChunkMismatchError, InvalidConfigError
from framerun_service.render import pngseq

# The audio codecs each container can hold and every common player plays.
AUDIO_CODECS = {
    "mp4": ("aac",),
    "mov": ("aac", "pcm_s16le", "pcm_s24le"),
    "webm": ("opus", "vorbis"),
}


@dataclass(frozen=True)
class AssembleResult:
    path: Path
    frames: int
    bytes: int
    duration_s: float


def output_container(out_path: Path) -> str:
    """The container an output name asks for: .webm and .mov, anything else MP4."""
    suffix = out_path.suffix.lower().lstrip(".")
    return suffix if suffix in ("webm", "mov") else "mp4"


def _signature(stream: av.video.stream.VideoStream) -> tuple[object, ...]:
    cc = stream.codec_context
    return (
        cc.name,
        cc.width,
        cc.height,
        cc.pix_fmt,
        stream.codec_tag,
        stream.time_base,
        stream.average_rate,
        _has_alpha(stream),
        bytes(cc.extradata or b""),
    )


def _has_alpha(stream: av.video.stream.VideoStream) -> bool:
    """VP9 alpha rides beside the picture (Matroska BlockAdditional): ffmpeg's native
    decoder reports yuv420p, and only the track's AlphaMode says it is there."""
    return {k.lower(): v for k, v in stream.metadata.items()}.get("alpha_mode") == "1"


def assemble(
    chunk_paths: Sequence[Path],
    out_path: Path,
    *,
    fps: Fraction,
    plan_tag: str | None = None,
    audio: Path | None = None,
) -> AssembleResult:
    """Concatenate ``chunk_paths`` (in order) into ``out_path``.

    ``plan_tag`` is the metadata every chunk of the plan must carry (see
    ``chunk.chunk_tag``); without it, the chunks must at least agree with each
    other. ``audio``: an encoded audio file whose first audio stream is copied
    in. PNG-sequence chunks (``.tar``) become one tar when ``out_path`` ends in
    ``.tar``, otherwise a folder of PNGs at ``out_path``.
    """
    if not chunk_paths:
        raise ChunkMismatchError("no chunks to assemble")
    frame_duration = Fraction(1) / fps
    if chunk_paths[0].suffix == ".tar":
        return _assemble_pngs(chunk_paths, out_path, frame_duration, plan_tag, audio)
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
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
        frames = _remux(inputs, tmp_path, frame_duration, tag, output_container(out_path), audio)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        for container in inputs:
            container.close()
    os.replace(tmp_path, out_path)
    return AssembleResult(out_path, frames, out_path.stat().st_size, float(frames * frame_duration))


def _assemble_pngs(
    chunk_paths: Sequence[Path],
    out_path: Path,
    frame_duration: Fraction,
    plan_tag: str | None,
    audio: Path | None,
) -> AssembleResult:
    if audio is not None:
        check_audio(audio, "png-sequence")
    tag = plan_tag if plan_tag is not None else pngseq.tag_of(chunk_paths[0])
    if out_path.suffix.lower() == ".tar":
        frames = pngseq.concat_to_tar(chunk_paths, out_path, plan_tag=tag)
        size = out_path.stat().st_size
    else:
        frames, size = pngseq.concat_to_folder(chunk_paths, out_path, plan_tag=tag)
    return AssembleResult(out_path, frames, size, float(frames * frame_duration))


def _remux(
    inputs: list[av.container.InputContainer],
    tmp_path: Path,
    frame_duration: Fraction,
    tag: str,
    container: str,
    audio: Path | None,
) -> int:
    audio_in = _open_audio(audio) if audio is not None else None
    # MP4 and MOV put the index up front (+faststart), so players start before
    # the download ends.
    options = {} if container == "webm" else {"movflags": "+faststart"}
    try:
        audio_stream = _audio_stream(audio_in, container) if audio_in is not None else None
        output = av.open(str(tmp_path), "w", format=container, options=options)
    except BaseException:
        if audio_in is not None:
            audio_in.close()
        raise
    try:
        output.metadata["comment"] = tag
        template = inputs[0].streams.video[0]
        out_stream = output.add_stream_from_template(template)
        if container != "webm":
            # The template leaves the tag to the muxer, which would write H.265 as
            # hev1 (not hvc1, which Apple players require) and ProRes 4444 as apch.
            out_stream.codec_tag = template.codec_tag
        if _has_alpha(template):
            # The native decoder's yuv420p would drop the track's AlphaMode element,
            # and browsers then ignore the alpha that the packets still carry.
            out_stream.codec_context.pix_fmt = "yuva420p"
        packets = _video_packets(inputs, out_stream, frame_duration)
        if audio_in is not None and audio_stream is not None:
            out_audio = output.add_stream_from_template(audio_stream)
            copied = _stream_packets(audio_in, audio_stream, out_audio)
            packets = heapq.merge(packets, copied, key=_dts_seconds)
        frames = 0
        for packet in packets:
            frames += packet.stream.type == "video"
            output.mux(packet)
    finally:
        output.close()
        if audio_in is not None:
            audio_in.close()
    return frames


def _video_packets(
    inputs: list[av.container.InputContainer],
    out_stream: av.video.stream.VideoStream,
    frame_duration: Fraction,
) -> Iterator[av.Packet]:
    """Every chunk's packets in order, shifted to follow the chunks before it."""
    offset = 0  # in the chunks' time base units
    for container in inputs:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        step = round(frame_duration / stream.time_base)
        end = offset
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:  # flush packet
                continue
            packet.pts += offset
            packet.dts += offset
            end = max(end, packet.pts + (packet.duration or step))
            packet.stream = out_stream
            yield packet
        offset = end


def check_audio(audio: Path, format: str) -> str:
    """Refuse, before anything renders, an audio file the output cannot hold; its codec."""
    if format not in AUDIO_CODECS:
        raise InvalidConfigError(
            f"a {format} has no audio track; render mp4, mov or webm to include the audio"
        )
    with _open_audio(audio) as audio_in:
        return str(_audio_stream(audio_in, format).codec_context.name)


def _open_audio(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise InvalidConfigError(
            f"cannot read the audio file '{path}' ({exc}); give an encoded AAC or Opus file"
        ) from None


def _audio_stream(
    audio_in: av.container.InputContainer, container: str
) -> av.audio.stream.AudioStream:
    """The audio file's first audio stream, if ``container`` can hold its codec."""
    name = Path(audio_in.name).name
    if not audio_in.streams.audio:
        raise InvalidConfigError(f"'{name}' has no audio stream; give the mixed audio file")
    stream = audio_in.streams.audio[0]
    codec = stream.codec_context.name
    allowed = AUDIO_CODECS[container]
    if codec not in allowed:
        fits = [c for c, codecs in AUDIO_CODECS.items() if codec in codecs]
        elsewhere = f", or render {' or '.join(fits)}" if fits else ""
        raise InvalidConfigError(
            f"{container} cannot hold {codec} audio ('{name}'); encode the mix as "
            f"{' or '.join(allowed)}{elsewhere}"
        )
    return stream


def _stream_packets(
    source: av.container.InputContainer, stream: av.stream.Stream, out: av.stream.Stream
) -> Iterator[av.Packet]:
    for packet in source.demux(stream):
        if packet.dts is None:  # flush packet
            continue
        packet.stream = out
        yield packet


def _dts_seconds(packet: av.Packet) -> Fraction:
    assert packet.dts is not None  # flush packets are dropped before the merge
    return packet.dts * packet.time_base


def _plan_tag_of(container: av.container.InputContainer) -> str:
    """The chunk's plan tag; Matroska upper-cases tag names (COMMENT), MP4 does not."""
    return {k.lower(): v for k, v in container.metadata.items()}.get("comment", "")


def _diff(a: tuple[object, ...], b: tuple[object, ...]) -> str:
    names = (
        "codec",
        "width",
        "height",
        "pix_fmt",
        "tag",
        "time_base",
        "rate",
        "alpha",
        "extradata",
    )
    return (
        ", ".join(
            f"{n}: {x!r} vs {y!r}"
            for n, x, y in zip(names, a, b, strict=True)
            if x != y and n != "extradata"
        )
        or "parameter sets (SPS/PPS) differ"
    )
