"""Fixtures for the reliability suite: one stack for the session, one composition and
its in-process reference render, and the figures the suite measures.

Every test here renders the same tiny composition (160×120, 30 fps, 2 s → 60
frames in 4 chunks of 15), so the in-process reference is rendered once.
Measured figures go to ``out/reliability-figures.json`` (docs/reliability.md
quotes them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import framerun
from tests.compositions import write_composition
from tests.gcs_emulator import FakeGcs
from tests.reliability.rel_stack import REPO, RelStack, running_stack, soak
from tests.videos import decode

CHUNK_SIZE = 15
FRAMES = 60
CHUNKS = FRAMES // CHUNK_SIZE
CONFIG: dict[str, Any] = {"chunkSize": CHUNK_SIZE, "quality": "high"}

BODY = """
<div class="box" style="animation: mv 2s linear forwards"></div>
<div id="w" style="position:absolute;left:20px;top:80px;width:30px;height:30px;
  background:#00c0ff"></div>
<style>@keyframes mv { from { transform: translateX(0) } to { transform: translateX(110px) } }
body { animation: bg 2s linear forwards }
@keyframes bg { from { background: #101010 } to { background: #403020 } }</style>
<script>document.getElementById("w").animate(
  [{transform: "rotate(0deg)"}, {transform: "rotate(180deg)"}],
  {duration: 2000, easing: "linear", fill: "forwards"});</script>
"""


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """What the suite measured, written out for docs/reliability.md at the end."""
    data: dict[str, Any] = {"soak": soak(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    yield data
    out = REPO / "out"
    out.mkdir(exist_ok=True)
    name = "reliability-figures-soak.json" if soak() else "reliability-figures.json"
    (out / name).write_text(json.dumps(_finite(data), indent=2, sort_keys=True, default=str))


def _finite(value: Any) -> Any:
    """JSON has no Infinity: a bit-identical video's PSNR is written as "inf"."""
    if isinstance(value, float):
        return round(value, 2) if value != float("inf") else "inf"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@pytest.fixture(scope="session")
def stack(fake_gcs: FakeGcs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelStack]:
    with running_stack(fake_gcs, tmp_path_factory.mktemp("rel-stack")) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_proxies(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test inherits another's faults; the workers are back before the next test."""
    if "stack" not in request.fixturenames:
        yield
        return
    running: RelStack = request.getfixturevalue("stack")
    running.reset()
    running.wait_for_workers()
    yield
    running.reset()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composition(
        tmp_path_factory.mktemp("rel-site"), BODY, width=160, height=120, duration="2"
    )


@pytest.fixture(scope="session")
def reference(project: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """The in-process render's frames: what every distributed render must match."""
    out = tmp_path_factory.mktemp("rel-ref") / "reference.mp4"
    framerun.render(project, out, chunk_size=CHUNK_SIZE, quality="high", workers=1)
    frames = decode(out).frames
    assert len(frames) == FRAMES
    return frames
