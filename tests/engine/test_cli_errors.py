"""The CLI's bad-input contract, through a real subprocess.

Every bad input must: exit 2, print exactly one line ``error: ... [CODE]`` on stderr
that names the problem, print no traceback, leave nothing behind in the output folder
or the temp folder, and fail before any browser starts. ``FRAMERUN_CHROME`` points at
a fake browser that only leaves a marker file, so reaching the browser is detected
(and is cheap) instead of silently rendering.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.compositions import write_composition

NUMBER_VARIABLE = [{"id": "count", "type": "number", "label": "Count", "default": 1}]


@dataclass(frozen=True)
class BadInput:
    """One bad invocation: its argv (with placeholders) and what the error must say."""

    argv: tuple[str, ...]
    code: str
    words: tuple[str, ...]
    project: dict[str, Any] = field(default_factory=dict)  # write_composition kwargs
    files: dict[str, bytes] = field(default_factory=dict)  # extra files in {tmp}


# Placeholders: {project} a valid tiny project, {out} a file in the empty output
# folder {out_dir}, {tmp} the test's scratch folder.
CASES: dict[str, BadInput] = {
    "missing-project": BadInput(
        ("{tmp}/no-such-project", "-o", "{out}"),
        "COMPOSITION_NOT_FOUND",
        ("no-such-project", "does not exist"),
    ),
    "missing-entry": BadInput(
        ("{project}", "-o", "{out}", "--composition", "scene.html"),
        "COMPOSITION_NOT_FOUND",
        ("scene.html", "--composition"),
    ),
    "missing-root-attribute": BadInput(
        ("{project}", "-o", "{out}"),
        "INVALID_COMPOSITION",
        # data-fps is optional (30, as in HyperFrames); the size is not.
        ("data-width", "--width"),
        {"root_attrs": 'data-height="240" data-fps="30" data-duration="1"'},
    ),
    "invalid-root-attribute": BadInput(
        ("{project}", "-o", "{out}"),
        "INVALID_COMPOSITION",
        ('data-width="abc"', "integer", "--width"),
        {"root_attrs": 'data-width="abc" data-height="240" data-fps="30" data-duration="1"'},
    ),
    "odd-width": BadInput(
        ("{project}", "-o", "{out}", "--width", "321"),
        "INVALID_CONFIG",
        ("width", "odd", "322"),
    ),
    "oversize-width": BadInput(
        ("{project}", "-o", "{out}", "--width", "8000"),
        "INVALID_CONFIG",
        ("width", "8000", "7680"),
    ),
    "fps-zero": BadInput(
        ("{project}", "-o", "{out}", "--fps", "0"),
        "INVALID_CONFIG",
        ("fps", "out of range"),
    ),
    "duration-zero": BadInput(
        ("{project}", "-o", "{out}", "--duration", "0"),
        "INVALID_CONFIG",
        ("duration", "out of range"),
    ),
    "malformed-variables": BadInput(
        ("{project}", "-o", "{out}", "--variables", '{"count": }'),
        "VARIABLES_INVALID",
        ("--variables", "not valid JSON", "line 1 column 11"),
    ),
    "strict-mistyped-variable": BadInput(
        ("{project}", "-o", "{out}", "--strict-variables", "--variables", '{"count": "three"}'),
        "VARIABLES_INVALID",
        ("count", "number", "three"),
        {"variables": NUMBER_VARIABLE},
    ),
    "variables-file-not-utf8": BadInput(
        ("{project}", "-o", "{out}", "--variables-file", "{tmp}/vars.json"),
        "VARIABLES_INVALID",
        ("--variables-file", "vars.json", "UTF-8"),
        files={"vars.json": b'{"title": "\xff"}'},
    ),
    "crf-with-bitrate": BadInput(
        ("{project}", "-o", "{out}", "--crf", "20", "--bitrate", "5M"),
        "INVALID_CONFIG",
        ("--crf", "--bitrate", "mutually exclusive"),
    ),
    "crf-out-of-range": BadInput(
        ("{project}", "-o", "{out}", "--crf", "52"),
        "INVALID_CONFIG",
        ("crf", "0–51"),
    ),
    "frames-outside-video": BadInput(
        ("{project}", "-o", "{out}", "--frames", "0:31"),
        "INVALID_CONFIG",
        ("--frames", "0:30"),
    ),
    "chunk-size-zero": BadInput(
        ("{project}", "-o", "{out}", "--chunk-size", "0"),
        "INVALID_CONFIG",
        ("--chunk-size",),
    ),
    "workers-zero": BadInput(
        ("{project}", "-o", "{out}", "--workers", "0"),
        "INVALID_CONFIG",
        ("--workers",),
    ),
    "output-parent-missing": BadInput(
        ("{project}", "-o", "{out_dir}/missing/video.mp4"),
        "OUTPUT_NOT_WRITABLE",
        ("missing", "does not exist"),
    ),
    "output-is-a-directory": BadInput(
        ("{project}", "-o", "{out_dir}"),
        "OUTPUT_NOT_WRITABLE",
        ("directory",),
    ),
    # Tests run as root, where a chmod 0o555 folder is still writable, so the
    # unwritable-folder case uses /proc: os.access() says yes there too (the bits
    # read as root-writable), yet no file can be created in it. It is therefore
    # also the case that needs a real creation probe, not a permission-bit check.
    "output-in-proc": BadInput(
        ("{project}", "-o", "/proc/framerun-test-output.mp4"),
        "OUTPUT_NOT_WRITABLE",
        ("/proc", "choose another output folder"),
    ),
}


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    browser_marker: Path
    out_dir: Path
    temp_dir: Path


def run_cli(tmp_path: Path, case: BadInput, extra_env: dict[str, str] | None = None) -> Run:
    """Run ``python -m framerun.cli render ...`` with a fake browser and private temp dir."""
    project_dir = write_composition(tmp_path / "project", "", **case.project)
    for name, content in case.files.items():
        (tmp_path / name).write_bytes(content)
    out_dir = tmp_path / "out"
    temp_dir = tmp_path / "temp"
    out_dir.mkdir()
    temp_dir.mkdir()
    marker = tmp_path / "browser-was-started"
    fake_chrome = tmp_path / "fake-chrome"
    fake_chrome.write_text(f'#!/bin/sh\ntouch "{marker}"\nexit 1\n')
    fake_chrome.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMERUN_")}
    env.update({"FRAMERUN_CHROME": str(fake_chrome), "TMPDIR": str(temp_dir), **(extra_env or {})})
    places = {
        "{project}": project_dir,
        "{out}": out_dir / "video.mp4",
        "{out_dir}": out_dir,
        "{tmp}": tmp_path,
    }
    args = list(case.argv)
    for name, value in places.items():  # not str.format: the JSON arguments hold braces
        args = [a.replace(name, str(value)) for a in args]
    proc = subprocess.run(
        [sys.executable, "-m", "framerun.cli", "render", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, marker, out_dir, temp_dir)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """All bad-input runs at once: each is mostly interpreter start-up, so run them in parallel."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(run_cli, tmp_path_factory.mktemp(name), case)
            for name, case in CASES.items()
        }
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", CASES.keys())
def test_bad_input_fails_fast_with_one_line(runs: dict[str, Run], name: str) -> None:
    """Scripts and CI parse this line; a traceback or a leftover file is a bug."""
    assert_failed_cleanly(CASES[name], runs[name])


def assert_failed_cleanly(case: BadInput, run: Run) -> None:
    """Exit 2, one ``error: … [CODE]`` line naming the fix, no browser, no file left."""
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr  # not even a blank line around it
    line = lines[0]
    assert line.startswith("error: ")
    assert line.endswith(f"[{case.code}]")
    for word in case.words:
        assert word in line
    assert run.stdout == ""
    assert not run.browser_marker.exists(), "a browser was started before validation failed"
    assert list(run.out_dir.iterdir()) == []
    assert list(run.temp_dir.iterdir()) == []
    assert not Path("/proc/framerun-test-output.mp4").exists()


def test_fake_browser_detects_a_launch(tmp_path: Path) -> None:
    """Guards the guard: valid input does reach the (fake) browser, and still fails cleanly."""
    run = run_cli(tmp_path, BadInput(("{project}", "-o", "{out}", "-q"), "", ()))
    assert run.browser_marker.exists()
    assert run.returncode != 0
    assert list(run.out_dir.iterdir()) == []


def test_a_browser_that_cannot_start_is_a_typed_error_naming_its_complaint(
    tmp_path: Path,
) -> None:
    """A browser that exits at start (a bad flag, a missing library) says why on stderr:
    the user gets one typed line carrying that reason, not a hang or a traceback."""
    chrome = tmp_path / "complaining-chrome"
    chrome.write_text(
        "#!/bin/sh\necho 'error while loading shared libraries: libfoo.so' >&2\nexit 127\n"
    )
    chrome.chmod(0o755)
    run = run_cli(
        tmp_path,
        BadInput(("{project}", "-o", "{out}", "-q"), "", ()),
        extra_env={"FRAMERUN_CHROME": str(chrome)},
    )
    assert "Traceback" not in run.stderr, run.stderr
    assert run.returncode != 0
    line = run.stderr.splitlines()[-1]
    assert line.startswith("error: ") and line.endswith("[BROWSER_CRASHED]"), line
    assert "did not start" in line and "libfoo.so" in line and "FRAMERUN_CHROME" in line
    assert list(run.out_dir.iterdir()) == []
