"""Video sources re-encoded so that every frame is a keyframe, for cheap exact seeks.

Most videos never reach the element: the engine decodes them itself and the page
shows them as posters (videoframes.py). This is for the rest (``<source>``
children, scripted sources), which the page plays. Such a ``<video>`` is seeked
once per rendered frame, and Chrome decodes a seek from
the keyframe before the target: with a camera's or an encoder's usual keyframe
interval (every 2–10 s) each seek decoded up to hundreds of frames, so a page with
a 1080p clip rendered at about 1 fps here (HyperFrames, which extracts the frames
once, at 5). The page is therefore served a copy of each video source in which
every frame is an H.264 keyframe, with the same timestamps (so ``currentTime``
shows the same picture) and the same audio packets (so ``duration`` is the
source's): each seek then decodes one frame. The copy is made once per source
content (cached by its SHA-256, written under a temporary name and renamed).

Sources with an alpha channel, or that PyAV cannot read, are served as they are.
The sound a render mixes is read from the original (``media.py``), never the copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections.abc import Collection
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.video.frame import PictureType

from framerun_service.render.site import iter_site_files

__all__ = ["VIDEO_SUFFIXES", "has_alpha", "intra_copy", "prepare_intra_copies"]

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ogv"})
# Near-transparent: ±1–2 levels on 8-bit planes; x264 ultrafast keeps the copy quick
# (≈10 ms a 1080p frame here) and the keyframes small enough to decode fast.
_OPTIONS = {"preset": "ultrafast", "crf": "8", "x264-params": "keyint=1:min-keyint=1:scenecut=0"}
_VERSION = b"framerun-intra-v1"
_lock = threading.Lock()
_known: dict[tuple[str, int, int, str], Path | None] = {}  # this process's answers


def has_alpha(stream: Any) -> bool:
    """Whether a video stream carries transparency (WebM's VP9 alpha, yuva420p, rgba…)."""
    pix_fmt = stream.codec_context.pix_fmt or ""
    return stream.metadata.get("alpha_mode") == "1" or pix_fmt.startswith(
        ("yuva", "rgba", "argb", "bgra", "abgr", "gbrap")
    )


def prepare_intra_copies(site: Path, shown_as_posters: Collection[str] = ()) -> None:
    """Make the copies of every video file of ``site`` before a page loads it: a copy
    takes seconds, which must not count against the page's load deadline. The files
    in ``shown_as_posters`` (paths on the site origin, videoframes.py) are never seeked."""
    for rel, path in iter_site_files(site):
        if Path(rel).suffix.lower() in VIDEO_SUFFIXES and "/" + rel not in shown_as_posters:
            intra_copy(path)


def intra_copy(source: Path, cache_dir: Path | None = None) -> Path | None:
    """An all-keyframe copy of ``source``, or None to serve the source as it is."""
    stat = source.stat()
    key = (str(source.resolve()), stat.st_size, stat.st_mtime_ns, str(cache_dir))
    if key not in _known:
        _known[key] = _make_copy(source, cache_dir)
    return _known[key]


def _make_copy(source: Path, cache_dir: Path | None) -> Path | None:
    digest = hashlib.sha256(_VERSION)
    with source.open("rb") as fh:
        digest.update(hashlib.file_digest(fh, "sha256").digest())
    folder = cache_dir or Path(tempfile.gettempdir()) / "framerun-intra"
    copy = folder / f"{digest.hexdigest()}.mp4"
    skip = copy.with_suffix(".skip")  # a source found unfit is not probed again
    folder.mkdir(parents=True, exist_ok=True)
    # One copy at a time, across the threads and processes of this machine: a second
    # asker waits for the first copy rather than making its own.
    with _lock, (folder / f"{copy.stem}.lock").open("wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if copy.is_file():
            return copy
        if skip.is_file():
            return None
        partial = copy.with_name(f".{copy.name}.{os.getpid()}.partial")
        try:
            made = _transcode(source, partial)
        except (av.FFmpegError, ValueError, OSError):
            made = False
        if not made:
            partial.unlink(missing_ok=True)
            skip.touch()
            return None
        os.replace(partial, copy)
        return copy


def _transcode(source: Path, out: Path) -> bool:
    """Write the copy; False if the source has no plain video stream to copy."""
    with av.open(str(source)) as src:
        if not src.streams.video:
            return False
        video = src.streams.video[0]
        if has_alpha(video):
            return False  # alpha (WebM's VP9 alpha, yuva420p, rgba…): H.264 would drop it
        audio = src.streams.audio[0] if src.streams.audio else None
        with av.open(str(out), "w", format="mp4") as dst:
            ostream = dst.add_stream("libx264", rate=video.average_rate or Fraction(30))
            ostream.width, ostream.height = video.codec_context.width, video.codec_context.height
            ostream.pix_fmt = "yuv420p"
            time_base = video.time_base or Fraction(1, 90000)
            ostream.time_base = time_base
            ostream.codec_context.time_base = time_base
            ostream.codec_context.options = dict(_OPTIONS)
            # The same colour tags, so the browser converts the copy to RGB as the source.
            source_cc, copy_cc = video.codec_context, ostream.codec_context
            copy_cc.color_range, copy_cc.colorspace = source_cc.color_range, source_cc.colorspace
            copy_cc.color_primaries, copy_cc.color_trc = (
                source_cc.color_primaries,
                source_cc.color_trc,
            )
            astream = dst.add_stream_from_template(audio) if audio is not None else None
            streams = [video] if astream is None else [video, audio]
            for packet in src.demux(*streams):
                if packet.stream is audio and astream is not None:
                    if packet.dts is not None:
                        packet.stream = astream
                        dst.mux(packet)
                    continue
                for decoded in packet.decode():
                    if not isinstance(decoded, av.VideoFrame):
                        continue
                    frame = decoded.reformat(format="yuv420p")
                    frame.pts, frame.time_base = decoded.pts, decoded.time_base
                    frame.pict_type = PictureType.NONE  # x264 places the keyframes
                    for out_packet in ostream.encode(frame):
                        dst.mux(out_packet)
            for out_packet in ostream.encode(None):
                dst.mux(out_packet)
    return True
