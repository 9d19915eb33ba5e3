"""Where the local stack keeps its state, and whether the stack that wrote it still runs.

A leaf of its own because two layers read the same files: the stack itself
(:mod:`framerun.local.stack`, which writes them) and
:meth:`framerun.target.CloudRunTarget.local`, which must find the running
stack without importing it (the stack sits above the client in the layers).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV_LOCAL_DIR = "FRAMERUN_LOCAL_DIR"
STACK_FILE = "stack.json"  # pids and endpoints: what `status` and `down` read
OUTPUTS_FILE = "outputs.json"  # `terraform output -json`'s shape: what the SDK reads


def default_state_dir() -> Path:
    """``FRAMERUN_LOCAL_DIR``, else ``~/.cache/framerun/local``."""
    return Path(os.environ.get(ENV_LOCAL_DIR) or Path.home() / ".cache" / "framerun" / "local")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def running_outputs(state_dir: Path) -> dict[str, Any] | None:
    """The outputs of the stack in ``state_dir`` if every one of its processes runs."""
    try:
        stack = json.loads((state_dir / STACK_FILE).read_text(encoding="utf-8"))
        outputs = json.loads((state_dir / OUTPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pids = stack.get("pids") if isinstance(stack, dict) else None
    if not isinstance(pids, dict) or not pids or not isinstance(outputs, dict):
        return None
    if not all(isinstance(pid, int) and pid_alive(pid) for pid in pids.values()):
        return None
    return outputs
