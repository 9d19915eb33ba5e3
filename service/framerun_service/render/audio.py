"""Mix a composition's clips, once, into one audio track aligned to frame time.

Chunks carry no audio: the mix is made once per render and muxed at assemble by
stream copy. Every source is decoded with PyAV, resampled to 48 kHz stereo float,
placed at ``round(start × 48000)`` (trimmed, cut, looped, scaled), summed, clipped
to ±1 and encoded to exactly the video's length, ``frames / fps``.

It streams: 0.5 s blocks pull from one generator per clip, so memory does not grow
with the video's length (a 10-minute track as one float buffer would be 230 MB).

Encoder priming is left to the container, which is what players and decoders read:
AAC's 1024-sample delay is the first packet's negative pts, written as an edit list
in ``.m4a``; Opus' pre-skip is ``CodecDelay`` in ``.webm``. Stream-copying the
packets (``add_stream_from_template``, pts kept, the negative first one included)
carries them into mp4/mov/webm, and decoded sample 0 lands on frame 0.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal, cast

import av
import numpy as np

from framerun_service.core.errors import MediaInvalidError
from framerun_service.render.media import MediaClip
from framerun_service.render.sitepath import site_path

AudioCodec = Literal["aac", "opus"]
SAMPLE_RATE = 48_000
BLOCK = SAMPLE_RATE // 2
LOOP_CACHE_SAMPLES = 30 * SAMPLE_RATE  # a loop this short replays from memory (≤ 11 MB)
SEEK_PREROLL_S = 1.0  # seek this far before a trim, then decode up to it


@dataclass(frozen=True)
class _Encoder:
    codec: str
    container: str
    suffix: str
    bit_rate: int
    sample_format: str


ENCODERS: dict[str, _Encoder] = {
    "aac": _Encoder("aac", "ipod", ".m4a", 192_000, "fltp"),
    "opus": _Encoder("libopus", "webm", ".webm", 128_000, "flt"),
}
_CODEC_FOR_CONTAINER: dict[str, AudioCodec] = {"mp4": "aac", "mov": "aac", "webm": "opus"}


def audio_codec_for(container: str) -> AudioCodec | None:
    """The audio codec an output gets: AAC in mp4/mov, Opus in webm, none in a PNG sequence."""
    return _CODEC_FOR_CONTAINER.get(container)


def audio_suffix(codec: AudioCodec) -> str:
    """Name the mixed file with this (``.m4a`` / ``.webm``); the format is set explicitly."""
    return ENCODERS[codec].suffix


def mix_audio(
    clips: Sequence[MediaClip],
    site_dir: Path,
    *,
    duration: Fraction,
    fps: Fraction,
    codec: AudioCodec,
    out_path: Path,
    frames: tuple[int, int] | None = None,
) -> Path | None:
    """Mix ``clips`` (sources under ``site_dir``) into ``out_path``; None if nothing plays.

    The track lasts exactly as long as the video: ``round(duration × fps)`` frames,
    or ``frames`` = [start, end) when only part is rendered (its audio starts at
    ``start / fps``). Every source is opened before anything is encoded, so a
    missing or undecodable file fails fast with ``MediaInvalidError``.
    """
    encoder = ENCODERS[codec]
    first, end = frames if frames is not None else (0, max(1, round(duration * fps)))
    origin = round(Fraction(first) / fps * SAMPLE_RATE)
    total = round(Fraction(end) / fps * SAMPLE_RATE) - origin
    parts = [p for clip in clips if (p := _Part.of(clip, site_dir, origin, total)) is not None]
    if not parts:
        return None
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    try:
        _encode(parts, total, encoder, tmp_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    os.replace(tmp_path, out_path)
    return out_path


# ---- placing clips on the timeline ----------------------------------------------------


@dataclass
class _Part:
    """A clip on the output timeline: samples [start, end), from its decoded PCM."""

    clip: MediaClip
    path: Path
    start: int
    end: int
    skip: int  # leading samples to drop (a loop that began before the rendered range)

    @classmethod
    def of(cls, clip: MediaClip, site_dir: Path, origin: int, total: int) -> _Part | None:
        path = _source_path(clip, site_dir)
        if not _has_audio(clip, path):
            return None
        start = round(clip.start_s * SAMPLE_RATE) - origin
        end = total
        if clip.duration_s is not None:
            end = min(total, round((clip.start_s + clip.duration_s) * SAMPLE_RATE) - origin)
        if clip.volume == 0 or start >= end or end <= 0:
            return None
        skip = max(0, -start)
        if skip and not clip.loop:  # cheaper to trim further into the source than to decode
            clip = replace(clip, media_start_s=clip.media_start_s + skip / SAMPLE_RATE)
            skip = 0
        return cls(clip, path, max(0, start), end, skip)


def _source_path(clip: MediaClip, site_dir: Path) -> Path:
    """The clip's file, checked again: clips may come back from a stored plan."""
    site = site_dir.resolve()
    path = (site / site_path(clip.src, label=clip.label)).resolve()
    if not path.is_relative_to(site):
        raise MediaInvalidError(
            f'{clip.label}: src "{clip.src}" leads outside the site folder (a symlink?); '
            "copy the file itself into the site"
        )
    if not path.is_file():
        raise MediaInvalidError(
            f'{clip.label}: source "{clip.src}" is not in the site; add the file at that '
            "path or fix src"
        )
    return path


def _open(clip: MediaClip, path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise _undecodable(clip, exc) from None


def _undecodable(clip: MediaClip, exc: Exception) -> MediaInvalidError:
    return MediaInvalidError(
        f'{clip.label}: source "{clip.src}" could not be decoded ({exc}); re-export it as '
        "WAV, MP3, AAC (.m4a), Opus or FLAC"
    )


def _has_audio(clip: MediaClip, path: Path) -> bool:
    """Whether the source has sound; a silent <video> is fine, a silent <audio> is not.

    Decodes the first frame too, so a broken file fails before anything is encoded.
    """
    with closing(_open(clip, path)) as container:
        if container.streams.audio:
            try:
                next(container.decode(container.streams.audio[0]), None)
            except av.FFmpegError as exc:
                raise _undecodable(clip, exc) from None
            return True
    if clip.kind == "video":
        return False
    raise MediaInvalidError(
        f'{clip.label}: source "{clip.src}" has no audio stream; point src at a file with '
        "sound, or remove the element"
    )


# ---- decoding -------------------------------------------------------------------------


def _decode(clip: MediaClip, path: Path, *, seek: bool = True) -> Iterator[np.ndarray]:
    """The source from ``media_start_s`` on, as (2, n) float32 blocks at 48 kHz.

    Media time 0 is the file's start time, as browsers count it (an MP3's encoder
    delay makes its first pts 25 ms, not 0). The trim is exact to the output
    sample: decoding starts from a seek point well before it, because decoders may
    swallow the first packet after a seek, and the samples up to it are dropped.
    """
    with closing(_open(clip, path)) as container:
        stream = container.streams.audio[0]
        origin = (container.start_time or 0) / av.time_base
        mono = stream.codec_context.layout.nb_channels == 1
        # Mono goes to both speakers at full level, as browsers play it; swresample's
        # own mono → stereo upmix would lower it by 3 dB.
        resampler = av.AudioResampler("fltp", "mono" if mono else "stereo", SAMPLE_RATE)
        target = round(clip.media_start_s * SAMPLE_RATE)
        time_base = stream.time_base
        sought = seek and clip.media_start_s > SEEK_PREROLL_S and time_base is not None
        try:
            if sought and time_base is not None:
                seconds = origin + clip.media_start_s - SEEK_PREROLL_S
                container.seek(int(seconds / time_base), stream=stream)
            position: int | None = None  # output samples since media time 0
            for frame in _frames(container, stream):
                if position is None:
                    if frame is None:  # nothing at or after the trim
                        return
                    if frame.pts is None and sought:  # cannot tell where the seek landed
                        yield from _decode(clip, path, seek=False)
                        return
                    position = round(((frame.time or 0.0) - origin) * SAMPLE_RATE)
                    if position > target:  # the sound starts later than the trim
                        yield from _silence(position - target)
                        target = position
                for out in resampler.resample(frame):
                    block, position = _trimmed(out, position, target)
                    if block is not None:
                        yield np.repeat(block, 2, axis=0) if mono else block
        except av.FFmpegError as exc:
            raise _undecodable(clip, exc) from None


def _silence(samples: int) -> Iterator[np.ndarray]:
    for start in range(0, samples, BLOCK):
        yield np.zeros((2, min(BLOCK, samples - start)), np.float32)


def _frames(
    container: av.container.InputContainer, stream: av.AudioStream
) -> Iterator[av.AudioFrame | None]:
    yield from container.decode(stream)
    yield None  # flushes the resampler's last samples


def _trimmed(frame: av.AudioFrame, position: int, target: int) -> tuple[np.ndarray | None, int]:
    data = frame.to_ndarray()
    after = position + data.shape[1]
    if after <= target:
        return None, after
    return data[:, max(0, target - position) :], after


def _pcm(part: _Part) -> Generator[np.ndarray, None, None]:
    """The clip's sound, over and over when it loops (short loops from memory)."""
    cache: list[np.ndarray] | None = [] if part.clip.loop else None
    cached = 0
    played = False
    for block in _decode(part.clip, part.path):
        played = True
        if cache is not None:
            cache.append(block)
            cached += block.shape[1]
            if cached > LOOP_CACHE_SAMPLES:
                cache = None
        yield block
    if not played:
        if part.clip.media_start_s > 0:
            raise MediaInvalidError(
                f"{part.clip.label}: data-media-start={part.clip.media_start_s:g} is past the "
                f'end of "{part.clip.src}"; lower it'
            )
        return
    while part.clip.loop:
        yield from cache if cache is not None else _decode(part.clip, part.path)


class _Reader:
    """Exactly-n-sample reads over a stream of blocks; keeps at most one block."""

    def __init__(self, blocks: Generator[np.ndarray, None, None]) -> None:
        self._blocks = blocks
        self._head = np.zeros((2, 0), np.float32)

    def read(self, n: int) -> np.ndarray:
        """Up to ``n`` samples; fewer only at the end of the source."""
        parts, have = [np.zeros((2, 0), np.float32)], 0
        while have < n:
            if not self._head.shape[1]:
                head = next(self._blocks, None)
                if head is None:
                    break
                self._head = head
            take = self._head[:, : n - have]
            self._head = self._head[:, take.shape[1] :]
            parts.append(take)
            have += take.shape[1]
        return parts[-1] if len(parts) <= 2 else np.concatenate(parts, axis=1)

    def skip(self, n: int) -> None:
        while n > 0 and (got := self.read(min(n, BLOCK)).shape[1]):
            n -= got

    def close(self) -> None:
        self._blocks.close()  # runs the decoder's `with`: closes its file


# ---- mixing and encoding ----------------------------------------------------------------


def _encode(parts: list[_Part], total: int, encoder: _Encoder, tmp_path: Path) -> None:
    output = av.open(str(tmp_path), "w", format=encoder.container)
    with ExitStack() as stack:
        stack.callback(output.close)
        stream = cast(
            av.AudioStream, output.add_stream(encoder.codec, rate=SAMPLE_RATE, layout="stereo")
        )
        stream.bit_rate = encoder.bit_rate
        stream.codec_context.format = encoder.sample_format
        pending = sorted(parts, key=lambda p: p.start)
        active: list[tuple[_Part, _Reader]] = []
        for b0 in range(0, total, BLOCK):
            b1 = min(total, b0 + BLOCK)
            while pending and pending[0].start < b1:  # open sources only when they play
                part = pending.pop(0)
                reader = _Reader(_pcm(part))
                stack.callback(reader.close)
                reader.skip(part.skip)
                active.append((part, reader))
            mix = np.zeros((2, b1 - b0), np.float32)
            for part, reader in active:
                lo, hi = max(b0, part.start), min(b1, part.end)
                if lo < hi:
                    block = reader.read(hi - lo)
                    mix[:, lo - b0 : lo - b0 + block.shape[1]] += part.clip.volume * block
            for part, reader in active:
                if part.end <= b1:
                    reader.close()  # done: release its file now, not at the end
            active = [(p, r) for p, r in active if p.end > b1]
            np.clip(mix, -1.0, 1.0, out=mix)
            frame = av.AudioFrame.from_ndarray(mix, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = (
                SAMPLE_RATE,
                b0,
                Fraction(1, SAMPLE_RATE),
            )
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))  # flush: the encoder holds the last frames
