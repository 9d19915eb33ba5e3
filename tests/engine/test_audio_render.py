"""Audio through a whole render: <audio> in the page → one mixed track in the output.

A 440 Hz tone declared at 1.0 s must start at 1.0 s ± 1 frame in every
audio-carrying format, and the track must last as long as the video ± 1 frame,
whatever the chunking. A PNG sequence has no sound, and a bad source fails the
render with MEDIA_INVALID before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import framerun
from framerun_service.core.errors import MediaInvalidError
from tests.compositions import write_composition
from tests.engine.test_audio import FRAME, decode_audio, end_time, onset, tone, video_seconds
from tests.engine.test_audio import write_wav as write_tone

BODY = '<audio src="tone.wav" data-start="1"></audio><div class="box"></div>'


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_composition(
        tmp_path_factory.mktemp("audio-site"), BODY, width=64, height=48, duration="2"
    )
    write_tone(folder / "tone.wav", tone(0.5), secs=0.5)
    return folder


@pytest.mark.parametrize(("fmt", "codec"), [("mp4", "aac"), ("mov", "aac"), ("webm", "opus")])
@pytest.mark.parametrize("chunk_size", [7, 10_000])
def test_a_tone_at_one_second_starts_there_in_every_audio_format(
    project: Path, tmp_path: Path, fmt: str, codec: str, chunk_size: int
) -> None:
    out = tmp_path / f"out.{fmt}"
    framerun.render(project, out, chunk_size=chunk_size, workers=2)
    import av

    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == codec
    samples, t0 = decode_audio(out)
    assert abs(onset(samples, t0) - 1.0) <= FRAME
    video = video_seconds(out)
    assert video == pytest.approx(2.0)
    # AAC ends on a whole 1024-sample frame; the decoded end may run up to 21 ms over.
    assert abs(end_time(samples, t0) - video) <= FRAME


def test_a_png_sequence_renders_without_sound(project: Path, tmp_path: Path) -> None:
    result = framerun.render(project, tmp_path / "frames", format="png-sequence", workers=1)
    assert result.frames == 60
    assert not list((tmp_path / "frames").glob("*.m4a"))


def test_a_missing_source_fails_before_output(project: Path, tmp_path: Path) -> None:
    broken = write_composition(
        tmp_path / "broken", '<audio src="nope.wav" data-start="0"></audio>', width=64, height=48
    )
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaInvalidError, match=r"nope\.wav"):
        framerun.render(broken, out, workers=1)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.mp4")]
