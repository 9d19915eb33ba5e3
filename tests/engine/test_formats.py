"""Every output format through the same plan → chunk → assemble path, opaque and with alpha.

One tiny composition (160×120, 45 frames) on a transparent page: a moving opaque
box, a static opaque box and a static half-transparent one. Opaque formats see
it on Chrome's white default background; alpha formats keep the page's
transparency. Each (format, chunk size) render happens once per module and is
decoded once; the tests below only look at the decoded frames.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import framerun
from framerun_service.core.errors import (
    ChunkMismatchError,
    InvalidConfigError,
    OutputNotWritableError,
)
from framerun_service.render.assemble import assemble
from framerun_service.render.encode import ChunkEncoder
from framerun_service.render.encoding import encoder_settings, format_for_output
from framerun_service.render.pngseq import PngChunkWriter
from tests.compositions import write_composition
from tests.engine.test_cli_errors import BadInput, assert_failed_cleanly, run_cli
from tests.videos import psnr

WIDTH, HEIGHT, FPS, FRAMES = 160, 120, 30, 45
SINGLE = 10_000  # chunk size that makes one chunk
CHUNK_SIZES = (7, 30)  # 7 chunks of 6–7 frames; 2 chunks of 23 + 22
BODY = """
<div style="position:absolute;left:10px;top:10px;width:40px;height:40px;background:#3366cc;
  animation: mv 1.5s linear forwards"></div>
<div style="position:absolute;left:20px;top:70px;width:40px;height:40px;background:#33cc66"></div>
<div style="position:absolute;left:100px;top:70px;width:40px;height:40px;
  background:rgba(255,128,0,0.5)"></div>
<style>@keyframes mv { to { transform: translateX(80px) } }</style>
"""
TRANSPARENT_PAGE = "<style>html, body { background: transparent; }</style>"
CORNER = (slice(0, 6), slice(150, 160))  # never covered: alpha 0
OPAQUE_PATCH = (slice(78, 102), slice(28, 52))  # inside the static opaque box


@dataclass(frozen=True)
class Case:
    """One output: the render() keywords, and what decoding it must show."""

    format: str
    codec: str = "h264"
    transparent: bool = False

    @property
    def id(self) -> str:
        if self.format == "mp4":
            return f"mp4-{self.codec}"
        return f"{self.format}-{'alpha' if self.transparent else 'opaque'}"

    def output(self, folder: Path, chunk_size: int) -> Path:
        name = f"{self.id}-c{chunk_size}"
        return folder / (name if self.format == "png-sequence" else f"{name}.{self.format}")


CASES = [
    Case("mp4"),
    Case("mp4", codec="h265"),
    Case("mov"),
    Case("mov", transparent=True),
    Case("webm"),
    Case("webm", transparent=True),
    Case("png-sequence"),
    Case("png-sequence", transparent=True),
]
# codec, pixel format as decoded, codec tag; None: no tag (Matroska) or no container.
EXPECTED = {
    "mp4-h264": ("h264", "yuv420p", "avc1"),
    "mp4-h265": ("hevc", "yuv420p", "hvc1"),
    "mov-opaque": ("prores", "yuv422p10le", "apch"),  # ProRes 422 HQ
    # ffmpeg's ProRes decoder outputs 4444 at 12 bits, whatever the encoder was fed.
    "mov-alpha": ("prores", "yuva444p12le", "ap4h"),
    "webm-opaque": ("vp9", "yuv420p", None),
    "webm-alpha": ("vp9", "yuva420p", None),  # through the libvpx-vp9 decoder
    "png-sequence-opaque": ("png", "rgb24", None),
    "png-sequence-alpha": ("png", "rgba", None),
}


@dataclass
class Decoded:
    codec: str
    width: int
    height: int
    pix_fmt: str
    tag: str | None
    frames: list[np.ndarray]  # RGBA uint8


def decode_any(path: Path) -> Decoded:
    """Frames of a video or a folder of PNGs as RGBA; VP9 through libvpx-vp9, the one
    decoder that reads the alpha Matroska carries beside each frame."""
    if path.is_dir():
        frames, formats = [], set()
        for png in sorted(path.iterdir()):
            decoder = av.CodecContext.create("png", "r")
            (frame,) = decoder.decode(av.Packet(png.read_bytes()))
            formats.add(frame.format.name)
            frames.append(frame.to_ndarray(format="rgba"))
        (pix_fmt,) = formats
        height, width = frames[0].shape[:2]
        return Decoded("png", width, height, pix_fmt, None, frames)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        tag = stream.codec_tag if stream.codec_tag.isalnum() else None
        if cc.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            # demux() ends with an empty packet, which flushes the decoder.
            decoded = [f for p in container.demux(stream) for f in decoder.decode(p)]
        else:
            decoded = list(container.decode(stream))
        frames = [to_rgba(f) for f in decoded]
        return Decoded(cc.name, cc.width, cc.height, decoded[0].format.name, tag, frames)


def to_rgba(frame: av.VideoFrame) -> np.ndarray:
    """RGBA uint8. High-bit-depth frames (ProRes) are converted here, exactly: swscale's
    10/12-bit → 8-bit path turns limited-range white (Y 940) into 253–254, an error
    that would be the test's, not the encoder's."""
    name = frame.format.name
    if not name.endswith(("10le", "12le")):
        return frame.to_ndarray(format="rgba")
    scale = 2 ** (int(name[-4:-2]) - 8)
    planes = [
        np.frombuffer(p, np.uint16).reshape(p.height, -1)[:, : p.width] / scale
        for p in frame.planes
    ]
    y = (planes[0] - 16) / 219
    # Chroma planes are subsampled horizontally in 4:2:2: repeat them to full width.
    cb, cr = (np.repeat(c, frame.width // c.shape[1], axis=1) for c in planes[1:3])
    cb, cr = (cb - 128) / 224, (cr - 128) / 224
    rgb = np.stack(  # BT.709
        [y + 1.5748 * cr, y - 0.1873 * cb - 0.4681 * cr, y + 1.8556 * cb], axis=-1
    )
    alpha = planes[3] / 255 if len(planes) == 4 else np.ones_like(y)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return np.clip(np.rint(rgba * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composition(
        tmp_path_factory.mktemp("formats"),
        BODY,
        width=WIDTH,
        height=HEIGHT,
        fps=str(FPS),
        duration="1.5",
        head=TRANSPARENT_PAGE,
    )


@pytest.fixture(scope="module")
def rendered(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Case, int], Decoded]:
    """Render and decode (case, chunk size) on first use; later uses share the result."""
    folder = tmp_path_factory.mktemp("outputs")
    cache: dict[tuple[str, int], Decoded] = {}

    def get(case: Case, chunk_size: int) -> Decoded:
        key = (case.id, chunk_size)
        if key not in cache:
            out = case.output(folder, chunk_size)
            result = framerun.render(
                project,
                out,
                format=case.format,
                codec=case.codec,
                transparent=case.transparent,
                quality="high",
                chunk_size=chunk_size,
                workers=1 if chunk_size == SINGLE else 2,
            )
            assert result.frames == FRAMES
            print(f"\n{case.id} chunk size {chunk_size}: {result.bytes} bytes")
            cache[key] = decode_any(out)
        return cache[key]

    return get


def rgb_psnr(a: list[np.ndarray], b: list[np.ndarray], *, premultiplied: bool = False) -> float:
    """Min over frames of the RGB PSNR; ``premultiplied`` weighs colour by alpha first,
    so only what a compositor would show counts."""
    assert len(a) == len(b), f"frame counts differ: {len(a)} vs {len(b)}"

    def rgb(x: np.ndarray) -> np.ndarray:
        return np.round(x[..., :3] * (x[..., 3:] / 255.0)) if premultiplied else x[..., :3]

    return min(psnr(rgb(x), rgb(y)) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_output_decodes_to_the_format_it_names(
    rendered: Callable[[Case, int], Decoded], case: Case
) -> None:
    video = rendered(case, SINGLE)
    assert len(video.frames) == FRAMES
    assert (video.width, video.height) == (WIDTH, HEIGHT)
    assert (video.codec, video.pix_fmt, video.tag) == EXPECTED[case.id]
    alpha = np.stack([f[..., 3] for f in video.frames])
    corner, patch = alpha[(slice(None), *CORNER)], alpha[(slice(None), *OPAQUE_PATCH)]
    assert patch.min() == 255
    if case.transparent:
        assert corner.max() == 0
        # Half-transparent stays half: straight alpha, as the page composited it.
        assert abs(int(np.median(alpha[:, 80:100, 110:130])) - 128) <= 2
    else:
        assert corner.min() == 255


PNG_REFERENCE_CASES = CASES


@pytest.mark.parametrize("case", PNG_REFERENCE_CASES, ids=lambda c: c.id)
def test_output_matches_a_png_capture_of_the_same_frames(
    rendered: Callable[[Case, int], Decoded], case: Case
) -> None:
    """With alpha, colour is compared premultiplied: a fully transparent pixel's colour
    is invisible, and VP9's 4:2:0 chroma bleeds the box's blue into its transparent
    neighbours. Straight RGB measured 39.9 dB for webm-alpha (77.5 for mov-alpha),
    half of its error in pixels nobody can see; premultiplied, 42.8 dB."""
    reference = rendered(Case("png-sequence", transparent=case.transparent), SINGLE)
    output = rendered(case, SINGLE)
    measured = rgb_psnr(output.frames, reference.frames, premultiplied=case.transparent)
    straight = rgb_psnr(output.frames, reference.frames)
    print(f"\n{case.id}: min PSNR against PNG {measured:.1f} dB (straight RGB {straight:.1f})")
    assert measured >= 40.0


# A lossy chunked render is another encode of the same frames, not a copy: each
# chunk opens with a keyframe where the single chunk has a P-frame, and x265's
# cutree looks ahead across what becomes a boundary. At the default quality on
# this small, edge-dense page these measured below 45 dB (min over frames) against
# the single chunk; the rest measured at or above it. Strict: a change shows here.
BELOW_45_DB: dict[tuple[str, int], float] = {}
CHUNKINGS = [
    pytest.param(
        case,
        size,
        id=f"{case.id}-{size}",
        marks=[
            pytest.mark.xfail(
                strict=True, reason=f"measured {BELOW_45_DB[case.id, size]} dB, below 45"
            )
        ]
        if (case.id, size) in BELOW_45_DB
        else [],
    )
    for case in CASES
    for size in CHUNK_SIZES
]


@pytest.mark.parametrize(("case", "chunk_size"), CHUNKINGS)
def test_chunked_render_matches_a_single_chunk(
    rendered: Callable[[Case, int], Decoded], case: Case, chunk_size: int
) -> None:
    single, chunked = rendered(case, SINGLE), rendered(case, chunk_size)
    assert len(chunked.frames) == len(single.frames) == FRAMES
    if case.format in ("png-sequence", "mov"):
        # Lossless, or intra-only: each frame is coded alone, so chunking changes nothing.
        for a, b in zip(single.frames, chunked.frames, strict=True):
            assert np.array_equal(a, b)
        return
    measured = rgb_psnr(chunked.frames, single.frames)
    print(f"\n{case.id} chunk size {chunk_size}: min PSNR {measured:.1f} dB")
    if case.transparent:
        pairs = zip(single.frames, chunked.frames, strict=True)
        alpha = min(psnr(a[..., 3], b[..., 3]) for a, b in pairs)
        print(f"{case.id} chunk size {chunk_size}: min alpha PSNR {alpha:.1f} dB")
        assert alpha >= 45.0
    assert measured >= 45.0


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_chunked_frames_line_up_with_the_single_chunk(
    rendered: Callable[[Case, int], Decoded], case: Case, chunk_size: int
) -> None:
    """Whatever the codec's noise, frame N of a chunked render is frame N: closer to
    the single chunk's frame N than to its neighbours (the box moves 1.8 px a frame),
    so a dropped, doubled or shifted frame at a chunk boundary fails here."""
    single, chunked = rendered(case, SINGLE).frames, rendered(case, chunk_size).frames
    assert len(chunked) == len(single) == FRAMES
    for n, frame in enumerate(chunked):
        same = psnr(frame, single[n])
        for other in (n - 1, n + 1):
            if 0 <= other < FRAMES:
                assert same > psnr(frame, single[other]), (n, other)


# ---- audio: the mixer's encoded file, copied in beside the video ----------------------


def sine(path: Path, codec: str, *, seconds: float = 1.0, rate: int = 48_000) -> None:
    """A 440 Hz tone encoded with PyAV: AAC in .m4a, Opus in .webm."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 960):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 960], format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):  # flush: the encoder holds lookahead frames
            container.mux(packet)


def synthetic_chunks(folder: Path, fmt: str, *, frames: int = 30, size: int = 10) -> list[Path]:
    """Chunks encoded from PNGs drawn here: the audio path needs no browser."""
    settings = encoder_settings(fps=Fraction(FPS), format=fmt)
    png = av.CodecContext.create("png", "w")
    png.width, png.height, png.pix_fmt = WIDTH, HEIGHT, "rgb24"
    paths = []
    for index in range(frames // size):
        path = folder / f"chunk-{index}.{settings.extension}"
        encoder = ChunkEncoder(
            path, settings, width=WIDTH, height=HEIGHT, fps=Fraction(FPS), plan_tag="t"
        )
        for n in range(index * size, (index + 1) * size):
            rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
            rgb[40:80, n : n + 40] = (200, 60, 60)
            (packet,) = png.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
            encoder.add_png(bytes(packet))
        encoder.close()
        paths.append(path)
    return paths


def audio_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        return [p for p in container.demux(container.streams.audio[0]) if p.dts is not None]


def span(packets: list[av.Packet]) -> tuple[Fraction, Fraction]:
    """(first pts, end) in seconds: where the audio starts (priming included) and stops."""
    first, last = packets[0], packets[-1]
    assert first.pts is not None and last.pts is not None and last.duration is not None
    return first.pts * first.time_base, (last.pts + last.duration) * last.time_base


@pytest.mark.parametrize(
    ("fmt", "codec", "suffix"),
    [("mp4", "aac", "m4a"), ("mov", "aac", "m4a"), ("webm", "libopus", "webm")],
)
def test_audio_is_copied_in_interleaved_with_the_video(
    tmp_path: Path, fmt: str, codec: str, suffix: str
) -> None:
    audio = tmp_path / f"mix.{suffix}"
    sine(audio, codec)
    out = tmp_path / f"out.{fmt}"
    result = assemble(synthetic_chunks(tmp_path, fmt), out, fps=Fraction(FPS), audio=audio)
    assert result.frames == 30
    with av.open(str(out)) as container, av.open(str(audio)) as source:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.audio[0].codec_context.name == (
            source.streams.audio[0].codec_context.name
        )
        order = [
            (p.stream.type, p.dts * p.time_base) for p in container.demux() if p.dts is not None
        ]
    copied, original = audio_packets(out), audio_packets(audio)
    assert len(copied) == len(original)
    assert span(copied) == span(original)
    assert [bytes(p) for p in copied] == [bytes(p) for p in original]  # no re-encode
    # Interleaved in the file: a player reading it front to back never has to skip
    # more than half a second of one stream to find the other's next packet.
    latest = {"video": Fraction(-1), "audio": Fraction(-1)}
    for kind, t in order:
        latest[kind] = max(latest[kind], t)
        other = latest["audio" if kind == "video" else "video"]
        assert other < 0 or t >= other - Fraction(1, 2), order
    assert {kind for kind, _ in order[-10:]} == {"video", "audio"}


@pytest.mark.parametrize(
    ("fmt", "codec", "suffix"), [("mp4", "libopus", "webm"), ("webm", "aac", "m4a")]
)
def test_audio_the_container_cannot_hold_is_refused(
    tmp_path: Path, fmt: str, codec: str, suffix: str
) -> None:
    audio = tmp_path / f"mix.{suffix}"
    sine(audio, codec)
    chunks = synthetic_chunks(tmp_path, fmt)
    out = tmp_path / f"out.{fmt}"
    with pytest.raises(InvalidConfigError, match="encode the mix as"):
        assemble(chunks, out, fps=Fraction(FPS), audio=audio)
    assert sorted(tmp_path.iterdir()) == sorted([audio, *chunks])


# ---- choosing a format ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        ("v.mp4", None, "mp4"),
        ("v.MOV", None, "mov"),
        ("v.webm", "webm", "webm"),
        ("frames/", None, "png-sequence"),
        ("frames", "png-sequence", "png-sequence"),
        ("frames.tar", None, "png-sequence"),
        ("video", None, "mp4"),
    ],
)
def test_format_for_output(path: str, explicit: str | None, expected: str) -> None:
    assert format_for_output(path, explicit) == expected


@pytest.mark.parametrize(
    ("path", "explicit"),
    [("out.avi", None), ("v.MKV", None), ("out.avi", "mp4"), ("a.b/c.gif", None)],
)
def test_a_suffix_that_names_no_format_is_refused(path: str, explicit: str | None) -> None:
    """``out.avi`` would otherwise be an MP4 under a name that promises another container."""
    with pytest.raises(InvalidConfigError) as info:
        format_for_output(path, explicit)
    assert info.value.code == "INVALID_CONFIG"
    for known in (".mp4", ".webm", ".mov", ".tar"):
        assert known in info.value.message
    assert f".{path.rsplit('.', 1)[-1].lower()}" in info.value.message


def test_render_refuses_an_unknown_suffix_before_writing(tmp_path: Path) -> None:
    project = write_composition(tmp_path / "p", "")
    out = tmp_path / "out" / "v.avi"
    out.parent.mkdir()
    with pytest.raises(InvalidConfigError, match=r"\.avi.*\.mp4, \.webm, \.mov, \.tar"):
        framerun.render(project, out)
    assert list(out.parent.iterdir()) == []


def test_a_png_sequence_tar_holds_numbered_frames(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames.tar"
    framerun.render(project, out, chunk_size=20, workers=2, frames=(5, 45))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert tar.pax_headers["comment"].startswith("framerun-plan:")
    assert names == [f"frame_{n:06d}.png" for n in range(40)]


CLI_CASES = {
    "unknown-suffix": BadInput(
        ("{project}", "-o", "{out_dir}/v.avi"),
        "INVALID_CONFIG",
        (".avi", ".mp4", ".webm", ".mov", ".tar"),
    ),
    "h265-with-webm": BadInput(
        ("{project}", "-o", "{out_dir}/v.webm", "--codec", "h265", "--format", "webm"),
        "INVALID_CONFIG",
        ("--codec h265", "only for mp4", "--format mp4"),
    ),
    "transparent-mp4": BadInput(
        ("{project}", "-o", "{out}", "--transparent"),
        "INVALID_CONFIG",
        ("transparency", "mov", "webm", "png-sequence"),
    ),
    "png-sequence-onto-a-file": BadInput(
        ("{project}", "-o", "{tmp}/existing", "--format", "png-sequence"),
        "OUTPUT_NOT_WRITABLE",
        ("existing", "is a file", "new folder"),
        files={"existing": b"keep me"},
    ),
    "png-sequence-named-mp4": BadInput(
        ("{project}", "-o", "{out}", "--format", "png-sequence"),
        "INVALID_CONFIG",
        ("--format png-sequence", "video.mp4", "folder"),
    ),
    "crf-with-mov": BadInput(
        ("{project}", "-o", "{out_dir}/v.mov", "--crf", "18"),
        "INVALID_CONFIG",
        ("--crf", "ProRes", "drop"),
    ),
}


@pytest.mark.parametrize("name", CLI_CASES)
def test_bad_combinations_exit_2_with_one_line(tmp_path: Path, name: str) -> None:
    case = CLI_CASES[name]
    assert_failed_cleanly(case, run_cli(tmp_path, case))
    for file, content in case.files.items():
        assert (tmp_path / file).read_bytes() == content  # refused, not overwritten


# ---- PNG sequences: a folder appears whole or not at all ----------------------------------


def png_bytes(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "rgba"
    blank = np.zeros((height, width, 4), np.uint8)
    (packet,) = encoder.encode(av.VideoFrame.from_ndarray(blank, format="rgba"))
    return bytes(packet)


def png_chunk(path: Path, tag: str, frames: int, **size: int) -> Path:
    writer = PngChunkWriter(path, width=WIDTH, height=HEIGHT, plan_tag=tag)
    for _ in range(frames):
        writer.add_png(png_bytes(**size))
    writer.close()
    return path


def test_png_chunks_from_another_plan_leave_no_folder(tmp_path: Path) -> None:
    chunks = [
        png_chunk(tmp_path / "0.tar", "plan-a", 3),
        png_chunk(tmp_path / "1.tar", "plan-b", 3),
    ]
    out = tmp_path / "frames"
    with pytest.raises(ChunkMismatchError, match="different plan"):
        assemble(chunks, out, fps=Fraction(FPS), plan_tag="plan-a")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.tar", "1.tar"]


def test_png_chunks_assemble_into_a_numbered_folder(tmp_path: Path) -> None:
    chunks = [png_chunk(tmp_path / f"{i}.tar", "t", 3) for i in range(2)]
    (tmp_path / "frames").mkdir()  # an empty folder may be the target
    result = assemble(chunks, tmp_path / "frames", fps=Fraction(FPS), plan_tag="t")
    assert result.frames == 6
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{n:06d}.png" for n in range(6)]
    assert (tmp_path / "frames" / "frame_000004.png").read_bytes() == png_bytes()


@pytest.mark.parametrize("existing", ["file", "non-empty folder"])
def test_png_sequence_refuses_to_write_over_anything(
    project: Path, tmp_path: Path, existing: str
) -> None:
    out = tmp_path / "frames"
    if existing == "file":
        out.write_bytes(b"keep")
    else:
        out.mkdir()
        (out / "notes.txt").write_text("keep")
    with pytest.raises(OutputNotWritableError, match="new folder"):
        framerun.render(project, out, format="png-sequence")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


# ---- framerun cloudrun render: the flags land in the wire config --------------------------


@pytest.mark.parametrize(
    ("flags", "config", "expected"),
    [
        ({"output_key": "v/a.webm"}, {}, {"format": "webm"}),
        ({"output_key": "v/a.mp4", "codec": "h265"}, {}, {"codec": "h265"}),
        (
            {"video_format": "mov", "transparent": True},
            {"format": "mp4"},
            {
                "format": "mov",
                "transparent": True,
            },
        ),
        (
            {"output_key": "v/frames.tar"},
            {"chunkSize": 9},
            {"chunkSize": 9, "format": "png-sequence"},
        ),
    ],
)
def test_cloudrun_render_flags_set_the_config(
    flags: dict[str, Any], config: dict[str, Any], expected: dict[str, Any]
) -> None:
    from framerun.cli_cloudrun import _with_format

    # The output's names: --output-key (and -o, which names the download) choose the format.
    flags = dict(flags)
    names = [flags.pop("output_key")] if "output_key" in flags else []
    kwargs = {"video_format": None, "codec": None, "transparent": False}
    assert _with_format(config, names=names, **{**kwargs, **flags}) == expected


def test_cloudrun_render_refuses_a_key_of_another_format() -> None:
    from framerun.cli_cloudrun import _with_format

    with pytest.raises(InvalidConfigError, match=r"name it \.tar"):
        _with_format(
            {}, names=["v/a.mp4"], video_format="png-sequence", codec=None, transparent=False
        )
