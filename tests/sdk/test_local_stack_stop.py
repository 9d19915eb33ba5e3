"""``framerun local down`` stops a component so that what it started can clean up.

The service's gunicorn worker closes its browsers on SIGTERM, and Playwright then
deletes their profile folders. If the whole process group got the signal at
once, the Playwright drivers died mid-cleanup and left folders in the temp dir.
Here a leader that asks its child to clean up stands in for gunicorn.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from framerun.local.stack import _group_alive, _kill

# The child cleans up on SIGUSR1 only; a SIGTERM of its own kills it on the spot.
CHILD = """
import pathlib, signal, sys, time
def clean(*_):
    pathlib.Path(sys.argv[1]).write_text("cleaned")
    sys.exit(0)
signal.signal(signal.SIGUSR1, clean)
pathlib.Path(sys.argv[1] + ".ready").touch()
while True:
    time.sleep(0.05)
"""
LEADER = 'trap \'kill -USR1 "$child"; wait "$child"; exit 0\' TERM; "$@" & child=$!; wait'


def _start(tmp_path: Path, child: str) -> tuple[subprocess.Popen[bytes], Path]:
    marker = tmp_path / "marker"
    proc = subprocess.Popen(
        ["bash", "-c", LEADER, "leader", sys.executable, "-c", child, str(marker)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not marker.with_suffix(".ready").exists():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    return proc, marker


def test_the_leader_is_stopped_first_so_its_children_clean_up(tmp_path: Path) -> None:
    proc, marker = _start(tmp_path, CHILD)
    _kill(proc.pid)
    assert proc.wait(timeout=5) == 0
    assert marker.read_text() == "cleaned"
    assert not _group_alive(proc.pid)


def test_a_child_that_ignores_sigterm_is_killed_in_the_end(tmp_path: Path) -> None:
    stubborn = CHILD.replace("signal.SIGUSR1, clean", "signal.SIGUSR1, signal.SIG_IGN")
    stubborn = stubborn.replace(
        "import pathlib",
        "import pathlib, signal as s; s.signal(s.SIGTERM, s.SIG_IGN); import pathlib",
    )
    proc, marker = _start(tmp_path, stubborn)
    started = time.monotonic()
    _kill(proc.pid, leader_grace_s=1.0, group_grace_s=1.0)
    proc.wait(timeout=5)
    assert not _group_alive(proc.pid)
    assert not marker.exists()
    assert time.monotonic() - started < 8  # 1 s for the leader, 1 s for the group, SIGKILL
