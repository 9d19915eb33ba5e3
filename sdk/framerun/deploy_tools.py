"""Running gcloud and terraform for ``deploy``/``destroy``: found on PATH, streamed, typed.

Two ways to run a tool: :meth:`ToolRunner.step` streams its output under the
step's header (a build or an apply takes minutes, and the user should watch it),
and :meth:`ToolRunner.capture` runs a quick query (``describe``, ``output -json``)
quietly and hands back its output. A step that exits non-zero raises
:class:`DeployStepFailedError` naming the step and the tool's last stderr line,
which is where both tools say what went wrong.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from framerun_service.core.errors import DeployStepFailedError, ToolNotFoundError

# How to get each tool, for the error that says it is missing.
INSTALL_HINTS = {
    "gcloud": "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), "
    "then run `gcloud auth login` and `gcloud auth application-default login`",
    "terraform": "install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install)",
}


def require_tool(name: str) -> str:
    """The absolute path of ``name`` on PATH, or a :class:`ToolNotFoundError` saying
    how to install it (checked before anything runs, so nothing is half done)."""
    found = shutil.which(name)
    if found is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise ToolNotFoundError(f"{name} is not on PATH: {hint}")
    return found


@dataclass(frozen=True)
class Captured:
    """What a quiet query printed, and whether it succeeded."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class ToolRunner:
    """Runs the tools with one environment, printing through ``echo`` (click's, so a
    test's CliRunner sees the streamed lines)."""

    echo: Callable[[str, bool], None]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(
        self,
        step: str,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """Run one step's command, streaming stdout and stderr line by line."""
        env = {**self.env, **(extra_env or {})}
        last_err: list[str] = []
        with subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            pumps = [
                threading.Thread(target=self._pump, args=(process.stdout, False, None)),
                threading.Thread(target=self._pump, args=(process.stderr, True, last_err)),
            ]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()
            returncode = process.wait()
        if returncode != 0:
            why = last_err[-1] if last_err else "no message on stderr"
            raise DeployStepFailedError(
                f"{step} failed: `{_shown(argv)}` exited {returncode}: {why}", step=step
            )

    def capture(self, argv: Sequence[str], *, cwd: Path | None = None) -> Captured:
        """Run a quick query quietly; the caller decides what a failure means."""
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        return Captured(done.returncode, done.stdout, done.stderr)

    def _pump(self, stream: IO[str], err: bool, last: list[str] | None) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            with self._lock:  # stdout and stderr pumps share the terminal
                self.echo(f"    {line}", err)
            if last is not None and line.strip():
                last.append(line.strip())
                del last[:-1]


def _shown(argv: Sequence[str]) -> str:
    """The tool (by name, not path) and its verbs, without the flags and values."""
    verbs = []
    for arg in argv[1:3]:
        if arg.startswith("-"):
            break
        verbs.append(arg)
    return " ".join([Path(argv[0]).name, *verbs])
