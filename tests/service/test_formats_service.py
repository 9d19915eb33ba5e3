"""Distributed PNG sequences and ProRes: plan → chunks → assemble through the real service.

A PNG sequence travels as one uncompressed tar per chunk and one output tar;
ProRes is intra-only. Both must come out pixel-identical to the in-process
render of the same composition.
"""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import framerun
from framerun_service.core.storage import Storage
from tests.compositions import write_composition
from tests.service.service_harness import RunningService, upload_site

FRAMES = 20
BODY = (
    '<div style="position:absolute;left:10px;top:10px;width:40px;height:40px;'
    'background:#3366cc;animation: mv 1s linear forwards"></div>'
    "<style>html, body { background: transparent; } "
    "@keyframes mv { to { transform: translateX(80px) } }</style>"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    return write_composition(folder, BODY, width=160, height=120, fps="20", duration="1")


@pytest.fixture(scope="module")
def site_uri(
    service: RunningService, project: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return upload_site(service, project, tmp_path_factory.mktemp("archive"))


def render_distributed(
    service: RunningService, site_uri: str, output_uri: str, config: dict[str, Any]
) -> None:
    render_id = f"fmt-{uuid.uuid4().hex[:8]}"
    plan = service.post(
        {
            "Action": "plan",
            "renderId": render_id,
            "siteUri": site_uri,
            "outputUri": output_uri,
            "config": config,
        }
    )
    assert plan.status_code == 200, plan.text
    p = plan.json()
    common = {"renderId": render_id, "planUri": p["planUri"], "planHash": p["planHash"]}
    for index in reversed(range(p["chunkCount"])):  # out of order
        r = service.post({"Action": "renderChunk", **common, "chunkIndex": index})
        assert r.status_code == 200, r.text
    done = service.post(
        {"Action": "assemble", **common, "chunkCount": p["chunkCount"], "outputUri": output_uri}
    )
    assert done.status_code == 200, done.text


def png_pixels(data: bytes) -> np.ndarray:
    (frame,) = av.CodecContext.create("png", "r").decode(av.Packet(data))
    return frame.to_ndarray(format="rgba")


def test_png_sequence_with_alpha_is_one_tar_equal_to_the_local_folder(
    service: RunningService, site_uri: str, project: Path, tmp_path: Path
) -> None:
    output_uri = f"gs://{service.bucket}/outputs/{uuid.uuid4().hex[:8]}.tar"
    render_distributed(
        service,
        site_uri,
        output_uri,
        {"format": "png-sequence", "transparent": True, "chunkSize": 6},
    )
    tar_path = tmp_path / "frames.tar"
    with Storage.from_env() as store:
        store.download_to(output_uri, tar_path)
        info = store.stat(output_uri)
    assert info is not None and info.content_type == "application/x-tar"
    local = tmp_path / "local"
    framerun.render(project, local, format="png-sequence", transparent=True, workers=1)
    with tarfile.open(tar_path) as tar:
        names = tar.getnames()
        assert names == [f"frame_{n:06d}.png" for n in range(FRAMES)]
        for name in names:
            member = tar.extractfile(name)
            assert member is not None
            distributed = png_pixels(member.read())
            assert np.array_equal(distributed, png_pixels((local / name).read_bytes())), name
    assert distributed[0, 150, 3] == 0  # the transparent page stayed transparent


def test_prores_4444_matches_the_local_render_pixel_for_pixel(
    service: RunningService, site_uri: str, project: Path, tmp_path: Path
) -> None:
    output_uri = f"gs://{service.bucket}/outputs/{uuid.uuid4().hex[:8]}.mov"
    render_distributed(
        service, site_uri, output_uri, {"format": "mov", "transparent": True, "chunkSize": 7}
    )
    distributed = tmp_path / "distributed.mov"
    with Storage.from_env() as store:
        store.download_to(output_uri, distributed)
    local = tmp_path / "local.mov"
    framerun.render(project, local, transparent=True, workers=1)

    def frames(path: Path) -> tuple[str, list[np.ndarray]]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded = [f.to_ndarray(format="rgba") for f in container.decode(stream)]
            return stream.codec_tag, decoded

    (tag_a, a), (tag_b, b) = frames(distributed), frames(local)
    assert tag_a == tag_b == "ap4h"
    assert len(a) == len(b) == FRAMES
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
