"""Compositions that throw, never load or never stop animating: a typed error in bounded time.

The stack's service runs with FRAMERUN_LOAD_TIMEOUT_S=5 and FRAMERUN_SEEK_TIMEOUT_S=5,
so every case must be settled well within a minute, through the whole stack.
Endless rAF chains and timer storms are bounded by the seek runtime itself (it
runs only the callbacks due by each frame's time), so those render normally.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

import framerun
from framerun.render_control import cancel_render
from tests.compositions import write_composition
from tests.reliability.rel_stack import RelStack, alive, assert_typed_error, post, upload_site, when
from tests.videos import decode

BOUND_S = 60.0  # 5 s load/seek timeouts, plus the stack's own overheads
HANG_BOUND_S = 30.0

FAILING = {
    "throws-while-loading": ("<script>throw new Error('boom')</script>", "PAGE_SCRIPT_ERROR"),
    "never-finishes-loading": ("<script>while (true) {}</script>", "COMPOSITION_TIMEOUT"),
}
ENDLESS = {
    "endless-raf-chain": "<script>requestAnimationFrame(function f() {"
    " document.body.style.opacity = 0.5 + Math.random() / 2; requestAnimationFrame(f); });"
    "</script>",
    "timer-chain": "<script>(function f() { setTimeout(f, 0); })();</script>",
    "interval-storm": "<script>for (let i = 0; i < 1000; i++) setInterval(() => {}, 0);</script>",
}
HANGING = {
    "busy-loop-in-a-frame-callback": "<script>requestAnimationFrame(() => { while (true) {} });"
    "</script>",
    "a-delay-that-never-resolves": "<script>window.__framerun.delay(new Promise(() => {}));"
    "</script>",
    # Each timer schedules two: the queue doubles until the runtime's 1e6-callback
    # guard, and every seek then walks a million-entry queue.
    "doubling-timer-storm": "<script>(function f() { setTimeout(f, 0); setTimeout(f, 0); })();"
    "</script>",
    # Waited for while the page loads (BrowserSession.open → __framerun.ready()).
    "an-adapter-never-ready": "<script>window.__framerun.registerAdapter({name: 'stuck',"
    " ready: () => new Promise(() => {}), seek: () => {}});</script>",
}


def _composition(root: Path, name: str, body: str) -> Path:
    return write_composition(root / name, body, width=160, height=120, duration="0.5")


@pytest.mark.parametrize("name", sorted(FAILING))
def test_a_broken_composition_fails_the_render_with_its_code_in_bounded_time(
    stack: RelStack, tmp_path: Path, name: str, figures: dict
) -> None:
    body, code = FAILING[name]
    project = _composition(tmp_path, name, body)
    started = time.monotonic()
    handle = stack.start(project, {})
    with pytest.raises(framerun.RenderFailedError) as failure:
        stack.wait(handle, timeout_s=BOUND_S)
    seconds = time.monotonic() - started
    assert failure.value.code == code
    progress = stack.progress(handle)
    assert progress.status == "failed" and progress.output_file is None
    assert handle.output_uri.split("/", 3)[3] not in stack.objects(f"renders/{handle.render_id}/")
    figures.setdefault("hangs", {})[name] = {"result": code, "seconds": round(seconds, 1)}


@pytest.mark.parametrize("name", sorted(ENDLESS))
def test_endless_animation_loops_are_bounded_by_the_runtime(
    stack: RelStack, tmp_path: Path, name: str, figures: dict
) -> None:
    project = _composition(tmp_path, name, ENDLESS[name])
    started = time.monotonic()
    handle = stack.start(project, {})
    try:
        stack.wait(handle, timeout_s=BOUND_S)
    except framerun.RenderTimeoutError:  # don't leave a stuck worker to the next tests
        cancel_render(handle, target=stack.target)
        stack.kill_workers()
        raise
    seconds = time.monotonic() - started
    video = decode(stack.download(handle.output_uri, tmp_path / "out.mp4"), keep_frames=False)
    assert len(video.pts) == 15
    figures.setdefault("hangs", {})[name] = {"result": "rendered", "seconds": round(seconds, 1)}


def test_a_page_that_never_settles_fails_typed_within_the_timeouts(
    stack: RelStack, tmp_path: Path, figures: dict
) -> None:
    """Straight to the service (the workflow would wait 30 min per attempt): each case
    plans, then renders its chunk, all at once on the two workers, under one deadline.
    A fixed engine answers COMPOSITION_TIMEOUT after the 5 s load or seek timeout, at
    plan time (if the plan opens the page) or at the chunk; two rounds fit the bound."""
    site = {}
    for name, body in HANGING.items():
        (tmp_path / "archives" / name).mkdir(parents=True)
        project = _composition(tmp_path, name, body)
        site[name] = upload_site(stack, project, tmp_path / "archives" / name)
    deadline = time.monotonic() + HANG_BOUND_S
    outcome: dict[str, Any] = {}

    def run(name: str) -> None:
        plan_body = {
            "Action": "plan",
            "renderId": f"hang-{name[:20]}-{int(time.time())}",
            "siteUri": site[name],
            "outputUri": f"gs://{stack.bucket}/hang/{name}.mp4",
            "config": {},
        }
        try:
            response = post(stack, plan_body, timeout_s=max(0.1, deadline - time.monotonic()))
            if response.status_code == 200:
                answer = response.json()
                chunk = {
                    "Action": "renderChunk",
                    "renderId": plan_body["renderId"],
                    "planUri": answer["planUri"],
                    "planHash": answer["planHash"],
                    "chunkIndex": 0,
                }
                response = post(stack, chunk, timeout_s=max(0.1, deadline - time.monotonic()))
            outcome[name] = response
        except requests.Timeout:
            outcome[name] = "no answer"

    started = time.monotonic()
    with ThreadPoolExecutor(len(site)) as pool:
        list(pool.map(run, site))
    seconds = time.monotonic() - started
    hung = sorted(n for n, r in outcome.items() if r == "no answer")
    if hung:  # free the stuck workers (and their browsers) for the tests after this one
        orphans = stack.kill_workers()
        when(lambda: not alive(orphans), 30, "the stuck browsers to exit")
    figures.setdefault("hangs", {})["never-settles"] = {
        "result": f"no answer within {HANG_BOUND_S:g}s: {hung}" if hung else "typed error",
        "seconds": round(seconds, 1),
    }
    assert not hung, f"the service did not answer within {HANG_BOUND_S:g}s: {hung}"
    for response in outcome.values():
        assert assert_typed_error(response, 422)["code"] == "COMPOSITION_TIMEOUT"
