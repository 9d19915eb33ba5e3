"""A new user's first session, through the ``framerun`` command alone, in a temp folder.

``init`` → ``render`` → ``local up`` → ``cloudrun render --local -o`` → ``renders list``
→ ``renders delete``. Every step is the installed console script run as a subprocess
from the temp folder, with nothing but the environment a shell would have (npm offline,
so the pinned packages come from the cache ``make setup`` filled). The video the cloud
path downloads must equal the in-process render of the same project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.videos import decode, min_psnr

FRAMERUN = Path(sys.executable).with_name("framerun")
# One second of examples/hello at quality high: 30 frames, 3 chunks on the cloud path.
CONFIG = {"duration": 1, "quality": "high", "chunkSize": 10}


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """The user's working folder and environment; the local stack runs for the module."""
    home = tmp_path_factory.mktemp("walkthrough")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FRAMERUN_", "STORAGE_EMU"))},
        "FRAMERUN_LOCAL_DIR": str(home / ".local-stack"),
        "npm_config_offline": "true",
        "NO_COLOR": "1",
    }
    yield home, env
    subprocess.run([str(FRAMERUN), "local", "down"], env=env, cwd=home, timeout=60, check=False)


def run(session: tuple[Path, dict[str, str]], *args: str, timeout: float = 300) -> str:
    home, env = session
    done = subprocess.run(
        [str(FRAMERUN), *args], cwd=home, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"framerun {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_json(session: tuple[Path, dict[str, str]], *args: str) -> Any:
    return json.loads(run(session, *args, "--json"))


def test_init_render_cloud_render_list_delete(session: tuple[Path, dict[str, str]]) -> None:
    home, _ = session
    said = run(session, "init", "my-video")
    assert (home / "my-video" / "vendor" / "gsap.min.js").is_file()
    assert "framerun render my-video" in said

    said = run(
        session,
        "render",
        "my-video",
        "-o",
        "local.mp4",
        "--quality",
        "high",
        "--duration",
        "1",
        "-q",
    )
    assert said.startswith("rendered 30 frames") and "first frame after" in said

    run(session, "local", "up")
    final = run_json(
        session,
        "cloudrun",
        "render",
        "my-video",
        "--local",
        "-o",
        "cloud.mp4",
        "--config-json",
        json.dumps(CONFIG),
        "--poll-interval",
        "0.2",
    )
    assert final["status"] == "succeeded" and final["chunksTotal"] == 3
    cloud, local = decode(home / "cloud.mp4"), decode(home / "local.mp4")
    assert len(cloud.frames) == len(local.frames) == 30
    assert min_psnr(cloud.frames, local.frames) >= 45.0

    listed = {r["renderId"]: r for r in run_json(session, "cloudrun", "renders", "list", "--local")}
    row = listed[final["renderId"]]
    assert row["status"] == "succeeded"
    assert row["outputBytes"] == (home / "cloud.mp4").stat().st_size

    said = run(session, "cloudrun", "renders", "delete", final["renderId"], "--local")
    assert final["renderId"] in said
    listed = run_json(session, "cloudrun", "renders", "list", "--local")
    assert final["renderId"] not in {r["renderId"] for r in listed}
    assert (home / "cloud.mp4").is_file()  # deleting the render never touches the download
