"""PyAV encoding of captured frames into one closed-GOP chunk.

Frames arrive as JPEG (the fast path) or PNG bytes (lossless, and the only
capture that carries alpha). JPEGs decode with PyAV's mjpeg decoder (≈10 ms at
1080p, q100) and jfifcolour.py converts JFIF's BT.601 full range to BT.709 limited
range on the planes (≈1 ms); a PNG goes through swscale from RGB, and an RGBA PNG
keeps its alpha plane through that conversion into yuva420p (VP9) or
yuva444p10le (ProRes 4444), straight (not premultiplied) as the PNG holds it.
Memory is constant: one frame in flight.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
from av.video.frame import PictureType
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter
from av.video.stream import VideoStream

from framerun_service.render.encoding import EncoderSettings
from framerun_service.render.jfifcolour import JfifToBt709

# swscale's flags for the colour conversions through RGB, measured against lossless
# references of 1080p pages (PSNR of the decoded video, RGB):
# - A JPEG's chroma (where jfifcolour.py does not apply: ProRes, a 4:4:4 JPEG) is
#   already subsampled, so nearest sampling up to RGB and back down takes the same
#   samples again: POINT is exact, and cheapest. Without ACCURATE_RND every
#   conversion rounds the same way, and the pictures came out 1-2 levels dark:
#   +1.5 dB on css-motion, +2.2 dB on warm-grain, for ≈ 2 ms.
# - A PNG has a chroma sample per pixel, so going down to 4:2:0 must average
#   them (AREA): POINT aliased edges, −0.5 dB.
_FROM_JPEG = int(Interpolation.POINT) | int(Interpolation.ACCURATE_RND)
_FROM_RGB = int(Interpolation.AREA) | int(Interpolation.ACCURATE_RND)


class ChunkEncoder:
    """Encode frames to a video whose first frame is a keyframe and whose parameter
    sets (SPS/PPS, VPS for H.265) match every other chunk of the same plan."""

    def __init__(
        self,
        path: Path,
        settings: EncoderSettings,
        *,
        width: int,
        height: int,
        fps: Fraction,
        plan_tag: str = "",
    ) -> None:
        self.path = path
        self.settings = settings
        self.fps = fps
        self._container = av.open(str(path), "w", format=settings.container)
        # Assemble compares this tag across chunks: SPS/PPS alone do not show a
        # different CRF or preset, the plan hash does.
        self._container.metadata["comment"] = plan_tag
        stream = cast("VideoStream", self._container.add_stream(settings.codec, rate=fps))
        stream.width, stream.height, stream.pix_fmt = width, height, settings.pix_fmt
        if settings.codec_tag is not None:
            stream.codec_tag = settings.codec_tag
        stream.time_base = Fraction(1) / fps
        cc = stream.codec_context
        cc.time_base = Fraction(1) / fps
        cc.color_range = 1  # MPEG (limited)
        cc.colorspace = 1  # BT.709 matrix
        cc.color_primaries = 1
        cc.color_trc = 1
        cc.thread_count = settings.threads
        if settings.bitrate is not None:
            cc.bit_rate = settings.bitrate
        cc.options = settings.codec_options()
        self._stream = stream
        self._time_base = Fraction(1) / fps
        self._jpeg = av.CodecContext.create("mjpeg", "r")
        self._png = av.CodecContext.create("png", "r")
        self._reformatter = VideoReformatter()
        self._jfif = JfifToBt709()
        self._last: av.VideoFrame | None = None
        self.frames = 0

    def add_jpeg(self, data: bytes) -> None:
        (frame,) = self._jpeg.decode(av.Packet(data))
        if JfifToBt709.handles(frame, self.settings.pix_fmt):
            self._encode(self._jfif.convert(frame))
            return
        # Other outputs (ProRes' 4:2:2) and odd sizes: through RGB with POINT
        # sampling, so nearest-upsampled chroma is taken back at the same sample
        # positions and luma is never resampled.
        rgb = self._reformatter.reformat(frame, format="rgb24", interpolation=_FROM_JPEG, threads=1)
        self._encode(self._to_yuv(rgb, _FROM_JPEG))

    def add_png(self, data: bytes) -> None:
        packet = av.Packet(data)
        # Without the key flag ffmpeg's PNG decoder takes the packet for a delta
        # frame (as PNG-in-MOV codes them) and adds it onto the previous picture:
        # every frame after the first came out as the running sum of the captures.
        packet.is_keyframe = True
        (frame,) = self._png.decode(packet)
        self._encode(self._to_yuv(frame, _FROM_RGB))

    def repeat(self) -> None:
        """Encode the previous frame's picture again (the page showed it unchanged):
        no decode, no colour conversion, and the encoder codes it as a skip."""
        if self._last is None:
            raise ValueError("repeat() before any frame was added")
        self._encode(self._last)

    def _to_yuv(self, rgb: av.VideoFrame, interpolation: int) -> av.VideoFrame:
        return self._reformatter.reformat(
            rgb,
            format=self.settings.pix_fmt,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            interpolation=interpolation,
            threads=1,
        )

    def _encode(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        # Decoded JPEGs and PNGs come out marked as I pictures, and x264, x265 and
        # libvpx take that as a forced keyframe: every frame was intra-coded. The
        # encoder places keyframes itself (the first frame of a chunk is one).
        frame.pict_type = PictureType.NONE
        frame.time_base = self._time_base  # the codec's; the muxer may change the stream's
        # Tag the frame so x264 writes BT.709 limited VUI, whatever swscale left set.
        frame.color_range = 1
        frame.colorspace = 1
        self._last = frame  # the encoder holds its own reference to the pixels
        self.frames += 1
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder (it holds lookahead frames) and finish the file."""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the file is discarded anyway
            self._container.close()
        self.path.unlink(missing_ok=True)
