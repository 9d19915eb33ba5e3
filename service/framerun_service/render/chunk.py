"""Render one chunk: frames [start, end) of a plan → one closed-GOP video, or a tar of PNGs.

Capture and encoding overlap: the browser renders frame N+1 while a second
thread decodes and encodes frame N, and on an instance with more cores several
pages draw interleaved frames at once (``extra_pages``). The queues between the
pages and the encoder are bounded, so memory does not grow with the chunk's
length. The chunk is written to a temporary name and renamed only when complete,
so a crash never leaves a partial chunk behind.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from framerun_service.core.errors import BrowserCrashedError
from framerun_service.render.browser import BrowserSession, PageSpec
from framerun_service.render.encode import ChunkEncoder
from framerun_service.render.encoding import PNG_SEQUENCE
from framerun_service.render.pagepool import PageThreads
from framerun_service.render.plan import ChunkSpec, Plan
from framerun_service.render.pngseq import PngChunkWriter

QUEUE_DEPTH = 4
# The page showed what it showed at its previous frame: encode that picture again.
# (A capture is never empty.)
_REPEAT = b""


@dataclass(frozen=True)
class ChunkResult:
    index: int
    frames: int
    seconds: float
    path: Path
    reused: int = 0  # frames that showed the previous frame's pixels (beginframe.py)
    # CPU seconds of the one thread that decodes and encodes every frame in order: the
    # serial part of a chunk drawn by several pages, which bounds how far pages scale.
    encode_cpu_s: float = 0.0


ProgressFn = Callable[[int], None]


class ChunkCancelledError(Exception):
    """The chunk stopped because its caller cancelled it (another chunk failed, or
    the user interrupted the render): the caller already has the reason to report."""


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
        lossless=plan.encoder.capture_format == "png",
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
    extra_pages: PageThreads | None = None,
    cancel: threading.Event | None = None,
) -> ChunkResult:
    """Render ``chunk`` to ``out_path``, captured as the plan's output needs (PNG for
    alpha, PNG sequences and lossless quality, JPEG otherwise).

    With ``extra_pages``, the chunk is drawn by that many more pages at once, each
    on its own thread and browser: page ``i`` of ``k`` draws frames ``start + i``,
    ``start + i + k``, … and lives through the frames between them without drawing
    (as a pre-roll does), so every frame is what one page would draw. One encoder
    takes the frames in order, so the chunk's bytes do not depend on ``k``.

    Setting ``cancel`` stops the chunk at its next frame with ChunkCancelledError,
    leaving no file.
    """
    started = time.perf_counter()
    pages = min(1 + (extra_pages.count if extra_pages is not None else 0), chunk.frames)
    spec = page_spec(plan, project_dir)
    tmp_path = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    encoder = chunk_writer(plan, tmp_path)
    shares: list[queue.Queue[bytes]] = [queue.Queue(maxsize=QUEUE_DEPTH) for _ in range(pages)]
    stop = threading.Event()
    failures: list[BaseException] = []

    def failed(exc: BaseException) -> None:
        failures.append(exc)  # list.append is atomic; first_cause picks the one raised
        stop.set()

    def draw_share(index: int, session: BrowserSession) -> int:
        """Page ``index``'s frames into its queue; how many it reused."""
        try:
            page = session.open(spec)
            try:
                first = chunk.start + index
                # Frame N must not depend on where a chunk starts: live through 0..N-1.
                page.preroll(first)
                for frame in range(first, chunk.end, pages):
                    if cancel is not None and cancel.is_set():
                        raise ChunkCancelledError(f"chunk {chunk.index} was cancelled")
                    page.seek(frame)
                    picture = page.capture_changed(
                        plan.encoder.capture_format, jpeg_quality=plan.jpeg_quality
                    )
                    if not _put(shares[index], _REPEAT if picture is None else picture, stop):
                        return 0
                    if frame + pages < chunk.end and pages > 1:
                        page.preroll(frame + pages, start=frame + 1)  # the other pages' frames
                page.check()  # a request the last frame started without awaiting it
                return page.frames.reused if page.frames is not None else 0
            finally:
                page.close()
        except BaseException as exc:
            failed(exc)
            return 0

    encode_cpu = [0.0]

    def encode_in_order() -> None:
        add = encoder.add_jpeg if plan.encoder.capture_format == "jpeg" else encoder.add_png
        last: list[bytes] = [b""] * pages  # each page's last picture
        cpu_at_start = time.thread_time()
        try:
            for n in range(chunk.frames):
                share = n % pages
                data = _take(shares[share], stop)
                if data is None:
                    return
                if data is not _REPEAT:
                    last[share] = data
                    add(data)
                elif pages == 1:
                    encoder.repeat()  # the previous frame is this page's: no decode
                else:
                    add(last[share])
                if on_frames is not None:
                    on_frames(1)
        except BaseException as exc:
            failed(exc)
        finally:
            encode_cpu[0] = time.thread_time() - cpu_at_start

    writer = threading.Thread(target=encode_in_order, name=f"encode-{chunk.index}", daemon=True)
    writer.start()
    others = [
        extra_pages.submit(i - 1, functools.partial(draw_share, i))
        for i in range(1, pages)
        if extra_pages is not None
    ]
    reused = draw_share(0, session)
    reused += sum(other.result() for other in others)
    writer.join()
    if failures:
        encoder.abort()
        raise first_cause(failures)
    encoder.close()
    os.replace(tmp_path, out_path)
    seconds = time.perf_counter() - started
    return ChunkResult(chunk.index, chunk.frames, seconds, out_path, reused, encode_cpu[0])


def first_cause(failures: list[BaseException]) -> BaseException:
    """The failure to report: the first one that is not a consequence of another.

    A page whose call overran its deadline has every renderer of the process
    killed (deadline.py), so the other pages fail as crashed, maybe before the
    stuck page reports: its COMPOSITION_TIMEOUT (not retryable) is the cause. A
    cancelled chunk was stopped because of some other failure.
    """

    def rank(failure: BaseException) -> int:
        if isinstance(failure, ChunkCancelledError):
            return 2
        return 1 if isinstance(failure, BrowserCrashedError) else 0

    return min(failures, key=rank)  # min keeps the first of equal rank


def _put(share: queue.Queue[bytes], item: bytes, stop: threading.Event) -> bool:
    """Queue a picture; False if the chunk stopped meanwhile (then nobody takes it)."""
    while not stop.is_set():
        try:
            share.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _take(share: queue.Queue[bytes], stop: threading.Event) -> bytes | None:
    """The next picture of a page; None if the chunk stopped (a page or the encoder failed)."""
    while not stop.is_set():
        try:
            return share.get(timeout=0.1)
        except queue.Empty:
            continue
    return None
