"""Faults on the local stack, each ending in a correct video or a clean typed failure.

Workers SIGKILLed mid-plan, mid-chunk and mid-assemble; storage answering 503 or
not answering for a window; a chunk request delivered twice at once; a render
cancelled half-way; a failed render resumed under its renderId. After each: the
output is the in-process render's frames (PSNR ≥ 45 dB, same count) or absent,
the bucket holds exactly the render's objects, and none was ever written twice.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import framerun
from framerun.render_control import cancel_render, resume_render
from framerun_service.core.errors import InvalidInputError
from tests.reliability.conftest import CHUNKS, CONFIG, FRAMES
from tests.reliability.rel_proxies import Directive, Exchange, error_body
from tests.reliability.rel_stack import (
    RelStack,
    alive,
    assert_created_once,
    assert_render_correct,
    soak,
    when,
)
from tests.videos import decode

_CHUNK_OBJECT = re.compile(r"/chunks/(\d{5})\.mp4$")
_GCS_503 = b'{"error": {"code": 503, "message": "injected: backend unavailable"}}'


# make soak repeats every fault this many times (new timing, same expectations).
REPEATS = 5 if soak() else 1
repeated = pytest.mark.parametrize("attempt", range(REPEATS))


def _record(figures: dict[str, Any], case: str, **values: Any) -> None:
    """The last run's figures, and how many runs of the case survived."""
    runs = figures.setdefault("faults", {}).get(case, {}).get("runs", 0)
    figures["faults"][case] = {**values, "runs": runs + 1}


def _first(condition: Any) -> Any:
    """A hook matcher that matches only once."""
    fired = threading.Event()

    def match(exchange: Exchange) -> bool:
        if fired.is_set() or not condition(exchange):
            return False
        fired.set()
        return True

    match.fired = fired  # type: ignore[attr-defined]
    return match


def _assert_orphans_exit(orphans: list[Any]) -> None:
    """The browsers and drivers of a killed worker do not outlive it."""
    when(lambda: not alive(orphans), 30, f"orphans of killed workers to exit: {alive(orphans)}")


# ---- SIGKILL ------------------------------------------------------------------------------


@repeated
def test_worker_sigkilled_after_writing_the_plan_before_answering(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    orphans: list[Any] = []
    match = _first(lambda e: e.kind == "upload" and (e.name or "").endswith("/plan.json"))
    stack.storage_proxy.hook = lambda e: (
        Directive(after=lambda: orphans.extend(stack.kill_workers())) if match(e) else None
    )
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    assert match.fired.is_set()
    plans = stack.service_proxy.actions(handle.render_id, "plan")
    assert plans[0].status is None and plans[-1].status == 200  # killed, then retried
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    plan_key = f"renders/{handle.render_id}/plan.json"
    assert [e.status for e in stack.storage_proxy.uploads(plan_key)] == [200, 412]
    _assert_orphans_exit(orphans)
    _record(
        figures,
        "sigkill_mid_plan",
        result="correct video",
        psnr_db=psnr,
        plan_attempts=len(plans),
        seconds=round(time.monotonic() - started, 1),
    )


@repeated
def test_worker_sigkilled_while_rendering_a_chunk(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """Killed 0.15 s after a worker checked that its chunk is not in the bucket yet,
    i.e. while the page loads and frames are captured, before any upload."""
    orphans: list[Any] = []
    at_kill: dict[str, Any] = {}
    match = _first(lambda e: e.kind == "stat" and bool(_CHUNK_OBJECT.search(e.name or "")))

    def kill() -> None:
        at_kill["uploads"] = [
            e.name
            for e in stack.storage_proxy.exchanges()
            if e.kind == "upload" and _CHUNK_OBJECT.search(e.name or "")
        ]
        orphans.extend(stack.kill_workers())

    def hook(exchange: Exchange) -> None:
        if match(exchange):
            at_kill["chunk"] = exchange.name
            threading.Timer(0.15, kill).start()

    stack.storage_proxy.hook = hook
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    assert match.fired.is_set()
    when(lambda: "uploads" in at_kill, 10, "the kill")
    assert at_kill["uploads"] == [], "a chunk was already uploaded: not mid-render"
    chunks = stack.service_proxy.actions(handle.render_id, "renderChunk")
    assert any(e.status is None for e in chunks), "no chunk request died with the worker"
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _assert_orphans_exit(orphans)
    _record(
        figures,
        "sigkill_mid_chunk",
        result="correct video",
        psnr_db=psnr,
        chunk_requests_killed=sum(e.status is None for e in chunks),
        seconds=round(time.monotonic() - started, 1),
    )


@repeated
def test_worker_sigkilled_after_uploading_a_chunk_before_its_record(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """The chunk landed, its record and answer did not: the retry repairs the record."""
    orphans: list[Any] = []
    match = _first(lambda e: e.kind == "upload" and bool(_CHUNK_OBJECT.search(e.name or "")))
    stack.storage_proxy.hook = lambda e: (
        Directive(after=lambda: orphans.extend(stack.kill_workers())) if match(e) else None
    )
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    assert match.fired.is_set()
    killed = next(
        e
        for e in stack.storage_proxy.exchanges()
        if e.kind == "upload"
        and e.status == 200
        and _CHUNK_OBJECT.search(e.name or "")
        and handle.render_id in (e.name or "")
    )
    index = int(_CHUNK_OBJECT.search(killed.name or "").group(1))  # type: ignore[union-attr]
    answers = [
        e for e in stack.service_proxy.actions(handle.render_id, "renderChunk") if e.chunk == index
    ]
    assert answers[0].status is None and answers[-1].status == 200
    assert answers[-1].cached is True  # found in the bucket, not rendered again
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _assert_orphans_exit(orphans)
    _record(
        figures,
        "sigkill_after_chunk_upload",
        result="correct video; chunk reused, record repaired",
        psnr_db=psnr,
        seconds=round(time.monotonic() - started, 1),
    )


@repeated
def test_worker_sigkilled_mid_assemble_before_the_output_lands(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    orphans: list[Any] = []
    seen: dict[str, Any] = {}

    def hook(exchange: Exchange) -> Directive | None:
        if "output" in seen or exchange.kind != "upload" or exchange.name != seen.get("key"):
            return None
        seen["output"] = dict(stack.objects(exchange.name))
        orphans.extend(stack.kill_workers())
        return Directive(drop=True)  # the upload dies with its sender

    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    seen["key"] = handle.output_uri.split("/", 3)[3]
    stack.storage_proxy.hook = hook
    stack.wait(handle)
    assert "output" in seen, "assemble never uploaded"
    assert seen["output"] == {}  # nothing, not a partial object, at the moment of death
    assembles = stack.service_proxy.actions(handle.render_id, "assemble")
    assert assembles[0].status is None and assembles[-1].status == 200
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _assert_orphans_exit(orphans)
    # The killed workers' scratch folders are swept by the workers that replaced them.
    left = [f for f in stack.work_dir.glob("pid-*/**/*") if f.is_file() and _dead(f)]
    assert left == [], left
    _record(
        figures,
        "sigkill_mid_assemble",
        result="correct video",
        psnr_db=psnr,
        assemble_attempts=len(assembles),
        temp_files_left_by_killed_workers=len(left),
        temp_bytes_left_by_killed_workers=sum(f.stat().st_size for f in left),
        seconds=round(time.monotonic() - started, 1),
    )


# ---- storage faults -------------------------------------------------------------------


def _window(seconds: float, directive: Any) -> tuple[Any, dict[str, Any]]:
    """A hook: from the first chunk upload on, ``directive(until)`` for ``seconds``."""
    state: dict[str, Any] = {"faults": 0}
    lock = threading.Lock()

    def hook(exchange: Exchange) -> Directive | None:
        with lock:
            if "until" not in state:
                if exchange.kind != "upload" or not _CHUNK_OBJECT.search(exchange.name or ""):
                    return None
                state["until"] = time.monotonic() + seconds
            if time.monotonic() >= state["until"]:
                return None
            state["faults"] += 1
        return directive(state["until"])

    return hook, state


@repeated
def test_storage_503s_for_3s_are_absorbed_by_the_service(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    hook, state = _window(3.0, lambda until: Directive(respond=503, body=_GCS_503))
    stack.storage_proxy.hook = hook
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    assert state["faults"] >= 1
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _record(
        figures,
        "storage_503_window_3s",
        result="correct video",
        psnr_db=psnr,
        storage_503s_served=state["faults"],
        seconds=round(time.monotonic() - started, 1),
    )


@repeated
def test_storage_outage_longer_than_the_service_retries_is_retried_by_the_workflow(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """9 s of 503s: the service gives up after its 6 s budget with a typed,
    retryable STORAGE_UNAVAILABLE; the workflow retries the Action."""
    hook, state = _window(9.0, lambda until: Directive(respond=503, body=_GCS_503))
    stack.storage_proxy.hook = hook
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    refused = [
        e
        for e in stack.service_proxy.actions(handle.render_id)
        if e.status == 503 and not e.injected
    ]
    assert refused, "the service never gave up: the outage was not long enough"
    for exchange in refused:
        assert exchange.response["error"]["code"] == "STORAGE_UNAVAILABLE"
        assert exchange.response["error"]["retryable"] is True
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _record(
        figures,
        "storage_503_window_9s",
        result="correct video",
        psnr_db=psnr,
        storage_503s_served=state["faults"],
        actions_answered_storage_unavailable=len(refused),
        seconds=round(time.monotonic() - started, 1),
    )


@repeated
def test_storage_not_answering_for_5s_times_out_and_is_retried(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """Requests in the window are held, then delivered late (a slow, not dead, storage):
    the service's 3 s timeouts fire, it retries, and late writes never double up."""
    hook, state = _window(5.0, lambda until: Directive(hold_until=until))
    stack.storage_proxy.hook = hook
    started = time.monotonic()
    handle = stack.start(project, CONFIG)
    stack.wait(handle)
    assert state["faults"] >= 1
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    _record(
        figures,
        "storage_stall_window_5s",
        result="correct video",
        psnr_db=psnr,
        storage_requests_held=state["faults"],
        seconds=round(time.monotonic() - started, 1),
    )


# ---- duplicates -----------------------------------------------------------------------


@repeated
def test_the_same_chunk_delivered_twice_at_once_is_written_once(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """Two workers render chunk 1 at the same time; both pass the "exists?" check
    (the first upload is held until the second arrives), so only the create-only
    precondition stands between them: exactly one upload is accepted."""
    duplicate = _first(lambda e: e.kind == "renderChunk" and e.chunk == 1)
    stack.service_proxy.hook = lambda e: Directive(duplicate=True) if duplicate(e) else None
    both_here = threading.Event()
    arrivals: list[Exchange] = []

    def barrier(exchange: Exchange) -> Directive | None:
        if exchange.kind != "upload" or not (exchange.name or "").endswith("/chunks/00001.mp4"):
            return None
        arrivals.append(exchange)
        if len(arrivals) >= 2:
            both_here.set()
        return Directive(wait=both_here, hold_until=time.monotonic() + 60)

    stack.storage_proxy.hook = barrier
    started = time.monotonic()
    handle = stack.start(project, {**CONFIG, "maxParallelChunks": 1})
    stack.wait(handle)
    assert duplicate.fired.is_set()
    key = f"renders/{handle.render_id}/chunks/00001.mp4"
    statuses = sorted(e.status for e in stack.storage_proxy.uploads(key))
    assert statuses == [200, 412], statuses
    answers = [
        e for e in stack.service_proxy.actions(handle.render_id, "renderChunk") if e.chunk == 1
    ]
    assert [e.status for e in answers] == [200, 200]
    assert sorted(e.cached for e in answers) == [False, True]
    psnr = assert_render_correct(stack, handle, reference, tmp_path, chunks=CHUNKS)
    assert_created_once(stack, {key})
    _record(
        figures,
        "duplicate_chunk_concurrently",
        result="correct video; one upload accepted, one refused by the precondition",
        psnr_db=psnr,
        seconds=round(time.monotonic() - started, 1),
    )


# ---- cancel and resume ----------------------------------------------------------------


@repeated
def test_cancel_mid_render_then_resume_reuses_the_finished_chunks(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    second = _first(lambda e: e.kind == "renderChunk" and e.chunk == 1)

    def spot(exchange: Exchange) -> None:
        second(exchange)  # only watches

    stack.service_proxy.hook = spot
    config = {**CONFIG, "maxParallelChunks": 1}
    handle = stack.start(project, config)
    when(second.fired.is_set, 120, "the second chunk to start")
    cancel_render(handle, target=stack.target)
    progress = stack.progress(handle)
    assert progress.status == "cancelled" and progress.done
    assert progress.overall_progress < 1.0 and progress.output_file is None
    with pytest.raises(framerun.RenderFailedError) as failure:
        stack.wait(handle, timeout_s=30)
    assert failure.value.code == "RENDER_CANCELLED"
    # The chunk in flight finishes on its instance; nothing after it starts.
    when(
        lambda: all(e.ended for e in stack.service_proxy.actions(handle.render_id)),
        120,
        "the in-flight chunk to finish",
    )
    time.sleep(1.0)
    actions = stack.service_proxy.actions(handle.render_id)
    assert {(e.kind, e.chunk) for e in actions} <= {
        ("plan", None),
        ("renderChunk", 0),
        ("renderChunk", 1),
        ("notify", None),
    }
    objects = set(stack.objects(f"renders/{handle.render_id}/"))
    output_key = handle.output_uri.split("/", 3)[3]
    assert output_key not in objects and f"renders/{handle.render_id}/result.json" not in objects
    left_for_cleanup = sorted(objects)
    assert f"renders/{handle.render_id}/plan.json" in objects
    assert f"renders/{handle.render_id}/chunks/00000.mp4" in objects
    assert stack.progress(handle).status == "cancelled"

    resumed = resume_render(handle, target=stack.target)
    assert (resumed.render_id, resumed.output_uri) == (handle.render_id, handle.output_uri)
    assert resumed.execution_name != handle.execution_name
    stack.wait(resumed)
    psnr = assert_render_correct(stack, resumed, reference, tmp_path, chunks=CHUNKS)
    assert stack.service_proxy.chunk_renders(handle.render_id) == list(range(CHUNKS))
    with pytest.raises(InvalidInputError, match="succeeded"):
        resume_render(resumed, target=stack.target)
    _record(
        figures,
        "cancel_then_resume",
        result="cancelled: no output, progress 'cancelled'; resumed: correct video",
        objects_left_for_cleanup=len(left_for_cleanup),
        chunk_renders_total=len(stack.service_proxy.chunk_renders(handle.render_id)),
        psnr_db=psnr,
    )


@repeated
def test_a_render_failed_by_an_outage_resumes_without_rendering_finished_chunks(
    stack: RelStack,
    project: Path,
    reference: list[Any],
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """Chunk 2 keeps failing (retryable) until the workflow's retries run out: the
    execution fails with the typed error. Once the outage is over, resuming the
    render renders chunk 2 only; every chunk is rendered exactly once overall."""
    outage = _outage_on_chunk(stack, 2)
    started = time.monotonic()
    handle = stack.start(project, {**CONFIG, "maxParallelChunks": 2})
    with pytest.raises(framerun.RenderFailedError) as failure:
        stack.wait(handle)
    assert failure.value.code == "STORAGE_UNAVAILABLE"
    attempts = [
        e for e in stack.service_proxy.actions(handle.render_id, "renderChunk") if e.chunk == 2
    ]
    assert len(attempts) == 6  # 1 + max_retries 5, then the execution failed
    progress = stack.progress(handle)
    assert progress.status == "failed" and progress.output_file is None
    objects = set(stack.objects(f"renders/{handle.render_id}/"))
    assert handle.output_uri.split("/", 3)[3] not in objects
    done_before = sorted(stack.service_proxy.chunk_renders(handle.render_id))
    assert 2 not in done_before

    outage.clear()
    _record(
        figures,
        "resume_after_failure",
        result="failed STORAGE_UNAVAILABLE (typed), resumed: correct video",
        **_resume_renders_only_what_is_missing(
            stack, handle, reference, tmp_path, chunks=CHUNKS, done_before=done_before
        ),
        seconds=round(time.monotonic() - started, 1),
    )


def _outage_on_chunk(stack: RelStack, chunk: int) -> threading.Event:
    """Answer every renderChunk of ``chunk`` with a retryable STORAGE_UNAVAILABLE 503 until
    the returned event is cleared."""
    outage = threading.Event()
    outage.set()
    body = error_body("STORAGE_UNAVAILABLE", "injected outage", retryable=True)
    stack.service_proxy.hook = lambda e: (
        Directive(respond=503, body=body)
        if outage.is_set() and e.kind == "renderChunk" and e.chunk == chunk
        else None
    )
    return outage


def _resume_renders_only_what_is_missing(
    stack: RelStack,
    handle: framerun.RenderHandle,
    reference: list[Any],
    tmp_path: Path,
    *,
    chunks: int,
    done_before: list[int],
) -> dict[str, Any]:
    """Resume ``handle``: a correct video, each chunk rendered exactly once overall, and
    exactly the chunks finished before reused. Returns the figures to record."""
    resumed = resume_render(handle.execution_name, target=stack.target)
    stack.wait(resumed)
    psnr = assert_render_correct(stack, resumed, reference, tmp_path, chunks=chunks)
    renders = stack.service_proxy.chunk_renders(handle.render_id)
    assert renders == list(range(chunks)), renders  # each chunk rendered exactly once
    reused = sorted(
        e.chunk
        for e in stack.service_proxy.actions(handle.render_id, "renderChunk")
        if e.cached is True
    )
    assert reused == done_before
    return {
        "chunks_rendered_before_failure": len(done_before),
        "chunks_reused_on_resume": len(reused),
        "chunk_renders_total": len(renders),
        "psnr_db": psnr,
    }


@repeated
def test_a_fanned_out_render_failed_by_an_outage_resumes_without_rendering_twice(
    stack: RelStack,
    project: Path,
    tmp_path: Path,
    figures: dict,
    attempt: int,
) -> None:
    """Past 20 in flight (30 chunks, 24 at once: two child executions of 12), chunk 2
    keeps failing in the first child until its retries run out. The render fails with
    the typed error while the other child finishes its group; resuming renders only
    what is missing, so every chunk is rendered exactly once across all children."""
    chunks = FRAMES // 2
    outage = _outage_on_chunk(stack, 2)
    started = time.monotonic()
    config = {**CONFIG, "chunkSize": 2, "maxParallelChunks": 24}
    handle = stack.start(project, config)
    with pytest.raises(framerun.RenderFailedError) as failure:
        stack.wait(handle)
    assert failure.value.code == "STORAGE_UNAVAILABLE"
    done_before = sorted(stack.service_proxy.chunk_renders(handle.render_id))
    assert 2 not in done_before
    assert set(range(15, 30)) <= set(done_before)  # the second child finished its group

    outage.clear()
    # Two-frame chunks: compared with the same chunking in process (x264 sees less of
    # the future in a short chunk, so other chunkings differ by more than encoding noise).
    framerun.render(project, tmp_path / "ref2.mp4", chunk_size=2, quality="high", workers=1)
    reference = decode(tmp_path / "ref2.mp4").frames
    _record(
        figures,
        "fan_out_resume_after_failure",
        result="failed STORAGE_UNAVAILABLE (typed) in a child execution, resumed: correct video",
        **_resume_renders_only_what_is_missing(
            stack, handle, reference, tmp_path, chunks=chunks, done_before=done_before
        ),
        seconds=round(time.monotonic() - started, 1),
    )


def _dead(path: Path) -> bool:
    """Whether ``path`` sits in the scratch folder (``pid-<n>``) of a process that is gone."""
    folder = next(p for p in path.parents if p.name.startswith("pid-"))
    return not Path("/proc", folder.name.removeprefix("pid-")).exists()
