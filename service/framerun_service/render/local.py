"""In-process render: plan → chunks on N page threads → assemble.

The same primitives the Cloud Run service runs, so a local render and a
distributed one produce the same frames. Each page thread keeps one warm browser
for all the chunks it renders (``pagepool.py``). The threads share one process:
the heavy work runs outside Python's lock (Chrome draws, libjpeg decodes, x264
encodes), and nothing has to be spawned and imported again before the first frame.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass
from pathlib import Path

from framerun_service.core.errors import InvalidConfigError, OutputNotWritableError, setting
from framerun_service.render.beginframe import capture_method
from framerun_service.render.browser import BrowserSession
from framerun_service.render.chrome import browser_version
from framerun_service.render.chunk import ChunkResult, first_cause, render_chunk
from framerun_service.render.composition import Composition
from framerun_service.render.encoding import PNG_SEQUENCE, EncoderSettings
from framerun_service.render.finish import finish_render
from framerun_service.render.fontset import fontset_version
from framerun_service.render.media import composition_clips
from framerun_service.render.pagepool import PagePool
from framerun_service.render.plan import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_TARGET_CHUNK_FRAMES,
    Plan,
    make_plan,
)
from framerun_service.render.settings import engine_settings
from framerun_service.render.site import site_tree_hash


@dataclass(frozen=True)
class LocalRenderResult:
    output: Path
    plan: Plan
    frames: int
    seconds: float
    bytes: int
    # What the composition does that HyperFrames would render but looks like a slip.
    warnings: tuple[str, ...] = ()
    # Seconds from the start of the render to its first captured frame: the start-up a
    # user waits through (browser launch, page load, pre-roll) before frames flow.
    first_frame_s: float = 0.0


ProgressFn = Callable[[int], None]


def writes_folder(encoder: EncoderSettings, out_path: Path) -> bool:
    """A local PNG sequence is a folder of PNGs, unless it is named ``.tar``."""
    return encoder.container == PNG_SEQUENCE and out_path.suffix.lower() != ".tar"


def check_output_path(out_path: Path, *, folder: bool = False) -> None:
    """Fail before any rendering if the output cannot be written.

    Creating (and dropping) a nameless file next to the output is the only sure
    test: ``os.access`` trusts permission bits, which root ignores and
    pseudo-filesystems such as /proc misreport. A ``folder`` output (a PNG
    sequence) must not exist yet, or be an empty folder: it is written beside
    it and renamed into place, and never merged into someone's files.
    """
    parent = out_path.parent if str(out_path.parent) else Path(".")
    if folder:
        if out_path.exists() and not out_path.is_dir():
            raise OutputNotWritableError(
                f"output '{out_path}' is a file; a png-sequence is a folder of PNGs, "
                "name a new folder (or end the name in .tar for one tar)"
            )
        if out_path.is_dir() and any(out_path.iterdir()):
            raise OutputNotWritableError(
                f"output folder '{out_path}' is not empty; name a new folder for the PNG sequence"
            )
    elif out_path.is_dir():
        raise OutputNotWritableError(f"output '{out_path}' is a directory; give a file name")
    if not parent.is_dir():
        raise OutputNotWritableError(f"output folder '{parent}' does not exist; create it first")
    if out_path.exists() and not folder and not os.access(out_path, os.W_OK):
        raise OutputNotWritableError(f"cannot overwrite '{out_path}'; check its permissions")
    try:
        with tempfile.TemporaryFile(dir=parent, prefix=".framerun-probe-"):
            pass
    except OSError as exc:
        raise OutputNotWritableError(
            f"cannot create files in '{parent}' ({exc.strerror}); choose another output folder"
        ) from None


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def plan_local(
    composition: Composition,
    encoder: EncoderSettings,
    *,
    frames: tuple[int, int] | None = None,
    chunk_size: int | None = None,
    warnings: list[str] | None = None,
) -> Plan:
    """The plan of an in-process render: the engine and browser of this machine."""
    return make_plan(
        composition,
        encoder,
        site_hash=site_tree_hash(composition.project_dir),
        browser_version=browser_version(),
        font_set=fontset_version(),
        frames=frames,
        # In-process chunks keep their own rule: 240 frames by default, never over 3000.
        chunk_size=min(
            DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size, DEFAULT_TARGET_CHUNK_FRAMES
        ),
        # By default, as many chunks as a multiple of the machine's cores, so
        # workers finish together. Cores, not --workers: the output must not
        # depend on how many workers rendered it.
        chunk_multiple=default_workers() if chunk_size is None else 1,
        instance_vcpus=None,  # no Workflows call to fit: no per-chunk time cap
        audio=composition_clips(composition, warnings=warnings if warnings is not None else []),
        jpeg_quality=engine_settings().jpeg_quality,
        chrome_args=engine_settings().extra_chrome_args,
        capture_method=capture_method(composition.project_dir, engine_settings().capture_method),
    )


def render_local(
    composition: Composition,
    encoder: EncoderSettings,
    out_path: Path,
    *,
    workers: int | None = None,
    frames: tuple[int, int] | None = None,
    chunk_size: int | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_frames: ProgressFn | None = None,
) -> LocalRenderResult:
    """Render a composition to ``out_path`` on ``workers`` page threads, one warm browser each.

    Its ``<audio>``/``<video>`` elements are mixed into one track at the end.
    """
    started = time.perf_counter()
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise InvalidConfigError(f"{setting('workers')} must be ≥ 1, got {workers}")
    check_output_path(out_path, folder=writes_folder(encoder, out_path))
    warnings = list(composition.warnings)
    workdir = Path(tempfile.mkdtemp(prefix="framerun-"))
    # Start-up overlaps the plan: the page threads launch their browsers while this
    # thread hashes the site and reads the clips.
    pages, cancel = PagePool(workers), threading.Event()
    try:
        plan = plan_local(
            composition, encoder, frames=frames, chunk_size=chunk_size, warnings=warnings
        )
        if on_plan is not None:
            on_plan(plan)
        first_frame = _FirstFrame(started)
        chunk_paths = _render_chunks(
            pages, plan, composition.project_dir, workdir, on_frames, cancel, first_frame
        )
        result = finish_render(
            plan, chunk_paths, out_path, site_dir=composition.project_dir, work_dir=workdir
        )
        return LocalRenderResult(
            out_path,
            plan,
            result.frames,
            time.perf_counter() - started,
            result.bytes,
            tuple(warnings),
            first_frame.seconds,
        )
    finally:
        cancel.set()  # a failure or an interrupt here: running chunks stop at their next frame
        pages.close()
        shutil.rmtree(workdir, ignore_errors=True)


class _FirstFrame:
    """When the first frame of a render was captured, on whichever page thread drew it."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._at: float | None = None
        self._lock = threading.Lock()

    def mark(self) -> None:
        if self._at is None:
            with self._lock:
                if self._at is None:
                    self._at = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds from the start to the first frame (to now when none was captured)."""
        return (self._at if self._at is not None else time.perf_counter()) - self._started


def _render_chunks(
    pages: PagePool,
    plan: Plan,
    project_dir: Path,
    workdir: Path,
    on_frames: ProgressFn | None,
    cancel: threading.Event,
    first_frame: _FirstFrame,
) -> list[Path]:
    """Every chunk of ``plan`` on the page threads; progress is reported from this thread.

    When a chunk fails, the others are cancelled and the failure that caused the
    rest is raised.
    """
    paths = [workdir / f"chunk-{c.index:05d}.{plan.encoder.extension}" for c in plan.chunks]
    progress: queue.SimpleQueue[int] = queue.SimpleQueue()

    def captured(frames: int) -> None:
        first_frame.mark()
        progress.put(frames)

    def render(index: int, session: BrowserSession) -> ChunkResult:
        chunk = plan.chunks[index]
        return render_chunk(
            session, plan, chunk, project_dir, paths[index], on_frames=captured, cancel=cancel
        )

    futures: list[Future[ChunkResult]] = [
        pages.submit(functools.partial(render, c.index)) for c in plan.chunks
    ]
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
        _drain(progress, on_frames)
        if any(f.exception() is not None for f in done):
            cancel.set()
            for other in pending:
                other.cancel()
            wait(pending)  # running chunks stop at their next frame
            failures = [f.exception() for f in futures if f.done() and not f.cancelled()]
            raise first_cause([e for e in failures if e is not None])
    _drain(progress, on_frames)
    return paths


def _drain(progress: queue.SimpleQueue[int], on_frames: ProgressFn | None) -> None:
    total = 0
    with contextlib.suppress(queue.Empty):
        while True:
            total += progress.get_nowait()
    if total and on_frames is not None:
        on_frames(total)
