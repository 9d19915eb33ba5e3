"""Render one chunk: frames [start, end) of a plan → one closed-GOP video, or a tar of PNGs.

Capture and encoding overlap: the browser renders frame N+1 while a second
thread decodes and encodes frame N. The queue between them is bounded, so
memory does not grow with the chunk's length. The chunk is written to a
temporary name and renamed only when complete, so a crash never leaves a
partial chunk behind.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.encode import ChunkEncoder
from framerun_service.render.encoding import PNG_SEQUENCE
from framerun_service.render.plan import ChunkSpec, Plan
from framerun_service.render.pngseq import PngChunkWriter

QUEUE_DEPTH = 4
_DONE = None
# The frame showed what the previous one showed: encode that picture again.
_REPEAT = b""


@dataclass(frozen=True)
class ChunkResult:
    index: int
    frames: int
    seconds: float
    path: Path
    reused: int = 0  # frames that showed the previous frame's pixels (beginframe.py)


ProgressFn = Callable[[int], None]


def chunk_tag(plan_hash: str) -> str:
    """The metadata every chunk of a plan carries; assemble refuses strangers."""
    return f"framerun-plan:{plan_hash}"


def page_spec(plan: Plan, project_dir: Path) -> PageSpec:
    """The page a plan's frames are captured from; transparent when the output keeps alpha."""
    return PageSpec(
        project_dir=project_dir,
        entry=plan.entry,
        width=plan.width,
        height=plan.height,
        fps=float(plan.fps),
        variables=plan.variables,
        transparent=plan.encoder.alpha,
        begin_frame=plan.capture_method == "beginframe",
    )


def chunk_writer(plan: Plan, path: Path) -> ChunkEncoder | PngChunkWriter:
    """What turns the plan's captured frames into a chunk file: an encoder, or a tar of PNGs."""
    tag = chunk_tag(plan.plan_hash)
    if plan.encoder.container == PNG_SEQUENCE:
        return PngChunkWriter(path, width=plan.width, height=plan.height, plan_tag=tag)
    return ChunkEncoder(
        path, plan.encoder, width=plan.width, height=plan.height, fps=plan.fps, plan_tag=tag
    )


def render_chunk(
    session: BrowserSession,
    plan: Plan,
    chunk: ChunkSpec,
    project_dir: Path,
    out_path: Path,
    *,
    on_frames: ProgressFn | None = None,
) -> ChunkResult:
    """Render ``chunk`` to ``out_path``, captured as the plan's output needs (PNG for
    alpha, PNG sequences and lossless quality, JPEG otherwise)."""
    started = time.perf_counter()
    capture_format = plan.encoder.capture_format
    page = session.open(page_spec(plan, project_dir))
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    encoder = chunk_writer(plan, tmp_path)
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_DEPTH)
    failure: list[BaseException] = []

    def encode_loop() -> None:
        add = encoder.add_jpeg if capture_format == "jpeg" else encoder.add_png
        while (data := frames.get()) is not _DONE:
            if not failure:
                try:
                    if data is _REPEAT:
                        encoder.repeat()
                    else:
                        add(data)
                except BaseException as exc:
                    failure.append(exc)

    worker = threading.Thread(target=encode_loop, name=f"encode-{chunk.index}", daemon=True)
    worker.start()
    try:
        # Frame N must not depend on where a chunk starts: live through frames 0..N-1.
        page.preroll(chunk.start)
        for frame in range(chunk.start, chunk.end):
            page.seek(frame)
            picture = page.capture_changed(capture_format, jpeg_quality=plan.jpeg_quality)
            frames.put(_REPEAT if picture is None else picture)
            if failure:
                break
            if on_frames is not None:
                on_frames(1)
        page.check()  # a request the last frame started without awaiting it
    except BaseException:
        frames.put(_DONE)
        worker.join()
        encoder.abort()
        raise
    finally:
        page.close()
    frames.put(_DONE)
    worker.join()
    if failure:
        encoder.abort()
        raise failure[0]
    encoder.close()
    os.replace(tmp_path, out_path)
    reused = page.frames.reused if page.frames is not None else 0
    return ChunkResult(chunk.index, chunk.frames, time.perf_counter() - started, out_path, reused)
