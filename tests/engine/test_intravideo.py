"""Video sources served as all-keyframe copies (render/intravideo.py)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from framerun_service.render.intravideo import intra_copy
from tests.libs import make_clip_module
from tests.videos import decode, psnr


def test_the_copy_keeps_every_frame_time_and_colour_and_makes_each_a_keyframe(
    tmp_path: Path,
) -> None:
    source = make_clip_module().make_clip(tmp_path / "clip.webm", frames=45)
    copy = intra_copy(source, tmp_path / "cache")
    assert copy is not None and copy.suffix == ".mp4"
    original, copied = decode(source), decode(copy)
    assert len(copied.frames) == 45
    seconds = [p * original.time_base for p in original.pts]
    assert [p * copied.time_base for p in copied.pts] == seconds  # currentTime → same picture
    assert (copied.color_range, copied.colorspace) == (original.color_range, original.colorspace)
    assert min(psnr(a, b) for a, b in zip(original.frames, copied.frames, strict=True)) >= 40
    with av.open(str(copy)) as container:
        keys = [packet.is_keyframe for packet in container.demux(video=0) if packet.size]
    assert keys == [True] * 45, "a seek must decode one frame"
    # Made once per content: a second ask is answered from the cache.
    stamp = copy.stat().st_mtime_ns
    assert intra_copy(source, tmp_path / "cache") == copy
    assert copy.stat().st_mtime_ns == stamp


def test_a_source_with_alpha_or_no_video_is_served_as_it_is(tmp_path: Path) -> None:
    alpha = tmp_path / "alpha.webm"
    with av.open(str(alpha), "w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuva420p"
        for i in range(5):
            image = np.full((32, 32, 4), i * 40, np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgba")))
        out.mux(stream.encode())
    assert intra_copy(alpha, tmp_path / "cache") is None
    not_media = tmp_path / "broken.mp4"
    not_media.write_bytes(b"not a video")
    assert intra_copy(not_media, tmp_path / "cache") is None
