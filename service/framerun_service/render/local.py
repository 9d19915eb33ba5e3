"""In-process render: plan → chunks on N worker processes → assemble.

The same primitives the Cloud Run service runs, so a local render and a
distributed one produce the same frames. Each worker process keeps one warm
browser for all the chunks it renders.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framerun_service.core.errors import InvalidConfigError, OutputNotWritableError, setting
from framerun_service.render.beginframe import capture_method
from framerun_service.render.browser import BrowserSession
from framerun_service.render.chrome import browser_version
from framerun_service.render.chunk import ChunkResult, render_chunk
from framerun_service.render.composition import Composition
from framerun_service.render.encoding import PNG_SEQUENCE, EncoderSettings
from framerun_service.render.finish import finish_render
from framerun_service.render.fontset import fontset_version
from framerun_service.render.media import composition_clips
from framerun_service.render.plan import DEFAULT_CHUNK_SIZE, Plan, make_plan
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


ProgressFn = Callable[[int], None]

_session: BrowserSession | None = None
_progress_queue: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _session, _progress_queue
    _session = BrowserSession()
    _progress_queue = progress_queue


def _warm_worker() -> None:
    """Launch the worker's browser and probe its GPU while the plan is being made."""
    assert _session is not None
    _session.gpu_renderer()


def _worker_render(plan: Plan, index: int, project_dir: str, out: str) -> ChunkResult:
    assert _session is not None
    q = _progress_queue
    return render_chunk(
        _session,
        plan,
        plan.chunks[index],
        Path(project_dir),
        Path(out),
        on_frames=(lambda n: q.put(n)) if q is not None else None,
    )


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
        chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
        # By default, as many chunks as a multiple of the machine's cores, so
        # workers finish together. Cores, not --workers: the output must not
        # depend on how many workers rendered it.
        chunk_multiple=default_workers() if chunk_size is None else 1,
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
    """Render a composition to ``out_path`` on worker processes, one warm browser each.

    Its ``<audio>``/``<video>`` elements are mixed into one track at the end.
    """
    started = time.perf_counter()
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise InvalidConfigError(f"{setting('workers')} must be ≥ 1, got {workers}")
    check_output_path(out_path, folder=writes_folder(encoder, out_path))
    warnings = list(composition.warnings)
    workdir = Path(tempfile.mkdtemp(prefix="framerun-"))
    progress = mp.get_context("spawn").Queue() if on_frames is not None else None
    # Start-up overlaps the plan: the workers spawn, import the engine and launch
    # their browsers while this process hashes the site and reads the clips.
    pool = _start_pool(workers, progress)
    try:
        plan = plan_local(
            composition, encoder, frames=frames, chunk_size=chunk_size, warnings=warnings
        )
        if on_plan is not None:
            on_plan(plan)
        chunk_paths = _render_chunks(
            pool, plan, composition.project_dir, workdir, progress, on_frames
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
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _start_pool(workers: int, progress: Any) -> ProcessPoolExecutor:
    """``workers`` processes, each warming up its browser as soon as it has started."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(progress,),
    )
    for _ in range(workers):  # one task each spawns them all now, not at the first chunk
        pool.submit(_warm_worker)
    return pool


def _render_chunks(
    pool: ProcessPoolExecutor,
    plan: Plan,
    project_dir: Path,
    workdir: Path,
    progress: Any,
    on_frames: ProgressFn | None,
) -> list[Path]:
    paths = [workdir / f"chunk-{c.index:05d}.{plan.encoder.extension}" for c in plan.chunks]
    futures = {
        pool.submit(_worker_render, plan, c.index, str(project_dir), str(paths[c.index]))
        for c in plan.chunks
    }
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
        _drain(progress, on_frames)
        for fut in done:
            if fut.exception() is not None:
                for other in pending:
                    other.cancel()
                raise fut.exception()  # type: ignore[misc]
    _drain(progress, on_frames)
    return paths


def _drain(q: Any, on_frames: ProgressFn | None) -> None:
    if q is None or on_frames is None:
        return
    total = 0
    while True:
        try:
            total += q.get_nowait()
        except queue.Empty:
            break
    if total:
        on_frames(total)
