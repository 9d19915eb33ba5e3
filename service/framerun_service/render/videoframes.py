"""``<video>`` pictures decoded here with PyAV and shown by the page as the element's poster.

Seeking a ``<video>`` element once per rendered frame is the slow part of a video
page: Chrome's media pipeline takes ≈ 200 ms a seek on a 720p clip here, even on an
all-keyframe copy, and the new picture reaches the screen only with a video-frame
callback, so the page had to be screenshotted rather than drawn with beginFrame.
Instead the runtime's video adapter takes the source off the element and, for each
frame, sets its ``poster`` to :data:`FRAME_PATH` on the site origin; the page guard
answers that request from :class:`VideoFrames`, which decodes the source in order
(one frame per rendered frame, a seek only on a jump) and encodes the picture as
JPEG, or PNG when the capture is lossless. The poster keeps the element, its CSS
(``object-fit``, filters, transforms) and its place in the page.

The picture is the one Chrome shows at that time: the last frame that starts at or
before it, the first before the first, the last after the end; converted to RGB with
the stream's colour tags, untagged video as BT.709 limited range, as Chrome does
(PSNR 45 dB against Chrome's own conversion, measured on a 720p H.264 clip).
Sources with alpha, or that PyAV cannot read, keep playing in the element.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import av
from av.video.reformatter import Interpolation
from PIL import Image

from framerun_service.render.intravideo import VIDEO_SUFFIXES, has_alpha
from framerun_service.render.site import iter_site_files

__all__ = [
    "FRAME_PATH",
    "VideoFrames",
    "VideoInfo",
    "probe_video",
    "servable_videos",
]

# The poster URL's path on the site origin: FRAME_PATH + "/" + site path + "?t=seconds".
FRAME_PATH = "/__framerun/video-frame"
# A forward jump longer than this seeks to a keyframe instead of decoding up to it.
_SEEK_AHEAD_S = 2.0
_EPSILON_S = 1e-6
# A poster's JPEG quality (4:4:4). Not the capture's: q100 capture was measured with
# q95 posters, and a q100 poster costs more to encode for every video frame.
POSTER_JPEG_QUALITY = 95
# Chrome's own conversion of untagged video (measured: BT.709 beats BT.601 by 17 dB).
_DEFAULT_COLORSPACE = "ITU709"
_TO_RGB = Interpolation.POINT | Interpolation.ACCURATE_RND
_COLORSPACES = {1: "ITU709", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020"}


@dataclass(frozen=True)
class VideoInfo:
    """What the adapter needs in place of the element's own metadata."""

    duration: float
    width: int
    height: int


_lock = threading.Lock()
_probed: dict[tuple[str, int, int], VideoInfo | None] = {}


def probe_video(path: Path) -> VideoInfo | None:
    """The source's duration and size, or None if the page must play it itself."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key not in _probed:
            _probed[key] = _probe(path)
        return _probed[key]


def _probe(path: Path) -> VideoInfo | None:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if has_alpha(stream):
                return None
            first = next(container.decode(stream), None)
            if first is None or container.duration is None:
                return None
            return VideoInfo(container.duration / av.time_base, first.width, first.height)
    except (av.FFmpegError, ValueError, OSError):
        return None


def servable_videos(site: Path) -> dict[str, VideoInfo]:
    """The site's video files this module can show, by their path on the site origin."""
    return {
        "/" + rel: info
        for rel, path in iter_site_files(site)
        if Path(rel).suffix.lower() in VIDEO_SUFFIXES and (info := probe_video(path)) is not None
    }


def _time(frame: av.VideoFrame) -> float:
    return float(frame.time) if frame.time is not None else 0.0


class _Decoder:
    """One source decoded in order; :meth:`picture_at` returns the frame shown at a time."""

    def __init__(self, path: Path, lossless: bool, jpeg_quality: int) -> None:
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._frames = self._container.decode(self._stream)
        self._lossless = lossless
        self._jpeg_quality = jpeg_quality
        self._current: av.VideoFrame | None = None  # the last frame starting at or before t
        self._next: av.VideoFrame | None = None  # decoded, starts after t
        self._ended = False
        self._encoded: tuple[av.VideoFrame, bytes] | None = None

    def picture_at(self, t: float) -> bytes:
        current = self._current
        if current is None:
            jump = t > _SEEK_AHEAD_S
        else:
            backward = t < _time(current) - _EPSILON_S
            jump = backward or (t > _time(current) + _SEEK_AHEAD_S and not self._ended)
        if jump:  # from the keyframe before t, not by decoding everything up to it
            self._seek(t)
        self._advance(t)
        assert self._current is not None
        return self._encode(self._current)

    def _seek(self, t: float) -> None:
        assert self._stream.time_base is not None
        target = int(max(0.0, t) / self._stream.time_base)
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._current = self._next = None
        self._ended = False

    def _advance(self, t: float) -> None:
        while not self._ended:
            frame = self._next if self._next is not None else next(self._frames, None)
            if frame is None:
                self._ended = True
                break
            if self._current is not None and _time(frame) > t + _EPSILON_S:
                self._next = frame
                break
            self._current, self._next = frame, None
        if self._current is None:
            raise ValueError("the video has no frame to show")

    def _encode(self, frame: av.VideoFrame) -> bytes:
        if self._encoded is not None and self._encoded[0] is frame:
            return self._encoded[1]
        colorspace = _COLORSPACES.get(int(frame.colorspace), _DEFAULT_COLORSPACE)
        full = int(frame.color_range) == 2  # AVCOL_RANGE_JPEG
        rgb = frame.reformat(
            format="rgb24",
            src_colorspace=colorspace,
            src_color_range="JPEG" if full else "MPEG",
            interpolation=_TO_RGB,
        ).to_ndarray()
        out = io.BytesIO()
        image = Image.fromarray(rgb, "RGB")
        if self._lossless:
            image.save(out, "PNG", compress_level=1)
        else:
            # 4:4:4: the frame's own chroma is already 4:2:0, and subsampling it again
            # at JPEG's sites cost 17 dB on testsrc2's colour edges (and was slower).
            image.save(out, "JPEG", quality=self._jpeg_quality, subsampling=0)
        self._encoded = (frame, out.getvalue())
        return self._encoded[1]

    def close(self) -> None:
        self._container.close()


class VideoFrames:
    """One page's decoders, one per source it shows; answers the poster requests."""

    def __init__(self, *, lossless: bool, jpeg_quality: int = POSTER_JPEG_QUALITY) -> None:
        self._lossless = lossless
        self._jpeg_quality = jpeg_quality
        self._decoders: dict[Path, _Decoder] = {}
        # The page's requests are answered on several threads (cdppage.py), and a
        # decoder reads its source in order: one picture at a time.
        self._lock = threading.Lock()

    @property
    def content_type(self) -> str:
        return "image/png" if self._lossless else "image/jpeg"

    def picture(self, path: Path, t: float) -> bytes:
        """The picture of the video at ``path`` shown ``t`` seconds into the source."""
        with self._lock:
            decoder = self._decoders.get(path)
            if decoder is None:
                decoder = self._decoders[path] = _Decoder(path, self._lossless, self._jpeg_quality)
            return decoder.picture_at(t)

    def close(self) -> None:
        with self._lock:
            for decoder in self._decoders.values():
                decoder.close()
            self._decoders.clear()
