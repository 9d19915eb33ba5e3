"""Audio through the distributed path: the assemble Action mixes the plan's clips once,
from the site archive, and copies the track in beside the stream-copied chunks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.engine.test_audio import FRAME, decode_audio, end_time, onset, tone, video_seconds
from tests.engine.test_audio import write_wav as write_tone
from tests.service.service_harness import RunningService, upload_site
from tests.service.test_formats_service import render_distributed


@pytest.fixture(scope="module")
def tone_site(service: RunningService, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = write_composition(
        tmp_path_factory.mktemp("tone-site"),
        '<audio src="tone.wav" data-start="1"></audio><div class="box"></div>',
        width=64,
        height=48,
        duration="2",
    )
    write_tone(folder / "tone.wav", tone(0.5), secs=0.5)
    return upload_site(service, folder, tmp_path_factory.mktemp("tone-archive"))


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_the_assembled_output_carries_the_mixed_tone_at_one_second(
    service: RunningService, tone_site: str, tmp_path: Path, fmt: str
) -> None:
    output_uri = f"gs://{service.bucket}/outputs/{uuid.uuid4().hex[:8]}.{fmt}"
    render_distributed(service, tone_site, output_uri, {"format": fmt, "chunkSize": 13})
    out = tmp_path / f"out.{fmt}"
    with Storage.from_env() as store:
        store.download_to(output_uri, out)
    samples, t0 = decode_audio(out)
    assert abs(onset(samples, t0) - 1.0) <= FRAME
    assert abs(end_time(samples, t0) - video_seconds(out)) <= FRAME
