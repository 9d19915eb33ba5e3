"""A decoded JPEG's colours → the video's, in one exact step on the 4:2:0 planes.

Chrome's JPEG screenshots decode (PyAV's mjpeg decoder) to ``yuvj420p``: JFIF's
BT.601 matrix at full range. The video is BT.709 at limited range. Between two
Y'CbCr encodings of the same R'G'B' the change is linear: the new chroma depends on
the old chroma only, and the new luma is the old luma plus a correction from the
chroma sample that covers it. FFmpeg's ``colorspace`` filter does exactly that on
the planes (primaries and transfer are the same on both sides, so ``fast`` skips
nothing that applies), with no RGB picture in between.

Measured on 1080p captures of ``examples/bench`` (``scripts/measure_colour.py``):

- CPU: ≈ 1 ms a frame, against ≈ 21 ms for the path it replaces (JPEG planes →
  RGB → BT.709 planes, two swscale conversions, the second one slow at
  ``ACCURATE_RND``): a third of the encoder thread's work.
- Exact: the samples equal the rounded ideal conversion (the filter's fixed point
  rounds a sample within a hair of a half level the other way: under 1 in 2,000
  on a page, 0.15 % of random samples). The RGB path rounded to 8-bit RGB on the
  way, and its luma depended on the colour: exact on greys, up to 0.9 level high
  on saturated colours (0.38 on average over the gamut); chroma up to 0.4 level
  low. Against lossless PNG captures of the same frames, decoded with accurate
  rounding, the result is 0.4–0.5 dB closer.

Only the case it is exact for takes this path: ``yuvj420p`` in, ``yuv420p`` out,
even sizes. Anything else (ProRes' 10-bit 4:2:2, a 4:4:4 JPEG) goes through RGB.
"""

from __future__ import annotations

from fractions import Fraction

import av
import av.filter

# BT.601 (bt470bg) → BT.709, full → limited; same primaries and transfer on both sides.
_FILTER_ARGS = (
    "ispace=bt470bg:space=bt709:iprimaries=bt709:primaries=bt709:itrc=bt709:trc=bt709"
    ":irange=pc:range=tv:format=yuv420p:fast=1:dither=none"
)


class JfifToBt709:
    """Converts decoded JPEG frames of one size to BT.709 limited ``yuv420p``."""

    def __init__(self) -> None:
        self._graph: av.filter.Graph | None = None
        self._size: tuple[int, int] = (0, 0)
        self._pts = 0

    @staticmethod
    def handles(frame: av.VideoFrame, pix_fmt: str) -> bool:
        """True when the exact plane-to-plane conversion applies to ``frame``."""
        return (
            pix_fmt == "yuv420p"
            and frame.format.name == "yuvj420p"
            and frame.width % 2 == 0
            and frame.height % 2 == 0
        )

    def convert(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` (``yuvj420p``, see :meth:`handles`) in BT.709 limited ``yuv420p``."""
        graph = self._graph_for(frame.width, frame.height)
        frame.pts = self._pts  # the buffer source wants rising timestamps
        self._pts += 1
        graph.push(frame)
        out = graph.pull()
        assert isinstance(out, av.VideoFrame)
        return out

    def _graph_for(self, width: int, height: int) -> av.filter.Graph:
        if self._graph is None or self._size != (width, height):
            graph = av.filter.Graph()
            graph.threads = 1  # the encoder thread's own work; pages hold the other cores
            source = graph.add_buffer(
                width=width,
                height=height,
                format=av.VideoFormat("yuvj420p"),
                time_base=Fraction(1, 1000),
            )
            colour = graph.add("colorspace", _FILTER_ARGS)
            sink = graph.add("buffersink")
            source.link_to(colour)
            colour.link_to(sink)
            graph.configure()
            self._graph, self._size, self._pts = graph, (width, height), 0
        return self._graph
