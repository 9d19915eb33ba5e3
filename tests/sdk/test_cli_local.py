"""The CLI against a really running local stack (`framerun local up`), found with --local.

``cloudrun render --local -o out.webm`` renders through the workflow emulator
and the service and downloads a WebM equal to the in-process render; then
``renders list|get|delete --local`` see it and delete it. No test sets
``STORAGE_EMULATOR_HOST``: the stack's state says where storage is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import framerun
from framerun.cli import main
from framerun.local import stack
from framerun.sites import owned_storage
from framerun.target import CloudRunTarget
from tests.compositions import MOVERS, write_composition
from tests.videos import decode, min_psnr


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("local-stack")
    # As a user starts it: its processes then belong to no test process.
    framerun_cli = Path(sys.executable).parent / "framerun"
    subprocess.run(
        [str(framerun_cli), "local", "up", "--state-dir", str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield folder
    finally:
        stack.down(folder)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_composition(
        tmp_path_factory.mktemp("site"), MOVERS["css"], width=160, height=120, duration="1"
    )


def _cli(state_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["cloudrun", *args, "--local"], env={"FRAMERUN_LOCAL_DIR": str(state_dir)}
    )


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_render_downloads_the_video_and_renders_list_get_and_delete_it(
    state_dir: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    out = tmp_path / "out.webm"
    final = _json(
        _cli(
            state_dir,
            "render",
            str(project),
            "-o",
            str(out),
            "--config-json",
            '{"chunkSize": 10, "quality": "high"}',
            "--poll-interval",
            "0.2",
            "--json",
        )
    )
    assert final["status"] == "succeeded" and final["downloadedTo"] == str(out)
    assert final["outputFile"].endswith("/output.webm")
    distributed = decode(out)
    assert distributed.codec == "vp9"  # the suffix chose WebM
    reference = tmp_path / "in-process.webm"
    framerun.render(project, reference, chunk_size=10, quality="high", workers=1)
    local = decode(reference)
    assert len(distributed.frames) == len(local.frames) == 30
    assert min_psnr(distributed.frames, local.frames) >= 40.0

    rid = final["renderId"]
    listed = {r["renderId"]: r for r in _json(_cli(state_dir, "renders", "list", "--json"))}
    row = listed[rid]
    assert row["status"] == "succeeded"
    assert row["outputUri"] == final["outputFile"]
    assert row["outputBytes"] == out.stat().st_size
    assert row["chunksTotal"] == 3 and row["costs"]["totalUsd"] > 0
    assert _json(_cli(state_dir, "renders", "get", rid, "--json")) == row
    progress = _cli(state_dir, "progress", row["executionName"])
    assert progress.exit_code == 0 and "succeeded" in progress.output
    # Cancelling a render that has ended is the caller's mistake: one line, exit 2.
    cancel = _cli(state_dir, "cancel", row["executionName"])
    assert cancel.exit_code == 2, cancel.output
    assert "already SUCCEEDED" in cancel.stderr and cancel.stderr.rstrip().endswith(
        "[INVALID_INPUT]"
    )

    target = CloudRunTarget.local(state_dir)
    with owned_storage(None, target) as store:
        before = store.list_keys(f"gs://{target.bucket_name}/")
        deleted = _json(_cli(state_dir, "renders", "delete", rid, "--json"))["deleted"]
        after = store.list_keys(f"gs://{target.bucket_name}/")
    assert final["outputFile"] in deleted
    assert not any(rid in key for key in after)
    assert sorted(after) == sorted(set(before) - {u.split("/", 3)[3] for u in deleted})
    assert any(key.startswith("sites/") for key in after)  # the site stays for the next render
    assert rid not in {r["renderId"] for r in _json(_cli(state_dir, "renders", "list", "--json"))}


def test_a_taken_output_file_is_refused_before_anything_starts(
    state_dir: Path, project: Path, tmp_path: Path
) -> None:
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"keep me")
    before = _json(_cli(state_dir, "renders", "list", "--json"))
    result = _cli(state_dir, "render", str(project), "-o", str(taken))
    assert result.exit_code == 2
    assert "already exists" in result.output and "--overwrite" in result.output
    assert taken.read_bytes() == b"keep me"
    assert _json(_cli(state_dir, "renders", "list", "--json")) == before


def test_local_without_a_running_stack_says_how_to_start_it(tmp_path: Path) -> None:
    result = _cli(tmp_path / "none", "renders", "list")
    assert result.exit_code == 2
    assert "framerun local up" in result.output and "[TARGET_NOT_CONFIGURED]" in result.output
