"""CloudRunTarget.local(): the running local stack, found from what `framerun local up` wrote.

The stack's own files are written here by hand (a live pid: this test process);
tests/sdk/test_cli_local.py finds a really running stack the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from framerun.local.stack import StackState
from framerun.target import CloudRunTarget
from framerun_service.core.errors import TargetNotConfiguredError


def _write_stack(folder: Path, pid: int) -> StackState:
    state = StackState(
        storage_url="http://127.0.0.1:4443",
        issuer_url="http://127.0.0.1:4444",
        service_url="http://127.0.0.1:4445",
        executions_endpoint="127.0.0.1:4446",
        pids={"storage": pid},
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stack.json").write_text(json.dumps({**state.__dict__}))
    (folder / "outputs.json").write_text(json.dumps(state.outputs()))
    return state


def test_finds_the_running_stack_in_framerun_local_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_stack(tmp_path / "state", os.getpid())
    monkeypatch.setenv("FRAMERUN_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FRAMERUN_PROJECT", "not-this-one")  # the stack's own values win
    target = CloudRunTarget.local()
    assert target.bucket_name == "framerun-local"
    assert target.workflow_path == "projects/framerun-local/locations/local/workflows/render"
    assert target.storage_emulator_host == "http://127.0.0.1:4443"
    assert target.executions_endpoint == "127.0.0.1:4446"
    assert CloudRunTarget.local(tmp_path / "state") == target


def test_not_running_says_how_to_start_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMERUN_LOCAL_DIR", str(tmp_path / "empty"))
    with pytest.raises(TargetNotConfiguredError, match="start it with `framerun local up`"):
        CloudRunTarget.local()


def test_a_stopped_stacks_leftover_files_are_not_a_running_stack(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_stack(tmp_path, dead.pid)
    with pytest.raises(TargetNotConfiguredError, match="not running") as info:
        CloudRunTarget.local(tmp_path)
    assert f"--state-dir {tmp_path}" in str(info.value)
